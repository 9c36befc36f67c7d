'use strict'
// Firewall benchmarks (issue 5 item 6). Run with `npm run bench:firewall`, which
// builds the release addon and runs this file under `unshare --net`, so every table
// it makes lives and dies in a private network namespace.
//
// 1. Apply 1,000 rules to one VM: NftablesService.applyRules (one `nft -f -`
//    transaction) against the original's way, one `nft add rule` process per rule
//    (the peer), into an identical empty chain. Best of 3 each, interleaved.
// 2. Add one VM with 20 rules (createVMChain + applyRules) to a host that already has
//    500 such VMs, against adding it to an empty host. 15 adds on each host (the VM
//    is removed again after each), medians compared.
//
// Persistence is off for both (it writes the whole table to disk after each change,
// which scales with the host, not with the change); its cost is printed separately.
// Every figure is a ratio against a peer measured in the same run.

const fs = require('fs')
const os = require('os')
const path = require('path')
const { execFileSync, execFile } = require('child_process')
const { NftablesService, FirewallRuleTranslator } = require('..')

const RULES = 1000
const VMS = 500
const RULES_PER_VM = 20
const ADDS = 15

// Refuses to run in the host's network namespace (see __test__/helpers/netns.js).
const mustBePrivate = () => require('../__test__/helpers/netns').assertPrivateNetns()

function nft (args, input) {
  return execFileSync('nft', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] })
}

function nftAsync (args) {
  return new Promise((resolve, reject) => execFile('nft', args, (e) => (e ? reject(e) : resolve())))
}

function reset () {
  for (const t of [['bridge', 'infinivirt'], ['inet', 'infinivirt']]) {
    try { nft(['delete', 'table', ...t]) } catch {}
  }
}

// `n` distinct, realistic rules (TCP/UDP ports, addresses, states, both directions).
function rules (n, tag) {
  const out = []
  for (let i = 0; i < n; i++) {
    out.push({
      id: `${tag}-${i}`,
      name: `${tag} rule ${i}`,
      action: i % 3 === 0 ? 'DROP' : 'ACCEPT',
      direction: i % 2 === 0 ? 'IN' : 'OUT',
      priority: i,
      protocol: i % 4 === 0 ? 'udp' : 'tcp',
      dstPortStart: 1000 + i,
      srcIpAddr: `10.${(i >> 8) & 255}.${i & 255}.0`,
      srcIpMask: '24',
      connectionState: i % 5 === 0 ? { new: true, established: true } : null
    })
  }
  return out
}

const ms = (t) => Number(t) / 1e6
const now = () => process.hrtime.bigint()
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function benchApply () {
  const s = new NftablesService({ enablePersistence: false })
  const list = rules(RULES, 'big')
  const vm = 'bench-big-vm'
  const tap = 'vnet-benchbig'
  const ours = []
  const peer = []
  for (let round = 0; round < 3; round++) {
    reset()
    await s.initialize()
    let t = now()
    const r = await s.applyRules(vm, tap, [], list)
    ours.push(ms(now() - t))
    if (r.appliedRules !== RULES + 1) throw new Error(`applied ${r.appliedRules}`)

    // The peer: the same rules into a fresh empty chain, one nft process each, as
    // the original's applyRules did (`nft add rule bridge infinivirt <chain> <tokens…>`).
    reset()
    nft(['add', 'table', 'bridge', 'infinivirt'])
    nft(['add', 'chain', 'bridge', 'infinivirt', 'vm_peer'])
    const tokenLists = []
    for (const rule of list) {
      for (const dir of rule.direction === 'INOUT' ? ['IN', 'OUT'] : [rule.direction]) {
        const toks = FirewallRuleTranslator.translateToTokens({ ...rule, direction: dir, connectionState: null }, tap)
        tokenLists.push(toks)
      }
    }
    t = now()
    for (const toks of tokenLists) await nftAsync(['add', 'rule', 'bridge', 'infinivirt', 'vm_peer', ...toks])
    peer.push(ms(now() - t))
    const n = JSON.parse(nft(['-j', 'list', 'chain', 'bridge', 'infinivirt', 'vm_peer'])).nftables.filter((x) => x.rule).length
    if (n !== tokenLists.length) throw new Error(`peer chain has ${n} rules`)
  }
  return { ours: Math.min(...ours), peer: Math.min(...peer) }
}

async function addOne (s, i) {
  const vm = `ffff${String(i).padStart(4, '0')}-new` // chain vm_ffff00NN: only the first 8 alphanumerics count
  const tap = `vnet-new${i}`
  const t = now()
  await s.createVMChain(vm, tap)
  await s.applyRules(vm, tap, [], rules(RULES_PER_VM, 'new'))
  const took = ms(now() - t)
  await s.removeVMChain(vm)
  return took
}

async function benchScale () {
  const s = new NftablesService({ enablePersistence: false })
  reset()
  await s.initialize()
  const empty = []
  for (let i = 0; i < ADDS; i++) empty.push(await addOne(s, i))

  let t = now()
  for (let v = 0; v < VMS; v++) {
    const vm = `${String(v).padStart(8, '0')}-host`
    await s.applyRules(vm, `vnet-h${v}`, [], rules(RULES_PER_VM, `h${v}`))
  }
  const fill = ms(now() - t)
  const chains = (await s.listChains()).filter((c) => c.startsWith('vm_')).length
  if (chains !== VMS) throw new Error(`the host has ${chains} VM chains`)
  const full = []
  for (let i = 0; i < ADDS; i++) full.push(await addOne(s, i))

  // Persistence of the full host, for reference (not part of either ratio): one
  // export, and adds with persistence on (it runs in the background, coalesced).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-bench-fw-'))
  const sp = new NftablesService({ persistenceDir: dir })
  t = now()
  const r = await sp.getPersistence().exportToDisk()
  const persist = ms(now() - t)
  const size = fs.statSync(r.filePath).size
  const persisted = []
  for (let i = 0; i < ADDS; i++) persisted.push(await addOne(sp, i))
  await sp.forcePersist()
  fs.rmSync(dir, { recursive: true, force: true })
  return { empty: median(empty), full: median(full), fill, persist, size, persisted: median(persisted) }
}

async function main () {
  mustBePrivate()
  const caps = await new NftablesService({ enablePersistence: false }).getCapabilities()
  console.log(`kernel: ${caps.summary}`)

  const a = await benchApply()
  console.log(`\n1. apply ${RULES} rules to one VM (best of 3)`)
  console.log(`   applyRules, one transaction: ${a.ours.toFixed(1)} ms`)
  console.log(`   one \`nft add rule\` per rule:  ${a.peer.toFixed(1)} ms`)
  console.log(`   ratio: ${(a.peer / a.ours).toFixed(1)}x faster (target >= 20x) ${a.peer / a.ours >= 20 ? 'OK' : 'MISSED'}`)

  const b = await benchScale()
  console.log(`\n2. add one VM with ${RULES_PER_VM} rules (median of ${ADDS})`)
  console.log(`   on an empty host:            ${b.empty.toFixed(1)} ms`)
  console.log(`   on a host with ${VMS} VMs:     ${b.full.toFixed(1)} ms  (filling it took ${(b.fill / 1000).toFixed(1)} s)`)
  console.log(`   ratio: ${(b.full / b.empty).toFixed(2)}x (target < 2x) ${b.full / b.empty < 2 ? 'OK' : 'MISSED'}`)
  console.log(`\n   for reference: exportToDisk of the ${VMS}-VM host: ${b.persist.toFixed(1)} ms, ${(b.size / 1024).toFixed(0)} KiB;`)
  console.log(`   the same add with persistence on (saved in the background): ${b.persisted.toFixed(1)} ms`)
  reset()
}

main().catch((e) => {
  reset()
  console.error(e)
  process.exit(1)
})
