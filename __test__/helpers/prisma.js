'use strict'
// The real Prisma Client (6.16, engineType "client") over a PostgreSQL URL, the way the
// backend builds it: new PrismaClient({ adapter: new PrismaPg(...) }). The client is
// generated from __test__/prisma/schema.prisma by scripts/prisma-client.sh (a no-op
// when it is up to date), which this helper runs before the first use so a single
// suite can be run with `npx jest <file>` on a fresh clone too.
//
//   const { prismaClient, closePrisma } = require('../helpers/prisma')
//   const client = prismaClient(url)             // a PrismaClient
//   const client = prismaClient(url, { max: 8 }) // pool size (pg's `max`)
//   await closePrisma(client)                    // at the end
//
// The pool is ours (PrismaPg accepts a pg.Pool) so closePrisma can bound the wait for
// it: Prisma 6.16's client engine sends COMMIT itself and releases the connection only
// when COMMIT succeeds, so a write in flight when PostgreSQL restarts keeps its pool
// connection checked out forever, and ending the pool would wait for it.

const { execFileSync } = require('node:child_process')
const path = require('node:path')
const { Pool } = require('pg')

const CLOSE_WAIT_MS = 5000

let generated = false
const pools = new WeakMap()

function ensureGenerated () {
  if (generated) return
  execFileSync('bash', [path.join(__dirname, '..', '..', 'scripts', 'prisma-client.sh')], { stdio: ['ignore', 'ignore', 'inherit'] })
  generated = true
}

function prismaClient (url, { max = 5 } = {}) {
  ensureGenerated()
  const { PrismaClient } = require('@prisma/client')
  const { PrismaPg } = require('@prisma/adapter-pg')
  const pool = new Pool({ connectionString: url, max, connectionTimeoutMillis: 2000 })
  // An idle connection losing its server (a restart) must not crash the process.
  pool.on('error', () => {})
  const client = new PrismaClient({ adapter: new PrismaPg(pool) })
  pools.set(client, pool)
  return client
}

async function closePrisma (client) {
  await client.$disconnect()
  const pool = pools.get(client)
  if (!pool) return
  let timer
  const ended = await Promise.race([
    pool.end().then(() => true),
    new Promise((resolve) => { timer = setTimeout(() => resolve(false), CLOSE_WAIT_MS) })
  ])
  clearTimeout(timer)
  if (!ended) {
    console.warn(`Prisma pool still has ${pool.totalCount - pool.idleCount} connection(s) checked out after ${CLOSE_WAIT_MS} ms ` +
      '(a transaction whose COMMIT failed: Prisma 6.16 does not release it); not waiting for them')
  }
}

module.exports = { prismaClient, closePrisma, ensureGenerated }
