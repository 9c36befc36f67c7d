'use strict'

// Thin clones of golden images (API-next §3, issue 15 item 5) through the public
// entry, against the real qemu-img, qemu-io and (for the live flatten) a real QEMU
// under TCG: clones made with createImage({ backingFile }), the golden image's
// protection, invalid backing files, flattening stopped and running clones, and
// SnapshotManager.materializeSnapshot. A VM booting from a golden image through
// createVM({ disks: [{ backingFile }] }) is in __test__/net/clones.test.js.

const fs = require('node:fs')
const path = require('node:path')
const { tool, mustRun, writePattern, holdsPattern, tempRoot } = require('./helpers/images')
const util = require('node:util')

const { QemuImgService, SnapshotManager, StorageError, StorageErrorCode, QemuCommandBuilder, QemuProcess, QMPClient } = require('..')

jest.setTimeout(60000)

const MIB = 1024 * 1024
const qemuImg = new QemuImgService()
const snapshots = new SnapshotManager()
const { freshDir } = tempRoot('iv-clones-')

/** `qemu-img compare` exit status: 0 identical, 1 different. */
function compare (a, b) {
  const r = tool('qemu-img', ['compare', '-U', a, b])
  if (r.status > 1) throw new Error(`qemu-img compare failed: ${r.stderr}`)
  return r.status
}

/** What qemu-img records in the image header (JSON info, no sharing needed). */
function header (img) {
  return JSON.parse(mustRun('qemu-img', ['info', '-U', '--output=json', img]))
}

async function rejection (promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  throw new Error('expected the promise to reject')
}

function expectStorageError (e, code, fields = {}) {
  expect(util.types.isNativeError(e)).toBe(true)
  expect(e).toBeInstanceOf(StorageError)
  expect(e.code).toBe(code)
  for (const [k, v] of Object.entries(fields)) expect(e[k]).toEqual(v)
}

/** A 64 MiB qcow2 golden image: 0x5a over its first MiB, 0x33 over [32 MiB, 33 MiB). */
async function golden (dir, name = 'golden.qcow2') {
  const p = path.join(dir, name)
  await qemuImg.createImage({ path: p, sizeGB: 0.0625, format: 'qcow2' })
  writePattern(p, '0x5a', 0, MIB)
  writePattern(p, '0x33', 32 * MIB, MIB)
  return p
}

describe('clones made with createImage({ backingFile })', () => {
  test('two clones read the golden data, their writes diverge, the golden image stays as it was', async () => {
    const dir = freshDir()
    const g = await golden(dir)
    const pristine = path.join(dir, 'pristine.qcow2')
    fs.copyFileSync(g, pristine)
    const a = path.join(dir, 'a.qcow2')
    const b = path.join(dir, 'b.qcow2')
    await qemuImg.createImage({ path: a, format: 'qcow2', backingFile: g })
    await qemuImg.createImage({ path: b, format: 'qcow2', backingFile: g })
    for (const c of [a, b]) {
      // Thin: the golden image's size, its format recorded (QEMU never probes it).
      expect(await qemuImg.getImageInfo(c)).toMatchObject({ format: 'qcow2', virtualSize: 64 * MIB, backingFile: g })
      expect(header(c)['backing-filename-format']).toBe('qcow2')
      expect(header(c)['actual-size']).toBeLessThan(MIB)
      expect(compare(c, g)).toBe(0)
    }
    writePattern(a, '0xaa', 0, 64 * 1024)
    writePattern(b, '0xbb', 0, 64 * 1024)
    expect(compare(a, b)).toBe(1)
    expect(holdsPattern(a, '0xaa', 0, 64 * 1024)).toBe(true)
    expect(holdsPattern(b, '0xbb', 0, 64 * 1024)).toBe(true)
    for (const c of [a, b]) {
      expect(holdsPattern(c, '0x5a', 64 * 1024, MIB - 64 * 1024)).toBe(true)
      expect(holdsPattern(c, '0x33', 32 * MIB, MIB)).toBe(true)
    }
    expect(compare(g, pristine)).toBe(0)
    expect(await qemuImg.listClones(g)).toEqual([a, b])
    expect(await qemuImg.listClones(a)).toEqual([])
  })

  test('a raw golden image is recorded as raw; a clone may grow, never shrink', async () => {
    const dir = freshDir()
    const raw = path.join(dir, 'golden.raw')
    fs.writeFileSync(raw, Buffer.alloc(64 * MIB, 0x11))
    const big = path.join(dir, 'big.qcow2')
    await qemuImg.createImage({ path: big, sizeGB: 0.125, format: 'qcow2', backingFile: raw })
    expect(header(big)).toMatchObject({ 'backing-filename': raw, 'backing-filename-format': 'raw', 'virtual-size': 128 * MIB })
    expect(holdsPattern(big, '0x11', 0, 64 * MIB)).toBe(true)
    const small = path.join(dir, 'small.qcow2')
    const e = await rejection(qemuImg.createImage({ path: small, sizeGB: 0.03125, format: 'qcow2', backingFile: raw }))
    expectStorageError(e, 'INVALID_SIZE', { path: small, message: 'Invalid size: 0.03125GB. A clone cannot be smaller than its backing image.' })
    expect(fs.existsSync(small)).toBe(false)
  })

  test('invalid backing files are refused before anything is made (INVALID_BACKING_FILE)', async () => {
    const dir = freshDir()
    const g = await golden(dir)
    const target = path.join(dir, 'clone.qcow2')
    const cases = [
      ['golden.qcow2', 'the path must be absolute'],
      [path.join(dir, 'missing.qcow2'), 'it does not exist'],
      [dir, 'it is not a regular file'],
      [target, 'it is the image being created'],
      [path.join(dir, '.', 'clone.qcow2'), 'it is the image being created']
    ]
    expect(StorageErrorCode.INVALID_BACKING_FILE).toBe('INVALID_BACKING_FILE')
    for (const [backingFile, why] of cases) {
      const e = await rejection(qemuImg.createImage({ path: target, format: 'qcow2', backingFile }))
      expectStorageError(e, 'INVALID_BACKING_FILE', {
        path: target, backingFile, command: 'qemu-img create', message: `Invalid backing file ${backingFile} for image ${target}: ${why}`
      })
    }
    // A golden image whose own chain is broken cannot back a clone either.
    const broken = path.join(dir, 'broken.qcow2')
    mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', '-u', '-F', 'qcow2', '-b', path.join(dir, 'gone.qcow2'), broken, '64M'])
    const e = await rejection(qemuImg.createImage({ path: target, format: 'qcow2', backingFile: broken }))
    expectStorageError(e, 'INVALID_BACKING_FILE')
    expect(e.message).toMatch(/its backing chain cannot be opened/)
    const vmdk = path.join(dir, 'golden.vmdk')
    mustRun('qemu-img', ['create', '-q', '-f', 'vmdk', vmdk, '1M'])
    expectStorageError(await rejection(qemuImg.createImage({ path: target, format: 'qcow2', backingFile: vmdk })), 'INVALID_FORMAT',
      { message: `Backing file ${vmdk} is a vmdk image; a golden image must be qcow2 or raw` })
    expect(fs.readdirSync(dir).sort()).toEqual(['broken.qcow2', 'golden.qcow2', 'golden.vmdk'])
    expect(g).toBe(path.join(dir, 'golden.qcow2'))
  })
})

describe('a golden image in use is never deleted or overwritten', () => {
  test('deleteImage, createImage, convertImage, revertSnapshot and a shrink are refused, naming the clones', async () => {
    const dir = freshDir()
    const g = await golden(dir)
    await snapshots.createSnapshot({ imagePath: g, name: 'base' })
    const pristine = path.join(dir, 'pristine.qcow2')
    fs.copyFileSync(g, pristine)
    // One clone beside it, one in another directory this process made a clone in,
    // named through a symlink to the golden image.
    const near = path.join(dir, 'near.qcow2')
    await qemuImg.createImage({ path: near, format: 'qcow2', backingFile: g })
    const other = freshDir()
    fs.symlinkSync(g, path.join(other, 'link.qcow2'))
    const far = path.join(other, 'far.qcow2')
    await qemuImg.createImage({ path: far, format: 'qcow2', backingFile: path.join(other, 'link.qcow2') })
    const clones = [near, far].sort()
    expect(await qemuImg.listClones(g)).toEqual(clones)

    const refused = async (p, command) => {
      const e = await rejection(p)
      expectStorageError(e, 'IMAGE_IN_USE', { path: g, clones, command })
      expect(e.message).toBe(`Image ${g} is the backing file of 2 clone(s): ${clones.join(', ')}. Remove or flatten them first.`)
    }
    await refused(qemuImg.deleteImage(g), 'unlink')
    await refused(qemuImg.createImage({ path: g, sizeGB: 0.0625, format: 'qcow2' }), 'qemu-img create')
    await refused(qemuImg.convertImage({ sourcePath: near, destPath: g, destFormat: 'qcow2' }), 'qemu-img convert')
    await refused(snapshots.revertSnapshot(g, 'base'), 'qemu-img snapshot -a')
    await refused(qemuImg.resizeImage(g, 0.03125, { allowShrink: true }), 'qemu-img resize')
    expect(compare(g, pristine)).toBe(0)
    expect(compare(near, g)).toBe(0)

    // Once no clone needs it, it can go: one flattened, one deleted.
    expect(await qemuImg.flattenImage(near)).toBe(true)
    await qemuImg.deleteImage(far)
    expect(fs.existsSync(far)).toBe(false)
    expect(await qemuImg.listClones(g)).toEqual([])
    await qemuImg.deleteImage(g)
    expect(fs.existsSync(g)).toBe(false)
    expect(compare(near, pristine)).toBe(0)
    expectStorageError(await rejection(qemuImg.deleteImage(g)), 'IMAGE_NOT_FOUND', { path: g, command: 'unlink' })
    expectStorageError(await rejection(qemuImg.deleteImage(dir)), 'COMMAND_FAILED', { message: `Failed to delete image ${dir}: it is not a regular file` })
  })
})

describe('flattening', () => {
  test('a stopped clone becomes standalone with the same content, atomically, keeping its mode', async () => {
    const dir = freshDir()
    const g = await golden(dir)
    const c = path.join(dir, 'clone.qcow2')
    await qemuImg.createImage({ path: c, format: 'qcow2', backingFile: g })
    writePattern(c, '0xcc', 48 * MIB, MIB)
    fs.chmodSync(c, 0o600)
    const before = path.join(dir, 'before.qcow2')
    await qemuImg.convertImage({ sourcePath: c, destPath: before, destFormat: 'qcow2' })
    const seen = []
    expect(await qemuImg.flattenImage(c, { onProgress: (p) => seen.push(p) })).toBe(true)
    expect(seen[seen.length - 1]).toBe(100)
    const info = await qemuImg.getImageInfo(c)
    expect(info.backingFile).toBeUndefined()
    expect(header(c)['backing-filename']).toBeUndefined()
    expect(compare(c, before)).toBe(0)
    expect(holdsPattern(c, '0x5a', 0, MIB)).toBe(true)
    expect(fs.statSync(c).mode & 0o777).toBe(0o600)
    expect(fs.readdirSync(dir).sort()).toEqual(['before.qcow2', 'clone.qcow2', 'golden.qcow2'])
    // Standalone: nothing left to do, and the golden image may go.
    expect(await qemuImg.flattenImage(c)).toBe(false)
    await qemuImg.deleteImage(g)
    expect(holdsPattern(c, '0x33', 32 * MIB, MIB)).toBe(true)
  })

  test('a clone with internal snapshots is refused (they would be lost)', async () => {
    const dir = freshDir()
    const g = await golden(dir)
    const c = path.join(dir, 'clone.qcow2')
    await qemuImg.createImage({ path: c, format: 'qcow2', backingFile: g })
    await snapshots.createSnapshot({ imagePath: c, name: 'keep' })
    const e = await rejection(qemuImg.flattenImage(c))
    expectStorageError(e, 'SNAPSHOT_ALREADY_EXISTS', { path: c, command: 'qemu-img convert' })
    expect(e.message).toBe(`Image ${c} has internal snapshots (keep); flattening would drop them. Delete them first.`)
    expect((await qemuImg.getImageInfo(c)).backingFile).toBe(g)
    expectStorageError(await rejection(qemuImg.flattenImage(path.join(dir, 'none.qcow2'))), 'IMAGE_NOT_FOUND')
  })

  describe('a running clone, through QMP block-stream', () => {
    let dir, g, c, proc, qmp

    beforeAll(async () => {
      dir = freshDir()
      g = await golden(dir)
      c = path.join(dir, 'clone.qcow2')
      await qemuImg.createImage({ path: c, format: 'qcow2', backingFile: g })
      writePattern(c, '0xdd', 0, 64 * 1024)
      const sock = path.join(dir, 'qmp.sock')
      const b = new QemuCommandBuilder()
      for (const a of ['-machine', 'q35,accel=tcg', '-cpu', 'max', '-m', '128', '-display', 'none', '-nodefaults',
        '-drive', `file=${c},if=virtio,id=disk0,format=qcow2`]) b.addRawArg(a)
      b.addQmp(sock).setProcessOptions({ vmId: 'iv-clones', name: 'iv-clones', daemonize: true, pidfile: path.join(dir, 'pid') })
      proc = new QemuProcess('iv-clones', b)
      await proc.start()
      qmp = new QMPClient(sock)
      await qmp.connect()
    }, 60000)

    afterAll(async () => {
      if (qmp) await qmp.disconnect()
      if (proc) await proc.forceKill()
    })

    test('the chain is golden ← clone; offline operations are refused while QEMU holds it', async () => {
      const [blk] = await qmp.queryBlock()
      expect(blk.inserted.image.filename).toBe(c)
      expect(blk.inserted.image['backing-image']).toMatchObject({ filename: g, format: 'qcow2' })
      expectStorageError(await rejection(qemuImg.flattenImage(c)), 'IMAGE_IN_USE', { path: c })
      expectStorageError(await rejection(qemuImg.deleteImage(c)), 'IMAGE_IN_USE', { path: c, command: 'unlink' })
      expectStorageError(await rejection(qemuImg.deleteImage(g)), 'IMAGE_IN_USE', { clones: [c] })
      expect(fs.existsSync(c) && fs.existsSync(g)).toBe(true)
    })

    test('flattenImageLive streams the golden data in; QEMU keeps running; the golden image is then free', async () => {
      const seen = []
      expect(await qemuImg.flattenImageLive(qmp, 'disk0', { onProgress: (p) => seen.push(p), timeoutMs: 60000 })).toBe(true)
      expect(seen[seen.length - 1]).toBe(100)
      const [blk] = await qmp.queryBlock()
      expect(blk.inserted.image['backing-image']).toBeUndefined()
      expect(proc.isAlive()).toBe(true)
      expect((await qmp.queryStatus()).status).toBe('running')
      expect(await qmp.execute('query-jobs')).toEqual([])
      expect(await qemuImg.flattenImageLive(qmp, 'disk0')).toBe(false)
      expectStorageError(await rejection(qemuImg.flattenImageLive(qmp, 'nodisk')), 'IMAGE_NOT_FOUND', { path: 'nodisk', command: 'block-stream' })
      expectStorageError(await rejection(qemuImg.flattenImageLive(qmp, 'disk 0')), 'COMMAND_FAILED', { path: 'disk 0' })
      expectStorageError(await rejection(qemuImg.flattenImageLive(qmp, 'disk0', { timeoutMs: -1 })), 'COMMAND_FAILED')
      expectStorageError(await rejection(qemuImg.flattenImageLive({ execute () {} }, 'disk0')), 'COMMAND_FAILED', { command: 'block-stream' })
      expect(await qemuImg.listClones(g)).toEqual([])

      await qmp.execute('quit').catch(() => {})
      await proc.forceKill()
      expect(header(c)['backing-filename']).toBeUndefined()
      expect(holdsPattern(c, '0xdd', 0, 64 * 1024)).toBe(true)
      expect(holdsPattern(c, '0x5a', 64 * 1024, MIB - 64 * 1024)).toBe(true)
      expect(holdsPattern(c, '0x33', 32 * MIB, MIB)).toBe(true)
      await qemuImg.deleteImage(g)
    })
  })
})

describe('SnapshotManager.materializeSnapshot (API-next §3)', () => {
  test('writes the image as it was at the snapshot into a new standalone qcow2', async () => {
    const dir = freshDir()
    const g = await golden(dir)
    const c = path.join(dir, 'clone.qcow2')
    await qemuImg.createImage({ path: c, format: 'qcow2', backingFile: g })
    writePattern(c, '0x01', 0, MIB)
    await snapshots.createSnapshot({ imagePath: c, name: 's1' })
    writePattern(c, '0x02', 0, MIB)
    const out = path.join(dir, 'out.qcow2')
    await snapshots.materializeSnapshot(c, 's1', out)
    expect(header(out)['backing-filename']).toBeUndefined()
    expect(holdsPattern(out, '0x01', 0, MIB)).toBe(true)
    expect(holdsPattern(out, '0x33', 32 * MIB, MIB)).toBe(true)
    expect(holdsPattern(c, '0x02', 0, MIB)).toBe(true)

    const none = path.join(dir, 'none.qcow2')
    expectStorageError(await rejection(snapshots.materializeSnapshot(c, 'nope', none)), 'SNAPSHOT_NOT_FOUND',
      { path: c, command: 'qemu-img convert -l', message: `Snapshot 'nope' not found in image ${c}` })
    expectStorageError(await rejection(snapshots.materializeSnapshot(path.join(dir, 'missing.qcow2'), 's1', none)), 'IMAGE_NOT_FOUND')
    expectStorageError(await rejection(snapshots.materializeSnapshot(c, 's1', out)), 'IMAGE_ALREADY_EXISTS', { path: out })
    expectStorageError(await rejection(snapshots.materializeSnapshot(c, 'bad name', none)), 'INVALID_SNAPSHOT_NAME')
    expect(fs.existsSync(none)).toBe(false)
  })
})
