'use strict'
// Host-command errors and logs (issue 13, item 5): a failed command's error carries a
// bounded tail of each stream, and neither its message, its fields nor the logs carry
// a secret from its command line (`password=…`, QEMU `-object secret,data=…`, SPICE
// passwords, `--password=…`) or from a URL. Real commands: sh, qemu-system-x86_64.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const util = require('node:util')

const { CommandExecutor, QemuCommandBuilder, QemuProcess } = require('..')
const { rejection } = require('./helpers/lifecycle-env')

jest.setTimeout(60000)

const SHOWN_TAIL = 4096
const SECRETS = ['hunter2spice', 's3cr3tobjdata', 'flag-secret-1', 'sp ace secret']


// Everything an error shows: message, own fields (stdout, stderr, context, …), stack.
function everything (e) {
  return [e.message, e.stack, JSON.stringify({ ...e }), util.inspect(e, { depth: 5 })].join('\n')
}

function expectNoSecret (text) {
  for (const s of SECRETS) expect(text).not.toContain(s)
}

test('CommandExecutor: 300 KB of output and secrets on the command line give a bounded, masked error', async () => {
  // Each stream gets 300 KB, then the secret-bearing arguments echoed.
  const script = "head -c 300000 /dev/zero | tr '\\0' o; echo \" $1 $2 $4\"; head -c 300000 /dev/zero | tr '\\0' e >&2; echo \" $1 $2 $3 $4\" >&2; exit 3"
  const args = ['-c', script, 'x', 'port=5930,password=hunter2spice', 'secret,id=s0,data=s3cr3tobjdata', '--password=flag-secret-1', 'port=1,password=sp ace secret']
  const e = await rejection(new CommandExecutor().execute('sh', args))
  expect(e.code).toBe('COMMAND_FAILED')
  expect(e.exitCode).toBe(3)
  expectNoSecret(everything(e))
  // The spec's message shape, with bounded streams.
  expect(e.message).toMatch(/^Command failed with exit code 3: sh -c .* port=5930,password=\*\*\* secret,id=s0,data=\*\*\* --password=\*\*\* port=1,password=\*\*\*\nstdout: \[\d+ bytes omitted\]o+ port=5930,password=\*\*\* secret,id=s0,data=\*\*\* port=1,password=\*\*\*\n\nstderr: \[\d+ bytes omitted\]e+ port=5930/s)
  expect(e.message.length).toBeLessThan(3 * SHOWN_TAIL)
  expect(e.stdout.length).toBeLessThanOrEqual(SHOWN_TAIL + 40)
  expect(e.stderr.length).toBeLessThanOrEqual(SHOWN_TAIL + 40)
  expect(e.stderr).toMatch(/data=\*\*\*/)
})

test('QemuProcess: QEMU echoing a rejected option with secrets gives a masked error', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-redact-'))
  try {
    const b = new QemuCommandBuilder()
      .setMachine('pc')
      .addRawArg('-nodefaults').addRawArg('-display').addRawArg('none')
      .addRawArg('-object').addRawArg('secret,id=s0,data=s3cr3tobjdata,bogus=1')
      .addQmp(path.join(dir, 'q.sock'))
    const p = new QemuProcess('vm-redact', b)
    const e = await rejection(p.start())
    expect(e.code).toBe('PROCESS_EXITED')
    // QEMU said what was wrong, without the data.
    expect(e.message).toContain("Invalid parameter 'bogus'")
    expect(e.stderr).toContain('secret,id=s0,data=***,bogus=1')
    expectNoSecret(everything(e))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('logs carry no secret: the native logger masks every line', () => {
  // A child with every namespace on: a failing command (logged through Debugger, as
  // the lifecycle logs failures), a URL with credentials, a flag, and a qemu-img run
  // (whose "running <command line>" log goes through the same masking).
  const child = `
    const { CommandExecutor, Debugger, QemuImgService } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    const log = new Debugger('redaction-test')
    ;(async () => {
      try {
        await new CommandExecutor().execute('sh', ['-c', 'echo "$1" >&2; head -c 200000 /dev/zero; exit 1', 'x', 'data=s3cr3tobjdata,secret'])
      } catch (e) { log.log('warn', 'command failed: ' + e.message) }
      log.log('connecting to postgres://app:hunter2spice@db:5432/infinibay')
      log.log('run --password flag-secret-1 now')
      await new QemuImgService().getImageInfo('/nonexistent/x.qcow2').catch(() => {})
    })().then(() => process.exit(0))
  `
  const r = spawnSync(process.execPath, ['-e', child], { env: { ...process.env, DEBUG: 'infinivirt:*' }, encoding: 'utf8' })
  expect(r.status).toBe(0)
  expect(r.stderr).toContain('infinivirt:redaction-test:warn command failed: Command failed with exit code 1')
  expect(r.stderr).toContain('postgres://app:***@db:5432/infinibay')
  expect(r.stderr).toContain('infinivirt:qemu-img running qemu-img info')
  expectNoSecret(r.stderr)
  // The 200 KB of stdout appear only as a bounded tail.
  expect(r.stderr.length).toBeLessThan(4 * SHOWN_TAIL)
})
