'use strict'
// Crash-safe lifecycle (issue 12; DESIGN rules 3, 8, 9): faults injected on purpose —
// two manager processes racing one VM, a manager SIGKILLed mid-operation, PostgreSQL
// stopped while a QEMU dies, a wedged (SIGSTOPped) QEMU, a stranger QEMU on a VM's
// pidfile path. Managers run in child processes (helpers/manager-child.js) so they
// can be killed by PID; everything is real: QEMU (TCG) booting the test guest,
// SQLite / a throwaway PostgreSQL, bridge, TAP and nft inside the private namespace of
// scripts/test-net.sh. Every scenario ends with the host-versus-store check of
// helpers/fault-env.js (expectHostMatchesStore): QEMU processes, TAP + bridge +
// carrier, nft chain + dispatch elements, QMP socket, pidfile, disks and the row.
//
//   bash scripts/test-net.sh lifecycle-faults        (or npm run test:faults)
//   INFINIVIRT_FAULT_SWEEP=full bash scripts/test-net.sh lifecycle-faults   # more kill points

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const crypto = require('node:crypto')
const { execFileSync } = require('node:child_process')
const { Client } = require('pg')

const { createStore, BridgeManager } = require('../..')
const netns = require('../helpers/netns')
const { startPostgres, statusLog } = require('../helpers/postgres')
const { guestArgs, ensureGuest } = require('../helpers/guest')
const env = require('../helpers/lifecycle-env')
const fe = require('../helpers/fault-env')

const FULL = process.env.INFINIVIRT_FAULT_SWEEP === 'full'
jest.setTimeout(FULL ? 900000 : 240000)

const CONFLICT_CODES = ['CONCURRENT_MODIFICATION', 'INVALID_STATE']
const STOP_FAST = { graceful: false }

let persistDir
let dir
let links
let vmIds
let strangers
let closers
let sqlite // the test's own handle on the SQLite store (seeding, reading rows)

beforeAll(() => {
  netns.assertPrivateNetns()
  ensureGuest()
  persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-faults-nft-'))
})

afterAll(async () => {
  await env.sleep(300)
  fs.rmSync(persistDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
})

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-faults-'))
  links = []
  vmIds = []
  strangers = []
  closers = []
  sqlite = createStore({ sqlitePath: path.join(dir, 'state.db') })
  closers.push(() => sqlite.close())
})

afterEach(async () => {
  // Only what this test started, by PID: the manager children, the stranger QEMUs,
  // then every process whose command line names this test's temp dir (its QEMUs).
  await fe.killAllChildren()
  for (const pid of strangers) {
    try { process.kill(pid, 'SIGKILL') } catch {}
  }
  env.killAllUsing(dir)
  await env.sleep(200)
  for (const id of vmIds) fe.removeVmNetwork(id)
  while (links.length) netns.removeLink(links.pop())
  for (const c of closers.reverse()) await Promise.resolve().then(c).catch(() => {})
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
})

function dirs () {
  return {
    diskDir: path.join(dir, 'disks'),
    qmpSocketDir: path.join(dir, 'qmp'),
    pidfileDir: path.join(dir, 'pids'),
    firewallPersistenceDir: persistDir
  }
}

const sqliteStore = () => ({ sqlitePath: path.join(dir, 'state.db') })

// A manager child on `store` (default: this test's SQLite file) with the test guest.
function child (job, label) {
  return new fe.ManagerChild({ store: sqliteStore(), dirs: dirs(), extraArgs: guestArgs({ mode: 'wait' }), ...job }, { label })
}

// A manager child that stays alive for commands, once initialize() has resolved.
async function liveManager (label, job = {}) {
  const c = child({ op: 'initialize-only', stay: true, ...job }, label)
  await c.waitFor('ready', 30000)
  return c
}

async function newBridge (cidr) {
  const br = netns.uniqueName('ivbr')
  links.push(br)
  await new BridgeManager().create(br)
  env.addBridgeAddress(br, cidr)
  return br
}

async function seed (store, tag) {
  const vmId = env.newVmId(tag)
  vmIds.push(vmId)
  await store.insertRecord('Machine', {
    id: vmId, name: `Desk ${vmId}`, internalName: `vm-${vmId}`, status: 'off', os: 'ubuntu', cpuCores: 1, ramGB: 1, diskSizeGB: 1
  })
  return vmId
}

const sqliteRow = (vmId) => () => sqlite.findMachineWithConfig(vmId)

function check (vmId, bridge, allowed, extra = {}) {
  return fe.expectHostMatchesStore(vmId, { dirs: dirs(), bridge, readRow: sqliteRow(vmId), allowed, ...extra })
}

// Runs `fn` for every case, collecting failures instead of stopping at the first, so
// one run shows every kill point's outcome; then fails with all of them listed.
async function sweep (title, cases, fn) {
  const outcomes = []
  for (const c of cases) {
    const o = { case: c }
    try {
      Object.assign(o, await fn(c, o))
    } catch (e) {
      o.error = e.message
    }
    outcomes.push(o)
  }
  console.log(`${title}:\n${outcomes.map((o) => `  ${JSON.stringify(o.case)}: ${o.error ? `FAIL ${o.error.split('\n')[0]}` : `ok ${JSON.stringify(Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'case')))}`}`).join('\n')}`)
  const failed = outcomes.filter((o) => o.error)
  if (failed.length) {
    throw new Error(`${title}: ${failed.length} of ${outcomes.length} cases failed:\n${failed.map((o) => `--- ${JSON.stringify(o.case)}:\n${o.error}`).join('\n')}`)
  }
  return outcomes
}

// Releases both children at once and samples the number of QEMUs of the VM meanwhile.
async function race (a, b, vmId) {
  await Promise.all([a.waitFor('ready', 30000), b.waitFor('ready', 30000)])
  const pidfile = fe.vmPaths(dirs(), vmId).pidfile
  let maxQemus = 0
  let watching = true
  const watcher = (async () => {
    while (watching) {
      maxQemus = Math.max(maxQemus, fe.qemusOf(pidfile).length)
      await env.sleep(20)
    }
  })()
  a.go()
  b.go()
  let done
  try {
    done = await Promise.all([a.waitFor('op-done', 90000), b.waitFor('op-done', 90000)])
  } finally {
    watching = false
    await watcher
  }
  return { results: done, maxQemus }
}

// The disks of a running QEMU: open in it (not deleted), and `qemu-img check -U` clean.
function expectDisksIntact (vmId, pid) {
  const disks = fe.vmPaths(dirs(), vmId).disks()
  if (disks.length === 0) throw new Error(`no disk image of VM ${vmId} in ${dirs().diskDir}`)
  const open = fe.openFiles(pid) || []
  // QEMU's own anonymous memory (memfd:…) is always "(deleted)"; only files are checked.
  const deleted = open.filter((f) => f.endsWith('(deleted)') && !f.startsWith('/memfd:'))
  if (deleted.length) throw new Error(`QEMU ${pid} holds deleted files open: ${JSON.stringify(deleted)} (a racing call removed the disk it runs on)`)
  for (const d of disks) {
    if (!open.includes(d)) throw new Error(`QEMU ${pid} does not have its disk ${d} open (open: ${JSON.stringify(open.filter((f) => f.startsWith('/')))})`)
    const c = fe.qemuImgCheck(d)
    if (!c.ok) throw new Error(`qemu-img check -U ${d} failed: ${c.output}`)
  }
}

// ---------------------------------------------------------------------------
// 1. Two processes racing one VM
// ---------------------------------------------------------------------------

describe('1. two manager processes race one VM (rule 4, rule 9: locks hold across processes)', () => {
  const rounds = FULL ? 6 : 3

  test(`createVM of the same row from two processes, ${rounds} rounds; then startVM of a stopped VM, ${rounds} rounds`, async () => {
    const br = await newBridge('10.217.1.1/24')

    const create = await sweep('racing createVM', [...Array(rounds).keys()].map((i) => ({ round: i + 1 })), async () => {
      const vmId = await seed(sqlite, 'r')
      const config = env.createConfig(vmId, br)
      const a = child({ op: 'create', vmId, config, waitForGo: true, stay: true }, 'racer A')
      const b = child({ op: 'create', vmId, config, waitForGo: true, stay: true }, 'racer B')
      try {
        const { results, maxQemus } = await race(a, b, vmId)
        const summary = results.map((r) => (r.ok ? `resolved pid ${r.result.pid}` : `rejected ${r.code}: ${r.message}`))
        const won = results.filter((r) => r.ok)
        if (won.length !== 1) throw new Error(`expected exactly one createVM to resolve, got ${won.length}: ${JSON.stringify(summary)}`)
        const lost = results.find((r) => !r.ok)
        if (!CONFLICT_CODES.includes(lost.code)) throw new Error(`the losing createVM must reject with ${CONFLICT_CODES.join(' or ')}, got ${lost.code}: ${lost.message}`)
        if (maxQemus !== 1) throw new Error(`expected at most one QEMU during the race, saw ${maxQemus}`)
        const pid = won[0].result.pid
        expectDisksIntact(vmId, pid)
        await check(vmId, br, ['running'])
        const winner = results[0].ok ? a : b
        await winner.call('destroy', vmId)
        return { summary }
      } finally {
        await Promise.all([a.close(), b.close()])
      }
    }).catch((e) => e)

    const start = await sweep('racing startVM', [...Array(rounds).keys()].map((i) => ({ round: i + 1 })), async () => {
      const vmId = await seed(sqlite, 's')
      const setup = await liveManager('setup')
      await setup.call('create', vmId, env.createConfig(vmId, br))
      await setup.call('stop', vmId, STOP_FAST)
      await setup.close()
      await check(vmId, br, ['off'])
      const a = child({ op: 'start', vmId, waitForGo: true, stay: true }, 'racer A')
      const b = child({ op: 'start', vmId, waitForGo: true, stay: true }, 'racer B')
      try {
        const { results, maxQemus } = await race(a, b, vmId)
        const summary = results.map((r) => (r.ok ? `resolved: ${r.result.message}` : `rejected ${r.code}: ${r.message}`))
        const started = results.filter((r) => r.ok && r.result.message === `VM ${vmId} started successfully`)
        if (started.length !== 1) throw new Error(`expected exactly one startVM to start the VM, got ${started.length}: ${JSON.stringify(summary)}`)
        const other = results.find((r) => !started.includes(r))
        // The loser: a state error, or (API §5.6) the spec'd "already running" answer
        // when it read the row after the winner finished.
        const otherOk = other.ok
          ? other.result.message === `VM ${vmId} is already running`
          : CONFLICT_CODES.includes(other.code)
        if (!otherOk) throw new Error(`the losing startVM must reject with ${CONFLICT_CODES.join(' or ')} (or answer "already running"), got ${JSON.stringify(summary[results.indexOf(other)])}`)
        if (maxQemus !== 1) throw new Error(`expected at most one QEMU during the race, saw ${maxQemus}`)
        const row = await sqlite.findMachineWithConfig(vmId)
        expectDisksIntact(vmId, row.configuration.qemuPid)
        await check(vmId, br, ['running'])
        await a.call('destroy', vmId)
        return { summary }
      } finally {
        await Promise.all([a.close(), b.close()])
      }
    }).catch((e) => e)

    const errors = [create, start].filter((x) => x instanceof Error)
    if (errors.length) throw new Error(errors.map((e) => e.message).join('\n\n'))
  })
})

// ---------------------------------------------------------------------------
// 2. A manager SIGKILLed mid-operation, then a new one initialize()s
// ---------------------------------------------------------------------------

describe('2. a manager SIGKILLed mid-operation; a new manager finishes or undoes it (rules 8, 9)', () => {
  // Kills the child `delay` ms after its op-start line; returns whether op-done was
  // seen first (then the kill hit nothing) and the elapsed time.
  async function killAfter (c, delay) {
    const start = await c.waitFor('op-start', 30000)
    await env.sleep(Math.max(0, delay - (Date.now() - start.received)))
    const done = c.events.find((e) => e.event === 'op-done')
    c.kill('SIGKILL')
    await c.exited
    return { completedBeforeKill: Boolean(done), opResult: done ? (done.ok ? 'ok' : done.code) : null }
  }

  // What the operation left, checked after a new manager initialize()d; then the VM
  // must work again without manual cleanup: `recover(state, m)` drives it back.
  async function afterRestart (vmId, br, allowed, recover) {
    const m = await liveManager('restarted manager')
    try {
      const state = await check(vmId, br, allowed, { context: 'right after the restart: ' })
      await recover(state, m)
      return state
    } finally {
      await m.close()
    }
  }

  async function runningVm (br, tag, stop) {
    const vmId = await seed(sqlite, tag)
    const setup = await liveManager('setup')
    await setup.call('create', vmId, env.createConfig(vmId, br))
    if (stop) await setup.call('stop', vmId, STOP_FAST)
    await setup.close()
    await check(vmId, br, [stop ? 'off' : 'running'], { context: 'setup: ' })
    return vmId
  }

  // Every sweep must kill at least one operation before it finished, else it proved nothing.
  function expectSomeKilledMidway (outcomes, what) {
    const midway = outcomes.filter((o) => !o.completedBeforeKill)
    if (midway.length === 0) throw new Error(`every ${what} finished before its kill: the kill points are too late for this machine (${JSON.stringify(outcomes.map((o) => o.case))})`)
  }

  test('createVM killed at several points: running, or undone with no TAP/chain/disk; then create or stop works', async () => {
    const br = await newBridge('10.217.2.1/24')
    const delays = FULL ? [0, 5, 10, 20, 30, 40, 60, 80, 100, 150, 200, 300, 500] : [5, 20, 40, 80, 150]
    const outcomes = await sweep('createVM killed', delays.map((d) => ({ killAfterMs: d })), async ({ killAfterMs }) => {
      const vmId = await seed(sqlite, 'c')
      const config = env.createConfig(vmId, br)
      const a = child({ op: 'create', vmId, config }, 'creator')
      const k = await killAfter(a, killAfterMs)
      const state = await afterRestart(vmId, br, ['running', 'undone'], async (s, m) => {
        if (s === 'undone') {
          await m.call('create', vmId, config)
          await check(vmId, br, ['running'], { context: 'createVM after the undo: ' })
        }
        await m.call('stop', vmId, STOP_FAST)
        await check(vmId, br, ['off'], { context: 'stopVM after the restart: ' })
      })
      return { ...k, state }
    })
    expectSomeKilledMidway(outcomes, 'createVM')
  })

  test('startVM, stopVM and destroyVM killed at a few points each: running or off/destroyed; then the VM works again', async () => {
    const br = await newBridge('10.217.3.1/24')
    const few = FULL ? [5, 20, 50, 100, 200, 400] : [10, 60, 150]
    const results = []

    results.push(await sweep('startVM killed', few.map((d) => ({ killAfterMs: d })), async ({ killAfterMs }) => {
      const vmId = await runningVm(br, 'b', true)
      const k = await killAfter(child({ op: 'start', vmId }, 'starter'), killAfterMs)
      const state = await afterRestart(vmId, br, ['running', 'off'], async (s, m) => {
        if (s === 'off') {
          await m.call('start', vmId)
          await check(vmId, br, ['running'], { context: 'startVM after the restart: ' })
        }
        await m.call('stop', vmId, STOP_FAST)
        await check(vmId, br, ['off'], { context: 'stopVM after the restart: ' })
      })
      return { ...k, state }
    }).catch((e) => e))

    // A graceful stop (ACPI; the guest powers off) is the longer window.
    const stopDelays = FULL ? [5, 20, 50, 100, 200, 400, 800] : [10, 100, 400]
    results.push(await sweep('stopVM killed', stopDelays.map((d) => ({ killAfterMs: d })), async ({ killAfterMs }) => {
      const vmId = await runningVm(br, 'p', false)
      const k = await killAfter(child({ op: 'stop', vmId, config: { graceful: true, timeout: 10000 } }, 'stopper'), killAfterMs)
      const state = await afterRestart(vmId, br, ['running', 'off'], async (s, m) => {
        if (s === 'running') await m.call('stop', vmId, STOP_FAST)
        else await m.call('start', vmId).then(() => m.call('stop', vmId, STOP_FAST))
        await check(vmId, br, ['off'], { context: 'start/stop after the restart: ' })
      })
      return { ...k, state }
    }).catch((e) => e))

    const destroyDelays = FULL ? [5, 20, 50, 100, 200] : [10, 80]
    results.push(await sweep('destroyVM killed', destroyDelays.map((d) => ({ killAfterMs: d })), async ({ killAfterMs }) => {
      const vmId = await runningVm(br, 'x', false)
      const k = await killAfter(child({ op: 'destroy', vmId }, 'destroyer'), killAfterMs)
      const state = await afterRestart(vmId, br, ['running', 'off', 'destroyed'], async (s, m) => {
        await m.call('destroy', vmId)
        await check(vmId, br, ['destroyed'], { context: 'destroyVM after the restart: ' })
      })
      return { ...k, state }
    }).catch((e) => e))

    const errors = results.filter((x) => x instanceof Error)
    if (errors.length) throw new Error(errors.map((e) => e.message).join('\n\n'))
    const outcomes = results.flat()
    expectSomeKilledMidway(outcomes, 'start/stop/destroy')
  })
})

// ---------------------------------------------------------------------------
// 3. PostgreSQL outage
// ---------------------------------------------------------------------------

const pgTest = process.env.DATABASE_URL ? test.skip : test

describe('3. PostgreSQL down while a QEMU dies (rule 9: host cleanup never waits for the database)', () => {
  let pg
  beforeAll(async () => {
    if (!process.env.DATABASE_URL) pg = await startPostgres()
  })
  afterAll(async () => {
    if (pg) await pg.stop()
  })

  async function pgRow (url, vmId) {
    const c = new Client({ connectionString: url })
    await c.connect()
    try {
      const r = await c.query(
        `SELECT m."status", c."qemuPid", c."tapDeviceName", c."qmpSocketPath"
           FROM "Machine" m LEFT JOIN "MachineConfiguration" c ON c."machineId" = m."id" WHERE m."id" = $1`, [vmId])
      const x = r.rows[0]
      return x ? { status: x.status, configuration: { qemuPid: x.qemuPid, tapDeviceName: x.tapDeviceName, qmpSocketPath: x.qmpSocketPath } } : null
    } finally {
      await c.end()
    }
  }

  // The host side of "released": no QEMU, TAP off the bridge, no dispatch element,
  // no socket, no pidfile. [] when released.
  function unreleased (vmId) {
    const o = fe.observe(vmId, { dirs: dirs(), row: null })
    const bad = []
    if (o.qemus.length) bad.push(`QEMU ${o.qemus} alive`)
    if (o.tapMaster !== null) bad.push(`TAP on ${o.tapMaster}`)
    if (o.inVmPorts || o.inToVm) bad.push('dispatch element present')
    if (o.socket) bad.push('QMP socket present')
    if (o.pidfile !== null) bad.push('pidfile present')
    return bad
  }

  async function outage (variant) {
    const url = await pg.createDatabase('faults', { audit: true })
    const seedStore = createStore({ databaseUrl: url })
    const br = await newBridge(variant ? '10.217.5.1/24' : '10.217.4.1/24')
    const vmId = await seed(seedStore, variant ? 'm' : 'o')
    await seedStore.close()
    const store = { databaseUrl: url }
    const readRow = () => pgRow(url, vmId)
    const a = await liveManager('manager A', { store })
    const r = await a.call('create', vmId, env.createConfig(vmId, br))
    await fe.expectHostMatchesStore(vmId, { dirs: dirs(), bridge: br, readRow, allowed: ['running'], context: 'before the outage: ' })

    const failures = []
    let b = null
    await pg.stopServer('fast')
    const down = Date.now()
    try {
      process.kill(r.pid, 'SIGKILL')
      const t0 = Date.now()
      let released = null
      let last = []
      while (Date.now() - t0 < 3000) {
        last = unreleased(vmId)
        if (last.length === 0) { released = Date.now() - t0; break }
        await env.sleep(100)
      }
      if (released === null) failures.push(`with PostgreSQL down, the host was not released within 3 s of the QEMU's SIGKILL: ${last.join(', ')}`)
      if (variant) {
        a.kill('SIGKILL')
        await a.exited
        // A new manager while the database is still down; its initialize() may wait.
        b = child({ op: 'initialize-only', stay: true, store }, 'manager B')
        await env.sleep(2000)
        const fatal = b.events.find((e) => e.event === 'fatal')
        if (fatal || b.exit) failures.push(`a manager started during the outage failed: ${JSON.stringify(fatal || b.exit)}`)
      }
      // Keep the outage at 10 s or more.
      await env.sleep(Math.max(0, 10000 - (Date.now() - down)))
    } finally {
      await pg.startServer()
    }
    const back = Date.now()
    let row = null
    while (Date.now() - back < 10000) {
      row = await readRow().catch(() => null)
      if (row && row.status === 'error' && row.configuration.qemuPid === null) break
      await env.sleep(250)
    }
    if (!row || row.status !== 'error' || row.configuration.qemuPid !== null) {
      failures.push(`within 10 s of PostgreSQL's return the row must be status error with qemuPid null; it is ${JSON.stringify(row)} (status log ${JSON.stringify(await statusLog(url, vmId))})`)
    }
    const manager = variant ? b : a
    if (failures.length === 0) {
      await manager.waitFor('ready', 30000)
      await fe.expectHostMatchesStore(vmId, { dirs: dirs(), bridge: br, readRow, allowed: ['off'], offStatuses: ['error'], context: 'after the outage: ' })
      // And it starts again.
      await manager.call('start', vmId)
      await fe.expectHostMatchesStore(vmId, { dirs: dirs(), bridge: br, readRow, allowed: ['running'], context: 'startVM after the outage: ' })
      await manager.call('stop', vmId, STOP_FAST)
    }
    await manager.close()
    console.log(`PostgreSQL outage${variant ? ' + manager restart' : ''}: ${failures.length ? failures.join(' | ') : 'ok'}; status log ${JSON.stringify(await statusLog(url, vmId))}`)
    if (failures.length) throw new Error(failures.join('\n'))
  }

  pgTest('QEMU SIGKILLed while PostgreSQL is down: host released within 3 s; the row becomes error once it is back', async () => {
    await outage(false)
  })

  pgTest('the same, and the manager is SIGKILLed and a new one started during the outage: the queued writes land', async () => {
    await outage(true)
  })

  pgTest('a QMP event while PostgreSQL is down: the event handler\'s write is journaled, outlives its manager and lands', async () => {
    const url = await pg.createDatabase('faults', { audit: true })
    const seedStore = createStore({ databaseUrl: url })
    const br = await newBridge('10.217.6.1/24')
    const vmId = await seed(seedStore, 'e')
    await seedStore.close()
    const store = { databaseUrl: url }
    const readRow = () => pgRow(url, vmId)
    const a = await liveManager('manager A', { store })
    await a.call('create', vmId, env.createConfig(vmId, br))
    const journal = path.join(dirs().pidfileDir, 'pending-writes')
    const journaled = () => {
      try {
        return fs.readdirSync(journal).filter((f) => f.endsWith('.json')).map((f) => fs.readFileSync(path.join(journal, f), 'utf8')).join('\n')
      } catch { return '' }
    }
    let b = null
    let text = ''
    await pg.stopServer('fast')
    try {
      // Past the lifecycle (which would refuse: it reads the row first): the STOP
      // event's `suspended` is the event handler's write, queued while PostgreSQL is away.
      await a.call('qmp', vmId, { command: 'stop' })
      const t0 = Date.now()
      while (Date.now() - t0 < 5000 && !text.includes('suspended')) {
        await env.sleep(100)
        text = journaled()
      }
      a.kill('SIGKILL')
      await a.exited
      b = child({ op: 'initialize-only', stay: true, store }, 'manager B')
      await env.sleep(1000)
    } finally {
      await pg.startServer()
    }
    expect(text).toContain('suspended')
    expect(text).toContain('STOP')
    const back = Date.now()
    let row = null
    while (Date.now() - back < 10000) {
      row = await readRow().catch(() => null)
      if (row && row.status === 'suspended') break
      await env.sleep(250)
    }
    expect(row && row.status).toBe('suspended')
    await b.waitFor('ready', 30000)
    await b.call('stop', vmId, STOP_FAST)
    await fe.expectHostMatchesStore(vmId, { dirs: dirs(), bridge: br, readRow, allowed: ['off'], context: 'after the outage: ' })
    await b.close()
  })
})

// ---------------------------------------------------------------------------
// 4. A wedged QEMU
// ---------------------------------------------------------------------------

describe('4. a wedged QEMU (rule 9: every call answers in bounded time)', () => {
  test('SIGSTOPped QEMU: getVMStatus answers in 2.5 s (monitorResponsive false), others stay fast, a forced stop takes it down', async () => {
    const br = await newBridge('10.217.6.1/24')
    const wedged = await seed(sqlite, 'w')
    const healthy = await seed(sqlite, 'h')
    const m = await liveManager('manager')
    const r = await m.call('create', wedged, env.createConfig(wedged, br))
    await m.call('create', healthy, env.createConfig(healthy, br))
    const failures = []
    const timed = async (cmd, vmId, config, timeoutMs) => {
      const t0 = Date.now()
      try {
        const reply = await m.request(cmd, vmId, config, timeoutMs)
        return { ms: Date.now() - t0, reply }
      } catch (e) {
        return { ms: Date.now() - t0, reply: null, error: e.message.split('\n')[0] }
      }
    }
    // Baseline: both answer, the new field says the monitor answers.
    const base = await timed('status', healthy, undefined, 10000)
    if (!base.reply || !base.reply.ok || base.reply.result.monitorResponsive !== true) {
      failures.push(`a healthy VM's getVMStatus must report monitorResponsive: true; got ${JSON.stringify(base.reply ? base.reply.result ?? base.reply : base.error)}`)
    }

    process.kill(r.pid, 'SIGSTOP')
    try {
      const wedgedStatus = timed('status', wedged, undefined, 10000)
      await env.sleep(200)
      const healthyStatus = await timed('status', healthy, undefined, 10000)
      const ws = await wedgedStatus
      if (!ws.reply) failures.push(`getVMStatus of the wedged VM did not answer within 10 s (${ws.error})`)
      else if (!ws.reply.ok) failures.push(`getVMStatus of the wedged VM rejected after ${ws.ms} ms: ${ws.reply.code} ${ws.reply.message}`)
      else {
        if (ws.ms > 2500) failures.push(`getVMStatus of the wedged VM took ${ws.ms} ms (limit 2500)`)
        const s = ws.reply.result
        if (s.processAlive !== true || s.monitorResponsive !== false) failures.push(`getVMStatus of the wedged VM must say processAlive: true, monitorResponsive: false; got ${JSON.stringify(s)}`)
      }
      if (!healthyStatus.reply || !healthyStatus.reply.ok) failures.push(`getVMStatus of the healthy VM failed meanwhile: ${JSON.stringify(healthyStatus)}`)
      else if (healthyStatus.ms > 1000) failures.push(`getVMStatus of the healthy VM took ${healthyStatus.ms} ms while another VM was wedged (limit 1000)`)

      const stop = await timed('stop', wedged, { timeout: 3000, force: true }, 20000)
      if (!stop.reply) failures.push(`stopVM(timeout 3000, force) of the wedged VM did not answer within 20 s (${stop.error})`)
      else if (!stop.reply.ok) failures.push(`stopVM(timeout 3000, force) of the wedged VM rejected after ${stop.ms} ms: ${stop.reply.code} ${stop.reply.message}`)
      else {
        if (stop.ms > 4500) failures.push(`stopVM(timeout 3000, force) of the wedged VM took ${stop.ms} ms (limit 4500)`)
        if (stop.reply.result.forced !== true) failures.push(`stopVM of the wedged VM must report forced: true; got ${JSON.stringify(stop.reply.result)}`)
      }
      await env.until(() => !env.alive(r.pid), 5000, `the wedged QEMU ${r.pid} to be gone`).catch((e) => failures.push(e.message))
      console.log(`wedged QEMU: status ${ws.ms} ms ${JSON.stringify(ws.reply && ws.reply.result)}; healthy status ${healthyStatus.ms} ms; stop ${stop.ms} ms ${JSON.stringify(stop.reply)}`)
    } finally {
      // If nothing took it down, it is ours to kill (a stopped process dies on SIGKILL).
      if (env.alive(r.pid)) {
        try { process.kill(r.pid, 'SIGKILL') } catch {}
      }
    }
    if (failures.length) throw new Error(failures.join('\n'))
    await check(wedged, br, ['off'], { context: 'the wedged VM after its forced stop: ' })
    await check(healthy, br, ['running'], { context: 'the healthy VM: ' })
    await m.call('stop', healthy, STOP_FAST)
    await check(healthy, br, ['off'])
    await m.close()
  })
})

// ---------------------------------------------------------------------------
// 5. A stranger QEMU on a VM's pidfile path
// ---------------------------------------------------------------------------

describe('5. a stranger QEMU on the pidfile path of a VM (rule 3: only signal what is ours)', () => {
  test('the row says running, its QEMU is gone, a foreign QEMU wrote the pidfile: not adopted, not killed, reported', async () => {
    const br = await newBridge('10.217.7.1/24')
    const vmId = await seed(sqlite, 'y')
    const a = await liveManager('manager A')
    const r = await a.call('create', vmId, env.createConfig(vmId, br))
    // The manager dies, then its QEMU: the row still says running.
    a.kill('SIGKILL')
    await a.exited
    process.kill(r.pid, 'SIGKILL')
    await env.until(() => !env.alive(r.pid), 5000, `QEMU ${r.pid} to die`)
    expect((await sqlite.findMachineWithConfig(vmId)).status).toBe('running')

    const p = fe.vmPaths(dirs(), vmId)
    const otherUuid = crypto.randomUUID()
    execFileSync('qemu-system-x86_64', [
      '-daemonize', '-pidfile', p.pidfile, '-name', 'guest=someone-else', '-uuid', otherUuid,
      '-S', '-display', 'none', '-nodefaults', '-machine', 'q35,accel=tcg', '-m', '64'
    ], { stdio: 'ignore', timeout: 30000 })
    const stranger = Number(fs.readFileSync(p.pidfile, 'utf8').trim())
    strangers.push(stranger)
    expect(env.alive(stranger)).toBe(true)
    expect(env.cmdlineOf(stranger)).toContain('guest=someone-else')

    const b = await liveManager('manager B')
    try {
      const ready = b.events.find((e) => e.event === 'ready')
      const failures = []
      if (ready.active.includes(vmId)) failures.push(`getActiveVMs() after initialize() lists ${vmId}: the stranger (PID ${stranger}) was adopted`)
      const row = await sqlite.findMachineWithConfig(vmId)
      if (row.configuration.qemuPid === stranger) failures.push(`the row's qemuPid is the stranger's PID ${stranger}`)
      const stop = await b.request('stop', vmId, STOP_FAST)
      if (!env.alive(stranger)) failures.push(`stopVM(${vmId}) killed the stranger QEMU ${stranger} (answer: ${JSON.stringify(stop)})`)
      const said = `${JSON.stringify(stop)}\n${b.stderr}`
      if (!said.includes(String(stranger))) failures.push(`neither stopVM's answer nor the manager's log names the stranger PID ${stranger}: answer ${JSON.stringify(stop)}; log tail ${JSON.stringify(b.stderr.slice(-1500))}`)
      console.log(`stranger QEMU ${stranger}: active ${JSON.stringify(ready.active)}, row ${JSON.stringify({ status: row.status, qemuPid: row.configuration.qemuPid })}, stop ${JSON.stringify(stop)}`)
      if (failures.length) throw new Error(failures.join('\n'))
      await fe.expectHostMatchesStore(vmId, {
        dirs: dirs(), bridge: br, readRow: sqliteRow(vmId), allowed: ['off'], offStatuses: ['off', 'error'], foreign: [stranger], foreignPidfile: true
      })
      expect(env.alive(stranger)).toBe(true)
    } finally {
      await b.close()
      try { process.kill(stranger, 'SIGKILL') } catch {}
      await env.until(() => !env.alive(stranger), 5000, `the stranger ${stranger} to die`).catch(() => {})
    }
  })
})
