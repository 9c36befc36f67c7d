'use strict'
// Thin clones (API-next §3, issue 15 items 5–6) through createVM: two VMs whose disks
// are qcow2 overlays (`disks: [{ backingFile }]`) on one golden image boot the test
// guest, which mounts the golden ext4 filesystem from its clone (iv.data) and reads
// it through the guest agent. One clone is flattened while its guest runs (QMP
// block-stream), the other after its VM stopped; the golden image cannot be deleted
// or overwritten until neither needs it. Storage-level cases are in
// __test__/clones.test.js.

const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const { QemuImgService, StorageError, LifecycleError } = require('../..')
const env = require('../helpers/lifecycle-env')
const { newVmId, rejection } = env
const { guestArgs, waitForMarker } = require('../helpers/guest')

jest.setTimeout(300000)

const h = env.harness('iv-clones')
const qemuImg = new QemuImgService()
const GOLDEN_TEXT = 'golden image content 0123456789\n'

// A 64 MiB raw ext4 image labelled ivdata holding golden.txt.
function makeGolden (dir) {
  fs.mkdirSync(dir, { recursive: true })
  const img = path.join(dir, 'desktop.raw')
  fs.writeFileSync(img, '')
  fs.truncateSync(img, 64 * 1024 * 1024)
  execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'ivdata', img])
  const src = path.join(dir, 'golden.txt')
  fs.writeFileSync(src, GOLDEN_TEXT)
  execFileSync('debugfs', ['-w', '-R', `write ${src} golden.txt`, img], { stdio: 'ignore' })
  fs.rmSync(src)
  return img
}

// A manager whose VMs boot the guest with the agent and the ivdata disk on /mnt/data.
async function cloneVm (br, golden, tag) {
  const serial = path.join(h.dir, `serial-${tag}.log`)
  const m = await h.manager({ extraArgs: guestArgs({ mode: 'wait', agent: true, data: 'LABEL=ivdata', serialPath: serial }) })
  const vmId = newVmId(tag)
  await h.seedMachine(m, vmId)
  const socket = path.join(h.dir, `ga-${tag}.sock`)
  const r = await m.createVM(env.createConfig(vmId, br, { guestAgentSocketPath: socket, disks: [{ backingFile: golden }] }))
  return { m, vmId, r, serial }
}

async function diskOf (m, vmId, file) {
  const blocks = await m.queryBlockDevices(vmId)
  const b = blocks.find((x) => x.inserted && x.inserted.image.filename === file)
  expect(b).toBeDefined()
  return b
}

function header (img) {
  return JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', img], { encoding: 'utf8' }))
}

describe('VMs on thin clones of one golden image', () => {
  test('boot from it, read it, flatten live and stopped; the golden image is protected while in use', async () => {
    const br = await h.bridge('10.215.0.1/24')
    const golden = makeGolden(path.join(h.dir, 'golden'))
    const goldenBytes = fs.readFileSync(golden)
    const one = await cloneVm(br, golden, 'a')
    const two = await cloneVm(br, golden, 'b')
    const [diskA, diskB] = [one.r.diskPaths[0], two.r.diskPaths[0]]
    await waitForMarker(one.serial, 'IV-DATA-UP', 120000)
    await waitForMarker(two.serial, 'IV-DATA-UP', 120000)
    await waitForMarker(one.serial, 'IV-READY', 60000)
    await waitForMarker(two.serial, 'IV-READY', 60000)

    // Thin clones of the golden image, its format recorded; QEMU sees golden ← clone.
    for (const [{ m, vmId }, disk] of [[one, diskA], [two, diskB]]) {
      expect(header(disk)).toMatchObject({ format: 'qcow2', 'backing-filename': golden, 'backing-filename-format': 'raw', 'virtual-size': 64 * 1024 * 1024 })
      const b = await diskOf(m, vmId, disk)
      expect(b.inserted.image['backing-image']).toMatchObject({ filename: golden, format: 'raw' })
      expect(b.inserted.image['backing-filename-format']).toBe('raw')
      expect((await m.guestExec(vmId, null, '/bin/cat', ['/mnt/data/golden.txt'])).stdout).toBe(GOLDEN_TEXT)
    }
    // Each guest writes its own data; the golden image does not change.
    for (const [{ m, vmId }, who] of [[one, 'a'], [two, 'b']]) {
      expect((await m.guestExec(vmId, null, '/bin/sh', ['-c', `echo ${who} > /mnt/data/mine.txt && sync`])).exitCode).toBe(0)
    }
    expect(fs.readFileSync(golden).equals(goldenBytes)).toBe(true)

    // In use: neither deleted nor overwritten; the error names both clones.
    const clones = [diskA, diskB].sort()
    expect(await qemuImg.listClones(golden)).toEqual(clones)
    // One after the other: two calls started together would leave the second's
    // rejection unhandled while the first is awaited.
    for (const call of [() => qemuImg.deleteImage(golden), () => qemuImg.createImage({ path: golden, sizeGB: 0.0625, format: 'qcow2' })]) {
      const e = await rejection(call())
      expect(e).toBeInstanceOf(StorageError)
      expect(e).toMatchObject({ code: 'IMAGE_IN_USE', path: golden, clones })
    }
    expect(fs.readFileSync(golden).equals(goldenBytes)).toBe(true)

    // VM a: flattened while the guest runs, over the manager's QMP connection.
    const devA = (await diskOf(one.m, one.vmId, diskA)).device
    const seen = []
    expect(await qemuImg.flattenImageLive(one.m.getEventHandler().getQMPClient(one.vmId), devA, { onProgress: (p) => seen.push(p) })).toBe(true)
    expect(seen[seen.length - 1]).toBe(100)
    expect((await diskOf(one.m, one.vmId, diskA)).inserted.image['backing-image']).toBeUndefined()
    expect(await one.m.getVMStatus(one.vmId)).toMatchObject({ status: 'running', qmpStatus: 'running', processAlive: true })
    expect((await one.m.guestExec(one.vmId, null, '/bin/cat', ['/mnt/data/golden.txt', '/mnt/data/mine.txt'])).stdout).toBe(`${GOLDEN_TEXT}a\n`)
    expect(header(diskA)['backing-filename']).toBeUndefined()
    // Still needed by VM b.
    expect(await qemuImg.listClones(golden)).toEqual([diskB])
    expect(await rejection(qemuImg.deleteImage(golden))).toMatchObject({ code: 'IMAGE_IN_USE', clones: [diskB] })

    // VM b: stopped, then flattened offline (refused while QEMU still held it).
    expect(await rejection(qemuImg.flattenImage(diskB))).toMatchObject({ code: 'IMAGE_IN_USE', path: diskB })
    await two.m.stopVM(two.vmId, { graceful: false })
    expect(await qemuImg.flattenImage(diskB)).toBe(true)
    expect(header(diskB)['backing-filename']).toBeUndefined()
    expect(await qemuImg.listClones(golden)).toEqual([])
    await qemuImg.deleteImage(golden)
    expect(fs.existsSync(golden)).toBe(false)

    // Both VMs still work without it: b starts again from its standalone disk.
    await two.m.startVM(two.vmId)
    await env.until(async () => {
      try {
        return (await two.m.guestExec(two.vmId, null, '/bin/cat', ['/mnt/data/mine.txt'])).stdout === 'b\n'
      } catch {
        return false
      }
    }, 120000, 'VM b to mount its disk and answer through its agent')
    expect((await one.m.guestExec(one.vmId, null, '/bin/cat', ['/mnt/data/golden.txt'])).stdout).toBe(GOLDEN_TEXT)
  })

  test('createVM with an invalid backing file fails with DISK_ERROR carrying the storage code, and makes nothing', async () => {
    const br = await h.bridge('10.215.1.1/24')
    const m = await h.manager({ extraArgs: guestArgs({ mode: 'wait' }) })
    const vmId = newVmId('x')
    await h.seedMachine(m, vmId)
    const missing = path.join(h.dir, 'no-such-golden.qcow2')
    const e = await rejection(m.createVM(env.createConfig(vmId, br, { disks: [{ backingFile: missing }] })))
    expect(e).toBeInstanceOf(LifecycleError)
    expect(e.code).toBe('DISK_ERROR')
    expect(e.context.cause).toMatchObject({ code: 'INVALID_BACKING_FILE' })
    expect(e.message).toContain('it does not exist')
    expect(fs.readdirSync(path.join(h.dir, 'disks'))).toEqual([])
    const vmId2 = newVmId('y')
    await h.seedMachine(m, vmId2)
    const rel = await rejection(m.createVM(env.createConfig(vmId2, br, { disks: [{ backingFile: 'golden.qcow2' }] })))
    expect(rel.code).toBe('DISK_ERROR')
  })
})
