#!/usr/bin/env node
'use strict'

// The "main job": one real VM, from an empty database row to nothing left, through
// the public `Infinivirt` API of @infinibay/infinivirt, the way the Infinibay backend
// drives it. scripts/main.sh runs this inside a private network namespace
// (`unshare --net`), so the bridge, TAP and nftables chain it makes never touch the
// host's own network.
//
//   1. a bridge (BridgeManager) and an Infinivirt manager on an embedded SQLite store
//   2. the VM's rows in the store: a Machine, a firewall rule set with one rule
//   3. createVM: qcow2 disk, TAP on the bridge behind the VM's nft chain, SPICE on
//      127.0.0.1 with a password, QEMU booting the tiny test guest
//   4. the guest reports ready on its serial console; getVMStatus; a PNG screenshot
//   5. stopVM (the guest answers the ACPI power button), destroyVM
//   6. proof that nothing is left: no QEMU, TAP, chain, QMP socket or pidfile
//
// Any failure prints what went wrong, releases what this script made and exits 1.
// The only processes it ever signals are QEMUs whose command line carries its own
// temp directory.

const { execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { Infinivirt, BridgeManager, QMPClient, detectAccelerator, generateVMChainName } = require('..')

const ROOT = path.resolve(__dirname, '..')
const BRIDGE = 'ivmain0'
const BRIDGE_IP = '10.213.99.1/24'
const READY_TIMEOUT_MS = 90000

const t0 = Date.now()
const say = (msg) => console.log(`[main-job +${((Date.now() - t0) / 1000).toFixed(2).padStart(6)}s] ${msg}`)
const detail = (msg) => console.log(`                    ${msg}`)
const summary = []
const done = (what, since) => summary.push([what, Date.now() - since])

// ---------------------------------------------------------------- small helpers

function netnsOf (pid) {
  try { return fs.readlinkSync(`/proc/${pid}/ns/net`) } catch { return null }
}

function parentOf (pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return 0
  }
}

/** True in a network namespace other than the host's (PID 1's, else an ancestor's). */
function inPrivateNetns () {
  const mine = netnsOf('self')
  const host = netnsOf(1)
  if (!mine) return false
  if (host) return host !== mine
  // Some sandboxes hide PID 1's namespaces: look for an ancestor outside ours.
  for (let pid = parentOf(process.pid); pid > 1; pid = parentOf(pid)) {
    const ns = netnsOf(pid)
    if (ns && ns !== mine) return true
  }
  return false
}

/** kernel and initrd of the test guest: from scripts/main.sh, else built/cached now. */
function testGuest () {
  let kernel = process.env.IV_GUEST_KERNEL
  let initrd = process.env.IV_GUEST_INITRD
  if (!kernel || !initrd) {
    const out = execFileSync('bash', [path.join(ROOT, 'scripts', 'build-test-guest.sh')], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']
    })
    kernel = /^kernel=(.+)$/m.exec(out)?.[1]
    initrd = /^initrd=(.+)$/m.exec(out)?.[1]
  }
  if (!kernel || !initrd || !fs.existsSync(kernel) || !fs.existsSync(initrd)) {
    throw new Error('the test guest is missing: run scripts/build-test-guest.sh')
  }
  return { kernel, initrd }
}

/** Resolves when a complete line of the serial log contains `marker`. */
async function waitForSerial (file, marker, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let text = ''
    try { text = fs.readFileSync(file, 'utf8') } catch {}
    const lines = text.split('\n').slice(0, -1)
    const hit = lines.find((l) => l.includes(marker))
    if (hit) return hit.trim()
    if (Date.now() > deadline) {
      throw new Error(`no "${marker}" on the guest's serial console after ${timeoutMs / 1000}s; last lines:\n${lines.slice(-15).join('\n')}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Live (non-zombie) processes whose command line contains `needle`. */
function processesWith (needle) {
  const found = []
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8')
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8')
      if (argv.includes(needle) && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z') found.push(Number(p))
    } catch {}
  }
  return found
}

function linkExists (name) {
  try {
    execFileSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function linkMaster (name) {
  const info = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'dev', name], { encoding: 'utf8' }))[0]
  return { master: info.master ?? null, up: info.flags.includes('LOWER_UP') }
}

function nftChain (chain) {
  try {
    return execFileSync('nft', ['list', 'chain', 'bridge', 'infinivirt', chain], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  } catch {
    return null
  }
}

// ---------------------------------------------------------------- the job

async function main () {
  if (process.getuid && process.getuid() !== 0) throw new Error('run as root (npm run main)')
  if (!inPrivateNetns()) {
    throw new Error('refusing to run in the host network namespace; start it with `npm run main` (it uses unshare --net)')
  }

  const accel = detectAccelerator()
  say(`accelerator: ${accel.accel} (${accel.reason})`)
  const guest = testGuest()
  say(`test guest: ${guest.kernel} + ${path.basename(guest.initrd)}`)

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'infinivirt-main-'))
  const serial = path.join(dir, 'serial.log')
  const bridges = new BridgeManager()
  let iv = null
  let mustDestroy = null // the VM a failure's cleanup must destroy
  let bridgeMade = false
  try {
    // 1. The network and the manager.
    let t = Date.now()
    await bridges.create(BRIDGE)
    bridgeMade = true
    // SPICE resolves its listen address with AI_ADDRCONFIG, which needs one
    // non-loopback IPv4 address in the namespace before 127.0.0.1 resolves.
    await bridges.assignIP(BRIDGE, BRIDGE_IP)
    say(`bridge ${BRIDGE} created with ${BRIDGE_IP} (private network namespace)`)

    iv = new Infinivirt({
      sqlitePath: path.join(dir, 'state.db'),
      diskDir: path.join(dir, 'disks'),
      qmpSocketDir: path.join(dir, 'qmp'),
      pidfileDir: path.join(dir, 'pids'),
      firewallPersistenceDir: path.join(dir, 'nft'),
      // Test-only: boot the tiny guest (Linux + busybox) instead of an empty disk.
      extraArgs: ['-kernel', guest.kernel, '-initrd', guest.initrd,
        '-append', 'console=ttyS0 quiet iv.mode=wait', '-serial', `file:${serial}`]
    })
    await iv.initialize()
    say(`Infinivirt initialized: SQLite store ${path.join(dir, 'state.db')}, nft table "bridge infinivirt"`)
    done('bridge + manager', t)

    // 2. The VM as the backend would have it in its database.
    t = Date.now()
    const vmId = `main${crypto.randomBytes(4).toString('hex')}`
    const internalName = `vm-${vmId}`
    const db = iv.getPrismaAdapter()
    await db.insertRecord('FirewallRuleSet', { id: `rs-${vmId}`, name: 'main job', internalName: `rs-${vmId}`, entityType: 'VM', entityId: vmId })
    await db.insertRecord('FirewallRule', {
      id: `rule-${vmId}`, ruleSetId: `rs-${vmId}`, name: 'no inbound SSH', action: 'DROP', direction: 'IN', priority: 100, protocol: 'tcp', dstPortStart: 22
    })
    await db.insertRecord('Machine', {
      id: vmId, name: 'Main job desktop', internalName, status: 'off', os: 'ubuntu', cpuCores: 1, ramGB: 1, diskSizeGB: 1, firewallRuleSetId: `rs-${vmId}`
    })
    say(`store: Machine ${vmId} (status off) with firewall rule set rs-${vmId}: DROP tcp dport 22 inbound`)
    done('store rows', t)

    // 3. createVM.
    t = Date.now()
    const password = crypto.randomBytes(9).toString('base64url')
    say('createVM: 1 vCPU, 1 GiB RAM, 1 GiB qcow2 disk, TAP on the bridge, firewall, SPICE on 127.0.0.1 with a password')
    mustDestroy = vmId
    const r = await iv.createVM({
      vmId,
      name: 'Main job desktop',
      internalName,
      os: 'ubuntu',
      cpuCores: 1,
      ramGB: 1,
      disks: [{ sizeGB: 1 }],
      bridge: BRIDGE,
      displayType: 'spice',
      displayPort: 5900,
      displayAddr: '127.0.0.1',
      displayPassword: password
    })
    done('createVM', t)
    say(`createVM done in ${Date.now() - t} ms: QEMU PID ${r.pid}`)
    detail(`disk        ${r.diskPaths[0]} (${JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', r.diskPaths[0]], { encoding: 'utf8' })).format})`)
    const tap = linkMaster(r.tapDevice)
    detail(`TAP         ${r.tapDevice}, on bridge ${tap.master}, carrier ${tap.up ? 'up' : 'DOWN'}`)
    detail(`SPICE       127.0.0.1:${r.displayPort} (password set over QMP, not on the command line)`)
    detail(`QMP socket  ${r.qmpSocketPath}`)
    detail(`pidfile     ${r.pidFilePath}`)
    if (tap.master !== BRIDGE) throw new Error(`TAP ${r.tapDevice} is not on ${BRIDGE}`)
    if (fs.readFileSync(`/proc/${r.pid}/cmdline`, 'utf8').includes(password)) {
      throw new Error('the display password is on the QEMU command line')
    }
    const chain = generateVMChainName(vmId)
    const rules = nftChain(chain)
    if (!rules || !rules.includes('dport 22')) throw new Error(`nft chain ${chain} is missing or lacks the rule:\n${rules}`)
    say(`firewall: nft list chain bridge infinivirt ${chain}`)
    for (const line of rules.trim().split('\n')) detail(line)

    // 4. The guest runs.
    t = Date.now()
    say('waiting for the guest to boot (serial console marker IV-READY)')
    await waitForSerial(serial, 'IV-READY', READY_TIMEOUT_MS)
    done('guest boot to IV-READY', t)
    say(`guest is up after ${((Date.now() - t) / 1000).toFixed(1)} s more`)

    const st = await iv.getVMStatus(vmId)
    say(`getVMStatus: status=${st.status} qmpStatus=${st.qmpStatus} pid=${st.pid} processAlive=${st.processAlive} consistent=${st.consistent}`)
    if (st.status !== 'running' || st.qmpStatus !== 'running' || !st.consistent) throw new Error(`unexpected status ${JSON.stringify(st)}`)

    t = Date.now()
    const shot = path.join(dir, 'screen.png')
    const qmp = new QMPClient(r.qmpSocketPath) // shares the manager's QMP connection
    await qmp.connect()
    try {
      await qmp.screendump(shot, { format: 'png' })
    } finally {
      await qmp.disconnect()
    }
    const png = fs.readFileSync(shot)
    const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
    if (!png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error(`${shot} is not a PNG`)
    const width = png.readUInt32BE(16)
    const height = png.readUInt32BE(20)
    done('screenshot', t)
    say(`screenshot: ${shot}, ${png.length} bytes, PNG ${width}x${height} (signature checked)`)

    // 5. Stop (ACPI) and destroy.
    t = Date.now()
    say('stopVM (graceful): ACPI power button; the guest powers itself off')
    const s = await iv.stopVM(vmId, { graceful: true, timeout: 30000 })
    done('stopVM (graceful)', t)
    const acpi = await waitForSerial(serial, 'IV-ACPI-POWERDOWN', 1000)
    say(`stopVM: ${s.message} in ${Date.now() - t} ms, forced=${s.forced}; guest said "${acpi}"`)
    if (s.forced) throw new Error('the guest did not answer the ACPI power button: QEMU was killed')

    t = Date.now()
    const d = await iv.destroyVM(vmId)
    done('destroyVM', t)
    say(`destroyVM: ${d.message}`)

    // 6. Nothing left.
    const leftovers = []
    const qemus = processesWith(internalName)
    if (qemus.length) leftovers.push(`QEMU still running: PID ${qemus.join(', ')}`)
    if (linkExists(r.tapDevice)) leftovers.push(`TAP ${r.tapDevice} still exists`)
    if (nftChain(chain) !== null) leftovers.push(`nft chain ${chain} still exists`)
    if (fs.existsSync(r.qmpSocketPath)) leftovers.push(`QMP socket ${r.qmpSocketPath} still exists`)
    if (fs.existsSync(r.pidFilePath)) leftovers.push(`pidfile ${r.pidFilePath} still exists`)
    const row = await db.findMachineWithConfig(vmId)
    if (row.status !== 'off') leftovers.push(`store says ${row.status}, expected off`)
    if (leftovers.length) throw new Error(`destroyVM left things behind:\n  ${leftovers.join('\n  ')}`)
    say(`nothing left: no QEMU named ${internalName}, no TAP ${r.tapDevice}, no chain ${chain}, no QMP socket, no pidfile; store says off`)
    detail(`the disk stays, as destroyVM keeps disks: ${path.basename(r.diskPaths[0])}`)
    mustDestroy = null
  } finally {
    // Best effort, and only what this script made.
    if (iv && mustDestroy) {
      say('cleaning up after the failure: destroyVM')
      await iv.destroyVM(mustDestroy).catch((e) => say(`destroyVM failed too: ${e.message}`))
    }
    for (const pid of processesWith(dir)) {
      say(`cleaning up: killing leftover QEMU PID ${pid}`)
      try { process.kill(pid, 'SIGKILL') } catch {}
    }
    if (iv) await iv.shutdown().catch(() => {})
    if (bridgeMade) await bridges.destroy(BRIDGE).catch(() => {})
    // The firewall file is exported in the background; give a late write a moment.
    await new Promise((resolve) => setTimeout(resolve, 300))
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
    say(`removed the bridge and ${dir}`)
  }
}

main().then(
  () => {
    console.log('\nmain job summary (wall time per step):')
    for (const [what, ms] of summary) console.log(`  ${what.padEnd(24)} ${String(ms).padStart(6)} ms`)
    console.log(`  ${'total'.padEnd(24)} ${String(Date.now() - t0).padStart(6)} ms`)
    console.log('main job finished: a VM was created, booted, inspected, stopped, destroyed, and nothing is left.')
  },
  (err) => {
    console.error(`\n[main-job] FAILED: ${err && err.stack ? err.stack : err}`)
    process.exit(1)
  }
)
