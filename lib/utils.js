// @ts-check
'use strict'
// Small stateless exports: PCI helpers, MAC generator, chain names, Debugger, CommandExecutor.

const native = require('./native')
const { call } = require('./errors')

const C = native.specConstants()
const PCI_ADDRESS_REGEX = new RegExp(C.PCI_ADDRESS_PATTERN)

function validatePciAddress (address) {
  if (typeof address !== 'string' || address.length === 0) {
    return { valid: false, error: 'PCI address must be a non-empty string' }
  }
  return native.validatePciAddress(address)
}

function normalizePciAddress (address) {
  return call(() => native.normalizePciAddress(typeof address === 'string' ? address : ''), 'lifecycle')
}

function generateVMChainName (vmId) {
  return call(() => native.generateVmChainName(vmId), 'firewall')
}

class MacAddressGenerator {
  static generate () { return native.macGenerate() }
  static generateFromVmId (vmId) { return call(() => native.macGenerateFromVmId(vmId), 'network') }
  static validate (mac) { return typeof mac === 'string' && native.macValidate(mac) }
  static isQemuMac (mac) { return typeof mac === 'string' && native.macIsQemu(mac) }
}

// Logger with `debug`-package namespaces: log(msg) → infinivirt:<module>,
// log(level, msg) → infinivirt:<module>:<level>; other arities are ignored.
class Debugger {
  constructor (module) {
    this.module = module
  }

  log (...args) {
    if (args.length === 1) {
      native.debugLog(`infinivirt:${this.module}`, String(args[0]))
    } else if (args.length === 2) {
      native.debugLog(`infinivirt:${this.module}:${args[0]}`, String(args[1]))
    }
  }
}

// Runs a host command from an argv (never a shell) and resolves its stdout.
class CommandExecutor {
  execute (command, args) {
    return call(() => native.execHost(command, args || []), 'exec')
  }
}

module.exports = {
  PCI_ADDRESS_REGEX,
  validatePciAddress,
  normalizePciAddress,
  generateVMChainName,
  MacAddressGenerator,
  Debugger,
  CommandExecutor
}
