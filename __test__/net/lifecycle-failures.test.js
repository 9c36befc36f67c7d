'use strict'
// Failures injected at each step of create (API.md §5.5, §5.11; DESIGN rule 7), and
// failed starts of a stopped VM (§5.6, §19 #5): real bridge, TAP and nft inside the
// private namespace of scripts/test-net.sh, real qemu-img and QEMU (TCG), the
// embedded SQLite store. Each failure must return the original error's code and
// leave no QEMU, TAP, chain, dispatch element, QMP socket, pidfile or disk made by the
// call behind, with the VM's status `error`. A failed start keeps what the VM keeps
// between runs: its disks, its TAP (name and device) and its MAC.
//
// The QMP failures use a qemuBinary written here: a shell script that execs the real
// qemu-system-x86_64 with its `-qmp` argument altered.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const { Infinivirt, VMLifecycle, LifecycleError, LifecycleErrorCode, generateVMChainName } = require('../..')
const netns = require('../helpers/netns')
const { guestArgs, ensureGuest, waitForMarker } = require('../helpers/guest')
const env = require('../helpers/lifecycle-env')

jest.setTimeout(120000)

const h = env.harness('iv-lcfail')
const { manager, seedMachine } = h
let dir
let persistDir
let links
// The current test's (set by the harness's beforeEach, which runs first).
beforeEach(() => {
  ({ dir, persistDir, links } = h)
})

const dirs = h.dirs

// A VMLifecycle on the manager's store with its own options (qemuBinary, extraArgs).
function lifecycle (m, options) {
  return new VMLifecycle(m.getPrismaAdapter(), null, undefined, dirs(options))
}

const newBridge = h.bridge

// A qemuBinary that execs the real QEMU with the `-qmp unix:<path>,…` argument changed:
//   'moved'    the monitor listens on <path>.moved (the expected socket never appears)
//   'silent'   <path> is a plain socket chardev with no monitor behind it (accepts, never greets)
function qemuWrapper (mode) {
  const real = execFileSync('sh', ['-c', 'command -v qemu-system-x86_64'], { encoding: 'utf8' }).trim()
  const file = path.join(dir, `qemu-${mode}.sh`)
  const replace = mode === 'moved'
    ? 'args+=("-qmp" "unix:${p}.moved,server,nowait")'
    : 'args+=("-chardev" "socket,id=ivsilent,path=${p},server=on,wait=off")'
  fs.writeFileSync(file, `#!/bin/bash
# Test fixture (lifecycle-failures): the real QEMU, its QMP monitor tampered with.
args=()
while [ $# -gt 0 ]; do
  if [ "$1" = "-qmp" ]; then
    spec="$2"; shift 2
    p="\${spec#unix:}"; p="\${p%%,*}"
    ${replace}
    continue
  fi
  args+=("$1"); shift
done
exec ${real} "\${args[@]}"
`, { mode: 0o755 })
  return file
}

// The store row, reduced to what a failed operation may leave.
async function storeState (m, vmId) {
  const row = await m.getPrismaAdapter().findMachineWithConfig(vmId)
  const c = row.configuration || {}
  return {
    status: row.status,
    qemuPid: c.qemuPid ?? null,
    qmpSocketPath: c.qmpSocketPath ?? null,
    tapDeviceName: c.tapDeviceName ?? null
  }
}

// Nothing of a failed create remains: no QEMU, TAP, chain, dispatch, socket, pidfile;
// the disk directory holds exactly `disks`; the status is `error`.
async function expectNothingLeft (m, vmId, { disks = [], diskDir = path.join(dir, 'disks'), status = true } = {}) {
  const tap = env.tapNameOf(vmId)
  expect({
    processes: env.processesUsing(dir),
    tap: netns.linkInfo(tap),
    chain: env.nftChainExists(generateVMChainName(vmId)),
    dispatched: env.nftElements('set', 'vm_ports').includes(tap) || env.nftElements('map', 'to_vm').includes(tap),
    qmp: env.filesIn(path.join(dir, 'qmp')),
    pids: env.filesIn(path.join(dir, 'pids')),
    disks: env.filesIn(diskDir)
  }).toEqual({ processes: [], tap: null, chain: false, dispatched: false, qmp: [], pids: [], disks: disks.slice().sort() })
  if (!status) return
  expect(await storeState(m, vmId)).toEqual({ status: 'error', qemuPid: null, qmpSocketPath: null, tapDeviceName: null })
  expect(await m.getVMStatus(vmId)).toMatchObject({ status: 'error', pid: null, processAlive: false, consistent: true })
}

function expectLifecycleError (e, code, vmId) {
  expect(e).toBeInstanceOf(LifecycleError)
  expect(e.name).toBe('LifecycleError')
  expect(Object.values(LifecycleErrorCode)).toContain(e.code)
  expect({ code: e.code, vmId: e.vmId }).toEqual({ code, vmId })
}



describe('a failed create releases everything it made (§5.5, §5.11, rule 7)', () => {
  test('disk step: qemu-img refuses the second disk (vhdx over its 64 TB limit) → DISK_ERROR, the first disk is removed too', async () => {
    const br = await newBridge('10.215.0.1/24')
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait' }) })
    const vmId = env.newVmId('d')
    await seedMachine(m, vmId)
    const e = await env.rejection(m.createVM(env.createConfig(vmId, br, { disks: [{ sizeGB: 1 }, { sizeGB: 70000, format: 'vhdx' }] })))
    expectLifecycleError(e, 'DISK_ERROR', vmId)
    expect(e.message).toContain('Image size too large')
    expect(e.message).toContain(path.join(dir, 'disks', `vm-${vmId}-disk1.qcow2`))
    await expectNothingLeft(m, vmId)
    expect(m.getActiveVMs()).toEqual([])
  })

  test('disk step, before anything is made: an unusable disk directory, an image already in place (kept untouched)', async () => {
    const br = await newBridge('10.215.1.1/24')
    // diskDir below a regular file: mkdir fails with ENOTDIR.
    fs.writeFileSync(path.join(dir, 'plain-file'), 'not a directory')
    const blockedDir = path.join(dir, 'plain-file', 'disks')
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait' }) })
    const blocked = new Infinivirt({ prismaClient: m.getPrismaAdapter(), ...dirs({ diskDir: blockedDir }), extraArgs: guestArgs({ mode: 'wait' }) })
    await blocked.initialize()
    h.managers.push(blocked)
    const a = env.newVmId('n')
    await seedMachine(m, a)
    const e1 = await env.rejection(blocked.createVM(env.createConfig(a, br)))
    expectLifecycleError(e1, 'CREATE_FAILED', a)
    expect(e1.message).toContain(blockedDir)

    // An image already at the VM's disk path: refused, and left as it was.
    const b = env.newVmId('o')
    await seedMachine(m, b)
    fs.mkdirSync(path.join(dir, 'disks'), { recursive: true })
    const existing = path.join(dir, 'disks', `vm-${b}.qcow2`)
    fs.writeFileSync(existing, 'precious data')
    const e2 = await env.rejection(m.createVM(env.createConfig(b, br)))
    expectLifecycleError(e2, 'DISK_ERROR', b)
    expect(e2.message).toContain(existing)
    expect(fs.readFileSync(existing, 'utf8')).toBe('precious data')

    // Nothing was made by either call. Spec §5.5: "Any failure: run rollback", which
    // sets the status `error` (§5.11 step 9).
    await expectNothingLeft(m, b, { disks: [`vm-${b}.qcow2`], status: false })
    await expectNothingLeft(m, a, { disks: [`vm-${b}.qcow2`], status: false })
    expect(await storeState(m, a)).toEqual({ status: 'error', qemuPid: null, qmpSocketPath: null, tapDeviceName: null })
    expect(await storeState(m, b)).toEqual({ status: 'error', qemuPid: null, qmpSocketPath: null, tapDeviceName: null })
  })

  test('TAP step: a bridge that does not exist → the original error; disks, TAP and chain are removed', async () => {
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait' }) })
    const vmId = env.newVmId('t')
    await seedMachine(m, vmId)
    const missing = netns.uniqueName('ivnob')
    const e = await env.rejection(m.createVM(env.createConfig(vmId, missing, { disks: [{ sizeGB: 1 }, { sizeGB: 2 }] })))
    expectLifecycleError(e, 'CREATE_FAILED', vmId)
    expect(e.message).toContain(missing)
    expect(e.context.cause.code).toBe('BRIDGE_NOT_FOUND')
    await expectNothingLeft(m, vmId)
  })

  test('firewall step, strict rules: stored rules the translator rejects (bad address, ports on icmp) → their errors; nothing is left', async () => {
    const br = await newBridge('10.215.2.1/24')
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait' }), firewallStrictRules: true })
    const db = m.getPrismaAdapter()
    const ip = env.newVmId('i')
    const icmp = env.newVmId('p')
    await db.insertRecord('FirewallRuleSet', { id: `rs-${ip}`, name: 'bad ip', internalName: `rs-${ip}`, entityType: 'VM', entityId: ip })
    await db.insertRecord('FirewallRule', { id: `r-ok-${ip}`, ruleSetId: `rs-${ip}`, name: 'dns', action: 'ACCEPT', direction: 'OUT', priority: 100, protocol: 'udp', dstPortStart: 53 })
    await db.insertRecord('FirewallRule', { id: `r-${ip}`, ruleSetId: `rs-${ip}`, name: 'bad src', action: 'DROP', direction: 'IN', priority: 200, protocol: 'tcp', srcIpAddr: '300.1.2.3' })
    await db.insertRecord('FirewallRuleSet', { id: `rs-${icmp}`, name: 'bad ports', internalName: `rs-${icmp}`, entityType: 'VM', entityId: icmp })
    await db.insertRecord('FirewallRule', { id: `r-${icmp}`, ruleSetId: `rs-${icmp}`, name: 'ping port', action: 'ACCEPT', direction: 'IN', priority: 100, protocol: 'icmp', dstPortStart: 80 })
    await seedMachine(m, ip, { firewallRuleSetId: `rs-${ip}` })
    await seedMachine(m, icmp, { firewallRuleSetId: `rs-${icmp}` })

    const [r1, r2] = await Promise.allSettled([
      m.createVM(env.createConfig(ip, br, { displayPort: 5960 })),
      m.createVM(env.createConfig(icmp, br, { displayPort: 5970 }))
    ])
    expect([r1.status, r2.status]).toEqual(['rejected', 'rejected'])
    expectLifecycleError(r1.reason, 'CREATE_FAILED', ip)
    expect(r1.reason.message).toContain(`r-${ip}`)
    expect(r1.reason.message).toContain('300.1.2.3')
    expect(r1.reason.context.cause.code).toBe('INVALID_IP_ADDRESS')
    expectLifecycleError(r2.reason, 'CREATE_FAILED', icmp)
    expect(r2.reason.message).toContain(`r-${icmp}`)
    expect(r2.reason.context.cause.code).toBe('RULE_INVALID')
    await expectNothingLeft(m, ip)
    await expectNothingLeft(m, icmp)
  })

  test('spawn step: a qemuBinary that does not exist, and a QEMU that refuses a device → PROCESS_ERROR; nothing is left', async () => {
    const br = await newBridge('10.215.3.1/24')
    const m = await manager()
    const a = env.newVmId('s')
    await seedMachine(m, a)
    const noBinary = lifecycle(m, { qemuBinary: path.join(dir, 'no-such-qemu'), extraArgs: guestArgs({ mode: 'wait' }) })
    const e1 = await env.rejection(noBinary.create(env.createConfig(a, br, { disks: [{ sizeGB: 1 }, { sizeGB: 1 }] })))
    expectLifecycleError(e1, 'PROCESS_ERROR', a)
    expect(e1.message).toContain(path.join(dir, 'no-such-qemu'))
    expect(e1.context.cause.code).toBe('SPAWN_FAILED')
    await expectNothingLeft(m, a)

    const b = env.newVmId('v')
    await seedMachine(m, b)
    const badDevice = lifecycle(m, { extraArgs: [...guestArgs({ mode: 'wait' }), '-device', 'iv-no-such-device'] })
    const e2 = await env.rejection(badDevice.create(env.createConfig(b, br)))
    expectLifecycleError(e2, 'PROCESS_ERROR', b)
    expect(e2.message).toContain('iv-no-such-device')
    expect(e2.context.cause.code).toBe('PROCESS_EXITED')
    await expectNothingLeft(m, b)
  })

  test('QMP step: the expected socket never appears → TIMEOUT after 5 s; QEMU is killed and nothing is left', async () => {
    const br = await newBridge('10.215.4.1/24')
    const m = await manager()
    const vmId = env.newVmId('q')
    await seedMachine(m, vmId)
    const lc = lifecycle(m, { qemuBinary: qemuWrapper('moved'), extraArgs: guestArgs({ mode: 'wait' }) })
    const socket = path.join(dir, 'qmp', `vm-${vmId}.sock`)
    const t0 = Date.now()
    const e = await env.rejection(lc.create(env.createConfig(vmId, br)))
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5000)
    expect(e).toBeInstanceOf(LifecycleError)
    expect(e.code).toBe('TIMEOUT')
    expect(e.message).toBe(`Socket not available after 5000ms: ${socket}`)
    // The moved socket is the fixture's doing; QEMU (which made it) is gone.
    fs.rmSync(`${socket}.moved`, { force: true })
    await expectNothingLeft(m, vmId)
  })

  test('QMP step: a socket that accepts but never greets → QMP_ERROR; QEMU is killed and nothing is left', async () => {
    const br = await newBridge('10.215.5.1/24')
    const m = await manager()
    const vmId = env.newVmId('g')
    await seedMachine(m, vmId)
    const lc = lifecycle(m, { qemuBinary: qemuWrapper('silent'), extraArgs: guestArgs({ mode: 'wait' }) })
    const e = await env.rejection(lc.create(env.createConfig(vmId, br, { displayPassword: 'never-set' })))
    expectLifecycleError(e, 'QMP_ERROR', vmId)
    expect(typeof e.context.cause.code).toBe('string')
    expect(e.context.cause.code).toMatch(/^QMP_/)
    await expectNothingLeft(m, vmId)
  })
})

describe('a failed start keeps what the VM keeps between runs (§5.6, §19 #5)', () => {
  test('QEMU refusing to start, then QMP never answering: disks, TAP device and name, MAC and chain stay; the next start works', async () => {
    const br = await newBridge('10.215.6.1/24')
    const serial = path.join(dir, 'serial.log')
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait', serialPath: serial }) })
    const vmId = env.newVmId('k')
    await seedMachine(m, vmId)
    const tap = env.tapNameOf(vmId)
    const chain = generateVMChainName(vmId)
    const r = await m.createVM(env.createConfig(vmId, br, { disks: [{ sizeGB: 1 }, { sizeGB: 1 }] }))
    const mac = env.macOf(r.pid)
    expect(mac).toMatch(/^52:54:00:/)
    const tapIndex = netns.linkInfo(tap).ifindex
    const stored = (await m.getPrismaAdapter().findMachineWithConfig(vmId)).configuration
    expect(stored).toMatchObject({ tapDeviceName: tap, diskPaths: r.diskPaths, bridge: br })
    await m.stopVM(vmId, { graceful: false })
    expect(await storeState(m, vmId)).toEqual({ status: 'off', qemuPid: null, qmpSocketPath: null, tapDeviceName: tap })
    const diskStat = r.diskPaths.map((p) => fs.statSync(p).ino)

    const expectKept = async (status) => {
      expect(await storeState(m, vmId)).toEqual({ status, qemuPid: null, qmpSocketPath: null, tapDeviceName: tap })
      const conf = (await m.getPrismaAdapter().findMachineWithConfig(vmId)).configuration
      expect(conf).toMatchObject({ diskPaths: r.diskPaths, bridge: br })
      const link = netns.linkInfo(tap)
      expect(link).not.toBeNull()
      expect({ ifindex: link.ifindex, master: link.master ?? null }).toEqual({ ifindex: tapIndex, master: null })
      expect(env.tapDispatched(tap)).toBe(false)
      expect(env.nftChainExists(chain)).toBe(true)
      expect(r.diskPaths.map((p) => fs.statSync(p).ino)).toEqual(diskStat)
      expect(env.processesUsing(dir)).toEqual([])
      expect(env.filesIn(path.join(dir, 'qmp'))).toEqual([])
      expect(env.filesIn(path.join(dir, 'pids'))).toEqual([])
    }

    // 1. QEMU refuses its command line.
    const refusing = lifecycle(m, { extraArgs: [...guestArgs({ mode: 'wait' }), '-device', 'iv-no-such-device'] })
    const e1 = await env.rejection(refusing.start(vmId))
    expectLifecycleError(e1, 'PROCESS_ERROR', vmId)
    expect(e1.message).toContain('iv-no-such-device')
    await expectKept('error')

    // 2. From `error`: QMP never appears where expected.
    const moved = lifecycle(m, { qemuBinary: qemuWrapper('moved'), extraArgs: guestArgs({ mode: 'wait' }) })
    const e2 = await env.rejection(moved.start(vmId))
    expect(e2).toBeInstanceOf(LifecycleError)
    expect(e2.code).toBe('TIMEOUT')
    fs.rmSync(path.join(dir, 'qmp', `vm-${vmId}.sock.moved`), { force: true })
    await expectKept('error')

    // 3. A working start from `error`: same TAP device, same MAC, same disks.
    fs.rmSync(serial, { force: true })
    expect(await m.startVM(vmId)).toMatchObject({ success: true, message: `VM ${vmId} started successfully` })
    const st = await m.getVMStatus(vmId)
    expect(st).toMatchObject({ status: 'running', processAlive: true, consistent: true, tapDevice: tap })
    expect(env.macOf(st.pid)).toBe(mac)
    expect(netns.linkInfo(tap)).toMatchObject({ ifindex: tapIndex, master: br })
    expect(env.tapDispatched(tap)).toBe(true)
    const argv = env.cmdlineOf(st.pid).join(' ')
    for (const p of r.diskPaths) expect(argv).toContain(`file=${p},`)
    await waitForMarker(serial, 'IV-READY', 60000)
    await m.stopVM(vmId, { graceful: false })
  })
})

describe('a QEMU killed from outside (rule 5, rule 7)', () => {
  test('SIGKILL of a running VM: status error, runtime columns cleared, TAP off the bridge, socket and pidfile gone; it starts again', async () => {
    const br = await newBridge('10.215.7.1/24')
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait' }) })
    const vmId = env.newVmId('z')
    await seedMachine(m, vmId)
    const tap = env.tapNameOf(vmId)
    const r = await m.createVM(env.createConfig(vmId, br))
    expect(env.tapDispatched(tap)).toBe(true)
    process.kill(r.pid, 'SIGKILL')
    // Pushed, not polled: well within the HealthMonitor's 30 s.
    const t0 = Date.now()
    await env.until(async () => (await storeState(m, vmId)).status === 'error', 5000, 'the status to become error')
    const pushedWithin = Date.now() - t0
    expect(pushedWithin).toBeLessThan(5000)
    await env.until(async () => !fs.existsSync(r.pidFilePath) && !fs.existsSync(r.qmpSocketPath), 2000, 'socket and pidfile removal')
    expect(await storeState(m, vmId)).toEqual({ status: 'error', qemuPid: null, qmpSocketPath: null, tapDeviceName: tap })
    expect(await m.getVMStatus(vmId)).toMatchObject({ status: 'error', pid: null, processAlive: false, consistent: true })
    expect(env.processesUsing(dir)).toEqual([])
    const link = netns.linkInfo(tap)
    expect(link).not.toBeNull()
    expect(link.master ?? null).toBeNull()
    expect(env.tapDispatched(tap)).toBe(false)
    expect(env.nftChainExists(generateVMChainName(vmId))).toBe(true)
    expect(fs.existsSync(r.diskPaths[0])).toBe(true)

    expect(await m.startVM(vmId)).toMatchObject({ success: true, message: `VM ${vmId} started successfully` })
    const st = await m.getVMStatus(vmId)
    expect(st).toMatchObject({ status: 'running', processAlive: true, consistent: true, tapDevice: tap })
    expect(env.qemuInstances(r.pidFilePath)).toEqual([st.pid])
    expect(netns.linkInfo(tap).master).toBe(br)
    expect(env.tapDispatched(tap)).toBe(true)
    await m.stopVM(vmId, { graceful: false })
  })
})

describe('a start refused by the firewall (§5.6 step 12, rule 6, §19 #5)', () => {
  test('strict rules: a rule added while the VM was off is invalid: START_FAILED, the chain keeps its previous rules, TAP and disks stay', async () => {
    const br = await newBridge('10.215.8.1/24')
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait' }), firewallStrictRules: true })
    const db = m.getPrismaAdapter()
    const vmId = env.newVmId('w')
    const chain = generateVMChainName(vmId)
    const tap = env.tapNameOf(vmId)
    await db.insertRecord('FirewallRuleSet', { id: `rs-${vmId}`, name: 'vm', internalName: `rs-${vmId}`, entityType: 'VM', entityId: vmId })
    await db.insertRecord('FirewallRule', { id: `r-ok-${vmId}`, ruleSetId: `rs-${vmId}`, name: 'no ssh', action: 'DROP', direction: 'IN', priority: 100, protocol: 'tcp', dstPortStart: 2222 })
    await seedMachine(m, vmId, { firewallRuleSetId: `rs-${vmId}` })
    const r = await m.createVM(env.createConfig(vmId, br))
    expect(env.nftChainText(chain)).toContain('2222')
    await m.stopVM(vmId, { graceful: false })
    const tapIndex = netns.linkInfo(tap).ifindex
    const before = env.nftChainText(chain)

    await db.insertRecord('FirewallRule', { id: `r-bad-${vmId}`, ruleSetId: `rs-${vmId}`, name: 'bad dst', action: 'DROP', direction: 'OUT', priority: 200, protocol: 'all', dstIpAddr: '10.0.0.256' })
    const e = await env.rejection(m.startVM(vmId))
    expectLifecycleError(e, 'START_FAILED', vmId)
    expect(e.message).toContain(`r-bad-${vmId}`)
    expect(e.context.cause.code).toBe('INVALID_IP_ADDRESS')
    // Nothing was started; the previous ruleset is untouched (all or nothing).
    expect(env.processesUsing(dir)).toEqual([])
    expect(env.nftChainText(chain)).toBe(before)
    expect(env.tapDispatched(tap)).toBe(false)
    expect(netns.linkInfo(tap)).toMatchObject({ ifindex: tapIndex })
    expect(netns.linkInfo(tap).master ?? null).toBeNull()
    expect(await storeState(m, vmId)).toEqual({ status: 'error', qemuPid: null, qmpSocketPath: null, tapDeviceName: tap })
    expect((await db.findMachineWithConfig(vmId)).configuration).toMatchObject({ diskPaths: r.diskPaths, bridge: br })
    expect(fs.existsSync(r.diskPaths[0])).toBe(true)
    expect(env.filesIn(path.join(dir, 'qmp'))).toEqual([])
    expect(env.filesIn(path.join(dir, 'pids'))).toEqual([])
  })
})
