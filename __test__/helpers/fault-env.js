'use strict'
// Helpers of the fault suite (__test__/net/lifecycle-faults.test.js): managers in child
// processes (helpers/manager-child.js) that the test can SIGKILL by PID, and the
// host-versus-store check every fault scenario ends with. The host is read directly
// (/proc, ip, nft, the file system), never through the library under test.

const fs = require('node:fs')
const path = require('node:path')
const { spawn, execFileSync } = require('node:child_process')

const netns = require('./netns')
const env = require('./lifecycle-env')

const CHILD = path.join(__dirname, 'manager-child.js')

// ---------------------------------------------------------------------------
// Managers in child processes
// ---------------------------------------------------------------------------

// Every child started by this module, so afterEach can SIGKILL what is left (by PID).
const children = new Set()

class ManagerChild {
  constructor (job, { label = 'manager' } = {}) {
    this.label = label
    this.events = []
    this.stderr = ''
    this.waiters = []
    this.nextId = 1
    this.proc = spawn(process.execPath, [CHILD, JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.pid = this.proc.pid
    children.add(this)
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal }
        children.delete(this)
        resolve(this.exit)
        this._notify()
      })
    })
    this.proc.stdin.on('error', () => {})
    let buf = ''
    this.proc.stdout.setEncoding('utf8')
    this.proc.stdout.on('data', (d) => {
      buf += d
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        if (!line.trim()) continue
        let ev
        try { ev = JSON.parse(line) } catch { ev = { event: 'stdout', line } }
        ev.received = Date.now()
        this.events.push(ev)
      }
      this._notify()
    })
    this.proc.stderr.setEncoding('utf8')
    this.proc.stderr.on('data', (d) => { this.stderr += d })
  }

  _notify () {
    for (const w of this.waiters.slice()) w()
  }

  // Resolves with the first event matching `pred` (a name or a function); rejects on
  // timeout, or when the child exits (or reports `fatal`) without one.
  waitFor (pred, timeoutMs = 30000) {
    const match = typeof pred === 'string' ? (e) => e.event === pred : pred
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.events.find(match)
        if (hit) return done(null, hit)
        const fatal = this.events.find((e) => e.event === 'fatal')
        if (fatal) return done(new Error(`${this.label} (pid ${this.pid}) failed: ${fatal.stage}: ${fatal.code} ${fatal.message}`))
        if (this.exit) return done(new Error(`${this.label} (pid ${this.pid}) exited (${JSON.stringify(this.exit)}) before ${typeof pred === 'string' ? pred : 'the awaited event'}; stderr tail:\n${this.stderr.slice(-2000)}`))
      }
      const timer = setTimeout(() => done(new Error(`${this.label} (pid ${this.pid}): timed out after ${timeoutMs} ms waiting for ${typeof pred === 'string' ? pred : 'an event'}; events: ${JSON.stringify(this.events.map((e) => e.event))}; stderr tail:\n${this.stderr.slice(-2000)}`)), timeoutMs)
      const done = (err, v) => {
        clearTimeout(timer)
        this.waiters = this.waiters.filter((w) => w !== check)
        if (err) reject(err)
        else resolve(v)
      }
      this.waiters.push(check)
      check()
    })
  }

  send (msg) {
    this.proc.stdin.write(`${JSON.stringify(msg)}\n`)
  }

  go () {
    this.send({ cmd: 'go' })
  }

  // Sends a command to a `stay` child; resolves with its reply { ok, result | code, message }.
  async request (cmd, vmId, config, timeoutMs = 60000) {
    const id = this.nextId++
    this.send({ id, cmd, vmId, config })
    return this.waitFor((e) => e.event === 'reply' && e.id === id, timeoutMs)
  }

  // Like request, but returns the result and throws (with the child's code) on a rejection.
  async call (cmd, vmId, config, timeoutMs = 60000) {
    const r = await this.request(cmd, vmId, config, timeoutMs)
    if (!r.ok) throw Object.assign(new Error(`${this.label}: ${cmd}(${vmId ?? ''}) rejected: ${r.code} ${r.message}`), { code: r.code })
    return r.result
  }

  kill (signal = 'SIGKILL') {
    if (this.exit) return false
    try {
      process.kill(this.pid, signal)
      return true
    } catch {
      return false
    }
  }

  async close (timeoutMs = 15000) {
    if (this.exit) return this.exit
    this.send({ cmd: 'exit' })
    this.proc.stdin.end()
    const t = setTimeout(() => this.kill(), timeoutMs)
    const r = await this.exited
    clearTimeout(t)
    return r
  }
}

async function killAllChildren () {
  for (const c of [...children]) {
    c.kill()
    await Promise.race([c.exited, env.sleep(5000)])
  }
}

// ---------------------------------------------------------------------------
// The host and the store, side by side
// ---------------------------------------------------------------------------

// The files and names a manager with `dirs` uses for a VM with internalName `vm-<id>`.
function vmPaths (dirs, vmId) {
  const internal = `vm-${vmId}`
  return {
    internal,
    pidfile: path.join(dirs.pidfileDir, `${internal}.pid`),
    socket: path.join(dirs.qmpSocketDir, `${internal}.sock`),
    tap: env.tapNameOf(vmId),
    chain: chainNameOf(vmId),
    // Every disk image of the VM: `<internal>.qcow2`, `<internal>-disk1.qcow2`, …
    disks: () => env.filesIn(dirs.diskDir).filter((f) => f === `${internal}.qcow2` || f.startsWith(`${internal}-disk`)).map((f) => path.join(dirs.diskDir, f))
  }
}

// `vm_<first 8 alphanumerics of the id>`, computed here (not through the library).
function chainNameOf (vmId) {
  return `vm_${vmId.replace(/[^a-z0-9]/gi, '').slice(0, 8).toLowerCase()}`
}

// QEMU processes whose /proc/<pid>/cmdline holds `-pidfile <pidfile>` (not zombies),
// daemons only. A `-daemonize` launch briefly shows the same argv three times: the
// launcher (a child of the manager, i.e. of node) waits while an intermediate process
// forks the daemon and exits (the daemon is then reparented). Launchers and
// intermediates are left out: a launcher's parent is node, an intermediate is the
// parent of another process in the list.
function qemusOf (pidfile) {
  const all = env.qemusWithPidfile(pidfile)
  const commOf = (pid) => { try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() } catch { return '' } }
  // A process that exited while the list was read (an intermediate that just forked
  // the daemon) has no parent any more: it is not counted.
  return all.filter((pid) => {
    const parent = netns.parentOf(pid)
    return parent > 0 && !all.includes(parent) && commOf(parent) !== 'node'
  })
}

// The targets of /proc/<pid>/fd/* (null when unreadable).
function openFiles (pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try { return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) } catch { return null }
    }).filter(Boolean)
  } catch {
    return null
  }
}

function normaliseRow (row) {
  if (!row) return null
  const c = row.configuration || {}
  return {
    status: row.status,
    qemuPid: c.qemuPid ?? null,
    tapDeviceName: c.tapDeviceName ?? null,
    qmpSocketPath: c.qmpSocketPath ?? null
  }
}

// Everything the check compares, as one plain object (also what a failure prints).
function observe (vmId, { dirs, row, foreign = [] }) {
  const p = vmPaths(dirs, vmId)
  const link = netns.linkInfo(p.tap)
  const qemus = qemusOf(p.pidfile).filter((pid) => !foreign.includes(pid))
  const disks = p.disks()
  const o = {
    row: normaliseRow(row),
    qemus,
    tapExists: link !== null,
    tapMaster: link ? (link.master ?? null) : null,
    tapCarrier: link ? link.flags.includes('LOWER_UP') : false,
    chain: env.nftChainExists(p.chain),
    inVmPorts: env.nftElements('set', 'vm_ports').includes(p.tap),
    inToVm: env.nftElements('map', 'to_vm').includes(p.tap),
    socket: fs.existsSync(p.socket),
    pidfile: fs.existsSync(p.pidfile) ? fs.readFileSync(p.pidfile, 'utf8').trim() : null,
    disks: disks.map((d) => path.basename(d)),
    qemuDiskFds: null
  }
  if (qemus.length === 1) {
    const files = openFiles(qemus[0]) || []
    o.qemuDiskFds = files.filter((f) => f.startsWith(dirs.diskDir)).map((f) => f.slice(dirs.diskDir.length + 1)).sort()
  }
  return o
}

// What is wrong with `o` as each end state; [] = it is that state.
//   running  row running with qemuPid = the one QEMU of ours, TAP on `bridge` with
//            carrier, chain + both dispatch elements, socket + pidfile (= the PID),
//            disks present and open (not deleted) in that QEMU
//   off      row in offStatuses with qemuPid null; no QEMU; TAP (if any) not on a
//            bridge; no dispatch element; no socket, no pidfile; disks kept
//   undone   an undone createVM: row off, no tapDeviceName; no QEMU, no TAP, no
//            chain, no dispatch element, no socket, no pidfile, no disk at all
//   destroyed  destroyVM done: row off, no tapDeviceName/qemuPid; no QEMU, TAP, chain,
//            dispatch element, socket or pidfile (the disks stay, API §5.8)
function mismatches (o, state, { bridge, offStatuses = ['off'], tap, foreignPidfile = false }) {
  const bad = []
  const want = (ok, what) => { if (!ok) bad.push(what) }
  const r = o.row
  want(r !== null, 'the row exists')
  if (!r) return bad
  const noDispatch = () => want(!o.inVmPorts && !o.inToVm, `no dispatch element for ${tap} (vm_ports: ${o.inVmPorts}, to_vm: ${o.inToVm})`)
  const noFiles = () => {
    want(!o.socket, 'no QMP socket file')
    if (!foreignPidfile) want(o.pidfile === null, `no pidfile (holds ${o.pidfile})`)
  }
  if (state === 'running') {
    want(r.status === 'running', `row status running (is ${r.status})`)
    want(o.qemus.length === 1, `exactly one QEMU of ours (found ${JSON.stringify(o.qemus)})`)
    want(o.qemus.length === 1 && r.qemuPid === o.qemus[0], `row qemuPid = the live QEMU (row ${r.qemuPid}, host ${JSON.stringify(o.qemus)})`)
    want(r.tapDeviceName === tap, `row tapDeviceName ${tap} (is ${r.tapDeviceName})`)
    want(o.tapExists && o.tapMaster === bridge, `TAP ${tap} on bridge ${bridge} (exists ${o.tapExists}, master ${o.tapMaster})`)
    want(o.tapCarrier, `TAP ${tap} has carrier (LOWER_UP)`)
    want(o.chain, 'the VM chain exists')
    want(o.inVmPorts && o.inToVm, `dispatch elements for ${tap} (vm_ports: ${o.inVmPorts}, to_vm: ${o.inToVm})`)
    want(o.socket, 'the QMP socket file exists')
    want(o.qemus.length === 1 && o.pidfile === String(o.qemus[0]), `the pidfile holds the live QEMU's PID (holds ${o.pidfile})`)
    want(o.disks.length > 0, 'the disk images exist')
    want(o.qemuDiskFds !== null && o.disks.every((d) => o.qemuDiskFds.includes(d)), `the QEMU has every disk open (disks ${JSON.stringify(o.disks)}, open ${JSON.stringify(o.qemuDiskFds)})`)
    want(o.qemuDiskFds === null || !o.qemuDiskFds.some((f) => f.endsWith('(deleted)')), `no deleted disk open in the QEMU (${JSON.stringify(o.qemuDiskFds)})`)
  } else if (state === 'off') {
    want(offStatuses.includes(r.status), `row status one of ${offStatuses.join('/')} (is ${r.status})`)
    want(r.qemuPid === null, `row qemuPid null (is ${r.qemuPid})`)
    want(o.qemus.length === 0, `no QEMU of ours (found ${JSON.stringify(o.qemus)})`)
    want(o.tapMaster === null, `TAP ${tap} not on a bridge (master ${o.tapMaster})`)
    noDispatch()
    noFiles()
    want(o.disks.length > 0, 'the disk images are kept')
  } else if (state === 'undone' || state === 'destroyed') {
    // Nothing of the VM's network is left; an undone create has no disk either
    // (destroy keeps the disks).
    want(r.status === 'off', `row status off (is ${r.status})`)
    want(r.qemuPid === null && r.tapDeviceName === null, `row qemuPid and tapDeviceName null (are ${r.qemuPid}, ${r.tapDeviceName})`)
    want(o.qemus.length === 0, `no QEMU of ours (found ${JSON.stringify(o.qemus)})`)
    want(!o.tapExists, `no TAP ${tap}`)
    want(!o.chain, 'no VM chain')
    noDispatch()
    noFiles()
    if (state === 'undone') want(o.disks.length === 0, `no disk image (found ${JSON.stringify(o.disks)})`)
  } else {
    throw new Error(`unknown end state ${state}`)
  }
  return bad
}

// The host-versus-store check. `readRow()` gives the store row (findMachineWithConfig
// shape). Returns the end state (one of `allowed`) the host and the row agree on;
// throws an Error naming, for every allowed state, what does not match, plus the
// whole observation.
//   dirs        the manager's diskDir / qmpSocketDir / pidfileDir
//   bridge      the VM's bridge
//   allowed     e.g. ['running', 'off'] or ['running', 'undone']
//   offStatuses row statuses that count as off (default ['off'])
//   foreign     PIDs that are not ours (a stranger QEMU using the VM's pidfile path)
//   foreignPidfile  the pidfile path belongs to such a stranger: do not require it gone
//   settleMs    poll this long for a matching state (the host settles right after a
//               restart), then require the same state again 500 ms later
async function expectHostMatchesStore (vmId, { dirs, bridge, readRow, allowed, offStatuses, foreign = [], foreignPidfile = false, settleMs = 3000, context = '' }) {
  const tap = env.tapNameOf(vmId)
  const opts = { bridge, offStatuses, tap, foreignPidfile }
  const deadline = Date.now() + settleMs
  let o
  let report
  for (;;) {
    o = observe(vmId, { dirs, row: await readRow(), foreign })
    report = allowed.map((s) => [s, mismatches(o, s, opts)])
    const hit = report.find(([, bad]) => bad.length === 0)
    if (hit) {
      await env.sleep(500)
      const again = observe(vmId, { dirs, row: await readRow(), foreign })
      const bad = mismatches(again, hit[0], opts)
      if (bad.length === 0) return hit[0]
      throw new Error(`${context}host and store agreed on "${hit[0]}" for VM ${vmId}, then 500 ms later no longer: ${bad.join('; ')}\nobserved: ${JSON.stringify(again)}`)
    }
    if (Date.now() > deadline) break
    await env.sleep(200)
  }
  throw new Error(`${context}host and store disagree for VM ${vmId} (allowed end states: ${allowed.join(', ')}):\n` +
    report.map(([s, bad]) => `  as ${s}: ${bad.join('; ')}`).join('\n') +
    `\nobserved: ${JSON.stringify(o)}`)
}

// `qemu-img check -U` of an image: { ok, output }.
function qemuImgCheck (file) {
  try {
    const out = execFileSync('qemu-img', ['check', '-U', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 })
    return { ok: true, output: out.trim() }
  } catch (e) {
    return { ok: false, output: `${e.stdout || ''}${e.stderr || ''}`.trim() || e.message }
  }
}

// ---------------------------------------------------------------------------
// Cleanup of what a test made in the namespace
// ---------------------------------------------------------------------------

function nftQuiet (args) {
  try { execFileSync('nft', args, { stdio: 'ignore' }) } catch {}
}

// Removes a VM's dispatch elements, TAP and chain (the elements first: a chain a map
// element jumps to cannot be deleted). Never throws.
function removeVmNetwork (vmId) {
  const tap = env.tapNameOf(vmId)
  nftQuiet(['delete', 'element', 'bridge', 'infinivirt', 'to_vm', `{ "${tap}" }`])
  nftQuiet(['delete', 'element', 'bridge', 'infinivirt', 'vm_ports', `{ "${tap}" }`])
  netns.removeLink(tap)
  nftQuiet(['delete', 'chain', 'bridge', 'infinivirt', chainNameOf(vmId)])
}

module.exports = {
  ManagerChild,
  killAllChildren,
  vmPaths,
  chainNameOf,
  qemusOf,
  openFiles,
  observe,
  mismatches,
  expectHostMatchesStore,
  qemuImgCheck,
  removeVmNetwork
}
