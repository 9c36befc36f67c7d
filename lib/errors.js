// @ts-check
'use strict'
// Error classes of the public API and the one conversion from native errors.
// A native error's message is WIRE_PREFIX + JSON {class, code, message, fields}
// (see src/napi/error.rs); adopt() rebuilds the exported class from it.

const WIRE_PREFIX = '\u0001infinivirt-error:'

// An error's message as text, whatever was passed (an object without toString
// included): building an error must never throw a TypeError of its own.
function messageText (m) {
  if (m === undefined || typeof m === 'string') return m
  try {
    return String(m)
  } catch {
    return Object.prototype.toString.call(m)
  }
}

class DisplayError extends Error {
  constructor (code, message, context) {
    super(messageText(message))
    this.name = 'DisplayError'
    this.code = code
    this.context = context
    if (Error.captureStackTrace) Error.captureStackTrace(this, DisplayError)
  }
}

class StorageError extends Error {
  constructor (code, message, path, command) {
    super(messageText(message))
    this.name = 'StorageError'
    this.code = code
    this.path = path
    this.command = command
    // Set only by thin-clone errors (declared for the checker, not assigned here).
    /** @type {string | undefined} */
    this.backingFile
    /** @type {string[] | undefined} */
    this.clones
  }

  toInfo () {
    return { code: this.code, message: this.message, path: this.path, command: this.command }
  }
}

class LifecycleError extends Error {
  constructor (code, message, vmId, context) {
    super(messageText(message))
    this.name = 'LifecycleError'
    this.code = code
    this.vmId = vmId
    this.context = context
    if (Error.captureStackTrace) Error.captureStackTrace(this, LifecycleError)
  }
}

class UnattendedError extends Error {
  constructor (code, message, cause, vmId, context) {
    super(messageText(message))
    this.name = 'UnattendedError'
    this.code = code
    this.cause = cause
    this.vmId = vmId
    this.context = context
    if (Error.captureStackTrace) Error.captureStackTrace(this, UnattendedError)
  }
}

class PrismaAdapterError extends Error {
  constructor (message, code, vmId, details) {
    super(messageText(message))
    this.name = 'PrismaAdapterError'
    this.code = code
    this.vmId = vmId
    this.details = details
    if (Error.captureStackTrace) Error.captureStackTrace(this, PrismaAdapterError)
  }
}

// API-next §2.3: `new BackupError(code, message, { backupId, vmId, diskPath, command })`;
// no captureStackTrace (as the original); its fields are read-only.
class BackupError extends Error {
  constructor (code, message, options) {
    super(messageText(message))
    this.name = 'BackupError'
    const o = options || {}
    // Read-only own properties (defined below), declared for the checker.
    /** @type {string} */
    this.code
    /** @type {string | undefined} */
    this.backupId
    /** @type {string | undefined} */
    this.vmId
    /** @type {string | undefined} */
    this.diskPath
    /** @type {string | undefined} */
    this.command
    for (const [k, v] of [['code', code], ['backupId', o.backupId], ['vmId', o.vmId], ['diskPath', o.diskPath], ['command', o.command]]) {
      Object.defineProperty(this, k, { value: v, enumerable: true, writable: false, configurable: true })
    }
  }

  toInfo () {
    const info = { code: this.code, message: this.message }
    for (const k of ['backupId', 'vmId', 'diskPath', 'command']) if (this[k] !== undefined) info[k] = this[k]
    return info
  }
}

const builders = {
  BackupError: (w) => new BackupError(w.code, w.message, w.fields),
  DisplayError: (w) => new DisplayError(w.code, w.message, w.fields.context),
  StorageError: (w) => {
    const e = new StorageError(w.code, w.message, w.fields.path, w.fields.command)
    // Thin clones: the backing file refused, the clones that keep an image in use.
    if (w.fields.backingFile !== undefined) e.backingFile = w.fields.backingFile
    if (w.fields.clones !== undefined) e.clones = w.fields.clones
    return e
  },
  LifecycleError: (w) => new LifecycleError(w.code, w.message, w.fields.vmId, w.fields.context),
  UnattendedError: (w) => new UnattendedError(w.code, w.message, w.fields.cause, w.fields.vmId, w.fields.context),
  PrismaAdapterError: (w) => new PrismaAdapterError(w.message, w.code, w.fields.vmId, w.fields.details)
}

// Errors thrown by a caller's own JS objects (a DatabaseAdapter, a hook) while native
// code was calling them: kept here by handle so the very object comes back out.
const foreign = new Map()
let nextForeign = 1
const FOREIGN_CAP = 256

function keepForeign (err) {
  const id = nextForeign++
  foreign.set(id, err)
  // Bounded: an error native code handled itself is never asked for again.
  if (foreign.size > FOREIGN_CAP) foreign.delete(foreign.keys().next().value)
  return id
}

function plainError (w) {
  const e = Object.assign(new Error(w.message), { code: w.code })
  Object.assign(e, w.fields)
  return e
}

// Turns a native error into the public error it stands for; anything else passes through.
function adopt (err) {
  if (!err || typeof err.message !== 'string' || !err.message.startsWith(WIRE_PREFIX)) return err
  let wire
  try {
    wire = JSON.parse(err.message.slice(WIRE_PREFIX.length))
  } catch {
    return err
  }
  if (wire.class === 'Foreign') {
    const ref = wire.fields && wire.fields.ref
    if (foreign.has(ref)) {
      const original = foreign.get(ref)
      foreign.delete(ref)
      return original
    }
  }
  const build = builders[wire.class] || plainError
  const e = build(wire)
  // Keep the native call site in the stack, under the rebuilt message.
  if (typeof err.stack === 'string') {
    const frames = err.stack.split('\n').filter((l) => /^\s+at /.test(l))
    e.stack = `${e.name}: ${e.message}\n${frames.join('\n')}`
  }
  return e
}

function codeError (code, message) {
  return Object.assign(new Error(message), { code })
}

// What each domain throws for an argument of the wrong shape, with the spec's codes
// (the same the core gives a value it refuses in that domain).
const BAD_ARGUMENT = {
  lifecycle: (m) => new LifecycleError('INVALID_CONFIG', m),
  storage: (m) => new StorageError('COMMAND_FAILED', m),
  network: (m) => codeError('INVALID_ARGUMENT', m),
  firewall: (m) => codeError('RULE_INVALID', m),
  qmp: (m) => codeError('QMP_INVALID_OPTION', m),
  state: (m) => new PrismaAdapterError(m, 'INVALID_INPUT'),
  unattended: (m) => new UnattendedError('INVALID_CONFIG', m),
  exec: (m) => codeError('INVALID_ARGUMENT', m),
  agent: (m) => codeError('AGENT_INVALID_ARGUMENT', m),
  backup: (m) => new BackupError('INVALID_CONFIG', m),
  'display-port': (m) => new DisplayError('INVALID_PORT', m),
  'display-number': (m) => new DisplayError('INVALID_DISPLAY_NUMBER', m),
  'display-password': (m) => new DisplayError('INVALID_PASSWORD', m)
}

// napi-rs's own failures to convert a JS value into a Rust parameter: their codes
// are napi status names, not the spec's.
const NAPI_CONVERSION = new Set([
  'InvalidArg', 'ObjectExpected', 'StringExpected', 'NameExpected', 'FunctionExpected', 'NumberExpected',
  'BooleanExpected', 'ArrayExpected', 'BigintExpected', 'DateExpected', 'ArrayBufferExpected'
])

// The domain's typed error for a bad argument. `detail` says what was wrong.
function badArgument (domain, detail) {
  const e = BAD_ARGUMENT[domain](`Invalid argument: ${detail}`)
  return e
}

// A native error becomes its public class. Any other TypeError raised while a call
// converted its arguments (in this facade or in napi's conversion) becomes the
// domain's typed error, the original as its `cause`. Errors of the caller's own
// objects come back through the wire (as themselves) and are never retyped.
function settle (err, domain) {
  if (err && typeof err.message === 'string' && err.message.startsWith(WIRE_PREFIX)) return adopt(err)
  // By name too: napi builds its TypeErrors in Node's main context, which is not the
  // realm of a sandboxed caller (a Jest test, a vm context).
  const isArgError = err != null && (err instanceof TypeError || err.name === 'TypeError' || NAPI_CONVERSION.has(err.code))
  if (!domain || !isArgError) return err
  const e = badArgument(domain, messageText(err.message))
  if (e.cause === undefined) Object.defineProperty(e, 'cause', { value: err, configurable: true, writable: true })
  return e
}

// Runs a native call, rethrowing its error as the public class; promises reject the
// same way. With `domain`, argument-shape errors become that domain's typed error.
function call (fn, domain) {
  let r
  try {
    r = fn()
  } catch (e) {
    throw settle(e, domain)
  }
  if (r && typeof r.then === 'function') {
    return r.catch((e) => { throw settle(e, domain) })
  }
  return r
}

// `call` bound to a domain (see BAD_ARGUMENT), for a module's methods.
function callIn (domain) {
  if (!BAD_ARGUMENT[domain]) throw new Error(`unknown error domain ${domain}`)
  return (fn) => call(fn, domain)
}

module.exports = {
  WIRE_PREFIX,
  DisplayError,
  StorageError,
  LifecycleError,
  UnattendedError,
  PrismaAdapterError,
  BackupError,
  adopt,
  call,
  callIn,
  badArgument,
  keepForeign,
  isLifecycleError: (e) => e instanceof LifecycleError,
  isUnattendedError: (e) => e instanceof UnattendedError,
  isPrismaAdapterError: (e) => e instanceof PrismaAdapterError,
  isBackupError: (e) => e instanceof BackupError,
  createLifecycleError: (code, message, vmId, context) => new LifecycleError(code, message, vmId, context),
  createUnattendedError: (code, message, cause, vmId, context) => new UnattendedError(code, message, cause, vmId, context)
}
