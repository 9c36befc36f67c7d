// @ts-check
'use strict'
// The managers the EventHandler / HealthMonitor cleanup calls (spec §10.2, §10.3):
// the owner's when it passed them (`tapManager`, `nftables`, `cgroups`), else the
// class's own TapDeviceManager, NftablesService (persistence on, as specified) and
// CgroupsManager, made at their first use so a class that never cleans up makes none.

const { TapDeviceManager } = require('../network')
const { NftablesService } = require('../firewall')
const { CgroupsManager } = require('../system')

const OWN = {
  tapManager: () => new TapDeviceManager(),
  nftables: () => new NftablesService(),
  cgroups: () => new CgroupsManager()
}

/**
 * @param {{ tapManager?: unknown, nftables?: unknown, cgroups?: unknown }} config
 * @returns {Record<string, unknown>} a host-targets object with the three managers
 */
function cleanupTargets (config) {
  /** @type {Record<string, unknown>} */
  const targets = {}
  for (const [key, make] of Object.entries(OWN)) {
    const given = /** @type {Record<string, unknown>} */ (config)[key]
    if (given) {
      targets[key] = given
      continue
    }
    /** @type {unknown} */
    let own = null
    Object.defineProperty(targets, key, { enumerable: true, configurable: true, get: () => own ?? (own = make()) })
  }
  return targets
}

/**
 * Puts an owner's managers in place of the own ones (the Infinivirt facade hands its
 * EventHandler the lifecycle's, which exist only after the handler).
 * @param {Record<string, unknown>} targets
 * @param {{ tapManager?: unknown, nftables?: unknown, cgroups?: unknown }} given
 */
function replaceTargets (targets, given) {
  for (const [key, value] of Object.entries(given)) {
    if (value && key in OWN) Object.defineProperty(targets, key, { enumerable: true, configurable: true, writable: true, value })
  }
}

module.exports = { cleanupTargets, replaceTargets }
