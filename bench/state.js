'use strict'
// State benchmarks (issue 6 item 7). Run with `npm run bench:state` (builds the
// release addon first). Needs root (a private PostgreSQL is started as `postgres`)
// or DATABASE_URL, and QEMU.
//
// 1. SIGKILL → database updated: a paused TCG QEMU watched by HealthMonitor.watchVM
//    is killed; the latency is the database's own clock_timestamp() of the status
//    write (a trigger) minus the wall-clock time of kill(). Native store vs
//    PrismaAdapter over the real Prisma Client (6.16, @prisma/adapter-pg), against the original design's 30 s sweep
//    (a crash waits 15 s for it on average).
// 2. One HealthMonitor.checkAllVMs() over 1,000 running VMs with live (fake) PIDs:
//    the process's CPU time (process.cpuUsage(), all threads). Native store vs
//    PrismaAdapter, and a plain JS sweep of the spec (findRunningVMs through
//    PrismaAdapter, process.kill(pid, 0) and /proc/<pid>/stat) as the peer.
// 3. Status writes per second, sequential and 8 in flight: native store vs
//    PrismaAdapter over the same PostgreSQL, measured in the same run.
//
// Every QEMU started is killed and the cluster stopped, also on failure.

const fs = require('fs')
const os = require('os')
const path = require('path')
const { spawn } = require('child_process')
const { Client } = require('pg')
const iv = require('..')
const { startPostgres } = require('../__test__/helpers/postgres')
const { prismaClient, closePrisma } = require('../__test__/helpers/prisma')

const { QemuCommandBuilder, QemuProcess, HealthMonitor, PrismaAdapter, createStore } = iv

const KILL_RUNS = 15
const SWEEP_VMS = 1000
const SWEEP_RUNS = 7
const WRITE_SECONDS = 2

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-bench-state-'))
const live = new Set()
const closers = []
const monitors = []
let pg

const TRIGGER = `
CREATE TABLE "_StatusAt" ("seq" BIGSERIAL PRIMARY KEY, "machineId" TEXT, "status" TEXT, "at" TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION "_status_at"() RETURNS trigger AS $$
BEGIN
  IF NEW."status" IS DISTINCT FROM OLD."status" THEN
    INSERT INTO "_StatusAt" ("machineId", "status") VALUES (NEW."id", NEW."status");
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER "status_at" AFTER UPDATE ON "Machine" FOR EACH ROW EXECUTE FUNCTION "_status_at"();
`

function pct (xs, p) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

const fmt = (x, d = 1) => (x >= 100 ? x.toFixed(0) : x.toFixed(d))

async function sql (url, text, params) {
  const c = new Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query(text, params)).rows
  } finally {
    await c.end()
  }
}

async function paths (prefix) {
  const out = {}
  for (const kind of ['native', 'prisma']) {
    const url = await pg.createDatabase(`${prefix}_${kind}`)
    await sql(url, TRIGGER)
    const seed = createStore({ databaseUrl: url })
    closers.push(() => seed.close())
    let db
    if (kind === 'native') {
      db = createStore({ databaseUrl: `${url}?connection_limit=8` })
      closers.push(() => db.close())
    } else {
      const client = prismaClient(url, { max: 8 })
      closers.push(() => closePrisma(client))
      db = new PrismaAdapter(client)
    }
    out[kind] = { url, db, seed }
  }
  return out
}

// ---- 1. SIGKILL → database updated ---------------------------------------

async function startQemu (name) {
  const sock = path.join(dir, `${name}.sock`)
  const pidfile = path.join(dir, `${name}.pid`)
  const b = new QemuCommandBuilder()
    .addRawArg('-machine').addRawArg('none')
    .addRawArg('-display').addRawArg('none')
    .addRawArg('-nodefaults')
    .addRawArg('-S')
    .addQmp(sock)
    .setProcessOptions({ vmId: name, name, daemonize: true, pidfile })
  const p = new QemuProcess(name, b)
  live.add(p)
  await p.start()
  return { p, sock, pidfile }
}

async function killLatency (kind, target) {
  const hm = new HealthMonitor(target.db, { pidfileDir: dir })
  // Held from a module-level list: a HealthMonitor reachable only from its own
  // listeners can be garbage-collected while its watch is active, and the native
  // side then drops the 'crash' event (the facade is a WeakRef). The slower Prisma
  // path gives a GC the time to run mid-crash; the bench would wait forever.
  monitors.push(hm)
  const lat = []
  for (let i = 0; i < KILL_RUNS; i++) {
    const name = `k-${kind}-${i}`
    const q = await startQemu(name)
    await target.seed.insertRecord('Machine', { id: name, name, internalName: name, status: 'running', os: 'linux' })
    await target.seed.updateMachineConfiguration(name, { qemuPid: q.p.getPid(), qmpSocketPath: q.sock })
    hm.watchVM(name, q.p, { qmpSocketPath: q.sock, pidfile: q.pidfile })
    await new Promise((resolve) => setTimeout(resolve, 30)) // the watcher's QMP connection is up
    const crashed = new Promise((resolve) => hm.once('crash', resolve))
    const killedAt = performance.timeOrigin + performance.now() // wall-clock ms, sub-ms resolution
    process.kill(q.p.getPid(), 'SIGKILL')
    await crashed
    live.delete(q.p)
    const [row] = await sql(target.url, 'SELECT extract(epoch from "at") * 1000 AS ms FROM "_StatusAt" WHERE "machineId" = $1 AND "status" = \'off\'', [name])
    lat.push(Number(row.ms) - killedAt)
  }
  return lat
}

// ---- 2. one sweep over 1,000 VMs -----------------------------------------

async function seedSweep (target, pids) {
  const rows = []
  for (let i = 0; i < SWEEP_VMS; i++) rows.push(`('s${i}', 's${i}', 'vm-s${i}', 'running', 'linux', now())`)
  await sql(target.url, `INSERT INTO "Machine" ("id", "name", "internalName", "status", "os", "updatedAt") VALUES ${rows.join(', ')}`)
  const cfg = []
  for (let i = 0; i < SWEEP_VMS; i++) cfg.push(`('c${i}', 's${i}', ${pids[i % pids.length]}, 'vnet-s${i}', '/run/iv/s${i}.sock', now())`)
  await sql(target.url, `INSERT INTO "MachineConfiguration" ("id", "machineId", "qemuPid", "tapDeviceName", "qmpSocketPath", "updatedAt") VALUES ${cfg.join(', ')}`)
}

// The spec's sweep in plain JS (the original's algorithm), as the peer.
async function jsSweep (adapter) {
  const vms = await adapter.findRunningVMs()
  let alive = 0
  for (const vm of vms) {
    const pid = vm.MachineConfiguration?.qemuPid
    if (!pid) { alive++; continue }
    try {
      process.kill(pid, 0)
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z') alive++
    } catch (e) {
      if (e.code === 'EPERM') alive++
    }
  }
  return alive
}

async function cpuOf (fn) {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const r = await fn()
  const c = process.cpuUsage(c0)
  return { cpu: (c.user + c.system) / 1000, wall: performance.now() - t0, r }
}

async function sweeps (targets, pids) {
  const out = {}
  for (const [kind, t] of Object.entries(targets)) {
    await seedSweep(t, pids)
    const hm = new HealthMonitor(t.db, { enableCleanup: false })
    const cpu = []
    const wall = []
    for (let i = 0; i < SWEEP_RUNS; i++) {
      const m = await cpuOf(() => hm.checkAllVMs())
      if (m.r.alive !== SWEEP_VMS) throw new Error(`sweep saw ${m.r.alive} alive`)
      cpu.push(m.cpu)
      wall.push(m.wall)
    }
    out[kind] = { cpu, wall }
    if (kind === 'prisma') {
      const pc = []
      const pw = []
      for (let i = 0; i < SWEEP_RUNS; i++) {
        const m = await cpuOf(() => jsSweep(t.db))
        if (m.r !== SWEEP_VMS) throw new Error('peer sweep miscounted')
        pc.push(m.cpu)
        pw.push(m.wall)
      }
      out.peer = { cpu: pc, wall: pw }
    }
  }
  return out
}

// ---- 3. status writes per second -----------------------------------------

async function writes (target, inflight) {
  await target.seed.insertRecord('Machine', { id: `w${inflight}`, name: 'w', internalName: 'w', status: 'off', os: 'linux' }).catch(() => {})
  const id = `w${inflight}`
  let n = 0
  const end = performance.now() + WRITE_SECONDS * 1000
  const worker = async () => {
    while (performance.now() < end) {
      await target.db.updateMachineStatus(id, n % 2 ? 'running' : 'off')
      n++
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: inflight }, worker))
  return n / ((performance.now() - t0) / 1000)
}

// ---- main ----------------------------------------------------------------

async function cleanup () {
  for (const p of live) await p.forceKill().catch(() => {})
  live.clear()
  for (const c of closers.reverse()) await c().catch(() => {})
  closers.length = 0
  if (pg) await pg.stop().catch(() => {})
  pg = null
  fs.rmSync(dir, { recursive: true, force: true })
}

process.on('SIGINT', () => { cleanup().finally(() => process.exit(130)) })

async function main () {
  // Events reach JS through weak threadsafe functions, which never keep Node alive:
  // hold the loop open while the bench waits for them.
  const keepAlive = setInterval(() => {}, 1000)
  closers.unshift(async () => clearInterval(keepAlive))
  pg = await startPostgres()
  console.log(`# State benchmarks (${os.cpus().length} CPUs, ${os.cpus()[0].model.trim()}, Node ${process.version})\n`)

  const k = await paths('kill')
  const kill = {}
  for (const kind of ['native', 'prisma']) kill[kind] = await killLatency(kind, k[kind])
  console.log('SIGKILL → database updated (ms, %d runs)', KILL_RUNS)
  for (const kind of ['native', 'prisma']) {
    console.log(`  ${kind.padEnd(7)} p50 ${fmt(pct(kill[kind], 50))}  p95 ${fmt(pct(kill[kind], 95))}  max ${fmt(Math.max(...kill[kind]))}`)
  }
  console.log(`  original design: 30 s sweep → ${fmt(15000)} ms on average, ${fmt(15000 / pct(kill.native, 50), 0)}× the native p50\n`)

  // live PIDs that are not QEMU: a few sleepers
  const sleepers = Array.from({ length: 8 }, () => spawn('sleep', ['600'], { stdio: 'ignore' }))
  closers.push(async () => { for (const s of sleepers) s.kill('SIGKILL') })
  const sw = await sweeps(await paths('sweep'), sleepers.map((s) => s.pid))
  console.log('One checkAllVMs() over %d running VMs (process CPU ms / wall ms, median of %d)', SWEEP_VMS, SWEEP_RUNS)
  for (const kind of ['native', 'prisma', 'peer']) {
    const label = kind === 'peer' ? 'JS sweep (spec algorithm, Prisma client)' : kind
    console.log(`  ${label.padEnd(42)} cpu ${fmt(pct(sw[kind].cpu, 50))}  wall ${fmt(pct(sw[kind].wall, 50))}`)
  }
  console.log(`  native CPU vs peer: ${fmt(pct(sw.peer.cpu, 50) / pct(sw.native.cpu, 50), 2)}× less\n`)

  const w = await paths('writes')
  console.log('Status writes per second (%d s each)', WRITE_SECONDS)
  for (const inflight of [1, 8]) {
    const nat = await writes(w.native, inflight)
    const pri = await writes(w.prisma, inflight)
    console.log(`  ${inflight} in flight: native ${fmt(nat, 0)}/s  Prisma client ${fmt(pri, 0)}/s  ratio ${fmt(nat / pri, 2)}×`)
  }
}

main().then(cleanup, async (e) => {
  console.error(e)
  await cleanup()
  process.exit(1)
})
