'use strict'
// Every code sample of README.md, taken from the README (scripts/readme-samples.js),
// compiled with `tsc --strict` and run as a user would run it: real QEMU under TCG,
// real TAP/bridge/nft in the private network namespace of scripts/test-net.sh, the
// embedded SQLite store. Each sample runs in a mount namespace of its own whose
// /var/lib/infinivirt, /var/run/infinivirt and /etc/infinivirt are empty tmpfs, so the
// samples keep their real default paths and nothing reaches the host's.

const fs = require('fs')
const os = require('os')
const path = require('path')
const { spawn, execFileSync } = require('child_process')
const { BridgeManager, QemuCommandBuilder, QemuProcess, QMPClient, CgroupsManager } = require('../..')
const netns = require('../helpers/netns')
const { ensureGuest, guestArgs, tcgArgs } = require('../helpers/guest')
const { emit, extract } = require('../../scripts/readme-samples')

jest.setTimeout(180000)

const DIRS = ['/var/lib/infinivirt', '/var/run/infinivirt', '/etc/infinivirt']
// Mounts the tmpfs, then runs node with the sample and its arguments (argv only).
const RUN = 'set -e; for d in /var/lib/infinivirt /var/run/infinivirt /etc/infinivirt; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done; exec "$@"'

let dir
let programs
const cleanups = []

function runSample (name, args = [], { onLine } = {}) {
  const file = programs[name]
  const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'bash', '-c', RUN, 'sample', process.execPath, file, ...args], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => {
    const text = d.toString()
    stdout += text
    if (onLine) for (const line of text.split('\n')) if (line) onLine(line)
  })
  child.stderr.on('data', (d) => { stderr += d.toString() })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`sample ${name} did not finish\nstdout:\n${stdout}\nstderr:\n${stderr}`))
    }, 150000)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

// QEMUs a sample started under the tmpfs pidfile directory (none may outlive it).
function sampleQemus () {
  const found = []
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    } catch {
      continue
    }
    if (/qemu-system/.test(cmd[0] || '') && cmd.some((a) => a.startsWith('/var/run/infinivirt/pids/'))) found.push(Number(pid))
  }
  return found
}

function tapNames () {
  return netns.linkNames().filter((n) => n.startsWith('vnet-'))
}

beforeAll(() => {
  netns.assertPrivateNetns()
  ensureGuest()
  for (const d of DIRS) fs.mkdirSync(d, { recursive: true })
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-readme-'))
  programs = Object.fromEntries(emit(dir).map((p) => [p.name, p.file]))
})

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

test('every JS/TS block of the README is a named sample, and each one is run below', () => {
  const names = extract(fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8')).map((s) => s.name)
  expect(names.sort()).toEqual(['firewall', 'install-monitor', 'lifecycle', 'pinning', 'state', 'unattended'])
})

test('sample "state": a store, an EventHandler and a HealthMonitor sweep', async () => {
  const r = await runSample('state')
  expect(r.stderr).not.toMatch(/Error/)
  expect(r.code).toBe(0)
  expect(r.stdout).toContain('0 running VM(s) checked, 0 crashed')
})

test('sample "lifecycle": the Machine row, then create, status, stop, start and destroy a real VM', async () => {
  const bridges = new BridgeManager()
  await bridges.create('br0')
  cleanups.push(() => bridges.destroy('br0').catch(() => {}))
  // QEMU resolves SPICE's 127.0.0.1 with AI_ADDRCONFIG: the host needs a non-loopback IPv4.
  await bridges.assignIP('br0', '10.213.0.1/24')
  const tapsBefore = tapNames()
  const r = await runSample('lifecycle')
  const left = sampleQemus()
  for (const pid of left) process.kill(pid, 'SIGKILL')
  expect(r.stderr).not.toMatch(/Error/)
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/^QEMU \d+ on vnet-[0-9a-f]+, SPICE port 5900$/m)
  expect(r.stdout).toMatch(/^running$/m)
  expect(left).toEqual([])
  expect(tapNames()).toEqual(tapsBefore)
})

test('sample "install-monitor": a guest that reboots twice and powers off is a finished install', async () => {
  const sock = path.join(dir, 'install.sock')
  const control = path.join(dir, 'install-control.sock')
  const state = path.join(dir, 'install-state.img')
  const cdrom = path.join(dir, 'installer.iso')
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', state, '1M'])
  fs.writeFileSync(cdrom, Buffer.alloc(1 << 20))
  const b = new QemuCommandBuilder()
  const args = [...tcgArgs(), ...guestArgs({ mode: 'reboot', reboots: 2 }), '-bios', 'qboot.rom',
    '-drive', `file=${state},format=raw,if=virtio`, '-cdrom', cdrom, '-qmp', `unix:${control},server=on,wait=off`]
  for (const a of args) b.addRawArg(a)
  b.addRawArg('-S').addQmp(sock).setProcessOptions({ vmId: 'readme-install', name: 'readme-install', daemonize: true, pidfile: path.join(dir, 'install.pid') })
  const qemu = new QemuProcess('readme-install', b)
  await qemu.start()
  cleanups.push(() => qemu.forceKill())
  const ctl = new QMPClient(control)
  await ctl.connect()
  cleanups.push(() => ctl.disconnect().catch(() => {}))
  // The guest runs once the sample is watching (its first progress line).
  let resumed = false
  const r = await runSample('install-monitor', [sock], {
    onLine: () => {
      if (resumed) return
      resumed = true
      ctl.cont().catch(() => {})
    }
  })
  expect(r.stderr).not.toMatch(/Error/)
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/^installed in \d+ ms, 2 reboot\(s\)$/m)
})

test('sample "pinning": a pinning plan, then a running process pinned and the empty groups removed', async () => {
  const sleeper = spawn('sleep', ['120'], { stdio: 'ignore' })
  await new Promise((resolve) => sleeper.once('spawn', resolve))
  cleanups.push(async () => {
    const gone = new Promise((resolve) => sleeper.once('exit', resolve))
    sleeper.kill('SIGKILL')
    await gone
    await new CgroupsManager().cleanupEmptyScopes()
  })
  const r = await runSample('pinning', [String(sleeper.pid)])
  expect(r.stderr).not.toMatch(/Error/)
  expect(r.code).toBe(0)
  expect(r.stdout.trim().length).toBeGreaterThan(0)
})

test('sample "unattended": answer files, the answer ISO and its CD-ROM arguments', async () => {
  const r = await runSample('unattended')
  expect(r.stderr).not.toMatch(/Error/)
  expect(r.code).toBe(0)
  expect(r.stdout).toContain('CIDATA')
  expect(r.stdout).toMatch(/-drive \S*media=cdrom/)
})

test('sample "firewall": a bad rule is reported and left out, the others applied, the chain removed', async () => {
  const r = await runSample('firewall')
  expect(r.code).toBe(0)
  // ssh, ipsec and the automatic established/related rule; 'bad' left out and warned about.
  expect(r.stdout).toContain('applied 3, failed: bad')
  expect(r.stderr).toMatch(/DROP rule 'bad' is left out/)
  const chains = execFileSync('nft', ['list', 'ruleset']).toString()
  expect(chains).not.toMatch(/vm_vmsample/)
})
