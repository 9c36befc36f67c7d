#!/usr/bin/env node
'use strict'

// The "main job": start a real VM under TCG through the public API of
// @infinibay/infinivirt and talk to it over QMP.
//
//   1. make a temp dir and a 1 GiB qcow2 disk (qemu-img; the storage API is not used here)
//   2. build the QEMU argv with QemuCommandBuilder + SpiceConfig
//   3. spawn QEMU (no shell, -daemonize) and wait for its pidfile
//   4. QMP: greeting, qmp_capabilities, query-status, wait, query-status, quit
//   5. wait for the QEMU process to exit, remove the temp dir, print a summary
//
// Any failure exits non-zero after cleaning up. Cleanup only ever signals the
// QEMU process this script started, after checking /proc/<pid>/cmdline.

const childProcess = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const { QemuCommandBuilder, SpiceConfig } = require('..')

const PIDFILE_TIMEOUT_MS = 30_000
const QMP_CONNECT_TIMEOUT_MS = 10_000
const QMP_COMMAND_TIMEOUT_MS = 10_000
const EXIT_TIMEOUT_MS = 20_000
const RUN_FOR_MS = 3_000

const started = Date.now()
const state = {
  tmpDir: null,
  pidfile: null,
  launcher: null, // the spawned `qemu-system-x86_64 -daemonize` parent
  qemuPid: null, // the daemonized QEMU, from the pidfile
  qmp: null,
  cleanedUp: false,
}

function step (msg) {
  const t = ((Date.now() - started) / 1000).toFixed(2).padStart(6)
  console.log(`[main-job +${t}s] ${msg}`)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// --- helpers ---------------------------------------------------------------

/** First TCP port >= 5900 on 127.0.0.1 that we can bind right now. */
async function findFreePort (from = 5900, to = 5999) {
  for (let port = from; port <= to; port++) {
    const free = await new Promise((resolve) => {
      const srv = net.createServer()
      srv.once('error', () => resolve(false))
      srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
        srv.close(() => resolve(true))
      })
    })
    if (free) return port
  }
  throw new Error(`no free TCP port in ${from}-${to} on 127.0.0.1`)
}

/** Process state letter from /proc/<pid>/stat, or null if the process is gone. */
function procState (pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // "pid (comm) S ..." — comm may contain spaces/parens, so split after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
  } catch {
    return null
  }
}

/** Alive = exists and is not a zombie (a daemonized QEMU may be reaped late). */
function isAlive (pid) {
  const s = procState(pid)
  return s !== null && s !== 'Z' && s !== 'X'
}

/** True only if <pid> is the QEMU we started: its argv names qemu-system and our pidfile. */
function isOurQemu (pid, pidfile) {
  let argv
  try {
    argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  } catch {
    return false
  }
  return argv.some((a) => a.includes('qemu-system')) && argv.includes(pidfile)
}

async function waitFor (what, timeoutMs, fn, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(intervalMs)
  }
}

// --- QMP -------------------------------------------------------------------

/** Minimal QMP client: newline-delimited JSON over a unix socket, ids to match replies. */
class Qmp {
  constructor (socketPath) {
    this.socketPath = socketPath
    this.sock = null
    this.buf = ''
    this.nextId = 1
    this.pending = new Map() // id -> { resolve, reject, timer, cmd }
    this.greetingWaiter = null
    this.closed = false
    this.events = []
  }

  /** Connects and resolves with the greeting object ({"QMP": {...}}). */
  connect () {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no QMP greeting within ${QMP_CONNECT_TIMEOUT_MS} ms`))
        this.close()
      }, QMP_CONNECT_TIMEOUT_MS)
      this.greetingWaiter = { resolve, reject, timer }
      this.sock = net.createConnection(this.socketPath)
      this.sock.setEncoding('utf8')
      this.sock.on('data', (chunk) => this.onData(chunk))
      this.sock.on('error', (err) => this.failAll(new Error(`QMP socket error: ${err.message}`)))
      this.sock.on('close', () => {
        this.closed = true
        this.failAll(new Error('QMP socket closed'))
      })
    })
  }

  onData (chunk) {
    this.buf += chunk
    let nl
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim()
      this.buf = this.buf.slice(nl + 1)
      if (line) this.onMessage(line)
    }
  }

  onMessage (line) {
    let msg
    try {
      msg = JSON.parse(line)
    } catch {
      this.failAll(new Error(`QMP sent invalid JSON: ${line.slice(0, 200)}`))
      return
    }
    if (msg.QMP && this.greetingWaiter) {
      const w = this.greetingWaiter
      this.greetingWaiter = null
      clearTimeout(w.timer)
      w.resolve(msg)
      return
    }
    if (msg.event) {
      this.events.push(msg.event)
      step(`QMP event: ${msg.event}`)
      return
    }
    const p = this.pending.get(msg.id)
    if (!p) return
    this.pending.delete(msg.id)
    clearTimeout(p.timer)
    if (msg.error) {
      p.reject(new Error(`QMP ${p.cmd} failed: ${msg.error.class}: ${msg.error.desc}`))
    } else {
      p.resolve(msg.return)
    }
  }

  failAll (err) {
    if (this.greetingWaiter) {
      const w = this.greetingWaiter
      this.greetingWaiter = null
      clearTimeout(w.timer)
      w.reject(err)
    }
    for (const [id, p] of this.pending) {
      this.pending.delete(id)
      clearTimeout(p.timer)
      p.reject(new Error(`${err.message} (while waiting for ${p.cmd})`))
    }
  }

  execute (cmd, args) {
    if (this.closed) return Promise.reject(new Error(`QMP socket closed before ${cmd}`))
    const id = this.nextId++
    const msg = { execute: cmd, id }
    if (args) msg.arguments = args
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`QMP ${cmd} got no reply within ${QMP_COMMAND_TIMEOUT_MS} ms`))
      }, QMP_COMMAND_TIMEOUT_MS)
      this.pending.set(id, { resolve, reject, timer, cmd })
      this.sock.write(JSON.stringify(msg) + '\n')
    })
  }

  close () {
    if (this.sock) this.sock.destroy()
    this.closed = true
  }
}

// --- cleanup ---------------------------------------------------------------

async function stopPid (pid, label) {
  if (!isAlive(pid)) return
  if (!isOurQemu(pid, state.pidfile)) {
    step(`not signalling ${label} PID ${pid}: /proc/${pid}/cmdline is not our QEMU`)
    return
  }
  step(`cleanup: sending SIGTERM to ${label} PID ${pid}`)
  try { process.kill(pid, 'SIGTERM') } catch {}
  const deadline = Date.now() + 5000
  while (isAlive(pid) && Date.now() < deadline) await sleep(100)
  if (isAlive(pid) && isOurQemu(pid, state.pidfile)) {
    step(`cleanup: PID ${pid} still alive, sending SIGKILL`)
    try { process.kill(pid, 'SIGKILL') } catch {}
    const killDeadline = Date.now() + 5000
    while (isAlive(pid) && Date.now() < killDeadline) await sleep(100)
  }
}

async function cleanup () {
  if (state.cleanedUp) return
  state.cleanedUp = true
  if (state.qmp) state.qmp.close()
  if (state.pidfile) {
    // The daemonized QEMU may exist even if we never read the pidfile.
    if (state.qemuPid === null) state.qemuPid = readPidfile()
    if (state.qemuPid !== null) await stopPid(state.qemuPid, 'QEMU')
    if (state.launcher && state.launcher.exitCode === null && state.launcher.signalCode === null) {
      await stopPid(state.launcher.pid, 'QEMU launcher')
    }
  }
  if (state.tmpDir) {
    fs.rmSync(state.tmpDir, { recursive: true, force: true })
    step(`removed ${state.tmpDir}`)
  }
}

function readPidfile () {
  try {
    const pid = Number.parseInt(fs.readFileSync(state.pidfile, 'utf8').trim(), 10)
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

// --- the job ---------------------------------------------------------------

/** Spawns the -daemonize launcher and resolves when it exits 0 (QEMU is then up). */
function launch (command, args) {
  return new Promise((resolve, reject) => {
    const child = childProcess.spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    state.launcher = child
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { out += d })
    child.once('error', (err) => reject(new Error(`could not spawn ${command}: ${err.message}`)))
    child.once('exit', (code, signal) => {
      // Give the pipes a moment to flush what QEMU printed before exiting.
      setImmediate(() => {
        if (out.trim()) step(`QEMU said: ${out.trim()}`)
        if (code === 0) resolve()
        else reject(new Error(`${command} exited with ${signal ? 'signal ' + signal : 'code ' + code}${out.trim() ? ': ' + out.trim() : ''}`))
      })
    })
  })
}

async function main () {
  step('creating a temp dir')
  state.tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'infinivirt-main-job-'))
  const diskPath = path.join(state.tmpDir, 'disk.qcow2')
  const qmpPath = path.join(state.tmpDir, 'qmp.sock')
  state.pidfile = path.join(state.tmpDir, 'qemu.pid')
  step(`temp dir: ${state.tmpDir}`)

  step('creating a 1 GiB qcow2 disk with qemu-img')
  childProcess.execFileSync('qemu-img', ['create', '-f', 'qcow2', diskPath, '1G'], { stdio: ['ignore', 'pipe', 'pipe'] })

  const port = await findFreePort()
  step(`SPICE will listen on 127.0.0.1:${port}`)

  step('building the QEMU command with QemuCommandBuilder')
  const builder = new QemuCommandBuilder()
    .setMachine('q35', { accel: 'tcg' })
    .setCpu('max', 1)
    .setMemory(0.5)
    .addDisks([{ path: diskPath, format: 'qcow2', bus: 'virtio', cache: 'writeback', discard: true }])
    .addSpice(new SpiceConfig({ port, addr: '127.0.0.1', disableTicketing: true, enableAgent: false }))
    .addQmp(qmpPath)
    .setBootOrder(['c'])
    .setProcessOptions({ vmId: 'main-job', name: 'infinivirt-main-job', daemonize: true, pidfile: state.pidfile })
  const { command, args } = builder.buildCommand()
  console.log(`  ${command} ${args.join(' ')}`)

  step('spawning QEMU (no shell; it daemonizes once it is ready)')
  await launch(command, args)

  step('waiting for the pidfile')
  state.qemuPid = await waitFor('the QEMU pidfile', PIDFILE_TIMEOUT_MS, readPidfile)
  if (!isOurQemu(state.qemuPid, state.pidfile)) {
    throw new Error(`PID ${state.qemuPid} from the pidfile is not the QEMU we started`)
  }
  step(`QEMU is running as PID ${state.qemuPid}`)

  step(`connecting to QMP at ${qmpPath}`)
  await waitFor('the QMP socket', QMP_CONNECT_TIMEOUT_MS, () => fs.existsSync(qmpPath))
  state.qmp = new Qmp(qmpPath)
  const greeting = await state.qmp.connect()
  const v = greeting.QMP.version && greeting.QMP.version.qemu
  step(`QMP greeting received (QEMU ${v ? `${v.major}.${v.minor}.${v.micro}` : 'unknown version'})`)

  step('sending qmp_capabilities')
  await state.qmp.execute('qmp_capabilities')

  step('sending query-status')
  const status1 = await state.qmp.execute('query-status')
  console.log(`  ${JSON.stringify(status1)}`)
  if (status1.status !== 'running') throw new Error(`expected status "running", got "${status1.status}"`)

  step(`letting the guest run for ${RUN_FOR_MS / 1000} s`)
  await sleep(RUN_FOR_MS)
  if (!isAlive(state.qemuPid)) throw new Error(`QEMU PID ${state.qemuPid} died while running`)

  step('sending query-status again')
  const status2 = await state.qmp.execute('query-status')
  console.log(`  ${JSON.stringify(status2)}`)
  if (status2.status !== 'running') throw new Error(`expected status "running", got "${status2.status}"`)

  step('sending quit')
  await state.qmp.execute('quit')

  step(`waiting for QEMU PID ${state.qemuPid} to exit`)
  const pid = state.qemuPid
  await waitFor(`QEMU PID ${pid} to exit`, EXIT_TIMEOUT_MS, () => !isAlive(pid))
  state.qemuPid = null
  step('QEMU exited')

  await cleanup()

  const secs = ((Date.now() - started) / 1000).toFixed(1)
  console.log(
    `[main-job] SUMMARY: OK — started QEMU under TCG (PID ${pid}, SPICE 127.0.0.1:${port}), ` +
    `status "${status1.status}" then "${status2.status}", quit cleanly, temp dir removed, ${secs}s total`
  )
}

let failing = false
async function fail (err) {
  if (failing) return
  failing = true
  console.error(`[main-job] FAILED: ${err && err.stack ? err.stack : err}`)
  try {
    await cleanup()
  } catch (cleanupErr) {
    console.error(`[main-job] cleanup failed too: ${cleanupErr && cleanupErr.message}`)
  }
  console.error('[main-job] SUMMARY: FAILED')
  process.exit(1)
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => fail(new Error(`interrupted by ${sig}`)))
}

main().catch(fail)
