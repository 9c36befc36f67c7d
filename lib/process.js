// @ts-check
'use strict'
// QemuProcess: starts the command a QemuCommandBuilder describes, and tracks the
// QEMU it becomes. Spawn, PID adoption, identity checks and the pidfd exit watch
// are native; this class hands over the argv and re-emits the exit.

const { EventEmitter } = require('events')
const native = require('./native')
const { callIn, badArgument } = require('./errors')
const call = callIn('lifecycle')

class QemuProcess extends EventEmitter {
  constructor (vmId, commandBuilder) {
    super()
    const self = new WeakRef(this)
    /** @type {import('../binding').NativeQemuProcess} */
    this._n // declared for the checker; defined below, non-enumerable
    Object.defineProperty(this, '_n', {
      value: call(() => new native.NativeQemuProcess(vmId, (pid) => {
        const me = self.deref()
        if (me) me.emit('exit', { vmId, pid })
      }))
    })
    this.vmId = vmId
    this._builder = commandBuilder
    this._pinning = { applied: false, cores: [], nodes: [] }
  }

  setQmpSocketPath (path) { call(() => this._n.setQmpSocketPath(path)) }
  setPidFilePath (path) {
    call(() => this._n.setPidFilePath(path))
    this._pidfile = path
  }

  async start () {
    const b = this._builder
    if (!b || typeof b.buildCommand !== 'function' || typeof b.isCpuPinningEnabled !== 'function') {
      throw badArgument('lifecycle', 'QemuProcess needs a QemuCommandBuilder')
    }
    const cmd = b.isCpuPinningEnabled()
      ? await b.buildCommandWithPinning()
      : { ...b.buildCommand(), wrapperCommand: null, wrapperArgs: [], pinningApplied: false, pinnedCores: [], numaNodes: [] }
    this._pinning = { applied: cmd.pinningApplied, cores: cmd.pinnedCores, nodes: cmd.numaNodes }
    await call(() => this._n.start({
      binary: cmd.command,
      args: cmd.args,
      wrapperCommand: cmd.wrapperCommand ?? undefined,
      wrapperArgs: cmd.wrapperArgs,
      daemonize: b.isDaemonizeEnabled(),
      pidfile: this._pidfile || b.getPidfilePath() || undefined
    }, this.vmId))
  }

  // Beyond the spec: re-adopt a running QEMU from its pidfile after a manager restart.
  async attach () {
    return (await call(() => this._n.attach())) !== null
  }

  stop (timeoutMs = 30000) { return call(() => this._n.stop(timeoutMs)) }
  forceKill () { return call(() => this._n.forceKill()) }
  waitForExit () { return call(() => this._n.waitForExit()) }
  isAlive () { return this._n.isAlive() }
  getPid () { return this._n.getPid() ?? null }
  isCpuPinningApplied () { return this._pinning.applied }
  getPinnedCores () { return [...this._pinning.cores] }
  getNumaNodes () { return [...this._pinning.nodes] }
}

module.exports = { QemuProcess }
