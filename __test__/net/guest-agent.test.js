'use strict'
// The guest agent (API-next §1, issue 14) against QEMU's own qemu-ga running in the
// test guest (scripts/test-guest: iv.agent=1), through the public API: a VM created
// by Infinivirt with guestAgentSocketPath, an ext4 data disk mounted in the guest for
// fsfreeze, the guest NIC on a bridge in the private namespace of scripts/test-net.sh.
// Protocol edge cases a real agent cannot be made to produce (garbage, oversized
// replies) are covered against a scripted peer in src/agent/client/tests.rs.

const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const { GuestAgentClient, QMPClient, SnapshotManager, StorageError } = require('../..')
const env = require('../helpers/lifecycle-env')
const { newVmId, rejection } = env
const { guestArgs, waitForMarker } = require('../helpers/guest')

jest.setTimeout(180000)

const h = env.harness('iv-agent')

// A VM running the guest with the agent and an ext4 disk labelled ivdata on /mnt/data.
async function agentVm ({ mode = 'wait', ip } = {}) {
  const br = await h.bridge(ip ? ip.replace(/\.\d+\//, '.1/') : '10.214.9.1/24')
  const serial = path.join(h.dir, 'serial.log')
  // qcow2 (internal snapshots need it) holding an ext4 made on a raw image.
  const raw = path.join(h.dir, 'data.raw')
  const data = path.join(h.dir, 'data.qcow2')
  fs.writeFileSync(raw, '')
  fs.truncateSync(raw, 32 * 1024 * 1024)
  execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'ivdata', raw])
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, data])
  fs.rmSync(raw)
  const extraArgs = [
    ...guestArgs({ mode, ip, agent: true, data: 'LABEL=ivdata', serialPath: serial }),
    '-drive', `file=${data},format=qcow2,if=virtio,id=ivdata0`
  ]
  const m = await h.manager({ extraArgs })
  const vmId = newVmId('g')
  await h.seedMachine(m, vmId)
  const socket = path.join(h.dir, 'ga.sock')
  const r = await m.createVM(env.createConfig(vmId, br, { guestAgentSocketPath: socket }))
  await waitForMarker(serial, 'IV-READY', 90000)
  return { m, vmId, socket, serial, data, pid: r.pid }
}

// A QMPClient on the VM's monitor: it shares the manager's connection to the socket.
async function qmpOf (vmId) {
  const q = new QMPClient(path.join(h.dir, 'qmp', `vm-${vmId}.sock`))
  await q.connect()
  return q
}

// The crypt(3) field of `user` in the guest's /etc/shadow.
async function shadowOf (c, user) {
  const line = (await c.fileRead('/etc/shadow')).toString().split('\n').find((l) => l.startsWith(`${user}:`))
  return line.split(':')[1]
}

// SHA-512 crypt of `password` with `salt`, computed on the host.
function sha512crypt (password, salt) {
  return execFileSync('busybox', ['mkpasswd', '-m', 'sha512', '-S', salt, '-P', '0'], { input: `${password}\n`, encoding: 'utf8' }).trim()
}

// Milliseconds `p` took to settle.
async function timed (p) {
  const t = Date.now()
  try { await p } catch {}
  return Date.now() - t
}

describe('GuestAgentClient and Infinivirt.guestExec against qemu-ga in the guest', () => {
  test('exec, output decoding, deadlines, stale replies, guest info, freeze/thaw, and the agent going away', async () => {
    const { m, vmId, socket, data } = await agentVm({ ip: '10.214.0.2/24' })

    // ---- Infinivirt.guestExec: arguments, exit codes, stdout/stderr, UTF-8 --------
    // The socket path may be omitted: the stored guestAgentSocketPath is used.
    expect(await m.guestExec(vmId, undefined, '/bin/echo', ['a b', 'c'])).toEqual({ stdout: 'a b c\n', stderr: '', exitCode: 0 })
    expect(await m.guestExec(vmId, socket, '/bin/sh', ['-c', 'echo out; echo err >&2; exit 3'])).toEqual({ stdout: 'out\n', stderr: 'err\n', exitCode: 3 })
    // UTF-8 decoded (the original decoded latin1: 'Ã©').
    expect((await m.guestExec(vmId, null, '/bin/echo', ['héllo ✓'])).stdout).toBe('héllo ✓\n')
    // Killed by a signal: exit code -1 and the signal.
    expect(await m.guestExec(vmId, null, '/bin/sh', ['-c', 'kill -9 $$'])).toMatchObject({ exitCode: -1, signal: 9 })

    // ---- GuestAgentClient: binary output as Buffers, a second client shares the connection
    const c = new GuestAgentClient(socket, { connectTimeout: 5000, commandTimeout: 10000 })
    await c.connect()
    expect(c.isConnected()).toBe(true)
    const raw = await c.guestExecRaw('/bin/sh', ['-c', 'printf "\\000\\377\\001\\303\\251"'])
    expect(raw.stdout).toEqual(Buffer.from([0x00, 0xff, 0x01, 0xc3, 0xa9]))
    expect(raw.exitCode).toBe(0)

    // A command outliving its deadline: a typed timeout, in time, and the client still works.
    const t0 = Date.now()
    const late = await rejection(c.guestExec('/bin/sleep', ['30'], { timeout: 1500 }))
    expect(Date.now() - t0).toBeLessThan(6000)
    expect(late.code).toBe('AGENT_TIMEOUT')
    expect(late.message).toMatch(/^guest-exec timed out for command "\/bin\/sleep" \(pid \d+\) after 1500ms$/)
    await c.ping()

    // A stale reply after a timeout never answers the next request: an 8 MiB read
    // (about 11 MiB of base64 over the channel, seconds under TCG) outlives its 100 ms
    // deadline; the next request resyncs past that late reply and gets its own answer.
    const zero = await c.execute('guest-file-open', { path: '/dev/zero', mode: 'r' })
    const stale = await rejection(c.execute('guest-file-read', { handle: zero, count: 8 * 1024 * 1024 }, { timeout: 100 }))
    expect(stale.code).toBe('AGENT_TIMEOUT')
    expect(await c.getHostName()).toBe('iv-guest')
    await c.execute('guest-file-close', { handle: zero })
    expect(await c.execute('guest-get-host-name')).toEqual({ 'host-name': 'iv-guest' })

    // ---- typed helpers ---------------------------------------------------------------
    const info = await c.info()
    expect(info.version).toMatch(/^\d+\.\d+/)
    expect(info.supported_commands.map((x) => x.name)).toEqual(expect.arrayContaining(['guest-exec', 'guest-fsfreeze-freeze']))
    expect(await c.getOsInfo()).toHaveProperty('kernel-release')
    // The guest's address once its NIC is configured (iv.ip, before IV-READY).
    const ifaces = await c.getNetworkInterfaces()
    const eth0 = ifaces.find((i) => i.name === 'eth0')
    expect(eth0['ip-addresses']).toEqual(expect.arrayContaining([expect.objectContaining({ 'ip-address-type': 'ipv4', 'ip-address': '10.214.0.2', prefix: 24 })]))
    const fsinfo = await c.getFsInfo()
    expect(fsinfo).toEqual(expect.arrayContaining([expect.objectContaining({ mountpoint: '/mnt/data', type: 'ext4' })]))
    // Files, with size limits.
    expect(await c.fileWrite('/mnt/data/hello', 'hé\n')).toBe(4)
    expect((await c.fileRead('/mnt/data/hello')).toString()).toBe('hé\n')
    expect((await rejection(c.fileRead('/mnt/data/hello', { maxBytes: 2 }))).code).toBe('AGENT_FILE_TOO_LARGE')
    expect((await rejection(c.fileRead('/no/such/file'))).code).toBe('AGENT_COMMAND_FAILED')
    // set-user-password: qemu-ga runs chpasswd in the guest (scripts/test-guest: a
    // stand-in that hashes into /etc/shadow), so the password that arrived is checked
    // against its hash; a failure never carries it.
    expect(await shadowOf(c, 'iv')).toBe('!')
    await c.setUserPassword('iv', 's3cr3t-pw é')
    const hash = await shadowOf(c, 'iv')
    expect(hash).toMatch(/^\$6\$[^$]+\$/)
    expect(hash).toBe(sha512crypt('s3cr3t-pw é', hash.split('$')[2]))
    expect(hash).not.toBe(sha512crypt('s3cr3t-pw', hash.split('$')[2]))
    const given = sha512crypt('other-pw', 'fixedsalt')
    await c.setUserPassword('iv', given, { crypted: true })
    expect(await shadowOf(c, 'iv')).toBe(given)
    const pwErr = await rejection(c.setUserPassword('nosuchuser', 's3cr3t-pw'))
    expect(pwErr.code).toBe('AGENT_COMMAND_FAILED')
    for (const secret of ['s3cr3t-pw', Buffer.from('s3cr3t-pw').toString('base64')]) {
      expect(`${pwErr.message} ${JSON.stringify(pwErr)} ${pwErr.stack}`).not.toContain(secret)
    }
    expect((await rejection(c.setUserPassword('iv', ''))).code).toBe('AGENT_INVALID_ARGUMENT')
    // The libvirt-style pass-through.
    expect(JSON.parse(await m.qemuAgentCommand(vmId, '{"execute":"guest-get-host-name"}', 5))).toEqual({ return: { 'host-name': 'iv-guest' } })
    expect((await rejection(m.qemuAgentCommand(vmId, '{"execute":"guest-nope"}'))).code).toBe('AGENT_COMMAND_NOT_FOUND')

    // ---- getVMStatus reports the agent and the guest's addresses --------------------
    const st = await m.getVMStatus(vmId)
    expect(st).toMatchObject({ status: 'running', processAlive: true, monitorResponsive: true, agentResponsive: true })
    expect(st.guestIpAddresses).toContain('10.214.0.2')
    expect(st.guestIpAddresses).not.toContain('127.0.0.1')

    // ---- freeze → a write inside the guest blocks → thaw → it completes -------------
    // The writer starts before the freeze (a frozen agent runs no guest-exec) and
    // records, in centiseconds of uptime, when its write began and when it returned.
    const writer = await c.execute('guest-exec', {
      path: '/bin/sh',
      arg: ['-c', 'sleep 2; a=$(cut -d" " -f1 /proc/uptime); echo data > /mnt/data/frozen; b=$(cut -d" " -f1 /proc/uptime); echo "$a $b" > /tmp/writer']
    })
    expect(writer.pid).toBeGreaterThan(0)
    expect(await c.fsFreeze()).toBe(1)
    expect(await c.fsFreezeStatus()).toBe('frozen')
    const disabled = await rejection(c.guestExec('/bin/true'))
    expect(disabled.code).toBe('AGENT_COMMAND_DISABLED')
    await new Promise((resolve) => setTimeout(resolve, 6000))
    expect(await c.fsThaw()).toBe(1)
    expect(await c.fsFreezeStatus()).toBe('thawed')
    let times = null
    for (let i = 0; i < 50 && !times; i++) {
      const r = await c.guestExec('/bin/cat', ['/tmp/writer'])
      if (r.exitCode === 0) times = r.stdout.trim().split(' ').map(Number)
      else await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(times).not.toBeNull()
    // The write waited for the thaw (frozen ~4 s after the writer woke up).
    expect(times[1] - times[0]).toBeGreaterThan(2)
    expect((await c.fileRead('/mnt/data/frozen')).toString()).toBe('data\n')

    // ---- quiesced live snapshots: freeze, snapshot, thaw on every path ---------------
    const qmp = await qmpOf(vmId)
    const snaps = new SnapshotManager()
    const names = async () => (await snaps.listSnapshots(data)).map((s) => s.name)
    // Through the agent socket (joining this client's connection).
    expect(await snaps.createLiveSnapshot(qmp, 'ivdata0', 'q1', { quiesce: socket, quiesceRequired: true })).toEqual({ quiesced: true, frozenFilesystems: 1 })
    expect(await names()).toEqual(['q1'])
    expect(await c.fsFreezeStatus()).toBe('thawed')
    // Through a GuestQuiesce object (this GuestAgentClient): frozen before the
    // snapshot exists, thawed after it does.
    const seen = []
    const recorder = {
      fsFreeze: async () => { const n = await c.fsFreeze(); seen.push(['freeze', await c.fsFreezeStatus(), await names()]); return n },
      fsThaw: async () => { seen.push(['thaw', await names()]); return c.fsThaw() }
    }
    expect(await snaps.createLiveSnapshot(qmp, 'ivdata0', 'q2', { quiesce: recorder })).toEqual({ quiesced: true, frozenFilesystems: 1 })
    expect(seen).toEqual([['freeze', 'frozen', ['q1']], ['thaw', ['q1', 'q2']]])
    expect(await c.fsFreezeStatus()).toBe('thawed')
    // The snapshot fails (the name exists): its typed error, and the guest thawed.
    let e1 = await rejection(snaps.createLiveSnapshot(qmp, 'ivdata0', 'q1', { quiesce: socket }))
    expect(e1).toBeInstanceOf(StorageError)
    expect([e1.code, e1.path, e1.command]).toEqual(['SNAPSHOT_ALREADY_EXISTS', 'ivdata0', 'blockdev-snapshot-internal-sync'])
    expect(await c.fsFreezeStatus()).toBe('thawed')
    seen.length = 0
    e1 = await rejection(snaps.createLiveSnapshot(qmp, 'ivdata0', 'q1', { quiesce: recorder, quiesceRequired: true }))
    expect(e1.code).toBe('SNAPSHOT_ALREADY_EXISTS')
    expect(seen.map((x) => x[0])).toEqual(['freeze', 'thaw'])
    expect(await c.fsFreezeStatus()).toBe('thawed')
    // A freeze that outlives its deadline: thawed once qemu-ga finishes it late.
    // Required: a typed error and no snapshot; otherwise an unquiesced snapshot.
    e1 = await rejection(snaps.createLiveSnapshot(qmp, 'ivdata0', 'q3', { quiesce: socket, freezeTimeoutMs: 1, quiesceRequired: true }))
    expect([e1.code, e1.command, e1.path, e1.snapshot]).toEqual(['AGENT_TIMEOUT', 'guest-fsfreeze-freeze', 'ivdata0', 'q3'])
    expect(e1.message).toMatch(/^Cannot quiesce the guest for live snapshot 'q3' on device ivdata0: QGA command 'guest-fsfreeze-freeze' timed out after 1ms\. No snapshot was taken\.$/)
    expect(await c.fsFreezeStatus()).toBe('thawed')
    expect(await names()).toEqual(['q1', 'q2'])
    expect(await snaps.createLiveSnapshot(qmp, 'ivdata0', 'q3', { quiesce: socket, freezeTimeoutMs: 1 })).toEqual({ quiesced: false })
    expect(await c.fsFreezeStatus()).toBe('thawed')
    // No agent behind the path: required → typed error, no snapshot; else unquiesced.
    const nowhere = path.join(h.dir, 'no-agent.sock')
    e1 = await rejection(snaps.createLiveSnapshot(qmp, 'ivdata0', 'q4', { quiesce: nowhere, quiesceRequired: true }))
    expect([e1.code, e1.command]).toEqual(['AGENT_CONNECT_FAILED', 'guest-fsfreeze-freeze'])
    expect(await names()).toEqual(['q1', 'q2', 'q3'])
    expect(await snaps.createLiveSnapshot(qmp, 'ivdata0', 'q4', { quiesce: nowhere })).toEqual({ quiesced: false })
    expect(await names()).toEqual(['q1', 'q2', 'q3', 'q4'])
    // Bad options are typed and take no snapshot.
    expect((await rejection(snaps.createLiveSnapshot(qmp, 'ivdata0', 'q5', { quiesce: socket, freezeTimeoutMs: 0 }))).code).toBe('AGENT_INVALID_ARGUMENT')
    expect((await rejection(snaps.createLiveSnapshot(qmp, 'ivdata0', 'q5', { quiesceRequired: true }))).code).toBe('AGENT_INVALID_ARGUMENT')
    for (const quiesce of [{}, 42, { fsFreeze: () => 1 }]) {
      expect((await rejection(snaps.createLiveSnapshot(qmp, 'ivdata0', 'q5', { quiesce }))).code).toBe('AGENT_INVALID_ARGUMENT')
    }
    expect(await names()).toEqual(['q1', 'q2', 'q3', 'q4'])
    // Without quiesce the call is the plain live snapshot (3 arguments: undefined).
    expect(await snaps.createLiveSnapshot(qmp, 'ivdata0', 'q5', {})).toEqual({ quiesced: false })
    expect(await snaps.createLiveSnapshot(qmp, 'ivdata0', 'q6')).toBeUndefined()
    await qmp.disconnect()

    // ---- a manager restart finds the guest frozen and thaws it -----------------------
    // (a manager that died between a freeze and its thaw; its VMs keep running)
    expect(await c.fsFreeze()).toBe(1)
    await m.shutdown()
    const m2 = await h.manager()
    let state = 'frozen'
    for (let i = 0; i < 100 && state === 'frozen'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      state = await c.fsFreezeStatus()
    }
    expect(state).toBe('thawed')
    expect((await m2.getVMStatus(vmId)).agentResponsive).toBe(true)

    // ---- the agent killed in the guest: typed errors, no hang -----------------------
    await c.guestExec('/bin/sh', ['-c', '(sleep 1; kill $(cat /run/qga/pid)) >/dev/null 2>&1 &'])
    await new Promise((resolve) => setTimeout(resolve, 3000))
    const gone = await rejection(c.ping({ timeout: 2000 }))
    expect(gone.code).toBe('AGENT_TIMEOUT')
    // The next request resyncs first and finds nobody: AGENT_NOT_RUNNING within connectTimeout.
    let e
    const took = await timed(c.guestExec('/bin/true').catch((x) => { e = x; throw x }))
    expect(e.code).toBe('AGENT_NOT_RUNNING')
    expect(took).toBeLessThan(8000)
    // Through the facade too, and a fresh client cannot connect.
    expect((await rejection(m2.guestExec(vmId, undefined, '/bin/true', [], { timeout: 3000 }))).code).toMatch(/^AGENT_(NOT_RUNNING|TIMEOUT)$/)
    // getVMStatus stays within its bound and says the agent does not answer.
    const t1 = Date.now()
    const st2 = await m2.getVMStatus(vmId)
    expect(Date.now() - t1).toBeLessThan(3000)
    expect(st2).toMatchObject({ processAlive: true, monitorResponsive: true, agentResponsive: false, guestIpAddresses: [] })
    // A quiesced snapshot through the socket whose agent does not answer.
    const qmp2 = await qmpOf(vmId)
    const t2 = Date.now()
    const e2 = await rejection(snaps.createLiveSnapshot(qmp2, 'ivdata0', 'q7', { quiesce: socket, quiesceRequired: true }))
    expect(e2.code).toMatch(/^AGENT_(NOT_RUNNING|TIMEOUT)$/)
    expect(Date.now() - t2).toBeLessThan(20000)
    expect(await names()).not.toContain('q7')
    expect(await snaps.createLiveSnapshot(qmp2, 'ivdata0', 'q7', { quiesce: socket })).toEqual({ quiesced: false })
    expect(await names()).toContain('q7')
    await qmp2.disconnect()
    const fresh = new GuestAgentClient(socket, { connectTimeout: 1000 })
    expect((await rejection(fresh.connect())).code).toMatch(/^AGENT_(NOT_RUNNING|CONNECT_FAILED)$/)
    await c.disconnect()
    expect(c.isConnected()).toBe(false)
  })

  test('stopVM escalates to the agent when the guest ignores the power button', async () => {
    const { m, vmId, serial } = await agentVm({ mode: 'hang', ip: '10.214.1.2/24' })
    await waitForMarker(serial, 'IV-AGENT-STARTED', 1000)
    const t = Date.now()
    const r = await m.stopVM(vmId, { graceful: true, timeout: 12000, force: true })
    // Not forced: the agent's guest-shutdown powered the guest off after the ACPI half (6 s).
    expect(r).toMatchObject({ success: true, forced: false })
    expect(Date.now() - t).toBeLessThan(12000)
    await waitForMarker(serial, 'IV-AGENT-SHUTDOWN poweroff', 1000)
    expect((await m.getVMStatus(vmId)).status).toBe('off')
  })

  test('typed errors without an agent: no socket, no stored path, not connected', async () => {
    const c = new GuestAgentClient(path.join(h.dir, 'none.sock'))
    const e = await rejection(c.connect())
    expect(e.code).toBe('AGENT_CONNECT_FAILED')
    expect(e.message).toMatch(/^QGA socket error: connect ENOENT/)
    const n = await rejection(c.execute('guest-ping'))
    expect([n.code, n.message]).toEqual(['AGENT_NOT_CONNECTED', 'Not connected to QGA socket'])
    const m = await h.manager()
    const vmId = newVmId('n')
    await h.seedMachine(m, vmId)
    expect((await rejection(m.guestExec(vmId, undefined, '/bin/true'))).code).toBe('AGENT_NOT_CONFIGURED')
    expect((await rejection(m.qemuAgentCommand('no-such-vm', '{"execute":"guest-ping"}'))).code).toBe('VM_NOT_FOUND')
  })
})
