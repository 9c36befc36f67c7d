// @ts-check
'use strict'
// The bridge between the native state objects and the caller's JS objects.
//
// Each native StateSync / EventHandler / HealthMonitor calls one "host" function:
// host(requestJson) => Promise<responseJson>. A request either calls a method on a
// target ({k:'call', t, m, a}: the DatabaseAdapter, a QMP client, network managers,
// hooks) or emits an event on the facade ({k:'emit', n, p}). The host never rejects:
// a thrown error comes back as {ok:false, message, code, codes, ref}, and `ref` lets
// the facade rethrow that very object to its caller (lib/errors.js).

const { keepForeign } = require('../errors')
const { Debugger } = require('../utils')

const OK = '{"ok":true,"v":null}'

// Turns {"$date": ms} objects (how native payloads carry dates) into Dates.
function revive (v) {
  if (Array.isArray(v)) return v.map(revive)
  if (v && typeof v === 'object') {
    const keys = Object.keys(v)
    if (keys.length === 1 && keys[0] === '$date' && typeof v.$date === 'number') return new Date(v.$date)
    for (const k of keys) v[k] = revive(v[k])
  }
  return v
}

function parse (json) {
  return revive(JSON.parse(json))
}

// Every `code`/`errorCode` on the error and down its details/cause chain: how a
// connection failure is told apart from a refusal (ECONNREFUSED, 57P01, P1001, ...).
function codesOf (err) {
  const out = []
  const seen = new Set()
  const walk = (e, depth) => {
    if (!e || typeof e !== 'object' || seen.has(e) || depth > 4) return
    seen.add(e)
    for (const k of ['code', 'errorCode', 'sqlState']) {
      if (typeof e[k] === 'string') out.push(e[k])
    }
    walk(e.details, depth + 1)
    walk(e.cause, depth + 1)
    walk(e.originalError, depth + 1)
  }
  walk(err, 0)
  return out
}

function failure (err) {
  let message
  try {
    message = String(err)
  } catch {
    message = 'Error'
  }
  const code = err && typeof err.code === 'string' ? err.code : undefined
  return JSON.stringify({ ok: false, message, code, codes: codesOf(err), ref: keepForeign(err) })
}

// targets: { name: object } (a value may be a function returning the object);
// objects: Map of per-call registrations ('obj:<id>'); facade: WeakRef of the emitter;
// onEmit: called with the emitter after each event it was given.
/**
 * @param {{
 *   targets?: Record<string, any>,
 *   objects?: Map<string, any> | null,
 *   facade?: WeakRef<import('events').EventEmitter> | null,
 *   onEmit?: ((me: any) => void) | null,
 *   log: Debugger
 * }} options
 * @returns {(json: string) => Promise<string>}
 */
function makeHost ({ targets = {}, objects = null, facade = null, onEmit = null, log }) {
  return async (json) => {
    let req
    try {
      req = JSON.parse(json)
    } catch (e) {
      return JSON.stringify({ ok: false, message: `bad request: ${e.message}`, codes: [] })
    }
    try {
      if (req.k === 'emit') {
        const me = facade && facade.deref()
        if (!me) return OK
        const payload = revive(req.p)
        // Spec §19 #9: an 'error' nobody listens to is logged, not thrown.
        if (req.n === 'error' && me.listenerCount('error') === 0) {
          log.log('error', `unhandled 'error' event: ${JSON.stringify(req.p)}`)
          return OK
        }
        me.emit(req.n, payload)
        if (onEmit) onEmit(me)
        return OK
      }
      let target
      if (typeof req.t === 'string' && req.t.startsWith('obj:') && objects) {
        target = objects.get(req.t)
      } else {
        target = targets[req.t]
      }
      const fn = target && target[req.m]
      if (typeof fn !== 'function') {
        return JSON.stringify({ ok: false, missing: true, message: `${req.t}.${req.m} is not a function` })
      }
      const v = await fn.apply(target, Array.isArray(req.a) ? req.a : [])
      return JSON.stringify({ ok: true, v: v === undefined ? null : v })
    } catch (e) {
      return failure(e)
    }
  }
}

// Per-call registration of a JS object the native side may call ('obj:<n>').
class Registry {
  constructor () {
    this.map = new Map()
    this.next = 1
  }

  put (obj) {
    const key = `obj:${this.next++}`
    this.map.set(key, obj)
    return key
  }

  drop (key) {
    this.map.delete(key)
  }
}

const NativeStoreHandle = Symbol('infinivirt.nativeStore')

// The native store behind a createStore() result, or null for any other adapter.
function nativeStoreOf (db) {
  return (db && db[NativeStoreHandle]) || null
}

module.exports = { makeHost, parse, revive, Registry, NativeStoreHandle, nativeStoreOf, Debugger, OK }
