// @ts-check
'use strict'
// QemuImgService and SnapshotManager (API.md §9). Validation, qemu-img runs, image
// locks and error classification are native; this file names the methods, keeps a
// throwing progress callback away from the native side, and drives the caller's
// QMPClient for the live (running VM) operations.

const native = require('./native')
const { QMPClient } = require('./qmp')
const { callIn, badArgument, StorageError } = require('./errors')
const call = callIn('storage')
const { Debugger } = require('./utils')

const log = new Debugger('qemu-img')

// The native side calls this; a throwing user callback is logged, never propagated.
function progressCallback (fn) {
  if (typeof fn !== 'function') return undefined
  return (percent) => {
    try {
      fn(percent)
    } catch (e) {
      log.log('error', `onProgress callback failed: ${e && e.message}`)
    }
  }
}

// A live command failed on the QMP side: the native classifier turns it into a
// StorageError, or returns when there is nothing to report (deleting a snapshot
// that is already gone).
function liveFailure (op, device, name, err) {
  const code = err && typeof err.code === 'string' ? err.code : undefined
  const message = err && typeof err.message === 'string' ? err.message : String(err)
  call(() => native.storageLiveFailure(op, device, name, code, message))
}

// The spec's key order (§9.1): optional fields stay as keys, `snapshots` comes last.
function imageInfo (i) {
  const out = {
    filename: i.filename,
    format: i.format,
    virtualSize: i.virtualSize,
    actualSize: i.actualSize,
    clusterSize: i.clusterSize,
    encrypted: i.encrypted,
    backingFile: i.backingFile
  }
  if (i.snapshots) out.snapshots = i.snapshots
  return out
}

class QemuImgService {
  async createImage (options) {
    const o = options || {}
    return call(() => native.qemuImgCreate(o, progressCallback(o.onProgress)))
  }

  async getImageInfo (path) {
    return imageInfo(await call(() => native.qemuImgInfo(path)))
  }

  // Grows only; `{ allowShrink: true }` permits a smaller size.
  async resizeImage (path, newSizeGB, options) {
    return call(() => native.qemuImgResize(path, newSizeGB, Boolean(options && options.allowShrink)))
  }

  async convertImage (options) {
    const o = options || {}
    return call(() => native.qemuImgConvert(o, progressCallback(o.onProgress)))
  }

  async checkImage (path) {
    return call(() => native.qemuImgCheck(path))
  }

  // Thin clones (API-next §3 and beyond). Removes an image file; refused while it
  // backs clones (IMAGE_IN_USE, `clones` names them) or a running VM holds it.
  async deleteImage (path) {
    return call(() => native.qemuImgDelete(path))
  }

  // The images whose backing file is `path` (searched where README "Thin clones" says).
  async listClones (path) {
    return call(() => native.qemuImgListClones(path))
  }

  // Makes a stopped clone standalone (its chain copied into it; atomic). Resolves
  // false when the image has no backing file.
  async flattenImage (path, options) {
    const o = options || {}
    return call(() => native.qemuImgFlatten(path, progressCallback(o.onProgress)))
  }

  // Makes a running VM's clone standalone through its QMPClient (block-stream);
  // the guest keeps running. `{ timeoutMs, onProgress }`.
  async flattenImageLive (qmp, device, options) {
    const o = options || {}
    if (!(qmp instanceof QMPClient)) {
      throw new StorageError('COMMAND_FAILED', 'flattenImageLive needs a QMPClient of this package (it drives the block job natively)', undefined, 'block-stream')
    }
    return call(() => native.qemuImgFlattenLive(qmp._n, device, o.timeoutMs ?? undefined, progressCallback(o.onProgress)))
  }

  // Beyond the spec: resizes a running VM's disk through its QMP connection
  // (`block_resize`); grows only unless `{ allowShrink: true }`.
  async resizeImageLive (qmp, device, newSizeGB, options) {
    const allowShrink = Boolean(options && options.allowShrink)
    call(() => native.storageLiveResizeTarget(device, newSizeGB, allowShrink, undefined))
    let blocks
    try {
      blocks = await qmp.queryBlock()
    } catch (e) {
      liveFailure('resize', device, undefined, e)
      return
    }
    const target = call(() => native.storageLiveResizeTarget(device, newSizeGB, allowShrink, blocks))
    try {
      await qmp.blockResize(target.device, target.size)
    } catch (e) {
      liveFailure('resize', device, undefined, e)
    }
  }
}

class SnapshotManager {
  async createSnapshot (options) {
    const o = options || {}
    if (o.description) log.log(`snapshot ${o.name} of ${o.imagePath}: ${o.description}`)
    return call(() => native.snapshotCreate(o.imagePath, o.name))
  }

  async listSnapshots (imagePath) {
    return call(() => native.snapshotList(imagePath))
  }

  async revertSnapshot (imagePath, snapshotName) {
    return call(() => native.snapshotRevert(imagePath, snapshotName))
  }

  // API-next §3: the image as it was at `snapshotName`, written to a new standalone
  // qcow2 at `destPath`. `{ onProgress }` is an Infinivirt addition.
  async materializeSnapshot (sourcePath, snapshotName, destPath, options) {
    const o = options || {}
    return call(() => native.snapshotMaterialize(sourcePath, snapshotName, destPath, progressCallback(o.onProgress)))
  }

  async deleteSnapshot (imagePath, snapshotName) {
    return call(() => native.snapshotDelete(imagePath, snapshotName))
  }

  // Rejects when the image cannot be read: never a "no" that only means "failed".
  async snapshotExists (imagePath, snapshotName) {
    return call(() => native.snapshotExists(imagePath, snapshotName))
  }

  // Beyond the spec: internal snapshots of a running VM's disk through its QMP
  // connection (`blockdev-snapshot-internal-sync` and its delete counterpart).
  // With `options.quiesce` (a guest agent socket path, or a GuestQuiesce object such
  // as a connected GuestAgentClient) the guest's filesystems are frozen around the
  // snapshot; the sequence and its guaranteed thaw are native (storage::quiesce).
  async createLiveSnapshot (qmp, device, name, options) {
    const t = call(() => native.storageLiveSnapshotTarget('snapshot', device, name))
    const o = options === undefined || options === null ? null : options
    const q = o && o.quiesce !== undefined && o.quiesce !== null ? o.quiesce : null
    if (q === null) {
      if (o && o.quiesceRequired) throw badArgument('agent', 'quiesceRequired needs options.quiesce (a guest agent socket path or a GuestQuiesce object)')
      try {
        await qmp.blockdevSnapshotInternalSync(t.device, t.name)
      } catch (e) {
        liveFailure('snapshot', device, name, e)
      }
      return o ? { quiesced: false } : undefined
    }
    const byObject = typeof q !== 'string'
    if (byObject && (typeof q.fsFreeze !== 'function' || typeof q.fsThaw !== 'function')) {
      throw badArgument('agent', 'options.quiesce must be a socket path or an object with fsFreeze() and fsThaw()')
    }
    // Every step resolves with an answer, never rejects: the native side decides.
    const answer = async (fn) => {
      try {
        const n = await fn()
        return JSON.stringify({ ok: true, n: typeof n === 'number' ? n : undefined })
      } catch (e) {
        return JSON.stringify({ ok: false, code: e && typeof e.code === 'string' ? e.code : undefined, message: e && typeof e.message === 'string' ? e.message : String(e) })
      }
    }
    const step = (op) => {
      if (op === 'snapshot') return answer(() => qmp.blockdevSnapshotInternalSync(t.device, t.name))
      if (op === 'freeze') return answer(() => q.fsFreeze())
      return answer(() => q.fsThaw())
    }
    const r = await call(() => native.storageQuiescedSnapshot(t.device, t.name, {
      socketPath: byObject ? undefined : q,
      freezeTimeoutMs: o.freezeTimeoutMs ?? undefined,
      required: Boolean(o.quiesceRequired)
    }, step))
    const out = { quiesced: r.quiesced }
    if (r.frozenFilesystems !== undefined && r.frozenFilesystems !== null) out.frozenFilesystems = r.frozenFilesystems
    return out
  }

  async deleteLiveSnapshot (qmp, device, name) {
    const t = call(() => native.storageLiveSnapshotTarget('delete', device, name))
    try {
      await qmp.blockdevSnapshotDeleteInternalSync(t.device, t.name)
    } catch (e) {
      liveFailure('delete', device, name, e)
    }
  }
}

module.exports = { QemuImgService, SnapshotManager }
