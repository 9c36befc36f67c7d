'use strict'
// The database contract, one suite for every store: the native PostgreSQL store, the
// native (embedded) SQLite store, and PrismaAdapter over the real Prisma Client
// (helpers/prisma.js) on a real PostgreSQL. Then the sync classes on the same stores
// plus a plain JS adapter, the database going away and coming back, and the rows the
// native and the Prisma-client paths leave behind, compared.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Client } = require('pg')
const iv = require('../..')
const { startPostgres, rows, statusLog } = require('../helpers/postgres')
const { prismaClient, closePrisma } = require('../helpers/prisma')
const { memoryAdapter, fakeQmp, waitFor, until } = require('./helpers')

const { createStore, PrismaAdapter, PrismaAdapterError, StateSync, EventHandler, HealthMonitor } = iv

jest.setTimeout(60000)

let pg
let tmp
const closers = []

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-state-'))
  pg = await startPostgres()
})

afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
  if (pg) await pg.stop()
  fs.rmSync(tmp, { recursive: true, force: true })
})

let sqliteN = 0
// Each path: { db (what the code under test gets), seed (a native store on the same
// database, for fixtures), url (PostgreSQL only) }.
const PATHS = {
  'native PostgreSQL': async () => {
    const url = await pg.createDatabase('native', { audit: true })
    // Prisma's own parameters are translated or ignored, never fatal.
    const db = createStore({ databaseUrl: `${url}?schema=public&connection_limit=4&pool_timeout=2&socket_timeout=5` })
    closers.push(() => db.close())
    return { db, seed: db, url }
  },
  'native SQLite': async () => {
    const db = createStore({ sqlitePath: path.join(tmp, `s${++sqliteN}`, 'state.db') })
    closers.push(() => db.close())
    return { db, seed: db }
  },
  'Prisma client over PostgreSQL': async () => {
    const url = await pg.createDatabase('prisma', { audit: true })
    const client = prismaClient(url)
    const seed = createStore({ databaseUrl: url })
    closers.push(() => closePrisma(client), () => seed.close())
    return { db: new PrismaAdapter(client), seed, url, client }
  }
}

async function seedFixture (s) {
  await s.insertRecord('FirewallRuleSet', { id: 'rs-dept', name: 'Dept', internalName: 'dept-d1', entityType: 'DEPARTMENT', entityId: 'd1', priority: 100 })
  await s.insertRecord('FirewallRuleSet', { id: 'rs-vm', name: 'VM', internalName: 'vm-m1', entityType: 'VM', entityId: 'm1' })
  await s.insertRecord('FirewallRule', { id: 'r-d1', ruleSetId: 'rs-dept', name: 'drop all', action: 'DROP', direction: 'INOUT', priority: 200 })
  await s.insertRecord('FirewallRule', {
    id: 'r-d2', ruleSetId: 'rs-dept', name: 'ssh', description: 'ssh in', action: 'ACCEPT', direction: 'IN', priority: 100,
    protocol: 'tcp', dstPortStart: 22, dstPortEnd: 22, srcIpAddr: '10.0.0.0', srcIpMask: '255.0.0.0', connectionState: { new: true, established: true }
  })
  await s.insertRecord('FirewallRule', { id: 'r-v1', ruleSetId: 'rs-vm', name: 'dns', action: 'ACCEPT', direction: 'OUT', priority: 100, protocol: 'udp', dstPortStart: 53 })
  await s.insertRecord('FirewallRule', { id: 'r-v2', ruleSetId: 'rs-vm', name: 'reject', action: 'REJECT', direction: 'INOUT', priority: 300, overridesDept: true })
  await s.insertRecord('Department', { id: 'd1', name: 'Sales', firewallRuleSetId: 'rs-dept' })
  await s.insertRecord('Machine', { id: 'm1', name: 'Desk 1', internalName: 'vm-desk1', status: 'running', os: 'ubuntu', cpuCores: 2, ramGB: 4, diskSizeGB: 20, departmentId: 'd1', firewallRuleSetId: 'rs-vm' })
  await s.insertRecord('Machine', { id: 'm2', name: 'Desk 2', internalName: 'vm-desk2', status: 'off', os: 'windows11' })
  await s.insertRecord('Machine', { id: 'm3', name: 'Desk 3', internalName: 'vm-desk3', status: 'running', os: 'fedora', gpuPciAddress: '0000:01:00.0' })
  await s.insertRecord('Machine', { id: 'm4', name: 'Desk 4', internalName: 'vm-desk4', status: 'running', os: 'fedora' })
  await s.updateMachineConfiguration('m3', { qemuPid: 3333, tapDeviceName: 'vnet-m3', qmpSocketPath: '/run/iv/m3.sock', guestAgentSocketPath: '/run/iv/m3.ga' })
}

// The Json columns of every MachineConfiguration row as stored: 'SQL NULL' or the
// JSON text (a JSON null reads as 'null'; pg would parse both to null).
async function jsonColumns (url) {
  const c = new Client({ connectionString: url })
  await c.connect()
  try {
    const cols = ['xml', 'diskPaths', 'numaConfig', 'cpuPinning']
    const r = await c.query(`SELECT "machineId", ${cols.map((k) => `COALESCE("${k}"::text, 'SQL NULL') AS "${k}"`).join(', ')} FROM "MachineConfiguration"`)
    return Object.fromEntries(r.rows.map(({ machineId, ...v }) => [machineId, v]))
  } finally {
    await c.end()
  }
}

const FULL_CONFIG = {
  qemuPid: 4242,
  tapDeviceName: 'vnet-m1',
  qmpSocketPath: '/run/iv/m1.sock',
  graphicProtocol: 'spice',
  graphicPort: 5901,
  graphicPassword: 'pw',
  graphicHost: '0.0.0.0',
  assignedGpuBus: null,
  bridge: 'br0',
  machineType: 'q35',
  cpuModel: 'max',
  diskBus: 'virtio',
  diskCacheMode: 'none',
  networkModel: 'virtio-net-pci',
  networkQueues: 2,
  memoryBalloon: true,
  diskPaths: ['/var/lib/infinivirt/disks/vm-desk1.qcow2'],
  uefiFirmware: '/usr/share/OVMF/OVMF_CODE.fd',
  hugepages: false,
  cpuPinning: { cores: [0, 1] },
  enableNumaCtlPinning: true,
  cpuPinningStrategy: 'hybrid',
  tpmSocketPath: '/run/iv/m1.tpm',
  guestAgentSocketPath: '/run/iv/m1.ga',
  infiniServiceSocketPath: '/run/iv/m1.socket',
  virtioDriversIso: '/isos/virtio.iso',
  enableAudio: true,
  enableUsbTablet: false
}

function rule (id, over) {
  return {
    id, name: '', description: null, action: 'ACCEPT', direction: 'INOUT', priority: 500, protocol: 'all',
    srcPortStart: null, srcPortEnd: null, dstPortStart: null, dstPortEnd: null, srcIpAddr: null, srcIpMask: null,
    dstIpAddr: null, dstIpMask: null, connectionState: null, overridesDept: false, ...over
  }
}

const RULE_D1 = rule('r-d1', { name: 'drop all', action: 'DROP', priority: 200 })
const RULE_D2 = rule('r-d2', { name: 'ssh', description: 'ssh in', direction: 'IN', priority: 100, protocol: 'tcp', dstPortStart: 22, dstPortEnd: 22, srcIpAddr: '10.0.0.0', srcIpMask: '255.0.0.0', connectionState: { new: true, established: true } })
const RULE_V1 = rule('r-v1', { name: 'dns', direction: 'OUT', priority: 100, protocol: 'udp', dstPortStart: 53 })
const RULE_V2 = rule('r-v2', { name: 'reject', action: 'REJECT', priority: 300, overridesDept: true })

describe.each(Object.keys(PATHS))('store contract: %s', (name) => {
  let p
  beforeAll(async () => {
    p = await PATHS[name]()
    await seedFixture(p.seed)
  })

  test('findMachine and findRunningVMs', async () => {
    expect(await p.db.findMachine('m1')).toEqual({ id: 'm1', status: 'running' })
    expect(await p.db.findMachine('nope')).toBeNull()
    const running = (await p.db.findRunningVMs()).sort((a, b) => a.id.localeCompare(b.id))
    expect(running).toEqual([
      { id: 'm1', status: 'running', MachineConfiguration: null },
      {
        id: 'm3',
        status: 'running',
        MachineConfiguration: { qemuPid: 3333, tapDeviceName: 'vnet-m3', qmpSocketPath: '/run/iv/m3.sock', guestAgentSocketPath: '/run/iv/m3.ga', infiniServiceSocketPath: null, cpuPinning: null }
      },
      { id: 'm4', status: 'running', MachineConfiguration: null }
    ])
  })

  test('updateMachineConfiguration upserts; findMachineWithConfig returns every column (§19 #2 fixed)', async () => {
    await p.db.updateMachineConfiguration('m1', { qemuPid: 1 })
    await p.db.updateMachineConfiguration('m1', FULL_CONFIG)
    const vm = await p.db.findMachineWithConfig('m1')
    expect(vm).toEqual({
      id: 'm1',
      status: 'running',
      name: 'Desk 1',
      internalName: 'vm-desk1',
      os: 'ubuntu',
      cpuCores: 2,
      ramGB: 4,
      diskSizeGB: 20,
      gpuPciAddress: null,
      version: 1,
      configuration: FULL_CONFIG,
      firewallRuleSet: { id: 'rs-vm', name: 'VM', internalName: 'vm-m1', priority: 500, isActive: true, rules: [RULE_V1, RULE_V2] },
      department: {
        id: 'd1',
        name: 'Sales',
        firewallRuleSet: { id: 'rs-dept', name: 'Dept', internalName: 'dept-d1', priority: 100, isActive: true, rules: [RULE_D1, RULE_D2] }
      }
    })
    // a created row takes the schema defaults
    await p.db.updateMachineConfiguration('m2', { diskPaths: ['/d2.qcow2'] })
    const m2 = await p.db.findMachineWithConfig('m2')
    expect(m2.configuration).toMatchObject({ bridge: 'virbr0', networkModel: 'virtio-net-pci', networkQueues: 1, machineType: 'q35', cpuModel: 'host', diskBus: 'virtio', diskCacheMode: 'writeback', memoryBalloon: false, hugepages: false, enableNumaCtlPinning: false, cpuPinningStrategy: 'basic', enableAudio: false, enableUsbTablet: true, qemuPid: null, cpuPinning: null })
    expect(m2.department).toBeNull()
    expect(m2.firewallRuleSet).toBeNull()
    // null clears a column; in a Json column that is SQL NULL, not JSON null
    await p.db.updateMachineConfiguration('m2', { diskPaths: null, bridge: null })
    expect((await p.db.findMachineWithConfig('m2')).configuration).toMatchObject({ diskPaths: null, bridge: null })
    if (p.url) expect((await jsonColumns(p.url)).m2).toMatchObject({ diskPaths: 'SQL NULL' })
    expect(await p.db.findMachineWithConfig('nope')).toBeNull()
    await expect(p.db.updateMachineConfiguration('', {})).rejects.toMatchObject({ name: 'PrismaAdapterError', code: 'INVALID_INPUT', message: 'Machine ID is required' })
    const bad = await p.db.updateMachineConfiguration('m2', { noSuchColumn: 1 }).catch((e) => e)
    expect(bad).toBeInstanceOf(PrismaAdapterError)
    expect(bad).toMatchObject({ code: 'UPDATE_FAILED', vmId: 'm2' })
    expect(bad.message).toMatch(/^Failed to update machine configuration: /)
  })

  test('status writes; clearing runtime columns', async () => {
    await p.db.updateMachineStatus('m4', 'suspended')
    expect(await p.db.findMachine('m4')).toEqual({ id: 'm4', status: 'suspended' })
    await expect(p.db.updateMachineStatus('nope', 'off')).resolves.toBeUndefined()
    await p.db.clearVolatileMachineConfiguration('m3')
    let c = (await p.db.findMachineWithConfig('m3')).configuration
    expect(c).toMatchObject({ qemuPid: null, qmpSocketPath: null, tapDeviceName: 'vnet-m3', guestAgentSocketPath: '/run/iv/m3.ga' })
    await p.db.clearMachineConfiguration('m3')
    c = (await p.db.findMachineWithConfig('m3')).configuration
    expect(c).toMatchObject({ qemuPid: null, qmpSocketPath: null, tapDeviceName: null })
    await expect(p.db.clearMachineConfiguration('nope')).resolves.toBeUndefined()
  })

  test('transitionVMStatus: success, version and status conflicts, missing machine', async () => {
    const r = await p.db.transitionVMStatus('m2', 'off', 'starting', 1)
    expect(r).toMatchObject({ success: true, newVersion: 2, vmConfig: { id: 'm2', status: 'starting', version: 2 } })
    expect(await p.db.findMachine('m2')).toEqual({ id: 'm2', status: 'starting' })
    await expect(p.db.transitionVMStatus('m2', 'starting', 'running', 1)).rejects.toMatchObject({
      code: 'VERSION_CONFLICT', vmId: 'm2', message: 'Version conflict: expected 1, found 2. Another process may have modified this VM.', details: { expectedVersion: 1, currentVersion: 2 }
    })
    await expect(p.db.transitionVMStatus('m2', 'off', 'running', 2)).rejects.toMatchObject({
      code: 'UPDATE_FAILED', message: "Status conflict: expected 'off', found 'starting'. VM may already be starting.", details: { expectedStatus: 'off', currentStatus: 'starting' }
    })
    await expect(p.db.transitionVMStatus('nope', 'off', 'running', 1)).rejects.toMatchObject({ code: 'MACHINE_NOT_FOUND', message: 'Machine not found: nope' })
    // two racing transitions from the same version: exactly one wins
    const race = await Promise.allSettled([p.db.transitionVMStatus('m2', 'starting', 'running', 2), p.db.transitionVMStatus('m2', 'starting', 'error', 2)])
    expect(race.filter((x) => x.status === 'fulfilled').length).toBe(1)
    expect(race.find((x) => x.status === 'rejected').reason.code).toMatch(/VERSION_CONFLICT|UPDATE_FAILED/)
  })

  test('firewall rules, rule set id, internal name, disk path', async () => {
    expect(await p.db.getFirewallRules('m1')).toEqual([RULE_D2, RULE_V1, RULE_D1, RULE_V2])
    expect(await p.db.getFirewallRules('m4')).toEqual([])
    await expect(p.db.getFirewallRules('nope')).rejects.toMatchObject({ code: 'MACHINE_NOT_FOUND', message: 'Machine not found: nope' })
    expect(await p.db.getFirewallRuleSetId('m1')).toBe('rs-vm')
    expect(await p.db.getFirewallRuleSetId('m4')).toBeNull()
    expect(await p.db.getFirewallRuleSetId('nope')).toBeNull()
    expect(await p.db.getMachineInternalName('m1')).toBe('vm-desk1')
    expect(await p.db.getMachineInternalName('nope')).toBeNull()
    expect(await p.db.getMachineDiskPath('m3')).toBe('/var/lib/infinivirt/disks/vm-desk3.qcow2')
    expect(await p.db.getMachineDiskPath('nope')).toBeNull()
  })
})

test('an unreachable PostgreSQL is a QUERY_FAILED PrismaAdapterError marked transient, fast and with the real cause', async () => {
  // The default acquire timeout (no pool_timeout) is several seconds; a refused
  // connection must not wait for it, nor hide behind "pool timed out".
  const db = createStore({ databaseUrl: 'postgresql://postgres@127.0.0.1:1/none?connection_limit=1' })
  expect(db.kind).toBe('postgres')
  const t = Date.now()
  const e = await db.findMachine('m1').catch((x) => x)
  expect(Date.now() - t).toBeLessThan(1500)
  expect(e).toBeInstanceOf(PrismaAdapterError)
  expect(e).toMatchObject({ code: 'QUERY_FAILED', vmId: 'm1', details: { transient: true } })
  expect(e.message).toMatch(/^Failed to find machine: /)
  expect(e.message).toMatch(/refused/)
  const t2 = Date.now()
  const u = await db.updateMachineStatus('m1', 'off').catch((x) => x)
  expect(Date.now() - t2).toBeLessThan(1500)
  expect(u).toMatchObject({ details: { transient: true } })
  expect(u.message).toMatch(/refused/)
  await db.close()
  expect(() => createStore({ databaseUrl: 'mysql://x' })).toThrow(/databaseUrl/)
  expect(() => createStore({ databaseUrl: 'postgres://x/y', sqlitePath: '/tmp/a.db' })).toThrow(/not both/)
})

// ---------------------------------------------------------------- sync on every path

const SYNC_PATHS = {
  ...PATHS,
  'plain JS adapter': async () => {
    const db = memoryAdapter({})
    const seed = {
      insertRecord: async (model, data) => {
        if (model === 'Machine') db.state.set(data.id, { status: data.status, config: null })
      },
      updateMachineConfiguration: async (id, cfg) => {
        const m = db.state.get(id)
        m.config = { qemuPid: null, tapDeviceName: null, qmpSocketPath: null, guestAgentSocketPath: null, infiniServiceSocketPath: null, ...(m.config || {}), ...cfg }
      },
      findMachineWithConfig: async (id) => ({ configuration: db.state.get(id).config })
    }
    return { db, seed }
  }
}

function sleeper () {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' })
  return child
}

describe.each(Object.keys(SYNC_PATHS))('sync classes on: %s', (name) => {
  let p
  const net = []
  const network = {
    tapManager: { detachFromBridge: async (t) => { net.push(['detachFromBridge', t]) } },
    nftables: { detachJumpRules: async (v) => { net.push(['detachJumpRules', v]) } }
  }
  beforeAll(async () => {
    p = await SYNC_PATHS[name]()
    for (const id of ['a', 'b', 'c', 'd']) {
      await p.seed.insertRecord('Machine', { id, name: id, internalName: `vm-${id}`, status: 'running', os: 'ubuntu' })
    }
  })

  test('StateSync: syncState writes the mapped status; getVMInfo sees the stored pinning', async () => {
    await p.seed.updateMachineConfiguration('a', { qemuPid: 10, tapDeviceName: 'vnet-a', cpuPinning: { cores: [1, 2] } })
    const s = new StateSync(p.db)
    expect(await s.getVMInfo('a')).toEqual({ tapDeviceName: 'vnet-a', hasCpuPinning: true })
    const q = fakeQmp('io-error')
    expect(await s.syncState('a', q)).toMatchObject({ success: true, previousStatus: 'running', newStatus: 'error' })
    expect(await s.getVMStatus('a')).toBe('error')
  })

  test('EventHandler: events in order, SHUTDOWN cleanup with the TAP read before the write', async () => {
    await p.seed.updateMachineConfiguration('b', { qemuPid: 999999, tapDeviceName: 'vnet-b', qmpSocketPath: '/nonexist/b.sock' })
    net.length = 0
    const h = new EventHandler(p.db, network)
    const q = fakeQmp()
    await h.attachToVM('b', q)
    const statuses = []
    h.on('vm:event', (e) => statuses.push(e.newStatus))
    for (const e of ['STOP', 'RESUME', 'STOP', 'RESUME']) q.emit(e, undefined, { seconds: 1, microseconds: 0 })
    await until(() => statuses.length === 4)
    expect(statuses).toEqual(['suspended', 'running', 'suspended', 'running'])
    const cleanup = waitFor(h, 'vm:cleanup')
    q.emit('SHUTDOWN', { guest: true, reason: 'guest-shutdown' }, { seconds: 2, microseconds: 0 })
    const c = await cleanup
    expect(c.failedCleanups).toBe(0)
    expect(await p.db.findMachine('b')).toEqual({ id: 'b', status: 'off' })
    expect(net).toEqual([['detachFromBridge', 'vnet-b'], ['detachJumpRules', 'b']])
    const cfg = (await p.seed.findMachineWithConfig('b')).configuration
    expect(cfg).toMatchObject({ qemuPid: null, qmpSocketPath: null, tapDeviceName: 'vnet-b' })
    await h.detachAll()
    if (p.url) expect(await statusLog(p.url, 'b')).toEqual(['running', 'suspended', 'running', 'suspended', 'running', 'off'])
  })

  test('HealthMonitor: sweep finds the dead VM; a watched VM killed is handled at once, never demoting error', async () => {
    await p.seed.updateMachineConfiguration('c', { qemuPid: 999999, tapDeviceName: 'vnet-c', qmpSocketPath: path.join(tmp, 'c.sock') })
    fs.writeFileSync(path.join(tmp, 'c.sock'), '')
    net.length = 0
    const hm = new HealthMonitor(p.db, { ...network, pidfileDir: tmp })
    const crash = waitFor(hm, 'crash')
    const s = await hm.checkAllVMs()
    expect(s.crashed).toBe(1)
    expect((await crash).vmId).toBe('c')
    expect(await p.db.findMachine('c')).toEqual({ id: 'c', status: 'off' })
    expect(fs.existsSync(path.join(tmp, 'c.sock'))).toBe(false)
    expect(net).toEqual([['detachFromBridge', 'vnet-c'], ['detachJumpRules', 'c']])

    // pushed detection: a real process, killed
    const child = sleeper()
    await p.seed.updateMachineConfiguration('d', { qemuPid: child.pid, tapDeviceName: 'vnet-d' })
    hm.watchVM('d', child.pid)
    expect(hm.getWatchedVMs()).toEqual(['d'])
    const pushed = waitFor(hm, 'crash')
    const t = process.hrtime.bigint()
    child.kill('SIGKILL')
    const e = await pushed
    const ms = Number(process.hrtime.bigint() - t) / 1e6
    expect(ms).toBeLessThan(100)
    expect(e).toMatchObject({ vmId: 'd', pid: child.pid, lastKnownStatus: 'running', cleanupPerformed: true, reason: { code: 'killed' } })
    expect(await p.db.findMachine('d')).toEqual({ id: 'd', status: 'off' })

    // a deliberately set error is never demoted by a crash
    const other = sleeper()
    await p.db.updateMachineStatus('d', 'error')
    hm.watchVM('d', other.pid)
    const again = waitFor(hm, 'crash')
    other.kill('SIGKILL')
    expect(await again).toMatchObject({ vmId: 'd', lastKnownStatus: 'error' })
    expect(await p.db.findMachine('d')).toEqual({ id: 'd', status: 'error' })
    expect(hm.unwatchVM('d')).toBe(false)
  })
})

// ---------------------------------------------------------------- faults

describe.each(['native PostgreSQL', 'Prisma client over PostgreSQL'])('the database goes away and comes back: %s', (name) => {
  test('no transition is lost; queued writes land in order', async () => {
    if (!pg.canRestart) return
    const p = await PATHS[name]()
    await p.seed.insertRecord('Machine', { id: 'f1', name: 'f', internalName: 'vm-f', status: 'running', os: 'ubuntu' })
    const h = new EventHandler(p.db)
    const q = fakeQmp()
    await h.attachToVM('f1', q)
    const seen = []
    h.on('vm:event', (e) => seen.push(e.newStatus))
    q.emit('STOP', undefined, { seconds: 1, microseconds: 0 })
    await until(() => seen.length === 1)
    await pg.stopServer()
    for (const e of ['RESUME', 'STOP', 'RESUME', 'STOP']) {
      q.emit(e, undefined, { seconds: 2, microseconds: 0 })
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    await until(() => seen.length === 5, 20000)
    expect(h.getPendingWrites()).toBeGreaterThan(0)
    await new Promise((resolve) => setTimeout(resolve, 1500))
    await pg.startServer()
    await until(() => h.getPendingWrites() === 0, 20000)
    expect(await statusLog(p.url, 'f1')).toEqual(['running', 'suspended', 'running', 'suspended', 'running', 'suspended'])
    // and HealthMonitor, while the database is away, cleans nothing up
    await pg.stopServer()
    const hm = new HealthMonitor(p.db)
    const err = waitFor(hm, 'error', 15000)
    const s = await hm.checkAllVMs()
    expect(s.totalChecked).toBe(0)
    expect((await err).message).toMatch(/Failed to find running VMs/)
    await pg.startServer()
    await h.detachAll()
  })
})

test('the native and the Prisma-client paths leave the same rows', async () => {
  const a = await PATHS['native PostgreSQL']()
  const b = await PATHS['Prisma client over PostgreSQL']()
  for (const p of [a, b]) {
    await seedFixture(p.seed)
    await p.db.updateMachineConfiguration('m1', FULL_CONFIG)
    await p.db.updateMachineConfiguration('m2', { qemuPid: 77, diskPaths: [] })
    await p.db.updateMachineConfiguration('m1', { cpuPinning: null }) // update: clears the pinning
    await p.db.updateMachineConfiguration('m4', { qemuPid: 44, cpuPinning: null, diskPaths: null }) // create
    await p.db.updateMachineStatus('m1', 'suspended')
    await p.db.clearVolatileMachineConfiguration('m1')
    await p.db.transitionVMStatus('m2', 'off', 'starting', 1)
    await p.db.clearMachineConfiguration('m3')
    const h = new EventHandler(p.db, { nftables: { detachJumpRules: async () => {} } }) // not the host's ruleset
    const q = fakeQmp()
    await h.attachToVM('m4', q)
    const done = waitFor(h, 'vm:cleanup')
    q.emit('SHUTDOWN', { guest: true, reason: 'guest-shutdown' }, { seconds: 1, microseconds: 0 })
    await done
  }
  for (const table of ['Machine', 'Department', 'FirewallRuleSet', 'FirewallRule']) {
    expect([table, await rows(b.url, table)]).toEqual([table, await rows(a.url, table)])
  }
  const cfg = async (url) => (await rows(url, 'MachineConfiguration', { omit: ['id', 'createdAt', 'updatedAt'] })).sort((x, y) => x.machineId.localeCompare(y.machineId))
  expect(await cfg(b.url)).toEqual(await cfg(a.url))
  expect(await jsonColumns(b.url)).toEqual(await jsonColumns(a.url))
  expect((await jsonColumns(b.url)).m1).toMatchObject({ diskPaths: '["/var/lib/infinivirt/disks/vm-desk1.qcow2"]', cpuPinning: 'SQL NULL' })
  // both paths stamp updatedAt in UTC, as Prisma Client does
  const stamp = await rows(a.url, 'Machine', { omit: [] })
  expect(Math.abs(new Date(stamp[0].updatedAt).getTime() - Date.now())).toBeLessThan(24 * 3600 * 1000)
})
