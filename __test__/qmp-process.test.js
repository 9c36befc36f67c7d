'use strict'
// QemuProcess and QMPClient against a real qemu-system-x86_64 under TCG (no guest
// needed here: QEMU is started paused or with no bootable media). Each test gets its
// own temp dir; every QEMU started is killed in afterEach, by the handle that started it.

const fs = require('fs')
const net = require('net')
const os = require('os')
const path = require('path')
const { spawn } = require('child_process')
const util = require('util')
const { QemuCommandBuilder, QemuProcess, QMPClient } = require('..')

jest.setTimeout(60000)

let dir
const started = []

function tcgBuilder (name, opts = {}) {
  const b = new QemuCommandBuilder()
    .setMachine('q35', { accel: 'tcg' })
    .setCpu('max')
    .setMemory(0.125)
    .addRawArg('-display').addRawArg('none')
    .addRawArg('-nodefaults')
  if (opts.paused !== false) b.addRawArg('-S')
  b.addQmp(path.join(dir, `${name}.sock`))
  b.setProcessOptions({ vmId: name, name, daemonize: true, pidfile: path.join(dir, `${name}.pid`) })
  return b
}

async function startVm (name, opts) {
  const p = new QemuProcess(name, tcgBuilder(name, opts))
  p.setQmpSocketPath(path.join(dir, `${name}.sock`))
  started.push(p)
  await p.start()
  return p
}

async function client (name, options) {
  const c = new QMPClient(path.join(dir, `${name}.sock`), options)
  await c.connect()
  return c
}

function nextEvent (emitter, name, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${name} within ${timeoutMs}ms`)), timeoutMs)
    emitter.once(name, (...args) => { clearTimeout(t); resolve(args) })
  })
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-qmp-'))
})

afterEach(async () => {
  while (started.length) await started.pop().forceKill()
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('QemuProcess', () => {
  test('start adopts the daemon PID from the pidfile and proves it is QEMU', async () => {
    const p = await startVm('adopt')
    const pid = p.getPid()
    expect(pid).toBeGreaterThan(0)
    expect(Number(fs.readFileSync(path.join(dir, 'adopt.pid'), 'utf8'))).toBe(pid)
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('qemu-system')
    expect(p.isAlive()).toBe(true)
    expect(p.isCpuPinningApplied()).toBe(false)
    expect(p.getPinnedCores()).toEqual([])
  })

  test('a bad argv rejects with QEMU\'s own stderr', async () => {
    const b = tcgBuilder('bad').addRawArg('-no-such-option')
    const p = new QemuProcess('bad', b)
    const err = await p.start().catch((e) => e)
    expect(util.types.isNativeError(err)).toBe(true)
    expect(err.code).toBe('PROCESS_EXITED')
    expect(err.message).toMatch(/^VM bad exited during startup with code 1, signal null: .*-no-such-option: invalid option/)
    expect(p.getPid()).toBeNull()
    expect(fs.existsSync(path.join(dir, 'bad.sock'))).toBe(false)
  })

  test('SIGKILL from outside is reported as an exit within 100 ms', async () => {
    const p = await startVm('killed')
    const pid = p.getPid()
    const exit = nextEvent(p, 'exit')
    const t0 = process.hrtime.bigint()
    process.kill(pid, 'SIGKILL')
    const [info] = await exit
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    expect(info).toEqual({ vmId: 'killed', pid })
    expect(ms).toBeLessThan(100)
    expect(p.isAlive()).toBe(false)
  })

  test('stop() sends SIGTERM, waits for the exit and removes the pidfile', async () => {
    const p = await startVm('stopper')
    const pidfile = path.join(dir, 'stopper.pid')
    await p.stop(10000)
    expect(p.isAlive()).toBe(false)
    expect(p.getPid()).toBeNull()
    expect(fs.existsSync(pidfile)).toBe(false)
  })

  test('a PID that is not this VM\'s QEMU is never adopted or signalled', async () => {
    // An unrelated process whose PID lands in the pidfile (as after PID reuse).
    const victim = spawn('sleep', ['30'], { stdio: 'ignore' })
    try {
      const pidfile = path.join(dir, 'reused.pid')
      fs.writeFileSync(pidfile, `${victim.pid}\n`)
      const p = new QemuProcess('reused', tcgBuilder('reused'))
      p.setPidFilePath(pidfile)
      expect(await p.attach()).toBe(false)
      expect(p.getPid()).toBeNull()
      await p.stop(100)
      await p.forceKill()
      expect(() => process.kill(victim.pid, 0)).not.toThrow()
      expect(fs.readFileSync(`/proc/${victim.pid}/stat`, 'utf8')).not.toMatch(/\) Z /)
    } finally {
      victim.kill('SIGKILL')
    }
  })

  test('attach() re-adopts a running QEMU from its pidfile', async () => {
    const first = await startVm('reattach')
    const again = new QemuProcess('reattach', tcgBuilder('reattach'))
    again.setPidFilePath(path.join(dir, 'reattach.pid'))
    expect(await again.attach()).toBe(true)
    expect(again.getPid()).toBe(first.getPid())
    const exit = nextEvent(again, 'exit')
    await again.forceKill()
    await exit
    expect(first.isAlive()).toBe(false)
  })
})

describe('QMPClient against QEMU', () => {
  test('greeting, query-status, cont/stop with RESUME/STOP events and payloads', async () => {
    await startVm('status')
    const c = await client('status')
    expect(c.isConnected()).toBe(true)
    expect(c.getGreeting().QMP.version.qemu.major).toBeGreaterThanOrEqual(7)
    expect(await c.queryStatus()).toMatchObject({ status: 'prelaunch', running: false })

    const resumed = nextEvent(c, 'RESUME')
    const generic = nextEvent(c, 'event')
    await c.cont()
    const [data, ts] = await resumed
    expect(data).toBeUndefined()
    expect(ts).toEqual({ seconds: expect.any(Number), microseconds: expect.any(Number) })
    expect((await generic)[0]).toMatchObject({ event: 'RESUME', timestamp: ts })
    expect(await c.queryStatus()).toMatchObject({ status: 'running', running: true })

    const stopped = nextEvent(c, 'STOP')
    await c.stop()
    await stopped
    expect((await c.queryStatus()).status).toBe('paused')
    await c.disconnect()
    expect(c.isConnected()).toBe(false)
  })

  test('system_reset emits RESET with its reason', async () => {
    await startVm('reset', { paused: false })
    const c = await client('reset')
    const reset = nextEvent(c, 'RESET')
    await c.reset()
    const [data] = await reset
    expect(data).toEqual({ guest: false, reason: 'host-qmp-system-reset' })
    await c.disconnect()
  })

  test('quit emits SHUTDOWN (host-qmp-quit), then disconnect, and QEMU exits', async () => {
    const p = await startVm('quitter')
    const c = await client('quitter')
    const shutdown = nextEvent(c, 'SHUTDOWN')
    const gone = nextEvent(c, 'disconnect')
    const exit = nextEvent(p, 'exit')
    await c.quit()
    expect((await shutdown)[0]).toEqual({ guest: false, reason: 'host-qmp-quit' })
    await gone
    await exit
    expect(c.isConnected()).toBe(false)
    await expect(c.queryStatus()).rejects.toMatchObject({ code: 'QMP_NOT_CONNECTED', message: 'Not connected to QMP socket' })
  })

  test('QMP errors reject with the spec message; extras work', async () => {
    await startVm('errors')
    const c = await client('errors')
    const err = await c.eject('no-such-device', true).catch((e) => e)
    expect(util.types.isNativeError(err)).toBe(true)
    expect(err.code).toBe('QMP_COMMAND_ERROR')
    expect(err.message).toMatch(/^QMP error: .*no-such-device.* \(\w+\)$/)
    expect(await c.execute('query-name')).toEqual({ name: 'errors' })
    expect(await c.humanMonitorCommand('info name')).toContain('errors')
    expect(await c.queryBlock()).toEqual([])
    expect(Array.isArray(await c.queryCpus())).toBe(true)
    await c.disconnect()
  })

  test('1,000 concurrent commands on one connection are all answered', async () => {
    await startVm('many')
    const c = await client('many')
    const names = await Promise.all(Array.from({ length: 1000 }, (_, i) =>
      i % 2 ? c.queryStatus().then((s) => s.status) : c.execute('query-name').then((n) => n.name)))
    names.forEach((v, i) => expect(v).toBe(i % 2 ? 'prelaunch' : 'many'))
    await c.disconnect()
  })

  test('clients of one VM share the single QMP connection QEMU allows', async () => {
    await startVm('shared')
    const a = await client('shared')
    const b = await client('shared')
    const both = Promise.all([nextEvent(a, 'RESUME'), nextEvent(b, 'RESUME')])
    await b.cont()
    await both
    await b.disconnect()
    expect(a.isConnected()).toBe(true)
    expect((await a.queryStatus()).status).toBe('running')
    await a.disconnect()
  })

  test('connecting to a missing socket gives the spec message', async () => {
    const c = new QMPClient('/tmp/nonexistent.sock')
    await expect(c.execute('query-status')).rejects.toMatchObject({ message: 'Not connected to QMP socket' })
    const err = await c.connect().catch((e) => e)
    expect(err.message).toBe('Socket not found: /tmp/nonexistent.sock does not exist')
    expect(err.code).toBe('QMP_CONNECT_FAILED')
  })
})

describe('QMPClient against a scripted peer (the other end of the wire)', () => {
  function fakeQmp (sock, onCommand) {
    const server = net.createServer((s) => {
      s.write('{"QMP":{"version":{"qemu":{"micro":0,"minor":0,"major":10},"package":""},"capabilities":[]}}\n')
      let buf = ''
      s.on('data', (d) => {
        buf += d
        let i
        while ((i = buf.indexOf('\n')) >= 0) {
          const msg = JSON.parse(buf.slice(0, i))
          buf = buf.slice(i + 1)
          if (msg.id === '_handshake') s.write('{"return":{},"id":"_handshake"}\n')
          else onCommand(msg, s)
        }
      })
    })
    return new Promise((resolve) => server.listen(sock, () => resolve(server)))
  }

  test('the socket closing mid-command rejects the pending promise at once', async () => {
    const sock = path.join(dir, 'fake.sock')
    const server = await fakeQmp(sock, (msg, s) => setTimeout(() => s.destroy(), 50))
    const c = new QMPClient(sock)
    const gone = nextEvent(c, 'disconnect')
    await c.connect()
    const t0 = Date.now()
    await expect(c.queryStatus()).rejects.toMatchObject({ message: 'Connection closed', code: 'QMP_CONNECTION_CLOSED' })
    expect(Date.now() - t0).toBeLessThan(2000)
    await gone
    server.close()
  })

  test('an event arriving before the reply goes to listeners, the reply to the caller', async () => {
    const sock = path.join(dir, 'order.sock')
    const server = await fakeQmp(sock, (msg, s) => {
      s.write('{"event":"STOP","timestamp":{"seconds":1700000000,"microseconds":500000}}\n')
      s.write(JSON.stringify({ return: { status: 'paused', running: false, singlestep: false }, id: msg.id }) + '\n')
    })
    const c = new QMPClient(sock, { commandTimeout: 2000 })
    await c.connect()
    const stop = nextEvent(c, 'STOP')
    const status = await c.queryStatus()
    expect(status.status).toBe('paused')
    expect(await stop).toEqual([undefined, { seconds: 1700000000, microseconds: 500000 }])
    await c.disconnect()
    server.close()
  })

  test('a command with no reply times out with the spec message', async () => {
    const sock = path.join(dir, 'mute.sock')
    const server = await fakeQmp(sock, () => {})
    const c = new QMPClient(sock, { commandTimeout: 200, commandTimeouts: { 'query-name': 100 } })
    await c.connect()
    await expect(c.queryStatus()).rejects.toMatchObject({ message: "Command 'query-status' timed out after 200ms", code: 'QMP_TIMEOUT' })
    await expect(c.execute('query-name')).rejects.toMatchObject({ message: "Command 'query-name' timed out after 100ms" })
    await c.disconnect()
    server.close()
  })

  test('a listener that throws does not break the client', async () => {
    const sock = path.join(dir, 'throw.sock')
    const server = await fakeQmp(sock, (msg, s) => {
      s.write('{"event":"RESET","timestamp":{"seconds":1,"microseconds":2},"data":{"guest":true,"reason":"guest-reset"}}\n')
      s.write(JSON.stringify({ return: {}, id: msg.id }) + '\n')
    })
    const c = new QMPClient(sock)
    await c.connect()
    c.on('RESET', () => { throw new Error('listener bug') })
    const seen = nextEvent(c, 'event')
    await c.execute('x')
    expect((await seen)[0].data).toEqual({ guest: true, reason: 'guest-reset' })
    expect(await c.execute('y')).toEqual({})
    await c.disconnect()
    server.close()
  })
})
