'use strict'
// Shared pieces of the state tests: a recording DatabaseAdapter mock, a fake QMP
// client, event waits.

const { EventEmitter } = require('node:events')

// A plain DatabaseAdapter over a Map, recording every call in order. `machines`:
// { id: { status, config } } where config is a MachineConfigurationRecord (or null).
function memoryAdapter (machines = {}, { runningFilter = true } = {}) {
  const state = new Map(Object.entries(machines).map(([id, m]) => [id, { status: m.status, config: m.config ?? null }]))
  const calls = []
  const db = {
    state,
    calls,
    down: false,
    fail (name) {
      if (db.down) {
        const e = new Error('connect ECONNREFUSED 127.0.0.1:5432')
        e.code = 'ECONNREFUSED'
        throw e
      }
      void name
    },
    async findMachine (id) {
      calls.push(['findMachine', id])
      db.fail()
      const m = state.get(id)
      return m ? { id, status: m.status } : null
    },
    async updateMachineStatus (id, status) {
      calls.push(['updateMachineStatus', id, status])
      db.fail()
      const m = state.get(id)
      if (m) m.status = status
    },
    async findRunningVMs () {
      calls.push(['findRunningVMs'])
      db.fail()
      return [...state.entries()]
        .filter(([, m]) => !runningFilter || m.status === 'running')
        .map(([id, m]) => ({ id, status: m.status, MachineConfiguration: m.config ? { ...m.config } : null }))
    },
    async clearMachineConfiguration (id) {
      calls.push(['clearMachineConfiguration', id])
      db.fail()
      const m = state.get(id)
      if (m && m.config) Object.assign(m.config, { qemuPid: null, tapDeviceName: null, qmpSocketPath: null })
    },
    async clearVolatileMachineConfiguration (id) {
      calls.push(['clearVolatileMachineConfiguration', id])
      db.fail()
      const m = state.get(id)
      if (m && m.config) Object.assign(m.config, { qemuPid: null, qmpSocketPath: null })
    }
  }
  return db
}

// An EventEmitter standing in for a QMPClient (spec §0.1: on/off/isConnected/queryStatus).
function fakeQmp (status = 'running') {
  const c = new EventEmitter()
  c.connected = true
  c.status = status
  c.isConnected = () => c.connected
  c.queryStatus = async () => ({ status: c.status, running: c.status === 'running' })
  return c
}

function waitFor (emitter, name, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      emitter.off(name, on)
      reject(new Error(`timed out waiting for '${name}'`))
    }, timeoutMs)
    const on = (payload) => {
      clearTimeout(t)
      resolve(payload)
    }
    emitter.once(name, on)
  })
}

// Records every event of `names` on `emitter` as [name, payload].
function record (emitter, names) {
  const seen = []
  for (const n of names) emitter.on(n, (p) => seen.push([n, p]))
  return seen
}

async function until (check, timeoutMs = 5000, stepMs = 10) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
}

const VM_EVENTS = ['vm:shutdown', 'vm:powerdown', 'vm:reset', 'vm:stop', 'vm:resume', 'vm:suspend', 'vm:wakeup',
  'vm:guest_panicked', 'vm:off', 'vm:suspended', 'vm:running', 'vm:error', 'vm:event', 'vm:disconnect', 'vm:cleanup',
  'vm:reconnect']

module.exports = { memoryAdapter, fakeQmp, waitFor, record, until, VM_EVENTS }
