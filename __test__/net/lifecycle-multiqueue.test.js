'use strict'
// VMs with more than one vCPU (API.md §5.4 step 4: `queues = min(cpuCores, 4)`): QEMU
// opens their TAP with several queues, which the kernel allows only on a TAP made
// multi-queue. A real QEMU (TCG) boots the test guest on a real bridge and TAP inside
// the private namespace of scripts/test-net.sh, on the embedded SQLite store.

const fs = require('node:fs')
const path = require('node:path')

const { generateVMChainName } = require('../..')
const netns = require('../helpers/netns')
const env = require('../helpers/lifecycle-env')
const { processesUsing, nftChainExists, newVmId, cmdlineOf, vnetLinks } = env
const { guestArgs, waitForMarker } = require('../helpers/guest')

jest.setTimeout(180000)

const h = env.harness('iv-mq')

// What `ip -d link` says about a TAP's queues.
function tunInfo (tap) {
  const l = netns.linkInfo(tap)
  if (!l) return null
  const d = (l.linkinfo && l.linkinfo.info_data) || {}
  return { index: l.ifindex, multiQueue: d.multi_queue === true, queues: d.numqueues, carrier: l.flags.includes('LOWER_UP'), master: l.master }
}

// Whether QEMU can open /dev/vhost-net here (it cannot on the project's test machines).
function vhostUsable () {
  try {
    fs.closeSync(fs.openSync('/dev/vhost-net', 'r+'))
    return true
  } catch {
    return false
  }
}

function netdevOf (pid) {
  return (cmdlineOf(pid) || []).find((a) => a.startsWith('tap,id=net0,')) || ''
}

function nicOf (pid) {
  return (cmdlineOf(pid) || []).find((a) => a.startsWith('virtio-net-pci,netdev=net0')) || ''
}

async function twoCoreVm (tag, cidr) {
  const br = await h.bridge(cidr)
  const serial = path.join(h.dir, 'serial.log')
  const m = await h.manager({ extraArgs: guestArgs({ mode: 'wait', serialPath: serial }) })
  const vmId = newVmId(tag)
  await h.seedMachine(m, vmId, { cpuCores: 2 })
  const r = await m.createVM(env.createConfig(vmId, br, { cpuCores: 2 }))
  return { br, serial, m, vmId, r }
}

describe('multi-core VMs get a multi-queue TAP', () => {
  test('a 2-core VM runs on a 2-queue TAP, starts again on the same TAP, and destroy leaves nothing', async () => {
    const { br, serial, m, vmId, r } = await twoCoreVm('q', '10.214.0.1/24')
    await waitForMarker(serial, 'IV-READY', 90000)
    expect(await m.getVMStatus(vmId)).toMatchObject({ status: 'running', qmpStatus: 'running', processAlive: true, consistent: true })
    // The spec's argv (vhost only where the host has a usable /dev/vhost-net).
    expect(netdevOf(r.pid)).toBe(`tap,id=net0,ifname=${r.tapDevice},script=no,downscript=no,queues=2${vhostUsable() ? ',vhost=on' : ''}`)
    expect(nicOf(r.pid)).toMatch(/,mq=on,vectors=6$/)
    const first = tunInfo(r.tapDevice)
    expect(first).toMatchObject({ multiQueue: true, queues: 2, carrier: true, master: br })
    expect((await m.getPrismaAdapter().findMachineWithConfig(vmId)).configuration.networkQueues).toBe(2)

    await m.stopVM(vmId, { graceful: false })
    expect(processesUsing(h.dir)).toEqual([])
    expect(tunInfo(r.tapDevice)).toMatchObject({ index: first.index, multiQueue: true, queues: 0, carrier: false })

    // Start reuses the stored TAP (same device, not made anew).
    fs.rmSync(serial, { force: true })
    expect(await m.startVM(vmId)).toMatchObject({ success: true, message: `VM ${vmId} started successfully` })
    await waitForMarker(serial, 'IV-READY', 90000)
    const st = await m.getVMStatus(vmId)
    expect(st).toMatchObject({ status: 'running', qmpStatus: 'running', processAlive: true, tapDevice: r.tapDevice })
    expect(tunInfo(r.tapDevice)).toEqual({ index: first.index, multiQueue: true, queues: 2, carrier: true, master: br })
    expect(processesUsing(h.dir)).toEqual([st.pid])

    await m.stopVM(vmId, { graceful: false })
    expect(await m.destroyVM(vmId)).toMatchObject({ success: true })
    expect(netns.linkInfo(r.tapDevice)).toBeNull()
    expect(vnetLinks()).toEqual([])
    expect(nftChainExists(generateVMChainName(vmId))).toBe(false)
    expect(processesUsing(h.dir)).toEqual([])
    expect(env.filesIn(path.join(h.dir, 'qmp'))).toEqual([])
    expect(env.filesIn(path.join(h.dir, 'pids'))).toEqual([])
  })

  test('start makes the stored TAP anew when its queue mode is not what QEMU will ask for', async () => {
    const { br, serial, m, vmId, r } = await twoCoreVm('x', '10.214.1.1/24')
    await m.stopVM(vmId, { graceful: false })
    // A single-queue TAP under the VM's name, as the original library (or an older
    // Infinivirt) left it: QEMU with queues=2 could not open it.
    netns.removeLink(r.tapDevice)
    netns.ip(['tuntap', 'add', 'dev', r.tapDevice, 'mode', 'tap'])
    const old = tunInfo(r.tapDevice)
    expect(old.multiQueue).toBe(false)

    fs.rmSync(serial, { force: true })
    const s = await m.startVM(vmId)
    expect(s).toMatchObject({ success: true })
    await waitForMarker(serial, 'IV-READY', 90000)
    const now = tunInfo(r.tapDevice)
    expect(now).toMatchObject({ multiQueue: true, queues: 2, carrier: true, master: br })
    expect(now.index).not.toBe(old.index)
    expect(netns.linkInfo(r.tapDevice).ifalias).toBe(`infinivirt vm=${vmId}`)
    await m.stopVM(vmId, { graceful: false })

    // The other way: the VM is set to one queue, so its multi-queue TAP is replaced
    // by a single-queue one and QEMU gets no `queues=`.
    await m.getPrismaAdapter().updateMachineConfiguration(vmId, { networkQueues: 1 })
    fs.rmSync(serial, { force: true })
    await m.startVM(vmId)
    await waitForMarker(serial, 'IV-READY', 90000)
    const st = await m.getVMStatus(vmId)
    expect(netdevOf(st.pid)).toBe(`tap,id=net0,ifname=${r.tapDevice},script=no,downscript=no`)
    expect(tunInfo(r.tapDevice)).toMatchObject({ multiQueue: false, carrier: true, master: br })

    await m.stopVM(vmId, { graceful: false })
    await m.destroyVM(vmId)
    expect(vnetLinks()).toEqual([])
    expect(processesUsing(h.dir)).toEqual([])
  })
})
