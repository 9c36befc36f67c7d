'use strict'
// VM lifecycle benchmark. Run with `npm run bench:lifecycle`, which builds the
// release addon and runs this file as root inside a private network namespace
// (`unshare --net`); it refuses to run in the host's.
//
// 1. createVM → running and answering QMP, against a bare QEMU spawn of the same
//    argv. One `Infinivirt.createVM` (disk, TAP on a bridge, nft chain with one rule
//    from the store, QEMU started paused, display password and `cont` over QMP, the
//    store's status and runtime columns) is timed until the promise resolves and a
//    `query-status` sent through a QMPClient has answered. The VM's argv is then read
//    from /proc/<pid>/cmdline and the VM destroyed. The bare run spawns exactly that
//    argv (`-daemonize`, `-pidfile`, its disk already made), polls every 1 ms for the
//    QMP socket, does the handshake by hand and times until `query-status` answers;
//    that QEMU is then killed through a QemuProcess attached from its pidfile, which
//    waits until every thread has exited (two bare runs in a row bind the same SPICE
//    port). Runs alternate which side goes first; medians compared.
//    The same run also times, through the public API, the steps createVM adds on top
//    of the QEMU start (disk, TAP, firewall, store writes), to show what the
//    difference is made of.
// 2. 50 VMs created at once with createVM (SeaBIOS over an empty disk, no NIC option
//    ROM, 128 MiB each; both through the test-only `extraArgs`), all of which must
//    reach `running`: wall
//    time, the Node process's peak RSS (sampled every 5 ms, and VmHWM), then all
//    destroyed and the host checked for leftovers.
//
// Nothing here is a timed test; `npm test` does not run it. Everything made is
// removed, also on failure. Only QEMUs whose command line carries this run's temp
// directory are ever signalled.

const { spawn, execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const {
  Infinivirt, BridgeManager, QMPClient, QemuImgService, QemuProcess, TapDeviceManager, NftablesService, createStore, generateVMChainName
} = require('..')
const { assertPrivateNetns } = require('../__test__/helpers/netns')
// Live (non-zombie) processes whose command line contains a needle (this run's temp dir).
const { processesUsing: processesWith, filesIn } = require('../__test__/helpers/lifecycle-env')

const RUNS = Number(process.env.BENCH_RUNS || 11)
const FLEET = Number(process.env.BENCH_VMS || 50)
const FLEET_RAM_MIB = 128
const RATIO_TARGET = 1.3
// createVM probes for a free display port from `displayPort` up, then QEMU binds it
// later: concurrent creates that start their search at the same port can pick the
// same one, and all but one QEMU then fail to bind SPICE. The fleet therefore starts
// each VM's search at its own port; BENCH_SAME_PORT=1 starts all at 5900 to show it.
const SAME_PORT = process.env.BENCH_SAME_PORT === '1'
// Test-only raw QEMU arguments for every VM here: no option ROM on the NIC, so with
// nothing to boot SeaBIOS idles ("No bootable device", hlt) instead of iPXE polling
// the NIC with a whole TCG core per VM, which would starve 50 VMs on two cores.
const QUIET_FIRMWARE = ['-global', 'virtio-net-pci.romfile=']

const BRIDGE = 'ivbenchlc0'
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-bench-lifecycle-'))
const bridges = new BridgeManager()
const managers = []
const created = new Set() // [manager, vmId] of VMs a failure must destroy

const fmt = (x, d = 1) => Number(x).toFixed(d)
const mark = (ok) => (ok ? '✓' : '✗')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const now = () => Number(process.hrtime.bigint()) / 1e6

function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function rand () { return crypto.randomBytes(4).toString('hex') }

async function manager (name, extra = {}) {
  const m = new Infinivirt({
    sqlitePath: path.join(dir, `${name}.db`),
    diskDir: path.join(dir, name, 'disks'),
    qmpSocketDir: path.join(dir, name, 'qmp'),
    pidfileDir: path.join(dir, name, 'pids'),
    firewallPersistenceDir: path.join(dir, name, 'nft'),
    ...extra
  })
  await m.initialize()
  managers.push(m)
  return m
}

async function seed (m, vmId, { rule = true } = {}) {
  const db = m.getPrismaAdapter()
  if (rule) {
    await db.insertRecord('FirewallRuleSet', { id: `rs-${vmId}`, name: 'bench', internalName: `rs-${vmId}`, entityType: 'VM', entityId: vmId })
    await db.insertRecord('FirewallRule', {
      id: `r-${vmId}`, ruleSetId: `rs-${vmId}`, name: 'no ssh', action: 'DROP', direction: 'IN', priority: 100, protocol: 'tcp', dstPortStart: 22
    })
  }
  await db.insertRecord('Machine', {
    id: vmId, name: `Bench ${vmId}`, internalName: `vm-${vmId}`, status: 'off', os: 'ubuntu', cpuCores: 1, ramGB: 1, diskSizeGB: 1,
    ...(rule ? { firewallRuleSetId: `rs-${vmId}` } : {})
  })
}

function vmConfig (vmId, extra = {}) {
  return {
    vmId,
    name: `Bench ${vmId}`,
    internalName: `vm-${vmId}`,
    os: 'ubuntu',
    cpuCores: 1,
    ramGB: 1,
    disks: [{ sizeGB: 1 }],
    bridge: BRIDGE,
    displayType: 'spice',
    displayPort: 5900,
    displayAddr: '127.0.0.1',
    displayPassword: 'bench-pw',
    ...extra
  }
}


// True once every thread of `pid` has exited. A killed QEMU's main thread turns
// zombie first, while its other threads still close the process's files (the SPICE
// listener among them; the TAP's teardown makes that take tens of ms): a zombie main
// thread alone does not mean the display port is free.
function gone (pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z' && fs.readdirSync(`/proc/${pid}/task`).length <= 1
  } catch {
    return true
  }
}

function statusKiB (field, pid = 'self') {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : 0
}

// ---- 1. createVM against a bare spawn of the same argv ---------------------

/** createVM → promise resolved and a query-status answered; returns [ms, argv, result]. */
async function viaCreateVM (m) {
  const vmId = `bl${rand()}`
  await seed(m, vmId)
  const t0 = now()
  const r = await m.createVM(vmConfig(vmId))
  created.add([m, vmId])
  const qmp = new QMPClient(r.qmpSocketPath) // joins the manager's connection
  await qmp.connect()
  const st = await qmp.queryStatus()
  const ms = now() - t0
  await qmp.disconnect()
  if (st.status !== 'running') throw new Error(`createVM: query-status says ${JSON.stringify(st)}`)
  const argv = fs.readFileSync(`/proc/${r.pid}/cmdline`, 'utf8').split('\0').slice(0, -1)
  await m.destroyVM(vmId)
  for (const c of created) if (c[1] === vmId) created.delete(c)
  if (!gone(r.pid)) throw new Error(`QEMU ${r.pid} still runs after destroyVM`)
  return [ms, argv, r]
}

// Splits a socket into lines; the returned function resolves the next one.
function lineReader (sock) {
  let buf = ''
  const lines = []
  const waiting = []
  sock.setEncoding('utf8')
  sock.on('data', (d) => {
    buf += d
    for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) lines.push(buf.slice(0, i))
    while (lines.length && waiting.length) waiting.shift().resolve(lines.shift())
  })
  const fail = (e) => { while (waiting.length) waiting.shift().reject(e) }
  sock.on('error', fail)
  sock.on('close', () => fail(new Error('QMP socket closed')))
  return () => (lines.length ? Promise.resolve(lines.shift()) : new Promise((resolve, reject) => waiting.push({ resolve, reject })))
}

// A connected socket, or null while QEMU does not listen yet.
function dial (file) {
  return new Promise((resolve, reject) => {
    const s = net.connect(file)
    s.once('connect', () => { s.removeAllListeners('error'); resolve(s) })
    s.once('error', (e) => (e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? resolve(null) : reject(e)))
  })
}

function argAfter (argv, flag) {
  const i = argv.indexOf(flag)
  if (i < 0 || i + 1 >= argv.length) throw new Error(`no ${flag} in the argv`)
  return argv[i + 1]
}

/** Spawns `argv` as is and times until query-status answers on its QMP socket. */
async function viaBareSpawn (argv) {
  const pidfile = argAfter(argv, '-pidfile')
  const qmpArg = argAfter(argv, '-qmp')
  const sock = /^unix:([^,]+)/.exec(qmpArg)?.[1]
  if (!sock || !argv.includes('-daemonize')) throw new Error(`unexpected argv: -qmp ${qmpArg}`)
  fs.rmSync(sock, { force: true })
  fs.rmSync(pidfile, { force: true })
  const t0 = now()
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  let exited = null
  child.once('exit', (code) => { exited = code })
  child.on('error', (e) => { exited = e.message })
  let s = null
  try {
    while (!s) {
      if (exited !== null && exited !== 0) throw new Error(`bare QEMU exited with ${exited}: ${stderr}`)
      if (now() - t0 > 10000) throw new Error(`no QMP socket at ${sock} after 10 s`)
      if (fs.existsSync(sock)) s = await dial(sock)
      if (!s) await sleep(1)
    }
    const next = lineReader(s)
    const reply = async (id) => { for (;;) { const msg = JSON.parse(await next()); if (msg.id === id) return msg } }
    if (!JSON.parse(await next()).QMP) throw new Error('expected a QMP greeting')
    s.write('{"execute":"qmp_capabilities","id":"hs"}\n')
    await reply('hs')
    s.write('{"execute":"query-status","id":"q"}\n')
    const r = await reply('q')
    const ms = now() - t0
    if (!r.return || typeof r.return.status !== 'string') throw new Error(`query-status returned ${JSON.stringify(r)}`)
    return ms
  } finally {
    if (s) s.destroy()
    await killBare(pidfile)
  }
}

/**
 * Kills the daemon named by `pidfile` through a QemuProcess handle: attach proves
 * the PID is the QEMU whose argv names that pidfile, and forceKill returns once its
 * pidfd reports the whole process gone, so the next run finds its ports free.
 */
async function killBare (pidfile) {
  // The pidfile exists a moment before QEMU has written its PID into it.
  const deadline = Date.now() + 5000
  const written = () => { try { return Number(fs.readFileSync(pidfile, 'utf8').trim()) > 0 } catch { return false } }
  while (!written() && Date.now() < deadline) await sleep(5)
  const p = new QemuProcess(`bare-${path.basename(pidfile)}`)
  p.setPidFilePath(pidfile)
  if (!(await p.attach())) {
    const left = processesWith(pidfile)
    if (left.length) throw new Error(`QEMU ${left.join(', ')} of ${pidfile} could not be attached to`)
    return // it never started, or already exited
  }
  const pid = p.getPid()
  await p.forceKill()
  if (!gone(pid)) throw new Error(`bare QEMU ${pid} still runs after forceKill`)
  fs.rmSync(pidfile, { force: true })
}

/** What createVM does besides the QEMU start, step by step through the public API. */
async function stepCosts (runs) {
  const img = new QemuImgService()
  const taps = new TapDeviceManager()
  const nft = new NftablesService({ enablePersistence: false })
  await nft.initialize()
  const store = createStore({ sqlitePath: path.join(dir, 'steps.db') })
  const costs = { disk: [], tap: [], firewall: [], store: [] }
  const rule = { id: 'r', name: 'no ssh', action: 'DROP', direction: 'IN', priority: 100, protocol: 'tcp', dstPortStart: 22 }
  for (let i = 0; i < runs; i++) {
    const id = `st${rand()}`
    let t = now()
    const disk = path.join(dir, `${id}.qcow2`)
    await img.createImage({ path: disk, sizeGB: 1, format: 'qcow2', preallocation: 'metadata' })
    costs.disk.push(now() - t)
    fs.rmSync(disk)

    t = now()
    const tap = await taps.create(id, BRIDGE)
    await taps.configure(tap, BRIDGE)
    costs.tap.push(now() - t)

    t = now()
    await nft.createVMChain(id, tap)
    await nft.applyRules(id, tap, [rule], [])
    costs.firewall.push(now() - t)
    await nft.removeVMChain(id)
    await taps.destroy(tap)

    await store.insertRecord('Machine', { id, name: id, internalName: `vm-${id}`, status: 'off', os: 'ubuntu', cpuCores: 1, ramGB: 1, diskSizeGB: 1 })
    t = now()
    await store.getFirewallRules(id)
    await store.updateMachineStatus(id, 'starting')
    await store.updateMachineConfiguration(id, { qmpSocketPath: '/x.sock', qemuPid: 1, tapDeviceName: tap, graphicProtocol: 'spice', graphicPort: 5900, bridge: BRIDGE, diskPaths: [disk] })
    await store.updateMachineStatus(id, 'running')
    costs.store.push(now() - t)
  }
  return Object.fromEntries(Object.entries(costs).map(([k, v]) => [k, median(v)]))
}

async function benchCreate () {
  const m = await manager('create', { extraArgs: QUIET_FIRMWARE })
  // Warm-up (page cache, nft table, first QEMU); its argv feeds the first bare run.
  const pending = [(await viaCreateVM(m))[1]]
  const lib = []
  const bare = []
  let sample = null
  for (let i = 0; i < RUNS; i++) {
    // Alternate who goes first, so neither always runs on a warmer machine.
    if (i % 2 === 0) {
      bare.push(await viaBareSpawn(pending.shift()))
      const [ms, argv, r] = await viaCreateVM(m)
      lib.push(ms); pending.push(argv); sample = sample || [argv, r]
    } else {
      const [ms, argv, r] = await viaCreateVM(m)
      lib.push(ms); pending.push(argv); sample = sample || [argv, r]
      bare.push(await viaBareSpawn(pending.shift()))
    }
  }
  const steps = await stepCosts(RUNS)
  const ml = median(lib)
  const mb = median(bare)
  // Each createVM and the bare run beside it saw nearly the same machine: the median
  // of those pairs' ratios drifts less with the load of a shared host.
  const paired = median(lib.map((x, i) => x / bare[i]))
  return { lib, bare, ml, mb, ratio: ml / mb, paired, steps, argv: sample[0] }
}

// ---- 2. 50 VMs at once -----------------------------------------------------

async function benchFleet () {
  // A second -m overrides the first: 128 MiB guests (createVM accepts no less than 0.5 GiB).
  const m = await manager('fleet', { extraArgs: [...QUIET_FIRMWARE, '-m', String(FLEET_RAM_MIB)] })
  const ids = Array.from({ length: FLEET }, (_, i) => `f${String(i).padStart(2, '0')}${rand()}`)
  for (const id of ids) await seed(m, id, { rule: false })
  if (global.gc) global.gc()
  const rssBefore = process.memoryUsage.rss()
  let peak = rssBefore
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()) }, 5)

  const t0 = now()
  const each = []
  const settled = await Promise.allSettled(ids.map(async (id, i) => {
    const r = await m.createVM(vmConfig(id, { displayPort: SAME_PORT ? 5900 : 5900 + i }))
    created.add([m, id])
    each.push(now() - t0)
    return r
  }))
  const wall = now() - t0
  const failed = settled.filter((s) => s.status === 'rejected')
  const results = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value)
  const statuses = await Promise.all(results.map((r) => m.getVMStatus(r.vmId)))
  const running = statuses.filter((s) => s.status === 'running' && s.qmpStatus === 'running' && s.processAlive && s.consistent).length
  const ports = new Set(results.map((r) => r.displayPort))
  peak = Math.max(peak, process.memoryUsage.rss())
  clearInterval(sampler)
  const hwm = statusKiB('VmHWM')
  const qemuRss = results.reduce((sum, r) => sum + statusKiB('VmRSS', r.pid), 0)
  let guestMiB = null
  if (results.length) {
    const q = new QMPClient(results[0].qmpSocketPath)
    await q.connect()
    guestMiB = (await q.execute('query-memory-size-summary'))['base-memory'] / 1048576
    await q.disconnect()
  }

  const td = now()
  const destroyed = await Promise.allSettled(results.map((r) => m.destroyVM(r.vmId)))
  const destroyWall = now() - td
  for (const c of [...created]) if (c[0] === m) created.delete(c)

  // Leftovers: processes, TAPs, chains, sockets, pidfiles.
  await sleep(200)
  const leftovers = []
  const procs = processesWith(path.join(dir, 'fleet'))
  if (procs.length) leftovers.push(`${procs.length} QEMU processes`)
  const taps = JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })).filter((l) => l.ifname.startsWith('vnet-'))
  if (taps.length) leftovers.push(`${taps.length} TAPs (${taps.slice(0, 3).map((l) => l.ifname).join(', ')}…)`)
  const ruleset = execFileSync('nft', ['list', 'table', 'bridge', 'infinivirt'], { encoding: 'utf8' })
  const chains = ids.filter((id) => ruleset.includes(`chain ${generateVMChainName(id)} `))
  if (chains.length) leftovers.push(`${chains.length} nft chains`)
  for (const sub of ['qmp', 'pids']) {
    // A journal or queued write left behind counts; per-VM lock files stay by design.
    const files = filesIn(path.join(dir, 'fleet', sub))
    if (files.length) leftovers.push(`${files.length} files in ${sub}/ (${files.slice(0, 3).join(', ')})`)
  }
  return {
    wall, each, failed, running, ports: ports.size, rssBefore, peak, hwm, qemuRss, guestMiB, destroyWall,
    destroyFailed: destroyed.filter((d) => d.status === 'rejected'), leftovers
  }
}

// ---- main ------------------------------------------------------------------

async function cleanup () {
  for (const [m, id] of created) await m.destroyVM(id).catch(() => {})
  created.clear()
  for (const m of managers) await m.shutdown().catch(() => {})
  for (const pid of processesWith(dir)) {
    try { process.kill(pid, 'SIGKILL') } catch {}
  }
  await bridges.destroy(BRIDGE).catch(() => {})
  await sleep(300) // a late background firewall export
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
}

async function main () {
  assertPrivateNetns()
  await bridges.create(BRIDGE)
  // SPICE resolves 127.0.0.1 with AI_ADDRCONFIG: the namespace needs a non-loopback IPv4 address.
  await bridges.assignIP(BRIDGE, '10.213.98.1/24')
  console.log(`VM lifecycle bench: ${os.cpus().length} CPUs, ${os.cpus()[0].model}, Node ${process.version}, ` +
    `${execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).split('\n')[0]}`)

  const c = await benchCreate()
  console.log(`\n1. createVM → running + query-status answered, against a bare spawn of the same argv (${RUNS} runs each, alternating)`)
  console.log(`   createVM   ${c.lib.map((x) => fmt(x, 0)).join(' ')} ms`)
  console.log(`   bare spawn ${c.bare.map((x) => fmt(x, 0)).join(' ')} ms`)
  console.log(`   argv (${c.argv.length} words): ${c.argv.join(' ')}`)
  const extra = c.ml - c.mb
  const s = c.steps
  console.log(`   median: createVM ${fmt(c.ml)} ms, bare ${fmt(c.mb)} ms → ${fmt(c.ratio, 2)}x (target ≤ ${RATIO_TARGET}x ${mark(c.ratio <= RATIO_TARGET)}); ` +
    `median of the back-to-back pairs' ratios ${fmt(c.paired, 2)}x`)
  console.log(`   createVM adds ${fmt(extra)} ms; the same steps timed alone (medians): qcow2 disk ${fmt(s.disk)} ms, ` +
    `TAP create+configure+attach ${fmt(s.tap)} ms, nft chain + 1 rule ${fmt(s.firewall)} ms, store reads/writes ${fmt(s.store)} ms ` +
    `(sum ${fmt(s.disk + s.tap + s.firewall + s.store)} ms); the rest is the display port probe, the wait for QEMU's ` +
    '-daemonize launcher and pidfile, the TAP carrier check, QMP connect, set_password and cont')
  console.log(`   without its disk and firewall steps createVM would be ${fmt((c.ml - s.disk - s.firewall) / c.mb, 2)}x the bare spawn ` +
    '(the bare QEMU opens a disk made beforehand and creates its own TAP, with no firewall)')

  const f = await benchFleet()
  const ok = f.failed.length === 0 && f.running === FLEET
  console.log(`\n2. ${FLEET} VMs created at once (createVM, ${f.guestMiB ?? '?'} MiB guest RAM each, SeaBIOS over an empty disk, no NIC ROM)`)
  console.log(`   wall time until all ${FLEET} createVM promises settled: ${fmt(f.wall / 1000, 2)} s (${fmt(f.wall / FLEET, 0)} ms per VM); ` +
    `each resolved after ${f.each.length ? `${fmt(Math.min(...f.each) / 1000, 2)}–${fmt(Math.max(...f.each) / 1000, 2)} s, median ${fmt(median(f.each) / 1000, 2)} s` : '—'}` +
    `${SAME_PORT ? ' (BENCH_SAME_PORT=1: every search starts at 5900)' : ' (display port search starting at 5900 + i)'}`)
  console.log(`   running (getVMStatus: running, qmpStatus running, process alive): ${f.running}/${FLEET} ${mark(ok)}; distinct SPICE ports ${f.ports}`)
  for (const e of f.failed.slice(0, 5)) console.log(`   failed: ${e.reason && e.reason.code} ${String(e.reason && e.reason.message).split('\n')[0]}`)
  if (f.failed.length > 5) console.log(`   … and ${f.failed.length - 5} more failures`)
  console.log(`   Node RSS: ${fmt(f.rssBefore / 1048576)} MiB before, peak ${fmt(f.peak / 1048576)} MiB sampled every 5 ms ` +
    `(+${fmt((f.peak - f.rssBefore) / 1024 / FLEET, 0)} KiB per VM), VmHWM ${fmt(f.hwm / 1024)} MiB`)
  console.log(`   the ${f.running} QEMUs together: ${fmt(f.qemuRss / 1024, 0)} MiB RSS`)
  console.log(`   destroyVM of all, at once: ${fmt(f.destroyWall / 1000, 2)} s, ${f.destroyFailed.length} failed; ` +
    `leftovers: ${f.leftovers.length ? f.leftovers.join(', ') : 'none'} ${mark(!f.leftovers.length && !f.destroyFailed.length)}`)

  console.log('\nsummary')
  console.log(`  createVM → QMP answer, p50      ${fmt(c.ml)} ms vs bare ${fmt(c.mb)} ms = ${fmt(c.ratio, 2)}x (pairs ${fmt(c.paired, 2)}x)   target ≤ ${RATIO_TARGET}x ${mark(c.ratio <= RATIO_TARGET)}`)
  console.log(`  ${FLEET} concurrent createVM           ${fmt(f.wall / 1000, 2)} s, ${f.running}/${FLEET} running   target all running ${mark(ok)}`)
  console.log(`  Node peak RSS (${FLEET} VMs)          ${fmt(f.peak / 1048576)} MiB (VmHWM ${fmt(f.hwm / 1024)} MiB)`)
  console.log(`  after destroyVM of all          ${f.leftovers.length ? f.leftovers.join(', ') : 'nothing left'}   ${mark(!f.leftovers.length)}`)
  return ok && !f.leftovers.length && !f.destroyFailed.length
}

main().then(
  async (ok) => { await cleanup(); process.exit(ok ? 0 : 1) },
  async (err) => {
    console.error(`bench failed: ${err && err.stack ? err.stack : err}`)
    await cleanup()
    process.exit(1)
  }
)
