'use strict'
// A VM manager in a process of its own, for the fault suites (lifecycle-faults): the
// parent can SIGKILL it mid-operation, or run two of them against one store. Nothing
// here is mocked: it constructs the public `Infinivirt` of index.js, initialize()s it
// and runs one operation.
//
//   node manager-child.js '<job JSON>'
//
// job:
//   store      { sqlitePath } | { databaseUrl }   (the database of the manager)
//   dirs       { diskDir, qmpSocketDir, pidfileDir, firewallPersistenceDir }
//   extraArgs  raw QEMU arguments (the test guest)
//   op         'create' | 'start' | 'stop' | 'destroy' | 'status' | 'initialize-only'
//   vmId       the VM of the operation
//   config     VMCreateConfig (create) / VMStopConfig (stop)
//   waitForGo  print "ready", then wait for a "go" line on stdin before the operation
//              (two children released at the same moment race each other)
//   stay       after the operation, stay alive and serve stdin commands until "exit"
//              or stdin closes
//
// stdout: one JSON object per line, `{ event, t, ... }` with t = Date.now():
//   ready          initialize() resolved ({ active: getActiveVMs() })
//   op-start       just before the operation's call
//   op-done        { ok: true, result } or { ok: false, code, name, message }
//   reply          the answer to a stdin command ({ id, ok, result | code, message })
//   fatal          initialize() or the job itself failed ({ code, message })
// stdin commands (stay): one JSON object per line, { id, cmd, vmId?, config? } with
//   cmd 'status' (getVMStatus), 'stop', 'start', 'create', 'destroy', 'active'
//   (getActiveVMs), 'row' (the store row via getPrismaAdapter), 'exit' (shutdown, exit 0).
// The Infinivirt logger writes to stderr, which the parent collects.

const path = require('node:path')
const readline = require('node:readline')

const { Infinivirt } = require(path.join(__dirname, '..', '..'))

function emit (event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, t: Date.now(), ...fields })}\n`)
}

function plain (v) {
  // Dates and the like as JSON would carry them.
  return v === undefined ? null : JSON.parse(JSON.stringify(v))
}

function errorFields (e) {
  return { code: e && e.code ? String(e.code) : null, name: e && e.name ? e.name : null, message: e && e.message ? e.message : String(e) }
}

async function run (m, cmd, vmId, config) {
  switch (cmd) {
    case 'create': return m.createVM(config)
    case 'start': return m.startVM(vmId, config)
    case 'stop': return m.stopVM(vmId, config)
    case 'destroy': return m.destroyVM(vmId)
    case 'status': return m.getVMStatus(vmId)
    case 'active': return m.getActiveVMs()
    case 'row': return m.getPrismaAdapter().findMachineWithConfig(vmId)
    // A QMP command sent past the lifecycle (its event still reaches the event handler).
    case 'qmp': return m.getEventHandler().getQMPClient(vmId).execute(config.command)
    case 'initialize-only': return null
    default: throw Object.assign(new Error(`unknown operation ${cmd}`), { code: 'BAD_JOB' })
  }
}

async function main () {
  const job = JSON.parse(process.argv[2])
  const lines = readline.createInterface({ input: process.stdin })
  const queue = []
  let waiting = null
  let closed = false
  lines.on('line', (l) => {
    if (!l.trim()) return
    let msg
    try { msg = JSON.parse(l) } catch { msg = { cmd: l.trim() } }
    if (waiting) { const w = waiting; waiting = null; w(msg) } else queue.push(msg)
  })
  lines.on('close', () => {
    closed = true
    if (waiting) { const w = waiting; waiting = null; w({ cmd: 'exit' }) }
  })
  const next = () => queue.length ? Promise.resolve(queue.shift()) : closed ? Promise.resolve({ cmd: 'exit' }) : new Promise((resolve) => { waiting = resolve })

  const m = new Infinivirt({
    prismaClient: undefined,
    ...job.store,
    ...job.dirs,
    extraArgs: job.extraArgs,
    autoStartHealthMonitor: job.autoStartHealthMonitor
  })
  try {
    await m.initialize()
  } catch (e) {
    emit('fatal', { stage: 'initialize', ...errorFields(e) })
    process.exit(3)
  }
  emit('ready', { pid: process.pid, active: m.getActiveVMs() })

  if (job.waitForGo) {
    for (;;) {
      const msg = await next()
      if (msg.cmd === 'go') break
      if (msg.cmd === 'exit') { await m.shutdown().catch(() => {}); process.exit(0) }
    }
  }

  if (job.op && job.op !== 'initialize-only') {
    emit('op-start', { op: job.op, vmId: job.vmId })
    try {
      const result = await run(m, job.op, job.vmId, job.config)
      emit('op-done', { op: job.op, ok: true, result: plain(result) })
    } catch (e) {
      emit('op-done', { op: job.op, ok: false, ...errorFields(e) })
    }
  }

  if (job.stay) {
    for (;;) {
      const msg = await next()
      if (msg.cmd === 'exit') break
      // Not awaited: commands run concurrently (a status of one VM must not wait
      // behind a wedged call on another).
      run(m, msg.cmd, msg.vmId, msg.config).then(
        (result) => emit('reply', { id: msg.id ?? null, cmd: msg.cmd, ok: true, result: plain(result) }),
        (e) => emit('reply', { id: msg.id ?? null, cmd: msg.cmd, ok: false, ...errorFields(e) }))
    }
  }
  await m.shutdown().catch(() => {})
  process.exit(0)
}

main().catch((e) => {
  emit('fatal', { stage: 'job', ...errorFields(e) })
  process.exit(2)
})
