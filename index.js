'use strict'
// Public entry of @infinibay/infinivirt. Exports follow the order of the original
// library's compiled module (API.md §1.2); classes not yet implemented natively are
// added by the issues that build them.

const native = require('./lib/native')
const errors = require('./lib/errors')
const guards = require('./lib/guards')
const utils = require('./lib/utils')
const { QemuCommandBuilder } = require('./lib/builder')
const { SpiceConfig, VncConfig, writeDisplaySecretFile } = require('./lib/display')
const { QemuProcess } = require('./lib/process')
const { QMPClient } = require('./lib/qmp')
const { NftablesService, FirewallRuleTranslator, DepartmentNatService } = require('./lib/firewall')
const { QemuImgService, SnapshotManager } = require('./lib/storage')
const { StateSync, EventHandler, HealthMonitor, PrismaAdapter, createStore } = require('./lib/state')
const { TapDeviceManager, BridgeManager } = require('./lib/network')
const { VMLifecycle, Infinivirt } = require('./lib/lifecycle')
const { CpuPinningAdapter, CgroupsManager } = require('./lib/system')
const { UnattendedInstaller } = require('./lib/unattended')
const { InstallationMonitor } = require('./lib/unattended-monitor')
// Its own module (API-next §0.3): a test may replace lib/guest-agent by path.
const { GuestAgentClient } = require('./lib/guest-agent')
const backup = require('./lib/backup')

const C = native.specConstants()

module.exports = {
  QemuCommandBuilder,
  QemuProcess,
  QMPClient,
  VMLifecycle,
  Infinivirt,
  CpuPinningAdapter,
  TapDeviceManager,
  BridgeManager,
  MacAddressGenerator: utils.MacAddressGenerator,
  NftablesService,
  FirewallRuleTranslator,
  DepartmentNatService,
  QemuImgService,
  SnapshotManager,
  SpiceConfig,
  VncConfig,
  StateSync,
  EventHandler,
  HealthMonitor,
  PrismaAdapter,
  PCI_ADDRESS_REGEX: utils.PCI_ADDRESS_REGEX,
  validatePciAddress: utils.validatePciAddress,
  normalizePciAddress: utils.normalizePciAddress,
  NetworkDeviceState: C.NetworkDeviceState,
  NetworkErrorCode: C.NetworkErrorCode,
  QEMU_MAC_PREFIX: C.QEMU_MAC_PREFIX,
  MAX_TAP_NAME_LENGTH: C.MAX_TAP_NAME_LENGTH,
  TAP_NAME_PREFIX: C.TAP_NAME_PREFIX,
  NftablesFamily: C.NftablesFamily,
  NftablesHookType: C.NftablesHookType,
  NftablesChainPolicy: C.NftablesChainPolicy,
  NftablesErrorCode: C.NftablesErrorCode,
  INFINIVIRT_TABLE_NAME: C.INFINIVIRT_TABLE_NAME,
  INFINIVIRT_TABLE_FAMILY: C.INFINIVIRT_TABLE_FAMILY,
  DEFAULT_CHAIN_PRIORITY: C.DEFAULT_CHAIN_PRIORITY,
  NFTABLES_COMMENT_PREFIX: C.NFTABLES_COMMENT_PREFIX,
  SUPPORTED_PROTOCOLS: C.SUPPORTED_PROTOCOLS,
  CONNECTION_STATES: C.CONNECTION_STATES,
  MAX_CHAIN_NAME_LENGTH: C.MAX_CHAIN_NAME_LENGTH,
  VM_CHAIN_PREFIX: C.VM_CHAIN_PREFIX,
  generateVMChainName: utils.generateVMChainName,
  StorageErrorCode: C.StorageErrorCode,
  StorageError: errors.StorageError,
  isValidImageFormat: guards.isValidImageFormat,
  SUPPORTED_IMAGE_FORMATS: C.SUPPORTED_IMAGE_FORMATS,
  DEFAULT_CLUSTER_SIZE: C.DEFAULT_CLUSTER_SIZE,
  MAX_SNAPSHOT_NAME_LENGTH: C.MAX_SNAPSHOT_NAME_LENGTH,
  DisplayErrorCode: C.DisplayErrorCode,
  DisplayError: errors.DisplayError,
  VNC_BASE_PORT: C.VNC_BASE_PORT,
  VNC_MAX_PASSWORD_LENGTH: C.VNC_MAX_PASSWORD_LENGTH,
  SPICE_MIN_PORT: C.SPICE_MIN_PORT,
  SPICE_MAX_PORT: C.SPICE_MAX_PORT,
  DEFAULT_SPICE_ADDR: C.DEFAULT_SPICE_ADDR,
  DEFAULT_VNC_ADDR: C.DEFAULT_VNC_ADDR,
  SyncErrorCode: C.SyncErrorCode,
  DEFAULT_HEALTH_CHECK_INTERVAL: C.DEFAULT_HEALTH_CHECK_INTERVAL,
  DEFAULT_SYNC_TIMEOUT: C.DEFAULT_SYNC_TIMEOUT,
  MAX_SYNC_RETRIES: C.MAX_SYNC_RETRIES,
  isValidDBStatus: guards.isValidDBStatus,
  isValidQMPStatus: guards.isValidQMPStatus,
  PrismaAdapterErrorCode: C.PrismaAdapterErrorCode,
  PrismaAdapterError: errors.PrismaAdapterError,
  isPrismaAdapterError: errors.isPrismaAdapterError,
  DEFAULT_DISK_PATH_PREFIX: C.DEFAULT_DISK_PATH_PREFIX,
  DEFAULT_QMP_SOCKET_PATH_PREFIX: C.DEFAULT_QMP_SOCKET_PATH_PREFIX,
  DEFAULT_DISK_FORMAT: C.DEFAULT_DISK_FORMAT,
  DEFAULT_DISK_EXTENSION: C.DEFAULT_DISK_EXTENSION,
  LifecycleErrorCode: C.LifecycleErrorCode,
  LifecycleError: errors.LifecycleError,
  DEFAULT_STOP_TIMEOUT: C.DEFAULT_STOP_TIMEOUT,
  DEFAULT_BOOT_TIMEOUT: C.DEFAULT_BOOT_TIMEOUT,
  DEFAULT_QMP_CONNECT_TIMEOUT: C.DEFAULT_QMP_CONNECT_TIMEOUT,
  DEFAULT_QMP_SOCKET_DIR: C.DEFAULT_QMP_SOCKET_DIR,
  DEFAULT_DISK_DIR: C.DEFAULT_DISK_DIR,
  DEFAULT_PIDFILE_DIR: C.DEFAULT_PIDFILE_DIR,
  DEFAULT_NETWORK_MODEL: C.DEFAULT_NETWORK_MODEL,
  DEFAULT_DISK_BUS: C.DEFAULT_DISK_BUS,
  DEFAULT_DISK_CACHE: C.DEFAULT_DISK_CACHE,
  RESTART_DELAY_MS: C.RESTART_DELAY_MS,
  PROCESS_EXIT_POLL_INTERVAL: C.PROCESS_EXIT_POLL_INTERVAL,
  RUNTIME_DISK_SIZE_PLACEHOLDER_GB: C.RUNTIME_DISK_SIZE_PLACEHOLDER_GB,
  isLifecycleError: errors.isLifecycleError,
  createLifecycleError: errors.createLifecycleError,
  VMOperation: C.VMOperation,
  VMOperationStatus: C.VMOperationStatus,
  isValidVMStatus: guards.isValidVMStatus,
  isValidVMOperation: guards.isValidVMOperation,
  isValidVMInfo: guards.isValidVMInfo,
  DEFAULT_VM_CPU_CORES: C.DEFAULT_VM_CPU_CORES,
  DEFAULT_VM_RAM_GB: C.DEFAULT_VM_RAM_GB,
  DEFAULT_VM_DISK_SIZE_GB: C.DEFAULT_VM_DISK_SIZE_GB,
  MIN_VM_CPU_CORES: C.MIN_VM_CPU_CORES,
  MAX_VM_CPU_CORES: C.MAX_VM_CPU_CORES,
  MIN_VM_RAM_GB: C.MIN_VM_RAM_GB,
  MAX_VM_RAM_GB: C.MAX_VM_RAM_GB,
  MIN_VM_DISK_SIZE_GB: C.MIN_VM_DISK_SIZE_GB,
  MAX_VM_DISK_SIZE_GB: C.MAX_VM_DISK_SIZE_GB,
  ConfigDefaults: C.ConfigDefaults,
  isValidDisplayConfig: guards.isValidDisplayConfig,
  isValidNetworkConfig: guards.isValidNetworkConfig,
  isValidStorageConfig: guards.isValidStorageConfig,
  isValidVMCompleteConfig: guards.isValidVMCompleteConfig,
  isValidGpuPassthroughConfig: guards.isValidGpuPassthroughConfig,
  UnattendedInstaller,
  InstallationMonitor,
  UnattendedErrorCode: C.UnattendedErrorCode,
  UnattendedError: errors.UnattendedError,
  DEFAULT_INSTALLATION_TIMEOUT: C.DEFAULT_INSTALLATION_TIMEOUT,
  CDROM_DEVICE_NAME: C.CDROM_DEVICE_NAME,
  ISO_BOOT_ORDER: C.ISO_BOOT_ORDER,
  DEFAULT_MAX_RESETS: C.DEFAULT_MAX_RESETS,
  DEFAULT_CHECK_INTERVAL: C.DEFAULT_CHECK_INTERVAL,
  DEFAULT_LOCALE: C.DEFAULT_LOCALE,
  DEFAULT_TIMEZONE: C.DEFAULT_TIMEZONE,
  isValidOSType: guards.isValidOSType,
  isValidInstallationPhase: guards.isValidInstallationPhase,
  isValidInstallConfig: guards.isValidInstallConfig,
  isUnattendedError: errors.isUnattendedError,
  createUnattendedError: errors.createUnattendedError,
  CgroupsManager,
  Debugger: utils.Debugger,
  CommandExecutor: utils.CommandExecutor,
  // Infinivirt additions (see COMPATIBILITY.md).
  writeDisplaySecretFile,
  detectAccelerator: () => native.detectAccelerator(),
  createStore,
  GuestAgentClient,
  // Backups (API-next §2)
  ...backup
}
