'use strict'
// TAP benchmark (issue 5 item 6). Run with `npm run bench:tap`, which builds the
// release addon and runs this file inside a private network namespace
// (`unshare --net`); it refuses to run in the host's.
//
// One iteration = a TAP's whole life: create, configure (up + checksum offload
// off), attach to a bridge, destroy. Measured two ways in the same run,
// interleaved so both see the same machine state:
//   * TapDeviceManager (netlink and the TUN/ethtool ioctls, from JS);
//   * the same steps as host commands, the way the original library ran them:
//     `ip tuntap add dev <t> mode tap`, `ip link set <t> up`,
//     `ethtool -K <t> tx off rx off`, `ip link set <t> master <br>`,
//     `ip link del <t>` (spawned without a shell, awaited one by one).
// The original also ran an `ip link show` before most steps and slept 200 ms in
// destroy; the peer here leaves those out, so it is the fastest possible `ip` flow.
//
// Prints the median and p90 of each, per phase (create + configure + attach, and
// destroy) and for the whole life cycle, with the ratio of the medians. `destroy`
// returns once the kernel has unlisted the device; `ip link del` also waits for the
// kernel's final teardown (an RCU barrier, most of its time). Nothing here is a
// timed test; `npm test` does not run it. Everything made is removed, also on failure.

const { execFile } = require('child_process')
const { TapDeviceManager, BridgeManager } = require('..')
const { assertPrivateNetns, uniqueName } = require('../__test__/helpers/netns')

const ITERATIONS = Number(process.env.BENCH_ITERATIONS || 200)
const WARMUP = 10

function run (cmd, args) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)))
  })
}

function ms (ns) {
  return Number(ns) / 1e6
}

function stats (samples) {
  const s = [...samples].sort((a, b) => a - b)
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))]
  return { median: at(0.5), p90: at(0.9) }
}

async function main () {
  assertPrivateNetns()
  const mgr = new TapDeviceManager()
  const bridges = new BridgeManager()
  const br = uniqueName('ivbench')
  await bridges.create(br)
  const made = new Set()

  // Each returns [setup ms, destroy ms]: setup = create + configure + attach.
  async function native (i) {
    const t0 = process.hrtime.bigint()
    const tap = await mgr.create(`bench-native-${i}`)
    made.add(tap)
    await mgr.configure(tap)
    await mgr.attachToBridge(tap, br)
    const t1 = process.hrtime.bigint()
    await mgr.destroy(tap)
    const t2 = process.hrtime.bigint()
    made.delete(tap)
    return [ms(t1 - t0), ms(t2 - t1)]
  }

  async function ipFlow (i) {
    const tap = `vnet-benchip${i % 1000}`
    const t0 = process.hrtime.bigint()
    made.add(tap)
    await run('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap'])
    await run('ip', ['link', 'set', tap, 'up'])
    await run('ethtool', ['-K', tap, 'tx', 'off', 'rx', 'off'])
    await run('ip', ['link', 'set', tap, 'master', br])
    const t1 = process.hrtime.bigint()
    await run('ip', ['link', 'del', tap])
    const t2 = process.hrtime.bigint()
    made.delete(tap)
    return [ms(t1 - t0), ms(t2 - t1)]
  }

  try {
    for (let i = 0; i < WARMUP; i++) {
      await native(`w${i}`)
      await ipFlow(900 + i)
    }
    const a = { setup: [], destroy: [], total: [] }
    const b = { setup: [], destroy: [], total: [] }
    const record = (into, [setup, destroy]) => {
      into.setup.push(setup)
      into.destroy.push(destroy)
      into.total.push(setup + destroy)
    }
    for (let i = 0; i < ITERATIONS; i++) {
      record(a, await native(i))
      record(b, await ipFlow(i))
    }
    console.log(`TAP create + configure + attach + destroy, ${ITERATIONS} iterations each (interleaved), private netns`)
    console.log('  phase                          TapDeviceManager (median / p90)   ip+ethtool (median / p90)   ratio of medians')
    for (const phase of ['setup', 'destroy', 'total']) {
      const n = stats(a[phase])
      const p = stats(b[phase])
      const label = { setup: 'create + configure + attach', destroy: 'destroy', total: 'whole life cycle' }[phase]
      console.log(`  ${label.padEnd(30)} ${n.median.toFixed(3).padStart(8)} / ${n.p90.toFixed(3).padStart(8)} ms` +
        `        ${p.median.toFixed(3).padStart(8)} / ${p.p90.toFixed(3).padStart(8)} ms     ${(p.median / n.median).toFixed(1)}x`)
    }
    const ratio = stats(b.total).median / stats(a.total).median
    console.log(`  whole life cycle: ${ratio.toFixed(1)}x ${ratio >= 3 ? '(target >= 3x met)' : '(target >= 3x NOT met)'}`)
  } finally {
    for (const tap of made) await run('ip', ['link', 'del', tap]).catch(() => {})
    await bridges.destroy(br)
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e)
  process.exit(1)
})
