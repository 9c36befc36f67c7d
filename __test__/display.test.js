'use strict'

// SpiceConfig / VncConfig / DisplayError through the public entry: API.md §7,
// §17.6 and §20.3 (items 43–54), plus the secret-file additions.

process.env.INFINIVIRT_WARNINGS = 'off'
delete process.env.INFINIVIRT_STRICT_DISPLAY

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const util = require('node:util')
const {
  SpiceConfig,
  VncConfig,
  DisplayError,
  DisplayErrorCode,
  QemuCommandBuilder,
  writeDisplaySecretFile
} = require('..')

const SPICE_DEFAULTS =
  'image-compression=auto_glz,jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,streaming-video=filter,playback-compression=on'

function thrown (fn) {
  let err
  try {
    fn()
  } catch (e) {
    err = e
  }
  if (err === undefined) throw new Error('expected the call to throw')
  return err
}

/** Asserts a DisplayError with the given code and exact message. */
function expectDisplayError (err, code, message) {
  expect(util.types.isNativeError(err)).toBe(true)
  expect(err instanceof Error).toBe(true)
  expect(err instanceof DisplayError).toBe(true)
  expect(err.name).toBe('DisplayError')
  expect(err.code).toBe(code)
  if (message !== undefined) expect(err.message).toBe(message)
}

/**
 * Deep, exact comparison that also works for objects created by the native
 * addon in the main realm (Jest's toStrictEqual compares constructors, and the
 * test file runs in a separate vm context): same JSON (values and key order)
 * plus Jest's recursive equality.
 */
function same (received, expected) {
  expect(JSON.stringify(received)).toBe(JSON.stringify(expected))
  expect(received).toEqual(expected)
}

const spice = (o) => thrown(() => new SpiceConfig(o))
const vnc = (o) => thrown(() => new VncConfig(o))

describe('§20.3 SpiceConfig', () => {
  test('43: default generateArgs()', () => {
    same(new SpiceConfig({ port: 5901 }).generateArgs(), {
      args: ['-spice', `port=5901,addr=0.0.0.0,${SPICE_DEFAULTS}`, '-vga', 'qxl'],
      vgaType: 'qxl'
    })
  })

  test('44: all boolean options in order', () => {
    const cfg = new SpiceConfig({
      port: 5903, disableTicketing: true, gl: true, disableCopyPaste: true, disableAgentFileXfer: true, seamlessMigration: true
    })
    expect(cfg.generateArgs().args[1]).toBe(
      'port=5903,addr=0.0.0.0,disable-ticketing=on,image-compression=auto_glz,jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,streaming-video=filter,playback-compression=on,gl=on,disable-copy-paste=on,disable-agent-file-xfer=on,seamless-migration=on')
  })

  test('44b: non-default compression values and an existing rendernode', () => {
    const cfg = new SpiceConfig({
      port: 5904,
      addr: '127.0.0.1',
      password: 'secret',
      imageCompression: 'quic',
      jpegWanCompression: 'never',
      zlibGlzWanCompression: 'always',
      streamingVideo: 'all',
      playbackCompression: 'off',
      gl: true,
      rendernode: '/dev/null'
    })
    same(cfg.generateArgs(), {
      args: ['-spice', 'port=5904,addr=127.0.0.1,password=secret,image-compression=quic,jpeg-wan-compression=never,zlib-glz-wan-compression=always,streaming-video=all,playback-compression=off,gl=on,rendernode=/dev/null', '-vga', 'qxl'],
      vgaType: 'qxl'
    })
  })

  test('45: port out of range', () => {
    expectDisplayError(spice({ port: 5899 }), 'PORT_OUT_OF_RANGE',
      'SPICE configuration validation failed: Port must be between 5900 and 65535')
    expectDisplayError(spice({ port: 65536 }), 'PORT_OUT_OF_RANGE',
      'SPICE configuration validation failed: Port must be between 5900 and 65535')
  })

  test('46: non-integer port', () => {
    expectDisplayError(spice({ port: 5900.5 }), 'INVALID_PORT',
      'SPICE configuration validation failed: Port must be an integer')
  })

  test('47: empty password; password with disableTicketing', () => {
    expectDisplayError(spice({ port: 5901, password: '' }), 'INVALID_PASSWORD',
      'SPICE configuration validation failed: Password cannot be empty string (use undefined for no password)')
    expectDisplayError(spice({ port: 5901, password: 'a', disableTicketing: true }), 'CONFLICTING_OPTIONS',
      'SPICE configuration validation failed: Cannot use both password and disableTicketing options')
  })

  test('48: compression and streaming modes', () => {
    expectDisplayError(spice({ port: 5901, imageCompression: 'zzz' }), 'INVALID_COMPRESSION_MODE',
      'SPICE configuration validation failed: Invalid image compression mode: zzz. Must be one of: auto_glz, auto_lz, quic, glz, lz, off')
    expectDisplayError(spice({ port: 5901, jpegWanCompression: 'zzz' }), 'INVALID_COMPRESSION_MODE',
      'SPICE configuration validation failed: Invalid jpeg WAN compression mode: zzz. Must be one of: auto, never, always')
    expectDisplayError(spice({ port: 5901, zlibGlzWanCompression: 'zzz' }), 'INVALID_COMPRESSION_MODE',
      'SPICE configuration validation failed: Invalid zlib WAN compression mode: zzz. Must be one of: auto, never, always')
    expectDisplayError(spice({ port: 5901, streamingVideo: 'x' }), 'INVALID_STREAMING_MODE',
      'SPICE configuration validation failed: Invalid streaming video mode: x. Must be one of: off, all, filter')
  })

  test('48b: playbackCompression must be on/off (deliberate difference)', () => {
    const e = spice({ port: 5901, playbackCompression: 'loud' })
    expectDisplayError(e, 'INVALID_COMPRESSION_MODE')
    expect(e.message.startsWith('SPICE configuration validation failed: ')).toBe(true)
    expect(new SpiceConfig({ port: 5901, playbackCompression: 'off' }).generateArgs().args[1])
      .toBe('port=5901,addr=0.0.0.0,image-compression=auto_glz,jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,streaming-video=filter,playback-compression=off')
  })

  test('49: missing GL rendernode', () => {
    expectDisplayError(spice({ port: 5901, gl: true, rendernode: '/nonexistent' }), 'RENDERNODE_NOT_FOUND',
      'SPICE configuration validation failed: GL rendernode not found: /nonexistent')
    // Without gl the rendernode is not checked.
    expect(() => new SpiceConfig({ port: 5901, rendernode: '/nonexistent' })).not.toThrow()
  })

  test('50: errors accumulate; the first code wins; context carries them', () => {
    const opts = { port: 1, addr: '' }
    const e = spice(opts)
    expectDisplayError(e, 'PORT_OUT_OF_RANGE',
      'SPICE configuration validation failed: Port must be between 5900 and 65535, Address cannot be empty')
    expect(e.context.validationErrors).toHaveLength(2)
    expect(e.context.validationErrors).toStrictEqual([
      { code: 'PORT_OUT_OF_RANGE', message: 'Port must be between 5900 and 65535' },
      { code: 'INVALID_ADDRESS', message: 'Address cannot be empty' }
    ])
    expect(e.context.errors).toStrictEqual(['Port must be between 5900 and 65535', 'Address cannot be empty'])
    expect(e.context.options).toMatchObject({ port: 1, addr: '' })
  })

  test('51: address format', () => {
    expectDisplayError(spice({ port: 5901, addr: 'bad addr!' }), 'INVALID_ADDRESS',
      'SPICE configuration validation failed: Invalid address format: bad addr!')
    expectDisplayError(spice({ port: 5901, addr: '   ' }), 'INVALID_ADDRESS',
      'SPICE configuration validation failed: Address cannot be empty')
    for (const addr of ['::', '::1', 'localhost', 'my-server.local', '192.168.1.1', '0.0.0.0', 'fe80::1']) {
      expect(new SpiceConfig({ port: 5901, addr, password: 'p' }).getAddr()).toBe(addr)
    }
  })

  test('51b: IPv4 octet > 255 is rejected (deliberate difference)', () => {
    expectDisplayError(spice({ port: 5901, addr: '999.1.1.1' }), 'INVALID_ADDRESS',
      'SPICE configuration validation failed: Invalid address format: 999.1.1.1')
  })

  test('52: hasPassword / isAgentEnabled / getters', () => {
    expect(new SpiceConfig({ port: 5905 }).hasPassword()).toBe(false)
    expect(new SpiceConfig({ port: 5905, password: 'x' }).hasPassword()).toBe(true)
    const c = new SpiceConfig({ port: 5905 })
    expect(c.isAgentEnabled()).toBe(true)
    expect(new SpiceConfig({ port: 5905, enableAgent: false }).isAgentEnabled()).toBe(false)
    expect(c.getPort()).toBe(5905)
    expect(c.getAddr()).toBe('0.0.0.0')
  })

  test('validate() of a valid config', () => {
    expect(new SpiceConfig({ port: 5901 }).validate()).toStrictEqual({ valid: true, errors: [], validationErrors: [] })
  })

  test('instanceof and the DisplayErrorCode values', () => {
    const e = spice({ port: 5899 })
    expect(e).toBeInstanceOf(DisplayError)
    expect(e.code).toBe(DisplayErrorCode.PORT_OUT_OF_RANGE)
    expect(typeof e.stack).toBe('string')
    expect(Object.prototype.toString.call(e)).toBe('[object Error]')
  })
})

describe('§20.3 VncConfig', () => {
  test('53: static helpers and getPort', () => {
    expect(VncConfig.displayToPort(1)).toBe(5901)
    expect(VncConfig.portToDisplay(5901)).toBe(1)
    expect(VncConfig.getMaxPasswordLength()).toBe(8)
    expect(new VncConfig({ display: 7, password: true }).getPort()).toBe(5907)
  })

  test('53b: generateArgs, getters, hasPassword', () => {
    const c = new VncConfig({ display: 7, password: true })
    same(c.generateArgs(), { args: ['-vnc', '0.0.0.0:7,password=on', '-vga', 'std'], vgaType: 'std' })
    expect(c.getDisplay()).toBe(7)
    expect(c.getAddr()).toBe('0.0.0.0')
    expect(c.hasPassword()).toBe(true)
    const d = new VncConfig({ display: 0, addr: '127.0.0.1' })
    expect(d.hasPassword()).toBe(false)
    same(d.generateArgs(), { args: ['-vnc', '127.0.0.1:0', '-vga', 'std'], vgaType: 'std' })
    expect(d.validate()).toStrictEqual({ valid: true, errors: [], validationErrors: [] })
  })

  test('54: display number and address errors', () => {
    expectDisplayError(vnc({ display: 100 }), 'INVALID_DISPLAY_NUMBER',
      'VNC configuration validation failed: Display number must be between 0 and 99')
    expectDisplayError(vnc({ display: 1.5 }), 'INVALID_DISPLAY_NUMBER',
      'VNC configuration validation failed: Display number must be an integer')
    const e = vnc({ display: 1, addr: '' })
    expectDisplayError(e, 'INVALID_ADDRESS', 'VNC configuration validation failed: Address cannot be empty')
    expect(e.context.validationErrors).toStrictEqual([{ code: 'INVALID_ADDRESS', message: 'Address cannot be empty' }])
    expect(e.context.errors).toStrictEqual(['Address cannot be empty'])
  })

  test('54b: display -1 and address injection', () => {
    expectDisplayError(vnc({ display: -1 }), 'INVALID_DISPLAY_NUMBER',
      'VNC configuration validation failed: Display number must be between 0 and 99')
    expectDisplayError(vnc({ display: 1, addr: '0.0.0.0,password=off' }), 'INVALID_ADDRESS',
      'VNC configuration validation failed: Invalid address format: 0.0.0.0,password=off')
  })
})

describe('secret-file passwords', () => {
  test('SpiceConfig passwordSecretFile', () => {
    const cfg = new SpiceConfig({ port: 5901, addr: '127.0.0.1', passwordSecretFile: '/run/infinivirt/s1' })
    same(cfg.generateArgs(), {
      args: [
        '-object', 'secret,id=infinivirt-spice-secret0,file=/run/infinivirt/s1,format=raw',
        '-spice', `port=5901,addr=127.0.0.1,password-secret=infinivirt-spice-secret0,${SPICE_DEFAULTS}`,
        '-vga', 'qxl'
      ],
      vgaType: 'qxl'
    })
    expect(cfg.generateArgs().args.join(' ')).not.toMatch(/password=/)
  })

  test('SpiceConfig secret through the builder (object before -spice)', () => {
    const cfg = new SpiceConfig({ port: 5901, addr: '0.0.0.0', passwordSecretFile: '/run/s', enableAgent: false })
    expect(new QemuCommandBuilder().addSpice(cfg).build()).toStrictEqual([
      '-object', 'secret,id=infinivirt-spice-secret0,file=/run/s,format=raw',
      '-spice', `port=5901,addr=0.0.0.0,password-secret=infinivirt-spice-secret0,${SPICE_DEFAULTS}`,
      '-vga', 'qxl'
    ])
  })

  test('plain addSpice options with passwordSecretFile', () => {
    expect(new QemuCommandBuilder().addSpice({ port: 5901, addr: '0.0.0.0', passwordSecretFile: '/run/s', enableAgent: false }).build())
      .toStrictEqual([
        '-object', 'secret,id=infinivirt-spice-secret0,file=/run/s,format=raw',
        '-spice', 'port=5901,addr=0.0.0.0,password-secret=infinivirt-spice-secret0',
        '-vga', 'qxl'
      ])
  })

  test('VncConfig passwordSecretFile', () => {
    same(new VncConfig({ display: 1, addr: '127.0.0.1', passwordSecretFile: '/run/v' }).generateArgs(), {
      args: [
        '-object', 'secret,id=infinivirt-vnc-secret0,file=/run/v,format=raw',
        '-vnc', '127.0.0.1:1,password-secret=infinivirt-vnc-secret0',
        '-vga', 'std'
      ],
      vgaType: 'std'
    })
  })

  test('VncConfig secret and plain addVnc secret through the builder', () => {
    expect(new QemuCommandBuilder().addVnc(new VncConfig({ display: 2, passwordSecretFile: '/run/v' })).build()).toStrictEqual([
      '-object', 'secret,id=infinivirt-vnc-secret0,file=/run/v,format=raw',
      '-vnc', '0.0.0.0:2,password-secret=infinivirt-vnc-secret0',
      '-vga', 'std'
    ])
    expect(new QemuCommandBuilder().addVnc({ display: 1, addr: '0.0.0.0', passwordSecretFile: '/run/v' }).build()).toStrictEqual([
      '-object', 'secret,id=infinivirt-vnc-secret0,file=/run/v,format=raw',
      '-vnc', '0.0.0.0:1,password-secret=infinivirt-vnc-secret0',
      '-vga', 'std'
    ])
  })

  test('secret file path with a comma is escaped', () => {
    expect(new SpiceConfig({ port: 5901, addr: '127.0.0.1', passwordSecretFile: '/run/a,b' }).generateArgs().args.slice(0, 2))
      .toStrictEqual(['-object', 'secret,id=infinivirt-spice-secret0,file=/run/a,,b,format=raw'])
  })
})

describe('writeDisplaySecretFile', () => {
  let dir
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'infinivirt-secret-')) })
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }) })

  test('writes exactly the password with mode 0600 and resolves its path', async () => {
    const p = writeDisplaySecretFile('pw', dir)
    expect(util.types.isPromise(p)).toBe(true)
    const file = await p
    expect(typeof file).toBe('string')
    expect(path.isAbsolute(file)).toBe(true)
    expect(fs.realpathSync(path.dirname(file))).toBe(fs.realpathSync(dir))
    expect(fs.readFileSync(file, 'utf8')).toBe('pw')
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    // The path can go straight into passwordSecretFile.
    const args = new SpiceConfig({ port: 5901, addr: '127.0.0.1', passwordSecretFile: file }).generateArgs().args
    expect(args[1]).toBe(`secret,id=infinivirt-spice-secret0,file=${file.replace(/,/g, ',,')},format=raw`)
  })

  test('two calls produce two distinct files', async () => {
    const a = await writeDisplaySecretFile('one', dir)
    const b = await writeDisplaySecretFile('two', dir)
    expect(a).not.toBe(b)
    expect(fs.readFileSync(a, 'utf8')).toBe('one')
    expect(fs.readFileSync(b, 'utf8')).toBe('two')
  })

  test("rejects a password with '\\n' with DisplayError INVALID_PASSWORD", async () => {
    let err
    try {
      await writeDisplaySecretFile('a\nb', dir)
    } catch (e) {
      err = e
    }
    expect(err).toBeDefined()
    expectDisplayError(err, 'INVALID_PASSWORD')
    // Nothing was written.
    expect(fs.readdirSync(dir)).toStrictEqual([])
  })

  test('returns a promise that rejects (not a synchronous throw) for a bad password', async () => {
    let p
    expect(() => { p = writeDisplaySecretFile('a\nb', dir) }).not.toThrow()
    await expect(p).rejects.toMatchObject({ name: 'DisplayError', code: 'INVALID_PASSWORD' })
  })
})
