// @ts-check
'use strict'
// SpiceConfig / VncConfig: JS classes over the native configs, so that
// `addSpice(x)` can tell a config instance from a plain options object.

const native = require('./native')
const { call } = require('./errors')

const NATIVE = Symbol('infinivirt.native')

function validationResult (r) {
  return { valid: r.valid, errors: r.errors, validationErrors: r.validationErrors }
}

class SpiceConfig {
  constructor (options) {
    Object.defineProperty(this, NATIVE, { value: call(() => new native.NativeSpiceConfig(options || {})) })
  }

  validate () { return validationResult(this[NATIVE].validate()) }
  generateArgs () { return this[NATIVE].generateArgs() }
  getPort () { return this[NATIVE].getPort() }
  getAddr () { return this[NATIVE].getAddr() }
  hasPassword () { return this[NATIVE].hasPassword() }
  isAgentEnabled () { return this[NATIVE].isAgentEnabled() }
}

class VncConfig {
  constructor (options) {
    Object.defineProperty(this, NATIVE, { value: call(() => new native.NativeVncConfig(options || {})) })
  }

  validate () { return validationResult(this[NATIVE].validate()) }
  generateArgs () { return this[NATIVE].generateArgs() }
  getDisplay () { return this[NATIVE].getDisplay() }
  getPort () { return this[NATIVE].getPort() }
  getAddr () { return this[NATIVE].getAddr() }
  hasPassword () { return this[NATIVE].hasPassword() }
  static displayToPort (display) { return call(() => native.vncDisplayToPort(display), 'display-number') }
  static portToDisplay (port) { return call(() => native.vncPortToDisplay(port), 'display-port') }
  static getMaxPasswordLength () { return native.specConstants().VNC_MAX_PASSWORD_LENGTH }
}

function writeDisplaySecretFile (password, dir) {
  return call(() => native.writeDisplaySecretFile(password, dir), 'display-password')
}

module.exports = { SpiceConfig, VncConfig, NATIVE, writeDisplaySecretFile }
