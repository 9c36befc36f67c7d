'use strict'
// A small Prisma-shaped client over a real PostgreSQL connection (npm `pg`): exactly
// the members PrismaClientLike needs (machine.findUnique/findMany/update/updateMany,
// machineConfiguration.upsert/updateMany, $transaction(fn)), interpreting `where`
// (equality), `select`, `include` and `data` the way PrismaAdapter uses them, and
// supplying `id` and "updatedAt" the way Prisma Client does. It stands in for Prisma's
// engine, which cannot be installed on these machines.

const crypto = require('node:crypto')
const { Pool } = require('pg')

const JSON_COLUMNS = new Set(['xml', 'diskPaths', 'numaConfig', 'cpuPinning', 'connectionState'])
const NOW = `(now() AT TIME ZONE 'UTC')`

const q = (ident) => `"${String(ident).replace(/"/g, '""')}"`
const value = (col, v) => (JSON_COLUMNS.has(col) && v !== null && v !== undefined ? JSON.stringify(v) : v)

function whereSql (where, params) {
  const parts = []
  for (const [k, v] of Object.entries(where || {})) {
    params.push(v)
    parts.push(`${q(k)} = $${params.length}`)
  }
  return parts.length ? ` WHERE ${parts.join(' AND ')}` : ''
}

function setSql (data, params) {
  const parts = []
  for (const [k, v] of Object.entries(data)) {
    if (v === undefined) continue
    params.push(value(k, v))
    parts.push(`${q(k)} = $${params.length}`)
  }
  parts.push(`"updatedAt" = ${NOW}`)
  return parts.join(', ')
}

function pick (row, select) {
  if (!select) return { ...row }
  const out = {}
  for (const [k, on] of Object.entries(select)) if (on) out[k] = row[k]
  return out
}

class Delegates {
  constructor (db) {
    this.db = db // a pg Pool or a checked-out client
    this.machine = {
      findUnique: (args) => this._findUnique(args),
      findMany: (args) => this._findMany(args),
      update: (args) => this._update('Machine', args),
      updateMany: (args) => this._updateMany('Machine', args)
    }
    this.machineConfiguration = {
      upsert: (args) => this._upsertConfig(args),
      updateMany: (args) => this._updateMany('MachineConfiguration', args)
    }
  }

  async _one (table, col, v) {
    if (v === null || v === undefined) return null
    const r = await this.db.query(`SELECT * FROM ${q(table)} WHERE ${q(col)} = $1`, [v])
    return r.rows[0] || null
  }

  async _ruleSet (id, include) {
    const rs = await this._one('FirewallRuleSet', 'id', id)
    if (!rs) return null
    if (include && include.rules) {
      const r = await this.db.query('SELECT * FROM "FirewallRule" WHERE "ruleSetId" = $1 ORDER BY "createdAt", "id"', [rs.id])
      rs.rules = r.rows
    }
    return rs
  }

  async _project (row, { select, include } = {}) {
    const out = pick(row, select)
    for (const [rel, spec] of Object.entries(include || {})) {
      if (!spec) continue
      const sub = spec === true ? {} : spec
      if (rel === 'configuration') {
        const c = await this._one('MachineConfiguration', 'machineId', row.id)
        out.configuration = c ? pick(c, sub.select) : null
      } else if (rel === 'firewallRuleSet') {
        out.firewallRuleSet = await this._ruleSet(row.firewallRuleSetId, sub.include)
      } else if (rel === 'department') {
        const d = await this._one('Department', 'id', row.departmentId)
        if (d && sub.include && sub.include.firewallRuleSet) {
          const rsSpec = sub.include.firewallRuleSet === true ? {} : sub.include.firewallRuleSet
          d.firewallRuleSet = await this._ruleSet(d.firewallRuleSetId, rsSpec.include)
        }
        out.department = d
      } else {
        throw new Error(`prisma-pg: unsupported include ${rel}`)
      }
    }
    return out
  }

  async _findUnique ({ where, select, include }) {
    const params = []
    const r = await this.db.query(`SELECT * FROM "Machine"${whereSql(where, params)}`, params)
    return r.rows[0] ? this._project(r.rows[0], { select, include }) : null
  }

  async _findMany ({ where, select, include } = {}) {
    const params = []
    const r = await this.db.query(`SELECT * FROM "Machine"${whereSql(where, params)}`, params)
    const { configuration, ...rest } = include || {}
    // One query for the configurations of all rows, as Prisma batches an include.
    let configs = null
    if (configuration && r.rows.length) {
      const c = await this.db.query('SELECT * FROM "MachineConfiguration" WHERE "machineId" = ANY($1)', [r.rows.map((x) => x.id)])
      configs = new Map(c.rows.map((x) => [x.machineId, x]))
    }
    const out = []
    for (const row of r.rows) {
      const o = await this._project(row, { select, include: rest })
      if (configuration) {
        const c = configs && configs.get(row.id)
        o.configuration = c ? pick(c, configuration === true ? undefined : configuration.select) : null
      }
      out.push(o)
    }
    return out
  }

  async _updateMany (table, { where, data }) {
    const params = []
    const set = setSql(data, params)
    const r = await this.db.query(`UPDATE ${q(table)} SET ${set}${whereSql(where, params)}`, params)
    return { count: r.rowCount }
  }

  async _update (table, { where, data }) {
    const params = []
    const set = setSql(data, params)
    const r = await this.db.query(`UPDATE ${q(table)} SET ${set}${whereSql(where, params)} RETURNING *`, params)
    if (!r.rows[0]) {
      const e = new Error('An operation failed because it depends on one or more records that were required but not found.')
      e.code = 'P2025'
      throw e
    }
    return r.rows[0]
  }

  async _upsertConfig ({ where, create, update }) {
    const cols = ['id', 'updatedAt']
    const vals = ['$1', NOW]
    const params = [crypto.randomUUID()]
    for (const [k, v] of Object.entries(create)) {
      if (v === undefined) continue
      params.push(value(k, v))
      cols.push(k)
      vals.push(`$${params.length}`)
    }
    const sets = [`"updatedAt" = ${NOW}`]
    for (const [k, v] of Object.entries(update)) {
      if (v === undefined) continue
      params.push(value(k, v))
      sets.push(`${q(k)} = $${params.length}`)
    }
    const conflict = Object.keys(where)[0]
    const sql = `INSERT INTO "MachineConfiguration" (${cols.map(q).join(', ')}) VALUES (${vals.join(', ')}) ` +
      `ON CONFLICT (${q(conflict)}) DO UPDATE SET ${sets.join(', ')} RETURNING *`
    const r = await this.db.query(sql, params)
    return r.rows[0]
  }
}

class PrismaPg extends Delegates {
  constructor (url, { max = 5 } = {}) {
    const pool = new Pool({ connectionString: url, max, connectionTimeoutMillis: 2000 })
    // An idle client losing its server (a restart) must not crash the process.
    pool.on('error', () => {})
    super(pool)
    this.pool = pool
  }

  async $transaction (fn) {
    const client = await this.pool.connect()
    let failed = null
    try {
      await client.query('BEGIN')
      const result = await fn(new Delegates(client))
      await client.query('COMMIT')
      return result
    } catch (e) {
      failed = e
      await client.query('ROLLBACK').catch(() => {})
      throw e
    } finally {
      // After a failure the client is discarded (its connection may be broken).
      client.release(failed || undefined)
    }
  }

  $disconnect () {
    return this.pool.end()
  }
}

module.exports = { PrismaPg }
