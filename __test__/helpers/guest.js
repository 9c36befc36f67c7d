'use strict'

// The tiny test guest (Debian cloud kernel + busybox initramfs) for Jest tests
// that boot a real QEMU under TCG. See scripts/test-guest/README.md for the
// kernel parameters and the serial markers.
//
//   const { ensureGuest, guestArgs, tcgArgs, waitForMarker } = require('./helpers/guest')
//   const serial = path.join(dir, 'serial.log')
//   for (const a of [...tcgArgs(), ...guestArgs({ mode: 'wait', serialPath: serial })]) b.addRawArg(a)
//   ... start the VM ...
//   await waitForMarker(serial, 'IV-READY', 30_000)

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const REPO = path.resolve(__dirname, '..', '..')
const BUILD_SCRIPT = path.join(REPO, 'scripts', 'build-test-guest.sh')

let cached = null

// Builds (or finds cached) the guest once per process; returns absolute paths.
function ensureGuest() {
  if (cached) return cached
  const out = execFileSync('bash', [BUILD_SCRIPT], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  })
  const paths = {}
  for (const line of out.split('\n')) {
    const m = /^(kernel|initrd)=(.+)$/.exec(line.trim())
    if (m) paths[m[1]] = path.resolve(m[2])
  }
  if (!paths.kernel || !paths.initrd) {
    throw new Error(`build-test-guest.sh printed no kernel/initrd paths:\n${out}`)
  }
  for (const p of [paths.kernel, paths.initrd]) {
    if (!fs.existsSync(p)) throw new Error(`test guest file missing: ${p}`)
  }
  cached = Object.freeze({ kernel: paths.kernel, initrd: paths.initrd })
  return cached
}

// The QEMU arguments every guest test needs: TCG (there is no usable KVM on
// the test machines), no default devices. -nodefaults still gives a serial
// port whenever -serial is passed (guestArgs does).
function tcgArgs() {
  return ['-machine', 'q35,accel=tcg', '-cpu', 'max', '-m', '256', '-display', 'none', '-nodefaults']
}

// The argv fragment that boots the guest: -kernel, -initrd, -append and, with
// serialPath, -serial file:<serialPath>.
//   mode        'wait' (default) | 'poweroff' | 'reboot' | 'hang'
//   reboots     for mode 'reboot': reboot this many times, then power off
//               (needs a zeroed raw state disk: -drive file=<img>,format=raw,if=virtio)
//   ip, peer    e.g. '10.0.0.2/24' and '10.0.0.1': configure eth0, ping peer
//   agent       true: run qemu-ga on the org.qemu.guest_agent.0 port (the VM
//               needs the channel: addGuestAgentChannel / guestAgentSocketPath)
//   data        an ext4 disk to mount on /mnt/data: '/dev/vdb' or 'LABEL=<label>'
//   extraAppend more kernel parameters (string or array)
function guestArgs({ mode, reboots, ip, peer, agent, data, serialPath, extraAppend } = {}) {
  const { kernel, initrd } = ensureGuest()
  const append = ['console=ttyS0', 'quiet']
  if (mode) append.push(`iv.mode=${mode}`)
  if (reboots !== undefined && reboots !== null) append.push(`iv.reboots=${Number(reboots)}`)
  if (ip) append.push(`iv.ip=${ip}`)
  if (peer) append.push(`iv.peer=${peer}`)
  if (agent) append.push('iv.agent=1')
  if (data) append.push(`iv.data=${data}`)
  if (extraAppend) append.push(...(Array.isArray(extraAppend) ? extraAppend : [extraAppend]))
  const args = ['-kernel', kernel, '-initrd', initrd, '-append', append.join(' ')]
  if (serialPath) args.push('-serial', `file:${path.resolve(serialPath)}`)
  return args
}

function readLines(file) {
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (e) {
    if (e.code === 'ENOENT') return { complete: [], text: '' }
    throw e
  }
  // Only whole lines count: a marker may be caught half-written.
  const parts = text.split('\n')
  parts.pop()
  return { complete: parts.map((l) => l.replace(/\r$/, '')), text }
}

// Resolves with the matching line once `count` (default 1) complete lines of
// the serial log contain `marker`; rejects with the log tail after timeoutMs.
function waitForMarker(serialPath, marker, timeoutMs = 30_000, { count = 1 } = {}) {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const poll = () => {
      let lines
      try {
        lines = readLines(serialPath)
      } catch (e) {
        reject(e)
        return
      }
      const hits = lines.complete.filter((l) => l.includes(marker))
      if (hits.length >= count) {
        resolve(hits[count - 1])
        return
      }
      if (Date.now() >= deadline) {
        const tail = lines.text.split('\n').slice(-30).join('\n')
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${count > 1 ? `${count}x ` : ''}"${marker}" in ${serialPath}; ` +
              `serial log tail:\n${tail || '(empty)'}`,
          ),
        )
        return
      }
      setTimeout(poll, 50)
    }
    poll()
  })
}

module.exports = { ensureGuest, guestArgs, tcgArgs, waitForMarker, BUILD_SCRIPT }
