// @ts-check
'use strict'
// QMPClient: an EventEmitter over the native client. Sockets, ids, timeouts and
// reconnects live in Rust; this file re-emits notices and names the commands.

const { EventEmitter } = require('events')
const native = require('./native')
const call = require('./errors').callIn('qmp')
const { Debugger } = require('./utils')

const log = new Debugger('qmp-client')
// Errors QEMU's going away produces; quit() treats them as success (spec §4.4).
const GONE = new Set(['EAGAIN', 'ECONNREFUSED', 'ENOENT', 'EPIPE', 'ENOTCONN', 'QMP_CONNECTION_CLOSED', 'QMP_NOT_CONNECTED'])

class QMPClient extends EventEmitter {
  constructor (socketPath, options = {}) {
    super()
    // The native side holds the notice callback; a WeakRef keeps it from pinning `this`.
    const self = new WeakRef(this)
    /** @type {import('../binding').NativeQmpClient} */
    this._n // declared for the checker; defined below, non-enumerable
    Object.defineProperty(this, '_n', {
      value: call(() => new native.NativeQmpClient(socketPath, options, (json) => {
        const me = self.deref()
        if (me) me._notice(json)
      }))
    })
  }

  _notice (json) {
    const n = JSON.parse(json)
    if (n.type === 'event') {
      const ev = n.event
      this._safeEmit(ev.event, ev.data, ev.timestamp)
      this._safeEmit('event', ev)
    } else {
      this._safeEmit(n.type)
    }
  }

  // A throwing listener must not break the connection (spec §4.1): log and go on.
  _safeEmit (...args) {
    try {
      this.emit(args[0], ...args.slice(1))
    } catch (e) {
      log.log('error', `'${args[0]}' listener failed: ${e && e.message}`)
    }
  }

  connect () { return call(() => this._n.connect()) }
  disconnect () { return call(() => this._n.disconnect()) }
  isConnected () { return this._n.isConnected() }
  getGreeting () { return this._n.getGreeting() ?? null }
  execute (command, args) { return call(() => this._n.execute(command, args)) }

  queryStatus () { return this.execute('query-status') }
  async powerdown () { await this.execute('system_powerdown') }
  async reset () { await this.execute('system_reset') }
  async stop () { await this.execute('stop') }
  async cont () { await this.execute('cont') }

  async quit (options = {}) {
    try {
      await this.execute('quit')
    } catch (e) {
      if (GONE.has(e && e.code) || options.ignoreErrors) return
      throw e
    }
  }

  async eject (device, force) {
    const args = { device }
    if (force !== undefined) args.force = force
    await this.execute('eject', args)
  }

  queryCpus () { return this.execute('query-cpus-fast') }
  queryBlock () { return this.execute('query-block') }
  async balloon (value) { await this.execute('balloon', { value }) }
  queryBalloon () { return this.execute('query-balloon') }

  // Beyond the spec: commands the backend needs for consoles, media and disks.
  queryVnc () { return this.execute('query-vnc') }
  querySpice () { return this.execute('query-spice') }
  queryMemorySizeSummary () { return this.execute('query-memory-size-summary') }
  async screendump (filename, options = {}) {
    await this.execute('screendump', { filename, format: 'png', ...options })
  }

  async setPassword (protocol, password, options = {}) {
    await this.execute('set_password', { protocol, password, ...options })
  }

  async blockdevChangeMedium (device, filename, format) {
    const args = { id: device, filename }
    if (format !== undefined) args.format = format
    await this.execute('blockdev-change-medium', args)
  }

  humanMonitorCommand (commandLine) {
    return this.execute('human-monitor-command', { 'command-line': commandLine })
  }

  async blockdevSnapshotInternalSync (device, name) {
    await this.execute('blockdev-snapshot-internal-sync', { device, name })
  }

  async blockdevSnapshotDeleteInternalSync (device, name) {
    await this.execute('blockdev-snapshot-delete-internal-sync', { device, name })
  }

  async blockResize (device, size) {
    await this.execute('block_resize', { device, size })
  }
}

module.exports = { QMPClient }
