'use strict'
// Which store Infinivirt.initialize() opens (issue 13, item 7). A `prismaClient` key
// that is present but empty (a backend passing its client before it exists) is
// INVALID_CONFIG instead of a quiet switch to the embedded SQLite file; with
// databaseUrl / sqlitePath it names no store and those are used; the choice is
// logged. Runs in the namespace of scripts/test-net.sh (initialize() sets up nft).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const { Infinivirt, LifecycleError } = require('../..')
const netns = require('../helpers/netns')

jest.setTimeout(60000)

let dir
beforeAll(() => {
  netns.assertPrivateNetns()
  delete process.env.INFINIVIRT_DATABASE_URL
  delete process.env.INFINIVIRT_SQLITE_PATH
})
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-store-')) })
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

function dirs () {
  return { diskDir: path.join(dir, 'disks'), qmpSocketDir: path.join(dir, 'qmp'), pidfileDir: path.join(dir, 'pids'), firewallPersistenceDir: path.join(dir, 'nft') }
}

test.each([['null', null], ['undefined', undefined], ['false', false], ['0', 0]])(
  'prismaClient: %s without databaseUrl/sqlitePath is INVALID_CONFIG (no embedded store is opened)',
  async (_, value) => {
    const m = new Infinivirt({ prismaClient: value, ...dirs(), autoStartHealthMonitor: false })
    const e = await m.initialize().then(() => null, (err) => err)
    expect(e).toBeInstanceOf(LifecycleError)
    expect(e.code).toBe('INVALID_CONFIG')
    expect(m.isInitialized()).toBe(false)
  }
)

test('prismaClient: undefined with sqlitePath uses that file, and the choice is logged', () => {
  const db = path.join(dir, 'state.db')
  const child = `
    const { Infinivirt } = require(${JSON.stringify(path.resolve(__dirname, '../..'))})
    const m = new Infinivirt({ prismaClient: undefined, sqlitePath: ${JSON.stringify(db)}, autoStartHealthMonitor: false, ...${JSON.stringify(dirs())} })
    m.initialize().then(() => m.shutdown()).then(() => process.exit(0), (e) => { console.error(e); process.exit(1) })
  `
  const r = spawnSync(process.execPath, ['-e', child], { env: { ...process.env, DEBUG: 'infinivirt:infinivirt*', INFINIVIRT_WARNINGS: 'off' }, encoding: 'utf8' })
  expect(r.stderr).toContain(`infinivirt:infinivirt using the store sqlite ${db}`)
  expect(r.status).toBe(0)
  expect(fs.existsSync(db)).toBe(true)
})
