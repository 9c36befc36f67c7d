'use strict'
// Reality checks for the lifecycle suites of __test__/net/ (lifecycle-stress,
// lifecycle-failures, lifecycle-pg): what runs in /proc, which TAPs, nft chains and
// dispatch elements the kernel holds, which files are on disk. They read the host
// directly (never through the library under test), so a test can compare the
// store with what is really there.

const path = require('node:path')
const fs = require('node:fs')
const crypto = require('node:crypto')
const { execFileSync } = require('node:child_process')

const netns = require('./netns')

// True when `/proc/<pid>/stat` says the process is a zombie (or it is gone).
function isZombieOrGone (pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
  } catch {
    return true
  }
}

function cmdlineOf (pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  } catch {
    return null
  }
}

// PIDs of live (non-zombie) processes whose command line contains `needle`
// (a temp dir, a pidfile path). The test process itself is left out.
function processesUsing (needle) {
  const found = []
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue
    const argv = cmdlineOf(p)
    if (argv && argv.join(' ').includes(needle) && !isZombieOrGone(p)) found.push(Number(p))
  }
  return found.sort((a, b) => a - b)
}

// PIDs of live QEMUs whose argv holds exactly `-pidfile <pidfile>`.
function qemusWithPidfile (pidfile) {
  return processesUsing(pidfile).filter((pid) => {
    const argv = cmdlineOf(pid) || []
    const i = argv.indexOf('-pidfile')
    return i >= 0 && argv[i + 1] === pidfile && argv[0].includes('qemu-system')
  })
}

const { parentOf } = netns

// Distinct running QEMU daemons for `pidfile`. While `-daemonize` starts, the
// launcher (a child of this process, waiting for the daemon to initialise), its first
// fork and the daemon all carry the same command line; only the daemon is an
// instance: not our own child, and not a child of another process in the list.
function qemuInstances (pidfile) {
  const all = qemusWithPidfile(pidfile)
  const daemons = all.filter((pid) => {
    const ppid = parentOf(pid)
    return ppid !== process.pid && !all.includes(ppid)
  })
  return daemons.filter((pid) => !isZombieOrGone(pid))
}

function alive (pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (e) {
    if (e.code !== 'EPERM') return false
  }
  return !isZombieOrGone(pid)
}

function nft (args) {
  return execFileSync('nft', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function nftChainExists (chain) {
  try {
    nft(['list', 'chain', 'bridge', 'infinivirt', chain])
    return true
  } catch {
    return false
  }
}

function nftChainText (chain) {
  try {
    return nft(['list', 'chain', 'bridge', 'infinivirt', chain])
  } catch {
    return null
  }
}

// The elements of a set or map of `table bridge infinivirt` as names (keys), or []
// when it does not exist.
function nftElements (kind, name) {
  let out
  try {
    out = JSON.parse(nft(['-j', 'list', kind, 'bridge', 'infinivirt', name]))
  } catch {
    return []
  }
  const keys = []
  for (const o of out.nftables || []) {
    const s = o.set || o.map
    if (!s || !Array.isArray(s.elem)) continue
    for (const e of s.elem) {
      if (typeof e === 'string') keys.push(e)
      else if (Array.isArray(e) && typeof e[0] === 'string') keys.push(e[0])
      else if (e && e.elem && typeof e.elem.val === 'string') keys.push(e.elem.val)
    }
  }
  return keys
}

// Is `tap` dispatched to a VM chain (in the `vm_ports` set and the `to_vm` map)?
function tapDispatched (tap) {
  return nftElements('set', 'vm_ports').includes(tap) && nftElements('map', 'to_vm').includes(tap)
}

// Names of every `vm_*` chain of table bridge infinivirt.
function vmChains () {
  let out
  try {
    out = JSON.parse(nft(['-j', 'list', 'table', 'bridge', 'infinivirt']))
  } catch {
    return []
  }
  return (out.nftables || []).filter((o) => o.chain && /^vm_/.test(o.chain.name)).map((o) => o.chain.name)
}

// `vnet-*` links in this namespace.
function vnetLinks () {
  return netns.linkNames().filter((n) => n.startsWith('vnet-'))
}

function tapNameOf (vmId) {
  return `vnet-${vmId.replace(/[^a-z0-9]/gi, '').slice(0, 10)}`
}

// A packet or byte counter of a link ('rx', 'packets'), read over netlink (`ip -s`):
// /sys/class/net shows the host's namespace, not this one. -1 when there is no link.
function linkCounter (name, direction, counter = 'packets') {
  try {
    const l = netns.ipJson(['-s', 'link', 'show', 'dev', name])[0]
    const s = l.stats64 || l.stats
    return Number(s[direction][counter])
  } catch {
    return -1
  }
}

// The files under `dir` (relative paths, sorted). The manager's bookkeeping
// directories count only by what is in them: an operation journal or a queued store
// write left behind is listed (`journal/<vm>.json`, `pending-writes/<vm>.json`);
// per-VM lock files (`locks/`) are not, they stay by design (an flock on a file that
// is unlinked could be taken twice).
function filesIn (dir) {
  const out = []
  const walk = (d, rel) => {
    let entries
    try { entries = fs.readdirSync(d, { withFileTypes: true }) } catch { return }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) {
        if (!(rel === '' && e.name === 'locks')) walk(path.join(d, e.name), r)
      } else {
        out.push(r)
      }
    }
  }
  walk(dir, '')
  return out.sort()
}

function newVmId (tag) {
  return `lc${crypto.randomBytes(4).toString('hex')}${tag}`
}

function createConfig (vmId, bridge, extra = {}) {
  return {
    vmId,
    name: `Desk ${vmId}`,
    internalName: `vm-${vmId}`,
    os: 'ubuntu',
    cpuCores: 1,
    ramGB: 0.5,
    disks: [{ sizeGB: 1 }],
    bridge,
    displayType: 'spice',
    displayPort: 5900,
    displayAddr: '127.0.0.1',
    ...extra
  }
}

async function rejection (p) {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function until (check, timeoutMs, what, stepMs = 100) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(stepMs)
  }
}

// The MAC QEMU was given for its NIC (`-device …,mac=xx:…`), or null.
function macOf (pid) {
  const argv = cmdlineOf(pid) || []
  for (const a of argv) {
    const m = /(?:^|,)mac=([0-9a-f:]{17})(?:,|$)/i.exec(a)
    if (m) return m[1].toLowerCase()
  }
  return null
}

// Kills (SIGKILL) every process whose command line mentions `needle`; for afterEach.
function killAllUsing (needle) {
  for (const pid of processesUsing(needle)) {
    try { process.kill(pid, 'SIGKILL') } catch {}
  }
}

// A SPICE console on 127.0.0.1 needs a non-loopback IPv4 address in the namespace
// (QEMU resolves its listen address with AI_ADDRCONFIG).
function addBridgeAddress (bridge, cidr) {
  netns.ip(['addr', 'add', cidr, 'dev', bridge])
}

// The setup every lifecycle suite shares, registered as Jest hooks: the private-netns
// check and the test guest (once), a fresh temp dir per test, managers on the embedded
// SQLite store inside it, and an afterEach that destroys each seeded VM, removes its
// TAP and chain, shuts the managers down, kills what still uses the dir (by PID) and
// removes the links and the dir. `h.dir` etc. are the current test's.
function harness (prefix) {
  const os = require('node:os')
  const path = require('node:path')
  const { Infinivirt, generateVMChainName } = require('../..')
  const { ensureGuest } = require('./guest')
  const h = { dir: null, persistDir: null, links: [], managers: [], vmIds: [] }
  // The directories of a manager or VMLifecycle in this test's dir, plus `extra`.
  h.dirs = (extra = {}) => ({
    diskDir: path.join(h.dir, 'disks'),
    qmpSocketDir: path.join(h.dir, 'qmp'),
    pidfileDir: path.join(h.dir, 'pids'),
    // Outside the test's dir: the ruleset export runs in the background and may
    // still be writing when the dir is removed.
    firewallPersistenceDir: h.persistDir,
    ...extra
  })
  h.manager = async (extra = {}) => {
    const m = new Infinivirt({ prismaClient: undefined, sqlitePath: path.join(h.dir, 'state.db'), ...h.dirs(extra) })
    await m.initialize()
    h.managers.push(m)
    return m
  }
  // A bridge for this test (removed in afterEach) with `cidr` on it: SPICE resolves
  // its listen address with AI_ADDRCONFIG, so the namespace needs a non-loopback IPv4.
  h.bridge = async (cidr) => {
    const { BridgeManager } = require('../..')
    const br = netns.uniqueName('ivbr')
    h.links.push(br)
    await new BridgeManager().create(br)
    addBridgeAddress(br, cidr)
    return br
  }
  h.seedMachine = async (m, vmId, extra = {}) => {
    await m.getPrismaAdapter().insertRecord('Machine', {
      id: vmId, name: `Desk ${vmId}`, internalName: `vm-${vmId}`, status: 'off', os: 'ubuntu', cpuCores: 1, ramGB: 1, diskSizeGB: 1, ...extra
    })
    h.vmIds.push([m, vmId])
  }
  beforeAll(() => {
    netns.assertPrivateNetns()
    ensureGuest()
    h.persistDir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-nft-`))
  })
  afterAll(async () => {
    await sleep(500)
    fs.rmSync(h.persistDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
  })
  beforeEach(() => {
    h.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`))
    h.links = []
    h.managers = []
    h.vmIds = []
  })
  afterEach(async () => {
    for (const [m, id] of h.vmIds) {
      try { await m.destroyVM(id) } catch {}
      netns.removeLink(tapNameOf(id))
      try { execFileSync('nft', ['delete', 'chain', 'bridge', 'infinivirt', generateVMChainName(id)], { stdio: 'ignore' }) } catch {}
    }
    for (const m of h.managers) await m.shutdown()
    killAllUsing(h.dir)
    while (h.links.length) netns.removeLink(h.links.pop())
    fs.rmSync(h.dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
  })
  return h
}

module.exports = {
  harness,
  processesUsing,
  qemusWithPidfile,
  qemuInstances,
  cmdlineOf,
  alive,
  nftChainExists,
  nftChainText,
  nftElements,
  tapDispatched,
  vmChains,
  vnetLinks,
  tapNameOf,
  linkCounter,
  filesIn,
  newVmId,
  createConfig,
  rejection,
  sleep,
  until,
  macOf,
  killAllUsing,
  addBridgeAddress
}
