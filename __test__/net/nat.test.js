'use strict'
// DepartmentNatService against the real kernel (API.md §8.7, §20.4 items 73–75,
// §19 quirk 15), inside the private network namespace scripts/test-net.sh makes:
// masquerade added, detected, removed, idempotent, and proven with a real TCP
// connection from a "VM" namespace behind a department bridge to an "outside"
// namespace that has no route back to the department subnet.

const fs = require('fs')
const { execFileSync, spawn } = require('child_process')
const { DepartmentNatService } = require('../..')
const netns = require('../helpers/netns')

const { ip, uniqueName, createPeerNs, removePeerNs, createVeth, removeLink } = netns

jest.setTimeout(60000)

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward'

function nft (args) {
  return execFileSync('nft', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function natRules () {
  try {
    return JSON.parse(nft(['-j', 'list', 'chain', 'ip', 'infinibay_nat', 'postrouting'])).nftables.filter((x) => x.rule).map((x) => x.rule)
  } catch {
    return null
  }
}

async function rejection (p) {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

const cleanup = { ns: [], links: [], children: [] }

beforeAll(() => netns.assertPrivateNetns())

afterEach(() => {
  for (const c of cleanup.children.splice(0)) {
    try { c.kill('SIGKILL') } catch {}
  }
  for (const n of cleanup.ns.splice(0)) removePeerNs(n)
  for (const l of cleanup.links.splice(0)) removeLink(l)
  try { nft(['delete', 'table', 'ip', 'infinibay_nat']) } catch {}
})

test('addMasquerade on a fresh instance: table, chain, rule and IP forwarding (73)', async () => {
  fs.writeFileSync(IP_FORWARD, '0')
  const nat = new DepartmentNatService()
  await nat.addMasquerade('10.10.100.0/24', 'infinibr-abc123')
  expect(fs.readFileSync(IP_FORWARD, 'utf8').trim()).toBe('1')
  const chain = JSON.parse(nft(['-j', 'list', 'chain', 'ip', 'infinibay_nat', 'postrouting'])).nftables.find((x) => x.chain).chain
  expect([chain.type, chain.hook, chain.prio, chain.policy]).toEqual(['nat', 'postrouting', 100, 'accept'])
  const rules = natRules()
  expect(rules).toHaveLength(1)
  expect(rules[0].comment).toBe('dept-infinibr-abc123')
  expect(rules[0].expr).toEqual([
    { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: { prefix: { addr: '10.10.100.0', len: 24 } } } },
    { match: { op: '!=', left: { meta: { key: 'oifname' } }, right: 'infinibr-abc123' } },
    { masquerade: null }
  ])
  expect(await nat.hasMasquerade('infinibr-abc123')).toBe(true)
  await nat.initialize() // once per instance; harmless again
})

test('adding is idempotent; a new subnet replaces the old rule', async () => {
  const nat = new DepartmentNatService()
  await nat.addMasquerade('10.10.100.0/24', 'infinibr-abc123')
  await nat.addMasquerade('10.10.100.0/24', 'infinibr-abc123')
  await new DepartmentNatService().addMasquerade('10.10.100.0/24', 'infinibr-abc123')
  expect(natRules()).toHaveLength(1)
  const handle = natRules()[0].handle
  await nat.addMasquerade('10.10.100.0/24', 'infinibr-abc123')
  expect(natRules()[0].handle).toBe(handle) // untouched, not re-added
  await nat.addMasquerade('10.20.0.0/16', 'infinibr-abc123')
  expect(natRules()).toHaveLength(1)
  expect(natRules()[0].expr[0].match.right).toEqual({ prefix: { addr: '10.20.0.0', len: 16 } })
  expect(await nat.listMasqueradeRules()).toEqual(['infinibr-abc123'])
})

test('removeMasquerade matches the bridge exactly: br1 leaves br10 alone (74, quirk 15)', async () => {
  const nat = new DepartmentNatService()
  await nat.addMasquerade('10.1.0.0/24', 'br1')
  await nat.addMasquerade('10.10.0.0/24', 'br10')
  await nat.addMasquerade('10.11.0.0/24', 'br11')
  expect(await nat.listMasqueradeRules()).toEqual(['br1', 'br10', 'br11'])
  await nat.removeMasquerade('br1')
  expect(await nat.listMasqueradeRules()).toEqual(['br10', 'br11'])
  expect(await nat.hasMasquerade('br1')).toBe(false)
  expect(await nat.hasMasquerade('br10')).toBe(true)
  await expect(nat.removeMasquerade('br1')).resolves.toBeUndefined()
  await expect(nat.removeMasquerade('never')).resolves.toBeUndefined()
})

test('listMasqueradeRules lists bridges in rule order (75); a missing table reads as nothing', async () => {
  const nat = new DepartmentNatService()
  expect(await nat.listMasqueradeRules()).toEqual([])
  expect(await nat.hasMasquerade('infinibr-a')).toBe(false)
  await nat.addMasquerade('10.0.1.0/24', 'infinibr-a')
  await nat.addMasquerade('10.0.2.0/24', 'infinibr-b')
  expect(await nat.listMasqueradeRules()).toEqual(['infinibr-a', 'infinibr-b'])
  // Rules of others in the chain are left alone and not listed.
  nft(['add', 'rule', 'ip', 'infinibay_nat', 'postrouting', 'ip', 'saddr', '10.9.9.0/24', 'masquerade', 'comment', '"other"'])
  await nat.removeMasquerade('infinibr-a')
  expect(await nat.listMasqueradeRules()).toEqual(['infinibr-b'])
  expect(natRules().map((r) => r.comment)).toEqual(['dept-infinibr-b', 'other'])
})

test('bad subnets and bridge names are refused before nft runs', async () => {
  const nat = new DepartmentNatService()
  for (const [subnet, bridge, code] of [
    ['10.0.0.0/24; flush ruleset', 'br0', 'INVALID_IP_ADDRESS'],
    ['10.0.0.0/33', 'br0', 'INVALID_IP_ADDRESS'],
    ['10.0.0.0/24', 'br0"; flush ruleset; "', 'RULE_INVALID'],
    ['10.0.0.0/24', 'br 0', 'RULE_INVALID'],
    ['10.0.0.0/24', '', 'RULE_INVALID']
  ]) {
    const e = await rejection(nat.addMasquerade(subnet, bridge))
    expect(e.code).toBe(code)
  }
  expect(natRules()).toBeNull() // nothing was even created
  expect((await rejection(nat.removeMasquerade('x;y'))).code).toBe('RULE_INVALID')
})

// A server that answers each connection with the address it came from.
const SERVER = `
const net = require('net')
net.createServer((s) => { s.on('error', () => {}); s.end(s.remoteAddress + '\\n') })
  .listen(Number(process.argv[1]), '0.0.0.0', () => process.stdout.write('ready\\n'))
setTimeout(() => process.exit(0), 30000)
`
const CLIENT = `
const net = require('net')
const [host, port] = process.argv.slice(1)
let got = ''
const s = net.connect({ host, port: Number(port) })
s.setTimeout(1500, () => { process.stdout.write('timeout\\n'); process.exit(0) })
s.on('data', (d) => { got += d })
s.on('end', () => { process.stdout.write(got.trim() + '\\n'); process.exit(0) })
s.on('error', (e) => { process.stdout.write(e.code + '\\n'); process.exit(0) })
`

function run (ns, script, args) {
  const c = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args.map(String)], { stdio: ['ignore', 'pipe', 'ignore'] })
  cleanup.children.push(c)
  return new Promise((resolve) => {
    let out = ''
    c.stdout.on('data', (d) => {
      out += d
      if (out.includes('\n')) resolve(out.split('\n')[0])
    })
    c.on('exit', () => resolve(out.split('\n')[0] || 'exited'))
  })
}

test('real traffic: with the masquerade the outside sees the host address and can answer', async () => {
  // VM (10.10.100.2) — department bridge (10.10.100.1) — host — uplink (192.168.77.1)
  // — outside (192.168.77.2), which has no route to the department subnet.
  const bridge = uniqueName('ivdb')
  cleanup.links.push(bridge)
  ip(['link', 'add', 'name', bridge, 'type', 'bridge'])
  ip(['link', 'set', 'dev', bridge, 'up'])
  ip(['addr', 'add', '10.10.100.1/24', 'dev', bridge])
  const vm = createPeerNs()
  const outside = createPeerNs()
  cleanup.ns.push(vm, outside)
  const vmLink = createVeth(uniqueName('vnet'), vm)
  ip(['link', 'set', 'dev', vmLink.local, 'master', bridge])
  ip(['-n', vm, 'addr', 'add', '10.10.100.2/24', 'dev', vmLink.remote])
  ip(['-n', vm, 'route', 'add', 'default', 'via', '10.10.100.1'])
  const up = createVeth(uniqueName('ivup'), outside)
  ip(['addr', 'add', '192.168.77.1/24', 'dev', up.local])
  ip(['-n', outside, 'addr', 'add', '192.168.77.2/24', 'dev', up.remote])

  const nat = new DepartmentNatService()
  await nat.initialize() // also turns on forwarding
  expect(await run(outside, SERVER, [7777])).toBe('ready')
  expect(await run(vm, CLIENT, ['192.168.77.2', 7777])).toBe('timeout') // no way back without NAT
  await nat.addMasquerade('10.10.100.0/24', bridge)
  expect(await run(vm, CLIENT, ['192.168.77.2', 7777])).toBe('192.168.77.1')
  await nat.removeMasquerade(bridge)
  expect(await nat.hasMasquerade(bridge)).toBe(false)
  expect(await run(vm, CLIENT, ['192.168.77.2', 7777])).toBe('timeout')
})
