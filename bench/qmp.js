'use strict'
// QMP and process-start benchmarks (issue 3 item 5). Run with `npm run bench:qmp`,
// which builds the release addon and the Rust floor first and gives node --expose-gc.
//
// 1. query-status round trip, 10,000 sequential calls against one paused TCG QEMU:
//    this library from JS vs a bare Rust client (examples/qmp_floor.rs, the floor)
//    vs QEMU's own Python library qemu.qmp (bench/qmp_peer.py, the peer). QEMU serves
//    one QMP client at a time, so the three take turns on the same QEMU (5 turns of
//    2,000 timed calls each, rotating who goes first, samples pooled); p50 and p99
//    are compared with the floor's.
// 2. spawn to first QMP answer: QemuProcess.start() + QMPClient.connect() +
//    queryStatus() vs a bare node spawn-and-poll of the same argv; 20 runs each,
//    interleaved, medians compared.
// 3. Node RSS added per connected VM: 10 paused QEMUs, one QMPClient each.
//
// Every figure is a ratio against a peer measured in the same run; nothing here is a
// timed test and `npm test` does not run it. Every QEMU started is killed through a
// QemuProcess handle and the temp dir is removed, also on failure or Ctrl-C.

const fs = require('fs')
const net = require('net')
const os = require('os')
const path = require('path')
const { spawn, spawnSync, execFileSync } = require('child_process')
const { QemuCommandBuilder, QemuProcess, QMPClient } = require('..')

const ROOT = path.join(__dirname, '..')
const ROUND_TRIPS = 10000
const P50_TARGET = 1.5
const P99_TARGET = 2
const SPAWN_RUNS = 20
const RSS_VMS = 10
// Where `cargo build --release --example qmp_floor` put it (CARGO_TARGET_DIR if set).
const FLOOR_BIN = path.join(path.resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target'), 'release', 'examples', 'qmp_floor')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-bench-qmp-'))
const live = new Set() // QemuProcess handles still to kill
let seq = 0
let peerPython = null // set by ensurePeer()

// ---- helpers -------------------------------------------------------------

function builderFor (name) {
  return new QemuCommandBuilder()
    .setMachine('q35', { accel: 'tcg' })
    .setCpu('max')
    .setMemory(0.125)
    .addRawArg('-display').addRawArg('none')
    .addRawArg('-nodefaults')
    .addRawArg('-S')
    .addQmp(path.join(dir, `${name}.sock`))
    .setProcessOptions({ vmId: name, name, daemonize: true, pidfile: path.join(dir, `${name}.pid`) })
}

function freshName () { return `vm${++seq}` }

async function startVm (name = freshName()) {
  const p = new QemuProcess(name, builderFor(name))
  live.add(p)
  await p.start()
  return { name, proc: p, sock: path.join(dir, `${name}.sock`) }
}

async function kill (p) {
  await p.forceKill()
  live.delete(p)
}

async function cleanup () {
  for (const p of [...live]) {
    try { await kill(p) } catch (e) { console.error(`cleanup: forceKill failed: ${e.message}`) }
  }
  fs.rmSync(dir, { recursive: true, force: true })
}

// Nearest-rank percentile; examples/qmp_floor.rs and bench/qmp_peer.py use the same rule.
function percentile (sorted, p) {
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1]
}

function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

const mark = (ok) => (ok ? '✓' : '✗')
const fmt = (x, digits = 0) => x.toFixed(digits)

// ELF64 section names of a shared object.
function elfSections (file) {
  const b = fs.readFileSync(file)
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return []
  const shoff = Number(b.readBigUInt64LE(0x28))
  const shentsize = b.readUInt16LE(0x3a)
  const shnum = b.readUInt16LE(0x3c)
  const strtab = Number(b.readBigUInt64LE(shoff + b.readUInt16LE(0x3e) * shentsize + 0x18))
  const names = []
  for (let i = 0; i < shnum; i++) {
    const at = strtab + b.readUInt32LE(shoff + i * shentsize)
    names.push(b.toString('latin1', at, b.indexOf(0, at)))
  }
  return names
}

function checkReleaseBuild () {
  // The release profile strips symbols; a debug build carries DWARF sections.
  const local = path.join(ROOT, `infinivirt.${process.platform}-${process.arch}-gnu.node`)
  if (fs.existsSync(local) && elfSections(local).includes('.debug_info')) {
    throw new Error(`${local} is a debug build; run \`npm run build\` (npm run bench:qmp does it for you)`)
  }
}

function ensureFloor () {
  if (!fs.existsSync(FLOOR_BIN)) {
    throw new Error(`${FLOOR_BIN} missing; build it with \`cargo build --release --example qmp_floor\``)
  }
}

// The peer's interpreter: the venv scripts/python-tools.sh keeps (npm test sets it up
// for the answer-file tests; on a machine where it is missing, this creates it).
function ensurePeer () {
  const bin = execFileSync('bash', [path.join(ROOT, 'scripts', 'python-tools.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
  const py = path.join(bin, 'python')
  if (spawnSync(py, ['-c', 'import qemu.qmp'], { stdio: 'ignore' }).status !== 0) throw new Error(`${py} cannot import qemu.qmp`)
  return py
}

function runJson (cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { err += d })
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${path.basename(cmd)} exited ${code}: ${err.trim()}`))
      try { resolve(JSON.parse(out)) } catch (e) { reject(new Error(`${path.basename(cmd)} printed ${out}`)) }
    })
  })
}

function vmRssKiB () {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))
  return Number(m[1])
}

// ---- 1. round trip -------------------------------------------------------

// The calls are split into CHUNKS turns per client, in an order that rotates each
// turn, so no client always meets a freshly started QEMU, a cold JIT or the same
// moment of a shared machine; each turn starts with WARMUP untimed calls. The
// samples of all turns are pooled before taking percentiles.
const CHUNKS = 5
const WARMUP = 200

async function jsRoundTrips (sock, n, warmup) {
  const c = new QMPClient(sock)
  await c.connect()
  const samples = new Float64Array(n)
  try {
    for (let i = 0; i < warmup; i++) await c.queryStatus()
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint()
      const r = await c.queryStatus()
      samples[i] = Number(process.hrtime.bigint() - t0) / 1000
      if (!r || typeof r.status !== 'string') throw new Error(`query-status returned ${JSON.stringify(r)}`)
    }
  } finally {
    await c.disconnect()
  }
  return Array.from(samples)
}

function summary (samples) {
  const s = Float64Array.from(samples).sort()
  return { n: s.length, p50_us: percentile(s, 50), p99_us: percentile(s, 99) }
}

async function benchRoundTrip () {
  const vm = await startVm()
  const per = Math.ceil(ROUND_TRIPS / CHUNKS)
  const clients = {
    js: () => jsRoundTrips(vm.sock, per, WARMUP),
    floor: async () => (await runJson(FLOOR_BIN, [vm.sock, String(per), String(WARMUP)])).samples_us,
    peer: async () => (await runJson(peerPython, [path.join(__dirname, 'qmp_peer.py'), vm.sock, String(per), String(WARMUP)])).samples_us
  }
  const pooled = { js: [], floor: [], peer: [] }
  try {
    const names = Object.keys(clients)
    for (let turn = 0; turn < CHUNKS; turn++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(turn + k) % names.length]
        pooled[name].push(...await clients[name]())
      }
    }
    const js = summary(pooled.js)
    const floor = summary(pooled.floor)
    const peer = summary(pooled.peer)
    const vsFloor = js.p50_us / floor.p50_us
    const vsPeer = peer.p50_us / js.p50_us
    const tailVsFloor = js.p99_us / floor.p99_us
    console.log(`QMP round trip (${js.n} calls each, in ${CHUNKS} rotating turns):`)
    console.log(`  p50: js ${fmt(js.p50_us)}µs, floor ${fmt(floor.p50_us)}µs (${fmt(vsFloor, 2)}x), ` +
      `peer ${fmt(peer.p50_us)}µs (${fmt(vsPeer, 1)}x slower) — targets: ≤${P50_TARGET}x floor ${mark(vsFloor <= P50_TARGET)}, ` +
      `≥2x faster than peer ${mark(vsPeer >= 2)}`)
    console.log(`  p99: js ${fmt(js.p99_us)}µs, floor ${fmt(floor.p99_us)}µs (${fmt(tailVsFloor, 2)}x), ` +
      `peer ${fmt(peer.p99_us)}µs (${fmt(peer.p99_us / js.p99_us, 1)}x slower) — target: ≤${P99_TARGET}x floor ${mark(tailVsFloor <= P99_TARGET)}`)
    // QEMU's own turnaround is in every figure: no client can beat the floor by much.
    console.log(`  (bound: the floor itself is ${fmt(peer.p50_us / floor.p50_us, 1)}x faster than the peer at p50)`)
    return { js, floor, peer, vsFloor, vsPeer, tailVsFloor }
  } finally {
    await kill(vm.proc)
  }
}

// ---- 2. spawn to first answer --------------------------------------------

async function viaLibrary () {
  const name = freshName()
  const b = builderFor(name)
  const p = new QemuProcess(name, b)
  live.add(p)
  const sock = path.join(dir, `${name}.sock`)
  const t0 = process.hrtime.bigint()
  await p.start()
  const c = new QMPClient(sock)
  await c.connect()
  const r = await c.queryStatus()
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (!r || typeof r.status !== 'string') throw new Error(`query-status returned ${JSON.stringify(r)}`)
  await c.disconnect()
  await kill(p)
  return ms
}

// Splits a raw socket into lines; the returned function resolves the next one.
function lineReader (sock) {
  let buf = ''
  const waiting = []
  const lines = []
  sock.setEncoding('utf8')
  sock.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i))
      buf = buf.slice(i + 1)
    }
    while (lines.length && waiting.length) waiting.shift().resolve(lines.shift())
  })
  const fail = (e) => { while (waiting.length) waiting.shift().reject(e) }
  sock.on('error', fail)
  sock.on('close', () => fail(new Error('QMP socket closed')))
  return () => lines.length
    ? Promise.resolve(lines.shift())
    : new Promise((resolve, reject) => waiting.push({ resolve, reject }))
}

async function viaBareSpawn () {
  const name = freshName()
  const b = builderFor(name)
  const { command, args } = b.buildCommand()
  const sock = path.join(dir, `${name}.sock`)
  const pidfile = path.join(dir, `${name}.pid`)
  if (!args.includes('-daemonize')) throw new Error('expected -daemonize in the argv')
  const t0 = process.hrtime.bigint()
  const child = spawn(command, args, { stdio: 'ignore', detached: true })
  try {
    return await bareFirstAnswer(child, sock, t0)
  } finally {
    // Kill through a QemuProcess handle too: adopt from the pidfile (identity-checked).
    const p = new QemuProcess(name, b)
    p.setPidFilePath(pidfile)
    if (await p.attach()) {
      live.add(p)
      await kill(p)
    } else if (fs.existsSync(pidfile)) {
      console.error(`could not adopt the bare-spawned QEMU from ${pidfile}`)
    }
  }
}

// A connected socket, or null while QEMU is not yet listening.
function dial (sock) {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock)
    s.once('connect', () => { s.removeAllListeners('error'); resolve(s) })
    s.once('error', (e) => (e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? resolve(null) : reject(e)))
  })
}

async function bareFirstAnswer (child, sock, t0) {
  child.on('error', () => {})
  child.unref()
  let exited = null
  child.once('exit', (code) => { exited = code })
  // Poll every 1 ms: first for the socket file, then until QEMU listens on it (the
  // file appears at bind(), a moment before listen(), so connect can be refused).
  let s = null
  while (!s) {
    if (exited !== null && exited !== 0) throw new Error(`bare-spawned QEMU exited with ${exited}`)
    if (Number(process.hrtime.bigint() - t0) > 10e9) throw new Error(`no QMP socket at ${sock} after 10 s`)
    if (fs.existsSync(sock)) s = await dial(sock)
    if (!s) await new Promise((resolve) => setTimeout(resolve, 1))
  }
  const next = lineReader(s)
  const want = async (id) => { for (;;) { const m = JSON.parse(await next()); if (m.id === id) return m } }
  if (!JSON.parse(await next()).QMP) throw new Error('expected a QMP greeting')
  s.write('{"execute":"qmp_capabilities","id":"hs"}\n')
  await want('hs')
  s.write('{"execute":"query-status","id":"q"}\n')
  const r = await want('q')
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (!r.return || typeof r.return.status !== 'string') throw new Error(`query-status returned ${JSON.stringify(r)}`)
  s.destroy()
  return ms
}

async function benchSpawn () {
  const lib = []
  const bare = []
  for (let i = 0; i < SPAWN_RUNS; i++) {
    // Alternate who goes first so neither always runs on a warmer machine.
    if (i % 2 === 0) { lib.push(await viaLibrary()); bare.push(await viaBareSpawn()) } else { bare.push(await viaBareSpawn()); lib.push(await viaLibrary()) }
  }
  const ml = median(lib)
  const mb = median(bare)
  const ratio = ml / mb
  console.log(`Spawn to first QMP answer median (${SPAWN_RUNS} runs each): infinivirt ${fmt(ml, 1)}ms, ` +
    `bare spawn+poll ${fmt(mb, 1)}ms (${fmt(ratio, 2)}x) — target: ≤1.2x ${mark(ratio <= 1.2)}`)
  return { lib: ml, bare: mb, ratio }
}

// ---- 3. RSS per connected VM ---------------------------------------------

// VmRSS after full GCs, once two readings 50 ms apart agree within 8 KiB (V8 and
// malloc return memory lazily; one reading right after a burst of work is noisy).
async function settledRss () {
  let prev = -Infinity
  for (let i = 0; i < 40; i++) {
    global.gc()
    await new Promise((resolve) => setTimeout(resolve, 50))
    const now = vmRssKiB()
    if (Math.abs(now - prev) <= 8) return now
    prev = now
  }
  return prev
}

async function benchRss () {
  const vms = []
  try {
    for (let i = 0; i < RSS_VMS + 1; i++) vms.push(await startVm())
    // Warm the code path once (JIT, lazy statics) on a VM outside the measured N.
    const w = new QMPClient(vms[RSS_VMS].sock)
    await w.connect()
    await w.queryStatus()
    await w.disconnect()
    const before = await settledRss()
    const clients = []
    for (let i = 0; i < RSS_VMS; i++) {
      const c = new QMPClient(vms[i].sock)
      await c.connect()
      await c.queryStatus()
      clients.push(c)
    }
    const after = await settledRss()
    const per = (after - before) / RSS_VMS
    console.log(`RSS per connected VM: ${fmt(per, 1)} KiB (N=${RSS_VMS}; VmRSS ${before} → ${after} KiB) — ` +
      `target: <256 KiB ${mark(per < 256)}`)
    for (const c of clients) await c.disconnect()
    return { before, after, per }
  } finally {
    for (const vm of vms) await kill(vm.proc)
  }
}

// ---- main ----------------------------------------------------------------

async function main () {
  if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc (npm run bench:qmp does)')
  checkReleaseBuild()
  ensureFloor()
  peerPython = ensurePeer()
  console.log(`infinivirt QMP bench: ${os.cpus().length} cores, ${os.cpus()[0].model.trim()}, QEMU under TCG, node ${process.version}`)
  // Optional section names on the command line run only those (e.g. `node --expose-gc bench/qmp.js rss`).
  const only = process.argv.slice(2)
  const want = (s) => only.length === 0 || only.includes(s)
  const met = []
  if (want('roundtrip')) { const r = await benchRoundTrip(); met.push(r.vsFloor <= P50_TARGET && r.vsPeer >= 2 && r.tailVsFloor <= P99_TARGET) }
  if (want('spawn')) met.push((await benchSpawn()).ratio <= 1.2)
  if (want('rss')) met.push((await benchRss()).per < 256)
  console.log(met.every(Boolean) ? 'All targets met.' : 'Some targets missed (see ✗ above).')
}

let interrupted = false
process.on('SIGINT', () => {
  if (interrupted) return
  interrupted = true
  cleanup().finally(() => process.exit(130))
})

main()
  .catch((e) => { console.error(e); process.exitCode = 1 })
  .finally(cleanup)
