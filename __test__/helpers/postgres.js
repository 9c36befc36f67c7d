'use strict'
// A throwaway PostgreSQL for tests. With DATABASE_URL set, that server is used (one
// database per test file is created on it). Otherwise a private cluster is made with
// the distribution's initdb/pg_ctl, run as the `postgres` user (setpriv), listening
// only on 127.0.0.1:<random port> with its unix socket inside its temp directory,
// trust auth, fsync off; stop() stops exactly that postmaster (pg_ctl) and removes
// the directory.
//
//   const { startPostgres } = require('./helpers/postgres')
//   const pg = await startPostgres()
//   const url = await pg.createDatabase('state', { audit: true })   // schema loaded
//   await pg.restart()                                              // own cluster only
//   await pg.stop()

const { execFile, execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { promisify } = require('node:util')
const { Client } = require('pg')

const run = promisify(execFile)
const SCHEMA = path.join(__dirname, '..', 'fixtures', 'backend-schema.sql')

// Status history of "Machine", for tests that check the order of writes.
const AUDIT_SQL = `
CREATE TABLE "_StatusLog" ("seq" BIGSERIAL PRIMARY KEY, "machineId" TEXT NOT NULL, "status" TEXT NOT NULL);
CREATE FUNCTION "_log_status"() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW."status" IS DISTINCT FROM OLD."status" THEN
    INSERT INTO "_StatusLog" ("machineId", "status") VALUES (NEW."id", NEW."status");
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER "machine_status_log" AFTER INSERT OR UPDATE ON "Machine" FOR EACH ROW EXECUTE FUNCTION "_log_status"();
`

function pgBin () {
  const root = '/usr/lib/postgresql'
  let versions = []
  try {
    versions = fs.readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a))
  } catch {}
  for (const v of versions) {
    const dir = path.join(root, v, 'bin')
    if (fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'pg_ctl'))) return dir
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' })
  if (which.status === 0 && which.stdout.trim()) return path.dirname(fs.realpathSync(which.stdout.trim()))
  throw new Error('PostgreSQL server binaries (initdb, pg_ctl) not found: install the postgresql package or set DATABASE_URL')
}

function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

function asPostgres (bin, args) {
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', bin, ...args]]
}

async function loadSchema (url, { audit }) {
  const c = new Client({ connectionString: url })
  await c.connect()
  try {
    await c.query(fs.readFileSync(SCHEMA, 'utf8'))
    if (audit) await c.query(AUDIT_SQL)
  } finally {
    await c.end()
  }
}

let counter = 0
function dbName (prefix) {
  return `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${process.pid}_${++counter}`
}

class OwnCluster {
  constructor (bin, dir, port) {
    this.bin = bin
    this.dir = dir
    this.port = port
    this.canRestart = true
    this.stopped = false
    this._exitHook = () => this._stopSync()
    process.on('exit', this._exitHook)
  }

  url (db) {
    return `postgresql://postgres@127.0.0.1:${this.port}/${db}`
  }

  _opts () {
    return `-h 127.0.0.1 -p ${this.port} -k ${this.dir} -c fsync=off -c full_page_writes=off -c synchronous_commit=off`
  }

  async _ctl (...args) {
    const [cmd, argv] = asPostgres(path.join(this.bin, 'pg_ctl'), ['-D', path.join(this.dir, 'data'), '-s', ...args])
    await run(cmd, argv, { timeout: 60000 })
  }

  async startServer () {
    await this._ctl('-l', path.join(this.dir, 'server.log'), '-w', '-t', '30', '-o', this._opts(), 'start')
  }

  async stopServer (mode = 'fast') {
    await this._ctl('-m', mode, '-w', '-t', '30', 'stop')
  }

  async restart () {
    await this._ctl('-m', 'fast', '-w', '-t', '30', '-l', path.join(this.dir, 'server.log'), '-o', this._opts(), 'restart')
  }

  async createDatabase (prefix, { audit = false } = {}) {
    const name = dbName(prefix)
    const admin = new Client({ connectionString: this.url('postgres') })
    await admin.connect()
    try {
      await admin.query(`CREATE DATABASE "${name}"`)
    } finally {
      await admin.end()
    }
    const url = this.url(name)
    await loadSchema(url, { audit })
    return url
  }

  _stopSync () {
    if (this.stopped) return
    this.stopped = true
    const [cmd, argv] = asPostgres(path.join(this.bin, 'pg_ctl'), ['-D', path.join(this.dir, 'data'), '-s', '-m', 'immediate', '-w', 'stop'])
    spawnSync(cmd, argv, { stdio: 'ignore', timeout: 30000 })
    fs.rmSync(this.dir, { recursive: true, force: true })
  }

  async stop () {
    if (this.stopped) return
    process.off('exit', this._exitHook)
    try {
      await this.stopServer('immediate')
    } catch {}
    this.stopped = true
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

class ExternalServer {
  constructor (url) {
    this.base = new URL(url)
    this.canRestart = false
  }

  url (db) {
    const u = new URL(this.base.href)
    u.pathname = `/${db}`
    return u.href
  }

  async createDatabase (prefix, { audit = false } = {}) {
    const name = dbName(prefix)
    const admin = new Client({ connectionString: this.base.href })
    await admin.connect()
    try {
      await admin.query(`CREATE DATABASE "${name}"`)
    } finally {
      await admin.end()
    }
    const url = this.url(name)
    await loadSchema(url, { audit })
    return url
  }

  async restart () { throw new Error('cannot restart an external DATABASE_URL server') }
  async stopServer () { throw new Error('cannot stop an external DATABASE_URL server') }
  async startServer () {}
  async stop () {}
}

async function startPostgres () {
  if (process.env.DATABASE_URL) return new ExternalServer(process.env.DATABASE_URL)
  if (process.getuid && process.getuid() !== 0) {
    throw new Error('starting a private PostgreSQL needs root (to run initdb as the postgres user); or set DATABASE_URL')
  }
  const bin = pgBin()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-pg-'))
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
  fs.chownSync(dir, uid, gid)
  fs.chmodSync(dir, 0o700)
  const port = await freePort()
  const [cmd, argv] = asPostgres(path.join(bin, 'initdb'),
    ['-D', path.join(dir, 'data'), '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions'])
  await run(cmd, argv, { timeout: 120000 })
  const cluster = new OwnCluster(bin, dir, port)
  await cluster.startServer()
  return cluster
}

// Rows of a table as plain objects without the volatile columns, sorted by id.
async function rows (url, table, { omit = ['updatedAt', 'createdAt'] } = {}) {
  const c = new Client({ connectionString: url })
  await c.connect()
  try {
    const r = await c.query(`SELECT * FROM "${table}" ORDER BY "id"`)
    return r.rows.map((row) => Object.fromEntries(Object.entries(row).filter(([k]) => !omit.includes(k))))
  } finally {
    await c.end()
  }
}

async function statusLog (url, machineId) {
  const c = new Client({ connectionString: url })
  await c.connect()
  try {
    const r = await c.query('SELECT "status" FROM "_StatusLog" WHERE "machineId" = $1 ORDER BY "seq"', [machineId])
    return r.rows.map((x) => x.status)
  } finally {
    await c.end()
  }
}

module.exports = { startPostgres, rows, statusLog }
