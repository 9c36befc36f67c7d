'use strict'

// QemuCommandBuilder through the public entry: API.md §2 and §20.1 (items 1–35),
// plus §20.8 item 97 (the full Ubuntu argv assembled in the §5.4 call order).

// Items 12/13/14 and 97 open password-less consoles on 0.0.0.0, which makes
// build() print a warning; keep the test output quiet and make sure no strict
// mode leaks in from the environment (both are read from the process env).
process.env.INFINIVIRT_WARNINGS = 'off'
delete process.env.INFINIVIRT_STRICT_DISPLAY

const util = require('node:util')
const {
  QemuCommandBuilder,
  SpiceConfig,
  VncConfig,
  LifecycleError
} = require('..')

const QB = () => new QemuCommandBuilder()
const VDAGENT = [
  '-device', 'virtserialport,chardev=spicechannel0,name=com.redhat.spice.0',
  '-chardev', 'spicevmc,id=spicechannel0,name=vdagent'
]
const SERIAL = ['-device', 'virtio-serial-pci,id=virtio-serial0']
const SPICE_DEFAULTS =
  'image-compression=auto_glz,jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,streaming-video=filter,playback-compression=on'

/** Runs fn, expects it to throw, and returns the error. */
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

/** The builder errors of §2.4 keep their exact messages (now LifecycleError INVALID_CONFIG). */
function expectBuilderError (err, message) {
  expect(util.types.isNativeError(err)).toBe(true)
  expect(err instanceof Error).toBe(true)
  expect(err instanceof LifecycleError).toBe(true)
  expect(err.name).toBe('LifecycleError')
  expect(err.code).toBe('INVALID_CONFIG')
  expect(err.message).toBe(message)
}

describe('§20.1 QemuCommandBuilder', () => {
  test('1: enableKvm().buildCommand()', () => {
    expect(QB().enableKvm().buildCommand()).toStrictEqual({ command: 'qemu-system-x86_64', args: ['-enable-kvm'] })
  })

  test("2: setMachine('q35')", () => {
    expect(QB().setMachine('q35').build()).toStrictEqual(['-machine', 'q35'])
  })

  test("3: setMachine('q35', {accel:'kvm', kernelIrqchip:'on'})", () => {
    expect(QB().setMachine('q35', { accel: 'kvm', kernelIrqchip: 'on' }).build())
      .toStrictEqual(['-machine', 'q35,accel=kvm,kernel-irqchip=on'])
  })

  test("4: setCpu('host', 4) and setCpu('host')", () => {
    expect(QB().setCpu('host', 4).build()).toStrictEqual(['-cpu', 'host', '-smp', 'cores=4'])
    expect(QB().setCpu('host').build()).toStrictEqual(['-cpu', 'host'])
  })

  test("5: setCpu('host', 4, 2, 1) and setCpu('host', undefined, 2)", () => {
    expect(QB().setCpu('host', 4, 2, 1).build()).toStrictEqual(['-cpu', 'host', '-smp', 'cores=4,threads=2,sockets=1'])
    expect(QB().setCpu('host', undefined, 2).build()).toStrictEqual(['-cpu', 'host'])
  })

  test('6: setMemory(8) and setMemory(0.5)', () => {
    expect(QB().setMemory(8).build()).toStrictEqual(['-m', '8G'])
    expect(QB().setMemory(0.5).build()).toStrictEqual(['-m', '0.5G'])
  })

  test('7: addDisks with two disks', () => {
    const args = QB().addDisks([
      { path: '/d/a.qcow2', format: 'qcow2', bus: 'virtio', cache: 'writeback', discard: true },
      { path: '/d/b.raw', format: 'raw', bus: 'sata', cache: 'none' }
    ]).build()
    expect(args).toStrictEqual([
      '-drive', 'file=/d/a.qcow2,format=qcow2,if=virtio,cache=writeback,index=0,discard=unmap',
      '-drive', 'file=/d/b.raw,format=raw,if=sata,cache=none,index=1'
    ])
  })

  test('8: addNetwork queues:1', () => {
    expect(QB().addNetwork({ tapName: 'vnet-abc', mac: '52:54:00:aa:bb:cc', model: 'virtio-net-pci', queues: 1 }).build())
      .toStrictEqual([
        '-netdev', 'tap,id=net0,ifname=vnet-abc,script=no,downscript=no',
        '-device', 'virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:cc'
      ])
  })

  test('9: addNetwork queues:4 and queues:2', () => {
    expect(QB().addNetwork({ tapName: 'vnet-abc', mac: '52:54:00:aa:bb:cc', model: 'virtio-net-pci', queues: 4 }).build())
      .toStrictEqual([
        '-netdev', 'tap,id=net0,ifname=vnet-abc,script=no,downscript=no,queues=4,vhost=on',
        '-device', 'virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:cc,mq=on,vectors=10'
      ])
    expect(QB().addNetwork({ tapName: 'vnet-abc', mac: '52:54:00:aa:bb:cc', model: 'virtio-net-pci', queues: 2 }).build())
      .toStrictEqual([
        '-netdev', 'tap,id=net0,ifname=vnet-abc,script=no,downscript=no,queues=2,vhost=on',
        '-device', 'virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:cc,mq=on,vectors=6'
      ])
  })

  test('10: addNetwork e1000 without queues', () => {
    expect(QB().addNetwork({ tapName: 't0', mac: '52:54:00:00:00:01', model: 'e1000' }).build())
      .toStrictEqual([
        '-netdev', 'tap,id=net0,ifname=t0,script=no,downscript=no',
        '-device', 'e1000,netdev=net0,mac=52:54:00:00:00:01'
      ])
  })

  test('11: addSpice plain options with password', () => {
    expect(QB().addSpice({ port: 5901, addr: '0.0.0.0', password: 'pw' }).build()).toStrictEqual([
      '-spice', 'port=5901,addr=0.0.0.0,password=pw', '-vga', 'qxl', ...SERIAL, ...VDAGENT
    ])
  })

  test('12: addSpice plain options, disableTicketing, no agent', () => {
    expect(QB().addSpice({ port: 5901, addr: '0.0.0.0', disableTicketing: true, enableAgent: false }).build())
      .toStrictEqual(['-spice', 'port=5901,addr=0.0.0.0,disable-ticketing=on', '-vga', 'qxl'])
  })

  test('13: addSpice plain options with qxl memory 64 (no -vga at all)', () => {
    expect(QB().addSpice({ port: 5901, addr: '0.0.0.0' }, 64).build()).toStrictEqual([
      '-spice', 'port=5901,addr=0.0.0.0', '-device', 'qxl-vga,vgamem_mb=64', ...SERIAL, ...VDAGENT
    ])
  })

  test('14: addSpice(new SpiceConfig({port:5901}))', () => {
    expect(QB().addSpice(new SpiceConfig({ port: 5901 })).build()).toStrictEqual([
      '-spice', `port=5901,addr=0.0.0.0,${SPICE_DEFAULTS}`, '-vga', 'qxl', ...SERIAL, ...VDAGENT
    ])
  })

  test('15: addSpice(SpiceConfig with password, no agent, qxl 64)', () => {
    const cfg = new SpiceConfig({ port: 5902, addr: '127.0.0.1', password: 'x', enableAgent: false })
    expect(QB().addSpice(cfg, 64).build()).toStrictEqual([
      '-spice', `port=5902,addr=127.0.0.1,password=x,${SPICE_DEFAULTS}`,
      '-vga', 'none', '-device', 'qxl-vga,vgamem_mb=64'
    ])
  })

  test('16: SPICE agent + guest agent channel share one virtio-serial controller', () => {
    const args = QB().addSpice(new SpiceConfig({ port: 5901 })).addGuestAgentChannel('/run/ga.sock').build()
    const ctrl = args.filter((a) => a === 'virtio-serial-pci,id=virtio-serial0')
    expect(ctrl).toHaveLength(1)
    const ctrlAt = args.indexOf('virtio-serial-pci,id=virtio-serial0')
    const tail = [
      '-chardev', 'socket,path=/run/ga.sock,server=on,wait=off,id=chagent0',
      '-device', 'virtserialport,chardev=chagent0,name=org.qemu.guest_agent.0'
    ]
    const at = args.indexOf(tail[1])
    expect(at).toBeGreaterThan(ctrlAt)
    expect(args.slice(at - 1, at - 1 + tail.length)).toStrictEqual(tail)
    // The whole argv, for precision.
    expect(args).toStrictEqual([
      '-spice', `port=5901,addr=0.0.0.0,${SPICE_DEFAULTS}`, '-vga', 'qxl', ...SERIAL, ...VDAGENT, ...tail
    ])
  })

  test('17: addVnc plain options and VncConfig', () => {
    expect(QB().addVnc({ display: 1, addr: '0.0.0.0', password: true }).build())
      .toStrictEqual(['-vnc', '0.0.0.0:1,password=on', '-vga', 'std'])
    expect(QB().addVnc(new VncConfig({ display: 3 })).build()).toStrictEqual(['-vnc', '0.0.0.0:3', '-vga', 'std'])
  })

  test('18: addQmp', () => {
    expect(QB().addQmp('/var/run/infinivirt/vm1.sock').build())
      .toStrictEqual(['-qmp', 'unix:/var/run/infinivirt/vm1.sock,server,nowait'])
  })

  test('19: addCdrom and setBootOrder', () => {
    expect(QB().addCdrom('/iso/x.iso').build()).toStrictEqual(['-cdrom', '/iso/x.iso'])
    expect(QB().setBootOrder(['d', 'c']).build()).toStrictEqual(['-boot', 'order=dc'])
  })

  test("20: addGpuPassthrough('01:00.0')", () => {
    expect(QB().addGpuPassthrough('01:00.0').build()).toStrictEqual(['-device', 'vfio-pci,host=01:00.0,multifunction=on'])
  })

  test('21: addGpuPassthrough with a long address and an allowed ROM', () => {
    expect(QB().addGpuPassthrough('0000:01:00.0', '/var/lib/infinivirt/roms/gpu.rom').build()).toStrictEqual([
      '-device', 'vfio-pci,host=0000:01:00.0,multifunction=on,romfile=/var/lib/infinivirt/roms/gpu.rom'
    ])
  })

  test('22: ROM outside /var/lib/infinivirt/roms/ is rejected (also via ..)', () => {
    const b = QB()
    expectBuilderError(thrown(() => b.addGpuPassthrough('01:00.0', '/tmp/x.rom')),
      'ROM file must be in /var/lib/infinivirt/roms/. Attempted path: /tmp/x.rom')
    expectBuilderError(thrown(() => b.addGpuPassthrough('01:00.0', '/var/lib/infinivirt/roms/../x.rom')),
      'ROM file must be in /var/lib/infinivirt/roms/. Attempted path: /var/lib/infinivirt/roms/../x.rom')
    expectBuilderError(thrown(() => b.addPciPassthrough('04:00.0', '/tmp/x.rom')),
      'ROM file must be in /var/lib/infinivirt/roms/. Attempted path: /tmp/x.rom')
    expect(b.build()).toStrictEqual([])
  })

  test("23: addGpuPassthrough('zz') is rejected with the PCI message", () => {
    const b = QB()
    expectBuilderError(thrown(() => b.addGpuPassthrough('zz')),
      "Invalid PCI address 'zz': Invalid PCI address format 'zz'. Expected format: 'XX:XX.X' (short) or 'XXXX:XX:XX.X' (long), where X is a hexadecimal digit")
    expect(b.build()).toStrictEqual([])
  })

  test('24: addGpuWithAudio, and identical addresses must differ', () => {
    expect(QB().addGpuWithAudio('01:00.0', '01:00.1').build()).toStrictEqual([
      '-device', 'vfio-pci,host=01:00.0,multifunction=on', '-device', 'vfio-pci,host=01:00.1'
    ])
    const b = QB()
    expectBuilderError(thrown(() => b.addGpuWithAudio('01:00.0', '01:00.0')),
      "GPU and audio PCI addresses must differ. Both were set to '01:00.0'. Typically, GPU is at xx:xx.0 and audio at xx:xx.1 (e.g., 01:00.0 and 01:00.1)")
    expectBuilderError(thrown(() => b.addGpuWithAudio('zz', '01:00.1')),
      "Invalid GPU PCI address 'zz': Invalid PCI address format 'zz'. Expected format: 'XX:XX.X' (short) or 'XXXX:XX:XX.X' (long), where X is a hexadecimal digit")
    expectBuilderError(thrown(() => b.addGpuWithAudio('01:00.0', 'yy')),
      "Invalid audio PCI address 'yy': Invalid PCI address format 'yy'. Expected format: 'XX:XX.X' (short) or 'XXXX:XX:XX.X' (long), where X is a hexadecimal digit")
    // All checks precede the GPU append.
    expect(b.build()).toStrictEqual([])
  })

  test("25: addPciPassthrough('04:00.0')", () => {
    expect(QB().addPciPassthrough('04:00.0').build()).toStrictEqual(['-device', 'vfio-pci,host=04:00.0'])
  })

  test('26: addMemoryBalloon and enableHugepages', () => {
    expect(QB().addMemoryBalloon().build()).toStrictEqual(['-device', 'virtio-balloon-pci'])
    expect(QB().enableHugepages().build()).toStrictEqual(['-mem-prealloc', '-mem-path', '/dev/hugepages'])
  })

  test('27: setFirmware + setUefiVars', () => {
    expect(QB().setFirmware('/usr/share/OVMF/OVMF_CODE.fd').setUefiVars('/v.fd').build()).toStrictEqual([
      '-drive', 'if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd',
      '-drive', 'if=pflash,format=raw,file=/v.fd'
    ])
  })

  test('28: addTPM', () => {
    expect(QB().addTPM('/run/swtpm.sock').build()).toStrictEqual([
      '-chardev', 'socket,id=chrtpm,path=/run/swtpm.sock',
      '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm',
      '-device', 'tpm-tis,tpmdev=tpm0'
    ])
  })

  test('29: guest agent + InfiniService channels', () => {
    expect(QB().addGuestAgentChannel('/run/ga.sock').addInfiniServiceChannel('/run/inf.sock').build()).toStrictEqual([
      '-device', 'virtio-serial-pci,id=virtio-serial0',
      '-chardev', 'socket,path=/run/ga.sock,server=on,wait=off,id=chagent0',
      '-device', 'virtserialport,chardev=chagent0,name=org.qemu.guest_agent.0',
      '-chardev', 'socket,path=/run/inf.sock,server=on,wait=off,id=chinfini0',
      '-device', 'virtserialport,chardev=chinfini0,name=org.infinibay.agent'
    ])
  })

  test('29b: addVirtioChannel directly', () => {
    expect(QB().addVirtioChannel('com.example.x', '/run/x.sock', 'chx0').build()).toStrictEqual([
      '-device', 'virtio-serial-pci,id=virtio-serial0',
      '-chardev', 'socket,path=/run/x.sock,server=on,wait=off,id=chx0',
      '-device', 'virtserialport,chardev=chx0,name=com.example.x'
    ])
  })

  test('30: addSecondCdrom twice numbers cdrom1, cdrom2', () => {
    expect(QB().addSecondCdrom('/iso/virtio.iso').addSecondCdrom('/iso/b.iso').build()).toStrictEqual([
      '-drive', 'file=/iso/virtio.iso,if=none,media=cdrom,readonly=on,id=cdrom1', '-device', 'ide-cd,drive=cdrom1',
      '-drive', 'file=/iso/b.iso,if=none,media=cdrom,readonly=on,id=cdrom2', '-device', 'ide-cd,drive=cdrom2'
    ])
  })

  test('31: addAudioDevice', () => {
    expect(QB().addAudioDevice().build()).toStrictEqual([
      '-device', 'intel-hda', '-device', 'hda-duplex,audiodev=audio0', '-audiodev', 'spice,id=audio0'
    ])
  })

  test('32: addUsbTablet + addUsbKeyboard share one USB controller', () => {
    expect(QB().addUsbTablet().addUsbKeyboard().build()).toStrictEqual([
      '-device', 'qemu-xhci,id=usb', '-device', 'usb-tablet', '-device', 'usb-kbd'
    ])
  })

  test('33: setProcessOptions', () => {
    const b = QB()
    expect(b.isDaemonizeEnabled()).toBe(false)
    expect(b.getPidfilePath()).toBeNull()
    b.setProcessOptions({ vmId: 'x', name: 'My VM', uuid: 'u-1', daemonize: true, pidfile: '/p.pid' })
    expect(b.build()).toStrictEqual(['-name', 'My VM', '-uuid', 'u-1', '-daemonize', '-pidfile', '/p.pid'])
    expect(b.isDaemonizeEnabled()).toBe(true)
    expect(b.getPidfilePath()).toBe('/p.pid')
  })

  test("34: enableCpuPinning('none', 4) and ('basic', 0) are no-ops", () => {
    const a = QB().enableCpuPinning('none', 4)
    expect(a.isCpuPinningEnabled()).toBe(false)
    expect(a.getCpuPinningStrategy()).toBe('none')
    const b = QB().enableCpuPinning('basic', 0)
    expect(b.isCpuPinningEnabled()).toBe(false)
    expect(b.getCpuPinningStrategy()).toBe('none')
    expect(QB().getCpuPinningStrategy()).toBe('none')
    expect(a.build()).toStrictEqual([])
  })

  test('35: buildCommandWithPinning without pinning', async () => {
    const r = await QB().buildCommandWithPinning()
    expect(r).toStrictEqual({
      command: 'qemu-system-x86_64',
      args: [],
      wrapperCommand: null,
      wrapperArgs: [],
      pinningApplied: false,
      pinnedCores: [],
      numaNodes: []
    })
  })
})

describe('§20.8 item 97: full Ubuntu argv (builder calls in §5.4 order)', () => {
  test('97: exact argv', () => {
    const b = QB()
      .enableKvm()
      .setMachine('q35')
      .setCpu('host', 4)
      .setMemory(8)
      .addDisks([
        { path: '/var/lib/infinivirt/disks/vm-abc123.qcow2', format: 'qcow2', bus: 'virtio', cache: 'writeback', discard: true },
        { path: '/var/lib/infinivirt/disks/vm-abc123-disk1.qcow2', format: 'qcow2', bus: 'virtio', cache: 'none', discard: true }
      ])
      .addNetwork({ tapName: 'vnet-550e8400e2', mac: '52:54:00:e8:45:6c', model: 'virtio-net-pci', queues: 4 })
      .addSpice(new SpiceConfig({
        port: 5901,
        addr: '0.0.0.0',
        disableTicketing: true,
        enableAgent: false,
        imageCompression: 'auto_glz',
        jpegWanCompression: 'auto',
        zlibGlzWanCompression: 'auto',
        streamingVideo: 'filter',
        playbackCompression: 'on'
      }))
      .addQmp('/var/run/infinivirt/vm-abc123.sock')
      .addCdrom('/iso/ubuntu.iso')
      .setBootOrder(['d', 'c'])
      .addGuestAgentChannel('/var/run/infinivirt/ga.sock')
      .addInfiniServiceChannel('/opt/infinibay/sockets/x.socket')
      .addAudioDevice()
      .setProcessOptions({ vmId: 'vm-abc123', name: 'Test VM', daemonize: true, pidfile: '/var/run/infinivirt/pids/vm-abc123.pid' })
    const expected = ['-enable-kvm', '-machine', 'q35', '-cpu', 'host', '-smp', 'cores=4', '-m', '8G', '-drive', 'file=/var/lib/infinivirt/disks/vm-abc123.qcow2,format=qcow2,if=virtio,cache=writeback,index=0,discard=unmap', '-drive', 'file=/var/lib/infinivirt/disks/vm-abc123-disk1.qcow2,format=qcow2,if=virtio,cache=none,index=1,discard=unmap', '-netdev', 'tap,id=net0,ifname=vnet-550e8400e2,script=no,downscript=no,queues=4,vhost=on', '-device', 'virtio-net-pci,netdev=net0,mac=52:54:00:e8:45:6c,mq=on,vectors=10', '-spice', 'port=5901,addr=0.0.0.0,disable-ticketing=on,image-compression=auto_glz,jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,streaming-video=filter,playback-compression=on', '-vga', 'qxl', '-qmp', 'unix:/var/run/infinivirt/vm-abc123.sock,server,nowait', '-cdrom', '/iso/ubuntu.iso', '-boot', 'order=dc', '-device', 'virtio-serial-pci,id=virtio-serial0', '-chardev', 'socket,path=/var/run/infinivirt/ga.sock,server=on,wait=off,id=chagent0', '-device', 'virtserialport,chardev=chagent0,name=org.qemu.guest_agent.0', '-chardev', 'socket,path=/opt/infinibay/sockets/x.socket,server=on,wait=off,id=chinfini0', '-device', 'virtserialport,chardev=chinfini0,name=org.infinibay.agent', '-device', 'intel-hda', '-device', 'hda-duplex,audiodev=audio0', '-audiodev', 'spice,id=audio0', '-name', 'Test VM', '-daemonize', '-pidfile', '/var/run/infinivirt/pids/vm-abc123.pid']
    expect(b.build()).toStrictEqual(expected)
    expect(b.buildCommand()).toStrictEqual({ command: 'qemu-system-x86_64', args: expected })
    expect(b.isDaemonizeEnabled()).toBe(true)
    expect(b.getPidfilePath()).toBe('/var/run/infinivirt/pids/vm-abc123.pid')
  })
})

describe('addDisk (README addition)', () => {
  const disk = (p, extra = {}) => ({ path: p, format: 'qcow2', bus: 'virtio', cache: 'writeback', ...extra })

  test('a single addDisk produces the same -drive as addDisks', () => {
    expect(QB().addDisk(disk('/d/a.qcow2', { discard: true })).build())
      .toStrictEqual(QB().addDisks([disk('/d/a.qcow2', { discard: true })]).build())
    expect(QB().addDisk(disk('/d/a.qcow2')).build())
      .toStrictEqual(['-drive', 'file=/d/a.qcow2,format=qcow2,if=virtio,cache=writeback,index=0'])
  })

  test('index counts across addDisk calls', () => {
    expect(QB().addDisk(disk('/d/a.qcow2')).addDisk(disk('/d/b.raw', { format: 'raw', bus: 'sata', cache: 'none', discard: true })).build())
      .toStrictEqual([
        '-drive', 'file=/d/a.qcow2,format=qcow2,if=virtio,cache=writeback,index=0',
        '-drive', 'file=/d/b.raw,format=raw,if=sata,cache=none,index=1,discard=unmap'
      ])
  })

  test('addDisk after addDisks continues the index', () => {
    expect(QB().addDisks([disk('/d/a.qcow2'), disk('/d/b.qcow2')]).addDisk(disk('/d/c.qcow2')).build())
      .toStrictEqual([
        '-drive', 'file=/d/a.qcow2,format=qcow2,if=virtio,cache=writeback,index=0',
        '-drive', 'file=/d/b.qcow2,format=qcow2,if=virtio,cache=writeback,index=1',
        '-drive', 'file=/d/c.qcow2,format=qcow2,if=virtio,cache=writeback,index=2'
      ])
  })
})

describe('state, copies and fluent returns', () => {
  test('every mutator returns the builder itself', () => {
    const b = QB()
    const disk = { path: '/d/a.qcow2', format: 'qcow2', bus: 'virtio', cache: 'none' }
    const calls = [
      () => b.setBinary('qemu-system-x86_64'),
      () => b.enableKvm(),
      () => b.setMachine('q35'),
      () => b.setCpu('host', 2),
      () => b.setMemory(2),
      () => b.addDisks([disk]),
      () => b.addDisk(disk),
      () => b.addNetwork({ tapName: 't0', mac: '52:54:00:00:00:01', model: 'e1000' }),
      () => b.addSpice({ port: 5901, addr: '127.0.0.1', password: 'pw' }),
      () => b.addVnc({ display: 1, addr: '127.0.0.1' }),
      () => b.addQmp('/run/q.sock'),
      () => b.addCdrom('/iso/a.iso'),
      () => b.addGpuPassthrough('01:00.0'),
      () => b.addGpuWithAudio('02:00.0', '02:00.1'),
      () => b.addPciPassthrough('03:00.0'),
      () => b.addMemoryBalloon(),
      () => b.enableHugepages(),
      () => b.setFirmware('/f.fd'),
      () => b.setUefiVars('/v.fd'),
      () => b.setBootOrder(['c']),
      () => b.addTPM('/run/tpm.sock'),
      () => b.addVirtioChannel('x.y', '/run/x.sock', 'chx'),
      () => b.addGuestAgentChannel('/run/ga.sock'),
      () => b.addInfiniServiceChannel('/run/inf.sock'),
      () => b.addSecondCdrom('/iso/b.iso'),
      () => b.addAudioDevice(),
      () => b.addUsbTablet(),
      () => b.addUsbKeyboard(),
      () => b.setProcessOptions({ vmId: 'v', name: 'n' }),
      () => b.addRawArg('-nodefaults'),
      () => b.enableCpuPinning('none', 0)
    ]
    for (const c of calls) expect(c()).toBe(b)
    expect(b.enableKvm() === b).toBe(true)
  })

  test('setBinary / getBinary and buildCommand', () => {
    const b = QB()
    expect(b.getBinary()).toBe('qemu-system-x86_64')
    expect(b.setBinary('/usr/bin/qemu-kvm').getBinary()).toBe('/usr/bin/qemu-kvm')
    expect(b.enableKvm().buildCommand()).toStrictEqual({ command: '/usr/bin/qemu-kvm', args: ['-enable-kvm'] })
  })

  test('build() returns a copy', () => {
    const b = QB().enableKvm()
    const a1 = b.build()
    a1.push('-evil')
    expect(b.build()).toStrictEqual(['-enable-kvm'])
    const c = b.buildCommand()
    c.args.push('-evil')
    expect(b.buildCommand().args).toStrictEqual(['-enable-kvm'])
  })

  test('addRawArg appends one element verbatim', () => {
    expect(QB().addRawArg('-nodefaults').addRawArg('-S').build()).toStrictEqual(['-nodefaults', '-S'])
  })
})

describe('buildCommandWithPinning', () => {
  test('without pinning: the §20.1 #35 shape, with the builder args', async () => {
    const b = QB().enableKvm().setMemory(2)
    await expect(b.buildCommandWithPinning()).resolves.toStrictEqual({
      command: 'qemu-system-x86_64',
      args: ['-enable-kvm', '-m', '2G'],
      wrapperCommand: null,
      wrapperArgs: [],
      pinningApplied: false,
      pinnedCores: [],
      numaNodes: []
    })
  })

  test("enableCpuPinning('basic', 2) resolves a consistent 7-key object", async () => {
    const b = QB().enableKvm().setCpu('host', 2).enableCpuPinning('basic', 2)
    expect(b.isCpuPinningEnabled()).toBe(true)
    expect(b.getCpuPinningStrategy()).toBe('basic')
    const p = b.buildCommandWithPinning()
    expect(p).toBeInstanceOf(Promise)
    const r = await p
    expect(Object.keys(r).sort()).toStrictEqual(
      ['args', 'command', 'numaNodes', 'pinnedCores', 'pinningApplied', 'wrapperArgs', 'wrapperCommand'])
    expect(r.command).toBe('qemu-system-x86_64')
    expect(r.args).toStrictEqual(['-enable-kvm', '-cpu', 'host', '-smp', 'cores=2'])
    expect(typeof r.pinningApplied).toBe('boolean')
    expect(Array.isArray(r.wrapperArgs)).toBe(true)
    expect(Array.isArray(r.pinnedCores)).toBe(true)
    expect(Array.isArray(r.numaNodes)).toBe(true)
    // numactl may or may not be installed: only consistency can be asserted.
    expect(r.pinningApplied).toBe(r.wrapperCommand === 'numactl')
    if (r.pinningApplied) {
      expect(r.pinnedCores).toHaveLength(2)
      expect(r.numaNodes.length).toBeGreaterThan(0)
      expect(r.wrapperArgs[0]).toBe('--physcpubind=' + r.pinnedCores.join(','))
      expect(r.wrapperArgs[1]).toBe('--membind=' + r.numaNodes.join(','))
    } else {
      expect(r.wrapperCommand).toBeNull()
      expect(r.wrapperArgs).toStrictEqual([])
      expect(r.pinnedCores).toStrictEqual([])
      expect(r.numaNodes).toStrictEqual([])
    }
  })

  test('a later no-op enableCpuPinning keeps the previous state', () => {
    const b = QB().enableCpuPinning('hybrid', 4).enableCpuPinning('none', 4)
    expect(b.isCpuPinningEnabled()).toBe(true)
    expect(b.getCpuPinningStrategy()).toBe('hybrid')
  })
})
