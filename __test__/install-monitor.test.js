'use strict'
// InstallationMonitor driven by a real guest under TCG (the tiny test guest,
// scripts/test-guest): reboots then powers off, reboots forever, hangs, is killed.

const fs = require('fs')
const os = require('os')
const path = require('path')
const { execFileSync } = require('child_process')
const { QemuCommandBuilder, QemuProcess, QMPClient, InstallationMonitor, UnattendedError } = require('..')
const { completionDefaults } = require('../lib/unattended-monitor')
const { ensureGuest, guestArgs, tcgArgs, waitForMarker } = require('./helpers/guest')

jest.setTimeout(120000)

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
const MONITOR_EVENTS = ['SHUTDOWN', 'RESET', 'POWERDOWN', 'disconnect']
// On q35, `-cdrom` is the drive on the second AHCI port.
const Q35_CDROM = 'ide2-cd0'

let dir
let vms = []

beforeAll(() => ensureGuest())

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-mon-'))
  vms = []
})

afterEach(async () => {
  for (const { p, c, pid } of vms) {
    await p.forceKill()
    expect(p.isAlive()).toBe(false)
    // No QEMU of ours is left behind (a zombie waiting for init to reap it is gone).
    expect(pid).toBeGreaterThan(1)
    expect(processState(pid)).toMatch(/^(gone|Z)$/)
    if (c.isConnected()) await c.disconnect()
  }
  fs.rmSync(dir, { recursive: true, force: true })
})

function processState (pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
  } catch (e) {
    if (e.code === 'ENOENT') return 'gone'
    throw e
  }
}

// Boots the guest paused (-S) so the monitor is listening before it runs.
// `reboots` mode needs a zeroed state disk at /dev/vda; qboot gives one RESET per reboot.
async function bootGuest (name, guest, extra = []) {
  const sock = path.join(dir, `${name}.sock`)
  const serial = path.join(dir, `${name}.log`)
  const args = [...tcgArgs(), ...guestArgs({ ...guest, serialPath: serial }), '-bios', 'qboot.rom', ...extra]
  if (guest.mode === 'reboot') {
    const state = path.join(dir, `${name}-state.img`)
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', state, '1M'])
    args.push('-drive', `file=${state},format=raw,if=virtio`)
  }
  const b = new QemuCommandBuilder()
  for (const a of args) b.addRawArg(a)
  b.addRawArg('-S').addQmp(sock)
    .setProcessOptions({ vmId: name, name, daemonize: true, pidfile: path.join(dir, `${name}.pid`) })
  const p = new QemuProcess(name, b)
  await p.start()
  const c = new QMPClient(sock)
  const vm = { p, c, serial, pid: p.getPid() }
  vms.push(vm)
  await c.connect()
  return vm
}

function record (monitor) {
  const seen = { progress: [], checks: [], complete: [], errors: [], ejected: [] }
  monitor.on('progress', (p) => seen.progress.push(p))
  monitor.on('timeout-check', (t) => seen.checks.push(t))
  monitor.on('complete', (r) => seen.complete.push(r))
  monitor.on('media-ejected', (e) => seen.ejected.push(e))
  return seen
}

// After the result: not running, timers cleared, no listener left on the client.
function expectDetached (monitor, client) {
  expect(monitor.isRunning()).toBe(false)
  expect(monitor._deadline).toBeNull()
  expect(monitor._interval).toBeNull()
  for (const e of MONITOR_EVENTS) expect(client.listenerCount(e)).toBe(0)
}

function expectPng (file) {
  const head = Buffer.alloc(8)
  const fd = fs.openSync(file, 'r')
  try {
    fs.readSync(fd, head, 0, 8, 0)
  } finally {
    fs.closeSync(fd)
  }
  expect(head.equals(PNG_SIGNATURE)).toBe(true)
}

test('reboots twice, then powers off: success only after the expected reboots; media ejected after the first', async () => {
  const iso = path.join(dir, 'install.iso')
  fs.writeFileSync(iso, Buffer.alloc(1024 * 1024))
  const { c, serial } = await bootGuest('ok', { mode: 'reboot', reboots: 2 }, ['-cdrom', iso])
  const trays = []
  c.on('DEVICE_TRAY_MOVED', (d) => trays.push(d))
  const monitor = new InstallationMonitor(c, {
    timeout: 90000, checkInterval: 1000, expectedReboots: 2, ejectAfterResets: 1, ejectDevice: Q35_CDROM
  })
  const seen = record(monitor)
  let inserted
  monitor.on('media-ejected', () => {
    inserted = c.queryBlock().then((blocks) => blocks.find((b) => b.device === Q35_CDROM).inserted)
  })
  const done = monitor.start()
  expect(monitor.isRunning()).toBe(true)
  await c.cont()
  const result = await done

  expect(result.error).toBeUndefined()
  expect(result.success).toBe(true)
  expect(result.resetCount).toBe(2)
  expect(result.isoPath).toBe('')
  expect(result.duration).toBeGreaterThan(0)
  expect(result.phases.map((p) => [p.phase, p.message])).toEqual([
    ['installing', 'Installation in progress'],
    ['installing', 'Installation in progress (reset 1)'],
    ['installing', 'Installation in progress (reset 2)'],
    ['completing', 'Installation completing, system shutting down'],
    ['completed', 'Installation completed successfully']
  ])
  for (const p of result.phases) expect(p.timestamp).toBeInstanceOf(Date)
  expect(seen.progress.map((p) => p.phase)).toEqual(result.phases.map((p) => p.phase))
  expect(seen.complete).toEqual([result])
  expect(monitor.getCurrentPhase()).toBe('completed')
  expect(monitor.getPhases()).toEqual(result.phases)
  expect(monitor.getElapsedTime()).toBe(result.duration)
  expectDetached(monitor, c)
  // The guest really did boot three times and power off at the end.
  await waitForMarker(serial, 'IV-DONE', 10000)
  expect(await waitForMarker(serial, 'IV-BOOT', 1000, { count: 3 })).toContain('IV-BOOT 3')
  // The install media left the drive over QMP after the first reboot.
  expect(seen.ejected).toEqual([{ device: Q35_CDROM }])
  expect(trays).toContainEqual(expect.objectContaining({ device: Q35_CDROM, 'tray-open': true }))
  expect(await inserted).toBeUndefined()
})

test('a guest that powers off at once while two reboots are expected fails: the first SHUTDOWN is not success', async () => {
  const { c } = await bootGuest('early', { mode: 'poweroff' })
  const monitor = new InstallationMonitor(c, { timeout: 60000, expectedReboots: 2 })
  const seen = record(monitor)
  const done = monitor.start()
  await c.cont()
  const result = await done
  expect(result.success).toBe(false)
  expect(result.resetCount).toBe(0)
  expect(result.error).toBeInstanceOf(UnattendedError)
  expect(result.error.code).toBe('INSTALLATION_FAILED')
  expect(result.error.message).toMatch(/^Installation failed: the guest powered off after \d+ms and 0 reboot\(s\), before the installation could have finished \(completion needs 2 reboot\(s\)\)$/)
  expect(result.phases.map((p) => p.phase)).toEqual(['installing', 'failed'])
  expect(result.phases[1].error).toBe(result.error)
  expect(seen.complete).toEqual([result])
  expectDetached(monitor, c)
})

test('a guest that reboots forever hits maxResets: RESET_LIMIT_EXCEEDED, screenshot kept', async () => {
  const shot = path.join(dir, 'reset-loop.png')
  const { c, serial } = await bootGuest('loop', { mode: 'reboot', reboots: 1000 }, ['-device', 'VGA'])
  const monitor = new InstallationMonitor(c, { timeout: 90000, maxResets: 2, screenshotPath: shot })
  const seen = record(monitor)
  monitor.on('error', (e) => seen.errors.push(e))
  const done = monitor.start()
  await c.cont()
  const result = await done
  expect(result.success).toBe(false)
  expect(result.error.code).toBe('INSTALLATION_RESET_LIMIT_EXCEEDED')
  expect(result.error.message).toBe('Installation failed: exceeded maximum reset count (2). The VM may be stuck in a boot loop or installation failure loop.')
  expect(result.resetCount).toBe(3)
  expect(seen.errors).toEqual([result.error])
  expect(result.screenshotPath).toBe(shot)
  expectPng(shot)
  expect(await waitForMarker(serial, 'IV-BOOT', 1000, { count: 3 })).toContain('IV-BOOT 3')
  expectDetached(monitor, c)
})

test('a hanging guest times out: timeout-check events, INSTALLATION_TIMEOUT, screenshot kept, no error listener needed', async () => {
  const shot = path.join(dir, 'hang.png')
  const { c, serial } = await bootGuest('hang', { mode: 'hang' }, ['-device', 'VGA'])
  const monitor = new InstallationMonitor(c, { timeout: 5000, checkInterval: 1000, screenshotPath: shot })
  const seen = record(monitor)
  const done = monitor.start()
  await c.cont()
  await waitForMarker(serial, 'IV-READY', 30000)
  const result = await done
  expect(result.error.code).toBe('INSTALLATION_TIMEOUT')
  expect(result.error.message).toBe('Installation timed out after 5000ms')
  expect(result.duration).toBeGreaterThanOrEqual(5000)
  expect(seen.checks.length).toBeGreaterThanOrEqual(3)
  for (const t of seen.checks) {
    expect(t.remaining).toBe(5000 - t.elapsed)
    expect(t.percentComplete).toBe(Math.min(100, Math.floor(t.elapsed / 5000 * 100)))
  }
  expect(result.screenshotPath).toBe(shot)
  expectPng(shot)
  expectDetached(monitor, c)
})

test('QEMU killed mid-install: QMP_ERROR, no screenshot possible', async () => {
  const shot = path.join(dir, 'killed.png')
  const { p, c, serial } = await bootGuest('killed', { mode: 'wait' })
  const monitor = new InstallationMonitor(c, { timeout: 60000, screenshotPath: shot })
  const done = monitor.start()
  await c.cont()
  await waitForMarker(serial, 'IV-READY', 30000)
  await p.forceKill()
  const result = await done
  expect(result.success).toBe(false)
  expect(result.error.code).toBe('QMP_ERROR')
  expect(result.error.message).toBe('QMP connection lost during installation')
  expect(result.screenshotPath).toBeUndefined()
  expect(fs.existsSync(shot)).toBe(false)
  expectDetached(monitor, c)
})

test('start() twice, stop(), a client that is not connected, bad options', async () => {
  const { c } = await bootGuest('api', { mode: 'wait' })
  const monitor = new InstallationMonitor(c, { timeout: 60000 })
  const seen = record(monitor)
  expect(monitor.getElapsedTime()).toBe(0)
  expect(monitor.getCurrentPhase()).toBe('installing')
  const first = monitor.start()
  await expect(monitor.start()).rejects.toMatchObject({ name: 'UnattendedError', code: 'INVALID_CONFIG', message: 'Monitor is already running' })
  monitor.stop()
  const stopped = await first
  expect(stopped.success).toBe(false)
  expect(stopped.error.code).toBe('MONITORING_ERROR')
  expect(seen.complete).toEqual([stopped])
  expectDetached(monitor, c)

  const lonely = new QMPClient(path.join(dir, 'nobody.sock'))
  const err = await new InstallationMonitor(lonely).start().catch((e) => e)
  expect(err).toBeInstanceOf(UnattendedError)
  expect([err.code, err.message]).toEqual(['QMP_ERROR', 'QMP client is not connected'])
  for (const e of MONITOR_EVENTS) expect(lonely.listenerCount(e)).toBe(0)

  expect(() => new InstallationMonitor(c, { timeout: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }))
  expect(() => new InstallationMonitor(c, { maxResets: 1, expectedReboots: 2 })).toThrow(/expectedReboots \(2\) must not exceed maxResets \(1\)/)
  expect(completionDefaults('windows11')).toEqual({ minInstallTime: 600000, expectedReboots: 2 })
})
