'use strict'
// VMLifecycle (spec §5) and the Infinivirt facade (spec §6). The work is native
// (src/lifecycle/vm.rs): validation, per-VM locking, disks, TAP, firewall, paused
// QEMU start, QMP password + cont, rollback of a failed create. This file converts
// arguments, adds `timestamp` to operation results and turns native errors into the
// exported error classes.
//
// The store is a createStore() adapter (used natively), or any other
// DatabaseAdapter / a Prisma client (called through the host bridge).

const native = require('./native')
const { call, LifecycleError } = require('./errors')
const { createStore } = require('./state/store')
const { PrismaAdapter } = require('./state/prisma-adapter')
const { makeHost, Registry, nativeStoreOf, Debugger } = require('./state/host')

const log = new Debugger('vm-lifecycle')

const DEFAULT_DISK_DIR = '/var/lib/infinivirt/disks'
const DEFAULT_QMP_SOCKET_DIR = '/var/run/infinivirt'
const DEFAULT_PIDFILE_DIR = '/var/run/infinivirt/pids'

function notYet (what, vmId) {
  return Promise.reject(new LifecycleError('INVALID_STATE', `${what} is not implemented in this version of Infinivirt`, vmId))
}

function withTimestamp (r) {
  return { ...r, timestamp: new Date() }
}

class VMLifecycle {
  /**
   * @param prisma        a createStore() adapter (the native store)
   * @param eventHandler  accepted for the spec's signature; not used yet
   * @param eventManager  `emitCRUD` receives 'create' / 'power_off' events
   * @param options       { diskDir, qmpSocketDir, pidfileDir } plus, for tests only,
   *                      `extraArgs` (raw QEMU arguments appended to every VM) and
   *                      `firewallPersistenceDir`
   */
  constructor (prisma, eventHandler, eventManager, options = {}) {
    // A createStore() adapter is used natively; any other DatabaseAdapter (a
    // PrismaAdapter, a plain object) is called through the host bridge.
    const store = nativeStoreOf(prisma)
    if (!store && (prisma === null || typeof prisma !== 'object')) {
      throw new LifecycleError('INVALID_CONFIG', 'VMLifecycle needs a DatabaseAdapter (a PrismaAdapter or createStore())')
    }
    const objects = new Registry()
    const host = makeHost({ targets: { db: store ? null : prisma }, objects: objects.map, log })
    Object.defineProperty(this, '_objects', { value: objects })
    const o = options || {}
    Object.defineProperty(this, '_n', {
      value: call(() => new native.NativeVmLifecycle(store, host, {
        diskDir: o.diskDir ?? DEFAULT_DISK_DIR,
        qmpSocketDir: o.qmpSocketDir ?? DEFAULT_QMP_SOCKET_DIR,
        pidfileDir: o.pidfileDir ?? DEFAULT_PIDFILE_DIR,
        qemuBinary: o.qemuBinary ?? undefined,
        extraArgs: Array.isArray(o.extraArgs) ? o.extraArgs.map(String) : undefined,
        firewallPersistenceDir: o.firewallPersistenceDir ?? undefined
      }))
    })
    this._eventHandler = eventHandler
    this._eventManager = eventManager
  }

  _emit (action, id, data) {
    const em = this._eventManager
    if (!em || typeof em.emitCRUD !== 'function') return
    try { em.emitCRUD('machines', action, id, data) } catch { /* swallowed (spec §5.12) */ }
  }

  /** @internal creates the firewall table layout */
  async _initialize () { return call(() => this._n.initialize()) }

  async create (config) {
    if (config === null || typeof config !== 'object') {
      throw new LifecycleError('INVALID_CONFIG', 'Invalid VM configuration: expected an object')
    }
    const r = await call(() => this._n.create(config))
    this._emit('create', r.vmId, { pid: r.pid, tapDevice: r.tapDevice })
    return r
  }

  /** `_config` is accepted and ignored (spec). */
  async start (vmId, _config) {
    const { started, ...r } = await call(() => this._n.start(String(vmId)))
    if (started) this._emit('power_on', r.vmId, { pid: started.pid, tapDevice: started.tapDevice })
    return withTimestamp(r)
  }

  async stop (vmId, config) {
    const c = config || {}
    const r = await call(() => this._n.stop(String(vmId), {
      graceful: c.graceful ?? undefined,
      timeout: c.timeout ?? undefined,
      force: c.force ?? undefined
    }))
    if (r.forced !== undefined) this._emit('power_off', r.vmId, { forced: r.forced })
    return withTimestamp(r)
  }

  async destroyResources (vmId) {
    return withTimestamp(await call(() => this._n.destroyResources(String(vmId))))
  }

  /** stop (graceful, forced after 30 s), 2 s, start (spec §5.9); emits power_off and power_on. */
  async restart (vmId) {
    await this.stop(vmId, { graceful: true, timeout: 30000, force: true })
    await new Promise((resolve) => setTimeout(resolve, 2000))
    await this.start(vmId)
    return withTimestamp({ success: true, message: `VM ${vmId} restarted successfully`, vmId: String(vmId) })
  }

  async suspend (vmId) {
    const r = withTimestamp(await call(() => this._n.suspend(String(vmId))))
    this._emit('suspend', r.vmId)
    return r
  }

  async resume (vmId) {
    const r = withTimestamp(await call(() => this._n.resume(String(vmId))))
    this._emit('resume', r.vmId)
    return r
  }

  async reset (vmId) {
    const r = withTimestamp(await call(() => this._n.reset(String(vmId))))
    this._emit('update', r.vmId, { type: 'hardware' })
    return r
  }

  async getStatus (vmId) { return call(() => this._n.getStatus(String(vmId))) }

  /** @internal ids of the VMs this instance started */
  _activeVMs () { return this._n.activeVms() }

  /** @internal disconnects QMP clients (VMs keep running) */
  async _shutdown () { return call(() => this._n.shutdown()) }
}

const NOT_INITIALIZED = 'Infinivirt not initialized. Call initialize() first.'

class Infinivirt {
  /**
   * config: the spec's InfinivirtConfig. `prismaClient` may be a createStore()
   * adapter; without it the embedded store is opened from `databaseUrl` /
   * `sqlitePath` (or INFINIVIRT_DATABASE_URL / INFINIVIRT_SQLITE_PATH, else the
   * default SQLite file). `extraArgs` is test-only (raw QEMU arguments).
   */
  constructor (config = {}) {
    this._config = config || {}
    this._initialized = false
    this._active = new Map()
    this._store = null
    this._lifecycle = null
  }

  async initialize () {
    if (this._initialized) return
    const c = this._config
    let store = c.prismaClient ?? null
    if (store && !nativeStoreOf(store)) store = new PrismaAdapter(store)
    if (!store) store = createStore({ databaseUrl: c.databaseUrl ?? undefined, sqlitePath: c.sqlitePath ?? undefined })
    const lifecycle = new VMLifecycle(store, null, c.eventManager, {
      diskDir: c.diskDir,
      qmpSocketDir: c.qmpSocketDir,
      pidfileDir: c.pidfileDir,
      extraArgs: c.extraArgs,
      firewallPersistenceDir: c.firewallPersistenceDir
    })
    await lifecycle._initialize()
    this._store = store
    this._lifecycle = lifecycle
    this._initialized = true
  }

  async shutdown () {
    if (this._lifecycle) await this._lifecycle._shutdown()
    this._active.clear()
    this._initialized = false
  }

  isInitialized () { return this._initialized }

  _require () {
    if (!this._initialized) throw new LifecycleError('INVALID_STATE', NOT_INITIALIZED)
    return this._lifecycle
  }

  async createVM (config) {
    const r = await this._require().create(config)
    this._active.set(r.vmId, { tapDevice: r.tapDevice, createdAt: new Date(), internalName: config.internalName })
    return r
  }

  async startVM (vmId, config) {
    const r = await this._require().start(vmId, config)
    if (r.success) {
      const internalName = (await this._store.getMachineInternalName(vmId)) ?? vmId
      this._active.set(vmId, { createdAt: new Date(), internalName })
    }
    return r
  }

  async stopVM (vmId, config) {
    const r = await this._require().stop(vmId, config)
    if (r.success) this._active.delete(vmId)
    return r
  }

  async destroyVM (vmId) {
    const r = await this._require().destroyResources(vmId)
    if (r.success) this._active.delete(vmId)
    return r
  }

  async restartVM (vmId) { return this._require().restart(vmId) }
  async suspendVM (vmId) { return this._require().suspend(vmId) }
  async resumeVM (vmId) { return this._require().resume(vmId) }
  async resetVM (vmId) { return this._require().reset(vmId) }
  async getVMStatus (vmId) { return this._require().getStatus(vmId) }

  getActiveVMs () { return [...this._active.keys()] }

  getPrismaAdapter () {
    this._require()
    return this._store
  }

  getHealthMonitor () { this._require(); throw new LifecycleError('INVALID_STATE', 'getHealthMonitor is not implemented in this version of Infinivirt') }
  getEventHandler () { this._require(); throw new LifecycleError('INVALID_STATE', 'getEventHandler is not implemented in this version of Infinivirt') }
  getNftablesService () { this._require(); throw new LifecycleError('INVALID_STATE', 'getNftablesService is not implemented in this version of Infinivirt') }
  async attachToRunningVM (vmId) { this._require(); return notYet('attachToRunningVM', vmId) }
  /** QMP `eject` over the manager's connection to the VM; `force` defaults to true. */
  async ejectCdrom (vmId, device, force = true) {
    const l = this._require()
    await call(() => l._n.ejectCdrom(String(vmId), String(device), force !== false))
  }

  /** QMP `query-block` over the manager's connection to the VM. */
  async queryBlockDevices (vmId) {
    const l = this._require()
    return call(() => l._n.queryBlockDevices(String(vmId)))
  }
}

module.exports = { VMLifecycle, Infinivirt }
