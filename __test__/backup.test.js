'use strict'
// BackupService against a real QEMU (TCG, no guest OS needed) and real qemu-img /
// qemu-storage-daemon. Known patterns are written into the VM's disk through QMP
// (`qemu-io` in the human monitor) between backups; at each point a reference copy
// is taken with the VM paused; every point is restored and compared with
// `qemu-img compare`. Every QEMU started here is stopped by its own handle.

const fs = require('fs')
const os = require('os')
const path = require('path')
const { execFileSync } = require('child_process')
const {
  QemuCommandBuilder, QemuProcess, QMPClient, BackupService, BackupError, BackupType, BackupStatus,
  BackupErrorCode, DEFAULT_BACKUP_DIR, isBackupError, isValidBackupType, isValidBackupStatus
} = require('..')

jest.setTimeout(240000)

const MiB = 1024 * 1024
let dir, root, disk, svc
const started = []

function qemuImg (...args) {
  return execFileSync('qemu-img', args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } })
}

async function startVm (name) {
  const sock = path.join(dir, `${name}.sock`)
  const blockdev = JSON.stringify({ driver: 'qcow2', 'node-name': 'disk0', file: { driver: 'file', filename: disk } })
  const b = new QemuCommandBuilder()
    .setMachine('q35', { accel: 'tcg' })
    .setCpu('max')
    .setMemory(0.125)
    .addRawArg('-display').addRawArg('none')
    .addRawArg('-nodefaults')
    .addRawArg('-blockdev').addRawArg(blockdev)
    .addRawArg('-device').addRawArg('virtio-blk-pci,drive=disk0,id=vd0')
  b.addQmp(sock)
  b.setProcessOptions({ vmId: name, name, daemonize: true, pidfile: path.join(dir, `${name}.pid`) })
  const p = new QemuProcess(name, b)
  p.setQmpSocketPath(sock)
  started.push(p)
  await p.start()
  const qmp = new QMPClient(sock)
  await qmp.connect()
  return { p, qmp, sock }
}

async function stopVm (vm) {
  // `quit` closes the images, so QEMU stores the persistent bitmaps.
  await vm.qmp.execute('quit').catch(() => {})
  await vm.p.waitForExit()
  await vm.qmp.disconnect()
  started.splice(started.indexOf(vm.p), 1)
}

async function write (vm, pattern, offset, len) {
  const out = await vm.qmp.execute('human-monitor-command', { 'command-line': `qemu-io -d /machine/peripheral/vd0/virtio-backend "write -P ${pattern} ${offset} ${len}"` })
  // qemu-io prints its report on QEMU's stdout; the monitor gets only errors.
  expect(out).toBe('')
}

// The disk's content at this point, taken while the guest is paused.
async function reference (vm, name) {
  const ref = path.join(dir, `${name}.ref.qcow2`)
  if (vm) await vm.qmp.execute('stop')
  try {
    qemuImg('convert', '-U', '-O', 'qcow2', disk, ref)
  } finally {
    if (vm) await vm.qmp.execute('cont')
  }
  return ref
}

function same (a, b) {
  // compare exits 0 when the guest-visible contents are identical, 1 when they differ.
  try {
    return qemuImg('compare', '-U', a, b).includes('Images are identical')
  } catch (e) {
    if (e.status === 1) return false
    throw e
  }
}

async function restoreAndCompare (backupId, ref) {
  const target = path.join(dir, 'restored', `${backupId}.qcow2`)
  const r = await svc.restoreBackup({ backupId, vmId: 'vm1', diskPaths: [target] })
  expect(r).toMatchObject({ success: true, backupId, vmId: 'vm1', restoredDiskPaths: [target] })
  expect(same(target, ref)).toBe(true)
  // Standalone: no backing file left.
  expect(JSON.parse(qemuImg('info', '--output=json', target))['backing-filename']).toBeUndefined()
  return target
}

async function expectCode (promise, code) {
  let err
  try {
    await promise
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(BackupError)
  expect(err.code).toBe(code)
  return err
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-backup-'))
  root = path.join(dir, 'backups')
  disk = path.join(dir, 'vm1.qcow2')
  qemuImg('create', '-q', '-f', 'qcow2', disk, String(64 * MiB))
  svc = new BackupService({ backupRootDir: root })
})

afterAll(async () => {
  while (started.length) await started.pop().forceKill()
  fs.rmSync(dir, { recursive: true, force: true })
})

test('exports: enums, constants, guards and the error class', () => {
  expect(BackupType.SNAPSHOT).toBe('SNAPSHOT')
  expect(BackupStatus.COMPLETED).toBe('COMPLETED')
  expect(BackupErrorCode.DEPENDENCY).toBe('DEPENDENCY')
  expect(DEFAULT_BACKUP_DIR).toBe('/var/lib/infinivirt/backups')
  expect(isValidBackupType('INCREMENTAL')).toBe(true)
  expect(isValidBackupStatus('DONE')).toBe(false)
  const e = new BackupError('VM_RUNNING', 'm', { vmId: 'v', diskPath: '/d' })
  expect(isBackupError(e)).toBe(true)
  expect(e.toInfo()).toEqual({ code: 'VM_RUNNING', message: 'm', vmId: 'v', diskPath: '/d' })
  expect(new BackupService().backupRootDir).toBe(DEFAULT_BACKUP_DIR)
})

test('validation errors keep their specific codes', async () => {
  await expectCode(svc.createBackup({ vmId: '', diskPaths: [disk], type: 'FULL' }), 'INVALID_CONFIG')
  await expectCode(svc.createBackup({ vmId: 'vm1', diskPaths: [], type: 'FULL' }), 'INVALID_CONFIG')
  await expectCode(svc.createBackup({ vmId: 'vm1', diskPaths: [disk], type: 'FULL', destinationDir: dir }), 'INVALID_DESTINATION')
  await expectCode(svc.createBackup({ vmId: 'vm1', diskPaths: [disk], type: 'INCREMENTAL' }), 'PARENT_NOT_FOUND')
  await expectCode(svc.createBackup({ vmId: 'vm1', diskPaths: [path.join(dir, 'none.qcow2')], type: 'FULL' }), 'DISK_NOT_FOUND')
  await expectCode(svc.getBackupMetadata('00000000-0000-4000-8000-000000000000', 'vm1'), 'BACKUP_NOT_FOUND')
  const ac = new AbortController()
  ac.abort()
  await expectCode(svc.createBackup({ vmId: 'vm1', diskPaths: [disk], type: 'FULL' }, { signal: ac.signal }), 'CANCELLED')
  await expectCode(svc.createBackup({ vmId: 'vm1', diskPaths: [disk], type: 'FULL', signal: 'x' }), 'INVALID_CONFIG')
  expect(await svc.listBackups('vm1')).toEqual([])
})

test('running VM: FULL, INCREMENTAL, INCREMENTAL; each point restores to its reference', async () => {
  const vm = await startVm('vm1')
  await write(vm, '0x11', 0, '1M')
  await write(vm, '0x12', 32 * MiB, '1M')
  const ref1 = await reference(vm, 'p1')

  const events = []
  svc.on('progress', (p) => events.push(p))
  const completed = []
  svc.on('completed', (m) => completed.push(m))
  const full = await svc.createBackup({ vmId: 'vm1', diskPaths: [disk], destinationDir: path.join(root, 'vm1'), type: BackupType.FULL, qmpSocketPath: vm.sock, tags: ['t'] })
  expect(full).toMatchObject({ success: true, vmId: 'vm1', type: 'FULL' })
  expect(events.length).toBeGreaterThan(0)
  const last = events[events.length - 1]
  expect(last).toMatchObject({ backupId: full.backupId, vmId: 'vm1', currentDisk: 0, totalDisks: 1, diskProgress: 100, overallProgress: 100 })
  expect(completed.map((m) => m.id)).toEqual([full.backupId])
  const m1 = await svc.getBackupMetadata(full.backupId, 'vm1')
  expect(m1).toMatchObject({ status: 'COMPLETED', runningAtBackup: true, crashConsistent: true, tags: ['t'] })
  expect(m1.disks[0]).toMatchObject({ sourcePath: disk, format: 'qcow2', bitmap: `infinivirt-${full.backupId}`, originalSize: 64 * MiB })
  const manifest = fs.readFileSync(path.join(root, 'vm1', full.backupId, 'backup.json'), 'utf8')
  expect(Object.keys(JSON.parse(manifest)).slice(0, 9)).toEqual(['id', 'vmId', 'type', 'status', 'createdAt', 'disks', 'totalSize', 'totalOriginalSize', 'compression'])
  // The bitmap is on the running VM's disk.
  const nodes = await vm.qmp.execute('query-named-block-nodes', { flat: true })
  const node = nodes.find((n) => n['node-name'] === 'disk0')
  expect(node['dirty-bitmaps'].map((b) => b.name)).toEqual([`infinivirt-${full.backupId}`])
  // The target left QEMU.
  expect(nodes.some((n) => String(n['node-name']).startsWith('ivbk-'))).toBe(false)

  await write(vm, '0x22', MiB, '1M')
  await write(vm, '0x33', 0, '512k')
  const ref2 = await reference(vm, 'p2')
  const inc1 = await svc.createBackup({ vmId: 'vm1', diskPaths: [disk], type: 'INCREMENTAL', parentBackupId: full.backupId, qmpSocketPath: vm.sock })
  expect(inc1.type).toBe('INCREMENTAL')
  const m2 = await svc.getBackupMetadata(inc1.backupId)
  expect(m2.parentBackupId).toBe(full.backupId)
  expect(m2.disks[0].backingFile).toBe(path.join(root, 'vm1', full.backupId, 'disk-0.qcow2'))
  // Only the changed clusters were copied.
  expect(m2.totalSize).toBeLessThan(8 * MiB)

  await write(vm, '0x44', 40 * MiB, '2M')
  const ref3 = await reference(vm, 'p3')
  const inc2 = await svc.createBackup({ vmId: 'vm1', diskPaths: [disk], type: 'INCREMENTAL', parentBackupId: inc1.backupId, qmpSocketPath: vm.sock })
  expect(inc2.type).toBe('INCREMENTAL')

  const list = await svc.listBackups('vm1')
  expect(list.map((m) => m.id)).toEqual([inc2.backupId, inc1.backupId, full.backupId])

  await restoreAndCompare(full.backupId, ref1)
  await restoreAndCompare(inc1.backupId, ref2)
  const t3 = await restoreAndCompare(inc2.backupId, ref3)
  expect(same(t3, ref2)).toBe(false)

  // Never over an existing file without overwriteExisting; never over a disk QEMU holds.
  await expectCode(svc.restoreBackup({ backupId: inc2.backupId, vmId: 'vm1', diskPaths: [t3] }), 'TARGET_EXISTS')
  await expectCode(svc.restoreBackup({ backupId: inc2.backupId, vmId: 'vm1', diskPaths: [disk], overwriteExisting: true }), 'VM_RUNNING')
  // Without the QMP socket a held disk is refused, not copied.
  await expectCode(svc.createBackup({ vmId: 'vm1', diskPaths: [disk], type: 'FULL' }), 'VM_RUNNING')

  // A parent with dependants cannot go.
  const dep = await expectCode(svc.deleteBackup(full.backupId, 'vm1'), 'DEPENDENCY')
  expect(dep.message).toBe(`Backup ${full.backupId} has dependent incremental backups: ${inc1.backupId}. Delete them first.`)
  const v = await svc.verifyBackup(inc2.backupId, 'vm1')
  expect(v).toMatchObject({ valid: true, problems: [] })
  expect(v.checkedImages).toHaveLength(3)

  // An INCREMENTAL on a parent that is no longer the newest point becomes FULL, and says why.
  await svc.deleteBackup(inc2.backupId, 'vm1')
  const fallback = await svc.createBackup({ vmId: 'vm1', diskPaths: [disk], type: 'INCREMENTAL', parentBackupId: inc1.backupId, qmpSocketPath: vm.sock })
  expect(fallback.type).toBe('FULL')
  const mf = await svc.getBackupMetadata(fallback.backupId, 'vm1')
  expect(mf).toMatchObject({ type: 'FULL', requestedType: 'INCREMENTAL' })
  expect(mf.fullReason).toMatch(/bitmap .* missing/)
  expect(mf.parentBackupId).toBeUndefined()
  const ref4 = await reference(vm, 'p4')
  await restoreAndCompare(fallback.backupId, ref4)
  svc.removeAllListeners()

  // Stopped VM: the next INCREMENTAL runs in a storage daemon, from the bitmap QEMU saved.
  await stopVm(vm)
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x55 8M 1M', disk], { stdio: 'ignore' })
  const ref5 = await reference(null, 'p5')
  const off = await svc.createBackup({ vmId: 'vm1', diskPaths: [disk], type: 'INCREMENTAL', parentBackupId: fallback.backupId, isVmRunning: undefined })
  expect(off.type).toBe('INCREMENTAL')
  const m5 = await svc.getBackupMetadata(off.backupId, 'vm1')
  expect(m5).toMatchObject({ runningAtBackup: false, crashConsistent: false, parentBackupId: fallback.backupId })
  expect(m5.totalSize).toBeLessThan(8 * MiB)
  await restoreAndCompare(off.backupId, ref5)
  // The daemon kept the bitmaps in step: the disk carries only the newest point's.
  const info = JSON.parse(qemuImg('info', '--output=json', disk))
  expect(info['format-specific'].data.bitmaps.map((b) => b.name)).toEqual([`infinivirt-${off.backupId}`])

  // And a stopped FULL works the same way.
  const offFull = await svc.createBackup({ vmId: 'vm1', diskPaths: [disk], type: 'FULL' })
  await restoreAndCompare(offFull.backupId, ref5)
})

test('a failed backup is listed FAILED, with its specific code, and leaves no image', async () => {
  // A source that is not an image QEMU can back up.
  const bad = path.join(dir, 'notimage.vmdk')
  qemuImg('create', '-q', '-f', 'vmdk', bad, String(MiB))
  const err = await expectCode(svc.createBackup({ vmId: 'vm2', diskPaths: [bad], type: 'FULL' }), 'INVALID_CONFIG')
  expect(err.vmId).toBe('vm2')
  const [m] = await svc.listBackups('vm2')
  expect(m).toMatchObject({ id: err.backupId, status: 'FAILED' })
  expect(m.errorMessage).toMatch(/Unsupported source format/)
  expect(fs.readdirSync(path.join(root, 'vm2', err.backupId))).toEqual(['backup.json'])
})
