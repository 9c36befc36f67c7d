'use strict'
// `new HealthMonitor(db)` and `new EventHandler(db)` with no managers injected clean
// up with managers of their own (spec §10.2, §10.3): after a VM's QEMU is gone its
// TAP really leaves the bridge and its firewall dispatch really goes, checked against
// the kernel (netlink and nft) inside the private namespace of scripts/test-net.sh.
// The database is a plain DatabaseAdapter over a Map (an input, not the subject).

const fs = require('fs')
const os = require('os')
const path = require('path')
const { spawn, execFileSync } = require('child_process')
const { HealthMonitor, EventHandler, TapDeviceManager, BridgeManager, NftablesService, generateVMChainName } = require('../..')
const netns = require('../helpers/netns')
const { memoryAdapter, fakeQmp, waitFor } = require('../state/helpers')

jest.setTimeout(60000)

const bridges = new BridgeManager()
const taps = new TapDeviceManager()
let persistDir
let firewall
const made = [] // { vmId, tap, bridge }

function nftJson (args) {
  try {
    const out = execFileSync('nft', ['-j', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    return JSON.parse(out).nftables.filter((x) => !x.metainfo)
  } catch {
    return []
  }
}

// The TAP names dispatched to `chain` by the to_vm / from_vm maps.
function dispatchedTo (chain) {
  const names = []
  for (const map of ['to_vm', 'from_vm']) {
    const m = nftJson(['list', 'map', 'bridge', 'infinivirt', map]).find((x) => x.map)
    for (const [name, verdict] of (m && m.map.elem) || []) {
      if (verdict && verdict.jump && verdict.jump.target === chain) names.push(`${map}:${name}`)
    }
  }
  return names
}

function masterOf (tap) {
  const info = netns.linkInfo(tap)
  if (!info) throw new Error(`${tap} is gone`)
  return info.master ?? null
}

// A bridge, a TAP on it and the VM's chain with its dispatch: what a running VM holds.
async function runningVmNetwork () {
  const vmId = `cm${require('crypto').randomBytes(4).toString('hex')}-x`
  const bridge = netns.uniqueName('ivcm')
  await bridges.create(bridge)
  const tap = await taps.create(vmId, bridge)
  made.push({ vmId, tap, bridge })
  await taps.configure(tap, bridge)
  await firewall.createVMChain(vmId, tap)
  const chain = generateVMChainName(vmId)
  expect(masterOf(tap)).toBe(bridge)
  expect(dispatchedTo(chain).sort()).toEqual([`from_vm:${tap}`, `to_vm:${tap}`])
  return { vmId, tap, bridge, chain }
}

// The cleanup reports the TAP and firewall steps done, without a "nothing configured"
// remark, and the kernel agrees: the TAP has left its bridge, the dispatch is gone.
function expectReleased (result, { vmId, tap, chain }) {
  const byType = Object.fromEntries(result.resources.map((r) => [r.type, r]))
  expect(byType.TAP_DEVICE).toMatchObject({ identifier: tap, status: 'SUCCESS' })
  expect(byType.FIREWALL_CHAIN).toMatchObject({ identifier: vmId, status: 'SUCCESS' })
  expect(byType.TAP_DEVICE.note).toBeUndefined()
  expect(byType.FIREWALL_CHAIN.note).toBeUndefined()
  expect(masterOf(tap)).toBeNull()
  expect(dispatchedTo(chain)).toEqual([])
}

// The PID of a process that has exited (what a crashed QEMU leaves in the row).
async function deadPid () {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('spawn', resolve))
  const pid = child.pid
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
  return pid
}

beforeAll(async () => {
  netns.assertPrivateNetns()
  persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-cm-'))
  firewall = new NftablesService({ persistenceDir: persistDir, enablePersistence: false })
  await firewall.initialize()
})

afterEach(async () => {
  for (const { vmId, tap, bridge } of made.splice(0)) {
    await firewall.removeVMChain(vmId)
    await taps.destroy(tap).catch(() => {})
    await bridges.destroy(bridge).catch(() => {})
  }
})

afterAll(() => {
  fs.rmSync(persistDir, { recursive: true, force: true })
})

test('HealthMonitor without injected managers: a crashed VM leaves the bridge and its dispatch', async () => {
  const { vmId, tap, chain } = await runningVmNetwork()
  const pid = await deadPid()
  const db = memoryAdapter({ [vmId]: { status: 'running', config: { qemuPid: pid, tapDeviceName: tap, qmpSocketPath: null } } })
  const monitor = new HealthMonitor(db)
  const crash = waitFor(monitor, 'crash')
  const summary = await monitor.checkAllVMs()
  expect(summary).toMatchObject({ totalChecked: 1, crashed: 1 })
  expectReleased((await crash).cleanupResult, { vmId, tap, chain })
  expect(db.state.get(vmId).status).toBe('off')
})

test('EventHandler without injected managers: a guest shutdown releases the bridge port and the dispatch', async () => {
  const { vmId, tap, chain } = await runningVmNetwork()
  const pid = await deadPid()
  const db = memoryAdapter({ [vmId]: { status: 'running', config: { qemuPid: pid, tapDeviceName: tap, qmpSocketPath: null } } })
  const handler = new EventHandler(db)
  const qmp = fakeQmp()
  await handler.attachToVM(vmId, qmp)
  const cleanup = waitFor(handler, 'vm:cleanup', 10000)
  qmp.emit('SHUTDOWN', { guest: true, reason: 'guest-shutdown' }, { seconds: 1700000000, microseconds: 0 })
  expectReleased(await cleanup, { vmId, tap, chain })
  await handler.detachAll()
})
