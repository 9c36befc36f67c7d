'use strict'
// The lifecycle under load, against the real host parts (API.md §5, §6; DESIGN rules
// 4, 7, 8): a real bridge, TAPs and nft chains inside the private namespace made by
// scripts/test-net.sh, real QEMUs (TCG) booting the test guest, the embedded SQLite
// store. After every step the store's columns are compared with what really runs:
// /proc, the TAP and its bridge, the VM's chain and its dispatch elements, the QMP
// socket and the pidfile.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const util = require('node:util')

const { Infinivirt, BridgeManager, LifecycleError, LifecycleErrorCode, generateVMChainName } = require('../..')
const netns = require('../helpers/netns')
const { guestArgs, ensureGuest, waitForMarker } = require('../helpers/guest')
const env = require('../helpers/lifecycle-env')

jest.setTimeout(240000)

const bridges = new BridgeManager()
const h = env.harness('iv-lcstress')
const { manager, seedMachine } = h
let dir
let persistDir
let links
// The current test's (set by the harness's beforeEach, which runs first).
beforeEach(() => {
  ({ dir, persistDir, links } = h)
})


const pidfileOf = (vmId) => path.join(dir, 'pids', `vm-${vmId}.pid`)
const socketOf = (vmId) => path.join(dir, 'qmp', `vm-${vmId}.sock`)

// The store row of a VM and the host's reality, side by side.
async function observe (m, vmId) {
  const row = await m.getPrismaAdapter().findMachineWithConfig(vmId)
  const c = row.configuration || {}
  const tap = env.tapNameOf(vmId)
  const link = netns.linkInfo(tap)
  return {
    status: row.status,
    qemuPid: c.qemuPid ?? null,
    qmpSocketPath: c.qmpSocketPath ?? null,
    tapDeviceName: c.tapDeviceName ?? null,
    qemus: env.qemusWithPidfile(pidfileOf(vmId)),
    tapExists: link !== null,
    tapMaster: link ? (link.master ?? null) : null,
    tapCarrier: link ? link.flags.includes('LOWER_UP') : false,
    chain: env.nftChainExists(generateVMChainName(vmId)),
    dispatched: env.tapDispatched(tap),
    socketFile: fs.existsSync(socketOf(vmId)),
    pidfile: fs.existsSync(pidfileOf(vmId)) ? fs.readFileSync(pidfileOf(vmId), 'utf8').trim() : null
  }
}

// A running (or suspended) VM: one QEMU, the one the store names; its TAP on the
// bridge with carrier, dispatched to its chain; socket and pidfile in place.
function expectLive (o, { status, bridge, tap, pid }) {
  expect(o).toEqual({
    status,
    qemuPid: pid,
    qmpSocketPath: expect.any(String),
    tapDeviceName: tap,
    qemus: [pid],
    tapExists: true,
    tapMaster: bridge,
    tapCarrier: true,
    chain: true,
    dispatched: true,
    socketFile: true,
    pidfile: String(pid)
  })
}

// A stopped VM: no QEMU, runtime columns cleared but the TAP name kept; the TAP
// exists, off the bridge and no longer dispatched; the chain stays; no socket, no pidfile.
function expectStopped (o, { tap }) {
  expect(o).toEqual({
    status: 'off',
    qemuPid: null,
    qmpSocketPath: null,
    tapDeviceName: tap,
    qemus: [],
    tapExists: true,
    tapMaster: null,
    tapCarrier: false,
    chain: true,
    dispatched: false,
    socketFile: false,
    pidfile: null
  })
}



describe('VM lifecycle under load', () => {
  test('create → suspend → resume → reset → stop → start → destroy: the store agrees with the host at every step', async () => {
    const br = netns.uniqueName('ivbr')
    links.push(br)
    await bridges.create(br)
    env.addBridgeAddress(br, '10.214.0.1/24')
    const serial = path.join(dir, 'serial.log')
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait', serialPath: serial }) })
    const vmId = env.newVmId('f')
    await seedMachine(m, vmId)
    const tap = env.tapNameOf(vmId)
    const db = m.getPrismaAdapter()

    // Before anything: a seeded row, nothing on the host.
    expect(await observe(m, vmId)).toMatchObject({
      status: 'off', qemuPid: null, qmpSocketPath: null, tapDeviceName: null, qemus: [], tapExists: false, chain: false, dispatched: false, socketFile: false, pidfile: null
    })

    // create
    const r = await m.createVM(env.createConfig(vmId, br, { displayPassword: 'pw-stress' }))
    expect(r).toMatchObject({ vmId, success: true, tapDevice: tap, qmpSocketPath: socketOf(vmId), pidFilePath: pidfileOf(vmId) })
    let o = await observe(m, vmId)
    expectLive(o, { status: 'running', bridge: br, tap, pid: r.pid })
    expect(o.qmpSocketPath).toBe(r.qmpSocketPath)
    const createdRow = await db.findMachineWithConfig(vmId)
    expect(createdRow.configuration).toMatchObject({ bridge: br, diskPaths: r.diskPaths, graphicPort: r.displayPort, graphicProtocol: 'spice' })
    const tapIndex = netns.linkInfo(tap).ifindex
    const mac = env.macOf(r.pid)
    expect(mac).toMatch(/^52:54:00:/)
    await waitForMarker(serial, 'IV-READY', 60000)

    // suspend: same process, paused; nothing else moves.
    expect(await m.suspendVM(vmId)).toMatchObject({ success: true, vmId, message: `VM ${vmId} suspended` })
    o = await observe(m, vmId)
    expectLive(o, { status: 'suspended', bridge: br, tap, pid: r.pid })
    expect(await m.getVMStatus(vmId)).toMatchObject({ status: 'suspended', qmpStatus: 'paused', pid: r.pid, processAlive: true })
    // Operations that need another state are refused and change nothing.
    for (const [op, code, msg] of [
      [() => m.suspendVM(vmId), 'INVALID_STATE', 'Cannot suspend VM in state: suspended'],
      [() => m.resetVM(vmId), 'INVALID_STATE', 'Cannot reset VM in state: suspended']
    ]) {
      const e = await env.rejection(op())
      expect(e).toBeInstanceOf(LifecycleError)
      expect({ code: e.code, message: e.message }).toEqual({ code, message: msg })
    }
    expectLive(await observe(m, vmId), { status: 'suspended', bridge: br, tap, pid: r.pid })

    // resume
    expect(await m.resumeVM(vmId)).toMatchObject({ success: true, message: `VM ${vmId} resumed` })
    expectLive(await observe(m, vmId), { status: 'running', bridge: br, tap, pid: r.pid })
    expect(await m.getVMStatus(vmId)).toMatchObject({ status: 'running', qmpStatus: 'running', consistent: true })
    const e = await env.rejection(m.resumeVM(vmId))
    expect(e.code).toBe('INVALID_STATE')
    expect(e.message).toBe('Cannot resume VM in state: running')

    // reset: the guest boots again inside the same QEMU.
    expect(await m.resetVM(vmId)).toMatchObject({ success: true, message: `VM ${vmId} reset` })
    expectLive(await observe(m, vmId), { status: 'running', bridge: br, tap, pid: r.pid })
    await waitForMarker(serial, 'IV-READY', 60000, { count: 2 })
    expect(await m.getVMStatus(vmId)).toMatchObject({ status: 'running', qmpStatus: 'running', pid: r.pid, consistent: true })

    // stop (graceful: the guest answers the power button)
    const s = await m.stopVM(vmId, { graceful: true, timeout: 30000 })
    expect(s).toMatchObject({ success: true, forced: false })
    await waitForMarker(serial, 'IV-ACPI-POWERDOWN', 1000)
    expectStopped(await observe(m, vmId), { tap })
    expect(netns.linkInfo(tap).ifindex).toBe(tapIndex)
    expect(env.alive(r.pid)).toBe(false)
    expect(await m.getVMStatus(vmId)).toMatchObject({ status: 'off', pid: null, processAlive: false, consistent: true, tapDevice: tap, qmpSocketPath: null })
    // The stopped VM keeps what it owns between runs.
    const stoppedRow = await db.findMachineWithConfig(vmId)
    expect(stoppedRow.configuration).toMatchObject({ bridge: br, diskPaths: r.diskPaths })
    expect(fs.existsSync(r.diskPaths[0])).toBe(true)
    for (const [op, verb] of [[() => m.suspendVM(vmId), 'suspend'], [() => m.resumeVM(vmId), 'resume'], [() => m.resetVM(vmId), 'reset']]) {
      const err = await env.rejection(op())
      expect(err.code).toBe('INVALID_STATE')
      expect(err.message).toBe(`Cannot ${verb} VM in state: off`)
    }
    expectStopped(await observe(m, vmId), { tap })

    // start: a new QEMU on the same TAP (same device, same MAC), dispatched again.
    fs.rmSync(serial, { force: true })
    const st = await m.startVM(vmId)
    expect(st).toMatchObject({ success: true, message: `VM ${vmId} started successfully` })
    o = await observe(m, vmId)
    expect(o.qemuPid).not.toBe(r.pid)
    expectLive(o, { status: 'running', bridge: br, tap, pid: o.qemuPid })
    expect(o.qmpSocketPath).toBe(r.qmpSocketPath)
    expect(netns.linkInfo(tap).ifindex).toBe(tapIndex)
    expect(env.macOf(o.qemuPid)).toBe(mac)
    expect((await db.findMachineWithConfig(vmId)).configuration).toMatchObject({ bridge: br, diskPaths: r.diskPaths })
    await waitForMarker(serial, 'IV-READY', 60000)

    // destroy while running: forced stop, then the TAP and chain go; disks and row stay.
    const d = await m.destroyVM(vmId)
    expect(d).toMatchObject({ success: true, message: `VM ${vmId} resources destroyed successfully` })
    o = await observe(m, vmId)
    expect(o).toEqual({
      status: 'off',
      qemuPid: null,
      qmpSocketPath: null,
      tapDeviceName: null,
      qemus: [],
      tapExists: false,
      tapMaster: null,
      tapCarrier: false,
      chain: false,
      dispatched: false,
      socketFile: false,
      pidfile: null
    })
    expect(env.processesUsing(dir)).toEqual([])
    expect(env.filesIn(path.join(dir, 'qmp'))).toEqual([])
    expect(env.filesIn(path.join(dir, 'pids'))).toEqual([])
    expect(env.filesIn(path.join(dir, 'disks'))).toEqual([`vm-${vmId}.qcow2`])
    expect(await m.getVMStatus(vmId)).toMatchObject({ status: 'off', pid: null, processAlive: false, consistent: true, tapDevice: null })
    expect(m.getActiveVMs()).toEqual([])
  })

  test('20 concurrent operations on 5 VMs: no double start, only state errors, and the store matches the host afterwards', async () => {
    const br = netns.uniqueName('ivbr')
    links.push(br)
    await bridges.create(br)
    env.addBridgeAddress(br, '10.214.1.1/24')
    // The guests bring eth0 up and ping the bridge (3 echo requests) before their
    // power-button daemon runs: enough packets from a guest on its TAP tell that it
    // has nearly booted (its serial console cannot be told apart from the others':
    // every VM of a manager gets the same extra arguments). All share one address.
    const m = await manager({ extraArgs: guestArgs({ mode: 'wait', ip: '10.214.1.2/24', peer: '10.214.1.1' }) })
    const ids = []
    for (let i = 0; i < 5; i++) {
      const id = env.newVmId(`c${i}`)
      await seedMachine(m, id)
      ids.push(id)
    }
    const tapOf = (id) => env.tapNameOf(id)

    // Five creates at once (different VMs run in parallel); distinct first ports.
    const created = await Promise.allSettled(ids.map((id, i) => m.createVM(env.createConfig(id, br, { displayPort: 5950 + 10 * i }))))
    for (const c of created) {
      if (c.status !== 'fulfilled') throw c.reason
    }
    const booted = async (id) => {
      await env.until(() => env.linkCounter(tapOf(id), 'rx') >= 6, 90000, `guest traffic on ${tapOf(id)}`)
    }
    await Promise.all(ids.map(booted))
    await env.sleep(2000)
    // VMs 2, 3 and 4 are stopped first, so that their starts race each other.
    await Promise.all(ids.slice(2).map((id) => m.stopVM(id, { graceful: false })))
    for (const id of ids.slice(2)) expectStopped(await observe(m, id), { tap: tapOf(id) })
    for (const id of ids.slice(0, 2)) {
      const o = await observe(m, id)
      expectLive(o, { status: 'running', bridge: br, tap: tapOf(id), pid: o.qemuPid })
    }

    // Watch for a second QEMU of any VM while the operations run.
    const maxQemus = Object.fromEntries(ids.map((id) => [id, 0]))
    let watching = true
    const watcher = (async () => {
      while (watching) {
        for (const id of ids) maxQemus[id] = Math.max(maxQemus[id], env.qemuInstances(pidfileOf(id)).length)
        await env.sleep(50)
      }
    })()

    const [v0, v1, v2, v3, v4] = ids
    const stopQuick = { graceful: true, timeout: 5000 }
    const ops = [
      ['suspendVM', v0], ['resumeVM', v0], ['getVMStatus', v0], ['stopVM', v0, stopQuick],
      ['restartVM', v1], ['getVMStatus', v1], ['suspendVM', v1], ['startVM', v1],
      ['startVM', v2], ['startVM', v2], ['startVM', v2], ['getVMStatus', v2],
      ['startVM', v3], ['startVM', v3], ['stopVM', v3, stopQuick], ['resumeVM', v3],
      ['startVM', v4], ['restartVM', v4], ['suspendVM', v4], ['getVMStatus', v4]
    ]
    expect(ops).toHaveLength(20)
    const t0 = Date.now()
    const results = await Promise.allSettled(ops.map(([op, id, cfg]) => (cfg ? m[op](id, cfg) : m[op](id))))
    const took = Date.now() - t0
    watching = false
    await watcher

    const specCodes = new Set(Object.values(LifecycleErrorCode))
    const summary = results.map((r, i) => {
      const [op, id] = ops[i]
      const vm = ids.indexOf(id)
      if (r.status === 'fulfilled') return `${op}(vm${vm}) → ${r.value.message ?? r.value.status}`
      return `${op}(vm${vm}) ✗ ${r.reason && r.reason.code}: ${r.reason && r.reason.message}`
    })
    // Printed so that a failure shows what happened, in which order of firing.
    console.log(`20 operations settled in ${took} ms:\n${summary.join('\n')}`)

    // Problems that are reported at the very end, so that the checks of the store
    // against the host and the cleanup still run (and are still checked) after one.
    const problems = []
    for (const [i, r] of results.entries()) {
      const [op, id] = ops[i]
      if (r.status === 'fulfilled') {
        if (op === 'getVMStatus') {
          expect(r.value.vmId).toBe(id)
          expect(['running', 'off', 'suspended', 'starting', 'error']).toContain(r.value.status)
        } else {
          expect({ op, success: r.value.success, vmId: r.value.vmId }).toEqual({ op, success: true, vmId: id })
          expect(r.value.timestamp).toBeInstanceOf(Date)
        }
      } else {
        const err = r.reason
        expect(util.types.isNativeError(err) || err instanceof Error).toBe(true)
        expect(err).toBeInstanceOf(LifecycleError)
        expect(specCodes.has(err.code)).toBe(true)
        expect(err.vmId).toBe(id)
        // Concurrency may only surface as a state error, never as a failed operation.
        if (!['INVALID_STATE', 'CONCURRENT_MODIFICATION'].includes(err.code)) {
          problems.push(`${op}(vm${ids.indexOf(id)}) rejected with ${err.code}: ${err.message.split('\n')[0]}`)
        }
      }
    }
    // Starts of one VM fired together: at most one QEMU per VM, ever.
    expect(Object.entries(maxQemus).filter(([, n]) => n > 1)).toEqual([])
    // VM 2 (off, three starts, nothing else that stops it): exactly one start did the work.
    const v2Started = results.filter((r, i) => ops[i][0] === 'startVM' && ops[i][1] === v2 && r.status === 'fulfilled' &&
      r.value.message === `VM ${v2} started successfully`)
    if (v2Started.length !== 1) problems.push(`VM 2 was started ${v2Started.length} times by its three concurrent starts`)

    // Afterwards: the store agrees with the host for every VM.
    await env.sleep(500)
    for (const id of ids) {
      const o = await observe(m, id)
      expect(['running', 'suspended', 'off', 'error']).toContain(o.status)
      expect(o.qemus.length).toBeLessThanOrEqual(1)
      if (o.status === 'error') {
        // Only after a failed operation (listed in `problems`): nothing runs, nothing is dispatched.
        expect(o).toMatchObject({ qemuPid: null, qmpSocketPath: null, tapDeviceName: tapOf(id), qemus: [], tapMaster: null, dispatched: false, socketFile: false, pidfile: null })
        expect(await m.getVMStatus(id)).toMatchObject({ status: 'error', processAlive: false, consistent: true })
      } else if (o.status === 'off') {
        expectStopped(o, { tap: tapOf(id) })
        expect(await m.getVMStatus(id)).toMatchObject({ status: 'off', processAlive: false, consistent: true })
      } else {
        expectLive(o, { status: o.status, bridge: br, tap: tapOf(id), pid: o.qemuPid })
        if (o.status === 'suspended') {
          expect(await m.getVMStatus(id)).toMatchObject({ status: 'suspended', qmpStatus: 'paused', processAlive: true })
          await m.resumeVM(id)
          expectLive(await observe(m, id), { status: 'running', bridge: br, tap: tapOf(id), pid: o.qemuPid })
        }
        expect(await m.getVMStatus(id)).toMatchObject({ status: 'running', qmpStatus: 'running', pid: o.qemuPid, processAlive: true, consistent: true })
      }
    }
    // Only the QEMUs the store knows run.
    const known = []
    for (const id of ids) {
      const q = (await m.getPrismaAdapter().findMachineWithConfig(id)).configuration.qemuPid
      if (q) known.push(q)
    }
    expect(env.processesUsing(path.join(dir, 'pids')).sort()).toEqual(known.sort())

    // Destroy all at once: nothing is left.
    const destroyed = await Promise.allSettled(ids.map((id) => m.destroyVM(id)))
    for (const d of destroyed) {
      if (d.status !== 'fulfilled') throw d.reason
      expect(d.value.success).toBe(true)
    }
    expect(env.processesUsing(dir)).toEqual([])
    expect(env.vnetLinks().filter((t) => ids.map(tapOf).includes(t))).toEqual([])
    for (const id of ids) {
      expect(env.nftChainExists(generateVMChainName(id))).toBe(false)
      expect(env.tapDispatched(tapOf(id))).toBe(false)
      const row = await m.getPrismaAdapter().findMachineWithConfig(id)
      expect({ id, status: row.status, c: row.configuration && [row.configuration.qemuPid, row.configuration.tapDeviceName, row.configuration.qmpSocketPath] })
        .toEqual({ id, status: 'off', c: [null, null, null] })
    }
    const ourChains = new Set(ids.map((id) => generateVMChainName(id)))
    expect(env.vmChains().filter((c) => ourChains.has(c))).toEqual([])
    expect(env.nftElements('set', 'vm_ports').filter((t) => ids.map(tapOf).includes(t))).toEqual([])
    expect(env.nftElements('map', 'from_vm').filter((t) => ids.map(tapOf).includes(t))).toEqual([])
    expect(env.filesIn(path.join(dir, 'qmp'))).toEqual([])
    expect(env.filesIn(path.join(dir, 'pids'))).toEqual([])
    expect(env.filesIn(path.join(dir, 'disks'))).toEqual(ids.map((id) => `vm-${id}.qcow2`).sort())
    expect(m.getActiveVMs()).toEqual([])
    expect(problems).toEqual([])
  })
})
