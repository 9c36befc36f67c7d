// @ts-check
'use strict'
// QemuCommandBuilder: a fluent JS class over the native builder. Every method
// forwards to the core (which validates and appends) and returns `this`.

const native = require('./native')
const call = require('./errors').callIn('lifecycle')
const { SpiceConfig, VncConfig, NATIVE } = require('./display')

const B = Symbol('infinivirt.builder')

// Forwards `name(...args)` to the native builder and returns `this` for chaining.
function fluent (name) {
  /** @this {QemuCommandBuilder} */
  return function (...args) {
    call(() => this[B][name](...args))
    return this
  }
}

class QemuCommandBuilder {
  constructor () {
    Object.defineProperty(this, B, { value: new native.NativeQemuCommandBuilder() })
  }

  getBinary () { return this[B].getBinary() }
  isDaemonizeEnabled () { return this[B].isDaemonizeEnabled() }
  getPidfilePath () { return this[B].getPidfilePath() ?? null }
  isStrictDisplaySecurity () { return this[B].isStrictDisplaySecurity() }
  isCpuPinningEnabled () { return this[B].isCpuPinningEnabled() }
  getCpuPinningStrategy () { return this[B].getCpuPinningStrategy() }

  addSpice (options, qxlMemoryMB = 16) {
    if (options instanceof SpiceConfig) {
      call(() => this[B].addSpiceConfig(options[NATIVE], qxlMemoryMB))
    } else {
      call(() => this[B].addSpiceOptions(options || {}, qxlMemoryMB))
    }
    return this
  }

  addVnc (options) {
    if (options instanceof VncConfig) {
      call(() => this[B].addVncConfig(options[NATIVE]))
    } else {
      call(() => this[B].addVncOptions(options || {}))
    }
    return this
  }

  build () { return call(() => this[B].build()) }

  buildCommand () {
    const args = this.build()
    return { command: this[B].getBinary(), args }
  }

  async buildCommandWithPinning () {
    const r = call(() => this[B].buildCommandWithPinning())
    return {
      command: r.command,
      args: r.args,
      wrapperCommand: r.wrapperCommand ?? null,
      wrapperArgs: r.wrapperArgs,
      pinningApplied: r.pinningApplied,
      pinnedCores: r.pinnedCores,
      numaNodes: r.numaNodes
    }
  }
}

for (const name of [
  'setBinary', 'setStrictDisplaySecurity', 'enableKvm', 'setMachine', 'setCpu', 'setMemory', 'addDisks',
  'addDisk', 'addNetwork', 'addQmp', 'addCdrom', 'addGpuPassthrough', 'addGpuWithAudio', 'addPciPassthrough',
  'addMemoryBalloon', 'enableHugepages', 'setFirmware', 'setUefiVars', 'setBootOrder', 'addVirtioChannel',
  'addGuestAgentChannel', 'addInfiniServiceChannel', 'addSecondCdrom', 'addAudioDevice', 'addUsbTablet',
  'addUsbKeyboard', 'setProcessOptions', 'addRawArg', 'enableCpuPinning'
]) {
  Object.defineProperty(QemuCommandBuilder.prototype, name, { value: fluent(name), writable: true, configurable: true })
}
// The spec spells it addTPM; napi camel-cases the Rust name to addTpm.
Object.defineProperty(QemuCommandBuilder.prototype, 'addTPM', { value: fluent('addTpm'), writable: true, configurable: true })

module.exports = { QemuCommandBuilder }
