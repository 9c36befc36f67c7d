'use strict'

// QemuImgService and SnapshotManager through the public entry, against the real
// qemu-img, qemu-io and (for the live operations) a real QEMU under TCG:
// API.md §9, §17.5 and every §20.6 behaviour (79–87; the snapshot table parser
// of #86 is covered by the Rust tests, listing here uses qemu-img's JSON).

const fs = require('node:fs')
const path = require('node:path')
const { tool, mustRun, writePattern, holdsPattern, tempRoot } = require('./helpers/images')
const util = require('node:util')
const api = require('..')

const { QemuImgService, SnapshotManager, StorageError, QemuCommandBuilder, QemuProcess, QMPClient } = api

const GIB = 1024 * 1024 * 1024
const qemuImg = new QemuImgService()
const snapshots = new SnapshotManager()
const { freshDir } = tempRoot('iv-storage-')

async function rejection (promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  throw new Error('expected the promise to reject')
}

/** Asserts a StorageError with `code`, and (when given) message, path and command. */
function expectStorageError (e, code, { message, path: p, command } = {}) {
  expect(util.types.isNativeError(e)).toBe(true)
  expect(e).toBeInstanceOf(StorageError)
  expect(e.name).toBe('StorageError')
  expect(e.code).toBe(code)
  if (message !== undefined) expect(e.message).toBe(message)
  if (p !== undefined) expect(e.path).toBe(p)
  if (command !== undefined) expect(e.command).toBe(command)
}

async function newQcow2 (dir, name = 'disk.qcow2', sizeGB = 0.0625) {
  const p = path.join(dir, name)
  await qemuImg.createImage({ path: p, sizeGB, format: 'qcow2' })
  return p
}

// ---------------------------------------------------------------------------
// §20.6 #79: createImage argv, verified by what qemu-img made
// ---------------------------------------------------------------------------

describe('createImage (§20.6 #79)', () => {
  test('qcow2 with clusterSize and metadata preallocation', async () => {
    const dir = freshDir()
    const p = path.join(dir, 'd.qcow2')
    await expect(qemuImg.createImage({ path: p, sizeGB: 2, format: 'qcow2', preallocation: 'metadata', clusterSize: 131072 })).resolves.toBeUndefined()
    const info = await qemuImg.getImageInfo(p)
    expect(info).toMatchObject({ filename: p, format: 'qcow2', virtualSize: 2 * GIB, clusterSize: 131072, encrypted: false })
    const plain = await newQcow2(dir, 'plain.qcow2', 2)
    // Metadata preallocation allocates the L2 tables up front.
    expect(info.actualSize).toBeGreaterThan((await qemuImg.getImageInfo(plain)).actualSize)
  })

  test('qcow2 without options gets qemu-img defaults (cluster 65536, sparse)', async () => {
    const p = path.join(freshDir(), 'd2.qcow2')
    await qemuImg.createImage({ path: p, sizeGB: 5, format: 'qcow2' })
    const info = await qemuImg.getImageInfo(p)
    expect(info.clusterSize).toBe(65536)
    expect(info.virtualSize).toBe(5 * GIB)
    expect(info.actualSize).toBeLessThan(1024 * 1024)
  })

  test('raw ignores preallocation and cluster size, as in the spec', async () => {
    const p = path.join(freshDir(), 'd.raw')
    await qemuImg.createImage({ path: p, sizeGB: 1, format: 'raw', preallocation: 'full', clusterSize: 65536 })
    const info = await qemuImg.getImageInfo(p)
    expect(info.format).toBe('raw')
    expect(info.virtualSize).toBe(GIB)
    expect(info.actualSize).toBeLessThan(1024 * 1024) // sparse: `full` was not applied
  })

  test('full preallocation writes the image and reports progress up to 100', async () => {
    const p = path.join(freshDir(), 'full.qcow2')
    const seen = []
    await qemuImg.createImage({ path: p, sizeGB: 0.25, format: 'qcow2', preallocation: 'full', onProgress: (x) => seen.push(x) })
    const info = await qemuImg.getImageInfo(p)
    expect(info.actualSize).toBeGreaterThanOrEqual(0.25 * GIB)
    expect(seen[0]).toBe(0)
    expect(seen[seen.length - 1]).toBe(100)
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1])
  })

  test.each(['qcow2', 'raw', 'vmdk', 'vdi', 'vhdx'])('every supported format: %s', async (format) => {
    const p = path.join(freshDir(), `img.${format}`)
    await qemuImg.createImage({ path: p, sizeGB: 0.0625, format })
    const info = await qemuImg.getImageInfo(p)
    expect(info.format).toBe(format)
    expect(info.virtualSize).toBe(64 * 1024 * 1024)
  })

  test('a backing file: absolute, its format read and recorded (thin clones: __test__/clones.test.js)', async () => {
    const dir = freshDir()
    const base = await newQcow2(dir, 'base.qcow2', 0.125)
    writePattern(base, '0x5a', 0, 65536)
    const top = path.join(dir, 'top.qcow2')
    await qemuImg.createImage({ path: top, format: 'qcow2', backingFile: base })
    expect(await qemuImg.getImageInfo(top)).toMatchObject({ backingFile: base, virtualSize: 128 * 1024 * 1024 })
    expect(JSON.parse(mustRun('qemu-img', ['info', '--output=json', top]))['backing-filename-format']).toBe('qcow2')
    expect(holdsPattern(top, '0x5a', 0, 65536)).toBe(true)

    const rel = path.join(dir, 'rel.qcow2')
    const e = await rejection(qemuImg.createImage({ path: rel, sizeGB: 1, format: 'qcow2', backingFile: 'base.qcow2' }))
    expectStorageError(e, 'INVALID_BACKING_FILE', { path: rel, command: 'qemu-img create', message: `Invalid backing file base.qcow2 for image ${rel}: the path must be absolute` })
    expect(e.backingFile).toBe('base.qcow2')
    expectStorageError(await rejection(qemuImg.createImage({ path: path.join(dir, 'r.raw'), sizeGB: 1, format: 'raw', backingFile: base })), 'INVALID_FORMAT',
      { message: 'backingFile requires qcow2 format (got: raw)' })
    expectStorageError(await rejection(qemuImg.createImage({ path: path.join(dir, 'w.qcow2'), format: 'qcow2', backingFile: base, backingFormat: 'raw' })), 'INVALID_FORMAT',
      { message: `Backing file ${base} is a qcow2 image, not raw` })
    expect(fs.readdirSync(dir).sort()).toEqual(['base.qcow2', 'top.qcow2'])
  })

  test('an existing image is never overwritten', async () => {
    const dir = freshDir()
    const p = await newQcow2(dir, 'keep.qcow2', 0.0625)
    writePattern(p, '0x11', 0, 4096)
    const e = await rejection(qemuImg.createImage({ path: p, sizeGB: 1, format: 'qcow2' }))
    expectStorageError(e, 'IMAGE_ALREADY_EXISTS', { message: `Image already exists: ${p}`, path: p, command: 'qemu-img create' })
    expect((await qemuImg.getImageInfo(p)).virtualSize).toBe(64 * 1024 * 1024)
    expect(holdsPattern(p, '0x11', 0, 4096)).toBe(true)
  })

  test('a creation qemu-img refuses leaves no file behind', async () => {
    const dir = freshDir()
    // 1 PiB does not fit qcow2's tables with 512-byte clusters.
    const e = await rejection(qemuImg.createImage({ path: path.join(dir, 'huge.qcow2'), sizeGB: 1048576, format: 'qcow2', clusterSize: 512 }))
    expectStorageError(e, 'INVALID_SIZE', { command: 'qemu-img create' })
    const e2 = await rejection(qemuImg.createImage({ path: path.join(dir, 'no', 'dir.qcow2'), sizeGB: 1, format: 'qcow2' }))
    expectStorageError(e2, 'COMMAND_FAILED', { path: path.join(dir, 'no', 'dir.qcow2') })
    expect(fs.readdirSync(dir)).toEqual([])
  })
})

// ---------------------------------------------------------------------------
// §20.6 #80: resizeImage
// ---------------------------------------------------------------------------

describe('resizeImage (§20.6 #80)', () => {
  test('grows', async () => {
    const p = await newQcow2(freshDir(), 'd.qcow2', 1)
    await qemuImg.resizeImage(p, 100)
    expect((await qemuImg.getImageInfo(p)).virtualSize).toBe(100 * GIB)
  })

  test('a size <= 0 is INVALID_SIZE with the spec message, and nothing runs', async () => {
    const e = await rejection(qemuImg.resizeImage('/d', 0))
    expectStorageError(e, 'INVALID_SIZE', { message: 'Invalid size: 0GB. Size must be positive.', path: '/d', command: 'qemu-img resize' })
    expect(e.toInfo()).toStrictEqual({ code: 'INVALID_SIZE', message: 'Invalid size: 0GB. Size must be positive.', path: '/d', command: 'qemu-img resize' })
  })

  test('refuses to shrink unless allowShrink is given', async () => {
    const p = await newQcow2(freshDir(), 'd.qcow2', 2)
    const e = await rejection(qemuImg.resizeImage(p, 1))
    expectStorageError(e, 'INVALID_SIZE', { path: p, command: 'qemu-img resize' })
    expect(e.message).toMatch(/allowShrink/)
    expect((await qemuImg.getImageInfo(p)).virtualSize).toBe(2 * GIB)
    await qemuImg.resizeImage(p, 1, { allowShrink: true })
    expect((await qemuImg.getImageInfo(p)).virtualSize).toBe(GIB)
  })

  test('a missing image is IMAGE_NOT_FOUND', async () => {
    const p = path.join(freshDir(), 'missing.qcow2')
    expectStorageError(await rejection(qemuImg.resizeImage(p, 2)), 'IMAGE_NOT_FOUND', { message: `Image not found: ${p}`, path: p, command: 'qemu-img resize' })
  })
})

// ---------------------------------------------------------------------------
// §20.6 #81 and the 1 GiB conversion
// ---------------------------------------------------------------------------

describe('convertImage (§20.6 #81)', () => {
  test('compressed qcow2 output holds the same data in compressed clusters', async () => {
    const dir = freshDir()
    const src = await newQcow2(dir, 'd.qcow2', 0.0625)
    writePattern(src, '0xab', 0, 4 * 1024 * 1024)
    const packed = path.join(dir, 'o.qcow2')
    const plain = path.join(dir, 'plain.qcow2')
    await qemuImg.convertImage({ sourcePath: src, destPath: packed, destFormat: 'qcow2', compress: true })
    await qemuImg.convertImage({ sourcePath: src, destPath: plain, destFormat: 'qcow2' })
    const check = JSON.parse(mustRun('qemu-img', ['check', '--output=json', packed]))
    expect(check['compressed-clusters']).toBeGreaterThan(0)
    expect((await qemuImg.getImageInfo(packed)).actualSize).toBeLessThan((await qemuImg.getImageInfo(plain)).actualSize)
    expect(tool('qemu-img', ['compare', src, packed]).status).toBe(0)
  })

  test('compress is ignored for non-qcow2 output', async () => {
    const dir = freshDir()
    const src = await newQcow2(dir)
    writePattern(src, '0x33', 0, 65536)
    const out = path.join(dir, 'o.raw')
    await qemuImg.convertImage({ sourcePath: src, destPath: out, destFormat: 'raw', compress: true })
    expect((await qemuImg.getImageInfo(out)).format).toBe('raw')
    expect(holdsPattern(out, '0x33', 0, 65536, 'raw')).toBe(true)
  })

  test('a 1 GiB image converts with rising progress ending at 100', async () => {
    const dir = freshDir()
    const src = path.join(dir, 'big.raw')
    fs.writeFileSync(src, '')
    fs.truncateSync(src, GIB) // sparse
    for (const off of [0, 256, 512, 1000]) writePattern(src, '0xc3', off * 1024 * 1024, 1024 * 1024, 'raw')
    const dest = path.join(dir, 'big.qcow2')
    const seen = []
    await qemuImg.convertImage({ sourcePath: src, destPath: dest, destFormat: 'qcow2', onProgress: (p) => seen.push(p) })
    expect(seen.length).toBeGreaterThan(2)
    expect(seen[0]).toBeGreaterThanOrEqual(0)
    expect(seen[seen.length - 1]).toBe(100)
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1])
    expect((await qemuImg.getImageInfo(dest)).virtualSize).toBe(GIB)
    expect(tool('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', src, dest]).status).toBe(0)
  })

  test('a throwing progress callback does not break the conversion', async () => {
    const dir = freshDir()
    const src = await newQcow2(dir)
    await qemuImg.convertImage({ sourcePath: src, destPath: path.join(dir, 'o.qcow2'), destFormat: 'qcow2', onProgress: () => { throw new Error('boom') } })
    expect(fs.existsSync(path.join(dir, 'o.qcow2'))).toBe(true)
  })

  test('a missing source is getImageInfo\'s IMAGE_NOT_FOUND; no destination is left', async () => {
    const dir = freshDir()
    const src = path.join(dir, 'missing.qcow2')
    const e = await rejection(qemuImg.convertImage({ sourcePath: src, destPath: path.join(dir, 'o.qcow2'), destFormat: 'qcow2' }))
    expectStorageError(e, 'IMAGE_NOT_FOUND', { message: `Image not found: ${src}`, path: src, command: 'qemu-img info' })
    expect(fs.readdirSync(dir)).toEqual([])
  })

  test('an existing destination is refused and left as it was', async () => {
    const dir = freshDir()
    const src = await newQcow2(dir, 'src.qcow2')
    const dest = await newQcow2(dir, 'dest.qcow2', 0.125)
    const e = await rejection(qemuImg.convertImage({ sourcePath: src, destPath: dest, destFormat: 'qcow2' }))
    expectStorageError(e, 'IMAGE_ALREADY_EXISTS', { path: dest, command: 'qemu-img convert' })
    expect((await qemuImg.getImageInfo(dest)).virtualSize).toBe(128 * 1024 * 1024)
    expectStorageError(await rejection(qemuImg.convertImage({ sourcePath: src, destPath: src, destFormat: 'qcow2' })), 'IMAGE_ALREADY_EXISTS')
  })
})

// ---------------------------------------------------------------------------
// §20.6 #82 and #84: getImageInfo
// ---------------------------------------------------------------------------

describe('getImageInfo (§20.6 #82, #84)', () => {
  test('maps qemu-img JSON to ImageInfo in the spec\'s shape', async () => {
    const p = await newQcow2(freshDir(), 'd.qcow2', 10)
    const info = await qemuImg.getImageInfo(p)
    expect(Object.keys(info)).toStrictEqual(['filename', 'format', 'virtualSize', 'actualSize', 'clusterSize', 'encrypted', 'backingFile'])
    expect(info).toEqual({ filename: p, format: 'qcow2', virtualSize: 10737418240, actualSize: info.actualSize, clusterSize: 65536, encrypted: false, backingFile: undefined })
    expect(info.actualSize).toBeGreaterThan(0)
  })

  test('lists snapshots with real dates and clocks', async () => {
    const p = await newQcow2(freshDir())
    const before = Math.floor(Date.now() / 1000) - 1
    await snapshots.createSnapshot({ imagePath: p, name: 'snap1' })
    const info = await qemuImg.getImageInfo(p)
    expect(info.snapshots).toHaveLength(1)
    const s = info.snapshots[0]
    expect(s).toEqual({ id: '1', name: 'snap1', vmSize: 0, date: expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/), vmClock: '0000:00:00.000' })
    expect(Date.parse(s.date.replace(' ', 'T') + 'Z') / 1000).toBeGreaterThanOrEqual(before)
  })

  test('#84: a missing image is IMAGE_NOT_FOUND with the spec message', async () => {
    const x = path.join(freshDir(), 'x')
    expectStorageError(await rejection(qemuImg.getImageInfo(x)), 'IMAGE_NOT_FOUND', { message: `Image not found: ${x}`, path: x, command: 'qemu-img info' })
  })

  test('a directory is not an image (COMMAND_FAILED, not "not found")', async () => {
    const d = freshDir()
    const e = await rejection(qemuImg.getImageInfo(d))
    expectStorageError(e, 'COMMAND_FAILED', { path: d, command: 'qemu-img info' })
    expect(e.message).toMatch(/regular file/)
  })
})

// ---------------------------------------------------------------------------
// §20.6 #83: checkImage
// ---------------------------------------------------------------------------

/** Zeroes the first refcount block of a qcow2 image: every cluster looks free. */
function corruptRefcounts (img) {
  const fd = fs.openSync(img, 'r+')
  try {
    const header = Buffer.alloc(104)
    fs.readSync(fd, header, 0, 104, 0)
    const table = Number(header.readBigUInt64BE(48))
    const entry = Buffer.alloc(8)
    fs.readSync(fd, entry, 0, 8, table)
    fs.writeSync(fd, Buffer.alloc(65536), 0, 65536, Number(entry.readBigUInt64BE(0)))
  } finally {
    fs.closeSync(fd)
  }
}

describe('checkImage (§20.6 #83)', () => {
  test('a clean image', async () => {
    const p = await newQcow2(freshDir())
    const r = await qemuImg.checkImage(p)
    expect(Object.keys(r)).toStrictEqual(['errors', 'leaks', 'corruptions', 'totalClusters', 'allocatedClusters'])
    expect(r).toMatchObject({ errors: 0, leaks: 0, corruptions: 0 })
    expect(r.totalClusters).toBe(1024)
  })

  test('a corrupted qcow2: the report resolves although qemu-img exits non-zero', async () => {
    const p = await newQcow2(freshDir())
    writePattern(p, '0xab', 0, 1024 * 1024)
    corruptRefcounts(p)
    expect(tool('qemu-img', ['check', p]).status).toBe(2)
    const r = await qemuImg.checkImage(p)
    expect(r.corruptions).toBeGreaterThan(0)
    expect(r.errors).toBe(0)
    expect(r.allocatedClusters).toBeGreaterThan(0)
  })

  test('a missing image is IMAGE_NOT_FOUND; a format without checks is COMMAND_FAILED', async () => {
    const dir = freshDir()
    const x = path.join(dir, 'missing')
    expectStorageError(await rejection(qemuImg.checkImage(x)), 'IMAGE_NOT_FOUND', { path: x, command: 'qemu-img check' })
    const raw = path.join(dir, 'r.raw')
    await qemuImg.createImage({ path: raw, sizeGB: 0.01, format: 'raw' })
    expectStorageError(await rejection(qemuImg.checkImage(raw)), 'COMMAND_FAILED', { path: raw, command: 'qemu-img check' })
  })
})

// ---------------------------------------------------------------------------
// §20.6 #85–87: SnapshotManager
// ---------------------------------------------------------------------------

describe('SnapshotManager (§20.6 #85–87)', () => {
  test('#85: create, list, revert, delete', async () => {
    const p = await newQcow2(freshDir())
    await expect(snapshots.createSnapshot({ imagePath: p, name: 'snap_1', description: 'before update' })).resolves.toBeUndefined()
    const list = await snapshots.listSnapshots(p)
    expect(list.map((s) => s.name)).toEqual(['snap_1'])
    expect(list[0]).toEqual({ id: '1', name: 'snap_1', vmSize: 0, date: expect.any(String), vmClock: '0000:00:00.000' })
    await expect(snapshots.revertSnapshot(p, 'snap_1')).resolves.toBeUndefined()
    await expect(snapshots.snapshotExists(p, 'snap_1')).resolves.toBe(true)
    await expect(snapshots.deleteSnapshot(p, 'snap_1')).resolves.toBeUndefined()
    await expect(snapshots.listSnapshots(p)).resolves.toEqual([])
    await expect(snapshots.snapshotExists(p, 'snap_1')).resolves.toBe(false)
  })

  test('revert restores the data: what was written after the snapshot is gone', async () => {
    const p = await newQcow2(freshDir())
    writePattern(p, '0xab', 0, 65536)
    await snapshots.createSnapshot({ imagePath: p, name: 'before' })
    writePattern(p, '0xcd', 0, 65536)
    writePattern(p, '0xef', 1024 * 1024, 65536)
    expect(holdsPattern(p, '0xcd', 0, 65536)).toBe(true)
    await snapshots.revertSnapshot(p, 'before')
    expect(holdsPattern(p, '0xab', 0, 65536)).toBe(true)
    expect(holdsPattern(p, '0xcd', 0, 65536)).toBe(false)
    expect(holdsPattern(p, '0x00', 1024 * 1024, 65536)).toBe(true)
  })

  test('revert picks the snapshot by name even when the name is another snapshot\'s ID', async () => {
    const p = await newQcow2(freshDir())
    await snapshots.createSnapshot({ imagePath: p, name: 'first' }) // ID 1, zeros
    writePattern(p, '0x77', 0, 4096)
    await snapshots.createSnapshot({ imagePath: p, name: '1' }) // ID 2, 0x77
    writePattern(p, '0x99', 0, 4096)
    await snapshots.revertSnapshot(p, '1')
    expect(holdsPattern(p, '0x77', 0, 4096)).toBe(true)
  })

  test('a duplicate name is SNAPSHOT_ALREADY_EXISTS (qemu-img would add a second one)', async () => {
    const p = await newQcow2(freshDir())
    await snapshots.createSnapshot({ imagePath: p, name: 's' })
    const e = await rejection(snapshots.createSnapshot({ imagePath: p, name: 's' }))
    expectStorageError(e, 'SNAPSHOT_ALREADY_EXISTS', { message: `Snapshot 's' already exists in image ${p}`, path: p, command: 'qemu-img snapshot -c' })
    expect(await snapshots.listSnapshots(p)).toHaveLength(1)
  })

  test('reverting a missing snapshot is SNAPSHOT_NOT_FOUND; deleting one is a no-op', async () => {
    const p = await newQcow2(freshDir())
    const e = await rejection(snapshots.revertSnapshot(p, 'nope'))
    expectStorageError(e, 'SNAPSHOT_NOT_FOUND', { message: `Snapshot 'nope' not found in image ${p}`, path: p, command: 'qemu-img snapshot -a' })
    await expect(snapshots.deleteSnapshot(p, 'nope')).resolves.toBeUndefined()
  })

  test('a missing image is IMAGE_NOT_FOUND for every operation', async () => {
    const x = path.join(freshDir(), 'missing.qcow2')
    for (const [op, command] of [
      [() => snapshots.createSnapshot({ imagePath: x, name: 's' }), 'qemu-img snapshot -c'],
      [() => snapshots.listSnapshots(x), 'qemu-img snapshot -l'],
      [() => snapshots.revertSnapshot(x, 's'), 'qemu-img snapshot -a'],
      [() => snapshots.deleteSnapshot(x, 's'), 'qemu-img snapshot -d'],
      [() => snapshots.snapshotExists(x, 's'), 'qemu-img snapshot -l']
    ]) {
      expectStorageError(await rejection(op()), 'IMAGE_NOT_FOUND', { message: `Image not found: ${x}`, path: x, command })
    }
  })

  test('snapshotExists fails closed: an unreadable image throws, never answers false', async () => {
    const dir = freshDir()
    const garbage = path.join(dir, 'not-an-image')
    fs.mkdirSync(garbage)
    expectStorageError(await rejection(snapshots.snapshotExists(garbage, 's')), 'COMMAND_FAILED', { path: garbage })
    expectStorageError(await rejection(snapshots.snapshotExists(path.join(dir, 'gone'), 's')), 'IMAGE_NOT_FOUND')
  })

  test('#87: invalid names, with the spec messages, before anything runs', async () => {
    const dir = freshDir()
    const p = await newQcow2(dir)
    const bytes = fs.readFileSync(p)
    const badChars = 'Snapshot name can only contain alphanumeric characters, hyphens, and underscores'
    for (const [name, message] of [
      ['', 'Snapshot name cannot be empty'],
      ['   ', 'Snapshot name cannot be empty'],
      [undefined, 'Snapshot name cannot be empty'],
      ['a'.repeat(65), 'Snapshot name cannot exceed 64 characters'],
      ['bad name', badChars],
      ['a/b', badChars],
      ['a;reboot', badChars],
      ['x\0y', badChars],
      ['$(id)', badChars]
    ]) {
      for (const op of [
        () => snapshots.createSnapshot({ imagePath: p, name }),
        () => snapshots.revertSnapshot(p, name),
        () => snapshots.deleteSnapshot(p, name),
        () => snapshots.snapshotExists(p, name)
      ]) {
        expectStorageError(await rejection(op()), 'INVALID_SNAPSHOT_NAME', { message, path: p, command: 'qemu-img snapshot' })
      }
    }
    await expect(snapshots.createSnapshot({ imagePath: p, name: 'a'.repeat(64) })).resolves.toBeUndefined()
    await snapshots.deleteSnapshot(p, 'a'.repeat(64))
    expect(fs.readdirSync(dir)).toEqual(['disk.qcow2'])
    expect(fs.readFileSync(p).subarray(0, 72)).toEqual(bytes.subarray(0, 72))
  })
})

// ---------------------------------------------------------------------------
// Concurrency: operations on one image are serialised
// ---------------------------------------------------------------------------

describe('concurrent operations on one image', () => {
  test('parallel creates all succeed, one at a time (qemu-img alone would hit its lock)', async () => {
    const p = await newQcow2(freshDir())
    const names = Array.from({ length: 8 }, (_, i) => `c${i}`)
    const results = await Promise.allSettled(names.map((name) => snapshots.createSnapshot({ imagePath: p, name })))
    expect(results.filter((r) => r.status === 'rejected').map((r) => r.reason.message)).toEqual([])
    const list = await snapshots.listSnapshots(p)
    expect(list.map((s) => s.name).sort()).toEqual(names)
    expect(new Set(list.map((s) => s.id)).size).toBe(8)
  })

  test('the same name created five times at once: exactly one wins', async () => {
    const p = await newQcow2(freshDir())
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => snapshots.createSnapshot({ imagePath: p, name: 'dup' })))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    for (const r of results.filter((x) => x.status === 'rejected')) expectStorageError(r.reason, 'SNAPSHOT_ALREADY_EXISTS')
    expect(await snapshots.listSnapshots(p)).toHaveLength(1)
  })

  test('mixed operations interleave without lock errors', async () => {
    const p = await newQcow2(freshDir())
    await snapshots.createSnapshot({ imagePath: p, name: 'base' })
    const ops = []
    for (let i = 0; i < 4; i++) {
      ops.push(snapshots.createSnapshot({ imagePath: p, name: `m${i}` }))
      ops.push(snapshots.snapshotExists(p, 'base'))
      ops.push(snapshots.listSnapshots(p))
      ops.push(qemuImg.getImageInfo(p))
      ops.push(qemuImg.checkImage(p))
      ops.push(snapshots.revertSnapshot(p, 'base'))
    }
    ops.push(qemuImg.resizeImage(p, 0.125))
    const results = await Promise.allSettled(ops)
    expect(results.filter((r) => r.status === 'rejected').map((r) => r.reason.message)).toEqual([])
    expect((await snapshots.listSnapshots(p)).map((s) => s.name).sort()).toEqual(['base', 'm0', 'm1', 'm2', 'm3'])
  })
})

// ---------------------------------------------------------------------------
// Bad inputs: the right code, nothing run, nothing left behind
// ---------------------------------------------------------------------------

describe('bad inputs', () => {
  test('paths, sizes and formats', async () => {
    const dir = freshDir()
    const ok = path.join(dir, 'ok.qcow2')
    const cases = [
      [{ path: '', sizeGB: 1, format: 'qcow2' }, 'IMAGE_NOT_FOUND', 'Invalid image path "": the path is empty'],
      [{ path: path.join(dir, 'a\0b.qcow2'), sizeGB: 1, format: 'qcow2' }, 'IMAGE_NOT_FOUND'],
      [{ sizeGB: 1, format: 'qcow2' }, 'IMAGE_NOT_FOUND'],
      [{ path: ok, sizeGB: -1, format: 'qcow2' }, 'INVALID_SIZE', 'Invalid size: -1GB. Size must be positive.'],
      [{ path: ok, sizeGB: 0, format: 'qcow2' }, 'INVALID_SIZE', 'Invalid size: 0GB. Size must be positive.'],
      [{ path: ok, sizeGB: 1e12, format: 'qcow2' }, 'INVALID_SIZE', 'Invalid size: 1000000000000GB. Size must be at most 1048576GB.'],
      [{ path: ok, sizeGB: Infinity, format: 'qcow2' }, 'INVALID_SIZE', 'Invalid size: InfinityGB. Size must be a finite number.'],
      [{ path: ok, sizeGB: NaN, format: 'qcow2' }, 'INVALID_SIZE'],
      [{ path: ok, format: 'qcow2' }, 'INVALID_SIZE'],
      [{ path: ok, sizeGB: 1, format: 'qcow3' }, 'INVALID_FORMAT', 'Invalid image format: qcow3. Supported formats: qcow2, raw, vmdk, vdi, vhdx'],
      [{ path: ok, sizeGB: 1, format: 'QCOW2' }, 'INVALID_FORMAT'],
      [{ path: ok, sizeGB: 1, format: 'raw,size=1' }, 'INVALID_FORMAT'],
      [{ path: ok, sizeGB: 1, format: 'qcow2', clusterSize: 3000 }, 'INVALID_SIZE'],
      [{ path: ok, sizeGB: 1, format: 'qcow2', clusterSize: -65536 }, 'INVALID_SIZE'],
      [{ path: ok, sizeGB: 1, format: 'qcow2', preallocation: 'sparse' }, 'INVALID_FORMAT'],
      [{ path: ok, sizeGB: 1, format: 'qcow2', backingFile: 'json:{}', backingFormat: 'qcow2' }, 'INVALID_BACKING_FILE']
    ]
    for (const [options, code, message] of cases) {
      const e = await rejection(qemuImg.createImage(options))
      expectStorageError(e, code, { message, command: 'qemu-img create' })
      expect(e.path).toBeDefined()
    }
    expectStorageError(await rejection(qemuImg.getImageInfo('')), 'IMAGE_NOT_FOUND', { path: '', command: 'qemu-img info' })
    expectStorageError(await rejection(qemuImg.getImageInfo('/tmp/x\0y')), 'IMAGE_NOT_FOUND', { path: '/tmp/x\0y' })
    expectStorageError(await rejection(qemuImg.checkImage('')), 'IMAGE_NOT_FOUND', { command: 'qemu-img check' })
    expectStorageError(await rejection(qemuImg.resizeImage(ok, -3)), 'INVALID_SIZE', { message: 'Invalid size: -3GB. Size must be positive.', path: ok })
    expectStorageError(await rejection(qemuImg.resizeImage(ok, 1e30)), 'INVALID_SIZE', { message: 'Invalid size: 1e+30GB. Size must be at most 1048576GB.' })
    expectStorageError(await rejection(qemuImg.resizeImage('', 2)), 'IMAGE_NOT_FOUND')
    expectStorageError(await rejection(qemuImg.convertImage({ sourcePath: '', destPath: ok, destFormat: 'qcow2' })), 'IMAGE_NOT_FOUND', { command: 'qemu-img convert' })
    expectStorageError(await rejection(qemuImg.convertImage({ sourcePath: ok, destPath: path.join(dir, 'o'), destFormat: 'iso' })), 'INVALID_FORMAT')
    expectStorageError(await rejection(snapshots.listSnapshots('')), 'IMAGE_NOT_FOUND', { command: 'qemu-img snapshot -l' })
    expect(fs.readdirSync(dir)).toEqual([])
  })

  test('a path starting with "-" or looking like a protocol is just a file name', async () => {
    const dir = freshDir()
    const cwd = process.cwd()
    process.chdir(dir)
    try {
      await qemuImg.createImage({ path: '-h', sizeGB: 0.01, format: 'qcow2' })
      await qemuImg.createImage({ path: 'nbd:localhost:1', sizeGB: 0.01, format: 'qcow2' })
      expect((await qemuImg.getImageInfo('-h')).format).toBe('qcow2')
      expect((await qemuImg.getImageInfo('nbd:localhost:1')).virtualSize).toBeGreaterThan(0)
    } finally {
      process.chdir(cwd)
    }
    expect(fs.readdirSync(dir).sort()).toEqual(['-h', 'nbd:localhost:1'])
  })
})

// ---------------------------------------------------------------------------
// A running VM: qemu-img writes are refused, the QMP alternatives work
// ---------------------------------------------------------------------------

describe('with a running QEMU', () => {
  let dir, disk, proc, qmp

  beforeAll(async () => {
    dir = freshDir()
    disk = await newQcow2(dir, 'live.qcow2', 0.125)
    writePattern(disk, '0x42', 0, 65536)
    const sock = path.join(dir, 'qmp.sock')
    const b = new QemuCommandBuilder()
    for (const a of ['-machine', 'q35,accel=tcg', '-cpu', 'max', '-m', '128', '-display', 'none', '-S', '-nodefaults',
      '-drive', `file=${disk},if=virtio,id=disk0,format=qcow2`]) b.addRawArg(a)
    b.addQmp(sock).setProcessOptions({ vmId: 'iv-storage', name: 'iv-storage', daemonize: true, pidfile: path.join(dir, 'pid') })
    proc = new QemuProcess('iv-storage', b)
    await proc.start()
    qmp = new QMPClient(sock)
    await qmp.connect()
  }, 60000)

  afterAll(async () => {
    if (qmp) await qmp.disconnect()
    if (proc) await proc.forceKill()
  })

  test('getImageInfo reads a live image (force-share)', async () => {
    const info = await qemuImg.getImageInfo(disk)
    expect(info.virtualSize).toBe(128 * 1024 * 1024)
    await expect(snapshots.listSnapshots(disk)).resolves.toEqual([])
  })

  test('every qemu-img write is IMAGE_IN_USE, never IMAGE_NOT_FOUND', async () => {
    const inUse = (e, command, message) => expectStorageError(e, 'IMAGE_IN_USE', { path: disk, command, message })
    inUse(await rejection(qemuImg.resizeImage(disk, 1)), 'qemu-img resize', `Cannot resize image ${disk}: image is in use. Stop the VM first.`)
    inUse(await rejection(snapshots.createSnapshot({ imagePath: disk, name: 's' })), 'qemu-img snapshot -c', `Cannot create snapshot: image ${disk} is in use. Stop the VM first.`)
    inUse(await rejection(snapshots.deleteSnapshot(disk, 's')), 'qemu-img snapshot -d')
    inUse(await rejection(qemuImg.checkImage(disk)), 'qemu-img check')
    inUse(await rejection(qemuImg.convertImage({ sourcePath: disk, destPath: path.join(dir, 'copy.qcow2'), destFormat: 'qcow2' })), 'qemu-img convert')
    expect(fs.existsSync(path.join(dir, 'copy.qcow2'))).toBe(false)
    expect(proc.isAlive()).toBe(true)
  })

  test('live internal snapshots through QMP', async () => {
    await snapshots.createLiveSnapshot(qmp, 'disk0', 'live1')
    expect((await snapshots.listSnapshots(disk)).map((s) => s.name)).toEqual(['live1'])
    await expect(snapshots.snapshotExists(disk, 'live1')).resolves.toBe(true)
    expectStorageError(await rejection(snapshots.revertSnapshot(disk, 'live1')), 'IMAGE_IN_USE',
      { message: `Cannot revert snapshot: image ${disk} is in use. Stop the VM first.` })
    expectStorageError(await rejection(snapshots.createLiveSnapshot(qmp, 'disk0', 'live1')), 'SNAPSHOT_ALREADY_EXISTS', { path: 'disk0', command: 'blockdev-snapshot-internal-sync' })
    expectStorageError(await rejection(snapshots.createLiveSnapshot(qmp, 'nodisk', 'x')), 'IMAGE_NOT_FOUND', { message: 'Block device not found: nodisk', path: 'nodisk' })
    expectStorageError(await rejection(snapshots.createLiveSnapshot(qmp, 'disk0', 'bad name')), 'INVALID_SNAPSHOT_NAME',
      { message: 'Snapshot name can only contain alphanumeric characters, hyphens, and underscores', command: 'blockdev-snapshot-internal-sync' })
    expectStorageError(await rejection(snapshots.createLiveSnapshot(qmp, 'disk 0', 'x')), 'COMMAND_FAILED', { path: 'disk 0' })
    await snapshots.deleteLiveSnapshot(qmp, 'disk0', 'live1')
    await snapshots.deleteLiveSnapshot(qmp, 'disk0', 'live1') // already gone: nothing to do
    await expect(snapshots.listSnapshots(disk)).resolves.toEqual([])
  })

  test('live resize grows through block_resize and refuses to shrink', async () => {
    await qemuImg.resizeImageLive(qmp, 'disk0', 0.25)
    expect((await qemuImg.getImageInfo(disk)).virtualSize).toBe(256 * 1024 * 1024)
    const e = await rejection(qemuImg.resizeImageLive(qmp, 'disk0', 0.125))
    expectStorageError(e, 'INVALID_SIZE', { path: 'disk0', command: 'block_resize' })
    expect((await qemuImg.getImageInfo(disk)).virtualSize).toBe(256 * 1024 * 1024)
    await qemuImg.resizeImageLive(qmp, 'disk0', 0.1875, { allowShrink: true })
    expect((await qemuImg.getImageInfo(disk)).virtualSize).toBe(192 * 1024 * 1024)
    expectStorageError(await rejection(qemuImg.resizeImageLive(qmp, 'disk0', 0)), 'INVALID_SIZE', { message: 'Invalid size: 0GB. Size must be positive.' })
    expectStorageError(await rejection(qemuImg.resizeImageLive(qmp, 'nodisk', 1)), 'IMAGE_NOT_FOUND', { path: 'nodisk' })
  })

  test('after the VM stops, the offline operations work again and the data is intact', async () => {
    await qmp.disconnect()
    await proc.forceKill()
    await snapshots.createSnapshot({ imagePath: disk, name: 'offline' })
    expect(holdsPattern(disk, '0x42', 0, 65536)).toBe(true)
    expect((await qemuImg.checkImage(disk)).corruptions).toBe(0)
  })
})
