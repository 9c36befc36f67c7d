// @ts-check
'use strict'
// TapDeviceManager and BridgeManager (API.md §8.1, §8.2). Everything happens
// natively over netlink and the TUN/ethtool ioctls (no `ip` or `ethtool` process);
// this file only names the methods. Every method is async, as in the spec.

const native = require('./native')
const call = require('./errors').callIn('network')

class TapDeviceManager {
  // Infinivirt addition: `options.orphanGraceMs` (default 30000) and
  // `options.sweepOnCreate` (default false); see COMPATIBILITY.md.
  constructor (options) {
    /** @type {import('../binding').NativeTapManager} */
    this._n // declared for the checker; defined below, non-enumerable
    Object.defineProperty(this, '_n', { value: call(() => new native.NativeTapManager(options || undefined)) })
  }

  /** @internal a facade over a native manager owned elsewhere (the lifecycle's) */
  static _adopt (n) {
    const m = Object.create(TapDeviceManager.prototype)
    Object.defineProperty(m, '_n', { value: n })
    return m
  }

  // Infinivirt addition: `options.queues`, the queue count QEMU will open the TAP
  // with (`addNetwork`'s `queues`); above 1 the TAP is made multi-queue.
  async create (vmId, bridge, options) { return call(() => this._n.create(vmId, bridge, options || undefined)) }
  async configure (tapName, bridge) { return call(() => this._n.configure(tapName, bridge)) }
  async destroy (tapName) { return call(() => this._n.destroy(tapName)) }
  async bringDown (tapName) { return call(() => this._n.bringDown(tapName)) }
  async detachFromBridge (tapName) { return call(() => this._n.detachFromBridge(tapName)) }
  // Infinivirt addition: with `vmId`, refuses a TAP that carries another VM's tag.
  async attachToBridge (tapName, bridge, vmId) { return call(() => this._n.attachToBridge(tapName, bridge, vmId)) }
  async exists (tapName) { return call(() => this._n.exists(tapName)) }
  async hasCarrier (tapName) { return call(() => this._n.hasCarrier(tapName)) }
  async listAllTapDevices () { return call(() => this._n.listAllTapDevices()) }
  async isOrphaned (tapName) { return call(() => this._n.isOrphaned(tapName)) }
  async cleanupOrphanedTapDevices () { return call(() => this._n.cleanupOrphanedTapDevices()) }
  async getDeviceState (tapName) { return call(() => this._n.getDeviceState(tapName)) }
}

class BridgeManager {
  async exists (name) { return call(() => native.bridgeExists(name)) }
  async create (name) { return call(() => native.bridgeCreate(name)) }
  async destroy (name) { return call(() => native.bridgeDestroy(name)) }
  async addInterface (bridge, iface) { return call(() => native.bridgeAddInterface(bridge, iface)) }
  async removeInterface (bridge, iface) { return call(() => native.bridgeRemoveInterface(bridge, iface)) }
  async listInterfaces (bridge) { return call(() => native.bridgeListInterfaces(bridge)) }
  async assignIP (bridge, ipWithCidr) { return call(() => native.bridgeAssignIp(bridge, ipWithCidr)) }
  async removeIP (bridge, ipWithCidr) { return call(() => native.bridgeRemoveIp(bridge, ipWithCidr)) }
  async getIPs (bridge) { return call(() => native.bridgeGetIps(bridge)) }
}

module.exports = { TapDeviceManager, BridgeManager }
