// @ts-check
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
const { callIn, LifecycleError } = require('./errors')
const call = callIn('lifecycle')
const { createStore } = require('./state/store')
const { PrismaAdapter } = require('./state/prisma-adapter')
const { EventHandler } = require('./state/events')
const { HealthMonitor } = require('./state/health')
const { makeHost, Registry, nativeStoreOf, Debugger } = require('./state/host')
const { QMPClient } = require('./qmp')
const { NftablesService } = require('./firewall')
const { TapDeviceManager } = require('./network')
const { UnattendedInstaller } = require('./unattended')
const { GuestAgentClient } = require('./guest-agent')
const path = require('path')

const log = new Debugger('vm-lifecycle')
const flog = new Debugger('infinivirt')

function withTimestamp (r) {
  return { ...r, timestamp: new Date() }
}

class VMLifecycle {
  /**
   * @param prisma        a createStore() adapter (the native store)
   * @param eventHandler  an EventHandler: each VM this instance starts is attached
   *                      to it (its vm:* events), and detached when it stops
   * @param eventManager  `emitCRUD` receives 'create' / 'power_off' events
   * @param options       diskDir, qmpSocketDir, pidfileDir plus `qemuBinary`,
   *                      `firewallPersistenceDir`, `firewallStrictRules` and, for
   *                      tests only, `extraArgs`
   *                      (raw QEMU arguments appended to every VM)
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
    /** @type {Registry} */
    this._objects // declared for the checker (as _n): defined below, non-enumerable
    /** @type {import('../binding').NativeVmLifecycle} */
    this._n
    Object.defineProperty(this, '_objects', { value: objects })
    const o = options || {}
    Object.defineProperty(this, '_n', {
      // Defaults (directories included) are applied natively.
      value: call(() => new native.NativeVmLifecycle(store, host, {
        diskDir: o.diskDir ?? undefined,
        qmpSocketDir: o.qmpSocketDir ?? undefined,
        pidfileDir: o.pidfileDir ?? undefined,
        qemuBinary: o.qemuBinary ?? undefined,
        extraArgs: Array.isArray(o.extraArgs) ? o.extraArgs.map(String) : undefined,
        firewallPersistenceDir: o.firewallPersistenceDir ?? undefined,
        firewallStrictRules: o.firewallStrictRules === undefined || o.firewallStrictRules === null ? undefined : Boolean(o.firewallStrictRules)
      }))
    })
    this._eventHandler = eventHandler
    this._eventManager = eventManager
    this._options = { unattended: o.unattended }
  }

  _emit (action, id, data) {
    const em = this._eventManager
    if (!em || typeof em.emitCRUD !== 'function') return
    try { em.emitCRUD('machines', action, id, data) } catch { /* swallowed (spec §5.12) */ }
  }

  /** @internal creates the firewall table layout */
  async _initialize () { return call(() => this._n.initialize()) }

  /**
   * @internal attaches the EventHandler to a VM this instance runs. The QMPClient
   * shares the lifecycle's own connection to the socket (one per socket natively),
   * so QEMU still sees a single client. A failure is logged: the VM runs anyway.
   */
  async _attach (vmId, qmpSocketPath) {
    const eh = this._eventHandler
    if (!eh || typeof eh.attachToVM !== 'function' || !qmpSocketPath) return
    if (typeof eh.isAttached === 'function' && eh.isAttached(vmId)) return
    try {
      const client = new QMPClient(qmpSocketPath, { connectTimeout: 5000 })
      await client.connect()
      await eh.attachToVM(vmId, client)
    } catch (e) {
      log.log('warn', `VM ${vmId}: EventHandler not attached: ${e && e.message}`)
    }
  }

  /** @internal */
  async _detach (vmId) {
    const eh = this._eventHandler
    if (!eh || typeof eh.detachFromVM !== 'function') return
    const client = typeof eh.getQMPClient === 'function' ? eh.getQMPClient(vmId) : undefined
    try {
      await eh.detachFromVM(vmId)
      if (client && typeof client.disconnect === 'function') await client.disconnect()
    } catch (e) {
      log.log('warn', `VM ${vmId}: detach: ${e && e.message}`)
    }
  }

  async create (config) {
    if (config === null || typeof config !== 'object') {
      throw new LifecycleError('INVALID_CONFIG', 'Invalid VM configuration: expected an object')
    }
    const installer = config.unattendedInstall ? this._installer(config) : null
    let media = null
    let nativeConfig = config
    if (installer) {
      try {
        media = await installer.generateInstallationISO()
        // Ubuntu: boot a copy of the installer ISO whose GRUB entries pass `autoinstall`
        // (removed with the answer medium); other OSes boot config.isoPath unchanged.
        if (config.isoPath) {
          const isoPath = await installer.prepareInstallerIso(config.isoPath)
          if (isoPath !== config.isoPath) nativeConfig = { ...config, isoPath }
        }
      } catch (e) {
        await installer.cleanupInstallationMedia(null, media)
        throw new LifecycleError('CREATE_FAILED', e && e.message, config.vmId, { cause: { code: e && e.code } })
      }
    }
    let r
    try {
      r = await call(() => this._n.create(nativeConfig, media ?? undefined))
    } catch (e) {
      if (installer) await installer.cleanupInstallationMedia(null, media)
      throw e
    }
    await this._attach(r.vmId, r.qmpSocketPath)
    this._emit('create', r.vmId, { pid: r.pid, tapDevice: r.tapDevice })
    if (installer) {
      r.installationIsoPath = media
      r.installingOS = true
      this._watchInstall(r, installer, media)
    }
    return r
  }

  /** @internal spec §5.5 step 8: the OS check, then the installer (answer media built natively) */
  _installer (config) {
    const ui = config.unattendedInstall
    call(() => native.NativeVmLifecycle.checkUnattendedOs(config.vmId ?? undefined, String(config.os ?? ''), String(ui.os ?? '')))
    const o = this._options.unattended || {}
    // The installer CD (`-cdrom`: ide2-cd0 on q35, ide1-cd0 on pc) is ejected after the
    // installer's first reboot; the answer medium stays (Windows runs its first-logon
    // files from it).
    const installerCd = config.isoPath ? { ejectAfterResets: 1, ejectDevice: native.NativeVmLifecycle.installerCdDevice(config.machineType ?? undefined) } : {}
    const monitorConfig = {
      screenshotPath: path.join(this._n.directories().diskDir, `${config.internalName}-install-failed.png`),
      ...installerCd,
      ...(o.monitorConfig || {})
    }
    try {
      return new UnattendedInstaller({ ...ui, vmId: ui.vmId || config.vmId }, { ...o, monitorConfig })
    } catch (e) {
      throw new LifecycleError('INVALID_CONFIG', e && e.message, config.vmId, { cause: { code: e && e.code, context: e && e.context } })
    }
  }

  /**
   * @internal spec §5.5 step 16, in the background: the install is watched until the
   * installer's final power-off; the media are ejected and removed whatever the
   * outcome; `emitCRUD('machines', 'update', …)` tells the backend.
   */
  _watchInstall (r, installer, media) {
    const eh = this._eventHandler
    const client = (eh && typeof eh.getQMPClient === 'function' && eh.getQMPClient(r.vmId)) || null
    const run = async () => {
      let qmp = client
      if (!qmp) {
        qmp = new QMPClient(r.qmpSocketPath, { connectTimeout: 5000 })
        await qmp.connect()
      }
      return installer.monitorInstallation(qmp, media)
    }
    run().then((result) => {
      if (result.success) {
        log.log(`VM ${r.vmId}: installation complete in ${result.duration} ms`)
        this._emit('update', r.vmId, { type: 'installation_complete', duration: result.duration })
      } else {
        log.log('warn', `VM ${r.vmId}: installation failed: ${result.error && result.error.message}`)
        this._emit('update', r.vmId, { type: 'installation_failed', error: result.error?.message })
      }
    }, (e) => {
      log.log('warn', `VM ${r.vmId}: installation monitoring failed: ${e && e.message}`)
      installer.cleanupInstallationMedia(null, media).catch(() => {})
      this._emit('update', r.vmId, { type: 'installation_failed', error: e && e.message })
    })
  }

  /** `_config` is accepted and ignored (spec). */
  async start (vmId, _config) {
    const { started, ...r } = await call(() => this._n.start(String(vmId)))
    if (started) {
      await this._attach(r.vmId, started.qmpSocketPath)
      this._emit('power_on', r.vmId, { pid: started.pid, tapDevice: started.tapDevice })
    }
    return withTimestamp(r)
  }

  async stop (vmId, config) {
    const c = config || {}
    const r = await call(() => this._n.stop(String(vmId), {
      graceful: c.graceful ?? undefined,
      timeout: c.timeout ?? undefined,
      force: c.force ?? undefined
    }))
    await this._detach(r.vmId)
    if (r.forced !== undefined) this._emit('power_off', r.vmId, { forced: r.forced })
    return withTimestamp(r)
  }

  async destroyResources (vmId) {
    const r = await call(() => this._n.destroyResources(String(vmId)))
    await this._detach(r.vmId)
    return withTimestamp(r)
  }

  /** stop (graceful, forced after 30 s), 2 s, start (spec §5.9, natively); emits power_off and power_on. */
  async restart (vmId) {
    const { stopped, started, ...r } = await call(() => this._n.restart(String(vmId)))
    await this._detach(r.vmId)
    if (stopped && stopped.forced !== undefined) this._emit('power_off', r.vmId, { forced: stopped.forced })
    if (started) {
      await this._attach(r.vmId, started.qmpSocketPath)
      this._emit('power_on', r.vmId, { pid: started.pid, tapDevice: started.tapDevice })
    }
    return withTimestamp(r)
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

  /** @internal rule 8: adopts the VMs that still run, releases the others */
  async _reconcile () { return call(() => this._n.reconcile()) }
}

const NOT_INITIALIZED = 'Infinivirt not initialized. Call initialize() first.'

// The store an Infinivirt config names. A `prismaClient` key that is present but
// empty (null/undefined) names no store: without databaseUrl / sqlitePath (or their
// environment variables) it is refused, so a backend that passes a client before it
// exists never runs on a second, empty embedded database. Only a config without any
// database option opens the embedded default. Either way the choice is logged.
function openStore (c) {
  const given = (v) => typeof v === 'string' && v.length > 0
  const explicit = given(c.databaseUrl) || given(c.sqlitePath) ||
    given(process.env.INFINIVIRT_DATABASE_URL) || given(process.env.INFINIVIRT_SQLITE_PATH)
  const client = c.prismaClient
  if (client !== undefined && client !== null) {
    if (typeof client !== 'object' && typeof client !== 'function') {
      throw new LifecycleError('INVALID_CONFIG', `prismaClient must be a Prisma client or a createStore() adapter, got ${typeof client}`)
    }
    if (nativeStoreOf(client)) {
      flog.log(`using the store passed as prismaClient (${client.location})`)
      return client
    }
    flog.log('using the Prisma client passed as prismaClient')
    return new PrismaAdapter(client)
  }
  if (Object.prototype.hasOwnProperty.call(c, 'prismaClient') && !explicit) {
    throw new LifecycleError('INVALID_CONFIG', 'prismaClient is required in InfinivirtConfig')
  }
  const store = createStore({ databaseUrl: c.databaseUrl ?? undefined, sqlitePath: c.sqlitePath ?? undefined })
  if (explicit) flog.log(`using the store ${store.location}`)
  else flog.log('warn', `no database option given: using the embedded default store ${store.location}`)
  return store
}

class Infinivirt {
  /**
   * config: the spec's InfinivirtConfig. `prismaClient` may be a createStore()
   * adapter; without it the embedded store is opened from `databaseUrl` /
   * `sqlitePath` (or INFINIVIRT_DATABASE_URL / INFINIVIRT_SQLITE_PATH, else the
   * default SQLite file). `qemuBinary`, `firewallPersistenceDir` and the test-only
   * `extraArgs` go to the VMLifecycle. Does no I/O.
   */
  constructor (config = {}) {
    this._config = config || {}
    this._initialized = false
    this._store = null
    this._lifecycle = null
    this._eventHandler = null
    this._healthMonitor = null
    this._nftables = null
    // vmId -> GuestAgentClient: one agent connection per VM, shared by every caller.
    this._agents = new Map()
  }

  /**
   * Opens the store, creates the EventHandler, the HealthMonitor and the firewall
   * table, then re-attaches to every VM that still runs and releases those that do
   * not (before the health monitor's first sweep), then starts the monitor.
   */
  async initialize () {
    if (this._initialized) return
    const c = this._config
    const store = openStore(c)
    const eventHandler = new EventHandler(store, { enableLogging: true, emitCustomEvents: true })
    const lifecycle = new VMLifecycle(store, eventHandler, c.eventManager, {
      diskDir: c.diskDir,
      qmpSocketDir: c.qmpSocketDir,
      pidfileDir: c.pidfileDir,
      qemuBinary: c.qemuBinary,
      extraArgs: c.extraArgs,
      firewallPersistenceDir: c.firewallPersistenceDir,
      firewallStrictRules: c.firewallStrictRules,
      unattended: c.unattended
    })
    const nftables = NftablesService._adopt(lifecycle._n.nftablesService())
    const tapManager = TapDeviceManager._adopt(lifecycle._n.tapManager())
    eventHandler._setCleanupTargets({ tapManager, nftables })
    const healthMonitor = new HealthMonitor(store, {
      checkIntervalMs: c.healthMonitorInterval ?? 30000,
      enableCleanup: true,
      pidfileDir: lifecycle._n.directories().pidfileDir,
      tapManager,
      nftables,
      onCrashDetected: (vmId) => this._crashed(vmId)
    })
    // One journaled write queue for the manager: status writes the event handler
    // and the health monitor could not land survive a restart, in order with the
    // lifecycle's own.
    eventHandler._n.shareWritesWith(lifecycle._n)
    healthMonitor._n.shareWritesWith(lifecycle._n)
    // Exits nobody asked for, pushed by the lifecycle's pidfds (rule 5).
    const self = new WeakRef(this)
    lifecycle._n.setExitHook((json) => {
      const me = self.deref()
      if (!me) return
      const r = JSON.parse(json)
      lifecycle._detach(r.vmId)
      if (r.crashed) me._crashed(r.vmId, r.reason)
    })
    try {
      await lifecycle._initialize()
      const found = await lifecycle._reconcile()
      for (const r of found) {
        if (r.outcome !== 'attached') continue
        await lifecycle._attach(r.vmId, r.qmpSocketPath)
        flog.log(`re-attached to VM ${r.vmId} (PID ${r.pid}, ${r.status})`)
      }
      if (c.autoStartHealthMonitor ?? true) await healthMonitor.start()
    } catch (e) {
      await healthMonitor.stop()
      await eventHandler.detachAll()
      await lifecycle._shutdown()
      throw e
    }
    this._store = store
    this._lifecycle = lifecycle
    this._eventHandler = eventHandler
    this._healthMonitor = healthMonitor
    this._nftables = nftables
    this._initialized = true
  }

  _crashed (vmId, reason) {
    flog.log('warn', `VM ${vmId} stopped unexpectedly${reason ? `: ${reason}` : ''}`)
    const em = this._config.eventManager
    if (!em || typeof em.emitCRUD !== 'function') return
    try { em.emitCRUD('machines', 'crash', vmId) } catch { /* swallowed, as every emitCRUD */ }
  }

  /** Stops the health monitor and lets go of the VMs; they keep running (rule 8). */
  async shutdown () {
    if (this._healthMonitor) await this._healthMonitor.stop()
    const eh = this._eventHandler
    const l = this._lifecycle
    // initialize() sets both or neither.
    if (eh && l) {
      for (const vmId of eh.getAttachedVMs()) await l._detach(vmId)
      await eh.detachAll()
    }
    for (const a of this._agents.values()) await a.disconnect()
    this._agents.clear()
    if (this._lifecycle) await this._lifecycle._shutdown()
    this._initialized = false
  }

  isInitialized () { return this._initialized }

  /** What initialize() made; throws INVALID_STATE before it (or after shutdown). */
  _ready () {
    const { _lifecycle: lifecycle, _eventHandler: eventHandler, _store: store } = this
    if (!this._initialized || !lifecycle || !eventHandler || !store) throw new LifecycleError('INVALID_STATE', NOT_INITIALIZED)
    return { lifecycle, eventHandler, store }
  }

  _require () { return this._ready().lifecycle }

  async createVM (config) {
    return this._require().create(config)
  }

  async startVM (vmId, config) {
    return this._require().start(vmId, config)
  }

  async stopVM (vmId, config) {
    return this._require().stop(vmId, config)
  }

  async destroyVM (vmId) {
    return this._require().destroyResources(vmId)
  }

  async restartVM (vmId) { return this._require().restart(vmId) }
  async suspendVM (vmId) { return this._require().suspend(vmId) }
  async resumeVM (vmId) { return this._require().resume(vmId) }
  async resetVM (vmId) { return this._require().reset(vmId) }
  async getVMStatus (vmId) { return this._require().getStatus(vmId) }

  /** The VMs whose QEMU this manager runs (tracked natively, exits pushed). */
  getActiveVMs () { return this._lifecycle ? this._lifecycle._activeVMs() : [] }

  getPrismaAdapter () {
    this._require()
    return this._store
  }

  getHealthMonitor () { this._require(); return this._healthMonitor }
  getEventHandler () { this._require(); return this._eventHandler }
  getNftablesService () { this._require(); return this._nftables }

  /**
   * Spec §6: attaches the EventHandler to a running VM's QMP socket. Beyond the
   * spec, the VM's QEMU is adopted too (pidfile + identity check), so its exit is
   * pushed and stop/destroy can reach it; a QEMU that cannot be adopted is still
   * attached over QMP, as the original did.
   */
  async attachToRunningVM (vmId, qmpSocketPath) {
    const { lifecycle: l, eventHandler } = this._ready()
    vmId = String(vmId)
    if (eventHandler.isAttached(vmId)) return
    try {
      await call(() => l._n.attachRunning(vmId, String(qmpSocketPath)))
    } catch (e) {
      flog.log('warn', `VM ${vmId}: QEMU not adopted (${e && e.message}); attaching over QMP only`)
    }
    const client = new QMPClient(String(qmpSocketPath))
    await client.connect()
    await eventHandler.attachToVM(vmId, client)
  }

  _clientOf (vmId) {
    const client = this._ready().eventHandler.getQMPClient(String(vmId))
    if (!client) throw new LifecycleError('VM_NOT_FOUND', `VM ${vmId} not found or not running`)
    return client
  }

  /** QMP `eject` over the EventHandler's client of the VM; `force` defaults to true. */
  async ejectCdrom (vmId, device, force = true) {
    await this._clientOf(vmId).eject(device, force)
  }

  /** QMP `query-block` over the EventHandler's client of the VM. */
  async queryBlockDevices (vmId) {
    return this._clientOf(vmId).queryBlock()
  }

  /**
   * The VM's guest agent client, connected: one per VM, shared by every caller (the
   * agent's chardev serves one peer at a time). Without `socketPath` the VM's stored
   * `guestAgentSocketPath` is used.
   */
  async _agent (vmId, socketPath) {
    const { store } = this._ready()
    vmId = String(vmId)
    let p = socketPath
    if (!p) {
      const vm = await store.findMachineWithConfig(vmId)
      if (!vm) throw new LifecycleError('VM_NOT_FOUND', `VM not found: ${vmId}`, vmId)
      p = vm.configuration && vm.configuration.guestAgentSocketPath
      if (!p) {
        throw Object.assign(new Error(`VM ${vmId} has no guest agent channel (guestAgentSocketPath is not set)`), {
          code: 'AGENT_NOT_CONFIGURED',
          vmId
        })
      }
    }
    let client = this._agents.get(vmId)
    if (!client || client.socketPath !== String(p)) {
      if (client) await client.disconnect()
      client = new GuestAgentClient(String(p))
      this._agents.set(vmId, client)
    }
    await client.connect()
    return client
  }

  /**
   * API-next §1.6: runs `command` in the guest through its agent. `guestAgentSocketPath`
   * may be null/undefined: the VM's stored one is used. Output is decoded as UTF-8.
   */
  async guestExec (vmId, guestAgentSocketPath, command, args, options) {
    const client = await this._agent(vmId, guestAgentSocketPath)
    return client.guestExec(command, args, options)
  }

  /**
   * A raw agent command, as libvirt's: `jsonCommand` is `{"execute": …, "arguments"?: …}`
   * text, the result the agent's `{"return": …}` as text. `timeoutSeconds`: -1/-2/absent
   * for the default (30 s), else seconds.
   */
  async qemuAgentCommand (vmId, jsonCommand, timeoutSeconds) {
    const client = await this._agent(vmId)
    return client._commandJson(String(jsonCommand), timeoutSeconds)
  }
}

module.exports = { VMLifecycle, Infinivirt }
