// Type-level usage test of the public typings (index.d.ts). It is only
// type-checked (`npm run typecheck`), never executed: every object literal
// spells out all fields of its interface, every class method is called with
// correctly typed arguments and its result is read into an explicitly typed
// variable, so a missing, extra or mistyped declaration fails to compile.

import { EventEmitter } from 'events';
import * as api from '../../index';
import {
  // classes
  QemuCommandBuilder,
  QemuProcess,
  QMPClient,
  VMLifecycle,
  Infinivirt,
  CpuPinningAdapter,
  TapDeviceManager,
  BridgeManager,
  MacAddressGenerator,
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
  UnattendedInstaller,
  InstallationMonitor,
  CgroupsManager,
  Debugger,
  CommandExecutor,
  // error classes
  StorageError,
  DisplayError,
  PrismaAdapterError,
  LifecycleError,
  UnattendedError,
  // enums
  NetworkDeviceState,
  NetworkErrorCode,
  NftablesFamily,
  NftablesHookType,
  NftablesChainPolicy,
  NftablesErrorCode,
  StorageErrorCode,
  DisplayErrorCode,
  SyncErrorCode,
  PrismaAdapterErrorCode,
  LifecycleErrorCode,
  VMOperation,
  VMOperationStatus,
  UnattendedErrorCode,
  // constants
  PCI_ADDRESS_REGEX,
  QEMU_MAC_PREFIX,
  MAX_TAP_NAME_LENGTH,
  TAP_NAME_PREFIX,
  INFINIVIRT_TABLE_NAME,
  INFINIVIRT_TABLE_FAMILY,
  DEFAULT_CHAIN_PRIORITY,
  NFTABLES_COMMENT_PREFIX,
  SUPPORTED_PROTOCOLS,
  CONNECTION_STATES,
  MAX_CHAIN_NAME_LENGTH,
  VM_CHAIN_PREFIX,
  SUPPORTED_IMAGE_FORMATS,
  DEFAULT_CLUSTER_SIZE,
  MAX_SNAPSHOT_NAME_LENGTH,
  VNC_BASE_PORT,
  VNC_MAX_PASSWORD_LENGTH,
  SPICE_MIN_PORT,
  SPICE_MAX_PORT,
  DEFAULT_SPICE_ADDR,
  DEFAULT_VNC_ADDR,
  DEFAULT_HEALTH_CHECK_INTERVAL,
  DEFAULT_SYNC_TIMEOUT,
  MAX_SYNC_RETRIES,
  DEFAULT_DISK_PATH_PREFIX,
  DEFAULT_QMP_SOCKET_PATH_PREFIX,
  DEFAULT_DISK_FORMAT,
  DEFAULT_DISK_EXTENSION,
  DEFAULT_STOP_TIMEOUT,
  DEFAULT_BOOT_TIMEOUT,
  DEFAULT_QMP_CONNECT_TIMEOUT,
  DEFAULT_QMP_SOCKET_DIR,
  DEFAULT_DISK_DIR,
  DEFAULT_PIDFILE_DIR,
  DEFAULT_NETWORK_MODEL,
  DEFAULT_DISK_BUS,
  DEFAULT_DISK_CACHE,
  RESTART_DELAY_MS,
  PROCESS_EXIT_POLL_INTERVAL,
  RUNTIME_DISK_SIZE_PLACEHOLDER_GB,
  DEFAULT_VM_CPU_CORES,
  DEFAULT_VM_RAM_GB,
  DEFAULT_VM_DISK_SIZE_GB,
  MIN_VM_CPU_CORES,
  MAX_VM_CPU_CORES,
  MIN_VM_RAM_GB,
  MAX_VM_RAM_GB,
  MIN_VM_DISK_SIZE_GB,
  MAX_VM_DISK_SIZE_GB,
  ConfigDefaults,
  DEFAULT_INSTALLATION_TIMEOUT,
  CDROM_DEVICE_NAME,
  ISO_BOOT_ORDER,
  DEFAULT_MAX_RESETS,
  DEFAULT_CHECK_INTERVAL,
  DEFAULT_LOCALE,
  DEFAULT_TIMEZONE,
  // functions
  validatePciAddress,
  normalizePciAddress,
  generateVMChainName,
  isValidImageFormat,
  isValidDBStatus,
  isValidQMPStatus,
  isPrismaAdapterError,
  isLifecycleError,
  createLifecycleError,
  isValidVMStatus,
  isValidVMOperation,
  isValidVMInfo,
  isValidDisplayConfig,
  isValidNetworkConfig,
  isValidStorageConfig,
  isValidVMCompleteConfig,
  isValidGpuPassthroughConfig,
  isValidOSType,
  isValidInstallationPhase,
  isValidInstallConfig,
  isUnattendedError,
  createUnattendedError,
  writeDisplaySecretFile,
  detectAccelerator,
} from '../../index';
import type {
  QemuCommand,
  QemuCommandWithPinning,
  CpuPinningResult,
  NumaTopology,
  PinningStrategy,
  CpuPinningOptions,
  MachineType,
  DiskBus,
  CacheMode,
  DisplayType,
  VgaType,
  BootDevice,
  MachineOptions,
  DiskOptions,
  NetworkOptions,
  SpiceOptions,
  VncOptions,
  QemuProcessOptions,
  GpuPassthroughOptions,
  PciAddressValidationResult,
  QMPGreeting,
  QMPVersion,
  QMPMessage,
  QMPResponse,
  QMPError,
  QMPEvent,
  QMPTimestamp,
  QMPEventType,
  QMPShutdownEventData,
  QMPDeviceDeletedEventData,
  QMPBlockJobCompletedEventData,
  QMPVMStatus,
  QMPStatusInfo,
  QMPCpuInfo,
  QMPBlockInfo,
  QMPBlockImageInfo,
  QMPBlockInsertedInfo,
  QMPVncInfo,
  QMPVncClientInfo,
  QMPSpiceInfo,
  QMPSpiceChannel,
  QMPMemorySizeInfo,
  QMPClientOptions,
  QMPSocketOptions,
  QMPBalloonInfo,
  TapDeviceConfig,
  TapDeviceInfo,
  BridgeConfig,
  BridgeInfo,
  NetworkDeviceError,
  MacAddress,
  NftablesTableConfig,
  NftablesChainConfig,
  NftablesRuleConfig,
  NftablesRuleTokens,
  FirewallRuleTranslation,
  VMFirewallConfig,
  FirewallRuleInput,
  ConnectionStateConfig,
  NftablesError,
  ChainListResult,
  FirewallApplyResult,
  NftablesServiceConfig,
  NftablesPersistence,
  PersistenceConfig,
  PersistenceResult,
  RestoreResult,
  ImageFormat,
  ImageInfo,
  SnapshotInfo,
  ImageCheckResult,
  CreateImageOptions,
  ConvertImageOptions,
  SnapshotCreateOptions,
  StorageErrorInfo,
  SpiceConfigOptions,
  VncConfigOptions,
  ValidationError,
  DisplayValidationResult,
  DisplayCommandArgs,
  SpiceImageCompression,
  SpiceWanCompression,
  SpiceStreamingMode,
  SpicePlaybackCompression,
  DatabaseAdapter,
  MachineRecord,
  MachineConfigurationRecord,
  RunningVMRecord,
  DBVMStatus,
  StatusMapping,
  SyncResult,
  SyncError,
  HealthMonitorConfig,
  HealthCheckResult,
  HealthCheckSummary,
  CrashEvent,
  EventHandlerConfig,
  VMEventData,
  CleanupResourceType,
  CleanupStatus,
  CleanupResourceState,
  CleanupResult,
  CleanupAlertEvent,
  MachineConfigUpdate,
  VMConfigRecord,
  DepartmentRecord,
  FirewallRuleSetRecord,
  FirewallRuleRecord,
  ExtendedMachineConfigurationRecord,
  PrismaClientLike,
  PrismaTransactionClientLike,
  DisplayProtocol,
  DiskConfig,
  VMCreateConfig,
  VMCreateResult,
  VMStartConfig,
  VMStopConfig,
  VMOperationResult,
  VMStatusResult,
  InfinivirtConfig,
  EventManagerLike,
  ActiveVMResources,
  VMDisplayProtocol,
  VMCreateConfigFromHub,
  VMCreateResultFromHub,
  VMStartConfigFromHub,
  VMStopConfigFromHub,
  VMOperationResultFromHub,
  VMStatusResultFromHub,
  VMStatus,
  VMMachineOptions,
  VMInfo,
  VMResourceConfig,
  VMNetworkInfo,
  VMDisplayInfo,
  VMHardwareConfig,
  VMOperationHistory,
  ConfigMachineType,
  ConfigDiskBus,
  ConfigCacheMode,
  ConfigDisplayType,
  ConfigVgaType,
  ConfigBootDevice,
  ConfigMachineOptions,
  ConfigDiskOptions,
  ConfigNetworkOptions,
  ConfigSpiceOptions,
  ConfigVncOptions,
  ConfigQemuProcessOptions,
  ConfigSpiceConfigOptions,
  ConfigVncConfigOptions,
  ConfigTapDeviceConfig,
  ConfigBridgeConfig,
  ConfigCreateImageOptions,
  ConfigConvertImageOptions,
  ConfigSnapshotCreateOptions,
  ConfigVMFirewallConfig,
  ConfigFirewallRuleInput,
  ConfigInfinivirtConfig,
  ConfigHealthMonitorConfig,
  ConfigEventHandlerConfig,
  VMDisplayType,
  NetworkModel,
  StorageFormat,
  DisplayConfig,
  NetworkConfig,
  FirewallConfig,
  StorageConfig,
  QemuConfig,
  QemuMachineConfig,
  QemuCpuConfig,
  QemuMemoryConfig,
  QemuBootConfig,
  QemuProcessConfig,
  VMCompleteConfig,
  VMIdentityConfig,
  VMResourcesConfig,
  VMHardwarePassthroughConfig,
  USBDeviceConfig,
  PCIDeviceConfig,
  ConfigValidationResult,
  ConfigValidationError,
  ConfigValidationWarning,
  UnattendedInstallerOptions,
  OSType,
  InstallationPhase,
  InstallCommandType,
  UnattendedApplication,
  ScriptShell,
  UnattendedScript,
  ScriptExecutionConfig,
  UnattendedInstallConfig,
  MonitorConfig,
  InstallationProgress,
  InstallationResult,
  AcceleratorInfo,
} from '../../index';

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/** Exact type equality. */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function assertTrue<T extends true>(): void {}
function use(..._values: unknown[]): void {}

// ---------------------------------------------------------------------------
// constants: literal types
// ---------------------------------------------------------------------------

const pciRe: RegExp = PCI_ADDRESS_REGEX;
const macPrefix: '52:54:00' = QEMU_MAC_PREFIX;
const maxTap: 15 = MAX_TAP_NAME_LENGTH;
const tapPrefix: 'vnet-' = TAP_NAME_PREFIX;
const tableName: 'infinivirt' = INFINIVIRT_TABLE_NAME;
const tableFamily: NftablesFamily.BRIDGE = INFINIVIRT_TABLE_FAMILY;
const tableFamilyStr: 'bridge' = INFINIVIRT_TABLE_FAMILY;
const chainPrio: 0 = DEFAULT_CHAIN_PRIORITY;
const commentPrefix: 'infinivirt' = NFTABLES_COMMENT_PREFIX;
const protocols: readonly ['tcp', 'udp', 'icmp', 'all'] = SUPPORTED_PROTOCOLS;
const states: readonly ['established', 'new', 'related', 'invalid'] = CONNECTION_STATES;
const maxChain: 31 = MAX_CHAIN_NAME_LENGTH;
const chainPrefix: 'vm_' = VM_CHAIN_PREFIX;
const imageFormats: readonly ['qcow2', 'raw', 'vmdk', 'vdi', 'vhdx'] = SUPPORTED_IMAGE_FORMATS;
const clusterSize: 65536 = DEFAULT_CLUSTER_SIZE;
const maxSnap: 64 = MAX_SNAPSHOT_NAME_LENGTH;
const vncBase: 5900 = VNC_BASE_PORT;
const vncMaxPw: 8 = VNC_MAX_PASSWORD_LENGTH;
const spiceMin: 5900 = SPICE_MIN_PORT;
const spiceMax: 65535 = SPICE_MAX_PORT;
const spiceAddr: '0.0.0.0' = DEFAULT_SPICE_ADDR;
const vncAddr: '0.0.0.0' = DEFAULT_VNC_ADDR;
const healthInterval: 30000 = DEFAULT_HEALTH_CHECK_INTERVAL;
const syncTimeout: 5000 = DEFAULT_SYNC_TIMEOUT;
const syncRetries: 3 = MAX_SYNC_RETRIES;
const diskPrefix: '/var/lib/infinivirt/disks' = DEFAULT_DISK_PATH_PREFIX;
const qmpPrefix: '/var/run/infinivirt' = DEFAULT_QMP_SOCKET_PATH_PREFIX;
const diskFormat: 'qcow2' = DEFAULT_DISK_FORMAT;
const diskExt: '.qcow2' = DEFAULT_DISK_EXTENSION;
const stopTimeout: 30000 = DEFAULT_STOP_TIMEOUT;
const bootTimeout: 60000 = DEFAULT_BOOT_TIMEOUT;
const qmpConnect: 5000 = DEFAULT_QMP_CONNECT_TIMEOUT;
const qmpDir: '/var/run/infinivirt' = DEFAULT_QMP_SOCKET_DIR;
const diskDir: '/var/lib/infinivirt/disks' = DEFAULT_DISK_DIR;
const pidDir: '/var/run/infinivirt/pids' = DEFAULT_PIDFILE_DIR;
const netModel: 'virtio-net-pci' = DEFAULT_NETWORK_MODEL;
const diskBusDefault: 'virtio' = DEFAULT_DISK_BUS;
const diskCacheDefault: 'writeback' = DEFAULT_DISK_CACHE;
const restartDelay: 2000 = RESTART_DELAY_MS;
const exitPoll: 100 = PROCESS_EXIT_POLL_INTERVAL;
const placeholderGb: 1 = RUNTIME_DISK_SIZE_PLACEHOLDER_GB;
const vmCores: 2 = DEFAULT_VM_CPU_CORES;
const vmRam: 4 = DEFAULT_VM_RAM_GB;
const vmDisk: 20 = DEFAULT_VM_DISK_SIZE_GB;
const minCores: 1 = MIN_VM_CPU_CORES;
const maxCores: 64 = MAX_VM_CPU_CORES;
const minRam: 1 = MIN_VM_RAM_GB;
const maxRam: 512 = MAX_VM_RAM_GB;
const minDisk: 10 = MIN_VM_DISK_SIZE_GB;
const maxDisk: 2048 = MAX_VM_DISK_SIZE_GB;
const installTimeout: number = DEFAULT_INSTALLATION_TIMEOUT;
const cdrom: 'ide1-cd0' = CDROM_DEVICE_NAME;
const isoBoot: BootDevice[] = ISO_BOOT_ORDER;
const maxResets: 5 = DEFAULT_MAX_RESETS;
const checkInterval: 5000 = DEFAULT_CHECK_INTERVAL;
const locale: 'en_US' = DEFAULT_LOCALE;
const timezone: 'UTC' = DEFAULT_TIMEZONE;
use(pciRe, macPrefix, maxTap, tapPrefix, tableName, tableFamily, tableFamilyStr, chainPrio, commentPrefix);
use(protocols, states, maxChain, chainPrefix, imageFormats, clusterSize, maxSnap, vncBase, vncMaxPw);
use(spiceMin, spiceMax, spiceAddr, vncAddr, healthInterval, syncTimeout, syncRetries, diskPrefix, qmpPrefix);
use(diskFormat, diskExt, stopTimeout, bootTimeout, qmpConnect, qmpDir, diskDir, pidDir, netModel);
use(diskBusDefault, diskCacheDefault, restartDelay, exitPoll, placeholderGb, vmCores, vmRam, vmDisk);
use(minCores, maxCores, minRam, maxRam, minDisk, maxDisk, installTimeout, cdrom, isoBoot, maxResets);
use(checkInterval, locale, timezone);

assertTrue<Equals<typeof ISO_BOOT_ORDER, BootDevice[]>>();
assertTrue<Equals<typeof DEFAULT_INSTALLATION_TIMEOUT, number>>();
assertTrue<Equals<typeof INFINIVIRT_TABLE_FAMILY, NftablesFamily.BRIDGE>>();
assertTrue<Equals<typeof SUPPORTED_PROTOCOLS, readonly ['tcp', 'udp', 'icmp', 'all']>>();
assertTrue<Equals<typeof PCI_ADDRESS_REGEX, RegExp>>();

// @ts-expect-error VNC_BASE_PORT is the literal 5900
const wrongPort: 5901 = VNC_BASE_PORT;
use(wrongPort);
// @ts-expect-error SUPPORTED_PROTOCOLS is readonly
SUPPORTED_PROTOCOLS.push('tcp');
ISO_BOOT_ORDER.push('n'); // mutable in the original

// ConfigDefaults: readonly nested literal object.
const spicePortDefault: 5900 = ConfigDefaults.display.spicePort;
const vncDisplayDefault: 0 = ConfigDefaults.display.vncDisplay;
const addressDefault: '0.0.0.0' = ConfigDefaults.display.address;
const agentDefault: true = ConfigDefaults.display.enableAgent;
const bridgeDefault: 'virbr0' = ConfigDefaults.network.bridge;
const modelDefault: 'virtio-net-pci' = ConfigDefaults.network.model;
const storageFormatDefault: 'qcow2' = ConfigDefaults.storage.format;
const storageBusDefault: 'virtio' = ConfigDefaults.storage.bus;
const storageCacheDefault: 'writeback' = ConfigDefaults.storage.cache;
const storageSizeDefault: 20 = ConfigDefaults.storage.sizeGB;
const machineTypeDefault: 'q35' = ConfigDefaults.qemu.machineType;
const cpuModelDefault: 'host' = ConfigDefaults.qemu.cpuModel;
const cpuCoresDefault: 2 = ConfigDefaults.qemu.cpuCores;
const ramDefault: 4 = ConfigDefaults.qemu.ramGB;
const limits: {
  readonly minCpuCores: 1;
  readonly maxCpuCores: 64;
  readonly minRamGB: 1;
  readonly maxRamGB: 512;
  readonly minDiskSizeGB: 10;
  readonly maxDiskSizeGB: 2048;
  readonly minSpicePort: 5900;
  readonly maxSpicePort: 65535;
  readonly maxVncDisplay: 99;
} = ConfigDefaults.limits;
assertTrue<Equals<(typeof ConfigDefaults)['limits'], typeof limits>>();
use(spicePortDefault, vncDisplayDefault, addressDefault, agentDefault, bridgeDefault, modelDefault);
use(storageFormatDefault, storageBusDefault, storageCacheDefault, storageSizeDefault, machineTypeDefault);
use(cpuModelDefault, cpuCoresDefault, ramDefault);
// @ts-expect-error ConfigDefaults is readonly
ConfigDefaults.qemu.ramGB = 4;

// ---------------------------------------------------------------------------
// enums: string values, declared (not const) enums
// ---------------------------------------------------------------------------

const enumValues: string[] = [
  NetworkDeviceState.UP,
  NetworkDeviceState.DOWN,
  NetworkDeviceState.UNKNOWN,
  NetworkErrorCode.DEVICE_NOT_FOUND,
  NetworkErrorCode.DEVICE_ALREADY_EXISTS,
  NetworkErrorCode.BRIDGE_NOT_FOUND,
  NetworkErrorCode.BRIDGE_ALREADY_EXISTS,
  NetworkErrorCode.COMMAND_FAILED,
  NetworkErrorCode.INVALID_MAC_ADDRESS,
  NetworkErrorCode.PERMISSION_DENIED,
  NftablesFamily.BRIDGE,
  NftablesFamily.INET,
  NftablesFamily.IP,
  NftablesFamily.IP6,
  NftablesHookType.PREROUTING,
  NftablesHookType.INPUT,
  NftablesHookType.FORWARD,
  NftablesHookType.OUTPUT,
  NftablesHookType.POSTROUTING,
  NftablesChainPolicy.ACCEPT,
  NftablesChainPolicy.DROP,
  NftablesErrorCode.TABLE_NOT_FOUND,
  NftablesErrorCode.TABLE_EXISTS,
  NftablesErrorCode.CHAIN_NOT_FOUND,
  NftablesErrorCode.CHAIN_EXISTS,
  NftablesErrorCode.RULE_INVALID,
  NftablesErrorCode.COMMAND_FAILED,
  NftablesErrorCode.PERMISSION_DENIED,
  NftablesErrorCode.INVALID_IP_ADDRESS,
  NftablesErrorCode.INVALID_SUBNET_MASK,
  NftablesErrorCode.INVALID_PORT_RANGE,
  NftablesErrorCode.UNSUPPORTED_PROTOCOL,
  StorageErrorCode.IMAGE_NOT_FOUND,
  StorageErrorCode.IMAGE_ALREADY_EXISTS,
  StorageErrorCode.SNAPSHOT_NOT_FOUND,
  StorageErrorCode.SNAPSHOT_ALREADY_EXISTS,
  StorageErrorCode.INVALID_FORMAT,
  StorageErrorCode.INVALID_SIZE,
  StorageErrorCode.IMAGE_IN_USE,
  StorageErrorCode.PERMISSION_DENIED,
  StorageErrorCode.COMMAND_FAILED,
  StorageErrorCode.PARSE_ERROR,
  DisplayErrorCode.INVALID_PORT,
  DisplayErrorCode.INVALID_PASSWORD,
  DisplayErrorCode.INVALID_ADDRESS,
  DisplayErrorCode.INVALID_DISPLAY_NUMBER,
  DisplayErrorCode.PASSWORD_TOO_LONG,
  DisplayErrorCode.PORT_OUT_OF_RANGE,
  DisplayErrorCode.CONFLICTING_OPTIONS,
  DisplayErrorCode.INVALID_COMPRESSION_MODE,
  DisplayErrorCode.INVALID_STREAMING_MODE,
  DisplayErrorCode.INVALID_GL_CONFIG,
  DisplayErrorCode.RENDERNODE_NOT_FOUND,
  SyncErrorCode.QMP_UNAVAILABLE,
  SyncErrorCode.DB_ERROR,
  SyncErrorCode.VM_NOT_FOUND,
  SyncErrorCode.INVALID_STATUS,
  PrismaAdapterErrorCode.MACHINE_NOT_FOUND,
  PrismaAdapterErrorCode.DB_CONNECTION_ERROR,
  PrismaAdapterErrorCode.UPDATE_FAILED,
  PrismaAdapterErrorCode.QUERY_FAILED,
  PrismaAdapterErrorCode.INVALID_INPUT,
  PrismaAdapterErrorCode.CONSTRAINT_VIOLATION,
  PrismaAdapterErrorCode.VERSION_CONFLICT,
  LifecycleErrorCode.VM_NOT_FOUND,
  LifecycleErrorCode.ALREADY_RUNNING,
  LifecycleErrorCode.ALREADY_STOPPED,
  LifecycleErrorCode.CREATE_FAILED,
  LifecycleErrorCode.START_FAILED,
  LifecycleErrorCode.STOP_FAILED,
  LifecycleErrorCode.CLEANUP_FAILED,
  LifecycleErrorCode.TIMEOUT,
  LifecycleErrorCode.QMP_ERROR,
  LifecycleErrorCode.DISK_ERROR,
  LifecycleErrorCode.NETWORK_ERROR,
  LifecycleErrorCode.FIREWALL_ERROR,
  LifecycleErrorCode.INVALID_CONFIG,
  LifecycleErrorCode.PROCESS_ERROR,
  LifecycleErrorCode.DATABASE_ERROR,
  LifecycleErrorCode.INVALID_STATE,
  LifecycleErrorCode.CONCURRENT_MODIFICATION,
  LifecycleErrorCode.RESOURCE_UNAVAILABLE,
  VMOperation.CREATE,
  VMOperation.START,
  VMOperation.STOP,
  VMOperation.RESTART,
  VMOperation.SUSPEND,
  VMOperation.RESUME,
  VMOperation.RESET,
  VMOperation.DELETE,
  VMOperationStatus.PENDING,
  VMOperationStatus.IN_PROGRESS,
  VMOperationStatus.SUCCESS,
  VMOperationStatus.FAILED,
  VMOperationStatus.TIMEOUT,
  UnattendedErrorCode.INVALID_CONFIG,
  UnattendedErrorCode.ISO_GENERATION_FAILED,
  UnattendedErrorCode.MOUNT_FAILED,
  UnattendedErrorCode.INSTALLATION_TIMEOUT,
  UnattendedErrorCode.INSTALLATION_RESET_LIMIT_EXCEEDED,
  UnattendedErrorCode.INSTALLATION_FAILED,
  UnattendedErrorCode.CLEANUP_FAILED,
  UnattendedErrorCode.UNSUPPORTED_OS,
  UnattendedErrorCode.MANAGER_NOT_FOUND,
  UnattendedErrorCode.QMP_ERROR,
  UnattendedErrorCode.MONITORING_ERROR,
];
use(enumValues);

// String values of a few members, checked literally.
const upValue: 'up' = NetworkDeviceState.UP;
const ip6Value: 'ip6' = NftablesFamily.IP6;
const postroutingValue: 'postrouting' = NftablesHookType.POSTROUTING;
const dropValue: 'drop' = NftablesChainPolicy.DROP;
const inUseValue: 'IMAGE_IN_USE' = StorageErrorCode.IMAGE_IN_USE;
const networkErrValue: 'NETWORK_ERROR' = LifecycleErrorCode.NETWORK_ERROR;
use(upValue, ip6Value, postroutingValue, dropValue, inUseValue, networkErrValue);

// The enum objects exist at runtime (not `const enum`): they can be iterated.
const storageCodes: StorageErrorCode[] = Object.values(StorageErrorCode);
const displayCodeKeys: string[] = Object.keys(DisplayErrorCode);
use(storageCodes, displayCodeKeys);

// @ts-expect-error a plain string is not an enum member
const wrongCode: StorageErrorCode = 'IMAGE_NOT_FOUND';
use(wrongCode);
// @ts-expect-error no such member
use(LifecycleErrorCode.NOT_A_CODE);

// ---------------------------------------------------------------------------
// types/qemu.types
// ---------------------------------------------------------------------------

const machineTypes: MachineType[] = ['q35', 'pc'];
const diskBuses: DiskBus[] = ['virtio', 'sata', 'scsi', 'ide'];
const cacheModes: CacheMode[] = ['none', 'writeback', 'writethrough', 'directsync', 'unsafe'];
const displayTypes: DisplayType[] = ['spice', 'vnc', 'none'];
const vgaTypes: VgaType[] = ['std', 'qxl', 'virtio', 'cirrus', 'none'];
const bootDevices: BootDevice[] = ['c', 'd', 'n'];
// @ts-expect-error not a machine type
const badMachine: MachineType = 'i440fx';
use(machineTypes, diskBuses, cacheModes, displayTypes, vgaTypes, bootDevices, badMachine);

const machineOptions: MachineOptions = { accel: 'kvm', kernelIrqchip: 'split' };
const diskOptions: DiskOptions = { path: '/d.qcow2', format: 'qcow2', bus: 'virtio', cache: 'none', discard: true };
const networkOptions: NetworkOptions = { tapName: 'vnet-a', mac: '52:54:00:00:00:01', model: 'e1000', queues: 2 };
const spiceOptions: SpiceOptions = {
  port: 5900,
  addr: '127.0.0.1',
  password: 'pw',
  disableTicketing: false,
  enableAgent: true,
  passwordSecretFile: '/run/infinivirt/secrets/pw',
};
const vncOptions: VncOptions = { display: 1, addr: '127.0.0.1', password: true, passwordSecretFile: '/run/pw' };
const qmpSocketOptions: QMPSocketOptions = { path: '/run/q.sock', connectTimeout: 5000, commandTimeout: 30000 };
const processOptions: QemuProcessOptions = {
  vmId: 'vm',
  name: 'VM',
  uuid: '550e8400-e29b-41d4-a716-446655440000',
  daemonize: true,
  pidfile: '/run/vm.pid',
  qmpSocket: qmpSocketOptions,
};
const gpuOptions: GpuPassthroughOptions = { pciBus: '01:00.0', romfile: 'a.rom', multifunction: true, audioFunction: '01:00.1' };
const pciResult: PciAddressValidationResult = { valid: false, error: 'bad' };
// @ts-expect-error `format` must be qcow2 or raw
const badDisk: DiskOptions = { path: '/d', format: 'vmdk', bus: 'virtio', cache: 'none' };
// @ts-expect-error `tapName` is required
const badNet: NetworkOptions = { mac: 'm', model: 'e1000' };
use(machineOptions, diskOptions, networkOptions, spiceOptions, vncOptions, processOptions, gpuOptions, pciResult);
use(badDisk, badNet);

const pciCheck: PciAddressValidationResult = validatePciAddress('01:00.0');
const pciLong: string = normalizePciAddress('01:00.0');
use(pciCheck, pciLong);

// ---------------------------------------------------------------------------
// types/qmp.types
// ---------------------------------------------------------------------------

const qmpVersion: QMPVersion = { qemu: { micro: 0, minor: 2, major: 8 }, package: 'Debian' };
const greeting: QMPGreeting = { QMP: { version: qmpVersion, capabilities: ['oob'] } };
const qmpMessage: QMPMessage = { execute: 'eject', arguments: { device: 'ide1-cd0', force: true }, id: '2' };
const qmpError: QMPError = { class: 'GenericError', desc: 'boom' };
const qmpResponse: QMPResponse<QMPStatusInfo> = {
  return: { running: true, singlestep: false, status: 'running' },
  error: qmpError,
  id: '1',
};
const qmpResponseDefault: QMPResponse = { return: 42 };
const qmpTimestamp: QMPTimestamp = { seconds: 1, microseconds: 2 };
const shutdownData: QMPShutdownEventData = { guest: true, reason: 'guest-shutdown' };
const qmpEvent: QMPEvent<QMPShutdownEventData> = { event: 'SHUTDOWN', data: shutdownData, timestamp: qmpTimestamp };
const qmpEventDefault: QMPEvent = { event: 'RESET', timestamp: qmpTimestamp };
const eventTypes: QMPEventType[] = [
  'SHUTDOWN',
  'POWERDOWN',
  'RESET',
  'STOP',
  'RESUME',
  'SUSPEND',
  'WAKEUP',
  'DEVICE_DELETED',
  'BLOCK_JOB_COMPLETED',
];
const deviceDeleted: QMPDeviceDeletedEventData = { device: 'net0', path: '/machine/peripheral/net0' };
const blockJob: QMPBlockJobCompletedEventData = { type: 'mirror', device: 'd0', len: 1, offset: 1, speed: 0, error: 'e' };
const vmStatuses: QMPVMStatus[] = [
  'running',
  'paused',
  'shutdown',
  'inmigrate',
  'postmigrate',
  'prelaunch',
  'finish-migrate',
  'restore-vm',
  'suspended',
  'watchdog',
  'guest-panicked',
  'io-error',
  'colo',
];
const statusInfo: QMPStatusInfo = { running: false, singlestep: false, status: 'paused' };
const cpuInfo: QMPCpuInfo = {
  'cpu-index': 0,
  'qom-path': '/machine/unattached/device[0]',
  'thread-id': 1234,
  props: { 'core-id': 0, 'thread-id': 0, 'socket-id': 0, 'node-id': 0 },
  target: 'x86_64',
};
const imageInfoQmp: QMPBlockImageInfo = {
  filename: '/d.qcow2',
  format: 'qcow2',
  'virtual-size': 1,
  'actual-size': 1,
  'dirty-flag': false,
  'cluster-size': 65536,
  encrypted: false,
  compressed: false,
  'backing-filename': 'b',
  'full-backing-filename': '/b',
  'backing-filename-format': 'qcow2',
  'backing-image': { filename: '/b', format: 'qcow2', 'virtual-size': 1 },
};
const inserted: QMPBlockInsertedInfo = {
  file: '/d.qcow2',
  node_name: '#block1',
  ro: false,
  drv: 'qcow2',
  encrypted: false,
  bps: 0,
  bps_rd: 0,
  bps_wr: 0,
  iops: 0,
  iops_rd: 0,
  iops_wr: 0,
  image: imageInfoQmp,
  detect_zeroes: 'off',
  write_threshold: 0,
};
const blockInfo: QMPBlockInfo = {
  device: 'ide1-cd0',
  qdev: '/machine/unattached/device[23]',
  type: 'unknown',
  removable: true,
  locked: false,
  tray_open: false,
  io_status: 'ok',
  inserted,
};
const vncClient: QMPVncClientInfo = {
  host: '127.0.0.1',
  service: '5900',
  family: 'ipv4',
  websocket: false,
  x509_dname: 'cn',
  sasl_username: 'u',
};
const vncInfo: QMPVncInfo = {
  enabled: true,
  host: '0.0.0.0',
  family: 'ipv4',
  service: '5900',
  auth: 'vnc',
  clients: [vncClient],
};
const spiceChannel: QMPSpiceChannel = {
  host: '127.0.0.1',
  family: 'ipv6',
  port: '5900',
  'connection-id': 1,
  'channel-type': 1,
  'channel-id': 0,
  tls: false,
};
const spiceInfo: QMPSpiceInfo = {
  enabled: true,
  migrated: false,
  host: '0.0.0.0',
  port: 5900,
  'tls-port': 5901,
  auth: 'spice',
  'compiled-version': '0.15.0',
  'mouse-mode': 'client',
  channels: [spiceChannel],
};
const memorySize: QMPMemorySizeInfo = { 'base-memory': 1, 'plugged-memory': 0 };
const balloonInfo: QMPBalloonInfo = { actual: 1024 };
const clientOptions: QMPClientOptions = {
  connectTimeout: 5000,
  commandTimeout: 30000,
  reconnect: true,
  reconnectDelay: 1000,
  maxReconnectAttempts: 3,
};
// @ts-expect-error not a shutdown reason
const badReason: QMPShutdownEventData = { guest: true, reason: 'power-button' };
use(greeting, qmpMessage, qmpResponse, qmpResponseDefault, qmpEvent, qmpEventDefault, eventTypes, deviceDeleted);
use(blockJob, vmStatuses, statusInfo, cpuInfo, blockInfo, vncInfo, spiceInfo, memorySize, balloonInfo, clientOptions);
use(badReason);

// ---------------------------------------------------------------------------
// types/network.types
// ---------------------------------------------------------------------------

const tapConfig: TapDeviceConfig = { name: 'vnet-a', vmId: 'vm', bridge: 'br0', mac: '52:54:00:00:00:01' };
const tapInfo: TapDeviceInfo = { name: 'vnet-a', exists: true, bridge: 'br0', state: NetworkDeviceState.UP };
const bridgeConfig: BridgeConfig = { name: 'br0', interfaces: ['vnet-a'] };
const bridgeInfo: BridgeInfo = { name: 'br0', exists: true, state: NetworkDeviceState.DOWN, interfaces: [] };
const netError: NetworkDeviceError = {
  code: NetworkErrorCode.DEVICE_NOT_FOUND,
  message: 'm',
  device: 'vnet-a',
  command: 'ip',
};
const macAddress: MacAddress = '52:54:00:12:34:56';
use(tapConfig, tapInfo, bridgeConfig, bridgeInfo, netError, macAddress);

// ---------------------------------------------------------------------------
// types/firewall.types
// ---------------------------------------------------------------------------

const tableConfig: NftablesTableConfig = { name: 'infinivirt', family: NftablesFamily.BRIDGE };
const chainConfig: NftablesChainConfig = {
  name: 'forward',
  table: 'infinivirt',
  family: NftablesFamily.BRIDGE,
  hook: NftablesHookType.FORWARD,
  priority: 0,
  policy: NftablesChainPolicy.ACCEPT,
};
const ruleConfig: NftablesRuleConfig = { chain: 'vm_x', table: 'infinivirt', family: NftablesFamily.INET, expression: 'accept' };
const tokens: NftablesRuleTokens = ['oifname', 'vnet-a', 'accept'];
const translation: FirewallRuleTranslation = { expression: 'accept', priority: 1, ruleName: 'r', success: false, error: 'e' };
const connectionState: ConnectionStateConfig = { established: true, new: true, related: false, invalid: false };
const ruleInput: FirewallRuleInput = {
  id: 'r1',
  name: 'Allow SSH',
  description: null,
  action: 'ACCEPT',
  direction: 'IN',
  priority: 100,
  protocol: 'tcp',
  srcPortStart: null,
  srcPortEnd: null,
  dstPortStart: 22,
  dstPortEnd: 22,
  srcIpAddr: '10.0.0.0',
  srcIpMask: '255.255.255.0',
  dstIpAddr: null,
  dstIpMask: null,
  connectionState,
  overridesDept: false,
};
const minimalRule: FirewallRuleInput = { id: 'r2', name: 'n', action: 'DROP', direction: 'INOUT', priority: 1, protocol: 'all' };
// @ts-expect-error not a direction
const badRule: FirewallRuleInput = { id: 'r', name: 'n', action: 'DROP', direction: 'BOTH', priority: 1, protocol: 'all' };
const vmFirewall: VMFirewallConfig = { vmId: 'vm', tapDeviceName: 'vnet-a', departmentRules: [ruleInput], vmRules: [minimalRule] };
declare const nftError: NftablesError;
const nftCode: NftablesErrorCode = nftError.code;
const nftMessage: string = nftError.message;
const nftContext: { command?: string; args?: string[]; stderr?: string; exitCode?: number } | undefined = nftError.context;
const nftAsError: Error = nftError;
const chainList: ChainListResult = { chains: ['vm_a'], tableExists: true };
const applyResult: FirewallApplyResult = {
  totalRules: 2,
  appliedRules: 1,
  failedRules: 1,
  chainName: 'vm_a',
  failures: [{ ruleName: 'r', error: 'e' }],
};
const chainName: string = generateVMChainName('550e8400-e29b');
use(tableConfig, chainConfig, ruleConfig, tokens, translation, vmFirewall, nftCode, nftMessage, nftContext, nftAsError);
use(chainList, applyResult, chainName, badRule);

// ---------------------------------------------------------------------------
// types/storage.types
// ---------------------------------------------------------------------------

const formats: ImageFormat[] = ['qcow2', 'raw', 'vmdk', 'vdi', 'vhdx'];
const snapshotInfo: SnapshotInfo = { id: '1', name: 's', vmSize: 0, date: '', vmClock: '00:00:00.000' };
const imageInfo: ImageInfo = {
  filename: '/d.qcow2',
  format: 'qcow2',
  virtualSize: 1,
  actualSize: 1,
  clusterSize: 65536,
  encrypted: false,
  snapshots: [snapshotInfo],
  backingFile: '/b.qcow2',
};
const checkResult: ImageCheckResult = { errors: 0, leaks: 0, corruptions: 0, totalClusters: 1, allocatedClusters: 1 };
const createImageOptions: CreateImageOptions = {
  path: '/d.qcow2',
  sizeGB: 20,
  format: 'qcow2',
  clusterSize: 65536,
  preallocation: 'metadata',
};
const convertImageOptions: ConvertImageOptions = { sourcePath: '/a', destPath: '/b', destFormat: 'raw', compress: false };
const snapshotCreateOptions: SnapshotCreateOptions = { imagePath: '/d.qcow2', name: 'snap', description: 'before update' };
const storageErrorInfo: StorageErrorInfo = {
  code: StorageErrorCode.COMMAND_FAILED,
  message: 'm',
  path: '/d',
  command: 'qemu-img info',
};
// @ts-expect-error not a preallocation mode
const badPrealloc: CreateImageOptions = { path: '/d', sizeGB: 1, format: 'qcow2', preallocation: 'sparse' };
const maybeFormat: string = 'qcow2';
if (isValidImageFormat(maybeFormat)) {
  const narrowed: ImageFormat = maybeFormat;
  use(narrowed);
}
use(formats, imageInfo, checkResult, createImageOptions, convertImageOptions, snapshotCreateOptions, storageErrorInfo);
use(badPrealloc);

// ---------------------------------------------------------------------------
// error classes
// ---------------------------------------------------------------------------

const storageError = new StorageError(StorageErrorCode.IMAGE_IN_USE, 'm', '/p', 'qemu-img resize');
const storageErrorShort = new StorageError(StorageErrorCode.IMAGE_NOT_FOUND, 'm');
const storageAsError: Error = storageError;
const storageCode: StorageErrorCode = storageError.code;
const storagePath: string | undefined = storageError.path;
const storageCommand: string | undefined = storageError.command;
const storageInfo: StorageErrorInfo = storageError.toInfo();
// @ts-expect-error fields are readonly
storageError.code = StorageErrorCode.PARSE_ERROR;
// @ts-expect-error code comes first
const storageWrongOrder = new StorageError('m', StorageErrorCode.IMAGE_IN_USE);
use(storageErrorShort, storageAsError, storageCode, storagePath, storageCommand, storageInfo, storageWrongOrder);

const displayError = new DisplayError(DisplayErrorCode.INVALID_PORT, 'm', { port: 1 });
const displayCode: DisplayErrorCode = displayError.code;
const displayContext: Record<string, unknown> | undefined = displayError.context;
const displayAsError: Error = displayError;
use(new DisplayError(DisplayErrorCode.INVALID_ADDRESS, 'm'), displayCode, displayContext, displayAsError);

const prismaError = new PrismaAdapterError('msg', PrismaAdapterErrorCode.VERSION_CONFLICT, 'vm', { d: 1 });
const prismaCode: PrismaAdapterErrorCode = prismaError.code;
const prismaVmId: string | undefined = prismaError.vmId;
const prismaDetails: unknown = prismaError.details;
// @ts-expect-error message comes first
const prismaWrongOrder = new PrismaAdapterError(PrismaAdapterErrorCode.VERSION_CONFLICT, 'msg');
use(new PrismaAdapterError('m', PrismaAdapterErrorCode.QUERY_FAILED), prismaCode, prismaVmId, prismaDetails, prismaWrongOrder);

const lifecycleError = new LifecycleError(LifecycleErrorCode.INVALID_CONFIG, 'm', 'vm', { errors: [] });
const lifecycleCode: LifecycleErrorCode = lifecycleError.code;
const lifecycleVmId: string | undefined = lifecycleError.vmId;
const lifecycleContext: Record<string, unknown> | undefined = lifecycleError.context;
const createdLifecycle: LifecycleError = createLifecycleError(LifecycleErrorCode.TIMEOUT, 'm', 'vm', { a: 1 });
const createdLifecycleShort: LifecycleError = createLifecycleError(LifecycleErrorCode.TIMEOUT, 'm');
use(new LifecycleError(LifecycleErrorCode.TIMEOUT, 'm'), lifecycleCode, lifecycleVmId, lifecycleContext);
use(createdLifecycle, createdLifecycleShort);

const unattendedError = new UnattendedError(UnattendedErrorCode.MOUNT_FAILED, 'm', new Error('cause'), 'vm', { a: 1 });
const unattendedCode: UnattendedErrorCode = unattendedError.code;
const unattendedCause: Error | undefined = unattendedError.cause;
const unattendedVmId: string | undefined = unattendedError.vmId;
const unattendedContext: Record<string, unknown> | undefined = unattendedError.context;
const createdUnattended: UnattendedError = createUnattendedError(UnattendedErrorCode.QMP_ERROR, 'm', undefined, 'vm');
use(new UnattendedError(UnattendedErrorCode.QMP_ERROR, 'm'), unattendedCode, unattendedCause, unattendedVmId);
use(unattendedContext, createdUnattended);

// Type guards narrow `unknown`.
declare const caught: unknown;
if (isPrismaAdapterError(caught)) {
  const c: PrismaAdapterErrorCode = caught.code;
  use(c);
}
if (isLifecycleError(caught)) {
  const c: LifecycleErrorCode = caught.code;
  use(c);
}
if (isUnattendedError(caught)) {
  const c: UnattendedErrorCode = caught.code;
  use(c);
}
if (caught instanceof StorageError) {
  const c: StorageErrorCode = caught.code;
  use(c);
}
if (caught instanceof DisplayError) {
  const c: DisplayErrorCode = caught.code;
  use(c);
}

// ---------------------------------------------------------------------------
// types/display.types and display classes
// ---------------------------------------------------------------------------

const imageCompressions: SpiceImageCompression[] = ['auto_glz', 'auto_lz', 'quic', 'glz', 'lz', 'off'];
const wanCompressions: SpiceWanCompression[] = ['auto', 'never', 'always'];
const streamingModes: SpiceStreamingMode[] = ['off', 'all', 'filter'];
const playbackModes: SpicePlaybackCompression[] = ['on', 'off'];
const spiceConfigOptions: SpiceConfigOptions = {
  port: 5901,
  addr: '127.0.0.1',
  password: 'pw',
  disableTicketing: false,
  enableAgent: true,
  imageCompression: 'auto_glz',
  jpegWanCompression: 'auto',
  zlibGlzWanCompression: 'never',
  streamingVideo: 'filter',
  playbackCompression: 'on',
  gl: false,
  rendernode: '/dev/dri/renderD128',
  disableCopyPaste: false,
  disableAgentFileXfer: false,
  seamlessMigration: false,
  passwordSecretFile: '/var/run/infinivirt/secrets/vm',
};
const vncConfigOptions: VncConfigOptions = { display: 1, addr: '127.0.0.1', password: true, passwordSecretFile: '/run/pw' };
// @ts-expect-error not a streaming mode
const badSpice: SpiceConfigOptions = { port: 5900, streamingVideo: 'auto' };
// @ts-expect-error `display` is required
const badVnc: VncConfigOptions = { addr: '0.0.0.0' };
const validationError: ValidationError = { code: DisplayErrorCode.INVALID_ADDRESS, message: 'm' };
const displayValidation: DisplayValidationResult = { valid: false, errors: ['m'], validationErrors: [validationError] };
const displayArgs: DisplayCommandArgs = { args: ['-vnc', '0.0.0.0:1'], vgaType: 'std' };
use(imageCompressions, wanCompressions, streamingModes, playbackModes, badSpice, badVnc, displayValidation, displayArgs);

const spiceConfig = new SpiceConfig(spiceConfigOptions);
const spiceValidation: DisplayValidationResult = spiceConfig.validate();
const spiceArgs: DisplayCommandArgs = spiceConfig.generateArgs();
const spicePort: number = spiceConfig.getPort();
const spiceAddrValue: string = spiceConfig.getAddr();
const spiceHasPassword: boolean = spiceConfig.hasPassword();
const spiceAgent: boolean = spiceConfig.isAgentEnabled();
use(spiceValidation, spiceArgs, spicePort, spiceAddrValue, spiceHasPassword, spiceAgent);

const vncConfig = new VncConfig(vncConfigOptions);
const vncValidation: DisplayValidationResult = vncConfig.validate();
const vncArgs: DisplayCommandArgs = vncConfig.generateArgs();
const vncDisplay: number = vncConfig.getDisplay();
const vncPort: number = vncConfig.getPort();
const vncAddrValue: string = vncConfig.getAddr();
const vncHasPassword: boolean = vncConfig.hasPassword();
const displayToPort: number = VncConfig.displayToPort(1);
const portToDisplay: number = VncConfig.portToDisplay(5901);
const maxPasswordLength: number = VncConfig.getMaxPasswordLength();
use(vncValidation, vncArgs, vncDisplay, vncPort, vncAddrValue, vncHasPassword, displayToPort, portToDisplay);
use(maxPasswordLength);

// ---------------------------------------------------------------------------
// cpu/CpuPinningAdapter
// ---------------------------------------------------------------------------

const strategies: PinningStrategy[] = ['basic', 'hybrid', 'none'];
const topology: NumaTopology = { nodes: new Map([[0, [0, 1, 2, 3]]]), totalCpus: 4, isNumaSystem: false };
const pinningResult: CpuPinningResult = {
  wrapperCommand: 'numactl',
  wrapperArgs: ['--physcpubind=0,1', '--membind=0'],
  originalCommand: 'qemu-system-x86_64',
  originalArgs: ['-enable-kvm'],
  pinningApplied: true,
  pinnedCores: [0, 1],
  numaNodes: [0],
  hybridSeed: 12345,
};
const noPinning: CpuPinningResult = {
  wrapperCommand: null,
  wrapperArgs: [],
  originalCommand: 'qemu-system-x86_64',
  originalArgs: [],
  pinningApplied: false,
  pinnedCores: [],
  numaNodes: [],
};
const pinningOptions: CpuPinningOptions = { seed: 12345 };
use(strategies, topology, pinningResult, noPinning);

async function exerciseCpuPinning(): Promise<void> {
  const adapter = new CpuPinningAdapter();
  const result: CpuPinningResult = await adapter.generatePinningCommand(4, 'hybrid', 'qemu', ['-m', '4G'], pinningOptions);
  const resultNoOptions: CpuPinningResult = await adapter.generatePinningCommand(4, 'basic', 'qemu', []);
  const args: string[] = adapter.generateNumactlArgs([0, 1, 2, 3], [0]);
  const topo: NumaTopology = await adapter.getNumaTopology();
  const available: boolean = await adapter.isNumactlAvailable();
  const validated: void = await adapter.validateCores([0, 1]);
  adapter.clearCache();
  // @ts-expect-error not a strategy
  await adapter.generatePinningCommand(4, 'random', 'qemu', []);
  use(result, resultNoOptions, args, topo, available, validated);
}

// ---------------------------------------------------------------------------
// core/QemuCommandBuilder
// ---------------------------------------------------------------------------

async function exerciseBuilder(): Promise<void> {
  const b = new QemuCommandBuilder();
  const same: QemuCommandBuilder = b
    .setBinary('qemu-system-x86_64')
    .setStrictDisplaySecurity(true)
    .enableKvm()
    .setMachine('q35', machineOptions)
    .setMachine('pc')
    .setCpu('host', 4, 2, 1)
    .setCpu('host')
    .setMemory(4)
    .addDisks([diskOptions])
    .addDisk(diskOptions)
    .addNetwork(networkOptions)
    .addSpice(spiceOptions)
    .addSpice(spiceConfig, 32)
    .addVnc(vncOptions)
    .addVnc(vncConfig)
    .addQmp('/run/q.sock')
    .addCdrom('/iso/a.iso')
    .addGpuPassthrough('01:00.0', '/var/lib/infinivirt/roms/a.rom')
    .addGpuPassthrough('01:00.0')
    .addGpuWithAudio('01:00.0', '01:00.1', '/var/lib/infinivirt/roms/a.rom')
    .addGpuWithAudio('01:00.0', '01:00.1')
    .addPciPassthrough('02:00.0', '/var/lib/infinivirt/roms/b.rom')
    .addPciPassthrough('02:00.0')
    .addMemoryBalloon()
    .enableHugepages()
    .setFirmware('/usr/share/OVMF/OVMF_CODE.fd')
    .setUefiVars('/var/lib/infinivirt/disks/uefi-vars-vm.fd')
    .setBootOrder(['d', 'c'])
    .addTPM('/run/tpm.sock')
    .addVirtioChannel('org.example.0', '/run/c.sock', 'chx0')
    .addGuestAgentChannel('/run/ga.sock')
    .addInfiniServiceChannel('/run/infini.sock')
    .addSecondCdrom('/iso/virtio.iso')
    .addAudioDevice()
    .addUsbTablet()
    .addUsbKeyboard()
    .setProcessOptions(processOptions)
    .addRawArg('-nodefaults')
    .enableCpuPinning('basic', 4);
  const binary: string = b.getBinary();
  const daemonize: boolean = b.isDaemonizeEnabled();
  const pidfile: string | null = b.getPidfilePath();
  const strict: boolean = b.isStrictDisplaySecurity();
  const pinning: boolean = b.isCpuPinningEnabled();
  const strategy: PinningStrategy = b.getCpuPinningStrategy();
  const command: QemuCommand = b.buildCommand();
  const withPinning: QemuCommandWithPinning = await b.buildCommandWithPinning();
  const argv: string[] = b.build();
  const wrapper: string | null = withPinning.wrapperCommand;
  const fullPinning: QemuCommandWithPinning = {
    command: 'qemu-system-x86_64',
    args: [],
    wrapperCommand: null,
    wrapperArgs: [],
    pinningApplied: false,
    pinnedCores: [],
    numaNodes: [],
  };
  const plainCommand: QemuCommand = fullPinning;
  // @ts-expect-error strict display security takes a boolean
  b.setStrictDisplaySecurity('yes');
  // @ts-expect-error not a boot device
  b.setBootOrder(['x']);
  // @ts-expect-error addDisk takes one DiskOptions
  b.addDisk([diskOptions]);
  use(same, binary, daemonize, pidfile, strict, pinning, strategy, command, argv, wrapper, plainCommand);

  // Subclasses keep the fluent `this` type.
  class MyBuilder extends QemuCommandBuilder {
    mine(): string {
      return 'mine';
    }
  }
  const mine: string = new MyBuilder().enableKvm().setMemory(1).mine();
  use(mine);
}

// ---------------------------------------------------------------------------
// core/QemuProcess
// ---------------------------------------------------------------------------

async function exerciseProcess(): Promise<void> {
  const p = new QemuProcess('vm', new QemuCommandBuilder());
  p.setQmpSocketPath('/run/q.sock');
  p.setPidFilePath('/run/vm.pid');
  const started: void = await p.start();
  const stopped: void = await p.stop();
  const stoppedTimeout: void = await p.stop(1000);
  const killed: void = await p.forceKill();
  const alive: boolean = p.isAlive();
  const pid: number | null = p.getPid();
  const applied: boolean = p.isCpuPinningApplied();
  const cores: number[] = p.getPinnedCores();
  const nodes: number[] = p.getNumaNodes();
  use(started, stopped, stoppedTimeout, killed, alive, pid, applied, cores, nodes);
}

// ---------------------------------------------------------------------------
// core/QMPClient
// ---------------------------------------------------------------------------

async function exerciseQmp(): Promise<void> {
  const client = new QMPClient('/run/q.sock', clientOptions);
  const defaultClient = new QMPClient('/run/q.sock');
  const emitter: EventEmitter = client;
  client.on('SHUTDOWN', (data: unknown, timestamp: QMPTimestamp) => use(data, timestamp));
  client.on('event', (event: QMPEvent) => use(event));
  client.once('disconnect', () => undefined);
  client.off('event', () => undefined);
  client.removeAllListeners();
  await client.connect();
  const connected: boolean = client.isConnected();
  const greet: QMPGreeting | null = client.getGreeting();
  const raw: unknown = await client.execute('query-name');
  const typed: QMPVncInfo = await client.execute<QMPVncInfo>('query-vnc');
  const spice: QMPSpiceInfo = await client.execute<QMPSpiceInfo>('query-spice', {});
  const memory: QMPMemorySizeInfo = await client.execute<QMPMemorySizeInfo>('query-memory-size-summary');
  const status: QMPStatusInfo = await client.queryStatus();
  const p1: void = await client.powerdown();
  const p2: void = await client.reset();
  const p3: void = await client.stop();
  const p4: void = await client.cont();
  const p5: void = await client.quit();
  const p6: void = await client.quit({ ignoreErrors: true });
  const p7: void = await client.eject('ide1-cd0');
  const p8: void = await client.eject('ide1-cd0', true);
  const cpus: QMPCpuInfo[] = await client.queryCpus();
  const blocks: QMPBlockInfo[] = await client.queryBlock();
  const p9: void = await client.balloon(1024 * 1024 * 1024);
  const balloon: QMPBalloonInfo = await client.queryBalloon();
  const actual: number = balloon.actual;
  await client.disconnect();
  // @ts-expect-error execute arguments are an object
  await client.execute('eject', ['ide1-cd0']);
  use(defaultClient, emitter, connected, greet, raw, typed, spice, memory, status, p1, p2, p3, p4, p5, p6, p7, p8);
  use(cpus, blocks, p9, actual);
}

// ---------------------------------------------------------------------------
// network classes
// ---------------------------------------------------------------------------

async function exerciseNetwork(): Promise<void> {
  const tap = new TapDeviceManager();
  const tapName: string = await tap.create('vm', 'br0');
  const tapName2: string = await tap.create('vm');
  const v1: void = await tap.configure(tapName, 'br0');
  const v2: void = await tap.configure(tapName);
  const v3: void = await tap.destroy(tapName);
  const v4: void = await tap.bringDown(tapName);
  const v5: void = await tap.detachFromBridge(tapName);
  const v6: void = await tap.attachToBridge(tapName, 'br0');
  const exists: boolean = await tap.exists(tapName);
  const carrier: boolean = await tap.hasCarrier(tapName);
  const all: string[] = await tap.listAllTapDevices();
  const orphaned: boolean = await tap.isOrphaned(tapName);
  const sweep = await tap.cleanupOrphanedTapDevices();
  assertTrue<Equals<typeof sweep, { total: number; cleaned: number; failed: number }>>();
  const state: string = await tap.getDeviceState('br0');
  use(tapName2, v1, v2, v3, v4, v5, v6, exists, carrier, all, orphaned, sweep, state);

  const bridges = new BridgeManager();
  const bExists: boolean = await bridges.exists('br0');
  const b1: void = await bridges.create('br0');
  const b2: void = await bridges.destroy('br0');
  const b3: void = await bridges.addInterface('br0', 'vnet-a');
  const b4: void = await bridges.removeInterface('br0', 'vnet-a');
  const ifaces: string[] = await bridges.listInterfaces('br0');
  const b5: void = await bridges.assignIP('br0', '10.0.0.1/24');
  const b6: void = await bridges.removeIP('br0', '10.0.0.1/24');
  const ips: string[] = await bridges.getIPs('br0');
  use(bExists, b1, b2, b3, b4, ifaces, b5, b6, ips);

  const mac1: MacAddress = MacAddressGenerator.generate();
  const mac2: MacAddress = MacAddressGenerator.generateFromVmId('vm');
  const validMac: boolean = MacAddressGenerator.validate(mac1);
  const qemuMac: boolean = MacAddressGenerator.isQemuMac(mac2);
  use(mac1, mac2, validMac, qemuMac);

  const nftConfig: NftablesServiceConfig = { enablePersistence: false };
  const nft = new NftablesService(nftConfig);
  const nftDefault = new NftablesService();
  const n1: void = await nft.initialize();
  const chain: string = await nft.createVMChain('vm', tapName);
  const applied: FirewallApplyResult = await nft.applyRules('vm', tapName, [ruleInput], []);
  const n2: void = await nft.removeVMChain('vm');
  const n3: void = await nft.flushVMRules('vm');
  const chains: string[] = await nft.listChains();
  const chainExists: boolean = await nft.chainExists(chain);
  const ensured: string = await nft.ensureVMChain('vm');
  const n4: void = await nft.attachJumpRules('vm', tapName);
  const n5: void = await nft.detachJumpRules('vm');
  const changed: { changed: boolean; result?: FirewallApplyResult } = await nft.applyRulesIfChanged('vm', tapName, [], [minimalRule]);
  nft.clearRulesCache('vm');
  const persisted: { success: boolean; error?: string } = await nft.forcePersist();
  use(nftDefault, n1, applied, n2, n3, chains, chainExists, ensured, n4, n5, changed, persisted);

  // NftablesPersistence: reachable through getPersistence(), with no runtime export.
  const persistence: NftablesPersistence = nft.getPersistence();
  const exported: PersistenceResult = await persistence.exportToDisk();
  const restored: RestoreResult = await persistence.restoreFromDisk();
  const hasFile: boolean = await persistence.hasPersistenceFile();
  const removed: boolean = await persistence.removePersistenceFile();
  const rolledBack: RestoreResult = await persistence.rollbackToBackup();
  const persistenceStatus: {
    persistenceDir: string;
    mainFileExists: boolean;
    backupFileExists: boolean;
    mainFileModified?: Date;
    tableExists: boolean;
  } = await persistence.getStatus();
  const persistenceConfig: PersistenceConfig = {
    persistenceDir: '/etc/infinivirt/nftables',
    createBackup: true,
    useLocking: true,
  };
  const persistenceResult: PersistenceResult = { success: true, filePath: '/f', timestamp: new Date(), error: 'e' };
  const restoreResult: RestoreResult = { success: true, rulesLoaded: false, timestamp: new Date(), error: 'e' };
  use(exported, restored, hasFile, removed, rolledBack, persistenceStatus, persistenceConfig, persistenceResult);
  use(restoreResult);

  const ruleTokens: NftablesRuleTokens = FirewallRuleTranslator.translateToTokens(ruleInput, tapName);
  const dirTokens: NftablesRuleTokens = FirewallRuleTranslator.translateDirectionToTokens('OUT', tapName);
  const protoTokens: NftablesRuleTokens = FirewallRuleTranslator.translateProtocolToTokens('icmp');
  const portTokens: NftablesRuleTokens = FirewallRuleTranslator.translatePortsToTokens('tcp', 1, 2, 3, 4);
  const portTokensNone: NftablesRuleTokens = FirewallRuleTranslator.translatePortsToTokens('udp');
  const ipTokens: NftablesRuleTokens = FirewallRuleTranslator.translateIpAddressesToTokens('10.0.0.1', '24', '10.0.0.2', '255.0.0.0');
  const ipTokensNone: NftablesRuleTokens = FirewallRuleTranslator.translateIpAddressesToTokens();
  const ctTokens: NftablesRuleTokens = FirewallRuleTranslator.translateConnectionStateToTokens(connectionState);
  const ctTokensNone: NftablesRuleTokens = FirewallRuleTranslator.translateConnectionStateToTokens();
  const verdict: string = FirewallRuleTranslator.translateAction('REJECT');
  const validated: void = FirewallRuleTranslator.validateRule(ruleInput);
  const ipOk: boolean = FirewallRuleTranslator.isValidIpAddress('10.0.0.1');
  const cidrOk: boolean = FirewallRuleTranslator.isValidCidr('10.0.0.0/8');
  const maskOk: boolean = FirewallRuleTranslator.isValidSubnetMask('255.255.255.0');
  // @ts-expect-error INOUT must be expanded by the caller
  FirewallRuleTranslator.translateDirectionToTokens('INOUT', tapName);
  use(ruleTokens, dirTokens, protoTokens, portTokens, portTokensNone, ipTokens, ipTokensNone, ctTokens, ctTokensNone);
  use(verdict, validated, ipOk, cidrOk, maskOk);

  const nat = new DepartmentNatService();
  const d1: void = await nat.initialize();
  const d2: void = await nat.addMasquerade('10.10.0.0/24', 'br1');
  const d3: void = await nat.removeMasquerade('br1');
  const hasNat: boolean = await nat.hasMasquerade('br1');
  const natBridges: string[] = await nat.listMasqueradeRules();
  use(d1, d2, d3, hasNat, natBridges);
}

// ---------------------------------------------------------------------------
// storage classes
// ---------------------------------------------------------------------------

async function exerciseStorage(): Promise<void> {
  const img = new QemuImgService();
  const s1: void = await img.createImage(createImageOptions);
  const info: ImageInfo = await img.getImageInfo('/d.qcow2');
  const s2: void = await img.resizeImage('/d.qcow2', 40);
  const s3: void = await img.convertImage(convertImageOptions);
  const check: ImageCheckResult = await img.checkImage('/d.qcow2');
  // @ts-expect-error createImage needs a size
  await img.createImage({ path: '/d', format: 'qcow2' });
  use(s1, info, s2, s3, check);

  const snaps = new SnapshotManager();
  const s4: void = await snaps.createSnapshot(snapshotCreateOptions);
  const list: SnapshotInfo[] = await snaps.listSnapshots('/d.qcow2');
  const s5: void = await snaps.revertSnapshot('/d.qcow2', 'snap');
  const s6: void = await snaps.deleteSnapshot('/d.qcow2', 'snap');
  const snapExists: boolean = await snaps.snapshotExists('/d.qcow2', 'snap');
  use(s4, list, s5, s6, snapExists);

  // Live snapshots: 3 arguments resolve void; with options, what was quiesced.
  const qmpForSnap = new QMPClient('/run/q.sock');
  const live: void = await snaps.createLiveSnapshot(qmpForSnap, 'drive0', 'live');
  const agentForSnap = new api.GuestAgentClient('/run/ga.sock');
  const quiesceByObject: api.GuestQuiesce = agentForSnap;
  const liveOptions: api.LiveSnapshotOptions = { quiesce: '/run/ga.sock', freezeTimeoutMs: 5000, quiesceRequired: true };
  const quiesced: api.LiveSnapshotResult = await snaps.createLiveSnapshot(qmpForSnap, 'drive0', 'live2', liveOptions);
  const byObject: api.LiveSnapshotResult = await snaps.createLiveSnapshot(qmpForSnap, 'drive0', 'live3', { quiesce: quiesceByObject });
  const frozenCount: number | undefined = quiesced.frozenFilesystems;
  // @ts-expect-error quiesce is a socket path or a GuestQuiesce object
  await snaps.createLiveSnapshot(qmpForSnap, 'drive0', 'live4', { quiesce: 42 });
  use(live, quiesced, byObject, frozenCount, quiesced.quiesced);
}

// ---------------------------------------------------------------------------
// types/sync.types and sync classes
// ---------------------------------------------------------------------------

const machineRecord: MachineRecord = { id: 'vm', status: 'running' };
const machineConfigRecord: MachineConfigurationRecord = {
  qemuPid: 1234,
  tapDeviceName: 'vnet-a',
  qmpSocketPath: '/run/q.sock',
  guestAgentSocketPath: null,
  infiniServiceSocketPath: null,
};
const runningVm: RunningVMRecord = { id: 'vm', status: 'running', MachineConfiguration: machineConfigRecord };
const runningVmNoConfig: RunningVMRecord = { id: 'vm2', status: 'running', MachineConfiguration: null };
const dbStatuses: DBVMStatus[] = [
  'building',
  'running',
  'off',
  'suspended',
  'paused',
  'updating_hardware',
  'powering_off_update',
  'error',
];
// @ts-expect-error not a DB status
const badDbStatus: DBVMStatus = 'stopped';
const statusMapping: StatusMapping = { qmpStatus: 'paused', dbStatus: 'suspended', timestamp: new Date() };
const syncResult: SyncResult = {
  success: false,
  vmId: 'vm',
  previousStatus: 'running',
  newStatus: 'running',
  timestamp: new Date(),
  error: SyncErrorCode.QMP_UNAVAILABLE,
};
const syncError: SyncError = { code: SyncErrorCode.DB_ERROR, message: 'm', vmId: 'vm', timestamp: new Date() };
const healthConfig: HealthMonitorConfig = {
  checkIntervalMs: 30000,
  enableCleanup: true,
  pidfileDir: '/var/run/infinivirt/pids',
  onCrashDetected: async (vmId: string): Promise<void> => use(vmId),
  onCleanupAlert: async (alert: CleanupAlertEvent): Promise<void> => {
    const severity: 'warning' | 'error' = alert.severity;
    const failed: CleanupResourceState[] = alert.failedResources;
    const vmId: string = alert.vmId;
    const at: Date = alert.timestamp;
    use(severity, failed, vmId, at);
  },
};
const healthResult: HealthCheckResult = { vmId: 'vm', pid: null, isAlive: true, status: 'running', timestamp: new Date() };
const healthSummary: HealthCheckSummary = {
  totalChecked: 1,
  alive: 1,
  crashed: 0,
  errors: 0,
  timestamp: new Date(),
  results: [healthResult],
};
const eventHandlerConfig: EventHandlerConfig = { enableLogging: true, emitCustomEvents: false };
const vmEventData: VMEventData = {
  vmId: 'vm',
  event: 'SHUTDOWN',
  previousStatus: 'running',
  newStatus: 'off',
  timestamp: new Date(),
  qmpData: shutdownData,
};
use(runningVm, runningVmNoConfig, dbStatuses, badDbStatus, statusMapping, syncResult, syncError, healthSummary);
use(eventHandlerConfig, vmEventData);

// Cleanup types: the enums have no runtime value, so values are only read.
declare const cleanupState: CleanupResourceState;
const cleanupType: CleanupResourceType = cleanupState.type;
const cleanupStatus: CleanupStatus = cleanupState.status;
const cleanupTypeValue: 'TAP_DEVICE' | 'FIREWALL_CHAIN' | 'QMP_SOCKET' | 'PIDFILE' | 'DB_CONFIGURATION' = cleanupState.type;
const cleanupStatusValue: 'PENDING' | 'SUCCESS' | 'FAILED' | 'RETRYING' = cleanupState.status;
const cleanupIdentifier: string = cleanupState.identifier;
const cleanupAttempts: number = cleanupState.attempts;
const cleanupLastError: string | undefined = cleanupState.lastError;
const cleanupLastAttempt: Date | undefined = cleanupState.lastAttemptAt;
const cleanupResult: CleanupResult = {
  vmId: 'vm',
  totalResources: 1,
  successfulCleanups: 1,
  failedCleanups: 0,
  resources: [cleanupState],
  timestamp: new Date(),
};
const crashEvent: CrashEvent = {
  vmId: 'vm',
  pid: 1234,
  lastKnownStatus: 'running',
  detectedAt: new Date(),
  cleanupPerformed: true,
  cleanupResult,
};
const cleanupAlert: CleanupAlertEvent = {
  vmId: 'vm',
  failedResources: [cleanupState],
  timestamp: new Date(),
  severity: 'warning',
};
use(cleanupType, cleanupStatus, cleanupTypeValue, cleanupStatusValue, cleanupIdentifier, cleanupAttempts);
use(cleanupLastError, cleanupLastAttempt, crashEvent, cleanupAlert);

const statusCandidate: string = 'running';
if (isValidDBStatus(statusCandidate)) {
  const s: DBVMStatus = statusCandidate;
  use(s);
}
if (isValidQMPStatus(statusCandidate)) {
  const s: QMPVMStatus = statusCandidate;
  use(s);
}

/** A plain object implementing the database contract (as tests do with mocks). */
const mockDb: DatabaseAdapter = {
  findMachine: async (id: string): Promise<MachineRecord | null> => ({ id, status: 'off' }),
  updateMachineStatus: async (_id: string, _status: string): Promise<void> => undefined,
  findRunningVMs: async (): Promise<RunningVMRecord[]> => [runningVm],
  clearMachineConfiguration: async (_machineId: string): Promise<void> => undefined,
  clearVolatileMachineConfiguration: async (_machineId: string): Promise<void> => undefined,
};
// @ts-expect-error findRunningVMs is required
const incompleteDb: DatabaseAdapter = {
  findMachine: async () => null,
  updateMachineStatus: async () => undefined,
  clearMachineConfiguration: async () => undefined,
  clearVolatileMachineConfiguration: async () => undefined,
};
use(incompleteDb);

async function exerciseSync(client: QMPClient): Promise<void> {
  const sync = new StateSync(mockDb);
  const mapped: DBVMStatus = sync.mapQMPStatusToDBStatus('paused');
  const synced: SyncResult = await sync.syncState('vm', client);
  const y1: void = await sync.updateVMStatus('vm', 'off');
  const status: string = await sync.getVMStatus('vm');
  const pid: number | null = await sync.getVMPid('vm');
  const info: { tapDeviceName: string | null; hasCpuPinning: boolean } | null = await sync.getVMInfo('vm');
  const y2: void = await sync.clearVolatileMachineConfiguration('vm');
  const direct: SyncResult = await sync.updateStatusDirect('vm', 'running');
  // @ts-expect-error not a DB status
  await sync.updateStatusDirect('vm', 'stopped');
  use(mapped, synced, y1, status, pid, info, y2, direct);

  const handler = new EventHandler(mockDb, { emitCustomEvents: true });
  const handlerDefault = new EventHandler(mockDb);
  const handlerEmitter: EventEmitter = handler;
  handler.on('vm:event', (data: VMEventData) => use(data));
  handler.on('vm:disconnect', (data: { vmId: string; timestamp: Date }) => use(data));
  const h1: void = await handler.attachToVM('vm', client);
  const h2: void = await handler.detachFromVM('vm');
  const h3: void = await handler.detachAll();
  const attached: string[] = handler.getAttachedVMs();
  const isAttached: boolean = handler.isAttached('vm');
  const qmp: QMPClient | undefined = handler.getQMPClient('vm');
  use(handlerDefault, handlerEmitter, h1, h2, h3, attached, isAttached, qmp);

  const monitor = new HealthMonitor(mockDb, { checkIntervalMs: 1000 });
  const monitorFull = new HealthMonitor(mockDb, healthConfig);
  const monitorDefault = new HealthMonitor(mockDb);
  const monitorEmitter: EventEmitter = monitor;
  monitor.on('crash', (event: CrashEvent) => use(event));
  monitor.on('cleanup-alert', (alert: CleanupAlertEvent) => use(alert));
  const m1: void = await monitor.start();
  const m2: void = await monitor.stop();
  const monitoring: boolean = monitor.isMonitoring();
  const summary: HealthCheckSummary = await monitor.checkAllVMs();
  const vmAlive: boolean = monitor.checkVM('vm', 1234);
  const retried: CleanupResult = await monitor.retryCleanup('vm', machineConfigRecord);
  use(monitorFull, monitorDefault, monitorEmitter, m1, m2, monitoring, summary, vmAlive, retried);
}

// ---------------------------------------------------------------------------
// types/db.types and PrismaAdapter
// ---------------------------------------------------------------------------

const configUpdate: MachineConfigUpdate = {
  qmpSocketPath: '/run/q.sock',
  qemuPid: 1234,
  tapDeviceName: 'vnet-a',
  graphicProtocol: 'spice',
  graphicPort: 5900,
  graphicPassword: null,
  graphicHost: '0.0.0.0',
  assignedGpuBus: null,
  bridge: 'br0',
  machineType: 'q35',
  cpuModel: 'host',
  diskBus: 'virtio',
  diskCacheMode: 'writeback',
  networkModel: 'virtio-net-pci',
  networkQueues: 2,
  memoryBalloon: false,
  diskPaths: ['/d.qcow2'],
  uefiFirmware: null,
  hugepages: false,
  cpuPinning: { cores: [0, 1] },
  enableNumaCtlPinning: false,
  cpuPinningStrategy: 'basic',
  tpmSocketPath: null,
  guestAgentSocketPath: null,
  infiniServiceSocketPath: null,
  virtioDriversIso: null,
  enableAudio: false,
  enableUsbTablet: true,
};
const emptyUpdate: MachineConfigUpdate = {};
const firewallRuleRecord: FirewallRuleRecord = {
  id: 'r1',
  name: 'Allow HTTP',
  description: null,
  action: 'ACCEPT',
  direction: 'INOUT',
  priority: 500,
  protocol: 'tcp',
  srcPortStart: null,
  srcPortEnd: null,
  dstPortStart: 80,
  dstPortEnd: null,
  srcIpAddr: null,
  srcIpMask: null,
  dstIpAddr: null,
  dstIpMask: null,
  connectionState: null,
  overridesDept: false,
};
// A FirewallRuleRecord is assignable to FirewallRuleInput.
const recordAsInput: FirewallRuleInput = firewallRuleRecord;
const ruleSetRecord: FirewallRuleSetRecord = {
  id: 'rs',
  name: 'set',
  internalName: 'set-1',
  priority: 500,
  isActive: true,
  rules: [firewallRuleRecord],
};
const departmentRecord: DepartmentRecord = { id: 'd', name: 'Dept', firewallRuleSet: ruleSetRecord };
const extendedConfigFull: ExtendedMachineConfigurationRecord = {
  ...machineConfigRecord,
  graphicProtocol: 'spice',
  graphicPort: 5900,
  graphicPassword: null,
  graphicHost: '0.0.0.0',
  assignedGpuBus: null,
  bridge: 'br0',
  machineType: 'q35',
  cpuModel: 'host',
  diskBus: 'virtio',
  diskCacheMode: 'writeback',
  networkModel: 'virtio-net-pci',
  networkQueues: 1,
  memoryBalloon: false,
  diskPaths: ['/d.qcow2'],
  uefiFirmware: null,
  hugepages: false,
  cpuPinning: null,
  enableNumaCtlPinning: null,
  cpuPinningStrategy: null,
  tpmSocketPath: null,
  virtioDriversIso: null,
  enableAudio: null,
  enableUsbTablet: null,
};
// @ts-expect-error every configuration field is required (`T | null`)
const extendedConfigMissing: ExtendedMachineConfigurationRecord = { ...machineConfigRecord, graphicProtocol: null };
const vmConfigRecord: VMConfigRecord = {
  id: 'vm',
  status: 'off',
  name: 'VM',
  internalName: 'vm-abc',
  os: 'ubuntu',
  cpuCores: 2,
  ramGB: 4,
  diskSizeGB: 20,
  gpuPciAddress: null,
  configuration: extendedConfigFull,
  firewallRuleSet: ruleSetRecord,
  department: departmentRecord,
  version: 1,
};
const vmConfigAsMachine: MachineRecord = vmConfigRecord;
use(configUpdate, emptyUpdate, recordAsInput, extendedConfigMissing, vmConfigAsMachine);

/** A structural Prisma client stand-in. */
const txClient: PrismaTransactionClientLike = {
  machine: {
    findUnique: async (_args: unknown): Promise<unknown> => null,
    findMany: async (_args: unknown): Promise<unknown> => [],
    update: async (_args: unknown): Promise<unknown> => ({}),
    updateMany: async (_args: unknown): Promise<{ count: number }> => ({ count: 1 }),
  },
  machineConfiguration: {
    upsert: async (_args: unknown): Promise<unknown> => ({}),
    updateMany: async (_args: unknown): Promise<{ count: number }> => ({ count: 0 }),
  },
};
const prismaClient: PrismaClientLike = {
  ...txClient,
  $transaction: <R>(fn: (tx: PrismaTransactionClientLike) => Promise<R>): Promise<R> => fn(txClient),
};
const badPrismaClient = {
  ...txClient,
  machine: { ...txClient.machine, updateMany: async (_args: unknown): Promise<void> => undefined },
  $transaction: <R>(fn: (tx: PrismaTransactionClientLike) => Promise<R>): Promise<R> => fn(txClient),
};

async function exercisePrisma(): Promise<PrismaAdapter> {
  const adapter = new PrismaAdapter(prismaClient);
  const asDb: DatabaseAdapter = adapter;
  const machine: MachineRecord | null = await adapter.findMachine('vm');
  const a1: void = await adapter.updateMachineStatus('vm', 'off');
  const running: RunningVMRecord[] = await adapter.findRunningVMs();
  const a2: void = await adapter.clearMachineConfiguration('vm');
  const a3: void = await adapter.clearVolatileMachineConfiguration('vm');
  const withConfig: VMConfigRecord | null = await adapter.findMachineWithConfig('vm');
  const a4: void = await adapter.updateMachineConfiguration('vm', { qemuPid: null, diskPaths: ['/d'] });
  const transition: { success: boolean; newVersion: number; vmConfig: VMConfigRecord } = await adapter.transitionVMStatus(
    'vm',
    'off',
    'starting',
    1,
  );
  const rules: FirewallRuleRecord[] = await adapter.getFirewallRules('vm');
  const ruleSetId: string | null = await adapter.getFirewallRuleSetId('vm');
  const internalName: string | null = await adapter.getMachineInternalName('vm');
  const diskPath: string | null = await adapter.getMachineDiskPath('vm');
  // @ts-expect-error machine.updateMany must resolve `{ count }`
  new PrismaAdapter(badPrismaClient);
  use(asDb, machine, a1, running, a2, a3, withConfig, a4, transition, rules, ruleSetId, internalName, diskPath);
  return adapter;
}

// ---------------------------------------------------------------------------
// types/lifecycle.types, VMLifecycle, Infinivirt
// ---------------------------------------------------------------------------

const displayProtocols: DisplayProtocol[] = ['spice', 'vnc'];
const diskConfig: DiskConfig = { sizeGB: 20, format: 'raw', bus: 'virtio', cache: 'none', discard: true };
const osTypes: OSType[] = ['windows10', 'windows11', 'ubuntu', 'fedora'];
const phases: InstallationPhase[] = [
  'generating_iso',
  'mounting_media',
  'installing',
  'completing',
  'cleanup',
  'completed',
  'failed',
];
const installCommandMap: InstallCommandType = { ubuntu: 'apt-get install -y x' };
const installCommandList: InstallCommandType = ['winget', 'install', 'x'];
const application: UnattendedApplication = {
  id: 'app',
  name: 'App',
  description: null,
  version: '1.0',
  url: null,
  icon: null,
  os: ['ubuntu'],
  installCommand: installCommandMap,
  parameters: { silent: true },
};
const shells: ScriptShell[] = ['POWERSHELL', 'CMD', 'BASH', 'SH'];
const script: UnattendedScript = {
  id: 's',
  name: 'Script',
  fileName: 'setup.sh',
  shell: 'BASH',
  description: null,
  category: 'setup',
  tags: ['a'],
};
const scriptExecution: ScriptExecutionConfig = { script, inputValues: { user: 'u' }, executionId: 'e1' };
const installConfig: UnattendedInstallConfig = {
  vmId: 'vm',
  os: 'ubuntu',
  username: 'user',
  password: 'secret',
  productKey: 'XXXXX',
  applications: [application],
  scripts: [scriptExecution],
  locale: 'en_US',
  timezone: 'UTC',
  hostname: 'vm-host',
};
// @ts-expect-error not an OSType
const badInstall: UnattendedInstallConfig = { vmId: 'vm', os: 'debian', username: 'u', password: 'p' };
const createConfig: VMCreateConfig = {
  vmId: '550e8400-e29b-41d4-a716-446655440000',
  name: 'VM',
  internalName: 'vm-abc',
  os: 'ubuntu',
  cpuCores: 2,
  ramGB: 4,
  disks: [diskConfig],
  bridge: 'br0',
  macAddress: '52:54:00:00:00:01',
  displayType: 'spice',
  displayPort: 5900,
  displayPassword: 'pw',
  displayAddr: '127.0.0.1',
  gpuPciAddress: '01:00.0',
  gpuRomfile: '/var/lib/infinivirt/roms/a.rom',
  machineType: 'q35',
  cpuModel: 'host',
  diskBus: 'virtio',
  diskCacheMode: 'writeback',
  networkModel: 'virtio-net-pci',
  networkQueues: 2,
  memoryBalloon: true,
  hugepages: false,
  uefiFirmware: '/usr/share/OVMF/OVMF_CODE.fd',
  isoPath: '/iso/a.iso',
  uuid: '550e8400-e29b-41d4-a716-446655440000',
  unattendedInstall: installConfig,
  cpuPinning: [0, 1],
  enableNumaCtlPinning: false,
  cpuPinningStrategy: 'hybrid',
  tpmSocketPath: '/run/tpm.sock',
  guestAgentSocketPath: '/run/ga.sock',
  infiniServiceSocketPath: '/run/infini.sock',
  virtioDriversIso: '/iso/virtio.iso',
  enableAudio: true,
  enableUsbTablet: true,
};
// @ts-expect-error displayType must be spice or vnc
const badCreate: VMCreateConfig = { ...createConfig, displayType: 'none' };
// @ts-expect-error cpuPinningStrategy 'none' is not allowed here
const badCreateStrategy: VMCreateConfig = { ...createConfig, cpuPinningStrategy: 'none' };
const createResult: VMCreateResult = {
  vmId: 'vm',
  tapDevice: 'vnet-a',
  qmpSocketPath: '/run/q.sock',
  displayPort: 5900,
  pid: 1234,
  diskPaths: ['/d.qcow2'],
  pidFilePath: '/run/vm.pid',
  success: true,
  installationIsoPath: '/iso/install.iso',
  installingOS: true,
};
// @ts-expect-error success is the literal true
const badCreateResult: VMCreateResult = { ...createResult, success: false };
const startConfig: VMStartConfig = { waitForBoot: true, bootTimeout: 60000 };
const stopConfig: VMStopConfig = { graceful: true, timeout: 30000, force: false };
const operationResult: VMOperationResult = {
  success: true,
  message: 'ok',
  error: 'e',
  vmId: 'vm',
  timestamp: new Date(),
  forced: false,
};
const statusResult: VMStatusResult = {
  vmId: 'vm',
  status: 'running',
  qmpStatus: null,
  pid: null,
  uptime: null,
  processAlive: false,
  consistent: false,
  tapDevice: null,
  qmpSocketPath: null,
};
const eventManager: EventManagerLike = {
  emitCRUD: (resource: string, action: string, id: string, data?: unknown): void => use(resource, action, id, data),
  emit: (event: string, data: unknown): void => use(event, data),
};
const infinivirtConfig: InfinivirtConfig = {
  prismaClient,
  eventManager,
  healthMonitorInterval: 30000,
  autoStartHealthMonitor: false,
  diskDir: '/var/lib/infinivirt/disks',
  qmpSocketDir: '/var/run/infinivirt',
  pidfileDir: '/var/run/infinivirt/pids',
  strictDisplaySecurity: true,
};
// @ts-expect-error prismaClient is required
const badInfinivirtConfig: InfinivirtConfig = { diskDir: '/d' };
const activeVm: ActiveVMResources = { tapDevice: 'vnet-a', createdAt: new Date(), internalName: 'vm-abc' };
use(displayProtocols, osTypes, phases, installCommandList, shells, badInstall, badCreate, badCreateStrategy);
use(badCreateResult, startConfig, stopConfig, operationResult, statusResult, badInfinivirtConfig, activeVm);

async function exerciseLifecycle(adapter: PrismaAdapter, handler: EventHandler): Promise<void> {
  const lifecycle = new VMLifecycle(adapter, handler, eventManager, {
    diskDir: '/d',
    qmpSocketDir: '/q',
    pidfileDir: '/p',
  });
  const lifecycleMinimal = new VMLifecycle(adapter, handler);
  const created: VMCreateResult = await lifecycle.create(createConfig);
  const started: VMOperationResult = await lifecycle.start('vm');
  const startedWithConfig: VMOperationResult = await lifecycle.start('vm', startConfig);
  const stopped: VMOperationResult = await lifecycle.stop('vm', stopConfig);
  const stoppedDefault: VMOperationResult = await lifecycle.stop('vm');
  const destroyed: VMOperationResult = await lifecycle.destroyResources('vm');
  const restarted: VMOperationResult = await lifecycle.restart('vm');
  const suspended: VMOperationResult = await lifecycle.suspend('vm');
  const resumed: VMOperationResult = await lifecycle.resume('vm');
  const reset: VMOperationResult = await lifecycle.reset('vm');
  const status: VMStatusResult = await lifecycle.getStatus('vm');
  // @ts-expect-error VMLifecycle needs a PrismaAdapter, not a raw client
  new VMLifecycle(prismaClient, handler);
  use(lifecycleMinimal, created, started, startedWithConfig, stopped, stoppedDefault, destroyed, restarted);
  use(suspended, resumed, reset, status);

  const manager = new Infinivirt(infinivirtConfig);
  const minimalManager = new Infinivirt({ prismaClient: {} });
  const i1: void = await manager.initialize();
  const ready: boolean = manager.isInitialized();
  const vm: VMCreateResult = await manager.createVM(createConfig);
  const o1: VMOperationResult = await manager.startVM('vm');
  const o2: VMOperationResult = await manager.startVM('vm', startConfig);
  const o3: VMOperationResult = await manager.stopVM('vm');
  const o4: VMOperationResult = await manager.stopVM('vm', { force: true });
  const o5: VMOperationResult = await manager.destroyVM('vm');
  const o6: VMOperationResult = await manager.restartVM('vm');
  const o7: VMOperationResult = await manager.suspendVM('vm');
  const o8: VMOperationResult = await manager.resumeVM('vm');
  const o9: VMOperationResult = await manager.resetVM('vm');
  const vmStatus: VMStatusResult = await manager.getVMStatus('vm');
  const active: string[] = manager.getActiveVMs();
  const health: HealthMonitor = manager.getHealthMonitor();
  const events: EventHandler = manager.getEventHandler();
  const i2: void = await manager.attachToRunningVM('vm', '/run/q.sock');
  const prisma: PrismaAdapter = manager.getPrismaAdapter();
  const nft: NftablesService = manager.getNftablesService();
  const i3: void = await manager.ejectCdrom('vm', 'ide1-cd0');
  const i4: void = await manager.ejectCdrom('vm', 'ide1-cd0', false);
  const blocks: QMPBlockInfo[] = await manager.queryBlockDevices('vm');
  const i5: void = await manager.shutdown();
  use(minimalManager, i1, ready, vm, o1, o2, o3, o4, o5, o6, o7, o8, o9, vmStatus, active, health, events, i2);
  use(prisma, nft, i3, i4, blocks, i5);
}

// ---------------------------------------------------------------------------
// types/vm.types
// ---------------------------------------------------------------------------

const vmDisplayProtocol: VMDisplayProtocol = 'vnc';
const hubCreate: VMCreateConfigFromHub = createConfig;
const hubCreateResult: VMCreateResultFromHub = createResult;
const hubStart: VMStartConfigFromHub = startConfig;
const hubStop: VMStopConfigFromHub = stopConfig;
const hubOperation: VMOperationResultFromHub = operationResult;
const hubStatus: VMStatusResultFromHub = statusResult;
const vmStatus: VMStatus = 'powering_off_update';
const vmMachineOptions: VMMachineOptions = machineOptions;
assertTrue<Equals<VMDisplayProtocol, DisplayProtocol>>();
assertTrue<Equals<VMCreateConfigFromHub, VMCreateConfig>>();
assertTrue<Equals<VMCreateResultFromHub, VMCreateResult>>();
assertTrue<Equals<VMStartConfigFromHub, VMStartConfig>>();
assertTrue<Equals<VMStopConfigFromHub, VMStopConfig>>();
assertTrue<Equals<VMOperationResultFromHub, VMOperationResult>>();
assertTrue<Equals<VMStatusResultFromHub, VMStatusResult>>();
assertTrue<Equals<VMStatus, DBVMStatus>>();
assertTrue<Equals<VMMachineOptions, MachineOptions>>();

const resourceConfig: VMResourceConfig = { cpuCores: 2, ramGB: 4, diskSizeGB: 20 };
const networkInfo: VMNetworkInfo = { bridge: 'br0', macAddress: '52:54:00:00:00:01', tapDevice: 'vnet-a' };
const displayInfo: VMDisplayInfo = { protocol: 'spice', port: 5900, address: '0.0.0.0', hasPassword: false };
const hardwareConfig: VMHardwareConfig = { gpuPciAddress: '01:00.0', gpuRomfile: 'a.rom', iommuGroup: 1 };
const vmInfo: VMInfo = {
  id: 'vm',
  name: 'VM',
  internalName: 'vm-abc',
  os: 'ubuntu',
  resources: resourceConfig,
  status: 'running',
  network: networkInfo,
  display: displayInfo,
  hardware: hardwareConfig,
  pid: null,
  qmpSocketPath: null,
  createdAt: new Date(),
  updatedAt: new Date(),
};
const history: VMOperationHistory = {
  id: 'h',
  vmId: 'vm',
  operation: VMOperation.START,
  status: VMOperationStatus.IN_PROGRESS,
  startedAt: new Date(),
  completedAt: null,
  message: 'm',
  error: 'e',
  forced: false,
  context: { a: 1 },
};
// @ts-expect-error operation is an enum member, not a string
const badHistory: VMOperationHistory = { ...history, operation: 'START' };
use(vmDisplayProtocol, hubCreate, hubCreateResult, hubStart, hubStop, hubOperation, hubStatus, vmStatus);
use(vmMachineOptions, vmInfo, badHistory);

declare const something: unknown;
const operationCandidate: string = 'START';
if (isValidVMStatus(operationCandidate)) {
  const s: VMStatus = operationCandidate;
  use(s);
}
if (isValidVMOperation(operationCandidate)) {
  const o: VMOperation = operationCandidate;
  use(o);
}
if (isValidVMInfo(something)) {
  const info: VMInfo = something;
  use(info);
}

// ---------------------------------------------------------------------------
// types/config.types
// ---------------------------------------------------------------------------

assertTrue<Equals<ConfigMachineType, MachineType>>();
assertTrue<Equals<ConfigDiskBus, DiskBus>>();
assertTrue<Equals<ConfigCacheMode, CacheMode>>();
assertTrue<Equals<ConfigDisplayType, DisplayType>>();
assertTrue<Equals<ConfigVgaType, VgaType>>();
assertTrue<Equals<ConfigBootDevice, BootDevice>>();
assertTrue<Equals<ConfigMachineOptions, MachineOptions>>();
assertTrue<Equals<ConfigDiskOptions, DiskOptions>>();
assertTrue<Equals<ConfigNetworkOptions, NetworkOptions>>();
assertTrue<Equals<ConfigSpiceOptions, SpiceOptions>>();
assertTrue<Equals<ConfigVncOptions, VncOptions>>();
assertTrue<Equals<ConfigQemuProcessOptions, QemuProcessOptions>>();
assertTrue<Equals<ConfigSpiceConfigOptions, SpiceConfigOptions>>();
assertTrue<Equals<ConfigVncConfigOptions, VncConfigOptions>>();
assertTrue<Equals<ConfigTapDeviceConfig, TapDeviceConfig>>();
assertTrue<Equals<ConfigBridgeConfig, BridgeConfig>>();
assertTrue<Equals<ConfigCreateImageOptions, CreateImageOptions>>();
assertTrue<Equals<ConfigConvertImageOptions, ConvertImageOptions>>();
assertTrue<Equals<ConfigSnapshotCreateOptions, SnapshotCreateOptions>>();
assertTrue<Equals<ConfigVMFirewallConfig, VMFirewallConfig>>();
assertTrue<Equals<ConfigFirewallRuleInput, FirewallRuleInput>>();
assertTrue<Equals<ConfigInfinivirtConfig, InfinivirtConfig>>();
assertTrue<Equals<ConfigHealthMonitorConfig, HealthMonitorConfig>>();
assertTrue<Equals<ConfigEventHandlerConfig, EventHandlerConfig>>();
assertTrue<Equals<VMDisplayType, 'spice' | 'vnc'>>();
assertTrue<Equals<NetworkModel, 'virtio-net-pci' | 'e1000'>>();
assertTrue<Equals<StorageFormat, 'qcow2' | 'raw'>>();

const displayConfig: DisplayConfig = {
  type: 'spice',
  port: 5900,
  address: '0.0.0.0',
  password: 'pw',
  passwordEnabled: true,
  disableTicketing: false,
  enableAgent: true,
};
// @ts-expect-error 'none' is excluded from VMDisplayType
const badDisplayConfig: DisplayConfig = { type: 'none', port: 1 };
const firewallConfig: FirewallConfig = { enabled: true, departmentRules: [ruleInput], vmRules: [] };
const networkConfig: NetworkConfig = {
  bridge: 'br0',
  macAddress: '52:54:00:00:00:01',
  tapDevice: 'vnet-a',
  model: 'virtio-net-pci',
  queues: 2,
  firewall: firewallConfig,
};
const storageConfig: StorageConfig = {
  path: '/d.qcow2',
  format: 'qcow2',
  sizeGB: 20,
  bus: 'scsi',
  cache: 'directsync',
  discard: true,
  preallocation: 'falloc',
  backingFile: '/b.qcow2',
};
const qemuMachine: QemuMachineConfig = { type: 'pc', accel: 'kvm', kernelIrqchip: 'on' };
const qemuCpu: QemuCpuConfig = { model: 'host', cores: 2, sockets: 1, threads: 1 };
const qemuMemory: QemuMemoryConfig = { sizeGB: 4 };
const qemuBoot: QemuBootConfig = { order: 'c', menu: false, isoPath: '/iso/a.iso' };
const qemuProcess: QemuProcessConfig = { daemonize: true, pidfile: '/run/vm.pid', qmpSocket: '/run/q.sock', uuid: 'u' };
const qemuConfig: QemuConfig = { machine: qemuMachine, cpu: qemuCpu, memory: qemuMemory, boot: qemuBoot, process: qemuProcess };
const identity: VMIdentityConfig = { id: 'vm', name: 'VM', internalName: 'vm-abc', os: 'ubuntu' };
const resources: VMResourcesConfig = { cpuCores: 2, ramGB: 4, diskSizeGB: 20 };
const usbDevice: USBDeviceConfig = { vendorId: '046d', productId: 'c52b' };
const pciDevice: PCIDeviceConfig = { address: '03:00.0', romfile: '/var/lib/infinivirt/roms/c.rom' };
const passthrough: VMHardwarePassthroughConfig = {
  gpuPciAddress: '01:00.0',
  gpuAudioPciAddress: '01:00.1',
  gpuRomfile: '/var/lib/infinivirt/roms/a.rom',
  usbDevices: [usbDevice],
  pciDevices: [pciDevice],
};
const completeConfig: VMCompleteConfig = {
  vm: identity,
  resources,
  display: displayConfig,
  network: networkConfig,
  storage: storageConfig,
  qemu: qemuConfig,
  hardware: passthrough,
};
const validationErr: ConfigValidationError = { field: 'vm.id', code: 'REQUIRED', message: 'm' };
const validationWarn: ConfigValidationWarning = { field: 'display.password', code: 'WEAK', message: 'm' };
const configValidation: ConfigValidationResult = { valid: false, errors: [validationErr], warnings: [validationWarn] };
use(badDisplayConfig, completeConfig, configValidation);

if (isValidDisplayConfig(something)) {
  const c: DisplayConfig = something;
  use(c);
}
if (isValidNetworkConfig(something)) {
  const c: NetworkConfig = something;
  use(c);
}
if (isValidStorageConfig(something)) {
  const c: StorageConfig = something;
  use(c);
}
if (isValidVMCompleteConfig(something)) {
  const c: VMCompleteConfig = something;
  use(c);
}
if (isValidGpuPassthroughConfig(something)) {
  const c: VMHardwarePassthroughConfig = something;
  use(c);
}

// ---------------------------------------------------------------------------
// unattended/*
// ---------------------------------------------------------------------------

const monitorConfig: MonitorConfig = { timeout: 3600000, maxResets: 5, checkInterval: 5000 };
const installerOptions: UnattendedInstallerOptions = {
  backendServicesPath: '/opt/infinibay/backend/app/services',
  monitorConfig: { timeout: 1000 },
};
const progress: InstallationProgress = {
  phase: 'installing',
  message: 'Installation in progress',
  timestamp: new Date(),
  error: new Error('e'),
};
const installResult: InstallationResult = {
  success: false,
  isoPath: '',
  duration: 1,
  phases: [progress],
  error: new UnattendedError(UnattendedErrorCode.INSTALLATION_TIMEOUT, 'timeout'),
};
use(installResult);

if (isValidOSType('ubuntu')) {
  use('ok');
}
const osCandidate: string = 'fedora';
if (isValidOSType(osCandidate)) {
  const os: OSType = osCandidate;
  use(os);
}
if (isValidInstallationPhase(osCandidate)) {
  const phase: InstallationPhase = osCandidate;
  use(phase);
}
if (isValidInstallConfig(something)) {
  const c: UnattendedInstallConfig = something;
  use(c);
}

async function exerciseUnattended(client: QMPClient): Promise<void> {
  const installer = new UnattendedInstaller(installConfig, installerOptions);
  const installerDefault = new UnattendedInstaller(installConfig);
  const iso: string = await installer.generateInstallationISO();
  const mounted: void = installer.mountInstallationMedia(new QemuCommandBuilder(), iso);
  const result: InstallationResult = await installer.monitorInstallation(client, iso);
  const cleaned: void = await installer.cleanupInstallationMedia(client, iso);
  const config: UnattendedInstallConfig = installer.getConfig();
  use(installerDefault, mounted, result, cleaned, config);

  // Infinivirt additions: native answer files, inline script text, firmware, media options.
  const nativeConfig: api.NativeUnattendedInstallConfig = {
    ...installConfig,
    firmware: 'uefi',
    scripts: [{ script: { id: 's', name: 'n', fileName: 'f.ps1', shell: 'POWERSHELL', content: 'Write-Host hi' }, inputValues: {}, executionId: 'e' }],
  };
  const nativeInstaller = new UnattendedInstaller(nativeConfig, { outputDir: '/tmp/ua', workDir: '/tmp', scriptsDir: '/srv/scripts', xorrisoPath: 'xorriso' });
  const answers: api.UnattendedAnswerFiles = await nativeInstaller.generateAnswerFiles();
  const first: api.UnattendedAnswerFile = answers.files[0];
  const volume: string = answers.volumeId;
  const answerOs: OSType = answers.os;
  const attached: void = nativeInstaller.mountAnswerMedia(new QemuCommandBuilder(), iso);
  use(first, volume, answerOs, attached);

  const monitor = new InstallationMonitor(client, { maxResets: 3 });
  const monitorFull = new InstallationMonitor(client, monitorConfig);
  const monitorDefault = new InstallationMonitor(client);
  const monitorEmitter: EventEmitter = monitor;
  monitor.on('progress', (p: InstallationProgress) => use(p));
  monitor.on('complete', (r: InstallationResult) => use(r));
  monitor.on('timeout-check', (t: { elapsed: number; remaining: number; percentComplete: number }) => use(t));
  monitor.on('error', (e: Error) => use(e));
  const started: InstallationResult = await monitor.start();
  monitor.stop();
  const running: boolean = monitor.isRunning();
  const phase: InstallationPhase = monitor.getCurrentPhase();
  const allPhases: InstallationProgress[] = monitor.getPhases();
  const elapsed: number = monitor.getElapsedTime();
  use(monitorFull, monitorDefault, monitorEmitter, started, running, phase, allPhases, elapsed);
}

// ---------------------------------------------------------------------------
// system/CgroupsManager, utils, Infinivirt additions
// ---------------------------------------------------------------------------

async function exerciseMisc(): Promise<void> {
  const cgroups = new CgroupsManager();
  const c1: void = await cgroups.applyCpuPinning(1234, [0, 1]);
  const removedScopes: number = await cgroups.cleanupEmptyScopes();
  const hostCpus: number = await cgroups.getHostCpuCount();
  const c2: void = await cgroups.validateCores([0]);
  use(c1, removedScopes, hostCpus, c2);

  const dbg = new Debugger('qemu-process');
  const logged: void = dbg.log('one message');
  dbg.log('warn', 'two arguments');
  // @ts-expect-error log takes strings only
  dbg.log(42);
  // @ts-expect-error the module name is required
  new Debugger();
  use(logged);

  const executor = new CommandExecutor();
  const stdout: string = await executor.execute('ip', ['link', 'show']);
  // @ts-expect-error arguments are an array, never a shell string
  await executor.execute('ip link show');
  use(stdout);

  const secretPath: string = await writeDisplaySecretFile('pw');
  const secretPathInDir: string = await writeDisplaySecretFile('pw', '/var/run/infinivirt/secrets');
  const spiceWithSecret = new SpiceConfig({ port: 5902, addr: '0.0.0.0', passwordSecretFile: secretPath });
  const vncWithSecret = new VncConfig({ display: 2, password: true, passwordSecretFile: secretPathInDir });
  new QemuCommandBuilder().setStrictDisplaySecurity(false).addSpice(spiceWithSecret).addVnc(vncWithSecret);
  use(secretPathInDir);
}

// ---------------------------------------------------------------------------
// Types reachable only through signatures have no runtime value.
// ---------------------------------------------------------------------------

// @ts-expect-error NftablesPersistence is not a runtime export
use(api.NftablesPersistence);
// @ts-expect-error CleanupStatus has no runtime value
use(api.CleanupStatus);
// @ts-expect-error CleanupResourceType has no runtime value
use(api.CleanupResourceType);
// @ts-expect-error interfaces are types only
use(api.VMCreateConfig);

// Infinivirt additions: process exit and re-attach, QMP extras, accelerator detection.
async function exerciseAdditions(builder: QemuCommandBuilder): Promise<void> {
  const proc = new QemuProcess('vm', builder);
  proc.on('exit', (info: { vmId: string; pid: number }) => void info);
  const attached: boolean = await proc.attach();
  await proc.waitForExit();
  const client = new QMPClient('/run/q.sock', { commandTimeouts: { screendump: 60000 } });
  const vnc: QMPVncInfo = await client.queryVnc();
  const spice: QMPSpiceInfo = await client.querySpice();
  const mem: QMPMemorySizeInfo = await client.queryMemorySizeSummary();
  await client.screendump('/tmp/shot.png');
  await client.setPassword('spice', 'pw', { connected: 'keep' });
  // @ts-expect-error only spice and vnc have passwords
  await client.setPassword('rdp', 'pw');
  await client.blockdevChangeMedium('cdrom0', '/iso/x.iso', 'raw');
  const text: string = await client.humanMonitorCommand('info status');
  await client.blockdevSnapshotInternalSync('disk0', 'snap1');
  await client.blockdevSnapshotDeleteInternalSync('disk0', 'snap1');
  await client.blockResize('disk0', 2 ** 31);
  const accel: AcceleratorInfo = detectAccelerator();
  const kind: 'kvm' | 'tcg' = accel.accel;
  use(attached, vnc, spice, mem, text, kind);
}

export {
  exerciseAdditions,
  exerciseCpuPinning,
  exerciseBuilder,
  exerciseProcess,
  exerciseQmp,
  exerciseNetwork,
  exerciseStorage,
  exerciseSync,
  exercisePrisma,
  exerciseLifecycle,
  exerciseUnattended,
  exerciseMisc,
};
