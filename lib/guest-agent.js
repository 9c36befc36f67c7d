// @ts-check
'use strict'
// GuestAgentClient (API-next §1): a thin wrapper over the native client. Sockets,
// resync, deadlines, output caps and errors live in Rust (src/agent/); this file
// only names the commands and decodes exec output. It is its own module, required
// by index.js to get GuestAgentClient, so a test can replace this module by path
// (API-next §0.3).

const native = require('./native')
const { callIn } = require('./errors')

const call = callIn('agent')

const opt = (o, k) => (o && o[k] !== undefined && o[k] !== null ? o[k] : undefined)

class GuestAgentClient {
  /**
   * @param {string} socketPath the host side of the VM's org.qemu.guest_agent.0 channel
   * @param {import('../index').GuestAgentClientOptions | null} [options] connectTimeout
   *   (5000), commandTimeout (30000), maxOutputBytes (16 MiB)
   */
  constructor (socketPath, options = {}) {
    const o = options || {}
    /** @type {import('../binding').NativeGuestAgent} */
    this._n // declared for the checker; defined below, non-enumerable
    Object.defineProperty(this, '_n', {
      value: call(() => new native.NativeGuestAgent(String(socketPath), {
        connectTimeout: opt(o, 'connectTimeout'),
        commandTimeout: opt(o, 'commandTimeout'),
        maxOutputBytes: opt(o, 'maxOutputBytes')
      }))
    })
    Object.defineProperty(this, 'socketPath', { value: String(socketPath), enumerable: true })
  }

  connect () { return call(() => this._n.connect()) }
  async disconnect () { this._n.disconnect() }
  isConnected () { return this._n.isConnected() }

  /** Any agent command; `options.timeout` (ms) overrides the command timeout. */
  execute (command, args, options) {
    return call(() => this._n.execute(command, args ?? undefined, opt(options, 'timeout')))
  }

  /** Runs a program in the guest; stdout/stderr decoded as UTF-8. `options.cwd` is ignored (QGA has none). */
  async guestExec (command, args, options) {
    const r = await this.guestExecRaw(command, args, options)
    return { ...r, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') }
  }

  /** Runs a program in the guest; stdout/stderr as Buffers. */
  async guestExecRaw (command, args, options) {
    const r = await call(() => this._n.exec(command, args ?? undefined, opt(options, 'timeout')))
    const out = { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode }
    if (r.signal !== undefined && r.signal !== null) out.signal = r.signal
    if (r.stdoutTruncated) out.stdoutTruncated = true
    if (r.stderrTruncated) out.stderrTruncated = true
    return out
  }

  fsFreeze () { return call(() => this._n.fsFreeze()) }
  fsThaw () { return call(() => this._n.fsThaw()) }

  // Infinivirt additions: typed commands.
  ping (options) { return call(() => this._n.ping(opt(options, 'timeout'))) }
  info () { return call(() => this._n.info()) }
  getOsInfo () { return call(() => this._n.osInfo()) }
  getHostName () { return call(() => this._n.hostName()) }
  getNetworkInterfaces (options) { return call(() => this._n.networkInterfaces(opt(options, 'timeout'))) }
  getFsInfo () { return call(() => this._n.fsInfo()) }
  fsFreezeStatus () { return call(() => this._n.fsfreezeStatus()) }
  shutdown (mode, options) { return call(() => this._n.shutdown(mode ?? undefined, opt(options, 'timeout'))) }
  setUserPassword (username, password, options) {
    return call(() => this._n.setUserPassword(username, password, opt(options, 'crypted')))
  }

  fileRead (path, options) { return call(() => this._n.fileRead(path, opt(options, 'maxBytes'))) }
  fileWrite (path, data, options) {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    return call(() => this._n.fileWrite(path, buf, opt(options, 'maxBytes')))
  }

  /** @internal qemuAgentCommand: JSON text in, the agent's `{"return": …}` JSON text out. */
  _commandJson (json, timeoutSeconds) {
    return call(() => this._n.commandJson(json, timeoutSeconds ?? undefined))
  }
}

module.exports = { GuestAgentClient }
