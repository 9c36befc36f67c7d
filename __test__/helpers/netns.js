'use strict'

// Network-namespace helpers for the suites in __test__/net/. Those suites run
// inside a private namespace made by scripts/test-net.sh (`unshare --net`); every
// one calls assertPrivateNetns() in beforeAll, so nothing ever touches the host.
//
//   const { assertPrivateNetns, uniqueName, createPeerNs, removePeerNs, createVeth, ip } = require('../helpers/netns')
//   beforeAll(() => assertPrivateNetns())
//   const br = uniqueName('ivbr')                 // 'ivbr-k3x9q2', at most 15 bytes
//   const peer = createPeerNs()                   // 'ivt3f9a2c1d', a namespace of its own
//   const { local, remote } = createVeth(uniqueName('ivv'), peer)  // remote end moved into peer
//   ip(['-n', peer, 'addr', 'add', '10.0.0.3/24', 'dev', remote])
//   ... afterEach: removePeerNs(peer) (takes the veth pair with it), removeLink(name)

const { execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')

const MAX_IFNAME = 15

function netnsOf (pid) {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`)
  } catch {
    return null
  }
}

function parentOf (pid) {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may contain spaces.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return 0
  }
}

// Throws unless this process is in a network namespace other than the host's:
// PID 1's when it can be read, else that of an ancestor (the shell that ran
// `unshare --net`; some sandboxes hide PID 1's namespaces even from root).
function assertPrivateNetns () {
  const mine = netnsOf('self')
  if (!mine) throw new Error('cannot read /proc/self/ns/net; run the network suites as root via scripts/test-net.sh')
  const host = netnsOf(1)
  let isPrivate
  if (host) {
    isPrivate = host !== mine
  } else {
    isPrivate = false
    for (let pid = parentOf(process.pid); pid > 1; pid = parentOf(pid)) {
      const ns = netnsOf(pid)
      if (ns && ns !== mine) {
        isPrivate = true
        break
      }
    }
  }
  if (!isPrivate) {
    throw new Error('refusing to run: this is not a private network namespace. Run the network suites with `bash scripts/test-net.sh` (unshare --net).')
  }
  return mine
}

function randomSuffix (n) {
  return crypto.randomBytes(8).toString('hex').slice(0, n)
}

// `<prefix>-<random>`, at most 15 bytes (IFNAMSIZ - 1). Letters, digits and '-'.
function uniqueName (prefix) {
  if (!/^[A-Za-z0-9-]+$/.test(prefix) || prefix.length > 9) {
    throw new Error(`uniqueName prefix must be 1-9 letters, digits or '-': ${prefix}`)
  }
  return `${prefix}-${randomSuffix(MAX_IFNAME - prefix.length - 1)}`
}

// Runs ip(8) with an argv (never a shell); returns stdout.
function ip (args) {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

// `ip -j` output parsed.
function ipJson (args) {
  const out = ip(['-j', ...args]).trim()
  return out ? JSON.parse(out) : []
}

// The link `name` as `ip -j -d link show` reports it, or null.
function linkInfo (name) {
  try {
    return ipJson(['-d', 'link', 'show', 'dev', name])[0] || null
  } catch {
    return null
  }
}

function linkNames () {
  return ipJson(['link', 'show']).map((l) => l.ifname)
}

// Deletes a link if it exists; never throws.
function removeLink (name) {
  try {
    ip(['link', 'del', 'dev', name])
  } catch {}
}

// A peer network namespace `ivt<random>` (from inside the private one) with lo up.
function createPeerNs () {
  const name = `ivt${randomSuffix(8)}`
  ip(['netns', 'add', name])
  ip(['-n', name, 'link', 'set', 'lo', 'up'])
  return name
}

// Removes the peer namespace and everything in it; never throws.
function removePeerNs (name) {
  try {
    ip(['netns', 'del', name])
  } catch {}
}

// A veth pair: `local` (= name) stays here, `remote` (name's first 14 bytes + 'p')
// goes into `peerNs` when given. Both ends are brought up.
function createVeth (name, peerNs) {
  const local = name
  const remote = `${name.slice(0, MAX_IFNAME - 1)}p`
  if (remote === local) throw new Error(`veth name must not end in 'p': ${name}`)
  ip(['link', 'add', 'name', local, 'type', 'veth', 'peer', 'name', remote])
  if (peerNs) ip(['link', 'set', 'dev', remote, 'netns', peerNs])
  ip(['link', 'set', 'dev', local, 'up'])
  ip(peerNs ? ['-n', peerNs, 'link', 'set', 'dev', remote, 'up'] : ['link', 'set', 'dev', remote, 'up'])
  return { local, remote }
}

module.exports = {
  parentOf,
  assertPrivateNetns,
  uniqueName,
  ip,
  ipJson,
  linkInfo,
  linkNames,
  removeLink,
  createPeerNs,
  removePeerNs,
  createVeth
}
