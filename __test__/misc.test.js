'use strict'

// Exports, constants, enums, guards, error classes, Debugger and CommandExecutor
// through the public entry: API.md §1.2, §16.1, §16.2, §17, §20.2 and §20.10.

const { spawnSync } = require('node:child_process')
const path = require('node:path')
const util = require('node:util')
const api = require('..')

const REPO = path.resolve(__dirname, '..')

/**
 * Exact deep comparison usable with objects built by the native addon in the
 * main realm (Jest runs the test file in its own vm context, so toStrictEqual's
 * constructor check would fail on them): same JSON, i.e. same values and the
 * same key order, plus Jest's recursive equality.
 */
function same (received, expected) {
  expect(JSON.stringify(received)).toBe(JSON.stringify(expected))
  expect(received).toEqual(expected)
}

function thrown (fn) {
  let err
  try {
    fn()
  } catch (e) {
    err = e
  }
  if (err === undefined) throw new Error('expected the call to throw')
  return err
}

// ---------------------------------------------------------------------------
// §1.2 runtime export keys
// ---------------------------------------------------------------------------

const SPEC_RUNTIME_KEYS = `
QemuCommandBuilder QemuProcess QMPClient VMLifecycle Infinivirt CpuPinningAdapter TapDeviceManager
BridgeManager MacAddressGenerator NftablesService FirewallRuleTranslator DepartmentNatService QemuImgService
SnapshotManager SpiceConfig VncConfig StateSync EventHandler HealthMonitor PrismaAdapter PCI_ADDRESS_REGEX
validatePciAddress normalizePciAddress NetworkDeviceState NetworkErrorCode QEMU_MAC_PREFIX MAX_TAP_NAME_LENGTH
TAP_NAME_PREFIX NftablesFamily NftablesHookType NftablesChainPolicy NftablesErrorCode INFINIVIRT_TABLE_NAME
INFINIVIRT_TABLE_FAMILY DEFAULT_CHAIN_PRIORITY NFTABLES_COMMENT_PREFIX SUPPORTED_PROTOCOLS CONNECTION_STATES
MAX_CHAIN_NAME_LENGTH VM_CHAIN_PREFIX generateVMChainName StorageErrorCode StorageError isValidImageFormat
SUPPORTED_IMAGE_FORMATS DEFAULT_CLUSTER_SIZE MAX_SNAPSHOT_NAME_LENGTH DisplayErrorCode DisplayError
VNC_BASE_PORT VNC_MAX_PASSWORD_LENGTH SPICE_MIN_PORT SPICE_MAX_PORT DEFAULT_SPICE_ADDR DEFAULT_VNC_ADDR
SyncErrorCode DEFAULT_HEALTH_CHECK_INTERVAL DEFAULT_SYNC_TIMEOUT MAX_SYNC_RETRIES isValidDBStatus
isValidQMPStatus PrismaAdapterErrorCode PrismaAdapterError isPrismaAdapterError DEFAULT_DISK_PATH_PREFIX
DEFAULT_QMP_SOCKET_PATH_PREFIX DEFAULT_DISK_FORMAT DEFAULT_DISK_EXTENSION LifecycleErrorCode LifecycleError
DEFAULT_STOP_TIMEOUT DEFAULT_BOOT_TIMEOUT DEFAULT_QMP_CONNECT_TIMEOUT DEFAULT_QMP_SOCKET_DIR DEFAULT_DISK_DIR
DEFAULT_PIDFILE_DIR DEFAULT_NETWORK_MODEL DEFAULT_DISK_BUS DEFAULT_DISK_CACHE RESTART_DELAY_MS
PROCESS_EXIT_POLL_INTERVAL RUNTIME_DISK_SIZE_PLACEHOLDER_GB isLifecycleError createLifecycleError VMOperation
VMOperationStatus isValidVMStatus isValidVMOperation isValidVMInfo DEFAULT_VM_CPU_CORES DEFAULT_VM_RAM_GB
DEFAULT_VM_DISK_SIZE_GB MIN_VM_CPU_CORES MAX_VM_CPU_CORES MIN_VM_RAM_GB MAX_VM_RAM_GB MIN_VM_DISK_SIZE_GB
MAX_VM_DISK_SIZE_GB ConfigDefaults isValidDisplayConfig isValidNetworkConfig isValidStorageConfig
isValidVMCompleteConfig isValidGpuPassthroughConfig UnattendedInstaller InstallationMonitor UnattendedErrorCode
UnattendedError DEFAULT_INSTALLATION_TIMEOUT CDROM_DEVICE_NAME ISO_BOOT_ORDER DEFAULT_MAX_RESETS
DEFAULT_CHECK_INTERVAL DEFAULT_LOCALE DEFAULT_TIMEZONE isValidOSType isValidInstallationPhase
isValidInstallConfig isUnattendedError createUnattendedError CgroupsManager Debugger CommandExecutor
`.trim().split(/\s+/)

// The names implemented so far, in §1.2 order (host-bound classes come later).
const IMPLEMENTED = [
  'QemuCommandBuilder', 'QemuProcess', 'QMPClient', 'VMLifecycle', 'Infinivirt', 'CpuPinningAdapter', 'TapDeviceManager', 'BridgeManager',
  'MacAddressGenerator', 'SpiceConfig', 'VncConfig', 'PCI_ADDRESS_REGEX',
  'validatePciAddress', 'normalizePciAddress', 'NetworkDeviceState', 'NetworkErrorCode', 'QEMU_MAC_PREFIX',
  'MAX_TAP_NAME_LENGTH', 'TAP_NAME_PREFIX', 'NftablesFamily', 'NftablesHookType', 'NftablesChainPolicy',
  'NftablesErrorCode', 'INFINIVIRT_TABLE_NAME', 'INFINIVIRT_TABLE_FAMILY', 'DEFAULT_CHAIN_PRIORITY',
  'NFTABLES_COMMENT_PREFIX', 'SUPPORTED_PROTOCOLS', 'CONNECTION_STATES', 'MAX_CHAIN_NAME_LENGTH',
  'VM_CHAIN_PREFIX', 'generateVMChainName', 'StorageErrorCode', 'StorageError', 'isValidImageFormat',
  'SUPPORTED_IMAGE_FORMATS', 'DEFAULT_CLUSTER_SIZE', 'MAX_SNAPSHOT_NAME_LENGTH', 'DisplayErrorCode',
  'DisplayError', 'VNC_BASE_PORT', 'VNC_MAX_PASSWORD_LENGTH', 'SPICE_MIN_PORT', 'SPICE_MAX_PORT',
  'DEFAULT_SPICE_ADDR', 'DEFAULT_VNC_ADDR', 'SyncErrorCode', 'DEFAULT_HEALTH_CHECK_INTERVAL',
  'DEFAULT_SYNC_TIMEOUT', 'MAX_SYNC_RETRIES', 'isValidDBStatus', 'isValidQMPStatus', 'PrismaAdapterErrorCode',
  'PrismaAdapterError', 'isPrismaAdapterError', 'DEFAULT_DISK_PATH_PREFIX', 'DEFAULT_QMP_SOCKET_PATH_PREFIX',
  'DEFAULT_DISK_FORMAT', 'DEFAULT_DISK_EXTENSION', 'LifecycleErrorCode', 'LifecycleError', 'DEFAULT_STOP_TIMEOUT',
  'DEFAULT_BOOT_TIMEOUT', 'DEFAULT_QMP_CONNECT_TIMEOUT', 'DEFAULT_QMP_SOCKET_DIR', 'DEFAULT_DISK_DIR',
  'DEFAULT_PIDFILE_DIR', 'DEFAULT_NETWORK_MODEL', 'DEFAULT_DISK_BUS', 'DEFAULT_DISK_CACHE', 'RESTART_DELAY_MS',
  'PROCESS_EXIT_POLL_INTERVAL', 'RUNTIME_DISK_SIZE_PLACEHOLDER_GB', 'isLifecycleError', 'createLifecycleError',
  'VMOperation', 'VMOperationStatus', 'isValidVMStatus', 'isValidVMOperation', 'isValidVMInfo',
  'DEFAULT_VM_CPU_CORES', 'DEFAULT_VM_RAM_GB', 'DEFAULT_VM_DISK_SIZE_GB', 'MIN_VM_CPU_CORES', 'MAX_VM_CPU_CORES',
  'MIN_VM_RAM_GB', 'MAX_VM_RAM_GB', 'MIN_VM_DISK_SIZE_GB', 'MAX_VM_DISK_SIZE_GB', 'ConfigDefaults',
  'isValidDisplayConfig', 'isValidNetworkConfig', 'isValidStorageConfig', 'isValidVMCompleteConfig',
  'isValidGpuPassthroughConfig', 'UnattendedInstaller', 'InstallationMonitor', 'UnattendedErrorCode', 'UnattendedError', 'DEFAULT_INSTALLATION_TIMEOUT',
  'CDROM_DEVICE_NAME', 'ISO_BOOT_ORDER', 'DEFAULT_MAX_RESETS', 'DEFAULT_CHECK_INTERVAL', 'DEFAULT_LOCALE',
  'DEFAULT_TIMEZONE', 'isValidOSType', 'isValidInstallationPhase', 'isValidInstallConfig', 'isUnattendedError',
  'createUnattendedError', 'CgroupsManager', 'Debugger', 'CommandExecutor'
]

const CLASSES = [
  'QemuCommandBuilder', 'QemuProcess', 'QMPClient', 'VMLifecycle', 'Infinivirt', 'CpuPinningAdapter', 'CgroupsManager', 'TapDeviceManager', 'BridgeManager',
  'MacAddressGenerator', 'SpiceConfig', 'VncConfig', 'StorageError', 'DisplayError',
  'PrismaAdapterError', 'LifecycleError', 'UnattendedError', 'InstallationMonitor', 'Debugger', 'CommandExecutor'
]
const FUNCTIONS = [
  'validatePciAddress', 'normalizePciAddress', 'generateVMChainName', 'isValidImageFormat', 'isValidDBStatus',
  'isValidQMPStatus', 'isPrismaAdapterError', 'isLifecycleError', 'createLifecycleError', 'isValidVMStatus',
  'isValidVMOperation', 'isValidVMInfo', 'isValidDisplayConfig', 'isValidNetworkConfig', 'isValidStorageConfig',
  'isValidVMCompleteConfig', 'isValidGpuPassthroughConfig', 'isValidOSType', 'isValidInstallationPhase',
  'isValidInstallConfig', 'isUnattendedError', 'createUnattendedError'
]

/** True when `sub` appears in `seq` in the same relative order. */
function isSubsequence (sub, seq) {
  let i = 0
  for (const x of seq) if (i < sub.length && x === sub[i]) i++
  return i === sub.length
}

describe('§1.2 runtime exports', () => {
  const keys = Object.keys(api)

  test('the implemented list is itself in §1.2 order', () => {
    expect(isSubsequence(IMPLEMENTED, SPEC_RUNTIME_KEYS)).toBe(true)
    expect(SPEC_RUNTIME_KEYS).toHaveLength(123)
  })

  test('every implemented name is exported, in §1.2 relative order', () => {
    for (const name of IMPLEMENTED) expect(keys).toContain(name)
    expect(isSubsequence(IMPLEMENTED, keys)).toBe(true)
  })

  test('every §1.2 name that is exported keeps the §1.2 relative order', () => {
    const present = keys.filter((k) => SPEC_RUNTIME_KEYS.includes(k))
    const specOrder = SPEC_RUNTIME_KEYS.filter((k) => present.includes(k))
    expect(present).toStrictEqual(specOrder)
  })

  test('writeDisplaySecretFile is exported as a function', () => {
    expect(keys).toContain('writeDisplaySecretFile')
    expect(typeof api.writeDisplaySecretFile).toBe('function')
  })

  test('classes and functions have the right kind', () => {
    for (const name of [...CLASSES, ...FUNCTIONS]) expect(typeof api[name]).toBe('function')
  })
})

// ---------------------------------------------------------------------------
// §17 enums and constants
// ---------------------------------------------------------------------------

const ENUMS = {
  NetworkDeviceState: { UP: 'up', DOWN: 'down', UNKNOWN: 'unknown' },
  NetworkErrorCode: {
    DEVICE_NOT_FOUND: 'DEVICE_NOT_FOUND', DEVICE_ALREADY_EXISTS: 'DEVICE_ALREADY_EXISTS', BRIDGE_NOT_FOUND: 'BRIDGE_NOT_FOUND',
    BRIDGE_ALREADY_EXISTS: 'BRIDGE_ALREADY_EXISTS', COMMAND_FAILED: 'COMMAND_FAILED', INVALID_MAC_ADDRESS: 'INVALID_MAC_ADDRESS',
    PERMISSION_DENIED: 'PERMISSION_DENIED', INVALID_INTERFACE_NAME: 'INVALID_INTERFACE_NAME',
    INVALID_IP_ADDRESS: 'INVALID_IP_ADDRESS', INVALID_ARGUMENT: 'INVALID_ARGUMENT'
  },
  NftablesFamily: { BRIDGE: 'bridge', INET: 'inet', IP: 'ip', IP6: 'ip6' },
  NftablesHookType: { PREROUTING: 'prerouting', INPUT: 'input', FORWARD: 'forward', OUTPUT: 'output', POSTROUTING: 'postrouting' },
  NftablesChainPolicy: { ACCEPT: 'accept', DROP: 'drop' },
  NftablesErrorCode: {
    TABLE_NOT_FOUND: 'TABLE_NOT_FOUND', TABLE_EXISTS: 'TABLE_EXISTS', CHAIN_NOT_FOUND: 'CHAIN_NOT_FOUND', CHAIN_EXISTS: 'CHAIN_EXISTS',
    RULE_INVALID: 'RULE_INVALID', COMMAND_FAILED: 'COMMAND_FAILED', PERMISSION_DENIED: 'PERMISSION_DENIED',
    INVALID_IP_ADDRESS: 'INVALID_IP_ADDRESS', INVALID_SUBNET_MASK: 'INVALID_SUBNET_MASK', INVALID_PORT_RANGE: 'INVALID_PORT_RANGE',
    UNSUPPORTED_PROTOCOL: 'UNSUPPORTED_PROTOCOL'
  },
  StorageErrorCode: {
    IMAGE_NOT_FOUND: 'IMAGE_NOT_FOUND', IMAGE_ALREADY_EXISTS: 'IMAGE_ALREADY_EXISTS', SNAPSHOT_NOT_FOUND: 'SNAPSHOT_NOT_FOUND',
    SNAPSHOT_ALREADY_EXISTS: 'SNAPSHOT_ALREADY_EXISTS', INVALID_FORMAT: 'INVALID_FORMAT', INVALID_SIZE: 'INVALID_SIZE',
    IMAGE_IN_USE: 'IMAGE_IN_USE', PERMISSION_DENIED: 'PERMISSION_DENIED', COMMAND_FAILED: 'COMMAND_FAILED', PARSE_ERROR: 'PARSE_ERROR', INVALID_SNAPSHOT_NAME: 'INVALID_SNAPSHOT_NAME',
    INVALID_BACKING_FILE: 'INVALID_BACKING_FILE'
  },
  DisplayErrorCode: {
    INVALID_PORT: 'INVALID_PORT', INVALID_PASSWORD: 'INVALID_PASSWORD', INVALID_ADDRESS: 'INVALID_ADDRESS',
    INVALID_DISPLAY_NUMBER: 'INVALID_DISPLAY_NUMBER', PASSWORD_TOO_LONG: 'PASSWORD_TOO_LONG', PORT_OUT_OF_RANGE: 'PORT_OUT_OF_RANGE',
    CONFLICTING_OPTIONS: 'CONFLICTING_OPTIONS', INVALID_COMPRESSION_MODE: 'INVALID_COMPRESSION_MODE',
    INVALID_STREAMING_MODE: 'INVALID_STREAMING_MODE', INVALID_GL_CONFIG: 'INVALID_GL_CONFIG', RENDERNODE_NOT_FOUND: 'RENDERNODE_NOT_FOUND'
  },
  SyncErrorCode: { QMP_UNAVAILABLE: 'QMP_UNAVAILABLE', DB_ERROR: 'DB_ERROR', VM_NOT_FOUND: 'VM_NOT_FOUND', INVALID_STATUS: 'INVALID_STATUS' },
  PrismaAdapterErrorCode: {
    MACHINE_NOT_FOUND: 'MACHINE_NOT_FOUND', DB_CONNECTION_ERROR: 'DB_CONNECTION_ERROR', UPDATE_FAILED: 'UPDATE_FAILED',
    QUERY_FAILED: 'QUERY_FAILED', INVALID_INPUT: 'INVALID_INPUT', CONSTRAINT_VIOLATION: 'CONSTRAINT_VIOLATION', VERSION_CONFLICT: 'VERSION_CONFLICT'
  },
  LifecycleErrorCode: {
    VM_NOT_FOUND: 'VM_NOT_FOUND', ALREADY_RUNNING: 'ALREADY_RUNNING', ALREADY_STOPPED: 'ALREADY_STOPPED', CREATE_FAILED: 'CREATE_FAILED',
    START_FAILED: 'START_FAILED', STOP_FAILED: 'STOP_FAILED', CLEANUP_FAILED: 'CLEANUP_FAILED', TIMEOUT: 'TIMEOUT', QMP_ERROR: 'QMP_ERROR',
    DISK_ERROR: 'DISK_ERROR', NETWORK_ERROR: 'NETWORK_ERROR', FIREWALL_ERROR: 'FIREWALL_ERROR', INVALID_CONFIG: 'INVALID_CONFIG',
    PROCESS_ERROR: 'PROCESS_ERROR', DATABASE_ERROR: 'DATABASE_ERROR', INVALID_STATE: 'INVALID_STATE',
    CONCURRENT_MODIFICATION: 'CONCURRENT_MODIFICATION', RESOURCE_UNAVAILABLE: 'RESOURCE_UNAVAILABLE'
  },
  VMOperation: {
    CREATE: 'CREATE', START: 'START', STOP: 'STOP', RESTART: 'RESTART', SUSPEND: 'SUSPEND', RESUME: 'RESUME', RESET: 'RESET', DELETE: 'DELETE'
  },
  VMOperationStatus: { PENDING: 'PENDING', IN_PROGRESS: 'IN_PROGRESS', SUCCESS: 'SUCCESS', FAILED: 'FAILED', TIMEOUT: 'TIMEOUT' },
  UnattendedErrorCode: {
    INVALID_CONFIG: 'INVALID_CONFIG', ISO_GENERATION_FAILED: 'ISO_GENERATION_FAILED', MOUNT_FAILED: 'MOUNT_FAILED',
    INSTALLATION_TIMEOUT: 'INSTALLATION_TIMEOUT', INSTALLATION_RESET_LIMIT_EXCEEDED: 'INSTALLATION_RESET_LIMIT_EXCEEDED',
    INSTALLATION_FAILED: 'INSTALLATION_FAILED', CLEANUP_FAILED: 'CLEANUP_FAILED', UNSUPPORTED_OS: 'UNSUPPORTED_OS',
    MANAGER_NOT_FOUND: 'MANAGER_NOT_FOUND', QMP_ERROR: 'QMP_ERROR', MONITORING_ERROR: 'MONITORING_ERROR'
  }
}

const CONSTANTS = {
  QEMU_MAC_PREFIX: '52:54:00',
  MAX_TAP_NAME_LENGTH: 15,
  TAP_NAME_PREFIX: 'vnet-',
  INFINIVIRT_TABLE_NAME: 'infinivirt',
  INFINIVIRT_TABLE_FAMILY: 'bridge',
  DEFAULT_CHAIN_PRIORITY: 0,
  NFTABLES_COMMENT_PREFIX: 'infinivirt',
  SUPPORTED_PROTOCOLS: ['tcp', 'udp', 'icmp', 'all'],
  CONNECTION_STATES: ['established', 'new', 'related', 'invalid'],
  MAX_CHAIN_NAME_LENGTH: 31,
  VM_CHAIN_PREFIX: 'vm_',
  SUPPORTED_IMAGE_FORMATS: ['qcow2', 'raw', 'vmdk', 'vdi', 'vhdx'],
  DEFAULT_CLUSTER_SIZE: 65536,
  MAX_SNAPSHOT_NAME_LENGTH: 64,
  VNC_BASE_PORT: 5900,
  VNC_MAX_PASSWORD_LENGTH: 8,
  SPICE_MIN_PORT: 5900,
  SPICE_MAX_PORT: 65535,
  DEFAULT_SPICE_ADDR: '0.0.0.0',
  DEFAULT_VNC_ADDR: '0.0.0.0',
  DEFAULT_HEALTH_CHECK_INTERVAL: 30000,
  DEFAULT_SYNC_TIMEOUT: 5000,
  MAX_SYNC_RETRIES: 3,
  DEFAULT_DISK_PATH_PREFIX: '/var/lib/infinivirt/disks',
  DEFAULT_QMP_SOCKET_PATH_PREFIX: '/var/run/infinivirt',
  DEFAULT_DISK_FORMAT: 'qcow2',
  DEFAULT_DISK_EXTENSION: '.qcow2',
  DEFAULT_STOP_TIMEOUT: 30000,
  DEFAULT_BOOT_TIMEOUT: 60000,
  DEFAULT_QMP_CONNECT_TIMEOUT: 5000,
  DEFAULT_QMP_SOCKET_DIR: '/var/run/infinivirt',
  DEFAULT_DISK_DIR: '/var/lib/infinivirt/disks',
  DEFAULT_PIDFILE_DIR: '/var/run/infinivirt/pids',
  DEFAULT_NETWORK_MODEL: 'virtio-net-pci',
  DEFAULT_DISK_BUS: 'virtio',
  DEFAULT_DISK_CACHE: 'writeback',
  RESTART_DELAY_MS: 2000,
  PROCESS_EXIT_POLL_INTERVAL: 100,
  RUNTIME_DISK_SIZE_PLACEHOLDER_GB: 1,
  DEFAULT_VM_CPU_CORES: 2,
  DEFAULT_VM_RAM_GB: 4,
  DEFAULT_VM_DISK_SIZE_GB: 20,
  MIN_VM_CPU_CORES: 1,
  MAX_VM_CPU_CORES: 64,
  MIN_VM_RAM_GB: 1,
  MAX_VM_RAM_GB: 512,
  MIN_VM_DISK_SIZE_GB: 10,
  MAX_VM_DISK_SIZE_GB: 2048,
  DEFAULT_INSTALLATION_TIMEOUT: 3600000,
  CDROM_DEVICE_NAME: 'ide1-cd0',
  ISO_BOOT_ORDER: ['d', 'c'],
  DEFAULT_MAX_RESETS: 5,
  DEFAULT_CHECK_INTERVAL: 5000,
  DEFAULT_LOCALE: 'en_US',
  DEFAULT_TIMEZONE: 'UTC'
}

const CONFIG_DEFAULTS = {
  display: { spicePort: 5900, vncDisplay: 0, address: '0.0.0.0', enableAgent: true },
  network: { bridge: 'virbr0', model: 'virtio-net-pci' },
  storage: { format: 'qcow2', bus: 'virtio', cache: 'writeback', sizeGB: 20 },
  qemu: { machineType: 'q35', cpuModel: 'host', cpuCores: 2, ramGB: 4 },
  limits: {
    minCpuCores: 1, maxCpuCores: 64, minRamGB: 1, maxRamGB: 512, minDiskSizeGB: 10, maxDiskSizeGB: 2048,
    minSpicePort: 5900, maxSpicePort: 65535, maxVncDisplay: 99
  }
}

/** A canonical (key-sorted) JSON form, to compare values independently of key order. */
function canonical (v) {
  if (Array.isArray(v)) return v.map(canonical)
  if (v && typeof v === 'object') {
    const out = {}
    for (const k of Object.keys(v).sort()) out[k] = canonical(v[k])
    return out
  }
  return v
}

describe('§17 enum objects', () => {
  test('there are 14 enums', () => {
    expect(Object.keys(ENUMS)).toHaveLength(14)
  })

  test.each(Object.keys(ENUMS))('%s has exactly the spec keys and values', (name) => {
    const actual = api[name]
    expect(actual !== null && typeof actual === 'object').toBe(true)
    expect(Object.prototype.toString.call(actual)).toBe('[object Object]')
    expect(JSON.stringify(canonical(actual))).toBe(JSON.stringify(canonical(ENUMS[name])))
    expect(actual).toEqual(ENUMS[name])
    // A TS string enum has no reverse mapping.
    for (const v of Object.values(ENUMS[name])) {
      if (!(v in ENUMS[name])) expect(actual[v]).toBeUndefined()
    }
  })

  test('LifecycleErrorCode has all 18 keys', () => {
    expect(Object.keys(api.LifecycleErrorCode)).toHaveLength(18)
  })

  // The original compiles each enum to an object literal in declaration order,
  // so Object.keys()/Object.entries() iterate in the spec's order.
  test.each(Object.keys(ENUMS))('%s keys are in declaration order', (name) => {
    expect(Object.keys(api[name])).toEqual(Object.keys(ENUMS[name]))
  })
})

describe('§17 constants', () => {
  test.each(Object.keys(CONSTANTS))('%s', (name) => {
    same(api[name], CONSTANTS[name])
  })

  test('PCI_ADDRESS_REGEX', () => {
    const re = api.PCI_ADDRESS_REGEX
    expect(util.types.isRegExp(re)).toBe(true)
    expect(re.source).toBe('^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-9a-fA-F]$')
    expect(re.flags).toBe('')
    expect(re.test('01:00.0')).toBe(true)
    expect(re.test('0000:0a:1F.7')).toBe(true)
    expect(re.test('1:00.0')).toBe(false)
    expect(re.test('01:00.0,x')).toBe(false)
  })

  test('ISO_BOOT_ORDER is a (mutable) array', () => {
    expect(Array.isArray(api.ISO_BOOT_ORDER)).toBe(true)
  })

  test('ConfigDefaults: values (any key order)', () => {
    expect(JSON.stringify(canonical(api.ConfigDefaults))).toBe(JSON.stringify(canonical(CONFIG_DEFAULTS)))
    expect(api.ConfigDefaults).toEqual(CONFIG_DEFAULTS)
    expect(Object.isFrozen(api.ConfigDefaults)).toBe(false)
  })

  test('ConfigDefaults: key order as declared', () => {
    same(api.ConfigDefaults, CONFIG_DEFAULTS)
  })

  test('105: ConfigDefaults spot values', () => {
    expect(api.ConfigDefaults.limits.maxVncDisplay).toBe(99)
    expect(api.ConfigDefaults.storage.sizeGB).toBe(20)
    expect(api.ConfigDefaults.qemu.ramGB).toBe(4)
  })
})

// ---------------------------------------------------------------------------
// §20.2 PCI / MAC / names
// ---------------------------------------------------------------------------

describe('§20.2 PCI / MAC / names', () => {
  const FORMAT_ERR = (a) => `Invalid PCI address format '${a}'. Expected format: 'XX:XX.X' (short) or 'XXXX:XX:XX.X' (long), where X is a hexadecimal digit`

  test('36: validatePciAddress', () => {
    same(api.validatePciAddress('01:00.0'), { valid: true })
    expect('error' in api.validatePciAddress('01:00.0')).toBe(false)
    same(api.validatePciAddress('0000:01:00.0'), { valid: true })
    same(api.validatePciAddress('1:00.0'), { valid: false, error: FORMAT_ERR('1:00.0') })
    same(api.validatePciAddress(''), { valid: false, error: 'PCI address must be a non-empty string' })
    same(api.validatePciAddress(undefined), { valid: false, error: 'PCI address must be a non-empty string' })
    same(api.validatePciAddress(42), { valid: false, error: 'PCI address must be a non-empty string' })
  })

  test('37: normalizePciAddress', () => {
    expect(api.normalizePciAddress('01:00.0')).toBe('0000:01:00.0')
    expect(api.normalizePciAddress('0000:0A:1F.7')).toBe('0000:0a:1f.7')
    expect(api.normalizePciAddress('0A:1F.7')).toBe('0000:0a:1f.7')
    const e = thrown(() => api.normalizePciAddress('zz'))
    expect(util.types.isNativeError(e)).toBe(true)
    expect(e.message).toBe(FORMAT_ERR('zz'))
  })

  test('38: generateFromVmId with hex ids', () => {
    expect(api.MacAddressGenerator.generateFromVmId('abc123')).toBe('52:54:00:ab:c1:23')
    expect(api.MacAddressGenerator.generateFromVmId('deadbeef')).toBe('52:54:00:de:ad:be')
    expect(api.MacAddressGenerator.generateFromVmId('ABCDEF1234')).toBe('52:54:00:ab:cd:ef')
  })

  test('39: generateFromVmId with md5', () => {
    expect(api.MacAddressGenerator.generateFromVmId('550e8400-e29b-41d4-a716-446655440000')).toBe('52:54:00:e8:45:6c')
    expect(api.MacAddressGenerator.generateFromVmId('vm-1')).toBe('52:54:00:8d:4f:7b')
    expect(api.MacAddressGenerator.generateFromVmId('abc12')).toBe('52:54:00:b2:15:7e')
    expect(api.MacAddressGenerator.generateFromVmId('test-vm-123')).toBe('52:54:00:43:de:fd')
  })

  test('40: validate / isQemuMac / generate', () => {
    const M = api.MacAddressGenerator
    expect(M.validate('52-54-00-a3-b2-c1')).toBe(false)
    expect(M.validate('52:54:00:a3:b2:c1')).toBe(true)
    expect(M.validate('52:54:00:a3:b2:c1,x=y')).toBe(false)
    expect(M.isQemuMac('52:54:00:A3:B2:C1')).toBe(true)
    expect(M.isQemuMac('00:16:3e:a3:b2:c1')).toBe(false)
    for (let i = 0; i < 20; i++) expect(M.generate()).toMatch(/^52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/)
  })

  test('41: generateVMChainName', () => {
    expect(api.generateVMChainName('abc-123-def-456')).toBe('vm_abc123de')
    expect(api.generateVMChainName('UPPER-case-ID')).toBe('vm_uppercas')
    expect(api.generateVMChainName('550e8400-e29b-41d4-a716-446655440000')).toBe('vm_550e8400')
    expect(api.generateVMChainName('')).toBe('vm_')
  })
})

// ---------------------------------------------------------------------------
// §20.10 guards, plus positive/negative cases for every guard
// ---------------------------------------------------------------------------

describe('guards', () => {
  const vmInfo = { id: 'a', name: 'b', internalName: 'c', os: 'ubuntu', status: 'running', resources: { cpuCores: 1, ramGB: 1, diskSizeGB: 10 } }

  test('isValidVMInfo', () => {
    expect(api.isValidVMInfo(vmInfo)).toBe(true)
    expect(api.isValidVMInfo({ ...vmInfo, resources: {} })).toBe(true)
    expect(api.isValidVMInfo({ ...vmInfo, status: 'bogus' })).toBe(false)
    expect(api.isValidVMInfo({ ...vmInfo, resources: null })).toBe(false)
    expect(api.isValidVMInfo({ ...vmInfo, os: undefined })).toBe(false)
    expect(api.isValidVMInfo({ ...vmInfo, id: 1 })).toBe(false)
    expect(api.isValidVMInfo(null)).toBe(false)
    expect(api.isValidVMInfo('vm')).toBe(false)
  })

  test('106: isValidDisplayConfig', () => {
    expect(api.isValidDisplayConfig({ type: 'spice', port: 5900 })).toBe(true)
    expect(api.isValidDisplayConfig({ type: 'vnc', port: 1 })).toBe(true)
    expect(api.isValidDisplayConfig({ type: 'none', port: 1 })).toBe(false)
    expect(api.isValidDisplayConfig({ type: 'vnc', port: 0 })).toBe(false)
    expect(api.isValidDisplayConfig({ type: 'spice', port: '5900' })).toBe(false)
    expect(api.isValidDisplayConfig(null)).toBe(false)
    expect(api.isValidDisplayConfig(5)).toBe(false)
  })

  test('isValidNetworkConfig', () => {
    expect(api.isValidNetworkConfig({ bridge: 'virbr0' })).toBe(true)
    expect(api.isValidNetworkConfig({ bridge: '' })).toBe(false)
    expect(api.isValidNetworkConfig({ bridge: 5 })).toBe(false)
    expect(api.isValidNetworkConfig({})).toBe(false)
    expect(api.isValidNetworkConfig(null)).toBe(false)
  })

  test('isValidStorageConfig', () => {
    expect(api.isValidStorageConfig({ path: '/d/a.qcow2', sizeGB: 20 })).toBe(true)
    expect(api.isValidStorageConfig({ path: '/d/a.qcow2', sizeGB: 0.5 })).toBe(true)
    expect(api.isValidStorageConfig({ path: '', sizeGB: 20 })).toBe(false)
    expect(api.isValidStorageConfig({ path: '/d/a.qcow2', sizeGB: 0 })).toBe(false)
    expect(api.isValidStorageConfig({ path: '/d/a.qcow2', sizeGB: '20' })).toBe(false)
    expect(api.isValidStorageConfig(undefined)).toBe(false)
  })

  test('isValidVMCompleteConfig', () => {
    expect(api.isValidVMCompleteConfig({ vm: { id: 'a', name: 'b', internalName: 'c' } })).toBe(true)
    expect(api.isValidVMCompleteConfig({ vm: { id: 'a', name: 'b' } })).toBe(false)
    expect(api.isValidVMCompleteConfig({ vm: null })).toBe(false)
    expect(api.isValidVMCompleteConfig({})).toBe(false)
    expect(api.isValidVMCompleteConfig('x')).toBe(false)
  })

  test('107: isValidGpuPassthroughConfig', () => {
    expect(api.isValidGpuPassthroughConfig({ gpuPciAddress: '01:00.0', gpuAudioPciAddress: '01:00.0' })).toBe(false)
    expect(api.isValidGpuPassthroughConfig({ gpuPciAddress: '01:00.0', gpuAudioPciAddress: '01:00.1', gpuRomfile: '/var/lib/infinivirt/roms/a.rom' })).toBe(true)
    expect(api.isValidGpuPassthroughConfig({ gpuRomfile: '/var/lib/infinivirt/roms/../x' })).toBe(false)
    expect(api.isValidGpuPassthroughConfig({})).toBe(true)
    expect(api.isValidGpuPassthroughConfig({ gpuPciAddress: 'zz' })).toBe(false)
    expect(api.isValidGpuPassthroughConfig({ gpuPciAddress: 1 })).toBe(false)
    expect(api.isValidGpuPassthroughConfig({ gpuRomfile: '/etc/x.rom' })).toBe(false)
    expect(api.isValidGpuPassthroughConfig(null)).toBe(false)
  })

  test('108: isValidInstallConfig', () => {
    const ok = { vmId: 'a', os: 'ubuntu', username: 'u', password: 'p' }
    expect(api.isValidInstallConfig(ok)).toBe(true)
    expect(api.isValidInstallConfig({ ...ok, locale: 'en_US', timezone: 'UTC', hostname: 'h', productKey: 'k', applications: [], scripts: [] })).toBe(true)
    expect(api.isValidInstallConfig({ ...ok, locale: 5 })).toBe(false)
    expect(api.isValidInstallConfig({ ...ok, os: 'debian' })).toBe(false)
    expect(api.isValidInstallConfig({ ...ok, username: '' })).toBe(false)
    expect(api.isValidInstallConfig({ ...ok, password: '' })).toBe(false)
    expect(api.isValidInstallConfig({ ...ok, vmId: '' })).toBe(false)
    expect(api.isValidInstallConfig({ ...ok, applications: {} })).toBe(false)
    expect(api.isValidInstallConfig({ ...ok, scripts: 'x' })).toBe(false)
    expect(api.isValidInstallConfig(null)).toBe(false)
  })

  test('isValidOSType', () => {
    for (const os of ['windows10', 'windows11', 'ubuntu', 'fedora']) expect(api.isValidOSType(os)).toBe(true)
    expect(api.isValidOSType('debian')).toBe(false)
    expect(api.isValidOSType('Ubuntu')).toBe(false)
    expect(api.isValidOSType('')).toBe(false)
  })

  test('isValidInstallationPhase', () => {
    for (const p of ['generating_iso', 'mounting_media', 'installing', 'completing', 'cleanup', 'completed', 'failed']) {
      expect(api.isValidInstallationPhase(p)).toBe(true)
    }
    expect(api.isValidInstallationPhase('done')).toBe(false)
    expect(api.isValidInstallationPhase('INSTALLING')).toBe(false)
  })

  const DB_STATUSES = ['building', 'running', 'off', 'suspended', 'paused', 'updating_hardware', 'powering_off_update', 'error']
  const QMP_STATUSES = ['running', 'paused', 'shutdown', 'inmigrate', 'postmigrate', 'prelaunch', 'finish-migrate', 'restore-vm',
    'suspended', 'watchdog', 'guest-panicked', 'io-error', 'colo']

  test('isValidDBStatus', () => {
    for (const s of DB_STATUSES) expect(api.isValidDBStatus(s)).toBe(true)
    expect(api.isValidDBStatus('stopped')).toBe(false)
    expect(api.isValidDBStatus('RUNNING')).toBe(false)
    expect(api.isValidDBStatus('shutdown')).toBe(false)
  })

  test('isValidQMPStatus', () => {
    for (const s of QMP_STATUSES) expect(api.isValidQMPStatus(s)).toBe(true)
    expect(api.isValidQMPStatus('off')).toBe(false)
    expect(api.isValidQMPStatus('Running')).toBe(false)
  })

  test('isValidVMStatus (same set as isValidDBStatus)', () => {
    for (const s of DB_STATUSES) expect(api.isValidVMStatus(s)).toBe(true)
    expect(api.isValidVMStatus('shutdown')).toBe(false)
    expect(api.isValidVMStatus('')).toBe(false)
  })

  test('109: isValidVMOperation and isValidImageFormat', () => {
    expect(api.isValidVMOperation('start')).toBe(false)
    expect(api.isValidVMOperation('START')).toBe(true)
    for (const op of Object.values(ENUMS.VMOperation)) expect(api.isValidVMOperation(op)).toBe(true)
    expect(api.isValidVMOperation('REBOOT')).toBe(false)
    expect(api.isValidImageFormat('vhdx')).toBe(true)
    expect(api.isValidImageFormat('iso')).toBe(false)
    for (const f of ['qcow2', 'raw', 'vmdk', 'vdi', 'vhdx']) expect(api.isValidImageFormat(f)).toBe(true)
    expect(api.isValidImageFormat('QCOW2')).toBe(false)
  })
})

// ---------------------------------------------------------------------------
// Error classes and factories
// ---------------------------------------------------------------------------

function expectRealError (e, Class, name) {
  expect(util.types.isNativeError(e)).toBe(true)
  expect(e instanceof Error).toBe(true)
  expect(e instanceof Class).toBe(true)
  expect(e.name).toBe(name)
  expect(typeof e.stack).toBe('string')
  expect(Object.prototype.toString.call(e)).toBe('[object Error]')
}

describe('error classes', () => {
  test('110: StorageError(code, message, path, command) and toInfo()', () => {
    const e = new api.StorageError(api.StorageErrorCode.IMAGE_IN_USE, 'm', '/p', 'qemu-img resize')
    expectRealError(e, api.StorageError, 'StorageError')
    expect(e.code).toBe('IMAGE_IN_USE')
    expect(e.message).toBe('m')
    expect(e.path).toBe('/p')
    expect(e.command).toBe('qemu-img resize')
    expect(e.toInfo()).toStrictEqual({ code: 'IMAGE_IN_USE', message: 'm', path: '/p', command: 'qemu-img resize' })
    const bare = new api.StorageError('IMAGE_NOT_FOUND', 'gone').toInfo()
    expect(Object.keys(bare).sort()).toStrictEqual(['code', 'command', 'message', 'path'])
    expect(bare.path).toBeUndefined()
    expect(bare.command).toBeUndefined()
  })

  test('110: PrismaAdapterError(message, code, vmId, details)', () => {
    const e = new api.PrismaAdapterError('msg', api.PrismaAdapterErrorCode.VERSION_CONFLICT, 'vm', { d: 1 })
    expectRealError(e, api.PrismaAdapterError, 'PrismaAdapterError')
    expect(e.message).toBe('msg')
    expect(e.code).toBe('VERSION_CONFLICT')
    expect(e.vmId).toBe('vm')
    expect(e.details).toStrictEqual({ d: 1 })
    expect(api.isPrismaAdapterError(e)).toBe(true)
    expect(api.isPrismaAdapterError(new Error('x'))).toBe(false)
    expect(api.isPrismaAdapterError({ name: 'PrismaAdapterError', code: 'VERSION_CONFLICT' })).toBe(false)
    expect(api.isPrismaAdapterError(null)).toBe(false)
  })

  test('DisplayError(code, message, context)', () => {
    const e = new api.DisplayError(api.DisplayErrorCode.INVALID_PORT, 'bad port', { port: 1 })
    expectRealError(e, api.DisplayError, 'DisplayError')
    expect(e.code).toBe('INVALID_PORT')
    expect(e.message).toBe('bad port')
    expect(e.context).toStrictEqual({ port: 1 })
    expect(new api.DisplayError('INVALID_PORT', 'x').context).toBeUndefined()
  })

  test('LifecycleError(code, message, vmId, context) and its factory/guard', () => {
    const e = new api.LifecycleError(api.LifecycleErrorCode.START_FAILED, 'boom', 'vm-1', { step: 3 })
    expectRealError(e, api.LifecycleError, 'LifecycleError')
    expect(e.code).toBe('START_FAILED')
    expect(e.message).toBe('boom')
    expect(e.vmId).toBe('vm-1')
    expect(e.context).toStrictEqual({ step: 3 })
    const f = api.createLifecycleError('TIMEOUT', 'slow', 'vm-2', { ms: 5 })
    expectRealError(f, api.LifecycleError, 'LifecycleError')
    expect([f.code, f.message, f.vmId, f.context]).toStrictEqual(['TIMEOUT', 'slow', 'vm-2', { ms: 5 }])
    expect(api.isLifecycleError(e)).toBe(true)
    expect(api.isLifecycleError(f)).toBe(true)
    expect(api.isLifecycleError(new Error('x'))).toBe(false)
    expect(api.isLifecycleError(new api.DisplayError('INVALID_PORT', 'x'))).toBe(false)
    expect(api.isLifecycleError({ name: 'LifecycleError', code: 'TIMEOUT' })).toBe(false)
    expect(api.isLifecycleError(undefined)).toBe(false)
  })

  test('UnattendedError(code, message, cause, vmId, context) and its factory/guard', () => {
    const cause = new Error('root')
    const e = new api.UnattendedError(api.UnattendedErrorCode.MOUNT_FAILED, 'mount', cause, 'vm-3', { iso: '/x.iso' })
    expectRealError(e, api.UnattendedError, 'UnattendedError')
    expect(e.code).toBe('MOUNT_FAILED')
    expect(e.message).toBe('mount')
    expect(e.cause).toBe(cause)
    expect(e.vmId).toBe('vm-3')
    expect(e.context).toStrictEqual({ iso: '/x.iso' })
    const f = api.createUnattendedError('UNSUPPORTED_OS', 'nope', undefined, 'vm-4')
    expectRealError(f, api.UnattendedError, 'UnattendedError')
    expect([f.code, f.message, f.cause, f.vmId, f.context]).toStrictEqual(['UNSUPPORTED_OS', 'nope', undefined, 'vm-4', undefined])
    expect(api.isUnattendedError(e)).toBe(true)
    expect(api.isUnattendedError(f)).toBe(true)
    expect(api.isUnattendedError(new api.LifecycleError('TIMEOUT', 'x'))).toBe(false)
    expect(api.isUnattendedError(new Error('x'))).toBe(false)
    expect(api.isUnattendedError(null)).toBe(false)
  })

  test('classes are distinct', () => {
    const all = [api.StorageError, api.DisplayError, api.PrismaAdapterError, api.LifecycleError, api.UnattendedError]
    expect(new Set(all).size).toBe(5)
    expect(new api.StorageError('X', 'm') instanceof api.DisplayError).toBe(false)
  })

  test('errors thrown by the API are real Errors of the exported classes', () => {
    const e = thrown(() => new api.SpiceConfig({ port: 1 }))
    expectRealError(e, api.DisplayError, 'DisplayError')
    const l = thrown(() => new api.QemuCommandBuilder().setMemory(-1))
    expectRealError(l, api.LifecycleError, 'LifecycleError')
    expect(l.code).toBe('INVALID_CONFIG')
    expect(api.isLifecycleError(l)).toBe(true)
  })
})

// ---------------------------------------------------------------------------
// §16.1 Debugger
// ---------------------------------------------------------------------------

function runNode (script, extraEnv, dropKeys = []) {
  const env = { ...process.env, ...extraEnv }
  for (const k of dropKeys) delete env[k]
  const r = spawnSync(process.execPath, ['-e', script], { cwd: REPO, env, encoding: 'utf8', timeout: 30000 })
  if (r.error) throw r.error
  return r
}

describe('§16.1 Debugger', () => {
  const script = `
    const { Debugger } = require(${JSON.stringify(REPO)})
    new Debugger('x').log('hello')
    new Debugger('x').log('warn', 'w')
    new Debugger('x').log('a', 'b', 'c')
    new Debugger('x').log()
  `

  test('DEBUG=infinivirt:* prints both namespaces to stderr', () => {
    const r = runNode(script, { DEBUG: 'infinivirt:*' })
    expect(r.status).toBe(0)
    expect(r.stderr).toContain('infinivirt:x hello')
    expect(r.stderr).toContain('infinivirt:x:warn w')
    // Any other arity is ignored.
    expect(r.stderr).not.toContain('infinivirt:x:a')
    expect(r.stdout).toBe('')
  })

  test('DEBUG matching only the level namespace', () => {
    const r = runNode(script, { DEBUG: 'infinivirt:x:warn' })
    expect(r.stderr).toContain('infinivirt:x:warn w')
    expect(r.stderr).not.toContain('infinivirt:x hello')
  })

  test('without DEBUG nothing is printed', () => {
    const r = runNode(script, {}, ['DEBUG'])
    expect(r.status).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('')
  })
})

// ---------------------------------------------------------------------------
// §16.2 CommandExecutor
// ---------------------------------------------------------------------------

async function rejection (p) {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error('expected the promise to reject')
}

describe('§16.2 CommandExecutor', () => {
  const ex = new api.CommandExecutor()

  test('argv is passed without a shell', async () => {
    const p = ex.execute('echo', ['a;b', '$(x)'])
    expect(util.types.isPromise(p)).toBe(true)
    await expect(p).resolves.toBe('a;b $(x)\n')
  })

  test('resolves the full stdout', async () => {
    await expect(ex.execute('printf', ['%s\\n%s', 'one', 'two'])).resolves.toBe('one\ntwo')
  })

  test('non-zero exit rejects with the spec message and fields', async () => {
    const e = await rejection(ex.execute('sh', ['-c', 'exit 3']))
    expect(util.types.isNativeError(e)).toBe(true)
    expect(e instanceof Error).toBe(true)
    expect(e.message).toBe('Command failed with exit code 3: sh -c exit 3\nstdout: \nstderr: ')
    expect(e.code).toBe('COMMAND_FAILED')
    expect(e.exitCode).toBe(3)
    expect(e.stdout).toBe('')
    expect(e.stderr).toBe('')
  })

  test('non-zero exit embeds stdout and stderr', async () => {
    const e = await rejection(ex.execute('sh', ['-c', 'echo out; echo err >&2; exit 2']))
    expect(e.message).toBe('Command failed with exit code 2: sh -c echo out; echo err >&2; exit 2\nstdout: out\n\nstderr: err\n')
    expect(e.exitCode).toBe(2)
    expect(e.stdout).toBe('out\n')
    expect(e.stderr).toBe('err\n')
  })

  test('a missing binary rejects with the spawn message', async () => {
    const e = await rejection(ex.execute('no-such-cmd-xyz', []))
    expect(util.types.isNativeError(e)).toBe(true)
    expect(e instanceof Error).toBe(true)
    expect(e.message).toBe('Error occurred while executing command: no-such-cmd-xyz : spawn no-such-cmd-xyz ENOENT')
    expect(e.code).toBe('SPAWN_FAILED')
  })
})
