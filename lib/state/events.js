// @ts-check
'use strict'
// EventHandler (spec §10.2): listens to the QMP clients of attached VMs (real
// QMPClients or EventEmitter mocks) and hands each event, in arrival order, to the
// native handler, which writes the status and emits the vm:* events back here.
//
// On purpose beyond the spec: events of a SHUTDOWN are emitted right after the
// status write and the cleanup follows with 'vm:cleanup' (§19 #8); the TAP is read
// before the status flips (§19 #18); a throwing or missing 'error' listener is
// logged (§19 #9); after a QMP reconnect the VM is re-attached and its run state
// re-read ('vm:reconnect'); GUEST_PANICKED is handled (status 'error').

const { EventEmitter } = require('events')
const native = require('../native')
const { callIn, badArgument } = require('../errors')
const call = callIn('state')
const { makeHost, Registry, nativeStoreOf, Debugger } = require('./host')
const { cleanupTargets, replaceTargets } = require('./cleanup-targets')

const log = new Debugger('event-handler')
const QMP_EVENTS = ['SHUTDOWN', 'POWERDOWN', 'RESET', 'STOP', 'RESUME', 'SUSPEND', 'WAKEUP', 'GUEST_PANICKED']

function eventTime (timestamp) {
  if (timestamp && typeof timestamp.seconds === 'number') {
    return timestamp.seconds * 1000 + (typeof timestamp.microseconds === 'number' ? timestamp.microseconds : 0) / 1000
  }
  return undefined
}

class EventHandler extends EventEmitter {
  /**
   * @param db a DatabaseAdapter (createStore() is used natively)
   * @param {Record<string, any>} [config]
   */
  constructor (db, config = {}) {
    super()
    /** @type {Record<string, any>} */
    const cfg = { enableLogging: true, emitCustomEvents: true, ...config }
    const store = nativeStoreOf(db)
    // Without injected managers the cleanup uses the class's own (spec §10.2).
    const targets = cleanupTargets(cfg)
    targets.db = store ? null : db
    const objects = new Registry()
    const host = makeHost({ targets, objects: objects.map, facade: new WeakRef(this), log })
    /** @type {Registry} */
    this._objects // declared for the checker (as the others): defined below, non-enumerable
    /** @type {Record<string, unknown>} */
    this._targets
    /** @type {Map<string, any>} */
    this._vms
    /** @type {Map<string, any>} */
    this._dormant
    /** @type {import('../../binding').NativeEventHandler} */
    this._n
    Object.defineProperty(this, '_objects', { value: objects })
    Object.defineProperty(this, '_targets', { value: targets })
    Object.defineProperty(this, '_vms', { value: new Map() })
    Object.defineProperty(this, '_dormant', { value: new Map() })
    Object.defineProperty(this, '_n', {
      value: call(() => new native.NativeEventHandler(store, host, {
        enableLogging: cfg.enableLogging !== false,
        emitCustomEvents: cfg.emitCustomEvents !== false,
        exitWaitMs: cfg.exitWaitMs,
        hasNetwork: true
      }))
    })
  }

  async attachToVM (vmId, qmpClient) {
    vmId = call(() => String(vmId))
    if (!qmpClient || typeof qmpClient.on !== 'function' || typeof qmpClient.off !== 'function') {
      throw badArgument('state', 'qmpClient must be an EventEmitter (a QMPClient)')
    }
    if (this._vms.has(vmId)) return
    this._wake(vmId)
    const listeners = {}
    for (const ev of QMP_EVENTS) {
      listeners[ev] = (data, timestamp) => this._event(vmId, ev, data, timestamp)
      qmpClient.on(ev, listeners[ev])
    }
    listeners.disconnect = () => this._disconnected(vmId)
    qmpClient.on('disconnect', listeners.disconnect)
    this._vms.set(vmId, { client: qmpClient, listeners })
    this._n.attach(vmId)
    log.log(`attached to VM ${vmId}`)
  }

  _event (vmId, event, data, timestamp) {
    let p
    try {
      p = this._n.handleEvent(vmId, event, data ?? undefined, eventTime(timestamp))
    } catch (e) {
      // data that cannot cross (a function, a cycle): handle the event without it
      log.log('error', `VM ${vmId}: ${event} data not usable: ${e && e.message}`)
      p = this._n.handleEvent(vmId, event, undefined, eventTime(timestamp))
    }
    p.catch((e) => log.log('error', `VM ${vmId}: ${event}: ${e && e.message}`))
  }

  _removeListeners (vmId) {
    const entry = this._vms.get(vmId)
    if (!entry) return null
    for (const [ev, fn] of Object.entries(entry.listeners)) entry.client.off(ev, fn)
    this._vms.delete(vmId)
    return entry
  }

  _disconnected (vmId) {
    const entry = this._removeListeners(vmId)
    if (!entry) return
    this._n.handleDisconnect(vmId).catch((e) => log.log('error', `VM ${vmId}: disconnect: ${e && e.message}`))
    // A client that reconnects by itself brings the VM back (spec: forgotten for good).
    const onReconnect = () => {
      this._wake(vmId)
      this.attachToVM(vmId, entry.client).then(() => this._resync(vmId, entry.client))
    }
    const onFailed = () => this._wake(vmId)
    entry.client.on('reconnect', onReconnect)
    entry.client.on('reconnect_failed', onFailed)
    this._dormant.set(vmId, { client: entry.client, onReconnect, onFailed })
    this._safeEmit('vm:disconnect', { vmId, timestamp: new Date() })
  }

  _wake (vmId) {
    const d = this._dormant.get(vmId)
    if (!d) return
    d.client.off('reconnect', d.onReconnect)
    d.client.off('reconnect_failed', d.onFailed)
    this._dormant.delete(vmId)
  }

  async _resync (vmId, client) {
    const key = this._objects.put(client)
    try {
      await this._n.resync(vmId, key)
    } catch (e) {
      log.log('error', `VM ${vmId}: resync after reconnect: ${e && e.message}`)
    } finally {
      this._objects.drop(key)
    }
  }

  _safeEmit (name, payload) {
    try {
      this.emit(name, payload)
    } catch (e) {
      if (name === 'error') {
        log.log('error', `'error' listener failed: ${e && e.message}`)
        return
      }
      if (this.listenerCount('error') === 0) {
        log.log('error', `'${name}' listener failed: ${e && e.message}`)
      } else {
        this.emit('error', { vmId: payload.vmId, event: name, error: e && e.message })
      }
    }
  }

  async detachFromVM (vmId) {
    vmId = call(() => String(vmId))
    this._wake(vmId)
    if (this._removeListeners(vmId)) this._n.detach(vmId)
  }

  async detachAll () {
    for (const vmId of [...this._vms.keys(), ...this._dormant.keys()]) await this.detachFromVM(vmId)
  }

  /** @internal the owner's TAP / firewall / cgroup managers in place of the own ones */
  _setCleanupTargets (given) { replaceTargets(this._targets, given) }

  getAttachedVMs () { return [...this._vms.keys()] }
  isAttached (vmId) { return this._vms.has(vmId) }
  getQMPClient (vmId) { return this._vms.get(vmId)?.client }

  /** Infinivirt addition: status writes queued because the database was unreachable. */
  getPendingWrites () { return this._n.pendingWrites() }
}

module.exports = { EventHandler, QMP_EVENTS }
