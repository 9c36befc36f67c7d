'use strict'
// Guest agent benchmarks (issue 14 item 6). Run with `npm run bench:agent`, which
// builds the release addon first.
//
// One TCG QEMU boots the test guest with QEMU's qemu-ga on its virtio-serial port
// (scripts/build-test-guest.sh, iv.agent=1). Then:
// 1. guest-ping round trip: GuestAgentClient.ping() from JS vs a bare Node socket
//    client (0xFF + guest-sync-delimited once, then one JSON line per ping, replies
//    matched by id) on the same socket. The chardev serves one peer at a time, so the
//    two take turns in interleaved rounds. Targets: p50 within 1.5x, p99 within 2x.
// 2. guestExec('/bin/true') end to end vs the bare client running guest-exec and
//    polling guest-exec-status back to back (the fastest any client can learn the exit).
//
// Every figure is a ratio against the peer measured in the same run; nothing here is
// a timed test. The QEMU is killed through its QemuProcess handle and the temp dir
// removed, also on failure or Ctrl-C.

const fs = require('fs')
const net = require('net')
const os = require('os')
const path = require('path')
const { QemuCommandBuilder, QemuProcess, GuestAgentClient } = require('..')
const { guestArgs, waitForMarker } = require('../__test__/helpers/guest')

const ROUNDS = 6
const PINGS_PER_ROUND = 300
const EXECS_PER_ROUND = 10

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-bench-agent-'))
let proc = null

function percentile (sorted, p) {
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1]
}
const mark = (ok) => (ok ? '✓' : '✗')

async function cleanup () {
  if (proc) {
    try { await proc.forceKill() } catch (e) { console.error(`cleanup: forceKill failed: ${e.message}`) }
    proc = null
  }
  fs.rmSync(dir, { recursive: true, force: true })
}

async function boot () {
  const sock = path.join(dir, 'ga.sock')
  const serial = path.join(dir, 'serial.log')
  const b = new QemuCommandBuilder()
    .setMachine('q35', { accel: 'tcg' })
    .setCpu('max')
    .setMemory(0.25)
    .addRawArg('-display').addRawArg('none')
    .addRawArg('-nodefaults')
    .addGuestAgentChannel(sock)
    .addQmp(path.join(dir, 'qmp.sock'))
    .setProcessOptions({ vmId: 'agentbench', name: 'agentbench', daemonize: true, pidfile: path.join(dir, 'qemu.pid') })
  for (const a of guestArgs({ mode: 'wait', agent: true, serialPath: serial })) b.addRawArg(a)
  proc = new QemuProcess('agentbench', b)
  await proc.start()
  await waitForMarker(serial, 'IV-READY', 120000)
  return sock
}

// The bare peer: a socket, one resync, then line-delimited JSON matched by id.
class BareClient {
  async connect (sock) {
    this.s = net.createConnection(sock)
    await new Promise((resolve, reject) => { this.s.once('connect', resolve); this.s.once('error', reject) })
    this.buf = Buffer.alloc(0)
    this.waiters = new Map()
    this.synced = null
    this.s.on('data', (d) => this._data(d))
    this.nextId = 1
    const nonce = Math.floor(Math.random() * 2 ** 40)
    const synced = new Promise((resolve) => { this.synced = { nonce, resolve } })
    this.s.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id: nonce } }) + '\n')]))
    await synced
  }

  _data (d) {
    this.buf = Buffer.concat([this.buf, d])
    if (this.synced) {
      const at = this.buf.indexOf(0xff)
      if (at < 0) { this.buf = Buffer.alloc(0); return }
      const nl = this.buf.indexOf(0x0a, at)
      if (nl < 0) return
      const v = JSON.parse(this.buf.subarray(at + 1, nl).toString())
      this.buf = this.buf.subarray(nl + 1)
      if (v.return === this.synced.nonce) { const r = this.synced.resolve; this.synced = null; r() }
      return
    }
    let nl
    while ((nl = this.buf.indexOf(0x0a)) >= 0) {
      const line = this.buf.subarray(0, nl).toString()
      this.buf = this.buf.subarray(nl + 1)
      if (!line.trim()) continue
      const v = JSON.parse(line)
      const w = this.waiters.get(v.id)
      if (w) { this.waiters.delete(v.id); v.error ? w.reject(new Error(v.error.desc)) : w.resolve(v.return) }
    }
  }

  execute (command, args) {
    const id = String(this.nextId++)
    const msg = { execute: command, id }
    if (args) msg.arguments = args
    return new Promise((resolve, reject) => {
      this.waiters.set(id, { resolve, reject })
      this.s.write(JSON.stringify(msg) + '\n')
    })
  }

  async exec (pathName) {
    const { pid } = await this.execute('guest-exec', { path: pathName, 'capture-output': true })
    for (;;) {
      const st = await this.execute('guest-exec-status', { pid })
      if (st.exited) return st.exitcode
    }
  }

  close () { this.s.destroy() }
}

async function timeEach (n, fn) {
  const out = []
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint()
    await fn()
    out.push(Number(process.hrtime.bigint() - t) / 1e3)
  }
  return out
}

function report (title, ours, bare, targets) {
  ours.sort((a, b) => a - b)
  bare.sort((a, b) => a - b)
  console.log(`\n${title} (${ours.length} each, µs)`)
  console.log('             p50        p99')
  console.log(`  Infinivirt ${percentile(ours, 50).toFixed(0).padStart(8)} ${percentile(ours, 99).toFixed(0).padStart(10)}`)
  console.log(`  bare       ${percentile(bare, 50).toFixed(0).padStart(8)} ${percentile(bare, 99).toFixed(0).padStart(10)}`)
  const r50 = percentile(ours, 50) / percentile(bare, 50)
  const r99 = percentile(ours, 99) / percentile(bare, 99)
  if (targets) {
    console.log(`  ratio p50 ${r50.toFixed(2)}x (target ≤ ${targets[0]}x) ${mark(r50 <= targets[0])}`)
    console.log(`  ratio p99 ${r99.toFixed(2)}x (target ≤ ${targets[1]}x) ${mark(r99 <= targets[1])}`)
  } else {
    console.log(`  ratio p50 ${r50.toFixed(2)}x, p99 ${r99.toFixed(2)}x`)
  }
}

async function main () {
  console.log('booting the test guest with qemu-ga under TCG …')
  const sock = await boot()
  const pingOurs = []
  const pingBare = []
  const execOurs = []
  const execBare = []
  for (let round = 0; round < ROUNDS; round++) {
    const c = new GuestAgentClient(sock)
    await c.connect()
    await c.ping() // warm
    pingOurs.push(...await timeEach(PINGS_PER_ROUND, () => c.ping()))
    execOurs.push(...await timeEach(EXECS_PER_ROUND, () => c.guestExec('/bin/true')))
    await c.disconnect()

    const b = new BareClient()
    await b.connect(sock)
    await b.execute('guest-ping')
    pingBare.push(...await timeEach(PINGS_PER_ROUND, () => b.execute('guest-ping')))
    execBare.push(...await timeEach(EXECS_PER_ROUND, () => b.exec('/bin/true')))
    b.close()
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  report('guest-ping round trip', pingOurs, pingBare, [1.5, 2])
  report("guestExec('/bin/true') end to end", execOurs, execBare, null)
}

process.on('SIGINT', () => { cleanup().finally(() => process.exit(130)) })
main().then(cleanup, async (e) => {
  console.error(e)
  await cleanup()
  process.exitCode = 1
})
