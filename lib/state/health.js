// @ts-check
'use strict'
// HealthMonitor (spec §10.3): the periodic sweep of running VMs, crash handling and
// cleanup, natively; plus pushed crash detection (watchVM: pidfd + QMP EOF), which
// reports a killed QEMU within milliseconds instead of at the next sweep.

const { EventEmitter } = require('events')
const native = require('../native')
const { callIn, badArgument } = require('../errors')
const call = callIn('state')
const { makeHost, parse, nativeStoreOf, Debugger } = require('./host')
const { cleanupTargets } = require('./cleanup-targets')

const log = new Debugger('health-monitor')

// The native side reaches its facade through a WeakRef (an idle monitor nobody uses
// may be collected). A monitor that sweeps or watches a VM must not be: its 'crash'
// would be lost. It stays referenced here while it has that work.
const working = new Set()

class HealthMonitor extends EventEmitter {
  /**
   * @param db a DatabaseAdapter (createStore() is used natively)
   * @param {Record<string, any>} [config]
   */
  constructor (db, config = {}) {
    super()
    /** @type {Record<string, any>} */
    const cfg = { checkIntervalMs: 30000, enableCleanup: true, pidfileDir: '/var/run/infinivirt/pids', ...config }
    const store = nativeStoreOf(db)
    // Without injected managers the cleanup uses the class's own (spec §10.3).
    const targets = cleanupTargets(cfg)
    targets.db = store ? null : db
    const hooks = {}
    if (typeof cfg.onCrashDetected === 'function') hooks.onCrashDetected = cfg.onCrashDetected
    if (typeof cfg.onCleanupAlert === 'function') hooks.onCleanupAlert = cfg.onCleanupAlert
    targets.hooks = hooks
    const host = makeHost({ targets, facade: new WeakRef(this), onEmit: (me) => me._afterEvent(), log })
    /** @type {NodeJS.Timeout | null} */
    this._keepAlive // declared for the checker (as _n): defined below, non-enumerable
    /** @type {import('../../binding').NativeHealthMonitor} */
    this._n
    Object.defineProperty(this, '_keepAlive', { value: null, writable: true })
    Object.defineProperty(this, '_n', {
      value: call(() => new native.NativeHealthMonitor(store, host, {
        checkIntervalMs: cfg.checkIntervalMs,
        enableCleanup: cfg.enableCleanup !== false,
        pidfileDir: cfg.pidfileDir,
        cleanupRetryBaseMs: cfg.cleanupRetryBaseMs,
        hasNetwork: true,
        hasHooks: Object.keys(hooks).length > 0
      }))
    })
  }

  _hold () { working.add(this) }
  _settle () {
    if (!this._n.isMonitoring() && this._n.watched().length === 0) working.delete(this)
  }

  // A reported exit ends its watch just after the event.
  _afterEvent () {
    if (working.has(this)) setTimeout(() => this._settle(), 1000).unref()
  }

  async start () {
    this._hold()
    // Like the original's setInterval, a running monitor keeps Node's event loop alive
    // (the native timer and its weak callbacks do not).
    if (!this._keepAlive) this._keepAlive = setInterval(() => {}, 0x7fffffff)
    return call(() => this._n.start())
  }

  async stop () {
    this._n.stop()
    this._settle()
    if (this._keepAlive) {
      clearInterval(this._keepAlive)
      this._keepAlive = null
    }
  }

  isMonitoring () { return this._n.isMonitoring() }
  async checkAllVMs () { return parse(await call(() => this._n.checkAllVMs())) }
  checkVM (vmId, pid) { return call(() => this._n.checkVM(Number(pid))) }
  async retryCleanup (vmId, config) { return parse(await call(() => this._n.retryCleanup(String(vmId), config ?? {}))) }

  /**
   * Infinivirt addition: watch one VM for a crash. `target` is its QemuProcess (the
   * pidfd held since start) or its PID. Options: qmpSocketPath (a SHUTDOWN seen first
   * makes the exit a shutdown, not a crash), tapDeviceName, guestAgentSocketPath,
   * infiniServiceSocketPath, pidfile, stderrPath.
   */
  /** @param {Record<string, any>} [options] */
  watchVM (vmId, target, options = {}) {
    if (options === null || typeof options !== 'object') throw badArgument('state', 'watchVM options must be an object')
    const opts = {
      pid: typeof target === 'number' ? target : options.pid,
      qmpSocketPath: options.qmpSocketPath,
      tapDeviceName: options.tapDeviceName,
      guestAgentSocketPath: options.guestAgentSocketPath,
      infiniServiceSocketPath: options.infiniServiceSocketPath,
      pidfile: options.pidfile,
      stderrPath: options.stderrPath
    }
    if (target && typeof target === 'object' && target._n) {
      call(() => this._n.watchProcess(String(vmId), target._n, opts))
    } else {
      call(() => this._n.watchPid(String(vmId), opts))
    }
    this._hold()
  }

  /** Infinivirt addition: stop watching (before a deliberate stop). */
  unwatchVM (vmId) {
    const r = call(() => this._n.unwatch(String(vmId)))
    this._settle()
    return r
  }
  /** Infinivirt addition: the VMs being watched. */
  getWatchedVMs () { return this._n.watched() }
  /** Infinivirt addition: status writes queued because the database was unreachable. */
  getPendingWrites () { return this._n.pendingWrites() }
}

module.exports = { HealthMonitor }
