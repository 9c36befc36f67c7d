'use strict'
// The VM lifecycle on PostgreSQL (API.md §5.5–§5.8, §6, §11): a throwaway server
// started by the harness (helpers/postgres.js, or DATABASE_URL), the backend's schema,
// and the two ways the backend can hand it to Infinivirt: the native store
// (`databaseUrl`, sqlx) and a Prisma client (`prismaClient`: the real Prisma Client 6.16
// over @prisma/adapter-pg of helpers/prisma.js, wrapped in PrismaAdapter). The rows are
// read back with plain SQL after every step and compared with the host: /proc, the
// TAP and its bridge, the nft chain. Real bridge/TAP/nft in the private namespace of
// scripts/test-net.sh, real QEMU (TCG) booting the test guest.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { Client } = require('pg')

const { Infinivirt, BridgeManager, LifecycleError, createStore, generateVMChainName } = require('../..')
const netns = require('../helpers/netns')
const { startPostgres, statusLog } = require('../helpers/postgres')
const { prismaClient, closePrisma } = require('../helpers/prisma')
const { guestArgs, ensureGuest } = require('../helpers/guest')
const env = require('../helpers/lifecycle-env')

jest.setTimeout(120000)

const bridges = new BridgeManager()
let pg
let persistDir
let dir
let links
let closers
let cleanups

// Machine + MachineConfiguration as PostgreSQL holds them.
async function pgRow (url, vmId) {
  const c = new Client({ connectionString: url })
  await c.connect()
  try {
    const r = await c.query(
      `SELECT m."status", m."version", c."qemuPid", c."qmpSocketPath", c."tapDeviceName", c."bridge", c."diskPaths",
              c."graphicProtocol", c."graphicPort", c."graphicHost", c."graphicPassword", c."machineId",
              COALESCE(c."cpuPinning"::text, 'SQL NULL') AS "cpuPinningStored"
         FROM "Machine" m LEFT JOIN "MachineConfiguration" c ON c."machineId" = m."id" WHERE m."id" = $1`, [vmId])
    return r.rows[0] || null
  } finally {
    await c.end()
  }
}

async function configurationRows (url, vmId) {
  const c = new Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query('SELECT count(*)::int AS n FROM "MachineConfiguration" WHERE "machineId" = $1', [vmId])).rows[0].n
  } finally {
    await c.end()
  }
}

function dirs () {
  return {
    diskDir: path.join(dir, 'disks'),
    qmpSocketDir: path.join(dir, 'qmp'),
    pidfileDir: path.join(dir, 'pids'),
    firewallPersistenceDir: persistDir,
    extraArgs: guestArgs({ mode: 'wait' })
  }
}

// The two paths: each gives a fresh database (with the status audit log) and a
// manager over it.
const PATHS = {
  'native store (databaseUrl)': async (url) => new Infinivirt({ databaseUrl: url, ...dirs() }),
  'Prisma client (prismaClient)': async (url) => {
    const client = prismaClient(url)
    closers.push(() => closePrisma(client))
    return new Infinivirt({ prismaClient: client, ...dirs() })
  }
}

async function setup (kind, cidr) {
  const url = await pg.createDatabase(kind.startsWith('native') ? 'lcnative' : 'lcprisma', { audit: true })
  const seed = createStore({ databaseUrl: url })
  closers.push(() => seed.close())
  const m = await PATHS[kind](url)
  await m.initialize()
  cleanups.push(async () => m.shutdown())
  const br = netns.uniqueName('ivbr')
  links.push(br)
  await bridges.create(br)
  env.addBridgeAddress(br, cidr)
  return { url, seed, m, br }
}

async function seedMachine (seed, m, vmId) {
  await seed.insertRecord('Machine', {
    id: vmId, name: `Desk ${vmId}`, internalName: `vm-${vmId}`, status: 'off', os: 'ubuntu', cpuCores: 1, ramGB: 1, diskSizeGB: 1
  })
  cleanups.unshift(async () => {
    try { await m.destroyVM(vmId) } catch {}
    netns.removeLink(env.tapNameOf(vmId))
    try { execFileSync('nft', ['delete', 'chain', 'bridge', 'infinivirt', generateVMChainName(vmId)], { stdio: 'ignore' }) } catch {}
  })
}

function host (vmId) {
  const pidfile = path.join(dir, 'pids', `vm-${vmId}.pid`)
  const link = netns.linkInfo(env.tapNameOf(vmId))
  return {
    qemus: env.qemuInstances(pidfile),
    tapExists: link !== null,
    tapMaster: link ? (link.master ?? null) : null,
    chain: env.nftChainExists(generateVMChainName(vmId)),
    dispatched: env.tapDispatched(env.tapNameOf(vmId))
  }
}

beforeAll(async () => {
  netns.assertPrivateNetns()
  ensureGuest()
  persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-lcpg-nft-'))
  pg = await startPostgres()
})

afterAll(async () => {
  if (pg) await pg.stop()
  await env.sleep(500)
  fs.rmSync(persistDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
})

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-lcpg-'))
  links = []
  closers = []
  cleanups = []
})

afterEach(async () => {
  for (const c of cleanups) await c().catch(() => {})
  env.killAllUsing(dir)
  for (const c of closers.reverse()) await c().catch(() => {})
  while (links.length) netns.removeLink(links.pop())
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
})

describe.each(Object.keys(PATHS))('lifecycle on PostgreSQL through the %s', (kind) => {
  test('create → stop → start → destroy: the rows in PostgreSQL follow every step and match the host', async () => {
    const cidr = kind.startsWith('native') ? '10.216.0.1/24' : '10.216.1.1/24'
    const { url, seed, m, br } = await setup(kind, cidr)
    const vmId = env.newVmId('q')
    await seedMachine(seed, m, vmId)
    const tap = env.tapNameOf(vmId)
    const before = await pgRow(url, vmId)
    expect(before).toMatchObject({ status: 'off', machineId: null })

    // create
    const r = await m.createVM(env.createConfig(vmId, br, { displayPassword: 'pw-pg' }))
    let row = await pgRow(url, vmId)
    expect(row).toMatchObject({
      status: 'running',
      qemuPid: r.pid,
      qmpSocketPath: r.qmpSocketPath,
      tapDeviceName: tap,
      bridge: br,
      diskPaths: r.diskPaths,
      graphicProtocol: 'spice',
      graphicPort: r.displayPort,
      graphicHost: '127.0.0.1',
      graphicPassword: 'pw-pg',
      cpuPinningStored: 'SQL NULL' // no pinning: NULL on both paths, not a JSON null
    })
    expect(await configurationRows(url, vmId)).toBe(1)
    expect(host(vmId)).toEqual({ qemus: [r.pid], tapExists: true, tapMaster: br, chain: true, dispatched: true })
    expect(fs.readFileSync(r.pidFilePath, 'utf8').trim()).toBe(String(r.pid))
    // What the adapter reads back is what PostgreSQL holds.
    const viaAdapter = await m.getPrismaAdapter().findMachineWithConfig(vmId)
    expect(viaAdapter.status).toBe('running')
    expect(viaAdapter.configuration).toMatchObject({ qemuPid: r.pid, tapDeviceName: tap, qmpSocketPath: r.qmpSocketPath, diskPaths: r.diskPaths })
    expect(await m.getVMStatus(vmId)).toMatchObject({ status: 'running', pid: r.pid, processAlive: true, consistent: true, qmpStatus: 'running' })

    // stop
    expect(await m.stopVM(vmId, { graceful: false })).toMatchObject({ success: true, forced: true })
    row = await pgRow(url, vmId)
    expect(row).toMatchObject({ status: 'off', qemuPid: null, qmpSocketPath: null, tapDeviceName: tap, bridge: br, diskPaths: r.diskPaths })
    expect(host(vmId)).toEqual({ qemus: [], tapExists: true, tapMaster: null, chain: true, dispatched: false })
    expect(env.alive(r.pid)).toBe(false)
    expect(fs.existsSync(r.pidFilePath)).toBe(false)
    expect(fs.existsSync(r.qmpSocketPath)).toBe(false)
    const versionStopped = row.version

    // start (off → starting → running through transitionVMStatus: the version moves)
    expect(await m.startVM(vmId)).toMatchObject({ success: true, message: `VM ${vmId} started successfully` })
    row = await pgRow(url, vmId)
    expect(row).toMatchObject({ status: 'running', qmpSocketPath: r.qmpSocketPath, tapDeviceName: tap, bridge: br, diskPaths: r.diskPaths })
    expect(row.version).toBeGreaterThan(versionStopped)
    expect(Number.isInteger(row.qemuPid)).toBe(true)
    expect(row.qemuPid).not.toBe(r.pid)
    expect(host(vmId)).toEqual({ qemus: [row.qemuPid], tapExists: true, tapMaster: br, chain: true, dispatched: true })
    expect(await m.getVMStatus(vmId)).toMatchObject({ status: 'running', pid: row.qemuPid, processAlive: true, consistent: true })

    // destroy (running: forced stop first)
    const pid2 = row.qemuPid
    expect(await m.destroyVM(vmId)).toMatchObject({ success: true, message: `VM ${vmId} resources destroyed successfully` })
    row = await pgRow(url, vmId)
    expect(row).toMatchObject({ status: 'off', qemuPid: null, qmpSocketPath: null, tapDeviceName: null, diskPaths: r.diskPaths })
    expect(host(vmId)).toEqual({ qemus: [], tapExists: false, tapMaster: null, chain: false, dispatched: false })
    expect(env.alive(pid2)).toBe(false)
    expect(env.processesUsing(dir)).toEqual([])
    expect(env.filesIn(path.join(dir, 'qmp'))).toEqual([])
    expect(env.filesIn(path.join(dir, 'pids'))).toEqual([])
    expect(env.filesIn(path.join(dir, 'disks'))).toEqual([`vm-${vmId}.qcow2`])

    // Every status the row went through, in order (trigger on "Machine").
    expect(await statusLog(url, vmId)).toEqual(['off', 'starting', 'running', 'off', 'starting', 'running', 'off'])
  })
})

describe('two managers on one PostgreSQL database (native store and Prisma client)', () => {
  test('both start the same stopped VM at once: one QEMU, the loser gets a state error or "already running"', async () => {
    const { url, seed, m: native, br } = await setup('native store (databaseUrl)', '10.216.2.1/24')
    const prisma = await PATHS['Prisma client (prismaClient)'](url)
    await prisma.initialize()
    cleanups.push(async () => prisma.shutdown())
    const vmId = env.newVmId('x')
    await seedMachine(seed, native, vmId)
    const r = await native.createVM(env.createConfig(vmId, br))
    await native.stopVM(vmId, { graceful: false })
    expect((await pgRow(url, vmId)).status).toBe('off')

    const pidfile = path.join(dir, 'pids', `vm-${vmId}.pid`)
    let maxQemus = 0
    let watching = true
    const watcher = (async () => {
      while (watching) {
        maxQemus = Math.max(maxQemus, env.qemuInstances(pidfile).length)
        await env.sleep(25)
      }
    })()
    const results = await Promise.allSettled([native.startVM(vmId), prisma.startVM(vmId)])
    watching = false
    await watcher

    console.log(`concurrent starts: ${results.map((x, i) => `${i ? 'prisma' : 'native'}: ${x.status === 'fulfilled' ? x.value.message : `${x.reason.code} ${x.reason.message}`}`).join('; ')}`)
    const won = results.filter((x) => x.status === 'fulfilled' && x.value.message === `VM ${vmId} started successfully`)
    const others = results.filter((x) => !won.includes(x))
    expect(won).toHaveLength(1)
    for (const o of others) {
      if (o.status === 'fulfilled') {
        expect(o.value).toMatchObject({ success: true, message: `VM ${vmId} is already running` })
      } else {
        expect(o.reason).toBeInstanceOf(LifecycleError)
        expect(['CONCURRENT_MODIFICATION', 'INVALID_STATE']).toContain(o.reason.code)
        expect(o.reason.vmId).toBe(vmId)
      }
    }
    expect(maxQemus).toBe(1)
    const row = await pgRow(url, vmId)
    expect(row).toMatchObject({ status: 'running', tapDeviceName: r.tapDevice, qmpSocketPath: r.qmpSocketPath })
    expect(host(vmId)).toEqual({ qemus: [row.qemuPid], tapExists: true, tapMaster: br, chain: true, dispatched: true })
    // Whichever manager won, the other one sees the VM consistently through its own store.
    for (const mgr of [native, prisma]) {
      expect(await mgr.getVMStatus(vmId)).toMatchObject({ status: 'running', pid: row.qemuPid, processAlive: true, consistent: true })
    }
    const log = await statusLog(url, vmId)
    expect(log.slice(-2)).toEqual(['starting', 'running'])
    expect(log.filter((s) => s === 'starting')).toHaveLength(2) // the create's and one start's

    expect(await native.destroyVM(vmId)).toMatchObject({ success: true })
    expect(host(vmId)).toEqual({ qemus: [], tapExists: false, tapMaster: null, chain: false, dispatched: false })
    expect(await pgRow(url, vmId)).toMatchObject({ status: 'off', qemuPid: null, qmpSocketPath: null, tapDeviceName: null })
  })
})
