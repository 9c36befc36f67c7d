// @ts-check
'use strict'
// FirewallRuleTranslator, NftablesService (with its NftablesPersistence) and
// DepartmentNatService (API.md §8.4–§8.7). Validation, merging, rendering, the nft
// transactions, persistence and NAT are native; this file names the methods, turns
// timestamps into Dates and makes every async method reject instead of throwing.

const native = require('./native')
const call = require('./errors').callIn('firewall')

// Strings stay strings, null/undefined stay absent, anything else is stringified
// (the original concatenated such values into its nft commands).
function str (v) {
  if (v === undefined || v === null) return undefined
  return typeof v === 'string' ? v : String(v)
}

function num (v) {
  if (v === undefined || v === null) return undefined
  return typeof v === 'number' ? v : Number(v)
}

function list (v) {
  return Array.isArray(v) ? v : (v === undefined || v === null ? [] : v)
}

function persistenceResult (r) {
  const out = { success: r.success, filePath: r.filePath, timestamp: new Date(r.timestamp) }
  if (r.error !== undefined && r.error !== null) out.error = r.error
  return out
}

function restoreResult (r) {
  const out = { success: r.success, rulesLoaded: r.rulesLoaded, timestamp: new Date(r.timestamp) }
  if (r.error !== undefined && r.error !== null) out.error = r.error
  return out
}

class FirewallRuleTranslator {
  static translateToTokens (rule, tapDeviceName) {
    return call(() => native.fwTranslateToTokens(rule, str(tapDeviceName)))
  }

  static translateDirectionToTokens (direction, tapDeviceName) {
    return call(() => native.fwTranslateDirection(str(direction), str(tapDeviceName)))
  }

  static translateProtocolToTokens (protocol) {
    return call(() => native.fwTranslateProtocol(str(protocol)))
  }

  static translatePortsToTokens (protocol, srcPortStart, srcPortEnd, dstPortStart, dstPortEnd) {
    return call(() => native.fwTranslatePorts(str(protocol), num(srcPortStart), num(srcPortEnd), num(dstPortStart), num(dstPortEnd)))
  }

  static translateIpAddressesToTokens (srcIpAddr, srcIpMask, dstIpAddr, dstIpMask) {
    return call(() => native.fwTranslateAddresses(str(srcIpAddr), str(srcIpMask), str(dstIpAddr), str(dstIpMask)))
  }

  static translateConnectionStateToTokens (connectionState) {
    return call(() => native.fwTranslateStates(connectionState === null ? undefined : connectionState))
  }

  static translateAction (action) {
    return call(() => String(action).toLowerCase())
  }

  static validateRule (rule) {
    call(() => native.fwValidateRule(rule))
  }

  static isValidIpAddress (ip) {
    return typeof ip === 'string' && native.fwIsValidIpAddress(ip)
  }

  static isValidCidr (cidr) {
    return typeof cidr === 'string' && native.fwIsValidCidr(cidr)
  }

  static isValidSubnetMask (mask) {
    return typeof mask === 'string' && native.fwIsValidSubnetMask(mask)
  }
}

// Saves and restores the firewall tables (API.md §8.6). Not exported at runtime;
// NftablesService.getPersistence() returns one configured like the service.
class NftablesPersistence {
  constructor (config) {
    const c = config || {}
    /** @type {import('../binding').NativeNftablesPersistence} */
    this._n // declared for the checker; defined below, non-enumerable
    Object.defineProperty(this, '_n', {
      value: call(() => new native.NativeNftablesPersistence({
        persistenceDir: str(c.persistenceDir),
        createBackup: c.createBackup,
        useLocking: c.useLocking
      }))
    })
  }

  async exportToDisk () { return persistenceResult(await call(() => this._n.exportToDisk())) }
  async restoreFromDisk () { return restoreResult(await call(() => this._n.restoreFromDisk())) }
  async hasPersistenceFile () { return call(() => this._n.hasPersistenceFile()) }
  async removePersistenceFile () { return call(() => this._n.removePersistenceFile()) }
  async rollbackToBackup () { return restoreResult(await call(() => this._n.rollbackToBackup())) }

  async getStatus () {
    const s = await call(() => this._n.getStatus())
    const out = {
      persistenceDir: s.persistenceDir,
      mainFileExists: s.mainFileExists,
      backupFileExists: s.backupFileExists
    }
    if (s.mainFileModified !== undefined && s.mainFileModified !== null) out.mainFileModified = new Date(s.mainFileModified)
    out.tableExists = s.tableExists
    return out
  }
}

class NftablesService {
  // config: { enablePersistence?, persistenceDir?, createBackup?, useLocking?, defaultPolicy?, strictRules? }
  constructor (config) {
    const c = config || {}
    /** @type {import('../binding').NativeNftablesService} */
    this._n // declared for the checker; defined below, non-enumerable
    /** @type {NftablesPersistence | null} */
    this._persistence
    Object.defineProperty(this, '_n', {
      value: call(() => new native.NativeNftablesService({
        enablePersistence: c.enablePersistence,
        persistenceDir: str(c.persistenceDir),
        createBackup: c.createBackup,
        useLocking: c.useLocking,
        defaultPolicy: str(c.defaultPolicy),
        strictRules: c.strictRules === undefined || c.strictRules === null ? undefined : Boolean(c.strictRules)
      }))
    })
    Object.defineProperty(this, '_persistence', { value: null, writable: true })
  }

  /** @internal a facade over a native service owned elsewhere (the lifecycle's) */
  static _adopt (n) {
    const s = Object.create(NftablesService.prototype)
    Object.defineProperty(s, '_n', { value: n })
    Object.defineProperty(s, '_persistence', { value: null, writable: true })
    return s
  }

  async initialize () { return call(() => this._n.initialize()) }
  async createVMChain (vmId, tapDeviceName) { return call(() => this._n.createVmChain(vmId, str(tapDeviceName))) }

  async applyRules (vmId, tapDeviceName, departmentRules, vmRules) {
    return call(() => this._n.applyRules(vmId, str(tapDeviceName), list(departmentRules), list(vmRules)))
  }

  async removeVMChain (vmId) { return call(() => this._n.removeVmChain(vmId)) }
  async flushVMRules (vmId) { return call(() => this._n.flushVmRules(vmId)) }
  async listChains () { return call(() => this._n.listChains()) }
  async chainExists (chainName) { return call(() => this._n.chainExists(str(chainName))) }
  async ensureVMChain (vmId) { return call(() => this._n.ensureVmChain(vmId)) }
  async attachJumpRules (vmId, tapDeviceName) { return call(() => this._n.attachJumpRules(vmId, str(tapDeviceName))) }
  async detachJumpRules (vmId) { return call(() => this._n.detachJumpRules(vmId)) }

  async applyRulesIfChanged (vmId, tapDeviceName, departmentRules, vmRules) {
    const r = await call(() => this._n.applyRulesIfChanged(vmId, str(tapDeviceName), list(departmentRules), list(vmRules)))
    return r.changed ? { changed: true, result: r.result } : { changed: false }
  }

  clearRulesCache (vmId) { call(() => this._n.clearRulesCache(String(vmId))) }

  getPersistence () {
    if (!this._persistence) this._persistence = new NftablesPersistence(this._n.persistenceConfig())
    return this._persistence
  }

  async forcePersist () {
    try {
      const r = await call(() => this._n.exportToDisk())
      return r.success ? { success: true } : { success: false, error: r.error }
    } catch (e) {
      return { success: false, error: e && e.message }
    }
  }

  // Beyond the spec (COMPATIBILITY.md): what the kernel can do and which fallback is used.
  async getCapabilities () { return call(() => this._n.capabilities()) }

  // Beyond the spec: compares the kernel's rules for a VM with the plan of the given
  // rules, or with what this instance last applied when no rules are given.
  async verifyVM (vmId, tapDeviceName, departmentRules, vmRules) {
    if (tapDeviceName === undefined || tapDeviceName === null) return call(() => this._n.verifyVm(vmId))
    return call(() => this._n.verifyVm(vmId, str(tapDeviceName), list(departmentRules), list(vmRules)))
  }

  // Beyond the spec: which rule decides a packet ({ protocol, srcIp, dstIp, srcPort?,
  // dstPort?, direction: 'IN' | 'OUT', state?, peerInterface? }) and why.
  async explain (vmId, packet) {
    const p = packet || {}
    return call(() => this._n.explain(vmId, {
      protocol: str(p.protocol),
      srcIp: str(p.srcIp),
      dstIp: str(p.dstIp),
      srcPort: num(p.srcPort),
      dstPort: num(p.dstPort),
      direction: str(p.direction),
      state: str(p.state),
      peerInterface: str(p.peerInterface)
    }))
  }
}

class DepartmentNatService {
  constructor () {
    /** @type {import('../binding').NativeDepartmentNat} */
    this._n // declared for the checker; defined below, non-enumerable
    Object.defineProperty(this, '_n', { value: new native.NativeDepartmentNat() })
  }

  async initialize () { return call(() => this._n.initialize()) }
  async addMasquerade (subnet, bridgeName) { return call(() => this._n.addMasquerade(str(subnet), str(bridgeName))) }
  async removeMasquerade (bridgeName) { return call(() => this._n.removeMasquerade(str(bridgeName))) }
  async hasMasquerade (bridgeName) { return call(() => this._n.hasMasquerade(str(bridgeName))) }
  async listMasqueradeRules () { return call(() => this._n.listMasqueradeRules()) }
}

module.exports = { FirewallRuleTranslator, NftablesService, NftablesPersistence, DepartmentNatService }
