// @ts-check
'use strict'
// createStore(): a DatabaseAdapter implemented natively (PostgreSQL through sqlx on
// the backend's tables, or the embedded SQLite database). Passed to StateSync,
// EventHandler or HealthMonitor it is used directly from Rust: no JS round trip per
// query. Errors are PrismaAdapterErrors with the spec's codes and messages.

const native = require('../native')
const call = require('../errors').callIn('state')
const { NativeStoreHandle } = require('./host')

class NativeStoreAdapter {
  constructor (options = {}) {
    const n = call(() => new native.NativeStore({
      databaseUrl: options.databaseUrl ?? undefined,
      sqlitePath: options.sqlitePath ?? undefined
    }))
    Object.defineProperty(this, NativeStoreHandle, { value: n })
    /** @type {import('../../binding').NativeStore} */
    this._n // declared for the checker; defined below, non-enumerable
    Object.defineProperty(this, '_n', { value: n })
  }

  /** 'postgres' or 'sqlite'. */
  get kind () { return this._n.kind }

  /** Where the store is, for logs: `sqlite <path>` or `postgres <url>` (password masked). */
  get location () { return this._n.location }

  async findMachine (id) { return call(() => this._n.findMachine(String(id))) }
  async updateMachineStatus (id, status) { return call(() => this._n.updateMachineStatus(String(id), String(status))) }
  async findRunningVMs () { return call(() => this._n.findRunningVMs()) }
  async clearMachineConfiguration (machineId) { return call(() => this._n.clearMachineConfiguration(String(machineId))) }
  async clearVolatileMachineConfiguration (machineId) { return call(() => this._n.clearVolatileMachineConfiguration(String(machineId))) }
  async findMachineWithConfig (id) { return call(() => this._n.findMachineWithConfig(String(id))) }
  async updateMachineConfiguration (machineId, config) {
    return call(() => this._n.updateMachineConfiguration(machineId == null ? '' : String(machineId), config ?? {}))
  }

  async transitionVMStatus (machineId, expectedStatus, newStatus, expectedVersion) {
    return call(() => this._n.transitionVMStatus(String(machineId), String(expectedStatus), String(newStatus), Number(expectedVersion)))
  }

  async getFirewallRules (vmId) { return call(() => this._n.getFirewallRules(String(vmId))) }
  async getFirewallRuleSetId (vmId) { return call(() => this._n.getFirewallRuleSetId(String(vmId))) }
  async getMachineInternalName (id) { return call(() => this._n.getMachineInternalName(String(id))) }
  async getMachineDiskPath (id) { return call(() => this._n.getMachineDiskPath(String(id))) }

  /** Inserts one row ('Machine', 'MachineConfiguration', 'Department', 'FirewallRuleSet', 'FirewallRule'); resolves its id. */
  async insertRecord (model, data) { return call(() => this._n.insertRecord(String(model), data ?? {})) }

  /** Closes the pooled connections. */
  async close () { return call(() => this._n.close()) }
}

function createStore (options = {}) {
  return new NativeStoreAdapter(options)
}

module.exports = { createStore, NativeStoreAdapter }
