// @ts-check
'use strict'
// PrismaAdapter (spec §11.1): the DatabaseAdapter over a Prisma client the caller
// hands over (real, or a mock in the backend's tests). It makes exactly the spec's
// client calls and wraps every failure the spec's way:
// PrismaAdapterError(`Failed to <verb phrase>: ${String(error)}`, code, vmId, error).
//
// Difference from the original (spec §19 #2, fixed): the configuration select reads
// all the columns the record has, so enableNumaCtlPinning, cpuPinningStrategy,
// tpmSocketPath, guestAgentSocketPath, infiniServiceSocketPath, virtioDriversIso,
// enableAudio and enableUsbTablet come back as stored instead of always null; and
// findRunningVMs also selects cpuPinning (spec §19 #7: StateSync.getVMInfo needs it).
//
// Two more, found running on the real Prisma Client (COMPATIBILITY.md): rules are read
// in creation order (the spec's `rules: true` leaves the order to the query plan), and
// a null written to a Json column is SQL NULL (Prisma.DbNull), as the native store
// writes it, not rejected (library engine) or stored as JSON `null` (client engine).

const { PrismaAdapterError } = require('../errors')
const { Debugger } = require('../utils')

const log = new Debugger('prisma-adapter')
const DISK_PATH_PREFIX = '/var/lib/infinivirt/disks/'

// The configuration columns of a VMConfigRecord, in record order.
const CONFIG_FIELDS = [
  'qemuPid', 'tapDeviceName', 'qmpSocketPath', 'guestAgentSocketPath', 'infiniServiceSocketPath',
  'graphicProtocol', 'graphicPort', 'graphicPassword', 'graphicHost', 'assignedGpuBus', 'bridge', 'machineType',
  'cpuModel', 'diskBus', 'diskCacheMode', 'networkModel', 'networkQueues', 'memoryBalloon', 'diskPaths',
  'uefiFirmware', 'hugepages', 'cpuPinning', 'enableNumaCtlPinning', 'cpuPinningStrategy', 'tpmSocketPath',
  'virtioDriversIso', 'enableAudio', 'enableUsbTablet'
]

const CONFIG_SELECT = Object.fromEntries(['machineId', ...CONFIG_FIELDS].map((f) => [f, true]))

const RULE_FIELDS = [
  'id', 'name', 'description', 'action', 'direction', 'priority', 'protocol', 'srcPortStart', 'srcPortEnd',
  'dstPortStart', 'dstPortEnd', 'srcIpAddr', 'srcIpMask', 'dstIpAddr', 'dstIpMask', 'connectionState', 'overridesDept'
]

// The native stores' order: without it the rows come in whatever order the plan
// gives (an index on (ruleSetId, priority) gives priority order, an edit can move a
// row to the end), so equal-priority rules could change places between reads.
const RULES = { rules: { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] } }

const RULES_INCLUDE = {
  firewallRuleSet: { include: RULES },
  department: { include: { firewallRuleSet: { include: RULES } } }
}

// The Json columns of MachineConfiguration (backend schema).
const JSON_FIELDS = new Set(['xml', 'diskPaths', 'numaConfig', 'cpuPinning'])

// Prisma.DbNull as it goes over the wire. The real one belongs to the caller's
// generated client, which the adapter cannot import. Prisma's JSON protocol (Prisma 5
// and 6, both engines) sends an argument that has toJSON() as what toJSON() returns,
// and sends Prisma.DbNull as exactly this value.
const DB_NULL = Object.freeze({ toJSON: () => ({ $type: 'Enum', value: 'DbNull' }) })

// The upsert's create and update: a null Json value is left out of the create (the
// column's default is NULL) and is DB_NULL in the update.
function configWrite (machineId, config) {
  const create = { machineId }
  const update = {}
  for (const [k, v] of Object.entries(config ?? {})) {
    if (v === null && JSON_FIELDS.has(k)) {
      update[k] = DB_NULL
    } else {
      create[k] = v
      update[k] = v
    }
  }
  return { create, update }
}

const VM_INCLUDE = { configuration: { select: CONFIG_SELECT }, ...RULES_INCLUDE }

const RUNNING_SELECT = {
  qemuPid: true,
  tapDeviceName: true,
  qmpSocketPath: true,
  guestAgentSocketPath: true,
  infiniServiceSocketPath: true,
  cpuPinning: true
}

function isCpuPinning (v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Array.isArray(v.cores) && v.cores.every((c) => typeof c === 'number')
}

function mapConfiguration (c) {
  if (!c) return null
  const out = {}
  for (const f of CONFIG_FIELDS) {
    if (f === 'diskPaths') out[f] = Array.isArray(c.diskPaths) ? c.diskPaths : null
    else if (f === 'cpuPinning') out[f] = isCpuPinning(c.cpuPinning) ? c.cpuPinning : null
    else out[f] = c[f] ?? null
  }
  return out
}

function mapRule (r) {
  const out = {}
  for (const f of RULE_FIELDS) out[f] = r[f] ?? null
  out.overridesDept = r.overridesDept ?? false
  return out
}

function mapRuleSet (rs) {
  if (!rs) return null
  return {
    id: rs.id,
    name: rs.name,
    internalName: rs.internalName,
    priority: rs.priority,
    isActive: rs.isActive,
    rules: (rs.rules ?? []).map(mapRule)
  }
}

function mapVMConfig (m) {
  return {
    id: m.id,
    status: m.status,
    name: m.name ?? '',
    internalName: m.internalName ?? '',
    os: m.os ?? '',
    cpuCores: m.cpuCores ?? 0,
    ramGB: m.ramGB ?? 0,
    diskSizeGB: m.diskSizeGB ?? 0,
    gpuPciAddress: m.gpuPciAddress ?? null,
    version: m.version ?? 1,
    configuration: mapConfiguration(m.configuration),
    firewallRuleSet: mapRuleSet(m.firewallRuleSet),
    department: m.department ? { id: m.department.id, name: m.department.name, firewallRuleSet: mapRuleSet(m.department.firewallRuleSet) } : null
  }
}

function wrap (verb, code, vmId, error) {
  return new PrismaAdapterError(`Failed to ${verb}: ${String(error)}`, code, vmId, error)
}

class PrismaAdapter {
  constructor (prisma) {
    /** @type {any} */
    this.prisma // a PrismaClient (an optional peer dependency); defined below, read-only
    Object.defineProperty(this, 'prisma', { value: prisma })
  }

  async findMachine (id) {
    try {
      const m = await this.prisma.machine.findUnique({ where: { id }, select: { id: true, status: true } })
      return m ? { id: m.id, status: m.status } : null
    } catch (e) {
      throw wrap('find machine', 'QUERY_FAILED', id, e)
    }
  }

  async updateMachineStatus (id, status) {
    try {
      const r = await this.prisma.machine.updateMany({ where: { id }, data: { status } })
      if (r.count === 0) log.log('warn', `Machine ${id} not found while setting status ${status}`)
    } catch (e) {
      throw wrap('update machine status', 'UPDATE_FAILED', id, e)
    }
  }

  async findRunningVMs () {
    try {
      const rows = await this.prisma.machine.findMany({
        where: { status: 'running' },
        include: { configuration: { select: RUNNING_SELECT } }
      })
      return rows.map((m) => ({
        id: m.id,
        status: m.status,
        MachineConfiguration: m.configuration
          ? {
              qemuPid: m.configuration.qemuPid ?? null,
              tapDeviceName: m.configuration.tapDeviceName ?? null,
              qmpSocketPath: m.configuration.qmpSocketPath ?? null,
              guestAgentSocketPath: m.configuration.guestAgentSocketPath ?? null,
              infiniServiceSocketPath: m.configuration.infiniServiceSocketPath ?? null,
              cpuPinning: isCpuPinning(m.configuration.cpuPinning) ? m.configuration.cpuPinning : null
            }
          : null
      }))
    } catch (e) {
      throw wrap('find running VMs', 'QUERY_FAILED', undefined, e)
    }
  }

  async clearMachineConfiguration (machineId) {
    try {
      await this.prisma.machineConfiguration.updateMany({
        where: { machineId },
        data: { qemuPid: null, tapDeviceName: null, qmpSocketPath: null }
      })
    } catch (e) {
      throw wrap('clear machine configuration', 'UPDATE_FAILED', machineId, e)
    }
  }

  async clearVolatileMachineConfiguration (machineId) {
    try {
      await this.prisma.machineConfiguration.updateMany({
        where: { machineId },
        data: { qemuPid: null, qmpSocketPath: null }
      })
    } catch (e) {
      throw wrap('clear volatile machine configuration', 'UPDATE_FAILED', machineId, e)
    }
  }

  async findMachineWithConfig (id) {
    try {
      const m = await this.prisma.machine.findUnique({ where: { id }, include: VM_INCLUDE })
      return m ? mapVMConfig(m) : null
    } catch (e) {
      throw wrap('find machine with config', 'QUERY_FAILED', id, e)
    }
  }

  async updateMachineConfiguration (machineId, config) {
    if (!machineId) throw new PrismaAdapterError('Machine ID is required', 'INVALID_INPUT', machineId)
    try {
      const { create, update } = configWrite(machineId, config)
      await this.prisma.machineConfiguration.upsert({ where: { machineId }, create, update })
    } catch (e) {
      throw wrap('update machine configuration', 'UPDATE_FAILED', machineId, e)
    }
  }

  async transitionVMStatus (machineId, expectedStatus, newStatus, expectedVersion) {
    try {
      return await this.prisma.$transaction(async (tx) => {
        const m = await tx.machine.findUnique({ where: { id: machineId }, include: VM_INCLUDE })
        if (!m) throw new PrismaAdapterError(`Machine not found: ${machineId}`, 'MACHINE_NOT_FOUND', machineId)
        const currentVersion = m.version ?? 1
        if (currentVersion !== expectedVersion) {
          throw new PrismaAdapterError(
            `Version conflict: expected ${expectedVersion}, found ${currentVersion}. Another process may have modified this VM.`,
            'VERSION_CONFLICT', machineId, { expectedVersion, currentVersion })
        }
        if (m.status !== expectedStatus) {
          throw new PrismaAdapterError(
            `Status conflict: expected '${expectedStatus}', found '${m.status}'. VM may already be ${m.status}.`,
            'UPDATE_FAILED', machineId, { expectedStatus, currentStatus: m.status })
        }
        const newVersion = currentVersion + 1
        const r = await tx.machine.updateMany({
          where: { id: machineId, status: expectedStatus, version: expectedVersion },
          data: { status: newStatus, version: newVersion }
        })
        if (r.count === 0) {
          throw new PrismaAdapterError('Failed to transition VM status: concurrent modification detected',
            'VERSION_CONFLICT', machineId, { expectedStatus, expectedVersion })
        }
        return { success: true, newVersion, vmConfig: { ...mapVMConfig(m), status: newStatus, version: newVersion } }
      })
    } catch (e) {
      if (e instanceof PrismaAdapterError) throw e
      throw wrap('transition VM status', 'UPDATE_FAILED', machineId, e)
    }
  }

  async getFirewallRules (vmId) {
    let m
    try {
      m = await this.prisma.machine.findUnique({ where: { id: vmId }, include: RULES_INCLUDE })
    } catch (e) {
      throw wrap('get firewall rules', 'QUERY_FAILED', vmId, e)
    }
    if (!m) throw new PrismaAdapterError(`Machine not found: ${vmId}`, 'MACHINE_NOT_FOUND', vmId)
    const rules = [
      ...(m.department?.firewallRuleSet?.rules ?? []),
      ...(m.firewallRuleSet?.rules ?? [])
    ].map(mapRule)
    // Array.prototype.sort is stable: equal priorities keep department-first order.
    return rules.sort((a, b) => a.priority - b.priority)
  }

  async getFirewallRuleSetId (vmId) {
    try {
      const m = await this.prisma.machine.findUnique({ where: { id: vmId }, select: { firewallRuleSetId: true } })
      return m?.firewallRuleSetId ?? null
    } catch (e) {
      throw wrap('get firewall rule set ID', 'QUERY_FAILED', vmId, e)
    }
  }

  async getMachineInternalName (id) {
    try {
      const m = await this.prisma.machine.findUnique({ where: { id }, select: { internalName: true } })
      return m?.internalName ?? null
    } catch (e) {
      throw wrap('get machine internal name', 'QUERY_FAILED', id, e)
    }
  }

  async getMachineDiskPath (id) {
    const name = await this.getMachineInternalName(id)
    return name ? `${DISK_PATH_PREFIX}${name}.qcow2` : null
  }
}

module.exports = { PrismaAdapter, CONFIG_FIELDS }
