'use strict'
// The Infinivirt facade against the real host parts (API.md §5.5, §5.7, §5.8, §5.10, §6):
// a real bridge, TAP and nft chain inside the private namespace made by
// scripts/test-net.sh, a real QEMU (TCG) booting the test guest, the embedded
// SQLite store in a temp dir. Everything a test makes is removed in afterEach.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const { Infinivirt, VMLifecycle, LifecycleError, generateVMChainName } = require('../..')
const netns = require('../helpers/netns')
const env = require('../helpers/lifecycle-env')
const { processesUsing, nftChainExists, newVmId, rejection } = env
const { guestArgs, ensureGuest, waitForMarker } = require('../helpers/guest')

jest.setTimeout(120000)

const h = env.harness('iv-lifecycle')
const { manager, seedMachine } = h
let dir
let persistDir
let links
// The current test's (set by the harness's beforeEach, which runs first).
beforeEach(() => {
  ({ dir, persistDir, links } = h)
})


// The shared test VM with a display password (set over QMP, never on argv).
function createConfig (vmId, bridge, extra = {}) {
  return env.createConfig(vmId, bridge, { displayPassword: 'pw-lifecycle', ...extra })
}

function filesIn (sub) {
  return env.filesIn(path.join(dir, sub))
}



describe('Infinivirt create → stop → destroy (§5.5, §5.7, §5.8, §5.10)', () => {
  test('a VM boots the guest, runs on its TAP behind its chain, stops gracefully and leaves nothing after destroy', async () => {
    const br = await h.bridge('10.213.0.1/24')
    const serial = path.join(dir, 'serial.log')
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait', serialPath: serial }) })
    const vmId = newVmId('a')
    await seedMachine(m, vmId)
    const chain = generateVMChainName(vmId)

    const r = await m.createVM(createConfig(vmId, br))
    expect(r).toMatchObject({
      vmId,
      success: true,
      tapDevice: `vnet-${vmId.slice(0, 10)}`,
      qmpSocketPath: path.join(dir, 'qmp', `vm-${vmId}.sock`),
      pidFilePath: path.join(dir, 'pids', `vm-${vmId}.pid`),
      diskPaths: [path.join(dir, 'disks', `vm-${vmId}.qcow2`)]
    })
    expect(r.displayPort).toBeGreaterThanOrEqual(5900)
    expect(Number.isInteger(r.pid)).toBe(true)
    expect(m.getActiveVMs()).toEqual([vmId])
    await waitForMarker(serial, 'IV-READY', 60000)

    // The store says running, with the runtime columns.
    const row = await m.getPrismaAdapter().findMachineWithConfig(vmId)
    expect(row.status).toBe('running')
    expect(row.configuration).toMatchObject({ qemuPid: r.pid, tapDeviceName: r.tapDevice, qmpSocketPath: r.qmpSocketPath, bridge: br })
    // No password on QEMU's command line (it was set over QMP).
    expect(fs.readFileSync(`/proc/${r.pid}/cmdline`, 'utf8')).not.toContain('pw-lifecycle')

    // QMP answers (the guest runs: `cont` was sent), the status is consistent.
    const st = await m.getVMStatus(vmId)
    expect(st).toEqual({
      vmId, status: 'running', qmpStatus: 'running', pid: r.pid, uptime: null, processAlive: true, consistent: true,
      tapDevice: r.tapDevice, qmpSocketPath: r.qmpSocketPath, monitorResponsive: true
    })
    const tap = netns.linkInfo(r.tapDevice)
    expect(tap.flags).toContain('LOWER_UP')
    expect(tap.master).toBe(br)
    expect(nftChainExists(chain)).toBe(true)

    // Graceful stop: the guest answers the ACPI power button.
    const s = await m.stopVM(vmId, { graceful: true, timeout: 30000 })
    expect(s).toMatchObject({ success: true, vmId, forced: false, message: `VM ${vmId} stopped successfully` })
    expect(s.timestamp).toBeInstanceOf(Date)
    await waitForMarker(serial, 'IV-ACPI-POWERDOWN', 1000)
    expect(processesUsing(dir)).toEqual([])
    expect(m.getActiveVMs()).toEqual([])
    const off = await m.getVMStatus(vmId)
    expect(off).toMatchObject({ status: 'off', pid: null, processAlive: false, consistent: true, qmpSocketPath: null, tapDevice: r.tapDevice })
    const stoppedTap = netns.linkInfo(r.tapDevice)
    expect(stoppedTap).not.toBeNull()
    expect(stoppedTap.master).toBeUndefined()
    expect(fs.existsSync(r.qmpSocketPath)).toBe(false)
    expect(fs.existsSync(r.pidFilePath)).toBe(false)
    // A second stop is a no-op.
    expect(await m.stopVM(vmId)).toMatchObject({ success: true, message: `VM ${vmId} is already stopped` })

    const d = await m.destroyVM(vmId)
    expect(d).toMatchObject({ success: true, message: `VM ${vmId} resources destroyed successfully` })
    expect(netns.linkInfo(r.tapDevice)).toBeNull()
    expect(nftChainExists(chain)).toBe(false)
    expect(processesUsing(dir)).toEqual([])
    // Disks stay (spec §5.8).
    expect(fs.existsSync(r.diskPaths[0])).toBe(true)
  })

  test('start (§5.6) brings a stopped VM back on its stored TAP and chain; a failed start undoes only what it did', async () => {
    const br = await h.bridge('10.213.1.1/24')
    const serial = path.join(dir, 'serial.log')
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait', serialPath: serial }) })
    const vmId = newVmId('s')
    await seedMachine(m, vmId)
    const chain = generateVMChainName(vmId)
    const r = await m.createVM(createConfig(vmId, br, { displayPassword: undefined }))
    await waitForMarker(serial, 'IV-READY', 60000)
    expect(await m.startVM(vmId)).toMatchObject({ success: true, message: `VM ${vmId} is already running` })
    const s = await m.stopVM(vmId, { graceful: false })
    expect(s).toMatchObject({ success: true, forced: true, message: `VM ${vmId} stopped successfully (forced)` })
    expect(processesUsing(dir)).toEqual([])
    fs.rmSync(serial, { force: true })

    const st = await m.startVM(vmId)
    expect(st).toMatchObject({ success: true, vmId, message: `VM ${vmId} started successfully` })
    expect(st.timestamp).toBeInstanceOf(Date)
    expect(m.getActiveVMs()).toEqual([vmId])
    await waitForMarker(serial, 'IV-READY', 60000)
    const status = await m.getVMStatus(vmId)
    expect(status).toMatchObject({ status: 'running', qmpStatus: 'running', processAlive: true, consistent: true, tapDevice: r.tapDevice })
    expect(status.pid).not.toBe(r.pid)
    const tap = netns.linkInfo(r.tapDevice)
    expect(tap.master).toBe(br)
    expect(tap.flags).toContain('LOWER_UP')
    expect(nftChainExists(chain)).toBe(true)
    expect(processesUsing(dir)).toEqual([status.pid])
    await m.stopVM(vmId, { graceful: false })

    // The disk is gone: DISK_ERROR, status error, the TAP is off the bridge again,
    // the chain (which the start did not create) stays, nothing runs.
    fs.rmSync(r.diskPaths[0])
    const e = await rejection(m.startVM(vmId))
    expect(e).toBeInstanceOf(LifecycleError)
    expect(e.code).toBe('DISK_ERROR')
    expect(e.message).toBe(`Disk image 0 not found: ${r.diskPaths[0]}`)
    expect((await m.getPrismaAdapter().findMachine(vmId)).status).toBe('error')
    expect(processesUsing(dir)).toEqual([])
    expect(netns.linkInfo(r.tapDevice).master).toBeUndefined()
    expect(nftChainExists(chain)).toBe(true)
    expect(filesIn('qmp')).toEqual([])
    expect(filesIn('pids')).toEqual([])
  })

  test('suspend, resume, reset and restart (§5.9) over the manager\'s QMP connection; emitCRUD sees them', async () => {
    const br = await h.bridge('10.213.2.1/24')
    const serial = path.join(dir, 'serial.log')
    const events = []
    const eventManager = { emitCRUD: (resource, action, id, data) => events.push([resource, action, id, data]) }
    const m = await manager({ eventManager, extraArgs: guestArgs({ mode: 'wait', serialPath: serial }) })
    const vmId = newVmId('r')
    await seedMachine(m, vmId)
    const r = await m.createVM(createConfig(vmId, br))
    await waitForMarker(serial, 'IV-READY', 60000)

    expect(await m.suspendVM(vmId)).toMatchObject({ success: true, message: `VM ${vmId} suspended` })
    expect(await m.getVMStatus(vmId)).toMatchObject({ status: 'suspended', qmpStatus: 'paused', processAlive: true })
    const again = await rejection(m.suspendVM(vmId))
    expect(again.code).toBe('INVALID_STATE')
    expect(again.message).toBe('Cannot suspend VM in state: suspended')
    expect(await m.resumeVM(vmId)).toMatchObject({ success: true, message: `VM ${vmId} resumed` })
    expect(await m.getVMStatus(vmId)).toMatchObject({ status: 'running', qmpStatus: 'running' })

    const blocks = await m.queryBlockDevices(vmId)
    expect(blocks.some((b) => b.inserted && b.inserted.file === r.diskPaths[0])).toBe(true)
    expect((await rejection(m.ejectCdrom(vmId, 'no-such-drive'))).code).toBe('QMP_COMMAND_ERROR')
    const nf = await rejection(m.queryBlockDevices('not-a-vm'))
    expect(nf.code).toBe('VM_NOT_FOUND')
    expect(nf.message).toBe('VM not-a-vm not found or not running')

    expect(await m.resetVM(vmId)).toMatchObject({ success: true, message: `VM ${vmId} reset` })
    await waitForMarker(serial, 'IV-READY', 60000, { count: 2 })

    const rs = await m.restartVM(vmId)
    expect(rs).toMatchObject({ success: true, message: `VM ${vmId} restarted successfully` })
    const after = await m.getVMStatus(vmId)
    expect(after).toMatchObject({ status: 'running', qmpStatus: 'running', processAlive: true, consistent: true })
    expect(after.pid).not.toBe(r.pid)
    expect(processesUsing(dir)).toEqual([after.pid])

    await m.stopVM(vmId, { graceful: false })
    expect(events.map((e) => e[1])).toEqual(['create', 'suspend', 'resume', 'update', 'power_off', 'power_on', 'power_off'])
    expect(events[0]).toEqual(['machines', 'create', vmId, { pid: r.pid, tapDevice: r.tapDevice }])
    expect(events[3][3]).toEqual({ type: 'hardware' })
    expect(events[4][3]).toEqual({ forced: false })
    expect(events[5][3]).toEqual({ pid: after.pid, tapDevice: r.tapDevice })
    expect(events[6][3]).toEqual({ forced: true })
  })

  test('firewall rules from the store are in the chain of a running VM; in strict mode an invalid rule fails the create and leaves nothing', async () => {
    const br = await h.bridge('10.213.3.1/24')
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait' }), firewallStrictRules: true })
    const db = m.getPrismaAdapter()
    const good = newVmId('g')
    const bad = newVmId('x')
    await db.insertRecord('FirewallRuleSet', { id: `rs-${good}`, name: 'good', internalName: `rs-${good}`, entityType: 'VM', entityId: good })
    await db.insertRecord('FirewallRule', { id: `r-${good}`, ruleSetId: `rs-${good}`, name: 'no ssh', action: 'DROP', direction: 'IN', priority: 100, protocol: 'tcp', dstPortStart: 2222 })
    await db.insertRecord('FirewallRuleSet', { id: `rs-${bad}`, name: 'bad', internalName: `rs-${bad}`, entityType: 'VM', entityId: bad })
    await db.insertRecord('FirewallRule', { id: `r-${bad}`, ruleSetId: `rs-${bad}`, name: 'bad port', action: 'DROP', direction: 'IN', priority: 100, protocol: 'tcp', dstPortStart: 70000 })
    await seedMachine(m, good, { firewallRuleSetId: `rs-${good}` })
    await seedMachine(m, bad, { firewallRuleSetId: `rs-${bad}` })

    // Two VMs at once: different VMs do not wait for each other's lock.
    const [ok, failed] = await Promise.allSettled([
      m.createVM(createConfig(good, br, { displayPort: 5910 })),
      m.createVM(createConfig(bad, br, { displayPort: 5920 }))
    ])
    expect(ok.status).toBe('fulfilled')
    expect(execFileSync('nft', ['list', 'chain', 'bridge', 'infinivirt', generateVMChainName(good)], { encoding: 'utf8' })).toContain('2222')
    expect(netns.linkInfo(ok.value.tapDevice).master).toBe(br)

    expect(failed.status).toBe('rejected')
    const e = failed.reason
    expect(e).toBeInstanceOf(LifecycleError)
    expect(e.code).toBe('CREATE_FAILED')
    expect(e.message).toContain(`r-${bad}`)
    expect(typeof e.context.cause.code).toBe('string')
    expect(netns.linkInfo(`vnet-${bad.slice(0, 10)}`)).toBeNull()
    expect(nftChainExists(generateVMChainName(bad))).toBe(false)
    expect(filesIn('disks')).toEqual([`vm-${good}.qcow2`])
    expect((await db.findMachine(bad)).status).toBe('error')
    expect(processesUsing(dir)).toEqual([ok.value.pid])

    // The same VM again while it runs: refused before anything is touched (typed:
    // INVALID_STATE, the VM runs; the original answered CREATE_FAILED).
    const dup = await rejection(m.createVM(createConfig(good, br)))
    expect(dup.code).toBe('INVALID_STATE')
    expect(dup.message).toContain(`VM ${good} already exists and is running`)
    expect(await m.getVMStatus(good)).toMatchObject({ status: 'running', processAlive: true, consistent: true })
    expect(netns.linkInfo(ok.value.tapDevice).master).toBe(br)
    await m.stopVM(good, { graceful: false })
  })

  test('by default an invalid stored rule is left out: the VM starts behind its other rules', async () => {
    const br = await h.bridge('10.213.9.1/24')
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait' }) })
    const db = m.getPrismaAdapter()
    const vmId = newVmId('l')
    const chain = generateVMChainName(vmId)
    await db.insertRecord('FirewallRuleSet', { id: `rs-${vmId}`, name: 'vm', internalName: `rs-${vmId}`, entityType: 'VM', entityId: vmId })
    await db.insertRecord('FirewallRule', { id: `r-ok-${vmId}`, ruleSetId: `rs-${vmId}`, name: 'no ssh', action: 'DROP', direction: 'IN', priority: 100, protocol: 'tcp', dstPortStart: 2222 })
    await db.insertRecord('FirewallRule', { id: `r-bad-${vmId}`, ruleSetId: `rs-${vmId}`, name: 'bad port', action: 'DROP', direction: 'IN', priority: 110, protocol: 'tcp', dstPortStart: 70000 })
    await db.insertRecord('FirewallRule', { id: `r-gre-${vmId}`, ruleSetId: `rs-${vmId}`, name: 'no gre', action: 'DROP', direction: 'OUT', priority: 120, protocol: 'gre' })
    await seedMachine(m, vmId, { firewallRuleSetId: `rs-${vmId}` })
    const r = await m.createVM(createConfig(vmId, br))
    const text = env.nftChainText(chain)
    expect(text).toContain('2222')
    expect(text).toContain('ip protocol gre drop')
    expect(text).not.toContain('bad port')
    expect(netns.linkInfo(r.tapDevice).master).toBe(br)
    await m.stopVM(vmId, { graceful: false })
    expect(await m.startVM(vmId)).toMatchObject({ success: true })
    expect(env.nftChainText(chain)).toContain('2222')
    await m.stopVM(vmId, { graceful: false })
  })

  test('VMs whose ids share their first 8 alphanumerics: the second is refused and the first VM\'s rules hold through its create, stop, failed start and removal', async () => {
    const br = await h.bridge('10.213.10.1/24')
    const peers = []
    try {
      // Two outside hosts on the bridge: the VM's rule drops pings from .3 only.
      for (const addr of ['10.213.10.3', '10.213.10.4']) {
        const ns = netns.createPeerNs()
        peers.push(ns)
        const { local, remote } = netns.createVeth(netns.uniqueName('ivq'), ns)
        links.push(local)
        netns.ip(['link', 'set', 'dev', local, 'master', br])
        netns.ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', remote])
      }
      const pings = (ns) => {
        try {
          execFileSync('ip', ['netns', 'exec', ns, 'busybox', 'ping', '-c', '1', '-W', '2', '10.213.10.2'], { stdio: 'ignore' })
          return true
        } catch {
          return false
        }
      }
      const serial = path.join(dir, 'serial.log')
      const m = await manager({ extraArgs: guestArgs({ mode: 'wait', ip: '10.213.10.2/24', serialPath: serial }) })
      const db = m.getPrismaAdapter()
      const prefix = `lc${require('node:crypto').randomBytes(3).toString('hex')}`
      const [a, b] = [`${prefix}a1`, `${prefix}b2`]
      const chain = generateVMChainName(a)
      expect(generateVMChainName(b)).toBe(chain)
      await db.insertRecord('FirewallRuleSet', { id: `rs-${a}`, name: 'a', internalName: `rs-${a}`, entityType: 'VM', entityId: a })
      await db.insertRecord('FirewallRule', { id: `r-${a}`, ruleSetId: `rs-${a}`, name: 'no ping from .3', action: 'DROP', direction: 'IN', priority: 100, protocol: 'icmp', srcIpAddr: '10.213.10.3' })
      await seedMachine(m, a, { firewallRuleSetId: `rs-${a}` })
      await seedMachine(m, b)

      const ra = await m.createVM(createConfig(a, br, { displayPort: 5930 }))
      await waitForMarker(serial, 'IV-READY', 60000)
      const rulesBefore = env.nftChainText(chain)
      const holds = async (when) => {
        expect([when, pings(peers[1])]).toEqual([when, true]) // the guest answers
        expect([when, pings(peers[0])]).toEqual([when, false]) // but not to .3
        expect(env.nftChainText(chain)).toBe(rulesBefore)
        expect(env.tapDispatched(ra.tapDevice)).toBe(true)
      }
      await holds('after A\'s create')

      const e = await rejection(m.createVM(createConfig(b, br, { displayPort: 5940 })))
      expect(e).toBeInstanceOf(LifecycleError)
      expect(e.code).toBe('CREATE_FAILED')
      expect(e.context.cause.code).toBe('CHAIN_EXISTS')
      expect(e.message).toContain(a)
      expect(e.message).toContain(b)
      await holds('after B\'s refused create')
      await m.stopVM(b, { graceful: false })
      await holds('after B\'s stop')
      // B's disk went with its failed create; give it one so its start reaches the firewall.
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(dir, 'disks', `vm-${b}.qcow2`), '1G'])
      const s = await rejection(m.startVM(b))
      expect([s.code, s.context.cause.code]).toEqual(['START_FAILED', 'CHAIN_EXISTS'])
      await holds('after B\'s failed start')
      await m.destroyVM(b)
      await holds('after B\'s removal')
      expect(processesUsing(dir)).toEqual([ra.pid])
      await m.stopVM(a, { graceful: false })
    } finally {
      for (const ns of peers) netns.removePeerNs(ns)
    }
  })

  test('a new manager (backend restart) re-attaches to every running VM and releases the one that died meanwhile (rule 8)', async () => {
    const br = await h.bridge('10.213.4.1/24')
    const serials = [path.join(dir, 's0.log'), path.join(dir, 's1.log'), path.join(dir, 's2.log')]
    const ids = [newVmId('h'), newVmId('i'), newVmId('j')]
    const created = []
    const first = await manager()
    for (let i = 0; i < 3; i++) {
      await seedMachine(first, ids[i])
      // one lifecycle per guest log: the serial path is part of the test-only extraArgs
      const l = new VMLifecycle(first.getPrismaAdapter(), first.getEventHandler(), null, {
        diskDir: path.join(dir, 'disks'),
        qmpSocketDir: path.join(dir, 'qmp'),
        pidfileDir: path.join(dir, 'pids'),
        firewallPersistenceDir: persistDir,
        extraArgs: guestArgs({ mode: 'wait', serialPath: serials[i] })
      })
      created.push(await l.create(createConfig(ids[i], br)))
      await l._shutdown()
    }
    for (const s of serials) await waitForMarker(s, 'IV-READY', 60000)
    await first.shutdown()
    expect(processesUsing(dir).sort()).toEqual(created.map((c) => c.pid).sort())

    // While no manager runs, the third VM's QEMU is killed.
    process.kill(created[2].pid, 'SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, 300))

    const events = []
    const eventManager = { emitCRUD: (resource, action, id) => events.push([action, id]) }
    const second = await manager({ eventManager })
    // Re-attached before initialize() returned: active, watched, on the EventHandler.
    expect(second.getActiveVMs().sort()).toEqual([ids[0], ids[1]].sort())
    for (let i = 0; i < 2; i++) {
      expect(second.getEventHandler().isAttached(ids[i])).toBe(true)
      expect(await second.getVMStatus(ids[i])).toMatchObject({ status: 'running', pid: created[i].pid, processAlive: true, consistent: true, qmpStatus: 'running' })
      expect(netns.linkInfo(created[i].tapDevice).master).toBe(br)
    }
    // The dead one: off, runtime released, reported as a crash; its TAP and chain kept for a later start.
    expect(await second.getVMStatus(ids[2])).toMatchObject({ status: 'off', pid: null, processAlive: false, consistent: true, qmpSocketPath: null })
    expect(netns.linkInfo(created[2].tapDevice).master).toBeUndefined()
    expect(fs.existsSync(created[2].qmpSocketPath)).toBe(false)
    expect(fs.existsSync(created[2].pidFilePath)).toBe(false)
    expect(events).toEqual([['crash', ids[2]]])
    // Nothing was killed by the restart.
    expect(processesUsing(dir).sort()).toEqual([created[0].pid, created[1].pid].sort())

    // The adopted VMs are fully managed: a pushed crash, a graceful stop.
    process.kill(created[1].pid, 'SIGKILL')
    const deadline = Date.now() + 5000
    while (second.getActiveVMs().includes(ids[1]) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(second.getActiveVMs()).toEqual([ids[0]])
    expect(events).toEqual([['crash', ids[2]], ['crash', ids[1]]])
    expect(await second.getVMStatus(ids[1])).toMatchObject({ status: 'error', processAlive: false, consistent: true })

    const s = await second.stopVM(ids[0], { graceful: true, timeout: 30000 })
    expect(s).toMatchObject({ success: true, forced: false })
    await waitForMarker(serials[0], 'IV-ACPI-POWERDOWN', 1000)
    expect(processesUsing(dir)).toEqual([])
    expect(await second.getVMStatus(ids[0])).toMatchObject({ status: 'off', processAlive: false, consistent: true })
    expect(second.getEventHandler().isAttached(ids[0])).toBe(false)
  })

  test('a VM killed behind the manager\'s back: pushed, status error, crash event, nothing left attached or on the bridge', async () => {
    const br = await h.bridge('10.213.7.1/24')
    const serial = path.join(dir, 'serial.log')
    const events = []
    const eventManager = { emitCRUD: (resource, action, id, data) => events.push([resource, action, id, data]) }
    const m = await manager({ eventManager, extraArgs: guestArgs({ mode: 'wait', serialPath: serial }) })
    const vmEvents = []
    m.getEventHandler().on('vm:event', (e) => vmEvents.push(e))
    const disconnects = []
    m.getEventHandler().on('vm:disconnect', (e) => disconnects.push(e.vmId))
    const vmId = newVmId('k')
    await seedMachine(m, vmId)
    const r = await m.createVM(createConfig(vmId, br))
    await waitForMarker(serial, 'IV-READY', 60000)
    // The long-lived objects are the same every time.
    expect(m.getEventHandler()).toBe(m.getEventHandler())
    expect(m.getHealthMonitor()).toBe(m.getHealthMonitor())
    expect(m.getNftablesService()).toBe(m.getNftablesService())
    expect(m.getHealthMonitor().isMonitoring()).toBe(true)
    expect(await m.getNftablesService().chainExists(generateVMChainName(vmId))).toBe(true)
    // vm:event reaches the backend's listeners (STOP/RESUME of a suspend/resume).
    await m.suspendVM(vmId)
    await m.resumeVM(vmId)
    const deadline0 = Date.now() + 3000
    while (vmEvents.length < 2 && Date.now() < deadline0) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(vmEvents.map((e) => e.event)).toEqual(['STOP', 'RESUME'])

    const killedAt = Date.now()
    process.kill(r.pid, 'SIGKILL')
    const deadline = Date.now() + 5000
    while (!events.some((e) => e[1] === 'crash') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    const crash = events.find((e) => e[1] === 'crash')
    expect(crash).toEqual(['machines', 'crash', vmId, undefined])
    expect(Date.now() - killedAt).toBeLessThan(2000)
    expect(m.getActiveVMs()).toEqual([])
    expect(m.getEventHandler().isAttached(vmId)).toBe(false)
    expect(disconnects).toContain(vmId)
    expect(await m.getVMStatus(vmId)).toMatchObject({ status: 'error', pid: null, processAlive: false, consistent: true, qmpSocketPath: null })
    expect(netns.linkInfo(r.tapDevice).master).toBeUndefined()
    expect(filesIn('qmp')).toEqual([])
    expect(filesIn('pids')).toEqual([])
    expect(processesUsing(dir)).toEqual([])
    // The health monitor's sweep agrees: nothing running, nothing crashed twice.
    const sweep = await m.getHealthMonitor().checkAllVMs()
    expect(sweep.crashed).toBe(0)
    // From error, the VM starts again on its kept TAP and chain.
    fs.rmSync(serial, { force: true })
    expect(await m.startVM(vmId)).toMatchObject({ success: true })
    await waitForMarker(serial, 'IV-READY', 60000)
    expect(m.getActiveVMs()).toEqual([vmId])
    expect(m.getEventHandler().isAttached(vmId)).toBe(true)
  })

  test('a guest that powers itself off: the exit is pushed (rule 5) and the VM is off with its TAP and sockets released', async () => {
    const br = await h.bridge('10.213.5.1/24')
    const serial = path.join(dir, 'serial.log')
    const m = await manager({ extraArgs: guestArgs({ mode: 'poweroff', serialPath: serial }) })
    const vmId = newVmId('p')
    await seedMachine(m, vmId)
    const r = await m.createVM(createConfig(vmId, br))
    await waitForMarker(serial, 'IV-POWEROFF', 60000)
    const deadline = Date.now() + 10000
    let st
    do {
      await new Promise((resolve) => setTimeout(resolve, 100))
      st = await m.getVMStatus(vmId)
    } while (st.status !== 'off' && Date.now() < deadline)
    expect(st).toMatchObject({ status: 'off', pid: null, processAlive: false, consistent: true, qmpSocketPath: null })
    expect(processesUsing(dir)).toEqual([])
    expect(netns.linkInfo(r.tapDevice).master).toBeUndefined()
    expect(filesIn('qmp')).toEqual([])
    expect(filesIn('pids')).toEqual([])
    // It starts again from there.
    fs.rmSync(serial, { force: true })
    expect(await m.startVM(vmId)).toMatchObject({ success: true })
    await waitForMarker(serial, 'IV-POWEROFF', 60000)
  })

  test('CPU pinning (§5.4 step 18, §5.5 step 12): numactl for one VM, a cpuset cgroup for another; both come back on start', async () => {
    const br = await h.bridge('10.213.8.1/24')
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait', serialPath: path.join(dir, 'serial.log') }) })
    const allowed = (pid) => /Cpus_allowed_list:\s*(\S+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]
    const cpus = require('node:os').cpus().length
    // numactl, basic strategy, one vCPU: the first core of node 0.
    const a = newVmId('n')
    await seedMachine(m, a)
    const ra = await m.createVM(createConfig(a, br, { enableNumaCtlPinning: true, cpuPinningStrategy: 'basic' }))
    expect(allowed(ra.pid)).toBe('0')
    // Explicit cores: the last core of the host, through a cgroup (v2, or the v1 cpuset fallback here).
    const last = cpus - 1
    const b = newVmId('c')
    await seedMachine(m, b)
    const rb = await m.createVM(createConfig(b, br, { cpuPinning: [last] }))
    expect(allowed(rb.pid)).toBe(String(last))
    const stored = (await m.getPrismaAdapter().findMachineWithConfig(b)).configuration
    expect(stored.cpuPinning).toEqual({ cores: [last] })
    expect((await m.getPrismaAdapter().findMachineWithConfig(a)).configuration).toMatchObject({ enableNumaCtlPinning: true, cpuPinningStrategy: 'basic' })
    const groups = ['/sys/fs/cgroup/infinivirt.slice', '/sys/fs/cgroup/cpuset/infinivirt']
    const groupOf = (pid) => groups.map((g) => path.join(g, fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? `qemu-${pid}.scope` : `qemu-${pid}`)).find((g) => fs.existsSync(g))
    expect(groupOf(rb.pid)).toBeDefined()
    // Stop releases the cgroup; start restores both pinnings from the store.
    await m.stopVM(b, { graceful: false })
    expect(groupOf(rb.pid)).toBeUndefined()
    await m.stopVM(a, { graceful: false })
    await m.startVM(a)
    await m.startVM(b)
    const sa = await m.getVMStatus(a)
    const sb = await m.getVMStatus(b)
    expect(allowed(sa.pid)).toBe('0')
    expect(allowed(sb.pid)).toBe(String(last))
    // Invalid cores are refused before anything is made.
    const c = newVmId('x')
    await seedMachine(m, c)
    const e = await rejection(m.createVM(createConfig(c, br, { cpuPinning: [cpus + 5] })))
    expect(e.code).toBe('INVALID_CONFIG')
    expect(e.message).toBe(`Invalid CPU cores for pinning: ${cpus + 5}. Host has ${cpus} cores (valid range: 0-${cpus - 1})`)
    expect(e.context).toEqual({ requestedCores: [cpus + 5] })
    expect(filesIn('disks').filter((f) => f.includes(c))).toEqual([])
  })

  test('unattended install (§5.5 steps 8/16): answer medium attached, installer reboots then powers off → installation_complete, media removed', async () => {
    const br = await h.bridge('10.213.9.1/24')
    const serial = path.join(dir, 'serial.log')
    const events = []
    const eventManager = { emitCRUD: (resource, action, id, data) => events.push([action, id, data]) }
    const m = await manager({
      eventManager,
      // the test guest plays the installer: two reboots (counted on its disk), then power-off
      extraArgs: guestArgs({ mode: 'reboot', reboots: 2, serialPath: serial }),
      unattended: { outputDir: path.join(dir, 'unattended'), monitorConfig: { expectedReboots: 2, timeout: 90000, checkInterval: 1000 } }
    })
    const vmId = newVmId('u')
    await seedMachine(m, vmId)
    // OS mismatch is refused before anything is made
    const bad = await rejection(m.createVM(createConfig(vmId, br, { unattendedInstall: { vmId, os: 'windows11', username: 'user', password: 'pw' } })))
    expect(bad.code).toBe('INVALID_CONFIG')
    expect(bad.message).toMatch(/^Unattended installation OS mismatch: VM os='ubuntu' but unattendedInstall.os='windows11'/)
    // an invalid installer config is refused before anything is made, too
    const badUser = await rejection(m.createVM(createConfig(vmId, br, { unattendedInstall: { vmId, os: 'ubuntu', username: 'root', password: 'pw' } })))
    expect(badUser.code).toBe('INVALID_CONFIG')
    expect(filesIn('disks')).toEqual([])

    // a stand-in Ubuntu installer ISO: remastered to boot with `autoinstall`, booted
    // once (-boot order=c,once=d), ejected after the first reboot
    const installerDir = path.join(dir, 'installer')
    fs.mkdirSync(path.join(installerDir, 'casper'), { recursive: true })
    fs.mkdirSync(path.join(installerDir, 'boot', 'grub'), { recursive: true })
    fs.writeFileSync(path.join(installerDir, 'casper', 'vmlinuz'), 'stand-in')
    fs.writeFileSync(path.join(installerDir, 'boot', 'grub', 'grub.cfg'), 'menuentry "Try or Install Ubuntu Server" {\n\tset gfxpayload=keep\n\tlinux\t/casper/vmlinuz  ---\n\tinitrd\t/casper/initrd\n}\n')
    const installerIso = path.join(dir, 'installer.iso')
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'INSTALLER', '-r', '-o', installerIso, installerDir], { stdio: 'ignore' })
    const unattendedDir = path.join(dir, 'unattended')
    // a create that fails (no such bridge) leaves neither answer medium nor remastered copy
    const failed = await rejection(m.createVM(createConfig(vmId, 'ivnobr0', { isoPath: installerIso, unattendedInstall: { vmId, os: 'ubuntu', username: 'desk', password: 'pw-install' } })))
    expect(failed.code).toBe('CREATE_FAILED')
    expect(env.filesIn(unattendedDir)).toEqual([])

    const r = await m.createVM(createConfig(vmId, br, { isoPath: installerIso, unattendedInstall: { vmId, os: 'ubuntu', username: 'desk', password: 'pw-install' } }))
    expect(r).toMatchObject({ success: true, installingOS: true })
    const remastered = path.join(unattendedDir, `${vmId}-ubuntu-autoinstall.iso`)
    const cmd = fs.readFileSync(`/proc/${r.pid}/cmdline`, 'utf8').split('\0').join(' ')
    expect(cmd).toContain(`-cdrom ${remastered} -boot order=c,once=d`)
    execFileSync('xorriso', ['-osirrox', 'on', '-indev', remastered, '-extract', '/boot/grub/grub.cfg', path.join(dir, 'grub.cfg')], { stdio: 'ignore' })
    const grub = fs.readFileSync(path.join(dir, 'grub.cfg'), 'utf8')
    expect(grub).toContain('linux\t/casper/vmlinuz autoinstall')
    await waitForMarker(serial, 'IV-BOOT 2', 60000)
    const blocks = await m.getEventHandler().getQMPClient(vmId).queryBlock()
    const cd = blocks.find((b) => b.device === 'ide2-cd0')
    expect(cd && cd.inserted).toBeFalsy()
    expect(blocks.some((b) => b.inserted && b.inserted.file === r.installationIsoPath)).toBe(true)
    expect(fs.existsSync(r.installationIsoPath)).toBe(true)
    const argv = fs.readFileSync(`/proc/${r.pid}/cmdline`, 'utf8').split('\0')
    expect(argv.some((a) => a.startsWith(`file=${r.installationIsoPath},`) && a.includes('media=cdrom'))).toBe(true)
    expect(argv.join(' ')).not.toContain('pw-install')
    const deadline = Date.now() + 90000
    while (!events.some((e) => e[0] === 'update' && e[2] && /installation_/.test(e[2].type)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    const done = events.find((e) => e[0] === 'update' && e[2] && /installation_/.test(e[2].type))
    expect(done[2]).toMatchObject({ type: 'installation_complete' })
    expect(done[2].duration).toBeGreaterThan(0)
    await waitForMarker(serial, 'IV-DONE', 1000)
    expect(fs.existsSync(r.installationIsoPath)).toBe(false)
    expect(fs.existsSync(remastered)).toBe(false)
    expect(fs.existsSync(installerIso)).toBe(true)
    const deadline2 = Date.now() + 10000
    let st
    do {
      await new Promise((resolve) => setTimeout(resolve, 100))
      st = await m.getVMStatus(vmId)
    } while (st.status !== 'off' && Date.now() < deadline2)
    expect(st).toMatchObject({ status: 'off', processAlive: false, consistent: true })
    expect(processesUsing(dir)).toEqual([])
  })

  test('unattended install that reboots forever: installation_failed (reset limit), a screenshot kept, media removed', async () => {
    const br = await h.bridge('10.213.10.1/24')
    const events = []
    const eventManager = { emitCRUD: (resource, action, id, data) => events.push([action, id, data]) }
    const m = await manager({
      eventManager,
      extraArgs: guestArgs({ mode: 'reboot', reboots: 1000, serialPath: path.join(dir, 'serial.log') }),
      unattended: { outputDir: path.join(dir, 'unattended'), monitorConfig: { maxResets: 1, expectedReboots: 1, timeout: 90000, checkInterval: 1000 } }
    })
    const vmId = newVmId('f')
    await seedMachine(m, vmId)
    const r = await m.createVM(createConfig(vmId, br, { unattendedInstall: { vmId, os: 'ubuntu', username: 'desk', password: 'pw' } }))
    const deadline = Date.now() + 90000
    while (!events.some((e) => e[0] === 'update') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200))
    const failed = events.find((e) => e[0] === 'update')
    expect(failed[2].type).toBe('installation_failed')
    expect(failed[2].error).toMatch(/exceeded maximum reset count \(1\)/)
    const shot = path.join(dir, 'disks', `vm-${vmId}-install-failed.png`)
    expect(fs.readFileSync(shot).subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a')
    expect(fs.existsSync(r.installationIsoPath)).toBe(false)
    // the VM itself is left running for the operator to look at; destroy cleans it up
    await m.destroyVM(vmId)
    expect(processesUsing(dir)).toEqual([])
  })

  test('a VNC VM (§19 #1 fixed): display number = port - 5900, the password set over QMP', async () => {
    const br = await h.bridge('10.213.6.1/24')
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait' }) })
    const vmId = newVmId('v')
    await seedMachine(m, vmId)
    const r = await m.createVM(createConfig(vmId, br, { displayType: 'vnc', displayPort: 5930, displayPassword: 'vnc-secret' }))
    expect(r.displayPort).toBeGreaterThanOrEqual(5930)
    const argv = fs.readFileSync(`/proc/${r.pid}/cmdline`, 'utf8').split('\0')
    const vnc = argv[argv.indexOf('-vnc') + 1]
    expect(vnc).toContain(`127.0.0.1:${r.displayPort - 5900}`)
    expect(argv.join(' ')).not.toContain('vnc-secret')
    expect((await m.getPrismaAdapter().findMachineWithConfig(vmId)).configuration).toMatchObject({ graphicProtocol: 'vnc', graphicPort: r.displayPort })
    await m.stopVM(vmId, { graceful: false })
  })

  test('VMLifecycle on a plain DatabaseAdapter object (called through the host bridge)', async () => {
    const br = await h.bridge('10.213.7.1/24')
    const m = await manager()
    const vmId = newVmId('j')
    await seedMachine(m, vmId)
    const native = m.getPrismaAdapter()
    const calls = []
    const plain = {}
    for (const k of Object.getOwnPropertyNames(Object.getPrototypeOf(native))) {
      if (k !== 'constructor' && typeof native[k] === 'function') {
        plain[k] = (...a) => { calls.push(k); return native[k](...a) }
      }
    }
    const lc = new VMLifecycle(plain, null, undefined, {
      diskDir: path.join(dir, 'disks'),
      qmpSocketDir: path.join(dir, 'qmp'),
      pidfileDir: path.join(dir, 'pids'),
      firewallPersistenceDir: persistDir,
      extraArgs: guestArgs({ mode: 'wait' })
    })
    const r = await lc.create(createConfig(vmId, br))
    expect(await lc.getStatus(vmId)).toMatchObject({ status: 'running', pid: r.pid, processAlive: true, consistent: true })
    expect(await lc.stop(vmId, { graceful: false })).toMatchObject({ success: true, forced: true })
    expect(await lc.destroyResources(vmId)).toMatchObject({ success: true })
    expect(calls).toEqual(expect.arrayContaining(['updateMachineStatus', 'updateMachineConfiguration', 'findMachineWithConfig', 'getFirewallRules']))
    expect(processesUsing(dir)).toEqual([])
    expect(netns.linkInfo(r.tapDevice)).toBeNull()
  })

  test('a missing bridge: rejects with the original error and leaves no TAP, chain, disk, socket, pidfile or process', async () => {
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait' }) })
    const vmId = newVmId('b')
    await seedMachine(m, vmId)
    const missing = netns.uniqueName('ivnob')
    const e = await rejection(m.createVM(createConfig(vmId, missing)))
    expect(e).toBeInstanceOf(LifecycleError)
    expect(e.code).toBe('CREATE_FAILED')
    expect(e.vmId).toBe(vmId)
    expect(e.message).toContain(missing)
    expect(typeof e.context.cause.code).toBe('string')
    expect(netns.linkInfo(`vnet-${vmId.slice(0, 10)}`)).toBeNull()
    expect(nftChainExists(generateVMChainName(vmId))).toBe(false)
    expect(filesIn('disks')).toEqual([])
    expect(filesIn('qmp')).toEqual([])
    expect(filesIn('pids')).toEqual([])
    expect(processesUsing(dir)).toEqual([])
    expect((await m.getPrismaAdapter().findMachine(vmId)).status).toBe('error')
    expect(m.getActiveVMs()).toEqual([])
  })

  test('QEMU refusing its command line: the process error is returned and everything made is released', async () => {
    const br = await h.bridge('10.213.11.1/24')
    const m = await manager({ extraArgs: ['-no-such-option-here'] })
    const vmId = newVmId('c')
    await seedMachine(m, vmId)
    const e = await rejection(m.createVM(createConfig(vmId, br)))
    expect(e).toBeInstanceOf(LifecycleError)
    expect(e.code).toBe('PROCESS_ERROR')
    expect(e.message).toContain('no-such-option-here')
    expect(netns.linkInfo(`vnet-${vmId.slice(0, 10)}`)).toBeNull()
    expect(nftChainExists(generateVMChainName(vmId))).toBe(false)
    expect(filesIn('disks')).toEqual([])
    expect(filesIn('qmp')).toEqual([])
    expect(filesIn('pids')).toEqual([])
    expect(processesUsing(dir)).toEqual([])
    expect((await m.getPrismaAdapter().findMachine(vmId)).status).toBe('error')
  })

  test('methods before initialize() reject with INVALID_STATE', async () => {
    const m = new Infinivirt({ prismaClient: undefined, sqlitePath: path.join(dir, 'x.db') })
    expect(m.isInitialized()).toBe(false)
    const e = await rejection(m.getVMStatus('nope'))
    expect(e).toBeInstanceOf(LifecycleError)
    expect(e.code).toBe('INVALID_STATE')
    expect(e.message).toBe('Infinivirt not initialized. Call initialize() first.')
  })
})
