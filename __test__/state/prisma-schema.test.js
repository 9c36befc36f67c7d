'use strict'
// The Prisma schema the tests generate their Prisma Client from
// (__test__/prisma/schema.prisma) and the SQL the test databases are built from
// (__test__/fixtures/backend-schema.sql) describe the same tables: every field is a
// column of the matching type, nullability and default, every column is a field, the
// enums, unique indexes and foreign keys (with their ON DELETE) agree. Prisma's
// PostgreSQL mapping: String TEXT, Int INTEGER, Boolean BOOLEAN, Json JSONB, DateTime
// TIMESTAMP(3), String[] TEXT[] (nullable), enum a type of that name; @default(uuid())
// and @updatedAt are filled in by the client, not by the database.

const fs = require('node:fs')
const path = require('node:path')
const { Client } = require('pg')
const { startPostgres } = require('../helpers/postgres')

const SCHEMA = path.join(__dirname, '..', 'prisma', 'schema.prisma')

const PG_TYPE = { String: 'text', Int: 'integer', Boolean: 'boolean', Json: 'jsonb', DateTime: 'timestamp(3) without time zone' }

// The blocks of a schema.prisma: { models: { Name: { fields, uniques, relations } }, enums }.
function parsePrismaSchema (text) {
  const models = {}
  const enums = {}
  const src = text.replace(/\/\/.*$/gm, '')
  const enumNames = new Set([...src.matchAll(/^enum\s+(\w+)/gm)].map((x) => x[1]))
  const scalar = (t) => t in PG_TYPE || enumNames.has(t)
  for (const [, kind, name, body] of src.matchAll(/^(model|enum)\s+(\w+)\s*\{([^}]*)\}/gm)) {
    const lines = body.split('\n').map((l) => l.trim()).filter(Boolean)
    if (kind === 'enum') {
      enums[name] = lines
      continue
    }
    const m = { fields: {}, uniques: [], relations: [] }
    for (const line of lines) {
      const block = line.match(/^@@(unique|index)\(\[([^\]]*)\]\)/)
      if (block) {
        if (block[1] === 'unique') m.uniques.push(block[2].split(',').map((s) => s.trim()))
        continue
      }
      const [, field, type, mod, attrs] = line.match(/^(\w+)\s+(\w+)(\?|\[\])?\s*(.*)$/)
      const rel = attrs.match(/@relation\(fields: \[(\w+)\], references: \[(\w+)\](?:, onDelete: (\w+))?\)/)
      if (rel) {
        m.relations.push({ column: rel[1], target: type, references: rel[2], onDelete: rel[3] ?? null, optional: mod === '?' })
        continue
      }
      if (!scalar(type)) continue // the other side of a relation
      const def = attrs.match(/@default\((.*?)\)(\s|$)/)
      m.fields[field] = {
        type,
        list: mod === '[]',
        optional: mod === '?',
        dbDefault: def ? !/^(uuid|cuid)\(\)$/.test(def[1]) : false,
        unique: /@unique\b/.test(attrs),
        id: /@id\b/.test(attrs)
      }
      if (m.fields[field].unique) m.uniques.push([field])
    }
    models[name] = m
  }
  return { models, enums }
}

let pg
let c

beforeAll(async () => {
  pg = await startPostgres()
  const url = await pg.createDatabase('prisma_schema')
  c = new Client({ connectionString: url })
  await c.connect()
}, 120000)

afterAll(async () => {
  if (c) await c.end()
  if (pg) await pg.stop()
})

test('schema.prisma and backend-schema.sql describe the same tables', async () => {
  const { models, enums } = parsePrismaSchema(fs.readFileSync(SCHEMA, 'utf8'))
  expect(Object.keys(models).sort()).toEqual(['Department', 'FirewallRule', 'FirewallRuleSet', 'Machine', 'MachineConfiguration', 'MachineTemplate', 'MachineTemplateCategory', 'User'])

  const q = async (sql) => (await c.query(sql)).rows
  const tables = (await q(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)).map((r) => r.table_name)
  expect(tables.sort()).toEqual(Object.keys(models).sort())

  const dbEnums = {}
  for (const r of await q('SELECT t.typname, e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid ORDER BY t.typname, e.enumsortorder')) {
    (dbEnums[r.typname] ??= []).push(r.enumlabel)
  }
  expect(dbEnums).toEqual(enums)

  const columns = await q(`SELECT table_name, column_name, is_nullable, column_default, data_type, udt_name,
      format_type(a.atttypid, a.atttypmod) AS formatted
    FROM information_schema.columns ic
    JOIN pg_attribute a ON a.attrelid = format('%I', ic.table_name)::regclass AND a.attname = ic.column_name
    WHERE table_schema = 'public'`)
  const indexes = await q(`SELECT i.indrelid::regclass::text AS table_name, i.indisunique AS is_unique, i.indisprimary AS is_primary,
      array_agg(a.attname::text ORDER BY k.ord) AS cols
    FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
    GROUP BY i.indexrelid, i.indrelid, i.indisunique, i.indisprimary`)
  const fks = await q(`SELECT tc.table_name, kcu.column_name, ccu.table_name AS target, ccu.column_name AS references, rc.delete_rule
    FROM information_schema.table_constraints tc
    JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name
    JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name
    JOIN information_schema.referential_constraints rc ON rc.constraint_name = tc.constraint_name
    WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = 'public'`)

  for (const [name, m] of Object.entries(models)) {
    const cols = columns.filter((r) => r.table_name === name)
    expect([name, cols.map((r) => r.column_name).sort()]).toEqual([name, Object.keys(m.fields).sort()])
    for (const col of cols) {
      const f = m.fields[col.column_name]
      // An enum column's type is the enum (format_type quotes the mixed-case name).
      const type = f.list ? `${PG_TYPE[f.type]}[]` : (PG_TYPE[f.type] ?? `"${f.type}"`)
      const got = {
        type: col.formatted,
        nullable: col.is_nullable === 'YES',
        dbDefault: col.column_default !== null
      }
      // Prisma leaves a list column nullable.
      const want = { type, nullable: f.optional || f.list, dbDefault: f.dbDefault }
      expect([`${name}.${col.column_name}`, got]).toEqual([`${name}.${col.column_name}`, want])
    }
    const pk = indexes.find((i) => i.table_name === `"${name}"` && i.is_primary)
    expect([name, pk.cols]).toEqual([name, Object.keys(m.fields).filter((k) => m.fields[k].id)])
    const uniques = indexes.filter((i) => i.table_name === `"${name}"` && i.is_unique && !i.is_primary).map((i) => i.cols.join(','))
    expect([name, uniques.sort()]).toEqual([name, m.uniques.map((u) => u.join(',')).sort()])
    const dbFks = fks.filter((r) => r.table_name === name)
      .map((r) => `${r.column_name}->${r.target}.${r.references} ${r.delete_rule}`)
    // Prisma's default for an optional relation is SET NULL, for a required one RESTRICT.
    const rule = (r) => ({ Cascade: 'CASCADE', SetNull: 'SET NULL', Restrict: 'RESTRICT', NoAction: 'NO ACTION' })[r.onDelete] ?? (r.optional ? 'SET NULL' : 'RESTRICT')
    const want = m.relations.map((r) => `${r.column}->${r.target}.${r.references} ${rule(r)}`)
    expect([name, dbFks.sort()]).toEqual([name, want.sort()])
  }
})
