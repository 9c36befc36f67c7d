// @ts-check
'use strict'
// StateSync (spec §10.1) over any DatabaseAdapter: a createStore() store is used
// natively, any other object (PrismaAdapter, a plain adapter, a mock) is called
// through the host bridge. The logic (mapping, results, queued writes) is native.

const native = require('../native')
const call = require('../errors').callIn('state')
const { makeHost, parse, Registry, nativeStoreOf, Debugger } = require('./host')

const log = new Debugger('state-sync')

class StateSync {
  constructor (db) {
    const store = nativeStoreOf(db)
    const objects = new Registry()
    const host = makeHost({ targets: { db: store ? null : db }, objects: objects.map, log })
    /** @type {Registry} */
    this._objects // declared for the checker (as _n): defined below, non-enumerable
    /** @type {import('../../binding').NativeStateSync} */
    this._n
    Object.defineProperty(this, '_objects', { value: objects })
    Object.defineProperty(this, '_n', { value: call(() => new native.NativeStateSync(store, host)) })
  }

  mapQMPStatusToDBStatus (qmpStatus) {
    return call(() => native.mapQmpStatusToDbStatus(String(qmpStatus)))
  }

  async syncState (vmId, qmpClient) {
    const key = this._objects.put(qmpClient)
    try {
      return parse(await call(() => this._n.syncState(String(vmId), key)))
    } finally {
      this._objects.drop(key)
    }
  }

  async updateVMStatus (vmId, status) { return call(() => this._n.updateVMStatus(String(vmId), String(status))) }
  async getVMStatus (vmId) { return call(() => this._n.getVMStatus(String(vmId))) }
  async getVMPid (vmId) { return call(() => this._n.getVMPid(String(vmId))) }
  async getVMInfo (vmId) { return call(() => this._n.getVMInfo(String(vmId))) }
  async clearVolatileMachineConfiguration (vmId) { return call(() => this._n.clearVolatileMachineConfiguration(String(vmId))) }

  async updateStatusDirect (vmId, newStatus) {
    return parse(await call(() => this._n.updateStatusDirect(String(vmId), String(newStatus))))
  }

  /** Infinivirt addition: status writes queued because the database was unreachable. */
  getPendingWrites () { return this._n.pendingWrites() }
}

module.exports = { StateSync, log }
