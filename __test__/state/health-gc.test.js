'use strict'
// A HealthMonitor the caller no longer references (only its listeners do) keeps
// watching: the native side holds the facade weakly, so a collected monitor would
// drop the 'crash' of the VM it watched.

const fs = require('fs')
const os = require('os')
const path = require('path')
const v8 = require('v8')
const vm = require('vm')
const { spawn } = require('child_process')
const { HealthMonitor, createStore } = require('../..')

v8.setFlagsFromString('--expose_gc')
const gc = vm.runInNewContext('gc')

jest.setTimeout(30000)

test('an unreferenced HealthMonitor that watches a VM still reports its crash', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-health-gc-'))
  const db = createStore({ sqlitePath: path.join(tmp, 'state.db') })
  await db.insertRecord('Machine', { id: 'g', name: 'g', internalName: 'vm-g', status: 'running', os: 'ubuntu' })
  const child = spawn('sleep', ['30'], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('spawn', resolve))
  await db.updateMachineConfiguration('g', { qemuPid: child.pid })
  const nftables = { detachJumpRules: async () => {}, removeVMChain: async () => {} }
  const crashed = new Promise((resolve) => {
    // The monitor is reachable only from this closure's scope until it reports.
    new HealthMonitor(db, { pidfileDir: tmp, nftables }).once('crash', resolve).watchVM('g', child.pid)
  })
  for (let i = 0; i < 5; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  child.kill('SIGKILL')
  const timeout = new Promise((resolve) => setTimeout(() => resolve('no crash reported'), 5000).unref())
  const e = await Promise.race([crashed, timeout])
  expect(e).toMatchObject({ vmId: 'g', pid: child.pid })
  expect(await db.findMachine('g')).toEqual({ id: 'g', status: 'off' })
  await db.close()
  fs.rmSync(tmp, { recursive: true, force: true })
})
