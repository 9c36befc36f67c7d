#!/usr/bin/env node
'use strict'

// The "main job": a real VM started, inspected and stopped through the public API
// of @infinibay/infinivirt, the way the Infinibay backend calls it.
//
//   1. pick the accelerator (KVM only where it really works, else TCG)
//   2. make a temp dir and a 1 GiB qcow2 disk
//   3. build the QEMU argv with QemuCommandBuilder + SpiceConfig (console on loopback)
//   4. start QEMU with QemuProcess (no shell, -daemonize, PID proven from the pidfile)
//   5. QMPClient: query-status, let it run, query-status again, a screenshot, quit
//   6. wait for the exit event, remove everything, print a summary
//
// Any failure exits non-zero after cleaning up; only the QEMU this script started
// is ever signalled, through its QemuProcess handle.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const { QemuCommandBuilder, QemuProcess, QMPClient, SpiceConfig, detectAccelerator } = require('..')

const RUN_FOR_MS = 3000
const t0 = Date.now()
const step = (msg) => console.log(`[main-job +${((Date.now() - t0) / 1000).toFixed(2).padStart(5)}s] ${msg}`)

/** First TCP port >= 5900 on 127.0.0.1 that binds right now. */
async function freePort () {
  for (let port = 5900; port < 6000; port++) {
    const ok = await new Promise((resolve) => {
      const s = net.createServer().once('error', () => resolve(false))
      s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)))
    })
    if (ok) return port
  }
  throw new Error('no free port in 5900-5999')
}

async function main () {
  const accel = detectAccelerator()
  step(`accelerator: ${accel.accel} (${accel.reason}); CPU model ${accel.cpuModel}`)

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'infinivirt-main-'))
  let proc = null
  let qmp = null
  try {
    const disk = path.join(dir, 'disk.qcow2')
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '1G'])
    step(`created ${disk} (1 GiB qcow2)`)

    const port = await freePort()
    const sock = path.join(dir, 'qmp.sock')
    const builder = new QemuCommandBuilder()
      .setMachine('q35', { accel: accel.accel })
      .setCpu(accel.cpuModel, 1)
      .setMemory(0.5)
      .addDisks([{ path: disk, format: 'qcow2', bus: 'virtio', cache: 'writeback', discard: true }])
      .addSpice(new SpiceConfig({ port, addr: '127.0.0.1', disableTicketing: true, enableAgent: false }))
      .addQmp(sock)
      .setBootOrder(['c'])
      .setProcessOptions({ vmId: 'main-job', name: 'infinivirt-main-job', daemonize: true, pidfile: path.join(dir, 'qemu.pid') })
    const { command, args } = builder.buildCommand()
    step('QEMU command line:')
    console.log(`  ${command} ${args.join(' ')}`)

    proc = new QemuProcess('main-job', builder)
    proc.setQmpSocketPath(sock)
    await proc.start()
    step(`QEMU running as PID ${proc.getPid()} (proven by /proc and held by a pidfd)`)

    qmp = new QMPClient(sock)
    await qmp.connect()
    const v = qmp.getGreeting().QMP.version.qemu
    step(`QMP connected (QEMU ${v.major}.${v.minor}.${v.micro})`)
    step(`status: ${JSON.stringify(await qmp.queryStatus())}`)
    await new Promise((resolve) => setTimeout(resolve, RUN_FOR_MS))
    step(`status after ${RUN_FOR_MS / 1000}s: ${JSON.stringify(await qmp.queryStatus())}`)
    const shot = path.join(dir, 'screen.png')
    await qmp.screendump(shot)
    step(`screenshot: ${fs.statSync(shot).size} bytes of PNG from the SPICE/QXL display`)

    proc.once('exit', ({ pid }) => step(`exit event: PID ${pid} is gone`))
    await qmp.quit()
    // Exit events never keep Node alive on their own (a manager may exit while its
    // VMs run on); waitForExit() is the promise that does.
    await proc.waitForExit()
    step(`QEMU exited; alive=${proc.isAlive()}`)
  } finally {
    if (qmp) await qmp.disconnect().catch(() => {})
    if (proc && proc.isAlive()) {
      step('cleaning up: killing the QEMU we started')
      await proc.forceKill()
    }
    fs.rmSync(dir, { recursive: true, force: true })
    step(`removed ${dir}`)
  }
}

main().then(
  () => step('main job finished: VM built, started, inspected and stopped'),
  (err) => {
    console.error(`[main-job] FAILED: ${err && err.stack ? err.stack : err}`)
    process.exit(1)
  }
)
