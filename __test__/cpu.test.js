'use strict'
// CpuPinningAdapter (API.md §12) and CgroupsManager (§13) through the public entry,
// against this host: its /sys topology, the real numactl, and a real cpuset cgroup
// placement of a process this test spawns (and kills, by its PID) itself.

const fs = require('fs')
const os = require('os')
const path = require('path')
const { spawn } = require('child_process')
const api = require('..')
const { CpuPinningAdapter, CgroupsManager } = api

jest.setTimeout(30000)

const children = new Set()

afterAll(() => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  }
})

function spawnTracked (cmd, args) {
  const c = spawn(cmd, args, { stdio: 'ignore' })
  children.add(c)
  return c
}

function exited (child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

function spawned (child) {
  return new Promise((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', reject)
  })
}

function statusField (pid, field) {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(field + ':'))
  return line ? line.slice(field.length + 1).trim() : undefined
}

/** Waits (bounded) until `pid` runs `comm`: numactl has exec'd its command. */
async function waitComm (pid, comm, ms = 5000) {
  const deadline = Date.now() + ms
  for (;;) {
    const c = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
    if (c === comm) return
    if (Date.now() > deadline) throw new Error(`PID ${pid} still runs ${c}, not ${comm}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

// ---------------------------------------------------------------- reference
// The spec's algorithms (§12.2) written out in JS, to cross-check the native ones.

function parseCpuList (s) {
  const out = []
  for (const part of s.trim().split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number)
    if (b === undefined) out.push(a)
    else for (let i = a; i <= b; i++) out.push(i)
  }
  return out
}

function sysTopology () {
  const base = '/sys/devices/system/node'
  const nodes = new Map()
  let dirs = 0
  for (const name of fs.readdirSync(base).filter((n) => /^node\d+$/.test(n)).sort((a, b) => a.slice(4) - b.slice(4))) {
    dirs++
    const f = path.join(base, name, 'cpulist')
    if (fs.existsSync(f)) nodes.set(Number(name.slice(4)), parseCpuList(fs.readFileSync(f, 'utf8')))
  }
  let total = 0
  for (const cpus of nodes.values()) total += cpus.length
  return { nodes, totalCpus: total, isNumaSystem: dirs > 1 }
}

function sortedUnique (xs) { return [...new Set(xs)].sort((a, b) => a - b) }

function basicRef (vcpus, topo) {
  if (topo.totalCpus === 0 || vcpus <= 0) return { cores: [], nodes: [] }
  const ids = [...topo.nodes.keys()].sort((a, b) => a - b)
  let remaining = vcpus
  const cores = []
  const nodes = []
  ids.forEach((id, i) => {
    const cpus = topo.nodes.get(id)
    if (cpus.length === 0) return
    const alloc = i === ids.length - 1 ? remaining : Math.min(Math.floor(cpus.length / topo.totalCpus * vcpus), remaining)
    for (let v = 0; v < alloc; v++) { cores.push(cpus[v % cpus.length]); nodes.push(id) }
    remaining -= alloc
  })
  return { cores: sortedUnique(cores), nodes: sortedUnique(nodes) }
}

function mulberry32 (seed) {
  let state = seed
  return () => {
    state = (state + 0x6D2B79F5) | 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function hybridRef (vcpus, topo, seed) {
  const pairs = []
  for (const [n, cpus] of topo.nodes) for (const c of cpus) pairs.push([c, n])
  const next = mulberry32(seed)
  for (let i = pairs.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [pairs[i], pairs[j]] = [pairs[j], pairs[i]]
  }
  const take = pairs.slice(0, Math.min(vcpus, pairs.length))
  return { cores: sortedUnique(take.map((p) => p[0])), nodes: sortedUnique(take.map((p) => p[1])) }
}

function numactlOnPath () {
  return (process.env.PATH || '').split(':').filter(Boolean).some((d) => {
    try {
      fs.accessSync(path.join(d, 'numactl'), fs.constants.X_OK)
      return fs.statSync(path.join(d, 'numactl')).isFile()
    } catch { return false }
  })
}

// ---------------------------------------------------------------- exports

test('both classes are exported in §1.2 position', () => {
  const keys = Object.keys(api)
  expect(keys.indexOf('CpuPinningAdapter')).toBe(keys.indexOf('Infinivirt') + 1)
  expect(keys.indexOf('TapDeviceManager')).toBe(keys.indexOf('CpuPinningAdapter') + 1)
  expect(keys.indexOf('CgroupsManager')).toBe(keys.indexOf('createUnattendedError') + 1)
  expect(keys.indexOf('Debugger')).toBe(keys.indexOf('CgroupsManager') + 1)
  expect(typeof CpuPinningAdapter).toBe('function')
  expect(typeof CgroupsManager).toBe('function')
})

// ---------------------------------------------------------------- CpuPinningAdapter

describe('CpuPinningAdapter', () => {
  const adapter = new CpuPinningAdapter()
  const host = sysTopology()

  test('getNumaTopology matches /sys and returns a Map', async () => {
    const t = await adapter.getNumaTopology()
    expect(t.nodes).toBeInstanceOf(Map)
    expect([...t.nodes.entries()]).toEqual([...host.nodes.entries()])
    expect(t.totalCpus).toBe(host.totalCpus)
    expect(t.isNumaSystem).toBe(host.isNumaSystem)
    expect(Object.keys(t)).toEqual(['nodes', 'totalCpus', 'isNumaSystem'])
  })

  test('isNumactlAvailable finds numactl on PATH (and clearCache re-reads)', async () => {
    expect(await adapter.isNumactlAvailable()).toBe(numactlOnPath())
    adapter.clearCache()
    expect(await adapter.isNumactlAvailable()).toBe(numactlOnPath())
  })

  test('generateNumactlArgs (spec §12.1)', () => {
    expect(adapter.generateNumactlArgs([0, 1, 2, 3], [0])).toEqual(['--physcpubind=0,1,2,3', '--membind=0'])
    expect(adapter.generateNumactlArgs([2], [])).toEqual(['--physcpubind=2'])
    expect(adapter.generateNumactlArgs([], [1])).toEqual(['--membind=1'])
    expect(adapter.generateNumactlArgs([], [])).toEqual([])
  })

  const pinning = numactlOnPath() ? test : test.skip

  pinning('basic: the spec algorithm on this topology', async () => {
    for (const vcpus of [1, 2, host.totalCpus + 3]) {
      const r = await adapter.generatePinningCommand(vcpus, 'basic', 'qemu-system-x86_64', ['-m', '1G'])
      const ref = basicRef(vcpus, host)
      expect(r).toEqual({
        wrapperCommand: 'numactl',
        wrapperArgs: adapter.generateNumactlArgs(ref.cores, ref.nodes),
        originalCommand: 'qemu-system-x86_64',
        originalArgs: ['-m', '1G'],
        pinningApplied: true,
        pinnedCores: ref.cores,
        numaNodes: ref.nodes
      })
      expect('hybridSeed' in r).toBe(false)
    }
  })

  pinning('hybrid with a seed is deterministic and matches the reference', async () => {
    for (const seed of [1, 42, 12345, 2147483646]) {
      for (const vcpus of [1, 2]) {
        const a = await adapter.generatePinningCommand(vcpus, 'hybrid', 'q', [], { seed })
        const b = await adapter.generatePinningCommand(vcpus, 'hybrid', 'q', [], { seed })
        expect(a).toEqual(b)
        const ref = hybridRef(vcpus, host, seed)
        expect(a.pinnedCores).toEqual(ref.cores)
        expect(a.numaNodes).toEqual(ref.nodes)
        expect(a.hybridSeed).toBe(seed)
        expect(a.wrapperArgs).toEqual(adapter.generateNumactlArgs(ref.cores, ref.nodes))
      }
    }
    const fresh = await adapter.generatePinningCommand(1, 'hybrid', 'q', [])
    expect(Number.isInteger(fresh.hybridSeed)).toBe(true)
    expect(fresh.hybridSeed).toBeGreaterThanOrEqual(0)
    expect(fresh.hybridSeed).toBeLessThan(2147483647)
  })

  test("'none' and zero vCPUs give no pinning", async () => {
    const none = {
      wrapperCommand: null,
      wrapperArgs: [],
      originalCommand: 'qemu-system-x86_64',
      originalArgs: ['-S'],
      pinningApplied: false,
      pinnedCores: [],
      numaNodes: []
    }
    expect(await adapter.generatePinningCommand(4, 'none', 'qemu-system-x86_64', ['-S'])).toEqual(none)
    expect(await adapter.generatePinningCommand(0, 'basic', 'qemu-system-x86_64', ['-S'])).toEqual(none)
    expect(await adapter.generatePinningCommand(-3, 'hybrid', 'qemu-system-x86_64', ['-S'], { seed: 1 })).toEqual(none)
  })

  test('an unknown strategy is refused', async () => {
    await expect(adapter.generatePinningCommand(1, 'fastest', 'q', [])).rejects.toThrow(/pinning strategy/)
  })

  test('validateCores against the topology (spec message)', async () => {
    await expect(adapter.validateCores([])).resolves.toBeUndefined()
    await expect(adapter.validateCores([0])).resolves.toBeUndefined()
    const valid = [...host.nodes.values()].flat().sort((a, b) => a - b)
    const bad = host.totalCpus + 7
    await expect(adapter.validateCores([bad, 0, -1])).rejects.toThrow(
      new Error(`Invalid CPU cores: ${bad},-1. Valid cores: ${valid.join(',')}`)
    )
  })

  pinning('a numactl-wrapped process runs on the planned cores', async () => {
    const r = await adapter.generatePinningCommand(1, 'basic', 'sleep', ['30'])
    expect(r.pinningApplied).toBe(true)
    const child = spawnTracked(r.wrapperCommand, [...r.wrapperArgs, '--', r.originalCommand, ...r.originalArgs])
    await spawned(child)
    await waitComm(child.pid, 'sleep')
    expect(statusField(child.pid, 'Cpus_allowed_list')).toBe(r.pinnedCores.join(','))
    expect(statusField(child.pid, 'Mems_allowed_list')).toBe(r.numaNodes.join(','))
    child.kill('SIGKILL')
    await exited(child)
  })
})

// ---------------------------------------------------------------- CgroupsManager

describe('CgroupsManager', () => {
  const cg = new CgroupsManager()

  test('getHostCpuCount is the host CPU count', async () => {
    expect(await cg.getHostCpuCount()).toBe(os.cpus().length)
  })

  test('validateCores: spec messages (§20 #113)', async () => {
    const n = await cg.getHostCpuCount()
    await expect(cg.validateCores([])).resolves.toBeUndefined()
    await expect(cg.validateCores([0, 0])).resolves.toBeUndefined()
    await expect(cg.validateCores([-1])).rejects.toThrow(new Error('Invalid negative CPU core indices: -1'))
    await expect(cg.validateCores([3, -2, -1, -2])).rejects.toThrow(new Error('Invalid negative CPU core indices: -2,-1'))
    await expect(cg.validateCores([0, n + 4, n, n])).rejects.toThrow(
      new Error(`Invalid CPU cores for pinning: ${n},${n + 4}. Host has ${n} cores (valid range: 0-${n - 1})`)
    )
    const e = await cg.validateCores([n]).catch((x) => x)
    expect(require('util').types.isNativeError(e) || e instanceof Error).toBe(true)
  })

  test('applyCpuPinning never rejects', async () => {
    await expect(cg.applyCpuPinning(-5, [0])).resolves.toBeUndefined()
    await expect(cg.applyCpuPinning(process.pid, [-1])).resolves.toBeUndefined()
    await expect(cg.applyCpuPinning(process.pid, [1.5])).resolves.toBeUndefined()
    await expect(cg.applyCpuPinning(process.pid, [])).resolves.toBeUndefined()
    await expect(cg.applyCpuPinning('nope', 'x')).resolves.toBeUndefined()
  })

  // Which layout this host offers (see COMPATIBILITY.md: v2, else the v1 cpuset hierarchy).
  function groupDir (pid) {
    let controllers = ''
    try { controllers = fs.readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8') } catch {}
    if (controllers.split(/\s+/).includes('cpuset')) return `/sys/fs/cgroup/infinivirt.slice/qemu-${pid}.scope`
    if (fs.existsSync('/sys/fs/cgroup/cpuset/cpuset.cpus')) return `/sys/fs/cgroup/cpuset/infinivirt/qemu-${pid}`
    return null
  }
  const root = process.getuid && process.getuid() === 0
  const live = root && groupDir(1) ? test : test.skip

  live('a real placement pins the process; cleanup removes its group after it exits', async () => {
    const child = spawnTracked('sleep', ['60'])
    await spawned(child)
    const pid = child.pid
    const dir = groupDir(pid)
    const before = statusField(pid, 'Cpus_allowed_list')
    await expect(cg.applyCpuPinning(pid, [0])).resolves.toBeUndefined()
    expect(statusField(pid, 'Cpus_allowed_list')).toBe('0')
    expect(fs.existsSync(dir)).toBe(true)
    expect(fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim().split('\n')).toContain(String(pid))
    expect(fs.readFileSync(path.join(dir, 'cpuset.cpus'), 'utf8').trim()).toBe('0')
    // A group with a live process is not "empty".
    const keep = await cg.cleanupEmptyScopes()
    expect(fs.existsSync(dir)).toBe(true)
    expect(keep).toBeGreaterThanOrEqual(0)
    child.kill('SIGKILL')
    await exited(child)
    expect(await cg.cleanupEmptyScopes()).toBeGreaterThanOrEqual(1)
    expect(fs.existsSync(dir)).toBe(false)
    expect(before).toBeDefined()
  })

  live('a failed placement (the process is gone) leaves no group behind', async () => {
    const child = spawnTracked('sleep', ['60'])
    await spawned(child)
    const pid = child.pid
    child.kill('SIGKILL')
    await exited(child)
    // Moving a PID that no longer exists fails in the kernel (ESRCH): the group made
    // for it is removed again and the call still resolves.
    await expect(cg.applyCpuPinning(pid, [0])).resolves.toBeUndefined()
    expect(fs.existsSync(groupDir(pid))).toBe(false)
  })
})
