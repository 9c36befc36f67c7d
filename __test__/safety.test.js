'use strict'

// Adversarial inputs through the public API. Values that could splice extra
// QEMU options are refused (LifecycleError INVALID_CONFIG from the builder,
// DisplayError for console settings) or, for paths, passwords and VM names,
// escaped QEMU-style (',' → ',,'). A refused call must append nothing.
// Also: the password-less console warning and strict display mode.

process.env.INFINIVIRT_WARNINGS = 'off'
delete process.env.INFINIVIRT_STRICT_DISPLAY

const { spawnSync } = require('node:child_process')
const path = require('node:path')
const util = require('node:util')
const {
  QemuCommandBuilder,
  SpiceConfig,
  VncConfig,
  LifecycleError,
  DisplayError
} = require('..')

const REPO = path.resolve(__dirname, '..')
const QB = () => new QemuCommandBuilder()
const SPICE_DEFAULTS =
  'image-compression=auto_glz,jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,streaming-video=filter,playback-compression=on'
const DISK = { path: '/d/a.qcow2', format: 'qcow2', bus: 'virtio', cache: 'none' }
const NIC = { tapName: 'vnet-abc', mac: '52:54:00:aa:bb:cc', model: 'virtio-net-pci' }

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

function expectErr (err, Class, code) {
  expect(util.types.isNativeError(err)).toBe(true)
  expect(err instanceof Error).toBe(true)
  expect(err instanceof Class).toBe(true)
  expect(err.name).toBe(Class.name)
  expect(err.code).toBe(code)
}

/**
 * Runs `call(b)` on a builder that already holds some arguments, expects it to
 * throw `Class`/`code`, and checks that the argv did not change.
 */
function refused (call, Class, code) {
  const b = QB().enableKvm().setMemory(2)
  const before = b.build()
  const err = thrown(() => call(b))
  expectErr(err, Class, code)
  expect(b.build()).toStrictEqual(before)
  return err
}

const refusedCfg = (call) => refused(call, LifecycleError, 'INVALID_CONFIG')
const refusedDisplay = (call, code) => refused(call, DisplayError, code)

describe('disks', () => {
  test("cache 'none,readonly=on' is refused", () => {
    refusedCfg((b) => b.addDisk({ ...DISK, cache: 'none,readonly=on' }))
  })

  test('format with an extra option is refused', () => {
    refusedCfg((b) => b.addDisks([{ ...DISK, format: 'qcow2,backing=/etc/shadow' }]))
  })

  test('format outside the closed set is refused; vmdk is accepted', () => {
    refusedCfg((b) => b.addDisk({ ...DISK, format: 'iso' }))
    expect(QB().addDisk({ ...DISK, format: 'vmdk' }).build())
      .toStrictEqual(['-drive', 'file=/d/a.qcow2,format=vmdk,if=virtio,cache=none,index=0'])
  })

  test('bus with an extra option / unknown bus is refused', () => {
    refusedCfg((b) => b.addDisk({ ...DISK, bus: 'virtio,snapshot=on' }))
    refusedCfg((b) => b.addDisk({ ...DISK, bus: 'nvme' }))
  })

  test('a path with a comma is escaped', () => {
    expect(QB().addDisk({ ...DISK, path: '/d/a,format=raw.qcow2' }).build())
      .toStrictEqual(['-drive', 'file=/d/a,,format=raw.qcow2,format=qcow2,if=virtio,cache=none,index=0'])
  })

  test('a unicode path is accepted verbatim', () => {
    expect(QB().addDisk({ ...DISK, path: '/d/ñ/ディスク 1.qcow2' }).build())
      .toStrictEqual(['-drive', 'file=/d/ñ/ディスク 1.qcow2,format=qcow2,if=virtio,cache=none,index=0'])
  })

  test('empty path and control characters in a path are refused', () => {
    refusedCfg((b) => b.addDisk({ ...DISK, path: '' }))
    refusedCfg((b) => b.addDisk({ ...DISK, path: '/d/a\n.qcow2' }))
    refusedCfg((b) => b.addDisk({ ...DISK, path: '/d/a\u0000.qcow2' }))
  })

  test('one bad disk in addDisks appends nothing at all', () => {
    refusedCfg((b) => b.addDisks([DISK, { ...DISK, cache: 'bogus' }]))
  })
})

describe('SPICE and VNC', () => {
  test('plain SPICE password with a comma is escaped', () => {
    const args = QB().addSpice({ port: 5901, addr: '127.0.0.1', password: 'x,disable-ticketing=on', enableAgent: false }).build()
    expect(args).toStrictEqual(['-spice', 'port=5901,addr=127.0.0.1,password=x,,disable-ticketing=on', '-vga', 'qxl'])
  })

  test('SpiceConfig password with a comma is escaped', () => {
    expect(new SpiceConfig({ port: 5901, addr: '127.0.0.1', password: 'a,b' }).generateArgs().args[1])
      .toBe(`port=5901,addr=127.0.0.1,password=a,,b,${SPICE_DEFAULTS}`)
  })

  test('SPICE address with an extra option is refused (plain and SpiceConfig)', () => {
    refusedDisplay((b) => b.addSpice({ port: 5901, addr: '0.0.0.0,disable-ticketing=on' }), 'INVALID_ADDRESS')
    expectErr(thrown(() => new SpiceConfig({ port: 5901, addr: '0.0.0.0,disable-ticketing=on' })), DisplayError, 'INVALID_ADDRESS')
  })

  test("SpiceConfig address '999.1.1.1' is refused", () => {
    expectErr(thrown(() => new SpiceConfig({ port: 5901, addr: '999.1.1.1' })), DisplayError, 'INVALID_ADDRESS')
  })

  test('passwords with control characters are refused', () => {
    refusedDisplay((b) => b.addSpice({ port: 5901, addr: '127.0.0.1', password: 'a\nb' }), 'INVALID_PASSWORD')
    expectErr(thrown(() => new SpiceConfig({ port: 5901, password: 'a\u0000b' })), DisplayError, 'INVALID_PASSWORD')
    expectErr(thrown(() => new SpiceConfig({ port: 5901, password: 'a\nb' })), DisplayError, 'INVALID_PASSWORD')
  })

  test('plain SPICE port that is not a valid integer port is refused', () => {
    refusedDisplay((b) => b.addSpice({ port: 70000, addr: '127.0.0.1' }), 'INVALID_PORT')
    refusedDisplay((b) => b.addSpice({ port: 5900.5, addr: '127.0.0.1' }), 'INVALID_PORT')
    refusedDisplay((b) => b.addSpice({ port: NaN, addr: '127.0.0.1' }), 'INVALID_PORT')
  })

  test('playbackCompression injection is refused', () => {
    expectErr(thrown(() => new SpiceConfig({ port: 5901, playbackCompression: 'on,gl=on' })), DisplayError, 'INVALID_COMPRESSION_MODE')
  })

  test('qxl memory 0 / NaN / fractional is refused', () => {
    refusedCfg((b) => b.addSpice({ port: 5901, addr: '127.0.0.1' }, 0))
    refusedCfg((b) => b.addSpice({ port: 5901, addr: '127.0.0.1' }, NaN))
    refusedCfg((b) => b.addSpice({ port: 5901, addr: '127.0.0.1' }, 1.5))
    refusedCfg((b) => b.addSpice(new SpiceConfig({ port: 5901, addr: '127.0.0.1' }), 0))
  })

  test('VNC address with extra options is refused', () => {
    refusedDisplay((b) => b.addVnc({ display: 1, addr: '0.0.0.0:1,password=off' }), 'INVALID_ADDRESS')
    refusedDisplay((b) => b.addVnc({ display: 1, addr: '127.0.0.1,websocket=5700' }), 'INVALID_ADDRESS')
    expectErr(thrown(() => new VncConfig({ display: 1, addr: '0.0.0.0,password=off' })), DisplayError, 'INVALID_ADDRESS')
  })

  test('VNC display -1 / 100 / 1.5 is refused', () => {
    refusedDisplay((b) => b.addVnc({ display: -1, addr: '127.0.0.1' }), 'INVALID_DISPLAY_NUMBER')
    refusedDisplay((b) => b.addVnc({ display: 100, addr: '127.0.0.1' }), 'INVALID_DISPLAY_NUMBER')
    refusedDisplay((b) => b.addVnc({ display: 1.5, addr: '127.0.0.1' }), 'INVALID_DISPLAY_NUMBER')
  })

  test('plain addSpice: secret file path with a comma is escaped once', () => {
    expect(QB().addSpice({ port: 5901, addr: '127.0.0.1', passwordSecretFile: '/run/a,b', enableAgent: false }).build())
      .toStrictEqual([
        '-object', 'secret,id=infinivirt-spice-secret0,file=/run/a,,b,format=raw',
        '-spice', 'port=5901,addr=127.0.0.1,password-secret=infinivirt-spice-secret0',
        '-vga', 'qxl'
      ])
  })

  test('plain addVnc: secret file path with a comma is escaped once', () => {
    expect(QB().addVnc({ display: 1, addr: '127.0.0.1', passwordSecretFile: '/run/a,b' }).build()).toStrictEqual([
      '-object', 'secret,id=infinivirt-vnc-secret0,file=/run/a,,b,format=raw',
      '-vnc', '127.0.0.1:1,password-secret=infinivirt-vnc-secret0',
      '-vga', 'std'
    ])
  })

  test('SpiceConfig / VncConfig: secret file path with a comma is escaped once', () => {
    expect(QB().addSpice(new SpiceConfig({ port: 5901, addr: '127.0.0.1', passwordSecretFile: '/run/a,b', enableAgent: false })).build().slice(0, 2))
      .toStrictEqual(['-object', 'secret,id=infinivirt-spice-secret0,file=/run/a,,b,format=raw'])
    expect(QB().addVnc(new VncConfig({ display: 1, addr: '127.0.0.1', passwordSecretFile: '/run/a,b' })).build().slice(0, 2))
      .toStrictEqual(['-object', 'secret,id=infinivirt-vnc-secret0,file=/run/a,,b,format=raw'])
  })

  test('secret file path with control characters is refused', () => {
    expectErr(thrown(() => new SpiceConfig({ port: 5901, addr: '127.0.0.1', passwordSecretFile: '/run/s\n' })), DisplayError, 'INVALID_PASSWORD')
    refusedDisplay((b) => b.addSpice({ port: 5901, addr: '127.0.0.1', passwordSecretFile: '/run/s\n' }), 'INVALID_PASSWORD')
    refusedDisplay((b) => b.addVnc({ display: 1, addr: '127.0.0.1', passwordSecretFile: '/run/s\u0000' }), 'INVALID_PASSWORD')
  })
})

describe('process options and VM names', () => {
  test("VM name 'vm,debug-threads=on' is refused", () => {
    refusedCfg((b) => b.setProcessOptions({ vmId: 'x', name: 'vm,debug-threads=on' }))
  })

  test("VM name 'Sales, floor 2' is escaped", () => {
    expect(QB().setProcessOptions({ vmId: 'x', name: 'Sales, floor 2' }).build()).toStrictEqual(['-name', 'Sales,, floor 2'])
  })

  test('unicode VM name is accepted verbatim', () => {
    expect(QB().setProcessOptions({ vmId: 'x', name: 'Máquina 日本 🚀' }).build()).toStrictEqual(['-name', 'Máquina 日本 🚀'])
  })

  test("empty name, name with '=' or a newline is refused", () => {
    refusedCfg((b) => b.setProcessOptions({ vmId: 'x', name: '' }))
    refusedCfg((b) => b.setProcessOptions({ vmId: 'x', name: 'a=b' }))
    refusedCfg((b) => b.setProcessOptions({ vmId: 'x', name: 'vm\n-daemonize' }))
  })

  test('pidfile with a newline is refused (and the daemonize flag is not set)', () => {
    const b = QB()
    expectErr(thrown(() => b.setProcessOptions({ vmId: 'x', name: 'n', daemonize: true, pidfile: '/p\n.pid' })), LifecycleError, 'INVALID_CONFIG')
    expect(b.build()).toStrictEqual([])
    expect(b.getPidfilePath()).toBeNull()
    refusedCfg((b2) => b2.setProcessOptions({ vmId: 'x', name: 'n', pidfile: '/p\n.pid' }))
  })

  test('-pidfile and -cdrom take a plain filename (QEMU does not parse options there): kept verbatim', () => {
    expect(QB().setProcessOptions({ vmId: 'x', name: 'n', pidfile: '/p/a,b.pid' }).build())
      .toStrictEqual(['-name', 'n', '-pidfile', '/p/a,b.pid'])
    expect(QB().addCdrom('/iso/a,b.iso').build()).toStrictEqual(['-cdrom', '/iso/a,b.iso'])
  })

  test('addRawArg with a NUL byte is refused', () => {
    refusedCfg((b) => b.addRawArg('a\u0000b'))
  })

  test('addRawArg with an empty string is refused', () => {
    refusedCfg((b) => b.addRawArg(''))
  })

  test('setBinary with an empty string or a newline is refused', () => {
    const b = QB()
    expectErr(thrown(() => b.setBinary('')), LifecycleError, 'INVALID_CONFIG')
    expectErr(thrown(() => b.setBinary('qemu\n')), LifecycleError, 'INVALID_CONFIG')
    expect(b.getBinary()).toBe('qemu-system-x86_64')
  })
})

describe('memory, CPU, machine', () => {
  test.each([[1e300], [-1], [NaN], [0], [Infinity], [16385]])('setMemory(%p) is refused', (v) => {
    refusedCfg((b) => b.setMemory(v))
  })

  test('setMemory(16384) is the upper bound', () => {
    expect(QB().setMemory(16384).build()).toStrictEqual(['-m', '16384G'])
  })

  test.each([
    ['host', 1.5], ['host', 0], ['host', 1025], ['host', -2], ['host', NaN]
  ])('setCpu(%p, %p) is refused', (model, cores) => {
    refusedCfg((b) => b.setCpu(model, cores))
  })

  test("setCpu('host,+vmx') and setCpu('') are refused", () => {
    refusedCfg((b) => b.setCpu('host,+vmx'))
    refusedCfg((b) => b.setCpu('host,+vmx', 2))
    refusedCfg((b) => b.setCpu(''))
  })

  test('setCpu upper bound 1024 cores is accepted', () => {
    expect(QB().setCpu('host', 1024).build()).toStrictEqual(['-cpu', 'host', '-smp', 'cores=1024'])
  })

  test("setMachine('q35,accel=tcg') and bad machine options are refused", () => {
    refusedCfg((b) => b.setMachine('q35,accel=tcg'))
    refusedCfg((b) => b.setMachine('virt'))
    refusedCfg((b) => b.setMachine('q35', { accel: 'kvm,x=y' }))
    refusedCfg((b) => b.setMachine('q35', { accel: 'xen' }))
    refusedCfg((b) => b.setMachine('q35', { kernelIrqchip: 'on,x=y' }))
  })

  test('versioned machine types and accel/irqchip sets are accepted', () => {
    expect(QB().setMachine('pc-q35-8.2').build()).toStrictEqual(['-machine', 'pc-q35-8.2'])
    expect(QB().setMachine('pc-i440fx-7.1', { accel: 'kvm:tcg', kernelIrqchip: 'split' }).build())
      .toStrictEqual(['-machine', 'pc-i440fx-7.1,accel=kvm:tcg,kernel-irqchip=split'])
  })

  test('boot order outside {c,d,n} is refused', () => {
    refusedCfg((b) => b.setBootOrder(['c,menu=on']))
    refusedCfg((b) => b.setBootOrder(['d', 'x']))
  })

  test('unknown pinning strategy is refused', () => {
    const b = QB()
    expectErr(thrown(() => b.enableCpuPinning('evil', 2)), LifecycleError, 'INVALID_CONFIG')
    expect(b.isCpuPinningEnabled()).toBe(false)
  })
})

describe('network', () => {
  test("TAP name with ',' or longer than 15 characters is refused", () => {
    refusedCfg((b) => b.addNetwork({ ...NIC, tapName: 'vnet,x' }))
    refusedCfg((b) => b.addNetwork({ ...NIC, tapName: 'vnet-0123456789a' }))
    refusedCfg((b) => b.addNetwork({ ...NIC, tapName: '' }))
  })

  test('a 15-character TAP name is accepted', () => {
    expect(QB().addNetwork({ ...NIC, tapName: 'vnet-0123456789' }).build()).toStrictEqual([
      '-netdev', 'tap,id=net0,ifname=vnet-0123456789,script=no,downscript=no',
      '-device', 'virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:cc'
    ])
  })

  test('MAC with extra options is refused', () => {
    refusedCfg((b) => b.addNetwork({ ...NIC, mac: '52:54:00:aa:bb:cc,romfile=/x' }))
    refusedCfg((b) => b.addNetwork({ ...NIC, mac: 'zz:54:00:aa:bb:cc' }))
  })

  test('NIC model injection / unknown model is refused', () => {
    refusedCfg((b) => b.addNetwork({ ...NIC, model: 'virtio-net-pci,romfile=/x' }))
    refusedCfg((b) => b.addNetwork({ ...NIC, model: 'rtl8139' }))
  })

  test('queues -1 / NaN / 1.5 are refused', () => {
    refusedCfg((b) => b.addNetwork({ ...NIC, queues: -1 }))
    refusedCfg((b) => b.addNetwork({ ...NIC, queues: NaN }))
    refusedCfg((b) => b.addNetwork({ ...NIC, queues: 1.5 }))
  })
})

describe('channels, firmware, passthrough', () => {
  test('virtio channel name / chardev id injection is refused', () => {
    refusedCfg((b) => b.addVirtioChannel('org.x,name=y', '/run/x.sock', 'chx'))
    refusedCfg((b) => b.addVirtioChannel('org.x', '/run/x.sock', 'chx,id=y'))
    refusedCfg((b) => b.addVirtioChannel('', '/run/x.sock', 'chx'))
  })

  test('a refused channel does not add the virtio-serial controller', () => {
    const b = QB()
    thrown(() => b.addVirtioChannel('a,b', '/run/x.sock', 'chx'))
    expect(b.build()).toStrictEqual([])
    // ...and the controller is still added by the next valid consumer.
    expect(b.addGuestAgentChannel('/run/ga.sock').build()[1]).toBe('virtio-serial-pci,id=virtio-serial0')
  })

  test('socket paths with a comma are escaped (channels, QMP, TPM)', () => {
    expect(QB().addGuestAgentChannel('/run/a,server=off.sock').build()).toStrictEqual([
      '-device', 'virtio-serial-pci,id=virtio-serial0',
      '-chardev', 'socket,path=/run/a,,server=off.sock,server=on,wait=off,id=chagent0',
      '-device', 'virtserialport,chardev=chagent0,name=org.qemu.guest_agent.0'
    ])
    expect(QB().addQmp('/run/a,b.sock').build()).toStrictEqual(['-qmp', 'unix:/run/a,,b.sock,server,nowait'])
    expect(QB().addTPM('/run/a,b.sock').build()).toStrictEqual([
      '-chardev', 'socket,id=chrtpm,path=/run/a,,b.sock', '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-tis,tpmdev=tpm0'
    ])
  })

  test("a QMP socket path with '=' is given with its key (QEMU reads a keyless first item with '=' as a parameter)", () => {
    expect(QB().addQmp('a=b').build()).toStrictEqual(['-qmp', 'unix:path=a=b,server,nowait'])
    expect(QB().addQmp('/run/q=1,x/vm.sock').build()).toStrictEqual(['-qmp', 'unix:path=/run/q=1,,x/vm.sock,server,nowait'])
    // QEMU itself starts with it and binds the socket at that very path.
    const dir = require('node:fs').mkdtempSync(path.join(require('node:os').tmpdir(), 'iv-qmp=a,b-'))
    try {
      const sock = path.join(dir, 'q.sock')
      const argv = QB().addQmp(sock).build()
      const r = spawnSync('qemu-system-x86_64', ['-machine', 'none', '-nodefaults', '-display', 'none', ...argv, '-daemonize', '-pidfile', path.join(dir, 'pid')], { encoding: 'utf8' })
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
      expect(require('node:fs').statSync(sock).isSocket()).toBe(true)
      process.kill(Number(require('node:fs').readFileSync(path.join(dir, 'pid'), 'utf8')), 'SIGKILL')
    } finally {
      require('node:fs').rmSync(dir, { recursive: true, force: true })
    }
  })

  test('firmware, UEFI vars and second CD-ROM paths with a comma are escaped', () => {
    expect(QB().setFirmware('/a,b.fd').setUefiVars('/v,readonly=off.fd').build()).toStrictEqual([
      '-drive', 'if=pflash,format=raw,readonly=on,file=/a,,b.fd',
      '-drive', 'if=pflash,format=raw,file=/v,,readonly=off.fd'
    ])
    expect(QB().addSecondCdrom('/iso/a,b.iso').build()).toStrictEqual([
      '-drive', 'file=/iso/a,,b.iso,if=none,media=cdrom,readonly=on,id=cdrom1', '-device', 'ide-cd,drive=cdrom1'
    ])
  })

  test('control characters in socket/firmware paths are refused', () => {
    refusedCfg((b) => b.addQmp('/run/q\n.sock'))
    refusedCfg((b) => b.addGuestAgentChannel('/run/ga\u0000.sock'))
    refusedCfg((b) => b.setFirmware('/f\r.fd'))
    refusedCfg((b) => b.addCdrom('/iso/x\n.iso'))
  })

  test('ROM path traversal is refused with the spec message', () => {
    const e = refusedCfg((b) => b.addGpuPassthrough('01:00.0', '/var/lib/infinivirt/roms/../../etc/shadow'))
    expect(e.message).toBe('ROM file must be in /var/lib/infinivirt/roms/. Attempted path: /var/lib/infinivirt/roms/../../etc/shadow')
  })

  test('ROM path with a comma inside the allowed dir is escaped', () => {
    expect(QB().addPciPassthrough('04:00.0', '/var/lib/infinivirt/roms/a,x-vga=on.rom').build())
      .toStrictEqual(['-device', 'vfio-pci,host=04:00.0,romfile=/var/lib/infinivirt/roms/a,,x-vga=on.rom'])
  })

  test("PCI address '01:00.0,x-vga=on' is refused with the spec message", () => {
    const e = refusedCfg((b) => b.addGpuPassthrough('01:00.0,x-vga=on'))
    expect(e.message).toBe("Invalid PCI address '01:00.0,x-vga=on': Invalid PCI address format '01:00.0,x-vga=on'. Expected format: 'XX:XX.X' (short) or 'XXXX:XX:XX.X' (long), where X is a hexadecimal digit")
    refusedCfg((b) => b.addPciPassthrough('01:00.0,x-vga=on'))
    refusedCfg((b) => b.addGpuWithAudio('01:00.0', '01:00.1,x-vga=on'))
  })
})

// ---------------------------------------------------------------------------
// Password-less consoles: warning and strict mode
// ---------------------------------------------------------------------------

/** Runs a script in a child node with a controlled environment. */
function runNode (script, env) {
  const base = { ...process.env }
  delete base.INFINIVIRT_WARNINGS
  delete base.INFINIVIRT_STRICT_DISPLAY
  delete base.DEBUG
  const r = spawnSync(process.execPath, ['-e', `const api = require(${JSON.stringify(REPO)});\n${script}`], {
    cwd: REPO, env: { ...base, ...env }, encoding: 'utf8', timeout: 30000
  })
  if (r.error) throw r.error
  return r
}

describe('password-less console warning', () => {
  const open = `
    const b = new api.QemuCommandBuilder()
      .addSpice({ port: 5901, addr: '0.0.0.0', disableTicketing: true, enableAgent: false })
      .setProcessOptions({ vmId: 'vm-1', name: 'Test VM' })
    b.build()
    b.buildCommand()
    console.log('ok')
  `

  test('printed once to stderr at build time, naming the VM and the address', () => {
    const r = runNode(open, {})
    expect(r.status).toBe(0)
    expect(r.stdout).toBe('ok\n')
    const lines = r.stderr.split('\n').filter((l) => l.includes('Test VM'))
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain('0.0.0.0')
  })

  test('not printed before build()', () => {
    const r = runNode(`
      new api.QemuCommandBuilder().addSpice({ port: 5901, addr: '0.0.0.0' }).setProcessOptions({ vmId: 'v', name: 'Quiet VM' })
    `, {})
    expect(r.status).toBe(0)
    expect(r.stderr).not.toContain('Quiet VM')
  })

  test('VNC without a password on 0.0.0.0 warns too', () => {
    const r = runNode(`
      new api.QemuCommandBuilder().addVnc({ display: 1, addr: '0.0.0.0' }).setProcessOptions({ vmId: 'v', name: 'Vnc VM' }).build()
    `, {})
    const lines = r.stderr.split('\n').filter((l) => l.includes('Vnc VM'))
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain('0.0.0.0')
  })

  test('INFINIVIRT_WARNINGS=off silences it', () => {
    const r = runNode(open, { INFINIVIRT_WARNINGS: 'off' })
    expect(r.status).toBe(0)
    expect(r.stderr).toBe('')
  })

  test('loopback and password-protected consoles do not warn', () => {
    const r = runNode(`
      new api.QemuCommandBuilder()
        .addSpice({ port: 5901, addr: '127.0.0.1', disableTicketing: true, enableAgent: false })
        .addSpice({ port: 5902, addr: '0.0.0.0', password: 'pw', enableAgent: false })
        .addSpice(new api.SpiceConfig({ port: 5903, addr: '10.0.0.1', password: 'pw', enableAgent: false }))
        .addSpice({ port: 5904, addr: '0.0.0.0', passwordSecretFile: '/run/s', enableAgent: false })
        .addVnc({ display: 1, addr: '::1' })
        .addVnc({ display: 2, addr: 'localhost' })
        .addVnc({ display: 3, addr: '0.0.0.0', password: true })
        .setProcessOptions({ vmId: 'v', name: 'Safe VM' })
        .build()
    `, {})
    expect(r.status).toBe(0)
    expect(r.stderr).toBe('')
  })
})

describe('strict display security', () => {
  test('setStrictDisplaySecurity(true): open SPICE/VNC consoles throw DisplayError INVALID_PASSWORD', () => {
    refusedDisplay((b) => b.setStrictDisplaySecurity(true).addSpice({ port: 5901, addr: '0.0.0.0', disableTicketing: true }), 'INVALID_PASSWORD')
    refusedDisplay((b) => b.setStrictDisplaySecurity(true).addSpice({ port: 5901, addr: '0.0.0.0' }), 'INVALID_PASSWORD')
    refusedDisplay((b) => b.setStrictDisplaySecurity(true).addSpice(new SpiceConfig({ port: 5901, disableTicketing: true })), 'INVALID_PASSWORD')
    refusedDisplay((b) => b.setStrictDisplaySecurity(true).addVnc({ display: 1, addr: '0.0.0.0' }), 'INVALID_PASSWORD')
    refusedDisplay((b) => b.setStrictDisplaySecurity(true).addVnc(new VncConfig({ display: 1 })), 'INVALID_PASSWORD')
  })

  test('strict mode still allows loopback and password-protected consoles', () => {
    const b = QB().setStrictDisplaySecurity(true)
      .addSpice({ port: 5901, addr: '127.0.0.5', enableAgent: false })
      .addSpice({ port: 5902, addr: '0.0.0.0', password: 'pw', enableAgent: false })
      .addVnc({ display: 1, addr: '::1' })
      .addVnc({ display: 2, addr: 'localhost' })
      .addVnc({ display: 3, addr: '0.0.0.0', password: true })
    expect(b.build()).toStrictEqual([
      '-spice', 'port=5901,addr=127.0.0.5', '-vga', 'qxl',
      '-spice', 'port=5902,addr=0.0.0.0,password=pw', '-vga', 'qxl',
      '-vnc', '[::1]:1', '-vga', 'std',
      '-vnc', 'localhost:2', '-vga', 'std',
      '-vnc', '0.0.0.0:3,password=on', '-vga', 'std'
    ])
  })

  test('setStrictDisplaySecurity is fluent and off by default', () => {
    const b = QB()
    expect(b.isStrictDisplaySecurity()).toBe(false)
    expect(b.setStrictDisplaySecurity(true)).toBe(b)
    expect(b.isStrictDisplaySecurity()).toBe(true)
    b.setStrictDisplaySecurity(false)
    expect(b.addSpice({ port: 5901, addr: '0.0.0.0', disableTicketing: true, enableAgent: false }).build())
      .toStrictEqual(['-spice', 'port=5901,addr=0.0.0.0,disable-ticketing=on', '-vga', 'qxl'])
  })

  test('INFINIVIRT_STRICT_DISPLAY=1 in the environment turns strict mode on', () => {
    const r = runNode(`
      const out = {}
      try {
        new api.QemuCommandBuilder().addSpice({ port: 5901, addr: '0.0.0.0' })
        out.open = 'no error'
      } catch (e) {
        out.open = { isNative: require('node:util').types.isNativeError(e), isDisplay: e instanceof api.DisplayError, name: e.name, code: e.code }
      }
      out.loopback = new api.QemuCommandBuilder().addSpice({ port: 5901, addr: '127.0.0.1', enableAgent: false }).build()
      out.withPassword = new api.QemuCommandBuilder().addSpice({ port: 5901, addr: '0.0.0.0', password: 'pw', enableAgent: false }).build()
      out.strict = new api.QemuCommandBuilder().isStrictDisplaySecurity()
      console.log(JSON.stringify(out))
    `, { INFINIVIRT_STRICT_DISPLAY: '1' })
    expect(r.status).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.open).toStrictEqual({ isNative: true, isDisplay: true, name: 'DisplayError', code: 'INVALID_PASSWORD' })
    expect(out.loopback).toStrictEqual(['-spice', 'port=5901,addr=127.0.0.1', '-vga', 'qxl'])
    expect(out.withPassword).toStrictEqual(['-spice', 'port=5901,addr=0.0.0.0,password=pw', '-vga', 'qxl'])
    expect(out.strict).toBe(true)
  })

  test('without INFINIVIRT_STRICT_DISPLAY the same open console is accepted', () => {
    const r = runNode(`
      console.log(JSON.stringify(new api.QemuCommandBuilder().addSpice({ port: 5901, addr: '0.0.0.0', enableAgent: false }).build()))
    `, { INFINIVIRT_WARNINGS: 'off' })
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout)).toStrictEqual(['-spice', 'port=5901,addr=0.0.0.0', '-vga', 'qxl'])
  })
})
