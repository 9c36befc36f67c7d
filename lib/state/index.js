// @ts-check
'use strict'
// The state layer's public classes (spec §10, §11) and createStore().

const { StateSync } = require('./sync')
const { EventHandler } = require('./events')
const { HealthMonitor } = require('./health')
const { PrismaAdapter } = require('./prisma-adapter')
const { createStore } = require('./store')

module.exports = { StateSync, EventHandler, HealthMonitor, PrismaAdapter, createStore }
