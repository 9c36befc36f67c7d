// @ts-check
'use strict'
// InstallationMonitor (spec §14.2): watches an unattended installation through the
// VM's QMPClient. The decisions (phases, completion rule, reset limit, timeout) are the
// native state machine's (src/unattended/monitor.rs); this class feeds it QMP events
// and clock readings, owns the timers and the client listeners, and reports outputs
// as events. start() resolves with the result and never rejects once it has started.

const { EventEmitter } = require('events')
const { performance } = require('perf_hooks')
const native = require('./native')
const { callIn, adopt, UnattendedError } = require('./errors')
const call = callIn('unattended')
const { Debugger } = require('./utils')

const log = new Debugger('installation-monitor')
// How long a failure waits for its screenshot before reporting without one.
const SCREENSHOT_TIMEOUT_MS = 5000
// The client events the monitor listens to (spec §14.2).
const CLIENT_EVENTS = ['SHUTDOWN', 'RESET', 'POWERDOWN', 'disconnect']

// JS options → native options: non-numbers become NaN so the core rejects them by name.
function nativeConfig (config) {
  const c = config && typeof config === 'object' ? config : {}
  const num = (v) => (v === undefined || v === null ? undefined : typeof v === 'number' ? v : NaN)
  return {
    timeout: num(c.timeout),
    maxResets: num(c.maxResets),
    checkInterval: num(c.checkInterval),
    minInstallTime: num(c.minInstallTime),
    expectedReboots: num(c.expectedReboots),
    ejectAfterResets: num(c.ejectAfterResets),
    ejectDevice: c.ejectDevice === undefined || c.ejectDevice === null ? undefined : String(c.ejectDevice)
  }
}

function fromWire (w) {
  const f = (w && w.fields) || {}
  return new UnattendedError(w.code, w.message, undefined, f.vmId, f.context)
}

const copyPhase = (p) => ({ ...p, timestamp: new Date(p.timestamp.getTime()) })

class InstallationMonitor extends EventEmitter {
  /**
   * @param qmpClient the VM's connected QMPClient
   * @param config spec MonitorConfig plus minInstallTime, expectedReboots, ejectAfterResets,
   *   ejectDevice and screenshotPath (README, "Installation monitor")
   */
  constructor (qmpClient, config = {}) {
    super()
    const n = call(() => new native.NativeInstallMonitor(nativeConfig(config)))
    /** @type {import('../binding').NativeInstallMonitor} */
    this._n // declared for the checker; defined below, non-enumerable
    Object.defineProperty(this, '_n', { value: n })
    this._client = qmpClient
    const shot = config && config.screenshotPath
    this._screenshotPath = typeof shot === 'string' && shot.length > 0 ? shot : undefined
    this._phases = []
    this._t0 = null
    this._duration = null
    this._listeners = []
    this._deadline = null
    this._interval = null
    this._resolve = null
  }

  start () {
    let out
    try {
      const connected = !!(this._client && typeof this._client.isConnected === 'function' && this._client.isConnected())
      out = this._n.start(connected)
    } catch (e) {
      return Promise.reject(adopt(e))
    }
    const cfg = this._n.config()
    this._phases = []
    this._t0 = performance.now()
    this._duration = null
    const promise = new Promise((resolve) => { this._resolve = resolve })
    for (const name of CLIENT_EVENTS) {
      const fn = (data) => this._input(name, data)
      this._client.on(name, fn)
      this._listeners.push([name, fn])
    }
    // The deadline keeps the process alive while an installation is watched (the
    // pending promise alone would not); the periodic check does not need to.
    this._deadline = setTimeout(() => this._input('deadline'), cfg.timeout)
    this._interval = setInterval(() => this._input('tick'), cfg.checkInterval)
    this._interval.unref()
    log.log(`monitoring: timeout ${cfg.timeout}ms, maxResets ${cfg.maxResets}, minInstallTime ${cfg.minInstallTime}ms, expectedReboots ${cfg.expectedReboots}`)
    this._apply(out)
    return promise
  }

  /** Detaches from the client and clears the timers; a running start() resolves with MONITORING_ERROR. */
  stop () {
    if (this._listeners.length > 0) this._input('stop')
    this._detach()
  }

  isRunning () { return this._n.isRunning() }
  getCurrentPhase () { return this._n.phase() }
  getPhases () { return this._phases.map(copyPhase) }
  /** Counted guest reboots of the current (or last) run. */
  getResetCount () { return this._n.resetCount() }

  getElapsedTime () {
    if (this._t0 === null) return 0
    return this._duration ?? this._elapsed()
  }

  _elapsed () { return Math.round(performance.now() - (this._t0 ?? 0)) }

  _input (name, data) {
    const d = data && typeof data === 'object' ? data : {}
    const guest = typeof d.guest === 'boolean' ? d.guest : undefined
    const reason = typeof d.reason === 'string' ? d.reason : undefined
    this._apply(this._n.handle(name, this._elapsed(), guest, reason))
  }

  _apply (outputs) {
    for (const o of outputs) {
      switch (o.kind) {
        case 'progress':
          this._phase({ phase: o.phase, message: o.message, timestamp: new Date() })
          break
        case 'timeout-check':
          this._emit('timeout-check', { elapsed: o.elapsed, remaining: o.remaining, percentComplete: o.percentComplete })
          break
        case 'eject':
          this._eject(o.device)
          break
        case 'note':
          log.log(o.message)
          break
        case 'warning':
          log.log('warn', o.message)
          break
        case 'completed':
          this._finish({ success: true }, undefined)
          break
        case 'failed': {
          const error = fromWire(o.error)
          this._phase({ phase: 'failed', message: error.message, timestamp: new Date(), error })
          this._finish({ success: false }, error)
          break
        }
      }
    }
  }

  _phase (p) {
    this._phases.push(p)
    this._emit('progress', copyPhase(p))
  }

  _eject (device) {
    this._client.eject(device, true).then(() => {
      log.log(`install media ejected from ${device}`)
      this._emit('media-ejected', { device })
    }, (e) => {
      log.log('warn', `eject of ${device} failed: ${e && e.message}`)
    })
  }

  _detach () {
    for (const [name, fn] of this._listeners) this._client.removeListener(name, fn)
    this._listeners = []
    if (this._deadline) clearTimeout(this._deadline)
    if (this._interval) clearInterval(this._interval)
    this._deadline = null
    this._interval = null
  }

  // Stops watching at once, then reports (after the screenshot of a failure).
  _finish ({ success }, error) {
    this._duration = this._elapsed()
    this._detach()
    const resolve = this._resolve
    this._resolve = null
    const result = { success, isoPath: '', duration: this._duration, phases: this.getPhases(), resetCount: this._n.resetCount() }
    if (error) result.error = error
    const shot = error ? this._screenshot(error) : Promise.resolve(undefined)
    shot.then((file) => {
      if (file) result.screenshotPath = file
    }, (e) => {
      log.log('warn', `no screenshot: ${e && e.message}`)
    }).finally(() => this._report(result, resolve))
  }

  _report (result, resolve) {
    const { success, error } = result
    this._n.finish()
    if (!success) {
      // Spec §19 #9: 'error' without a listener would throw from a timer or QMP callback.
      if (this.listenerCount('error') > 0) this._emit('error', error)
      else log.log('error', `installation failed: ${error.message}`)
    } else {
      log.log(`installation completed after ${result.duration}ms and ${result.resetCount} reboot(s)`)
    }
    this._emit('complete', result)
    if (resolve) resolve(result)
  }

  // Keeps the screen of a failed installation, when the VM is still there to show it.
  async _screenshot (error) {
    const file = this._screenshotPath
    if (!file || error.code === 'MONITORING_ERROR') return undefined
    if (!this._client.isConnected()) {
      log.log('warn', `no screenshot: the QMP connection is gone (${error.code})`)
      return undefined
    }
    let timer
    const late = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`screendump took longer than ${SCREENSHOT_TIMEOUT_MS}ms`)), SCREENSHOT_TIMEOUT_MS)
    })
    try {
      await Promise.race([this._client.screendump(file), late])
      log.log(`screenshot of the failed installation: ${file}`)
      return file
    } catch (e) {
      log.log('warn', `no screenshot: ${e && e.message}`)
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }

  // A throwing listener must not break the monitor or escape from a timer: log it.
  _emit (name, arg) {
    try {
      this.emit(name, arg)
    } catch (e) {
      log.log('error', `'${name}' listener failed: ${e && e.message}`)
    }
  }
}

// For UnattendedInstaller: a suggested `{ minInstallTime, expectedReboots }` for an OSType.
function completionDefaults (os) {
  return native.installCompletionDefaults(String(os))
}

module.exports = { InstallationMonitor, completionDefaults }
