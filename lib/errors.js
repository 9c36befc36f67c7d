'use strict'
// Error classes of the public API and the one conversion from native errors.
// A native error's message is WIRE_PREFIX + JSON {class, code, message, fields}
// (see src/napi/error.rs); adopt() rebuilds the exported class from it.

const WIRE_PREFIX = '\u0001infinivirt-error:'

class DisplayError extends Error {
  constructor (code, message, context) {
    super(message)
    this.name = 'DisplayError'
    this.code = code
    this.context = context
    if (Error.captureStackTrace) Error.captureStackTrace(this, DisplayError)
  }
}

class StorageError extends Error {
  constructor (code, message, path, command) {
    super(message)
    this.name = 'StorageError'
    this.code = code
    this.path = path
    this.command = command
  }

  toInfo () {
    return { code: this.code, message: this.message, path: this.path, command: this.command }
  }
}

class LifecycleError extends Error {
  constructor (code, message, vmId, context) {
    super(message)
    this.name = 'LifecycleError'
    this.code = code
    this.vmId = vmId
    this.context = context
    if (Error.captureStackTrace) Error.captureStackTrace(this, LifecycleError)
  }
}

class UnattendedError extends Error {
  constructor (code, message, cause, vmId, context) {
    super(message)
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
    super(message)
    this.name = 'PrismaAdapterError'
    this.code = code
    this.vmId = vmId
    this.details = details
    if (Error.captureStackTrace) Error.captureStackTrace(this, PrismaAdapterError)
  }
}

const builders = {
  DisplayError: (w) => new DisplayError(w.code, w.message, w.fields.context),
  StorageError: (w) => new StorageError(w.code, w.message, w.fields.path, w.fields.command),
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
  const e = new Error(w.message)
  e.code = w.code
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

// Runs a native call, rethrowing its error as the public class; promises reject the same way.
function call (fn) {
  let r
  try {
    r = fn()
  } catch (e) {
    throw adopt(e)
  }
  if (r && typeof r.then === 'function') {
    return r.catch((e) => { throw adopt(e) })
  }
  return r
}

module.exports = {
  WIRE_PREFIX,
  DisplayError,
  StorageError,
  LifecycleError,
  UnattendedError,
  PrismaAdapterError,
  adopt,
  call,
  keepForeign,
  isLifecycleError: (e) => e instanceof LifecycleError,
  isUnattendedError: (e) => e instanceof UnattendedError,
  isPrismaAdapterError: (e) => e instanceof PrismaAdapterError,
  createLifecycleError: (code, message, vmId, context) => new LifecycleError(code, message, vmId, context),
  createUnattendedError: (code, message, cause, vmId, context) => new UnattendedError(code, message, cause, vmId, context)
}
