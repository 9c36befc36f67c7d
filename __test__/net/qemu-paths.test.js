'use strict'
// Paths that QEMU parses inside its option strings (issue 13, item 6). A manager whose
// qmpSocketDir holds '=' and ',' used to give QEMU `-qmp unix:/…/a=b,…` which it
// misreads ("Invalid parameter"); it must start a VM that answers QMP there. Real
// QEMU (TCG), bridge, TAP and nft inside the namespace of scripts/test-net.sh.

const fs = require('node:fs')
const path = require('node:path')

const env = require('../helpers/lifecycle-env')
const { newVmId } = env
const { guestArgs } = require('../helpers/guest')

jest.setTimeout(120000)

const h = env.harness('iv-qemu-paths')

test("a qmpSocketDir with '=' and ',' starts a VM that answers QMP on a socket in that very directory", async () => {
  const br = await h.bridge('10.214.0.1/24')
  const qmpDir = path.join(h.dir, 'q=a,b')
  const m = await h.manager({ qmpSocketDir: qmpDir, extraArgs: guestArgs({ mode: 'wait' }) })
  const vmId = newVmId('q')
  await h.seedMachine(m, vmId)

  const r = await m.createVM(env.createConfig(vmId, br))
  expect(r.success).toBe(true)
  expect(r.qmpSocketPath).toBe(path.join(qmpDir, `vm-${vmId}.sock`))
  expect(fs.statSync(r.qmpSocketPath).isSocket()).toBe(true)
  // QEMU got the path whole: with its key, commas doubled.
  expect(env.cmdlineOf(r.pid)).toContain(`unix:path=${r.qmpSocketPath.replace(/,/g, ',,')},server,nowait`)
  const st = await m.getVMStatus(vmId)
  expect(st).toMatchObject({ status: 'running', qmpStatus: 'running', processAlive: true, consistent: true, qmpSocketPath: r.qmpSocketPath })

  await m.destroyVM(vmId)
  expect(fs.existsSync(r.qmpSocketPath)).toBe(false)
})
