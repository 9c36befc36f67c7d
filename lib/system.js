// @ts-check
'use strict'
// CpuPinningAdapter (API.md §12.1) and CgroupsManager (§13). The work happens in
// Rust (src/lifecycle/pinning.rs, src/system/); this file reshapes results only.

const native = require('./native')
const call = require('./errors').callIn('lifecycle')

const N = Symbol('native')

class CpuPinningAdapter {
  constructor () {
    Object.defineProperty(this, N, { value: new native.NativeCpuPinningAdapter() })
  }

  async generatePinningCommand (vcpuCount, strategy, originalCommand, originalArgs, options) {
    const seed = options && typeof options.seed === 'number' ? options.seed : undefined
    const p = await call(() => this[N].generatePinningCommand(Number(vcpuCount), strategy, seed))
    const r = {
      wrapperCommand: p.wrapperCommand ?? null,
      wrapperArgs: p.wrapperArgs,
      originalCommand,
      originalArgs,
      pinningApplied: p.pinningApplied,
      pinnedCores: p.pinnedCores,
      numaNodes: p.numaNodes
    }
    if (p.hybridSeed !== undefined && p.hybridSeed !== null) r.hybridSeed = p.hybridSeed
    return r
  }

  generateNumactlArgs (cores, nodes) {
    return call(() => this[N].generateNumactlArgs(cores || [], nodes || []))
  }

  async getNumaTopology () {
    const t = await call(() => this[N].getNumaTopology())
    return { nodes: new Map(t.nodes.map((n) => [n.id, n.cpus])), totalCpus: t.totalCpus, isNumaSystem: t.isNumaSystem }
  }

  async isNumactlAvailable () { return call(() => this[N].isNumactlAvailable()) }
  async validateCores (cores) { return call(() => this[N].validateCores(cores || [])) }
  clearCache () { this[N].clearCache() }
}

class CgroupsManager {
  constructor () {
    Object.defineProperty(this, N, { value: new native.NativeCgroupsManager() })
  }

  // Best effort: resolves undefined whatever happens (the reason is logged natively).
  async applyCpuPinning (pid, cores) {
    try {
      await this[N].applyCpuPinning(Number(pid), Array.isArray(cores) ? cores.map(Number) : [])
    } catch (e) {
      // Only an internal native failure lands here; pinning never fails a VM.
      native.debugLog('infinivirt:cgroups-manager:warn', `applyCpuPinning(${typeof pid === 'number' ? pid : typeof pid}) failed: ${e && e.message}`)
    }
  }

  async cleanupEmptyScopes () { return call(() => this[N].cleanupEmptyScopes()) }
  async getHostCpuCount () { return call(() => this[N].getHostCpuCount()) }
  async validateCores (cores) { return call(() => this[N].validateCores(cores || [])) }
}

module.exports = { CpuPinningAdapter, CgroupsManager }
