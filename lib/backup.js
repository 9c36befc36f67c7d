'use strict'
// BackupService (API-next §2, issue 15). Jobs, bitmaps, manifests, restore and
// errors are native (src/backup/); this file resolves the caller's callbacks
// (isVmRunning, the QMP socket resolver, an AbortSignal), re-emits progress and
// shapes the results.

const { EventEmitter } = require('node:events')
const native = require('./native')
const { BackupError, isBackupError, callIn } = require('./errors')
const { Debugger } = require('./utils')

const call = callIn('backup')
const log = new Debugger('backup-service')

const BackupType = Object.freeze({ FULL: 'FULL', INCREMENTAL: 'INCREMENTAL', SNAPSHOT: 'SNAPSHOT' })
const BackupStatus = Object.freeze({ PENDING: 'PENDING', IN_PROGRESS: 'IN_PROGRESS', COMPLETED: 'COMPLETED', FAILED: 'FAILED', CANCELLED: 'CANCELLED' })
const BackupCompression = Object.freeze({ NONE: 'NONE', QCOW2: 'QCOW2', GZIP: 'GZIP' })
const BackupErrorCode = Object.freeze(Object.fromEntries([
  'VM_NOT_FOUND', 'BACKUP_NOT_FOUND', 'INVALID_DESTINATION', 'DISK_NOT_FOUND', 'VM_RUNNING', 'INSUFFICIENT_SPACE',
  'PARENT_NOT_FOUND', 'BACKUP_EXISTS', 'TARGET_EXISTS', 'OPERATION_FAILED', 'CANCELLED', 'INVALID_CONFIG',
  'CORRUPT_BACKUP', 'DEPENDENCY'
].map((k) => [k, k])))

const DEFAULT_BACKUP_DIR = '/var/lib/infinivirt/backups'
const DEFAULT_BACKUP_TYPE = BackupType.FULL
const DEFAULT_BACKUP_COMPRESSION = BackupCompression.NONE
const DEFAULT_RETENTION_COUNT = 5
const MAX_CONCURRENT_BACKUPS = 2
const BACKUP_MANIFEST_FILENAME = 'backup.json'

const isValidBackupType = (s) => Object.values(BackupType).includes(s)
const isValidBackupStatus = (s) => Object.values(BackupStatus).includes(s)

let nextToken = 1

// A caller's callback: a throw or rejection means "unknown" (null), never a failure.
async function ask (fn, arg, what) {
  if (typeof fn !== 'function') return undefined
  try {
    const v = await fn(arg)
    return v === undefined ? null : v
  } catch (e) {
    log.log('error', `${what} failed: ${e && e.message}`)
    return null
  }
}

class BackupService extends EventEmitter {
  /**
   * options: { backupRootDir = DEFAULT_BACKUP_DIR, isVmRunning?, guestAgentFactory? (accepted,
   * not used yet: backups are crash-consistent), qmpSocketPath?: (vmId) => path | null }
   * @param {any} [options]
   */
  constructor (options) {
    super()
    const o = options || {}
    /** @type {import('../binding').NativeBackupService} */
    this._n // declared for the checker; defined below, non-enumerable
    Object.defineProperty(this, '_n', { value: call(() => new native.NativeBackupService(o.backupRootDir || undefined)) })
    /** @type {{ isVmRunning?: Function, qmpSocketPath?: Function, guestAgentFactory?: Function }} */
    this._opts // declared for the checker; defined below, non-enumerable
    Object.defineProperty(this, '_opts', { value: { isVmRunning: o.isVmRunning, qmpSocketPath: o.qmpSocketPath, guestAgentFactory: o.guestAgentFactory } })
  }

  get activeBackupCount () {
    return this._n.activeBackupCount
  }

  get backupRootDir () {
    return this._n.backupRootDir
  }

  // Ours beyond the spec: `config.qmpSocketPath` (or the constructor's resolver)
  // backs a running VM up through QMP; `config.signal` / `options.signal` cancels.
  async createBackup (config, options) {
    const c = config || {}
    const signal = (options && options.signal) || c.signal
    if (signal !== undefined && signal !== null && (typeof signal !== 'object' || typeof signal.addEventListener !== 'function')) {
      throw new BackupError('INVALID_CONFIG', 'Invalid argument: signal must be an AbortSignal', { vmId: c.vmId })
    }
    if (signal && signal.aborted) throw new BackupError('CANCELLED', 'Backup cancelled', { vmId: c.vmId })
    const running = await ask(this._opts.isVmRunning, c.vmId, 'isVmRunning')
    let qmpSocketPath = c.qmpSocketPath
    if (!qmpSocketPath && typeof this._opts.qmpSocketPath === 'function') {
      qmpSocketPath = (await ask(this._opts.qmpSocketPath, c.vmId, 'qmpSocketPath')) || undefined
    }
    const req = {
      vmId: c.vmId,
      diskPaths: c.diskPaths,
      destinationDir: c.destinationDir,
      type: c.type,
      compression: c.compression,
      description: c.description,
      parentBackupId: c.parentBackupId,
      tags: c.tags,
      qmpSocketPath,
      vmRunning: running === undefined ? undefined : running === null ? null : Boolean(running)
    }
    const token = nextToken++
    const onAbort = () => this._n.abort(token)
    if (signal) signal.addEventListener('abort', onAbort, { once: true })
    const onProgress = (json) => {
      try {
        this.emit('progress', JSON.parse(json))
      } catch (e) {
        log.log('error', `progress listener failed: ${e && e.message}`)
      }
    }
    let meta
    try {
      meta = await call(() => this._n.create(req, onProgress, token))
    } finally {
      if (signal) signal.removeEventListener('abort', onAbort)
    }
    this.emit('completed', meta)
    return { success: true, backupId: meta.id, vmId: meta.vmId, type: meta.type, disks: meta.disks, totalSize: meta.totalSize, durationMs: meta.durationMs }
  }

  async restoreBackup (options) {
    const o = options || {}
    const result = await call(() => this._n.restore({ backupId: o.backupId, vmId: o.vmId, diskPaths: o.diskPaths, overwriteExisting: Boolean(o.overwriteExisting) }))
    this.emit('restored', result)
    return result
  }

  async listBackups (vmId) {
    return call(() => this._n.list(vmId))
  }

  async deleteBackup (backupId, vmId) {
    return call(() => this._n.delete(backupId, vmId))
  }

  async getBackupMetadata (backupId, vmIdHint) {
    return call(() => this._n.get(backupId, vmIdHint))
  }

  // Ours: qemu-img check of every image of the chain and the manifest against the files.
  async verifyBackup (backupId, vmIdHint) {
    return call(() => this._n.verify(backupId, vmIdHint))
  }
}

module.exports = {
  BackupService,
  BackupError,
  BackupType,
  BackupStatus,
  BackupCompression,
  BackupErrorCode,
  DEFAULT_BACKUP_DIR,
  DEFAULT_BACKUP_TYPE,
  DEFAULT_BACKUP_COMPRESSION,
  DEFAULT_RETENTION_COUNT,
  MAX_CONCURRENT_BACKUPS,
  BACKUP_MANIFEST_FILENAME,
  isValidBackupType,
  isValidBackupStatus,
  isBackupError
}
