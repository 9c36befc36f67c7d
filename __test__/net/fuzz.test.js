'use strict'
// Every exported function, constructor and method called with arguments of the wrong
// shape (issue 13, item 6): each throw or rejection must be a typed error whose `code`
// is one of the spec's codes (UPPER_SNAKE), never a plain TypeError nor napi's own
// conversion codes (`StringExpected`, …). Runs inside the private network namespace
// of scripts/test-net.sh and a temp working directory: a call that accepts a value
// may touch links, nft or files, but only there.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const api = require('../..')
const netns = require('../helpers/netns')

jest.setTimeout(180000)

// The shapes a caller can get wrong. The string is one no validator accepts (NUL,
// newline, comma, '='), so nothing is created under that name.
const BAD = {
  null: null,
  undefined,
  'Object.create(null)': Object.create(null),
  number: 42,
  string: 'bad\u0000x\n,=',
  array: [1, 'x']
}
const N_ARGS = 5
// Methods whose parameters `.length` does not count (rest or default parameters).
const TAKES_ARGS = {
  QemuCommandBuilder: [
    'setBinary', 'setStrictDisplaySecurity', 'setMachine', 'setCpu', 'setMemory', 'addDisks', 'addDisk', 'addNetwork',
    'addQmp', 'addCdrom', 'addGpuPassthrough', 'addGpuWithAudio', 'addPciPassthrough', 'setFirmware', 'setUefiVars',
    'setBootOrder', 'addVirtioChannel', 'addGuestAgentChannel', 'addInfiniServiceChannel', 'addSecondCdrom',
    'setProcessOptions', 'addRawArg', 'enableCpuPinning', 'addTPM'
  ],
  QemuProcess: ['stop'],
  QMPClient: ['quit'],
  Debugger: ['log']
}
// Error classes and plain predicates take anything by design.
const NOT_CALLED = new Set(['StorageError', 'DisplayError', 'PrismaAdapterError', 'LifecycleError', 'UnattendedError', 'BackupError'])

let dir
let cwd
const factories = {
  QemuCommandBuilder: () => new api.QemuCommandBuilder(),
  QemuProcess: () => new api.QemuProcess('vm-fuzz', new api.QemuCommandBuilder()),
  QMPClient: () => new api.QMPClient(path.join(dir, 'none.sock')),
  GuestAgentClient: () => new api.GuestAgentClient(path.join(dir, 'none-ga.sock'), { connectTimeout: 200, commandTimeout: 200 }),
  BackupService: () => new api.BackupService({ backupRootDir: path.join(dir, 'backups') }),
  CpuPinningAdapter: () => new api.CpuPinningAdapter(),
  TapDeviceManager: () => new api.TapDeviceManager(),
  BridgeManager: () => new api.BridgeManager(),
  NftablesService: () => new api.NftablesService({ persistenceDir: path.join(dir, 'nft') }),
  DepartmentNatService: () => new api.DepartmentNatService(),
  QemuImgService: () => new api.QemuImgService(),
  SnapshotManager: () => new api.SnapshotManager(),
  SpiceConfig: () => new api.SpiceConfig({ port: 5901 }),
  VncConfig: () => new api.VncConfig({ display: 1 }),
  StateSync: () => new api.StateSync(api.createStore({ sqlitePath: path.join(dir, 'db.sqlite') })),
  EventHandler: () => new api.EventHandler(api.createStore({ sqlitePath: path.join(dir, 'db.sqlite') })),
  HealthMonitor: () => new api.HealthMonitor(api.createStore({ sqlitePath: path.join(dir, 'db.sqlite') })),
  PrismaAdapter: () => new api.PrismaAdapter({}),
  CgroupsManager: () => new api.CgroupsManager(),
  CommandExecutor: () => new api.CommandExecutor(),
  Debugger: () => new api.Debugger('fuzz'),
  UnattendedInstaller: () => new api.UnattendedInstaller({ vmId: 'v', os: 'ubuntu', username: 'u', password: 'p' }),
  InstallationMonitor: () => new api.InstallationMonitor(new api.QMPClient(path.join(dir, 'none.sock'))),
  VMLifecycle: () => new api.VMLifecycle(api.createStore({ sqlitePath: path.join(dir, 'db.sqlite') }), null, null, {
    diskDir: path.join(dir, 'd'), qmpSocketDir: path.join(dir, 'q'), pidfileDir: path.join(dir, 'p'), firewallPersistenceDir: path.join(dir, 'nft')
  }),
  Infinivirt: () => new api.Infinivirt({ sqlitePath: path.join(dir, 'db2.sqlite'), diskDir: path.join(dir, 'd'), qmpSocketDir: path.join(dir, 'q'), pidfileDir: path.join(dir, 'p') })
}

// Calls fn(bad) and returns what it threw or rejected with (undefined if it did not).
async function outcome (fn) {
  try {
    const r = fn()
    if (r && typeof r.then === 'function') {
      let timer
      const late = new Promise((resolve) => { timer = setTimeout(() => resolve('pending'), 5000) })
      try {
        await Promise.race([r, late])
      } finally {
        clearTimeout(timer)
      }
    }
  } catch (e) {
    return { e }
  }
  return null
}

function untyped (label, e) {
  const code = e && e.code
  if (e instanceof TypeError || (e && e.name === 'TypeError')) return `${label}: TypeError ${e.message}`
  if (typeof code !== 'string') return `${label}: no code (${e && e.constructor && e.constructor.name}: ${e && e.message})`
  if (!/^[A-Z][A-Z0-9_]*$/.test(code)) return `${label}: code ${code} is not a spec code (${e.message})`
  return null
}

// Every (label, call) pair: functions, static methods, constructors, instance methods.
function calls () {
  const out = []
  for (const [name, v] of Object.entries(api)) {
    if (typeof v !== 'function' || NOT_CALLED.has(name)) continue
    if (!/^[A-Z]/.test(name)) {
      out.push([name, (b) => v(...Array(N_ARGS).fill(b))])
      continue
    }
    out.push([`new ${name}`, (b) => new v(...Array(N_ARGS).fill(b))])
    for (const s of Object.getOwnPropertyNames(v)) {
      if (['length', 'name', 'prototype'].includes(s) || s.startsWith('_') || typeof v[s] !== 'function') continue
      out.push([`${name}.${s}`, (b) => v[s](...Array(N_ARGS).fill(b))])
    }
    const make = factories[name]
    if (!make && v.prototype && Object.getOwnPropertyNames(v.prototype).some((m) => m !== 'constructor' && !m.startsWith('_'))) {
      throw new Error(`no factory for ${name}: add one so its methods are fuzzed`)
    }
    if (!make) continue
    for (const m of Object.getOwnPropertyNames(v.prototype)) {
      if (m === 'constructor' || m.startsWith('_')) continue
      // Getters (BackupService#activeBackupCount) take no argument to get wrong.
      if (typeof Object.getOwnPropertyDescriptor(v.prototype, m).get === 'function') continue
      const takes = (TAKES_ARGS[name] || []).includes(m)
      out.push([`${name}#${m}`, (b) => {
        const inst = make()
        if (inst[m].length === 0 && !takes) return undefined // no parameter to get wrong
        return inst[m](...Array(N_ARGS).fill(b))
      }])
    }
  }
  return out
}

beforeAll(() => {
  netns.assertPrivateNetns()
  process.env.INFINIVIRT_WARNINGS = 'off'
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-fuzz-'))
  cwd = process.cwd()
  process.chdir(dir)
})

afterAll(() => {
  process.chdir(cwd)
  fs.rmSync(dir, { recursive: true, force: true })
})

test('every bad argument gets a typed error with a spec code', async () => {
  const problems = []
  let n = 0
  for (const [label, fn] of calls()) {
    for (const [shape, b] of Object.entries(BAD)) {
      const r = await outcome(() => fn(b))
      n++
      if (r) {
        const p = untyped(`${label}(${shape})`, r.e)
        if (p) problems.push(p)
      }
    }
  }
  expect(n).toBeGreaterThan(1000)
  expect(problems).toEqual([])
})

test('the fuzzed calls that were reported (issue 13) are typed', async () => {
  const typedErr = async (fn) => {
    const r = await outcome(fn)
    expect(r).not.toBeNull()
    expect(r.e.name).not.toBe('TypeError')
    expect(r.e.code).toMatch(/^[A-Z][A-Z0-9_]*$/)
    return r.e
  }
  const sync = factories.StateSync()
  expect((await typedErr(() => sync.getVMStatus(Object.create(null)))).code).toBe('INVALID_INPUT')
  expect((await typedErr(() => api.createStore(null))).code).toBe('INVALID_INPUT')
  expect(await typedErr(() => new api.QemuCommandBuilder().addDisk(undefined))).toBeInstanceOf(api.LifecycleError)
  expect((await typedErr(() => factories.NftablesService().applyRulesIfChanged(Object.create(null), 'x', [], []))).code).toBe('RULE_INVALID')
  expect((await typedErr(() => api.FirewallRuleTranslator.translateDirectionToTokens(Object.create(null), 'x'))).code).toBe('RULE_INVALID')
})
