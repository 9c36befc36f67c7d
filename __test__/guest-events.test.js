'use strict'
// QMP events produced by a real guest (the tiny test guest: Debian cloud kernel +
// busybox init, scripts/build-test-guest.sh) under TCG.

const fs = require('fs')
const os = require('os')
const path = require('path')
const { QemuCommandBuilder, QemuProcess, QMPClient } = require('..')
const { ensureGuest, guestArgs, tcgArgs, waitForMarker } = require('./helpers/guest')

jest.setTimeout(120000)

let dir
const started = []

beforeAll(() => ensureGuest())

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-guest-'))
})

afterEach(async () => {
  while (started.length) await started.pop().forceKill()
  fs.rmSync(dir, { recursive: true, force: true })
})

// Boots the guest paused so the test's listeners are in place before it runs.
async function bootGuest (name, guest, extra = []) {
  const sock = path.join(dir, `${name}.sock`)
  const serial = path.join(dir, `${name}.log`)
  const b = new QemuCommandBuilder()
  for (const a of [...tcgArgs(), ...guestArgs({ ...guest, serialPath: serial }), ...extra]) b.addRawArg(a)
  b.addRawArg('-S').addQmp(sock)
    .setProcessOptions({ vmId: name, name, daemonize: true, pidfile: path.join(dir, `${name}.pid`) })
  const p = new QemuProcess(name, b)
  started.push(p)
  await p.start()
  const c = new QMPClient(sock)
  await c.connect()
  return { p, c, serial }
}

function collect (emitter, name) {
  const seen = []
  emitter.on(name, (data, ts) => seen.push({ data, ts }))
  return seen
}

test('system_powerdown: the guest powers off on ACPI, SHUTDOWN says guest-shutdown, QEMU exits', async () => {
  const { p, c, serial } = await bootGuest('acpi', { mode: 'wait' })
  const powerdown = collect(c, 'POWERDOWN')
  const shutdown = new Promise((resolve) => c.once('SHUTDOWN', (data) => resolve(data)))
  const exit = new Promise((resolve) => p.once('exit', resolve))
  await c.cont()
  await waitForMarker(serial, 'IV-READY', 60000)
  await c.powerdown()
  await waitForMarker(serial, 'IV-ACPI-POWERDOWN', 30000)
  expect(await shutdown).toEqual({ guest: true, reason: 'guest-shutdown' })
  await exit
  expect(powerdown.length).toBe(1)
  expect(p.isAlive()).toBe(false)
})

test('a guest that reboots three times: one RESET per reboot, then it powers off', async () => {
  const state = path.join(dir, 'state.img')
  fs.writeFileSync(state, Buffer.alloc(1024 * 1024))
  // qboot instead of SeaBIOS: SeaBIOS answers every warm reboot with a second "hard
  // reboot" reset of its own, which would double the RESET events.
  const { p, c, serial } = await bootGuest('reboots', { mode: 'reboot', reboots: 3 },
    ['-drive', `file=${state},format=raw,if=virtio`, '-bios', 'qboot.rom'])
  const resets = collect(c, 'RESET')
  const exit = new Promise((resolve) => p.once('exit', resolve))
  await c.cont()
  await waitForMarker(serial, 'IV-DONE', 100000)
  await exit
  expect(resets.map((r) => r.data)).toEqual([
    { guest: true, reason: 'guest-reset' },
    { guest: true, reason: 'guest-reset' },
    { guest: true, reason: 'guest-reset' }
  ])
  const boots = fs.readFileSync(serial, 'utf8').split('\n').filter((l) => l.startsWith('IV-BOOT'))
  expect(boots.map((l) => l.trim())).toEqual(['IV-BOOT 1', 'IV-BOOT 2', 'IV-BOOT 3', 'IV-BOOT 4'])
})
