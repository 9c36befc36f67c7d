'use strict'
// Image fixtures shared by the storage suites: a per-suite temp root with fresh
// subdirectories, qemu-io pattern writes and checks, and running a tool by argv.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

/** Runs `cmd` (no shell) in the C locale; the result of spawnSync. */
function tool (cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } })
  if (r.error) throw r.error
  return r
}

/** Like `tool`, but a non-zero exit throws with the tool's output; its stdout. */
function mustRun (cmd, args) {
  const r = tool(cmd, args)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`)
  return r.stdout
}

/** Writes `len` bytes of `pattern` at `offset` into an image with qemu-io. */
function writePattern (img, pattern, offset, len, format = 'qcow2') {
  mustRun('qemu-io', ['-f', format, '-c', `write -P ${pattern} ${offset} ${len}`, img])
}

/** True when the image reads back `pattern` over the whole range (read-only, shared). */
function holdsPattern (img, pattern, offset, len, format = 'qcow2') {
  const r = tool('qemu-io', ['-r', '-U', '-f', format, '-c', `read -P ${pattern} ${offset} ${len}`, img])
  return r.status === 0 && !/verification failed/i.test(r.stdout + r.stderr)
}

/**
 * A temp root made in beforeAll and removed in afterAll of the calling suite;
 * `freshDir()` gives a new empty directory under it.
 */
function tempRoot (prefix) {
  let root = null
  let seq = 0
  beforeAll(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), prefix)) })
  afterAll(() => { if (root) fs.rmSync(root, { recursive: true, force: true }) })
  return {
    freshDir () {
      const d = path.join(root, `t${++seq}`)
      fs.mkdirSync(d)
      return d
    },
    get path () { return root }
  }
}

module.exports = { tool, mustRun, writePattern, holdsPattern, tempRoot }
