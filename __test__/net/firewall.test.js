'use strict'
// FirewallRuleTranslator and NftablesService against the real kernel (API.md §8.4–
// §8.6, §17.4, §20.4 items 55–72, §20.11 item 122, §19 quirks 12 and 22), inside the
// private network namespace scripts/test-net.sh makes. Real packets: a bridge, a
// veth port named like a VM TAP (`vnet-…`) whose other end is in a peer namespace
// (the "VM"), and a second peer namespace on another port (the "outside"); TCP
// connections between them are made by `node` inside `ip netns exec`. Every test
// removes its namespaces, links, tables and files in afterEach, also on failure.

const fs = require('fs')
const os = require('os')
const path = require('path')
const util = require('util')
const { execFileSync, spawn } = require('child_process')
const api = require('../..')
const netns = require('../helpers/netns')

const { FirewallRuleTranslator: T, NftablesService, NftablesErrorCode, generateVMChainName } = api
const { ip, uniqueName, createPeerNs, removePeerNs, createVeth, removeLink } = netns

jest.setTimeout(120000)

// ------------------------------------------------------------------ helpers

function nft (args, input) {
  return execFileSync('nft', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] })
}

function nftJson (args) {
  try {
    return JSON.parse(nft(['-j', ...args])).nftables.filter((x) => !x.metainfo)
  } catch {
    return null
  }
}

function chainRules (chain, family = 'bridge', table = 'infinivirt') {
  const items = nftJson(['list', 'chain', family, table, chain])
  return items ? items.filter((x) => x.rule).map((x) => x.rule) : null
}

function mapElems (map) {
  const items = nftJson(['list', 'map', 'bridge', 'infinivirt', map]) || []
  const m = items.find((x) => x.map)
  return (m && m.map.elem) || []
}

function setElems (set) {
  const items = nftJson(['list', 'set', 'bridge', 'infinivirt', set]) || []
  const s = items.find((x) => x.set)
  return (s && s.set.elem) || []
}

function dropTables () {
  for (const t of [['bridge', 'infinivirt'], ['inet', 'infinivirt'], ['ip', 'infinibay_nat'], ['inet', 'canary']]) {
    try { nft(['delete', 'table', ...t]) } catch {}
  }
}

const isErr = (e) => util.types.isNativeError(e) || e instanceof Error

async function rejection (p) {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

function thrown (fn) {
  try {
    fn()
  } catch (e) {
    return e
  }
  throw new Error('expected a throw')
}

// A TCP listener in a namespace: resolves once it listens.
const SERVER = `
const net = require('net')
const port = Number(process.argv[1])
const srv = net.createServer((s) => { s.on('error', () => {}); s.end('ok') })
srv.listen(port, '0.0.0.0', () => process.stdout.write('ready\\n'))
setTimeout(() => process.exit(0), 60000)
`

// Connects and prints connected | refused | timeout | <error code>.
const CLIENT = `
const net = require('net')
const [host, port, ms] = process.argv.slice(1)
const s = net.connect({ host, port: Number(port) })
const done = (r) => { process.stdout.write(r + '\\n'); process.exit(0) }
s.setTimeout(Number(ms), () => done('timeout'))
s.on('connect', () => done('connected'))
s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : e.code))
`

// UDP: receive one datagram on a port / send one from a port.
const UDP_RECV = `
const d = require('dgram').createSocket('udp4')
d.on('message', () => { process.stdout.write('got\\n'); process.exit(0) })
d.bind(Number(process.argv[1]), '0.0.0.0', () => process.stdout.write('ready\\n'))
setTimeout(() => { process.stdout.write('none\\n'); process.exit(0) }, Number(process.argv[2]))
`
const UDP_SEND = `
const d = require('dgram').createSocket('udp4')
const [host, dport, sport] = process.argv.slice(1)
d.bind(Number(sport), '0.0.0.0', () => { d.setBroadcast(true); d.send('x', Number(dport), host, () => { d.close(); process.stdout.write('sent\\n') }) })
`

const children = []

function nodeIn (ns, script, args) {
  const c = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(c)
  let out = ''
  c.stdout.on('data', (d) => { out += d })
  const exited = new Promise((resolve) => c.on('exit', resolve))
  const lines = () => out.split('\n').slice(0, -1)
  // The first complete line (or the line `want`); on exit without it, 'exited'.
  const line = (want) => new Promise((resolve) => {
    const check = () => {
      const hit = want ? lines().find((l) => l === want) : lines()[0]
      if (hit !== undefined) resolve(hit)
      return hit !== undefined
    }
    if (check()) return
    const onData = () => { if (check()) c.stdout.off('data', onData) }
    c.stdout.on('data', onData)
    exited.then(() => { if (!check()) resolve('exited') })
  })
  return { child: c, line, exited, output: () => out }
}

async function listen (ns, port) {
  const s = nodeIn(ns, SERVER, [port])
  expect(await s.line('ready')).toBe('ready')
  return s
}

async function connect (ns, host, port, ms = 1200) {
  return nodeIn(ns, CLIENT, [host, port, ms]).line()
}

// True when one UDP datagram from `fromNs` (source port `sport`) reaches `toNs`.
async function udpDelivered (fromNs, toNs, host, sport, dport, ms = 800) {
  const r = nodeIn(toNs, UDP_RECV, [dport, ms])
  expect(await r.line('ready')).toBe('ready')
  expect(await nodeIn(fromNs, UDP_SEND, [host, dport, sport]).line()).toBe('sent')
  await r.exited
  return r.output().includes('got')
}

// A bridge with three ports: `vmPort` (a VM TAP's stand-in, peer namespace `vm`),
// `vm2Port` (a second VM, namespace `vm2`) and an uplink to namespace `out`.
// Addresses 10.77.0.2 (vm), .4 (vm2), .3 (out); the bridge has .1 so that the
// kernel can route the resets and ICMP errors of REJECT back to the sender.
const topologies = []

function topology () {
  const t = { bridge: uniqueName('ivbr'), ns: [] }
  topologies.push(t)
  ip(['link', 'add', 'name', t.bridge, 'type', 'bridge'])
  ip(['link', 'set', 'dev', t.bridge, 'up'])
  ip(['addr', 'add', '10.77.0.1/24', 'dev', t.bridge])
  const port = (prefix, addr) => {
    const ns = createPeerNs()
    t.ns.push(ns)
    const { local, remote } = createVeth(uniqueName(prefix), ns)
    ip(['link', 'set', 'dev', local, 'master', t.bridge])
    ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', remote])
    return { ns, port: local, addr }
  }
  t.vm = port('vnet', '10.77.0.2')
  t.vm2 = port('vnet', '10.77.0.4')
  t.out = port('ivo', '10.77.0.3')
  return t
}

let tmp
const vmIds = []

function vmId () {
  const id = `${require('crypto').randomBytes(4).toString('hex')}-test`
  vmIds.push(id)
  return id
}

// Each test has a persistence directory of its own, so a background save that
// finishes after a test cannot touch the next one.
let persistDir
function service (extra = {}) {
  return new NftablesService({ persistenceDir: persistDir, ...extra })
}

const rule = (over) => ({ id: over.name, priority: 100, protocol: 'all', ...over })

beforeAll(() => {
  netns.assertPrivateNetns()
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-fw-'))
})

let testSeq = 0
beforeEach(() => {
  persistDir = path.join(tmp, `persist-${++testSeq}`)
})

afterEach(() => {
  for (const c of children.splice(0)) {
    try { c.kill('SIGKILL') } catch {}
  }
  for (const t of topologies.splice(0)) {
    for (const ns of t.ns) removePeerNs(ns)
    removeLink(t.bridge)
  }
  dropTables()
  fs.rmSync(persistDir, { recursive: true, force: true })
})

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true })
})

// ------------------------------------------------------------------ translator

describe('FirewallRuleTranslator (§8.4, §20.4 55–65)', () => {
  test('rule shapes translate exactly as the spec says', () => {
    expect(T.translateToTokens({ id: 'r1', name: 'Allow HTTPS', action: 'ACCEPT', direction: 'IN', priority: 100, protocol: 'tcp', dstPortStart: 443, dstPortEnd: 443 }, 'vnet-abc12345'))
      .toEqual(['oifname', 'vnet-abc12345', 'ip', 'protocol', 'tcp', 'tcp', 'dport', '443', 'accept', 'comment', '"Allow HTTPS"'])
    expect(T.translateToTokens({ id: 'r', name: 'SSH', action: 'ACCEPT', direction: 'IN', priority: 1, protocol: 'tcp', dstPortStart: 22, connectionState: { new: true, established: true, related: true } }, 'vnet-abc'))
      .toEqual(['oifname', 'vnet-abc', 'ip', 'protocol', 'tcp', 'tcp', 'dport', '22', 'ct', 'state', '{ established, new, related }', 'accept', 'comment', '"SSH"'])
    expect(T.translateToTokens({ id: 'r', name: 'DNS', direction: 'OUT', protocol: 'UDP', srcPortStart: 1000, srcPortEnd: 2000, dstPortStart: 53, dstPortEnd: 54, action: 'ACCEPT', priority: 1 }, 'vnet-x'))
      .toEqual(['iifname', 'vnet-x', 'ip', 'protocol', 'udp', 'udp', 'sport', '1000-2000', 'udp', 'dport', '53-54', 'accept', 'comment', '"DNS"'])
    expect(T.translateToTokens({ id: 'r', name: 'Block ping', action: 'DROP', direction: 'IN', protocol: 'icmp', priority: 1 }, 'vnet-x'))
      .toEqual(['oifname', 'vnet-x', 'ip', 'protocol', 'icmp', 'drop', 'comment', '"Block ping"'])
    expect(T.translateToTokens({ id: 'r', name: 'Net', action: 'REJECT', direction: 'IN', protocol: 'all', priority: 1, srcIpAddr: '10.0.0.0', srcIpMask: '255.255.255.0', dstIpAddr: '192.168.1.5', dstIpMask: '16' }, 'vnet-x'))
      .toEqual(['oifname', 'vnet-x', 'ip', 'saddr', '10.0.0.0/24', 'ip', 'daddr', '192.168.1.5/16', 'reject', 'comment', '"Net"'])
    // 60, 61
    expect(T.translateConnectionStateToTokens({ invalid: true, related: true, new: true, established: true })).toEqual(['ct', 'state', '{ established, new, related, invalid }'])
    expect(T.translateConnectionStateToTokens({ established: true })).toEqual(['ct', 'state', 'established'])
    expect(T.translateConnectionStateToTokens({ established: false })).toEqual([])
    expect(T.translateConnectionStateToTokens(null)).toEqual([])
    const c = T.translateToTokens({ id: 'r', name: '  He said "hi"\\path\tx  ', action: 'DROP', direction: 'IN', protocol: 'all', priority: 1 }, 'vnet-x')
    expect(c[c.length - 1]).toBe('"He said \'hi\'/path x"')
    // 65
    expect(T.translatePortsToTokens('icmp', 1, 2, 3, 4)).toEqual([])
    expect(T.translatePortsToTokens('tcp', undefined, undefined, 80, undefined)).toEqual(['tcp', 'dport', '80'])
    expect(T.translatePortsToTokens('tcp', null, null, 80, null)).toEqual(['tcp', 'dport', '80'])
    expect(T.translateProtocolToTokens('TCP')).toEqual(['ip', 'protocol', 'tcp'])
    expect(T.translateProtocolToTokens('all')).toEqual([])
    expect(T.translateDirectionToTokens('OUT', 'vnet-x')).toEqual(['iifname', 'vnet-x'])
    expect(T.translateIpAddressesToTokens('10.0.0.1', undefined, '10.0.0.0', '255.0.0.0')).toEqual(['ip', 'saddr', '10.0.0.1', 'ip', 'daddr', '10.0.0.0/8'])
    expect(T.translateAction('REJECT')).toBe('reject')
  })

  test('optional fields accept null as well as undefined', () => {
    const withNulls = { id: 'n', name: 'N', action: 'DROP', direction: 'IN', priority: 1, protocol: 'tcp', description: null, srcPortStart: null, srcPortEnd: null, dstPortStart: 22, dstPortEnd: null, srcIpAddr: null, srcIpMask: null, dstIpAddr: null, dstIpMask: null, connectionState: null, overridesDept: false }
    const withUndefined = { id: 'n', name: 'N', action: 'DROP', direction: 'IN', priority: 1, protocol: 'tcp', dstPortStart: 22, srcIpAddr: undefined }
    expect(T.translateToTokens(withNulls, 'vnet-x')).toEqual(T.translateToTokens(withUndefined, 'vnet-x'))
    expect(T.translateToTokens(withNulls, 'vnet-x')).toEqual(['oifname', 'vnet-x', 'ip', 'protocol', 'tcp', 'tcp', 'dport', '22', 'drop', 'comment', '"N"'])
  })

  test('validation errors carry the spec codes and messages (62, 63)', () => {
    const base = { id: 'r1', name: 'n', action: 'ACCEPT', direction: 'IN', protocol: 'tcp', priority: 1 }
    const cases = [
      [{ name: '' }, 'RULE_INVALID', '[Rule r1] Rule name is required'],
      [{ protocol: 'sctpx' }, 'UNSUPPORTED_PROTOCOL', '[Rule r1] Unsupported protocol: sctpx'],
      [{ srcPortStart: 10, srcPortEnd: 5 }, 'INVALID_PORT_RANGE', '[Rule r1] Source port range invalid: start (10) > end (5)'],
      [{ dstPortStart: 70000 }, 'INVALID_PORT_RANGE', '[Rule r1] Destination start port out of range: 70000 (must be 0-65535)'],
      [{ protocol: 'icmp', dstPortStart: 1 }, 'RULE_INVALID', '[Rule r1] Ports can only be specified for tcp/udp protocols, not icmp'],
      [{ srcIpAddr: '300.1.1.1' }, 'INVALID_IP_ADDRESS', '[Rule r1] Invalid source IP address: 300.1.1.1'],
      [{ srcIpMask: '255.0.255.0' }, 'INVALID_SUBNET_MASK', '[Rule r1] Invalid source subnet mask: 255.0.255.0. Expected CIDR (0-32) or dotted decimal (e.g., 255.255.255.0)'],
      [{ connectionState: { foo: true } }, 'RULE_INVALID', '[Rule r1] Invalid connection state: foo']
    ]
    for (const [over, code, message] of cases) {
      const e = thrown(() => T.validateRule({ ...base, ...over }))
      expect(isErr(e)).toBe(true)
      expect([e.code, e.message]).toEqual([code, message])
      expect(e.code).toBe(NftablesErrorCode[code])
    }
    const e = thrown(() => T.translateToTokens({ ...base, direction: 'INOUT' }, 'vnet-x'))
    expect([e.code, e.message]).toEqual(['RULE_INVALID', 'Invalid direction for translation: INOUT. Only IN or OUT are supported. INOUT must be expanded by the caller.'])
    expect(T.isValidSubnetMask('255.255.254.0')).toBe(true)
    expect(T.isValidSubnetMask('024')).toBe(false)
    expect(T.isValidCidr('10.0.0.0/33')).toBe(false)
    expect(T.isValidIpAddress('01.2.3.4')).toBe(true)
    expect(T.isValidIpAddress('::1')).toBe(false)
    expect(T.isValidIpAddress(undefined)).toBe(false)
  })
})

// ------------------------------------------------------------------ structure

describe('NftablesService structure', () => {
  test('initialize on a clean host builds the layout; repeated, it never duplicates (66, 122, quirk 22)', async () => {
    const s = service()
    await s.initialize()
    await s.initialize()
    await service().initialize()
    const fwd = chainRules('forward')
    expect(fwd.map((r) => r.comment || null)).toEqual([
      'Block DHCP server replies from VMs', 'Allow DHCP client to server', 'Allow DHCP server to client', null, null
    ])
    const chain = nftJson(['list', 'chain', 'bridge', 'infinivirt', 'forward']).find((x) => x.chain).chain
    expect([chain.type, chain.hook, chain.prio, chain.policy]).toEqual(['filter', 'forward', 0, 'accept'])
    const caps = await s.getCapabilities()
    // What these machines have (DESIGN.md): no bridge conntrack, reject or ibrname.
    expect(caps).toMatchObject({ bridgeConntrack: false, bridgeReject: false, bridgeMetaIbrname: false, brNetfilter: true, connectionStateMode: 'mark', rejectMode: 'inet' })
  })

  test('initialize takes over an original host: jump rules become map elements, unscoped DHCP goes', async () => {
    nft(['-f', '-'], `add table bridge infinivirt
add chain bridge infinivirt forward { type filter hook forward priority 0; policy accept; }
add chain bridge infinivirt vm_old12345
add rule bridge infinivirt vm_old12345 oifname vnet-old tcp dport 22 drop comment "Old"
add rule bridge infinivirt forward oifname vnet-old jump vm_old12345
add rule bridge infinivirt forward iifname vnet-old jump vm_old12345
add rule bridge infinivirt forward oifname vnet-old jump vm_old12345
insert rule bridge infinivirt forward udp dport 67 accept comment "Allow DHCP client to server"
insert rule bridge infinivirt forward udp dport 68 accept comment "Allow DHCP server to client"
insert rule bridge infinivirt forward pkttype broadcast udp dport 67 accept comment "Allow DHCP broadcast discovery"
`)
    await service().initialize()
    expect(chainRules('forward')).toHaveLength(5)
    expect(mapElems('to_vm')).toEqual([['vnet-old', { jump: { target: 'vm_old12345' } }]])
    expect(mapElems('from_vm')).toEqual([['vnet-old', { jump: { target: 'vm_old12345' } }]])
    expect(chainRules('vm_old12345')).toHaveLength(1)
  })

  test('createVMChain resolves the chain name and dispatches the TAP once however often (67, quirk 12)', async () => {
    const s = service()
    await s.initialize()
    const chain = await s.createVMChain('550e8400-e29b-41d4-a716-446655440000', 'vnet-550e8400e2')
    expect(chain).toBe('vm_550e8400')
    expect(chain).toBe(generateVMChainName('550e8400-e29b-41d4-a716-446655440000'))
    await s.createVMChain('550e8400-e29b-41d4-a716-446655440000', 'vnet-550e8400e2')
    await s.attachJumpRules('550e8400-e29b-41d4-a716-446655440000', 'vnet-550e8400e2')
    expect(mapElems('to_vm')).toEqual([['vnet-550e8400e2', { jump: { target: 'vm_550e8400' } }]])
    expect(mapElems('from_vm')).toEqual([['vnet-550e8400e2', { jump: { target: 'vm_550e8400' } }]])
    expect(setElems('vm_ports')).toEqual(['vnet-550e8400e2'])
    expect(await s.chainExists('vm_550e8400')).toBe(true)
    expect(await s.ensureVMChain('550e8400-e29b-41d4-a716-446655440000')).toBe('vm_550e8400')
    expect(await s.listChains()).toContain('vm_550e8400')
    await s.detachJumpRules('550e8400-e29b-41d4-a716-446655440000')
    await s.detachJumpRules('550e8400-e29b-41d4-a716-446655440000')
    expect(mapElems('to_vm')).toEqual([])
    expect(setElems('vm_ports')).toEqual([])
    expect(await s.chainExists('vm_550e8400')).toBe(true)
  })

  test('applyRules: one chain per VM, merged by priority, INOUT expanded, default rule last (68, 69)', async () => {
    const s = service()
    const id = vmId()
    const dept = [
      rule({ name: 'SSH', action: 'ACCEPT', direction: 'IN', priority: 100, protocol: 'tcp', dstPortStart: 22, connectionState: { new: true, established: true, related: true } }),
      rule({ name: 'Both', action: 'DROP', direction: 'INOUT', priority: 50, protocol: 'icmp' }),
      rule({ name: 'DeptTCP', action: 'DROP', direction: 'OUT', priority: 10, protocol: 'TCP' })
    ]
    const vm = [rule({ name: 'VmTCP', action: 'ACCEPT', direction: 'OUT', priority: 30, protocol: 'tcp', overridesDept: true })]
    const r = await s.applyRules(id, 'vnet-abc', dept, vm)
    expect(r).toMatchObject({ totalRules: 4, appliedRules: 4, failedRules: 0, chainName: generateVMChainName(id), failures: [] })
    expect(Object.keys(r).slice(0, 5)).toEqual(['totalRules', 'appliedRules', 'failedRules', 'chainName', 'failures'])
    const rules = chainRules(r.chainName)
    expect(rules.map((x) => x.comment)).toEqual(['VmTCP', 'Both', 'Both', 'SSH', 'Allow Established/Related (Auto)', 'Allow Established/Related (Auto)'])
    const iface = (x) => x.expr[0].match.left.meta.key
    expect(rules.map(iface)).toEqual(['iifname', 'oifname', 'iifname', 'oifname', 'oifname', 'iifname'])
    // The fallback in use is reported per rule.
    expect(r.fallbacks).toContainEqual({ ruleName: 'SSH', feature: 'ct state', mode: 'mark' })
    // Re-applying replaces the chain; nothing accumulates.
    await s.applyRules(id, 'vnet-abc', dept, vm)
    expect(chainRules(r.chainName)).toHaveLength(6)
    expect(chainRules('forward')).toHaveLength(5)
    expect(mapElems('to_vm')).toHaveLength(1)
  })

  test('applyRulesIfChanged runs nothing for identical rules (70)', async () => {
    const s = service()
    const id = vmId()
    const rules = [rule({ name: 'A', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 1 })]
    const first = await s.applyRulesIfChanged(id, 'vnet-chg', rules, [])
    expect(first.changed).toBe(true)
    expect(first.result.appliedRules).toBe(2)
    const handles = chainRules(generateVMChainName(id)).map((x) => x.handle)
    expect(await s.applyRulesIfChanged(id, 'vnet-chg', rules, [])).toEqual({ changed: false })
    // A rewrite would have given the rules new handles.
    expect(chainRules(generateVMChainName(id)).map((x) => x.handle)).toEqual(handles)
    s.clearRulesCache(id)
    expect((await s.applyRulesIfChanged(id, 'vnet-chg', rules, [])).changed).toBe(true)
    expect((await s.applyRulesIfChanged(id, 'vnet-chg', [], [])).changed).toBe(true)
  })

  test('removeVMChain removes dispatch, rules and chain in one go, and never throws (71)', async () => {
    const s = service()
    const id = vmId()
    const other = vmId()
    await s.applyRules(id, 'vnet-rm1', [rule({ name: 'A', action: 'DROP', direction: 'IN' })], [])
    await s.applyRules(other, 'vnet-rm2', [], [])
    await s.removeVMChain(id)
    expect(await s.chainExists(generateVMChainName(id))).toBe(false)
    expect(mapElems('to_vm').map((e) => e[0])).toEqual(['vnet-rm2'])
    expect(setElems('vm_ports')).toEqual(['vnet-rm2'])
    await expect(s.removeVMChain(id)).resolves.toBeUndefined()
    await expect(s.removeVMChain('never-existed')).resolves.toBeUndefined()
    await expect(s.flushVMRules('never-existed')).resolves.toBeUndefined()
    await expect(s.detachJumpRules('never-existed')).resolves.toBeUndefined()
  })

  test('listChains and chainExists (72); an absent table lists nothing', async () => {
    const s = service()
    expect(await s.listChains()).toEqual([])
    expect(await s.chainExists('forward')).toBe(false)
    await s.createVMChain('abc', 'vnet-abc')
    const chains = await s.listChains()
    expect(chains[0]).toBe('forward')
    expect(chains).toContain('vm_abc')
  })

  test('a new chain is never open: with defaultPolicy drop it starts with its terminal rule; flush keeps it', async () => {
    const s = service({ defaultPolicy: 'drop' })
    const id = vmId()
    const chain = await s.createVMChain(id, 'vnet-new')
    expect(chainRules(chain).map((x) => x.comment)).toEqual(['Infinivirt default policy: drop'])
    await s.applyRules(id, 'vnet-new', [rule({ name: 'A', action: 'ACCEPT', direction: 'IN' })], [])
    await s.flushVMRules(id)
    expect(chainRules(chain).map((x) => x.comment)).toEqual(['Infinivirt default policy: drop'])
    const accept = service()
    const id2 = vmId()
    expect(chainRules(await accept.createVMChain(id2, 'vnet-new2'))).toEqual([])
    expect(thrown(() => new NftablesService({ defaultPolicy: 'maybe' })).code).toBe('RULE_INVALID')
  })

  test('a TAP still dispatched to another chain is taken over by the VM that applies it', async () => {
    const s = service()
    const a = vmId()
    const b = vmId()
    await s.applyRules(a, 'vnet-shared', [], [])
    await s.applyRules(b, 'vnet-shared', [], [])
    expect(mapElems('to_vm')).toEqual([['vnet-shared', { jump: { target: generateVMChainName(b) } }]])
    expect(mapElems('from_vm')).toEqual([['vnet-shared', { jump: { target: generateVMChainName(b) } }]])
  })
})

// ------------------------------------------------------------------ real traffic

describe('real traffic through a bridge', () => {
  test('without rules traffic flows; a DROP rule stops exactly its port (IN)', async () => {
    const t = topology()
    const s = service()
    const id = vmId()
    await listen(t.vm.ns, 8080)
    await listen(t.vm.ns, 8081)
    await s.applyRules(id, t.vm.port, [], [])
    expect(await connect(t.out.ns, '10.77.0.2', 8080)).toBe('connected')
    await s.applyRules(id, t.vm.port, [rule({ name: 'Block 8080', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 8080 })], [])
    expect(await connect(t.out.ns, '10.77.0.2', 8080)).toBe('timeout')
    expect(await connect(t.out.ns, '10.77.0.2', 8081)).toBe('connected')
    // The VM's own outgoing connections are not IN traffic.
    await listen(t.out.ns, 8080)
    expect(await connect(t.vm.ns, '10.77.0.3', 8080)).toBe('connected')
  })

  test('ACCEPT lets a connection through a default-drop VM; the rest stays closed', async () => {
    const t = topology()
    const s = service({ defaultPolicy: 'drop' })
    const id = vmId()
    await listen(t.vm.ns, 22)
    await listen(t.vm.ns, 23)
    await s.applyRules(id, t.vm.port, [], [rule({ name: 'SSH', action: 'ACCEPT', direction: 'IN', protocol: 'tcp', dstPortStart: 22, connectionState: { new: true } })])
    expect(await connect(t.out.ns, '10.77.0.2', 22)).toBe('connected') // reply passes as established
    expect(await connect(t.out.ns, '10.77.0.2', 23)).toBe('timeout')
    await listen(t.out.ns, 9000)
    expect(await connect(t.vm.ns, '10.77.0.3', 9000)).toBe('timeout') // no OUT rule
  })

  test('directions: OUT stops what the VM sends, INOUT both ways', async () => {
    const t = topology()
    const s = service()
    const id = vmId()
    await listen(t.vm.ns, 7000)
    await listen(t.out.ns, 7000)
    await s.applyRules(id, t.vm.port, [], [rule({ name: 'No out 7000', action: 'DROP', direction: 'OUT', protocol: 'tcp', dstPortStart: 7000 })])
    expect(await connect(t.vm.ns, '10.77.0.3', 7000)).toBe('timeout')
    expect(await connect(t.out.ns, '10.77.0.2', 7000)).toBe('connected')
    await s.applyRules(id, t.vm.port, [], [rule({ name: 'No 7000', action: 'DROP', direction: 'INOUT', protocol: 'tcp', dstPortStart: 7000 })])
    expect(await connect(t.vm.ns, '10.77.0.3', 7000)).toBe('timeout')
    expect(await connect(t.out.ns, '10.77.0.2', 7000)).toBe('timeout')
  })

  test('priorities decide conflicts', async () => {
    const t = topology()
    const s = service()
    const id = vmId()
    await listen(t.vm.ns, 6000)
    const allow = (p) => rule({ name: 'Allow', action: 'ACCEPT', direction: 'IN', protocol: 'tcp', dstPortStart: 6000, priority: p })
    const deny = (p) => rule({ name: 'Deny', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 6000, priority: p })
    await s.applyRules(id, t.vm.port, [deny(20)], [allow(10)])
    expect(await connect(t.out.ns, '10.77.0.2', 6000)).toBe('connected')
    await s.applyRules(id, t.vm.port, [deny(10)], [allow(20)])
    expect(await connect(t.out.ns, '10.77.0.2', 6000)).toBe('timeout')
  })

  test('department rules apply to every VM; overridesDept lifts them for one', async () => {
    const t = topology()
    const s = service()
    const [a, b] = [vmId(), vmId()]
    await listen(t.vm.ns, 5000)
    await listen(t.vm2.ns, 5000)
    const dept = [rule({ name: 'Dept no 5000', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 5000, priority: 10 })]
    await s.applyRules(a, t.vm.port, dept, [])
    await s.applyRules(b, t.vm2.port, dept, [])
    expect(await connect(t.out.ns, '10.77.0.2', 5000)).toBe('timeout')
    expect(await connect(t.out.ns, '10.77.0.4', 5000)).toBe('timeout')
    await s.applyRules(b, t.vm2.port, dept, [rule({ name: 'Mine', action: 'ACCEPT', direction: 'IN', protocol: 'tcp', dstPortStart: 5000, priority: 50, overridesDept: true })])
    expect(await connect(t.out.ns, '10.77.0.4', 5000)).toBe('connected')
    expect(await connect(t.out.ns, '10.77.0.2', 5000)).toBe('timeout')
  })

  test('REJECT answers at once (reset through the inet fallback) where DROP stays silent', async () => {
    const t = topology()
    const s = service()
    const id = vmId()
    await listen(t.vm.ns, 4000)
    const r = await s.applyRules(id, t.vm.port, [rule({ name: 'Reject 4000', action: 'REJECT', direction: 'IN', protocol: 'tcp', dstPortStart: 4000 })], [])
    expect(r.fallbacks).toContainEqual({ ruleName: 'Reject 4000', feature: 'reject', mode: 'inet' })
    const started = Date.now()
    expect(await connect(t.out.ns, '10.77.0.2', 4000, 3000)).toBe('refused')
    expect(Date.now() - started).toBeLessThan(2500)
  })

  test('connection states: an IN rule for new connections only does not touch replies', async () => {
    const t = topology()
    const s = service()
    const id = vmId()
    await listen(t.out.ns, 3000)
    await listen(t.vm.ns, 3000)
    // Drop new inbound TCP: the VM can still connect out (replies are established),
    // the outside cannot connect in.
    await s.applyRules(id, t.vm.port, [rule({ name: 'No new in', action: 'DROP', direction: 'IN', protocol: 'tcp', connectionState: { new: true } })], [])
    expect(await connect(t.vm.ns, '10.77.0.3', 3000)).toBe('connected')
    expect(await connect(t.out.ns, '10.77.0.2', 3000)).toBe('timeout')
  })

  test('DHCP: a VM may ask and be answered from outside, but may not answer (quirk 22)', async () => {
    const t = topology()
    const s = service({ defaultPolicy: 'drop' })
    const [a, b] = [vmId(), vmId()]
    // Even with every UDP packet refused both ways, the client side of DHCP works.
    const noUdp = [rule({ name: 'No UDP', action: 'DROP', direction: 'INOUT', protocol: 'udp' })]
    await s.applyRules(a, t.vm.port, [], noUdp)
    await s.applyRules(b, t.vm2.port, [], noUdp)
    expect(await udpDelivered(t.vm.ns, t.out.ns, '10.77.0.3', 68, 67)).toBe(true) // client → server
    expect(await udpDelivered(t.out.ns, t.vm.ns, '10.77.0.2', 67, 68)).toBe(true) // server → client
    expect(await udpDelivered(t.vm.ns, t.out.ns, '10.77.0.3', 5353, 5353)).toBe(false) // other UDP
    // With no rule of their own against it, VMs still cannot answer each other's
    // DHCP: only the base chain's scoping stops the rogue reply.
    const open = service()
    await open.applyRules(a, t.vm.port, [], [])
    await open.applyRules(b, t.vm2.port, [], [])
    expect(await udpDelivered(t.vm2.ns, t.vm.ns, '10.77.0.2', 5067, 68)).toBe(true) // control
    expect(await udpDelivered(t.vm2.ns, t.vm.ns, '10.77.0.2', 67, 68)).toBe(false) // rogue server VM
    expect(await udpDelivered(t.out.ns, t.vm.ns, '10.77.0.2', 67, 68)).toBe(true)
  })

  test('strict mode: a batch with one invalid rule leaves the old rules in place, and traffic as before', async () => {
    const t = topology()
    const s = service({ strictRules: true })
    const id = vmId()
    await listen(t.vm.ns, 2000)
    await listen(t.vm.ns, 2001)
    await s.applyRules(id, t.vm.port, [rule({ name: 'Block 2000', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 2000 })], [])
    const before = chainRules(generateVMChainName(id))
    const e = await rejection(s.applyRules(id, t.vm.port, [
      rule({ name: 'Block 2001', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 2001 }),
      rule({ id: 'bad', name: 'Bad', action: 'DROP', direction: 'IN', protocol: 'tcp', srcIpAddr: '10.0.0.256' })
    ], []))
    expect(isErr(e)).toBe(true)
    expect([e.code, e.message]).toEqual(['INVALID_IP_ADDRESS', '[Rule bad] Invalid source IP address: 10.0.0.256'])
    expect(chainRules(generateVMChainName(id))).toEqual(before)
    expect(await connect(t.out.ns, '10.77.0.2', 2000)).toBe('timeout')
    expect(await connect(t.out.ns, '10.77.0.2', 2001)).toBe('connected')
  })

  test('by default an invalid rule is left out and reported; the others apply in the same transaction', async () => {
    const t = topology()
    const s = service()
    const id = vmId()
    await listen(t.vm.ns, 2200)
    await listen(t.vm.ns, 2201)
    await listen(t.vm.ns, 2202)
    const r = await s.applyRules(id, t.vm.port, [
      rule({ name: 'Block 2200', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 2200 }),
      rule({ id: 'bad', name: 'Bad', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 2202, srcIpAddr: '10.0.0.256' }),
      rule({ id: 'typed', name: 'Typed', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 'x' })
    ], [rule({ name: 'Block 2201', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 2201 })])
    expect(r).toMatchObject({ totalRules: 5, appliedRules: 3, failedRules: 2, chainName: generateVMChainName(id) })
    expect(r.failures).toContainEqual({ ruleName: 'Bad', error: '[Rule bad] Invalid source IP address: 10.0.0.256' })
    expect(r.failures.map((f) => f.ruleName).sort()).toEqual(['Bad', 'Typed'])
    expect(await connect(t.out.ns, '10.77.0.2', 2200)).toBe('timeout')
    expect(await connect(t.out.ns, '10.77.0.2', 2201)).toBe('timeout')
    expect(await connect(t.out.ns, '10.77.0.2', 2202)).toBe('connected') // its rule was left out
    // A result with failures is never cached: the same call applies again.
    expect((await s.applyRulesIfChanged(id, t.vm.port, [rule({ id: 'bad', name: 'Bad', action: 'DROP', direction: 'IN', protocol: 'tcp', srcIpAddr: '10.0.0.256' })], [])).changed).toBe(true)
  })

  test('strict mode by environment variable; a left-out DROP rule is logged as a warning naming it and the VM', () => {
    // A separate process, so its stderr (where the core writes warnings) can be read.
    const script = `
      const { NftablesService } = require(${JSON.stringify(path.resolve(__dirname, '../..'))})
      const rules = [{ id: 'bad', name: 'Deny bad', action: 'DROP', direction: 'IN', priority: 1, protocol: 'tcp', srcIpAddr: '300.1.1.1' }]
      const run = async (s) => s.applyRules('warn-vm-1', 'vnet-warn1', rules, []).then((r) => r.failures, (e) => e.code)
      ;(async () => {
        const lenient = await run(new NftablesService({ enablePersistence: false }))
        process.env.INFINIVIRT_FIREWALL_STRICT = '1'
        const strict = await run(new NftablesService({ enablePersistence: false }))
        const optOut = await run(new NftablesService({ enablePersistence: false, strictRules: false }))
        process.stdout.write(JSON.stringify({ lenient, strict, optOut }))
      })()
    `
    const { spawnSync } = require('child_process')
    const env = { ...process.env }
    delete env.INFINIVIRT_FIREWALL_STRICT
    delete env.INFINIVIRT_WARNINGS
    const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env })
    expect(out.status).toBe(0)
    const r = JSON.parse(out.stdout)
    expect(r.lenient).toEqual([{ ruleName: 'Deny bad', error: '[Rule bad] Invalid source IP address: 300.1.1.1' }])
    expect(r.strict).toBe('INVALID_IP_ADDRESS')
    expect(r.optOut).toHaveLength(1)
    expect(out.stderr).toMatch(/infinivirt:nftables:warn VM warn-vm-1: DROP rule 'Deny bad' is left out of its firewall/)
  })

  test('every IPv4 protocol nft knows is translated, by name or number, and verifies in sync', async () => {
    const t = topology()
    const s = service()
    const id = vmId()
    const protos = ['icmpv6', 'esp', 'gre', 'sctp', 'IPSEC-AH', 'ipv6-icmp', '47', '0', '255', 'udplite']
    const many = protos.map((p, i) => rule({ name: `P ${p}`, action: 'DROP', direction: 'OUT', protocol: p, priority: i }))
    const r = await s.applyRules(id, t.vm.port, many, [])
    expect(r).toMatchObject({ totalRules: protos.length + 1, failedRules: 0, failures: [] })
    expect(T.translateProtocolToTokens('sctp')).toEqual(['ip', 'protocol', '132'])
    expect(T.translateProtocolToTokens('6')).toEqual(['ip', 'protocol', 'tcp'])
    expect(thrown(() => T.translateProtocolToTokens('256')).code).toBe('UNSUPPORTED_PROTOCOL')
    const v = await s.verifyVM(id, t.vm.port, many, [])
    expect(v.drift).toEqual([])
    expect(v.inSync).toBe(true)
    // Real packets: TCP and UDP named by number are matched like their names.
    await listen(t.vm.ns, 2300)
    await s.applyRules(id, t.vm.port, [rule({ name: 'No 6', action: 'DROP', direction: 'IN', protocol: '6' })], [])
    expect(await connect(t.out.ns, '10.77.0.2', 2300)).toBe('timeout')
    expect(await udpDelivered(t.out.ns, t.vm.ns, '10.77.0.2', 5300, 5300)).toBe(true)
    await s.applyRules(id, t.vm.port, [rule({ name: 'No 17', action: 'DROP', direction: 'IN', protocol: '17' })], [])
    expect(await udpDelivered(t.out.ns, t.vm.ns, '10.77.0.2', 5300, 5300)).toBe(false)
    expect(await connect(t.out.ns, '10.77.0.2', 2300)).toBe('connected')
  })

  test('a transaction the kernel refuses changes nothing and rejects with NftablesError context', async () => {
    const t = topology()
    const s = service()
    const id = vmId()
    await listen(t.vm.ns, 2100)
    await listen(t.vm.ns, 2101)
    await s.applyRules(id, t.vm.port, [rule({ name: 'Block 2100', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 2100 })], [])
    const before = nft(['list', 'ruleset'])
    // Sabotage: the reject fallback chain becomes a base chain, which no rule may
    // jump to, so the next batch (which uses REJECT) fails in the kernel.
    nft(['delete', 'chain', 'bridge', 'infinivirt', 'reject_fallback'])
    nft(['add', 'chain', 'bridge', 'infinivirt', 'reject_fallback', '{ type filter hook forward priority 10; policy accept; }'])
    const sabotaged = nft(['list', 'ruleset'])
    const e = await rejection(s.applyRules(id, t.vm.port, [
      rule({ name: 'Block 2101', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 2101 }),
      rule({ name: 'Reject', action: 'REJECT', direction: 'IN', protocol: 'udp', dstPortStart: 9 })
    ], []))
    expect(e.code).toBe('COMMAND_FAILED')
    expect(e.context).toMatchObject({ command: 'apply rules', args: [id, t.vm.port], exitCode: 1 })
    expect(e.context.stderr).toMatch(/Error/)
    expect(nft(['list', 'ruleset'])).toBe(sabotaged)
    expect(before).toContain('Block 2100')
    expect(await connect(t.out.ns, '10.77.0.2', 2100)).toBe('timeout')
    expect(await connect(t.out.ns, '10.77.0.2', 2101)).toBe('connected')
  })
})

// ------------------------------------------------------------------ chain owners

describe('VMs whose ids share their first 8 alphanumerics (one chain name)', () => {
  // Same chain name (`vm_<prefix>`), different TAPs in real use (vnet- + 10 alnums).
  function collidingIds () {
    const p = require('crypto').randomBytes(4).toString('hex')
    return [`${p}-a1`, `${p}-b2`]
  }

  test('the second VM is refused; the first VM\'s rules keep holding through its create, detach, flush and removal', async () => {
    const t = topology()
    const s = service()
    const [a, b] = collidingIds()
    const chain = generateVMChainName(a)
    expect(generateVMChainName(b)).toBe(chain)
    await listen(t.vm.ns, 8080)
    await listen(t.vm2.ns, 8080)
    await s.applyRules(a, t.vm.port, [rule({ name: 'A blocks 8080', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 8080 })], [])
    expect(await connect(t.out.ns, '10.77.0.2', 8080)).toBe('timeout')
    const before = chainRules(chain)
    const holds = async () => {
      expect(chainRules(chain)).toEqual(before)
      expect(mapElems('to_vm')).toEqual([[t.vm.port, { jump: { target: chain } }]])
      expect(await connect(t.out.ns, '10.77.0.2', 8080)).toBe('timeout')
    }

    // Every way B could take the chain over is refused with a typed error naming both.
    for (const call of [
      () => s.applyRules(b, t.vm2.port, [], []),
      () => s.applyRulesIfChanged(b, t.vm2.port, [], []),
      () => s.createVMChain(b, t.vm2.port),
      () => s.ensureVMChain(b),
      () => s.attachJumpRules(b, t.vm2.port)
    ]) {
      const e = await rejection(call())
      expect(isErr(e)).toBe(true)
      expect(e.code).toBe('CHAIN_EXISTS')
      expect(e.message).toContain(a)
      expect(e.message).toContain(b)
      expect(e).toMatchObject({ chainName: chain, vmId: b, ownerVmId: a })
      await holds()
    }
    expect(await connect(t.out.ns, '10.77.0.4', 8080)).toBe('connected') // B has no firewall of A's
    // Stopping, failing or removing B never touches A's elements or chain.
    await s.detachJumpRules(b)
    await s.flushVMRules(b)
    await s.removeVMChain(b)
    await holds()
    const v = await s.verifyVM(b, t.vm2.port, [], [])
    expect(v.inSync).toBe(false)
    expect(v.drift).toEqual([expect.objectContaining({ kind: 'owner', detail: expect.stringContaining(a) })])

    // The owner is kept in the kernel (the chain's comment): a restarted manager and a
    // ruleset restored from the persistence file know it too.
    const restarted = service()
    expect((await rejection(restarted.applyRules(b, t.vm2.port, [], []))).code).toBe('CHAIN_EXISTS')
    expect((await s.verifyVM(a)).inSync).toBe(true)
    expect((await restarted.forcePersist()).success).toBe(true)
    dropTables()
    expect((await restarted.getPersistence().restoreFromDisk()).rulesLoaded).toBe(true)
    expect((await rejection(restarted.applyRules(b, t.vm2.port, [], []))).code).toBe('CHAIN_EXISTS')
    await holds()

    // Once A's chain is gone, B may have it.
    await s.removeVMChain(a)
    expect(await connect(t.out.ns, '10.77.0.2', 8080)).toBe('connected')
    await s.applyRules(b, t.vm2.port, [rule({ name: 'B blocks 8080', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 8080 })], [])
    expect(await connect(t.out.ns, '10.77.0.4', 8080)).toBe('timeout')
    expect((await rejection(s.applyRules(a, t.vm.port, [], []))).ownerVmId).toBe(b)
  })

  test('a chain without an owner record (an earlier version\'s) is taken over by the VM that applies rules to it', async () => {
    const t = topology()
    const s = service()
    const id = vmId()
    const chain = generateVMChainName(id)
    await s.initialize()
    nft(['-f', '-'], `add chain bridge infinivirt ${chain}\nadd rule bridge infinivirt ${chain} tcp dport 9 drop\nadd element bridge infinivirt to_vm { "${t.vm.port}" : jump ${chain} }\n`)
    expect((await s.verifyVM(id, t.vm.port, [], [])).drift.map((d) => d.kind)).toContain('owner')
    await listen(t.vm.ns, 8090)
    await s.applyRules(id, t.vm.port, [rule({ name: 'Mine', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 8090 })], [])
    expect(nft(['list', 'chain', 'bridge', 'infinivirt', chain])).toContain(`comment "infinivirt-vm:${id}"`)
    expect((await s.verifyVM(id)).inSync).toBe(true)
    expect(await connect(t.out.ns, '10.77.0.2', 8090)).toBe('timeout')
  })
})

// ------------------------------------------------------------------ injection

describe('injection', () => {
  test('interface names carrying quotes, semicolons, newlines or spaces are refused before nft runs', async () => {
    nft(['add', 'table', 'inet', 'canary'])
    const s = service()
    for (const tap of ['vnet-a"; flush ruleset; "', 'vnet;drop', 'vnet\nx', 'a b', '', 'vnet-0123456789ab']) {
      const e = await rejection(s.applyRules(vmId(), tap, [], []))
      expect(e.code).toBe('RULE_INVALID')
      const e2 = await rejection(s.createVMChain(vmId(), tap))
      expect(e2.code).toBe('RULE_INVALID')
    }
    expect(nftJson(['list', 'table', 'inet', 'canary'])).not.toBeNull()
    expect(await s.chainExists('x; flush ruleset')).toBe(false)
    expect(await s.chainExists('forward\ndelete table inet canary')).toBe(false)
    expect(nftJson(['list', 'table', 'inet', 'canary'])).not.toBeNull()
  })

  test('interface names that are nft keywords stay strings', async () => {
    const s = service()
    const id = vmId()
    await s.applyRules(id, 'accept', [rule({ name: 'x', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 1 })], [])
    const r = chainRules(generateVMChainName(id))[0]
    expect(r.expr[0].match.right).toBe('accept')
    expect(mapElems('to_vm')).toEqual([['accept', { jump: { target: generateVMChainName(id) } }]])
  })

  test('rule names and comments are neutralised; addresses and ports are validated', async () => {
    nft(['add', 'table', 'inet', 'canary'])
    const s = service()
    const id = vmId()
    const evil = 'a"; flush ruleset; add table ip pwned; "b\nc\\d\u0000e'
    await s.applyRules(id, 'vnet-evil', [rule({ name: evil, action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 1 })], [])
    expect(chainRules(generateVMChainName(id))[0].comment).toBe("a'; flush ruleset; add table ip pwned; 'b c/de")
    expect(nftJson(['list', 'table', 'inet', 'canary'])).not.toBeNull()
    expect(nftJson(['list', 'table', 'ip', 'pwned'])).toBeNull()
    const strict = service({ strictRules: true })
    for (const bad of [{ srcIpAddr: '1.2.3.4; flush ruleset' }, { dstIpMask: '24 accept' }, { dstPortStart: '22; drop' }, { action: 'accept; flush ruleset' }, { direction: 'IN drop' }, { protocol: 'tcp accept' }]) {
      const crafted = [rule({ name: 'x', action: 'DROP', direction: 'IN', protocol: 'tcp', ...bad })]
      const e = await rejection(strict.applyRules(id, 'vnet-evil', crafted, []))
      expect(Object.values(NftablesErrorCode)).toContain(e.code)
      // By default the rule is left out and reported; nothing of it reaches nft.
      const r = await s.applyRules(id, 'vnet-evil', crafted, [])
      expect(r.failures).toEqual([{ ruleName: 'x', error: e.message }])
    }
    expect(nftJson(['list', 'table', 'inet', 'canary'])).not.toBeNull()
    // A long multi-byte name is cut to what nft accepts (128 bytes), not refused.
    await s.applyRules(id, 'vnet-evil', [rule({ name: '€'.repeat(64), action: 'DROP', direction: 'IN' })], [])
    expect(Buffer.byteLength(chainRules(generateVMChainName(id))[0].comment)).toBeLessThanOrEqual(128)
  })
})

// ------------------------------------------------------------------ persistence

describe('persistence (§8.6)', () => {
  test('exportToDisk writes atomically with a backup; the file restores the ruleset after a "reboot"', async () => {
    const t = topology()
    const s = service()
    const id = vmId()
    await listen(t.vm.ns, 1500)
    await s.applyRules(id, t.vm.port, [rule({ name: 'Block 1500', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 1500 })], [])
    const p = s.getPersistence()
    expect(s.getPersistence()).toBe(p)
    const dir = persistDir
    const main = path.join(dir, 'infinivirt.nft')
    // applyRules saves in the background: the file appears without being asked for.
    for (let i = 0; i < 100 && !(await p.getStatus()).mainFileExists; i++) await new Promise((resolve) => setTimeout(resolve, 50))
    const st = await p.getStatus()
    expect(st).toMatchObject({ persistenceDir: dir, mainFileExists: true, tableExists: true })
    expect(st.mainFileModified).toBeInstanceOf(Date)
    const r = await p.exportToDisk()
    expect(r).toMatchObject({ success: true, filePath: main })
    expect(r.timestamp).toBeInstanceOf(Date)
    expect(fs.existsSync(path.join(dir, 'infinivirt.nft.bak'))).toBe(true)
    expect(fs.existsSync(path.join(dir, 'infinivirt.nft.tmp'))).toBe(false)
    expect(fs.existsSync(path.join(dir, '.lock'))).toBe(false)
    const text = fs.readFileSync(main, 'utf8')
    expect(text.split('\n').slice(0, 6)).toEqual(['#!/usr/sbin/nft -f', '#', '# Infinivirt nftables rules', expect.stringMatching(/^# Exported: \d{4}-/), '# DO NOT EDIT - This file is managed by infinivirt', '#'])
    expect(fs.statSync(main).mode & 0o777).toBe(0o644)

    // "Reboot": every table gone, then what the boot unit runs.
    nft(['flush', 'ruleset'])
    expect(await connect(t.out.ns, '10.77.0.2', 1500)).toBe('connected')
    nft(['-f', main])
    nft(['-f', main]) // loading twice replaces, never duplicates
    expect((await s.verifyVM(id)).inSync).toBe(true)
    expect(await connect(t.out.ns, '10.77.0.2', 1500)).toBe('timeout')

    // restoreFromDisk does the same through the API.
    nft(['flush', 'ruleset'])
    expect(await p.restoreFromDisk()).toMatchObject({ success: true, rulesLoaded: true })
    expect((await s.verifyVM(id)).inSync).toBe(true)
    expect(await s.forcePersist()).toEqual({ success: true })
  })

  test('lock, rollback, invalid and missing files, removal', async () => {
    const s = service({ enablePersistence: false })
    const p = s.getPersistence()
    const dir = persistDir
    expect(await p.hasPersistenceFile()).toBe(false)
    expect(await p.restoreFromDisk()).toMatchObject({ success: true, rulesLoaded: false, error: 'No persistence file exists' })
    expect(await p.rollbackToBackup()).toMatchObject({ success: false, rulesLoaded: false, error: 'No backup file exists' })
    expect(await p.exportToDisk()).toMatchObject({ success: true, error: 'No infinivirt table exists' })
    const id = vmId()
    await s.applyRules(id, 'vnet-p1', [rule({ name: 'First', action: 'DROP', direction: 'IN' })], [])
    expect(fs.existsSync(path.join(dir, 'infinivirt.nft'))).toBe(false) // persistence disabled
    expect((await p.exportToDisk()).success).toBe(true)
    await s.applyRules(id, 'vnet-p1', [rule({ name: 'Second', action: 'DROP', direction: 'IN' })], [])
    expect((await p.exportToDisk()).success).toBe(true)
    // The backup holds "First": rolling back loads it and makes it the main file.
    expect(await p.rollbackToBackup()).toMatchObject({ success: true, rulesLoaded: true })
    expect(chainRules(generateVMChainName(id)).map((x) => x.comment)).toContain('First')
    expect(fs.readFileSync(path.join(dir, 'infinivirt.nft'), 'utf8')).toContain('First')
    // A fresh lock held by someone else refuses the export.
    fs.writeFileSync(path.join(dir, '.lock'), '1\n0\n')
    expect(await p.exportToDisk()).toMatchObject({ success: false, error: 'Lock file exists and is not stale' })
    expect(await s.forcePersist()).toEqual({ success: false, error: 'Lock file exists and is not stale' })
    // A stale one (older than 5 minutes) is taken over.
    const old = new Date(Date.now() - 10 * 60 * 1000)
    fs.utimesSync(path.join(dir, '.lock'), old, old)
    expect((await p.exportToDisk()).success).toBe(true)
    // A file without the table is refused.
    fs.writeFileSync(path.join(dir, 'infinivirt.nft'), 'table ip other {\n}\n')
    expect(await p.restoreFromDisk()).toMatchObject({ success: false, rulesLoaded: false, error: 'Invalid ruleset format' })
    expect(await p.removePersistenceFile()).toBe(true)
    expect(await p.removePersistenceFile()).toBe(false)
    expect((await p.getStatus()).mainFileExists).toBe(false)
  })

  test('a file written by the original library replaces the table instead of adding to it', async () => {
    const s = service({ enablePersistence: false })
    const id = vmId()
    await s.applyRules(id, 'vnet-legacy', [rule({ name: 'Now', action: 'DROP', direction: 'IN' })], [])
    const dir = persistDir
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, 'infinivirt.nft'), `#!/usr/sbin/nft -f
table bridge infinivirt {
	chain forward {
		type filter hook forward priority 0; policy accept;
		udp dport 67 accept comment "Allow DHCP client to server"
	}
}
`)
    expect(await s.getPersistence().restoreFromDisk()).toMatchObject({ success: true, rulesLoaded: true })
    expect(chainRules('forward').map((x) => x.comment)).toEqual(['Allow DHCP client to server'])
    expect(await s.chainExists(generateVMChainName(id))).toBe(false)
  })
})

// ------------------------------------------------------------------ operators

describe('verifyVM and explain (additions)', () => {
  test('verifyVM reports drift: missing and unexpected rules, dispatch, layout', async () => {
    const s = service()
    const id = vmId()
    const rules = [rule({ name: 'Block 22', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 22 })]
    await s.applyRules(id, 'vnet-ver', rules, [])
    let v = await s.verifyVM(id)
    expect(v).toMatchObject({ vmId: id, chainName: generateVMChainName(id), tapDeviceName: 'vnet-ver', expectedSource: 'last-applied', inSync: true, drift: [] })
    // Someone deletes the DROP rule and adds an accept-all.
    const chain = generateVMChainName(id)
    const handle = chainRules(chain).find((x) => x.comment === 'Block 22').handle
    nft(['delete', 'rule', 'bridge', 'infinivirt', chain, 'handle', String(handle)])
    nft(['add', 'rule', 'bridge', 'infinivirt', chain, 'accept'])
    nft(['delete', 'element', 'bridge', 'infinivirt', 'from_vm', '{ "vnet-ver" }'])
    nft(['add', 'rule', 'bridge', 'infinivirt', 'forward', 'accept'])
    v = await s.verifyVM(id)
    expect(v.inSync).toBe(false)
    const kinds = v.drift.map((d) => d.kind)
    expect(kinds).toEqual(expect.arrayContaining(['missing-rule', 'unexpected-rule', 'dispatch', 'layout']))
    expect(v.drift.find((d) => d.kind === 'missing-rule')).toMatchObject({ position: 1, expected: 'oifname "vnet-ver" ip protocol tcp tcp dport 22 drop comment "Block 22"' })
    expect(v.drift.find((d) => d.kind === 'unexpected-rule').actual).toBe('accept')
    expect(v.drift.find((d) => d.kind === 'dispatch').detail).toMatch(/vnet-ver is missing from map from_vm/)
    // Verifying against rules passed in (e.g. re-read from the database) works in a
    // fresh instance too; re-applying repairs everything.
    const fresh = service()
    expect((await fresh.verifyVM(id)).expectedSource).toBe('none')
    expect((await fresh.verifyVM(id, 'vnet-ver', rules, [])).expectedSource).toBe('arguments')
    await fresh.applyRules(id, 'vnet-ver', rules, [])
    expect((await fresh.verifyVM(id, 'vnet-ver', rules, [])).inSync).toBe(true)
    // A chain that is gone.
    await fresh.removeVMChain(id)
    v = await fresh.verifyVM(id, 'vnet-ver', rules, [])
    expect(v.chainExists).toBe(false)
    expect(v.drift[0].kind).toBe('missing-chain')
  })

  test('explain names the rule that decides a packet, and agrees with real traffic', async () => {
    const t = topology()
    const s = service({ defaultPolicy: 'drop' })
    const id = vmId()
    await listen(t.vm.ns, 80)
    await listen(t.vm.ns, 443)
    await s.applyRules(id, t.vm.port, [rule({ name: 'Web', action: 'ACCEPT', direction: 'IN', protocol: 'tcp', dstPortStart: 443, priority: 10 })], [
      rule({ name: 'No plain HTTP', action: 'DROP', direction: 'IN', protocol: 'tcp', dstPortStart: 80, priority: 5 })
    ])
    const pkt = (dstPort) => ({ protocol: 'tcp', srcIp: '10.77.0.3', dstIp: '10.77.0.2', srcPort: 40000, dstPort, direction: 'IN' })
    let e = await s.explain(id, pkt(80))
    expect(e.verdict).toBe('drop')
    expect(e.decidedBy).toMatchObject({ chain: generateVMChainName(id), position: 1, ruleName: 'No plain HTTP', matched: true })
    expect(e.reason).toBe(`rule "No plain HTTP" (position 1 of ${generateVMChainName(id)}) decides: drop`)
    expect(await connect(t.out.ns, '10.77.0.2', 80)).toBe('timeout')
    e = await s.explain(id, pkt(443))
    expect([e.verdict, e.decidedBy.ruleName]).toEqual(['accept', 'Web'])
    expect(await connect(t.out.ns, '10.77.0.2', 443)).toBe('connected')
    e = await s.explain(id, pkt(8080))
    expect([e.verdict, e.decidedBy.ruleName]).toEqual(['drop', 'Infinivirt default policy: drop'])
    expect(e.trace.find((x) => x.ruleName === 'Web').note).toBe('destination port 8080 is not 443')
    e = await s.explain(id, { ...pkt(8080), direction: 'OUT', state: 'established', srcIp: '10.77.0.2', dstIp: '10.77.0.3' })
    expect([e.verdict, e.decidedBy.ruleName]).toEqual(['accept', 'Allow Established/Related (Auto)'])
    e = await s.explain(vmId(), pkt(80))
    expect(e.verdict).toBe('accept')
    expect(e.reason).toMatch(/no dispatched port/)
    const bad = await rejection(s.explain(id, { ...pkt(80), srcIp: '10.77.0.300' }))
    expect(bad.code).toBe('INVALID_IP_ADDRESS')
  })
})
