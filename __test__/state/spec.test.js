'use strict'
// Spec §20.7 (items 88–92) and §11.1/§20.11 #123 through the public API, with plain
// mock adapters and mock clients as the backend's tests pass them, plus the fixes of
// spec §19 #2, #7, #8, #9 and #18.

const util = require('node:util')
const iv = require('../..')
const { memoryAdapter, fakeQmp, waitFor, record, until, VM_EVENTS } = require('./helpers')

const { StateSync, EventHandler, HealthMonitor, PrismaAdapter, PrismaAdapterError } = iv

describe('§20.7 #88–89 status mapping and guards', () => {
  test('#88 mapQMPStatusToDBStatus', () => {
    const s = new StateSync(memoryAdapter())
    const table = {
      running: 'running',
      paused: 'suspended',
      shutdown: 'off',
      inmigrate: 'building',
      postmigrate: 'building',
      prelaunch: 'building',
      'finish-migrate': 'building',
      'restore-vm': 'building',
      suspended: 'suspended',
      watchdog: 'error',
      'guest-panicked': 'error',
      'io-error': 'error',
      colo: 'running',
      bogus: 'error'
    }
    for (const [q, d] of Object.entries(table)) expect([q, s.mapQMPStatusToDBStatus(q)]).toEqual([q, d])
  })

  test('#89 isValidDBStatus', () => {
    expect(iv.isValidDBStatus('starting')).toBe(false)
    expect(iv.isValidDBStatus('powering_off_update')).toBe(true)
  })
})

describe('StateSync (§10.1)', () => {
  test('syncState results and codes', async () => {
    const db = memoryAdapter({ vm1: { status: 'running' } })
    const s = new StateSync(db)
    const q = fakeQmp('paused')
    const before = Date.now()
    let r = await s.syncState('vm1', q)
    expect(r).toMatchObject({ success: true, vmId: 'vm1', previousStatus: 'running', newStatus: 'suspended' })
    expect(r.error).toBeUndefined()
    expect(r.timestamp).toBeInstanceOf(Date)
    expect(r.timestamp.getTime()).toBeGreaterThanOrEqual(before - 1)
    expect(db.calls).toEqual([['findMachine', 'vm1'], ['updateMachineStatus', 'vm1', 'suspended']])
    db.calls.length = 0
    r = await s.syncState('vm1', q)
    expect(r).toMatchObject({ success: true, previousStatus: 'suspended', newStatus: 'suspended' })
    expect(db.calls).toEqual([['findMachine', 'vm1']])
    q.connected = false
    expect(await s.syncState('vm1', q)).toMatchObject({ success: false, previousStatus: 'suspended', newStatus: 'suspended', error: 'QMP_UNAVAILABLE' })
    q.connected = true
    q.queryStatus = async () => { throw new Error('gone') }
    expect(await s.syncState('vm1', q)).toMatchObject({ success: false, error: 'QMP_UNAVAILABLE' })
    expect(await s.syncState('nope', q)).toMatchObject({ success: false, previousStatus: 'unknown', newStatus: 'unknown', error: 'VM_NOT_FOUND' })
    db.down = true
    expect(await s.syncState('vm1', q)).toMatchObject({ success: false, previousStatus: 'unknown', newStatus: 'unknown', error: 'DB_ERROR' })
  })

  test('getVMStatus / getVMPid / getVMInfo (hasCpuPinning reflects the stored pinning, §19 #7)', async () => {
    const db = memoryAdapter({
      a: { status: 'running', config: { qemuPid: 41, tapDeviceName: 'vnet-a', qmpSocketPath: null, cpuPinning: { cores: [0, 1] } } },
      b: { status: 'running', config: { qemuPid: null, tapDeviceName: null, qmpSocketPath: null } },
      c: { status: 'off', config: { qemuPid: 7, tapDeviceName: 'vnet-c' } }
    })
    const s = new StateSync(db)
    expect(await s.getVMStatus('c')).toBe('off')
    await expect(s.getVMStatus('zz')).rejects.toThrow('VM zz not found')
    expect(await s.getVMPid('a')).toBe(41)
    expect(await s.getVMPid('b')).toBeNull()
    expect(await s.getVMPid('c')).toBeNull() // only running VMs are searched
    expect(await s.getVMInfo('a')).toEqual({ tapDeviceName: 'vnet-a', hasCpuPinning: true })
    expect(await s.getVMInfo('b')).toEqual({ tapDeviceName: null, hasCpuPinning: false })
    expect(await s.getVMInfo('c')).toBeNull()
  })

  test('updateStatusDirect: equal → no write, missing → VM_NOT_FOUND, DB down → DB_ERROR (queued)', async () => {
    const db = memoryAdapter({ a: { status: 'running' } })
    const s = new StateSync(db)
    expect(await s.updateStatusDirect('a', 'running')).toMatchObject({ success: true, previousStatus: 'running', newStatus: 'running' })
    expect(db.calls.filter((c) => c[0] === 'updateMachineStatus')).toEqual([])
    expect(await s.updateStatusDirect('a', 'off')).toMatchObject({ success: true, previousStatus: 'running', newStatus: 'off' })
    expect(await s.updateStatusDirect('zz', 'off')).toMatchObject({ success: false, previousStatus: 'unknown', newStatus: 'off', error: 'VM_NOT_FOUND' })
    db.down = true
    expect(await s.updateStatusDirect('a', 'running')).toMatchObject({ success: false, previousStatus: 'unknown', newStatus: 'running', error: 'DB_ERROR' })
    expect(s.getPendingWrites()).toBe(1)
    db.down = false
    await until(() => s.getPendingWrites() === 0)
    expect(db.state.get('a').status).toBe('running')
  })

  test("errors thrown by the caller's adapter come back as the very same object", async () => {
    const thrown = new PrismaAdapterError('Failed to find machine: Error: x', 'QUERY_FAILED', 'a')
    const db = memoryAdapter()
    db.findMachine = async () => { throw thrown }
    const s = new StateSync(db)
    await expect(s.getVMStatus('a')).rejects.toBe(thrown)
    const odd = { weird: true }
    db.updateMachineStatus = async () => { throw odd }
    await expect(s.updateVMStatus('a', 'off')).rejects.toBe(odd)
  })
})

describe('EventHandler (§10.2)', () => {
  test('#90 STOP: status, events, timestamp', async () => {
    const db = memoryAdapter({ vm1: { status: 'running' } })
    const h = new EventHandler(db)
    const seen = record(h, VM_EVENTS)
    const q = fakeQmp()
    await h.attachToVM('vm1', q)
    const done = waitFor(h, 'vm:event')
    q.emit('STOP', undefined, { seconds: 1700000000, microseconds: 500000 })
    await done
    expect(db.state.get('vm1').status).toBe('suspended')
    expect(seen.map((e) => e[0])).toEqual(['vm:stop', 'vm:suspended', 'vm:event'])
    for (const [, p] of seen) {
      expect(p).toMatchObject({ vmId: 'vm1', event: 'STOP', previousStatus: 'running', newStatus: 'suspended' })
      expect(p.timestamp).toEqual(new Date(1700000000500))
    }
  })

  test('#91 SHUTDOWN: runtime read before the write, events at once, cleanup after the exit (§19 #8, #18)', async () => {
    const db = memoryAdapter({ vm1: { status: 'running', config: { qemuPid: 999999, tapDeviceName: 'vnet-vm1', qmpSocketPath: '/nonexist/vm1.sock', cpuPinning: { cores: [1] } } } })
    const net = []
    const h = new EventHandler(db, {
      tapManager: { detachFromBridge: async (t) => { net.push(['detachFromBridge', t]) } },
      nftables: { detachJumpRules: async (v) => { net.push(['detachJumpRules', v]) } },
      cgroups: { cleanupEmptyScopes: async () => { net.push(['cleanupEmptyScopes']); return 0 } }
    })
    const seen = record(h, VM_EVENTS)
    const q = fakeQmp()
    await h.attachToVM('vm1', q)
    const cleanup = waitFor(h, 'vm:cleanup')
    q.emit('SHUTDOWN', { guest: true, reason: 'guest-shutdown' }, { seconds: 1700000001, microseconds: 0 })
    const c = await cleanup
    expect(seen.map((e) => e[0])).toEqual(['vm:shutdown', 'vm:off', 'vm:event', 'vm:cleanup'])
    expect(seen[0][1]).toMatchObject({ previousStatus: 'running', newStatus: 'off', qmpData: { guest: true, reason: 'guest-shutdown' }, reason: { code: 'guest-shutdown' } })
    const read = db.calls.findIndex((x) => x[0] === 'findRunningVMs')
    const write = db.calls.findIndex((x) => x[0] === 'updateMachineStatus')
    expect(read).toBeGreaterThanOrEqual(0)
    expect(read).toBeLessThan(write)
    // after the write only the release follows (reads re-check that the VM has not
    // started again under a new PID meanwhile)
    const writes = db.calls.slice(write).filter((x) => !x[0].startsWith('find'))
    expect(writes).toEqual([['updateMachineStatus', 'vm1', 'off'], ['clearVolatileMachineConfiguration', 'vm1']])
    // the TAP read before the flip is detached (the original never did, §19 #18),
    // and the cgroup scopes are cleaned because the VM had pinning (§19 #7)
    expect(net).toEqual([['detachFromBridge', 'vnet-vm1'], ['detachJumpRules', 'vm1'], ['cleanupEmptyScopes']])
    expect(c).toMatchObject({ vmId: 'vm1', event: 'SHUTDOWN', failedCleanups: 0 })
    expect(c.resources.map((r) => [r.type, r.identifier, r.status])).toEqual([
      ['DB_CONFIGURATION', 'vm1', 'SUCCESS'], ['TAP_DEVICE', 'vnet-vm1', 'SUCCESS'], ['FIREWALL_CHAIN', 'vm1', 'SUCCESS']
    ])
  })

  test('#91 host-qmp-quit: the status update and three events only; RESET writes nothing', async () => {
    const db = memoryAdapter({ vm1: { status: 'running', config: { qemuPid: 999999, tapDeviceName: 'vnet-vm1' } } })
    const net = []
    const h = new EventHandler(db, { nftables: { detachJumpRules: async (v) => { net.push(v) } } })
    const seen = record(h, VM_EVENTS)
    const q = fakeQmp()
    await h.attachToVM('vm1', q)
    let done = waitFor(h, 'vm:event')
    q.emit('RESET', { guest: true, reason: 'guest-reset' }, { seconds: 1, microseconds: 0 })
    await done
    expect(seen.map((e) => e[0])).toEqual(['vm:reset', 'vm:event'])
    expect(seen[1][1]).toMatchObject({ previousStatus: 'running', newStatus: 'running' })
    expect(db.calls.filter((c) => c[0] === 'updateMachineStatus')).toEqual([])
    seen.length = 0
    done = waitFor(h, 'vm:event')
    q.emit('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }, { seconds: 2, microseconds: 0 })
    await done
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(seen.map((e) => e[0])).toEqual(['vm:shutdown', 'vm:off', 'vm:event'])
    expect(db.calls.filter((c) => c[0].startsWith('clear'))).toEqual([])
    expect(net).toEqual([])
  })

  test('POWERDOWN is a request: events, no status change; a panic is error, not off', async () => {
    const db = memoryAdapter({ vm1: { status: 'running' } })
    const h = new EventHandler(db)
    const seen = record(h, VM_EVENTS)
    const q = fakeQmp()
    await h.attachToVM('vm1', q)
    let done = waitFor(h, 'vm:event')
    q.emit('POWERDOWN', undefined, { seconds: 1, microseconds: 0 })
    await done
    expect(seen.map((e) => e[0])).toEqual(['vm:powerdown', 'vm:event'])
    expect(db.state.get('vm1').status).toBe('running')
    seen.length = 0
    done = waitFor(h, 'vm:event')
    q.emit('GUEST_PANICKED', { action: 'pause' }, { seconds: 2, microseconds: 0 })
    await done
    expect(seen.map((e) => e[0])).toEqual(['vm:guest_panicked', 'vm:error', 'vm:event'])
    expect(db.state.get('vm1').status).toBe('error')
  })

  test('quick events reach the database in arrival order', async () => {
    const db = memoryAdapter({ vm1: { status: 'running' } })
    const slow = db.updateMachineStatus
    let n = 0
    db.updateMachineStatus = async (id, s) => {
      // the first writes are the slowest: a race would reorder them
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 30 - 10 * n++)))
      return slow(id, s)
    }
    const h = new EventHandler(db)
    const q = fakeQmp()
    await h.attachToVM('vm1', q)
    const events = ['STOP', 'RESUME', 'STOP', 'RESUME', 'STOP']
    const all = new Promise((resolve) => {
      let k = 0
      h.on('vm:event', () => { if (++k === events.length) resolve() })
    })
    for (const e of events) q.emit(e, undefined, { seconds: 1, microseconds: 0 })
    await all
    expect(db.calls.filter((c) => c[0] === 'updateMachineStatus').map((c) => c[2])).toEqual(
      ['suspended', 'running', 'suspended', 'running', 'suspended'])
    expect(db.state.get('vm1').status).toBe('suspended')
  })

  test('attach/detach/disconnect bookkeeping; a client that reconnects is re-attached and re-synced', async () => {
    const db = memoryAdapter({ vm1: { status: 'running' } })
    const h = new EventHandler(db)
    const q = fakeQmp()
    await h.attachToVM('vm1', q)
    await h.attachToVM('vm1', fakeQmp()) // no-op
    expect(h.getQMPClient('vm1')).toBe(q)
    expect(h.getAttachedVMs()).toEqual(['vm1'])
    expect(q.listenerCount('STOP')).toBe(1)
    const disc = waitFor(h, 'vm:disconnect')
    q.emit('disconnect')
    expect(h.isAttached('vm1')).toBe(false)
    expect((await disc)).toMatchObject({ vmId: 'vm1' })
    expect((await Promise.resolve(disc)).timestamp).toBeInstanceOf(Date)
    expect(q.listenerCount('STOP')).toBe(0)
    // while away the guest was paused; after the reconnect the state is re-read
    q.status = 'paused'
    const back = waitFor(h, 'vm:reconnect')
    q.emit('reconnect')
    const r = await back
    expect(r.sync).toMatchObject({ success: true, previousStatus: 'running', newStatus: 'suspended' })
    expect(h.isAttached('vm1')).toBe(true)
    expect(q.listenerCount('STOP')).toBe(1)
    await h.detachFromVM('vm1')
    expect(q.listenerCount('STOP')).toBe(0)
    expect(q.listenerCount('reconnect')).toBe(0)
    await h.attachToVM('vm1', q)
    await h.detachAll()
    expect(h.getAttachedVMs()).toEqual([])
  })

  test("§19 #9: a failing listener with no 'error' listener is logged, not thrown; with one it gets { vmId, event, error }", async () => {
    const db = memoryAdapter({ vm1: { status: 'running' } })
    const h = new EventHandler(db)
    const q = fakeQmp()
    await h.attachToVM('vm1', q)
    h.on('vm:stop', () => { throw new Error('listener broke') })
    const after = waitFor(h, 'vm:resume')
    q.emit('STOP', undefined, { seconds: 1, microseconds: 0 })
    q.emit('RESUME', undefined, { seconds: 2, microseconds: 0 })
    await after
    const errs = []
    h.on('error', (e) => errs.push(e))
    const second = waitFor(h, 'error')
    q.emit('STOP', undefined, { seconds: 3, microseconds: 0 })
    await second
    expect(errs).toEqual([{ vmId: 'vm1', event: 'STOP', error: expect.stringContaining('listener broke') }])
  })

  test('emitCustomEvents: false writes but emits nothing', async () => {
    const db = memoryAdapter({ vm1: { status: 'running' } })
    const h = new EventHandler(db, { emitCustomEvents: false })
    const seen = record(h, VM_EVENTS)
    const q = fakeQmp()
    await h.attachToVM('vm1', q)
    q.emit('STOP', undefined, { seconds: 1, microseconds: 0 })
    await until(() => db.state.get('vm1').status === 'suspended')
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(seen).toEqual([])
  })
})

describe('HealthMonitor (§10.3)', () => {
  test('#92 checkAllVMs with one dead VM', async () => {
    const db = memoryAdapter({
      vm1: { status: 'running', config: { qemuPid: 999999, tapDeviceName: 'vnet-vm1', qmpSocketPath: '/nonexist/vm1.sock' } },
      vm2: { status: 'running', config: { qemuPid: null, tapDeviceName: null, qmpSocketPath: null } }
    })
    const net = []
    const crashed = []
    const hm = new HealthMonitor(db, {
      tapManager: { detachFromBridge: async (t) => { net.push(['detachFromBridge', t]) } },
      nftables: { detachJumpRules: async (v) => { net.push(['detachJumpRules', v]) } },
      onCrashDetected: async (v) => { crashed.push(v) }
    })
    const crash = waitFor(hm, 'crash')
    const s = await hm.checkAllVMs()
    expect(s).toMatchObject({ totalChecked: 2, alive: 1, crashed: 1, errors: 0 })
    expect(s.timestamp).toBeInstanceOf(Date)
    expect(s.results.find((r) => r.vmId === 'vm2')).toMatchObject({ pid: null, isAlive: true, status: 'running' })
    const writes = db.calls.filter((c) => !c[0].startsWith('find'))
    expect(writes).toEqual([['updateMachineStatus', 'vm1', 'off'], ['clearVolatileMachineConfiguration', 'vm1']])
    expect(net).toEqual([['detachFromBridge', 'vnet-vm1'], ['detachJumpRules', 'vm1']])
    expect(crashed).toEqual(['vm1'])
    const e = await crash
    expect(e).toMatchObject({ vmId: 'vm1', pid: 999999, lastKnownStatus: 'running', cleanupPerformed: true })
    expect(e.detectedAt).toBeInstanceOf(Date)
    expect(e.cleanupResult.resources.map((r) => [r.type, r.identifier, r.status, r.attempts])).toEqual([
      ['TAP_DEVICE', 'vnet-vm1', 'SUCCESS', 1],
      ['FIREWALL_CHAIN', 'vm1', 'SUCCESS', 1],
      ['QMP_SOCKET', '/nonexist/vm1.sock', 'SUCCESS', 1],
      ['PIDFILE', '/var/run/infinivirt/pids/vm1.pid', 'SUCCESS', 1],
      ['DB_CONFIGURATION', 'vm1', 'SUCCESS', 1]
    ])
    expect(e.cleanupResult).toMatchObject({ totalResources: 5, successfulCleanups: 5, failedCleanups: 0 })
  })

  test('checkVM: live, dead, zombie-free; start/stop/isMonitoring', async () => {
    const hm = new HealthMonitor(memoryAdapter(), { checkIntervalMs: 50 })
    expect(hm.checkVM('x', process.pid)).toBe(true)
    expect(hm.checkVM('x', 999999)).toBe(false)
    expect(hm.isMonitoring()).toBe(false)
    await hm.start()
    expect(hm.isMonitoring()).toBe(true)
    await hm.stop()
    expect(hm.isMonitoring()).toBe(false)
  })

  test("a DB failure is an 'error', never an empty list; without a listener it is logged (§19 #9)", async () => {
    const db = memoryAdapter({ vm1: { status: 'running', config: { qemuPid: 999999 } } })
    db.down = true
    const hm = new HealthMonitor(db)
    const s = await hm.checkAllVMs() // no 'error' listener: resolves
    expect(s).toMatchObject({ totalChecked: 0, alive: 0, crashed: 0, errors: 0, results: [] })
    const err = waitFor(hm, 'error')
    await hm.checkAllVMs()
    const e = await err
    expect(e.message).toContain('ECONNREFUSED')
    expect(e.timestamp).toBeInstanceOf(Date)
    expect(db.calls.filter((c) => !c[0].startsWith('find'))).toEqual([])
  })

  test('failed cleanup steps are retried (1 s, 2 s), alert, and skip the DB step', async () => {
    const db = memoryAdapter({ vm1: { status: 'off', config: { qemuPid: null } } })
    const alerts = []
    let tries = 0
    const hm = new HealthMonitor(db, {
      cleanupRetryBaseMs: 20,
      tapManager: { detachFromBridge: async () => { tries++; throw new Error('ip failed') } },
      nftables: { detachJumpRules: async () => {} }, // not the host's ruleset: these tests run outside a namespace
      onCleanupAlert: async (a) => { alerts.push(a) }
    })
    const alert = waitFor(hm, 'cleanup-alert')
    const r = await hm.retryCleanup('vm1', { qemuPid: null, tapDeviceName: 'vnet-x', qmpSocketPath: null, guestAgentSocketPath: null, infiniServiceSocketPath: null })
    expect(tries).toBe(3)
    expect(r.resources.map((x) => [x.type, x.status, x.attempts])).toEqual([
      ['TAP_DEVICE', 'FAILED', 3], ['FIREWALL_CHAIN', 'SUCCESS', 1], ['DB_CONFIGURATION', 'FAILED', 0]
    ])
    expect(r.resources[0].lastError).toContain('ip failed')
    expect(r.resources[2].lastError).toBe('Skipped due to upstream resource cleanup failures')
    const a = await alert
    expect(a).toMatchObject({ vmId: 'vm1', severity: 'warning' })
    expect(a.failedResources.length).toBe(2)
    expect(alerts.length).toBe(1)
    expect(db.calls.filter((c) => c[0].startsWith('clear'))).toEqual([])
  })
})

describe('PrismaAdapter (§11.1) over a mocked client', () => {
  function mockClient () {
    const calls = []
    const rec = (name, result) => async (args) => { calls.push([name, args]); return typeof result === 'function' ? result(args) : result }
    const machine = { findUnique: rec('machine.findUnique', null), findMany: rec('machine.findMany', []), update: rec('machine.update', {}), updateMany: rec('machine.updateMany', { count: 1 }) }
    const machineConfiguration = { upsert: rec('machineConfiguration.upsert', {}), updateMany: rec('machineConfiguration.updateMany', { count: 1 }) }
    const client = { calls, machine, machineConfiguration, $transaction: async (fn) => fn({ machine, machineConfiguration }) }
    return client
  }

  test('#123 updateMachineStatus: updateMany, {count} semantics, error wrapping', async () => {
    const c = mockClient()
    const a = new PrismaAdapter(c)
    await expect(a.updateMachineStatus('vm1', 'off')).resolves.toBeUndefined()
    expect(c.calls).toEqual([['machine.updateMany', { where: { id: 'vm1' }, data: { status: 'off' } }]])
    c.machine.updateMany = async () => ({ count: 0 })
    await expect(a.updateMachineStatus('vm1', 'off')).resolves.toBeUndefined()
    c.machine.updateMany = async () => { throw new Error('boom') }
    const e = await a.updateMachineStatus('vm1', 'off').catch((x) => x)
    expect(e).toBeInstanceOf(PrismaAdapterError)
    expect(e).toMatchObject({ name: 'PrismaAdapterError', code: 'UPDATE_FAILED', vmId: 'vm1', message: 'Failed to update machine status: Error: boom' })
    expect(e.details).toBeInstanceOf(Error)
    c.machine.updateMany = async () => undefined
    await expect(a.updateMachineStatus('vm1', 'off')).rejects.toMatchObject({
      code: 'UPDATE_FAILED', message: "Failed to update machine status: TypeError: Cannot read properties of undefined (reading 'count')"
    })
  })

  test('the spec calls of the other methods (with §19 #2 fixed)', async () => {
    const c = mockClient()
    const a = new PrismaAdapter(c)
    c.machine.findUnique = async (args) => { c.calls.push(['machine.findUnique', args]); return { id: 'm', status: 'off', extra: 1 } }
    expect(await a.findMachine('m')).toEqual({ id: 'm', status: 'off' })
    expect(c.calls.pop()).toEqual(['machine.findUnique', { where: { id: 'm' }, select: { id: true, status: true } }])
    await a.findRunningVMs()
    expect(c.calls.pop()).toEqual(['machine.findMany', {
      where: { status: 'running' },
      include: { configuration: { select: { qemuPid: true, tapDeviceName: true, qmpSocketPath: true, guestAgentSocketPath: true, infiniServiceSocketPath: true, cpuPinning: true } } }
    }])
    await a.clearMachineConfiguration('m')
    expect(c.calls.pop()).toEqual(['machineConfiguration.updateMany', { where: { machineId: 'm' }, data: { qemuPid: null, tapDeviceName: null, qmpSocketPath: null } }])
    await a.clearVolatileMachineConfiguration('m')
    expect(c.calls.pop()).toEqual(['machineConfiguration.updateMany', { where: { machineId: 'm' }, data: { qemuPid: null, qmpSocketPath: null } }])
    await a.findMachineWithConfig('m')
    const [, args] = c.calls.pop()
    expect(Object.keys(args.include.configuration.select)).toEqual(expect.arrayContaining([
      'machineId', 'enableNumaCtlPinning', 'cpuPinningStrategy', 'tpmSocketPath', 'guestAgentSocketPath',
      'infiniServiceSocketPath', 'virtioDriversIso', 'enableAudio', 'enableUsbTablet']))
    // The spec's `rules: true`, in creation order (the native stores' order).
    const rules = { include: { rules: { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] } } }
    expect(args.include.firewallRuleSet).toEqual(rules)
    expect(args.include.department).toEqual({ include: { firewallRuleSet: rules } })
    await a.updateMachineConfiguration('m', { qemuPid: 5, diskPaths: ['/d'] })
    expect(c.calls.pop()).toEqual(['machineConfiguration.upsert', { where: { machineId: 'm' }, create: { machineId: 'm', qemuPid: 5, diskPaths: ['/d'] }, update: { qemuPid: 5, diskPaths: ['/d'] } }])
    // A null Json value is SQL NULL: left out of the create, Prisma.DbNull's wire form in the update.
    await a.updateMachineConfiguration('m', { qemuPid: null, cpuPinning: null })
    const [, upsert] = c.calls.pop()
    expect(upsert.create).toEqual({ machineId: 'm', qemuPid: null })
    expect(JSON.parse(JSON.stringify(upsert.update))).toEqual({ qemuPid: null, cpuPinning: { $type: 'Enum', value: 'DbNull' } })
    await expect(a.updateMachineConfiguration('', {})).rejects.toMatchObject({ code: 'INVALID_INPUT', message: 'Machine ID is required' })
    c.machine.findUnique = async () => ({ internalName: 'vm-abc' })
    expect(await a.getMachineDiskPath('m')).toBe('/var/lib/infinivirt/disks/vm-abc.qcow2')
    c.machine.findUnique = async () => null
    expect(await a.getMachineDiskPath('m')).toBeNull()
    expect(await a.getFirewallRuleSetId('m')).toBeNull()
    await expect(a.getFirewallRules('m')).rejects.toMatchObject({ code: 'MACHINE_NOT_FOUND', message: 'Machine not found: m' })
    c.machine.findMany = async () => { throw new Error('down') }
    await expect(a.findRunningVMs()).rejects.toMatchObject({ code: 'QUERY_FAILED', message: 'Failed to find running VMs: Error: down', vmId: undefined })
  })

  test('transitionVMStatus outcomes', async () => {
    const c = mockClient()
    const a = new PrismaAdapter(c)
    const row = { id: 'm', status: 'off', name: 'n', internalName: 'i', os: 'ubuntu', version: 3, configuration: null, firewallRuleSet: null, department: null }
    c.machine.findUnique = async () => row
    const ok = await a.transitionVMStatus('m', 'off', 'starting', 3)
    expect(ok).toMatchObject({ success: true, newVersion: 4, vmConfig: { id: 'm', status: 'starting', version: 4, cpuCores: 0, gpuPciAddress: null } })
    expect(c.calls.pop()).toEqual(['machine.updateMany', { where: { id: 'm', status: 'off', version: 3 }, data: { status: 'starting', version: 4 } }])
    await expect(a.transitionVMStatus('m', 'off', 'starting', 2)).rejects.toMatchObject({
      code: 'VERSION_CONFLICT', message: 'Version conflict: expected 2, found 3. Another process may have modified this VM.', details: { expectedVersion: 2, currentVersion: 3 }
    })
    await expect(a.transitionVMStatus('m', 'running', 'off', 3)).rejects.toMatchObject({
      code: 'UPDATE_FAILED', message: "Status conflict: expected 'running', found 'off'. VM may already be off."
    })
    c.machine.updateMany = async () => ({ count: 0 })
    await expect(a.transitionVMStatus('m', 'off', 'starting', 3)).rejects.toMatchObject({
      code: 'VERSION_CONFLICT', message: 'Failed to transition VM status: concurrent modification detected', details: { expectedStatus: 'off', expectedVersion: 3 }
    })
    c.machine.findUnique = async () => null
    await expect(a.transitionVMStatus('x', 'off', 'starting', 1)).rejects.toMatchObject({ code: 'MACHINE_NOT_FOUND', message: 'Machine not found: x' })
    c.$transaction = async () => { throw new Error('tx') }
    await expect(a.transitionVMStatus('x', 'off', 'starting', 1)).rejects.toMatchObject({ code: 'UPDATE_FAILED', message: 'Failed to transition VM status: Error: tx' })
  })

  test('a PrismaAdapterError thrown through StateSync keeps its identity', async () => {
    const c = mockClient()
    c.machine.findUnique = async () => { throw new Error('no db') }
    const a = new PrismaAdapter(c)
    const s = new StateSync(a)
    const e = await s.getVMStatus('m').catch((x) => x)
    expect(e).toBeInstanceOf(PrismaAdapterError)
    expect(util.types.isNativeError(e)).toBe(true)
    expect(e).toMatchObject({ code: 'QUERY_FAILED', message: 'Failed to find machine: Error: no db', vmId: 'm' })
  })
})
