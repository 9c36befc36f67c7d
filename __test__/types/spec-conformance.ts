// Field-for-field conformance of the typings with API.md.
//
// The `Spec` namespace below is a transcription of the interface and type
// declarations of API.md section 2 (QemuCommand, QemuCommandWithPinning) and
// section 17 (types/*), plus UnattendedInstallerOptions (section 14.1), taken
// from the specification text (comments dropped). Each exported declaration of
// index.d.ts must be *identical* to its specification counterpart: same
// fields, same optionality, same types. The only deliberate differences are
// Infinivirt's additions (`passwordSecretFile`, `strictDisplaySecurity`),
// which are checked separately. The enums of section 17 are checked member by
// member (names and string values). Type-checked only, never executed.

import * as api from '../../index';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function assertTrue<T extends true>(): void {}
interface QMPStatusProbe {
  probe: true;
}

declare namespace Spec {
  type NetworkDeviceState = api.NetworkDeviceState;
  type NetworkErrorCode = api.NetworkErrorCode;
  type NftablesFamily = api.NftablesFamily;
  type NftablesHookType = api.NftablesHookType;
  type NftablesChainPolicy = api.NftablesChainPolicy;
  type NftablesErrorCode = api.NftablesErrorCode;
  type StorageErrorCode = api.StorageErrorCode;
  type DisplayErrorCode = api.DisplayErrorCode;
  type SyncErrorCode = api.SyncErrorCode;
  type CleanupResourceType = api.CleanupResourceType;
  type CleanupStatus = api.CleanupStatus;
  type PrismaAdapterErrorCode = api.PrismaAdapterErrorCode;
  type LifecycleErrorCode = api.LifecycleErrorCode;
  type VMOperation = api.VMOperation;
  type VMOperationStatus = api.VMOperationStatus;
  type UnattendedErrorCode = api.UnattendedErrorCode;
  type PrismaAdapterError = api.PrismaAdapterError;
  type LifecycleError = api.LifecycleError;
  type UnattendedError = api.UnattendedError;

  export interface QemuCommand { command: string; args: string[] }

  export interface QemuCommandWithPinning extends QemuCommand {
    wrapperCommand: string | null
    wrapperArgs: string[]
    pinningApplied: boolean
    pinnedCores: number[]
    numaNodes: number[]
  }

  export type MachineType = 'q35' | 'pc'

  export type DiskBus = 'virtio' | 'sata' | 'scsi' | 'ide'

  export type CacheMode = 'none' | 'writeback' | 'writethrough' | 'directsync' | 'unsafe'

  export type DisplayType = 'spice' | 'vnc' | 'none'

  export type VgaType = 'std' | 'qxl' | 'virtio' | 'cirrus' | 'none'

  export type BootDevice = 'c' | 'd' | 'n'

  export interface MachineOptions { accel?: string; kernelIrqchip?: string }

  export interface DiskOptions { path: string; format: 'qcow2' | 'raw'; bus: DiskBus; cache: CacheMode; discard?: boolean }

  export interface NetworkOptions { tapName: string; mac: string; model: 'virtio-net-pci' | 'e1000'; queues?: number }

  export interface SpiceOptions { port: number; addr: string; password?: string; disableTicketing?: boolean; enableAgent?: boolean }

  export interface VncOptions { display: number; addr: string; password?: boolean }

  export interface QemuProcessOptions { vmId: string; name: string; uuid?: string; daemonize?: boolean; pidfile?: string; qmpSocket?: QMPSocketOptions }

  export interface GpuPassthroughOptions { pciBus: string; romfile?: string; multifunction?: boolean; audioFunction?: string }

  export interface PciAddressValidationResult { valid: boolean; error?: string }

  export interface QMPVersion { qemu: { micro: number; minor: number; major: number }; package: string }

  export interface QMPGreeting { QMP: { version: QMPVersion; capabilities: string[] } }

  export interface QMPMessage { execute: string; arguments?: Record<string, unknown>; id?: string }

  export interface QMPError { class: string; desc: string }

  export interface QMPResponse<T = unknown> { return?: T; error?: QMPError; id?: string }

  export interface QMPTimestamp { seconds: number; microseconds: number }

  export interface QMPEvent<T = unknown> { event: string; data?: T; timestamp: QMPTimestamp }

  export type QMPEventType = 'SHUTDOWN' | 'POWERDOWN' | 'RESET' | 'STOP' | 'RESUME' | 'SUSPEND' | 'WAKEUP' | 'DEVICE_DELETED' | 'BLOCK_JOB_COMPLETED'

  export interface QMPShutdownEventData {
    guest: boolean
    reason: 'guest-shutdown' | 'guest-reset' | 'guest-panic' | 'host-qmp-quit' | 'host-qmp-system-reset' | 'host-signal' | 'host-ui' | 'subsystem-reset' | 'snapshot-load'
  }

  export interface QMPDeviceDeletedEventData { device?: string; path: string }

  export interface QMPBlockJobCompletedEventData { type: string; device: string; len: number; offset: number; speed: number; error?: string }

  export type QMPVMStatus = 'running' | 'paused' | 'shutdown' | 'inmigrate' | 'postmigrate' | 'prelaunch' | 'finish-migrate' | 'restore-vm' | 'suspended' | 'watchdog' | 'guest-panicked' | 'io-error' | 'colo'

  export interface QMPStatusInfo { running: boolean; singlestep: boolean; status: QMPVMStatus }

  export interface QMPCpuInfo { 'cpu-index': number; 'qom-path': string; 'thread-id': number; props?: { 'core-id'?: number; 'thread-id'?: number; 'socket-id'?: number; 'node-id'?: number }; target?: string }

  export interface QMPBlockImageInfo { filename: string; format: string; 'virtual-size': number; 'actual-size'?: number; 'dirty-flag'?: boolean; 'cluster-size'?: number; encrypted?: boolean; compressed?: boolean; 'backing-filename'?: string; 'full-backing-filename'?: string; 'backing-filename-format'?: string; 'backing-image'?: QMPBlockImageInfo }

  export interface QMPBlockInsertedInfo { file: string; node_name?: string; ro: boolean; drv: string; encrypted: boolean; bps?: number; bps_rd?: number; bps_wr?: number; iops?: number; iops_rd?: number; iops_wr?: number; image?: QMPBlockImageInfo; detect_zeroes?: string; write_threshold?: number }

  export interface QMPBlockInfo { device: string; qdev?: string; type: string; removable: boolean; locked: boolean; tray_open?: boolean; io_status?: string; inserted?: QMPBlockInsertedInfo }

  export interface QMPVncClientInfo { host: string; service: string; family: 'ipv4' | 'ipv6' | 'unix'; websocket: boolean; x509_dname?: string; sasl_username?: string }

  export interface QMPVncInfo { enabled: boolean; host?: string; family?: 'ipv4' | 'ipv6' | 'unix'; service?: string; auth?: string; clients?: QMPVncClientInfo[] }

  export interface QMPSpiceChannel { host: string; family: 'ipv4' | 'ipv6' | 'unix'; port: string; 'connection-id': number; 'channel-type': number; 'channel-id': number; tls: boolean }

  export interface QMPSpiceInfo { enabled: boolean; migrated?: boolean; host?: string; port?: number; 'tls-port'?: number; auth?: string; 'compiled-version'?: string; 'mouse-mode'?: 'client' | 'server'; channels?: QMPSpiceChannel[] }

  export interface QMPMemorySizeInfo { 'base-memory': number; 'plugged-memory'?: number }

  export interface QMPBalloonInfo { actual: number }

  export interface QMPClientOptions { connectTimeout?: number; commandTimeout?: number; reconnect?: boolean; reconnectDelay?: number; maxReconnectAttempts?: number }

  export interface QMPSocketOptions { path: string; connectTimeout?: number; commandTimeout?: number }

  export type MacAddress = string

  export interface TapDeviceConfig { name: string; vmId: string; bridge?: string; mac?: string }

  export interface TapDeviceInfo { name: string; exists: boolean; bridge?: string; state: NetworkDeviceState }

  export interface BridgeConfig { name: string; interfaces?: string[] }

  export interface BridgeInfo { name: string; exists: boolean; state: NetworkDeviceState; interfaces: string[] }

  export interface NetworkDeviceError { code: NetworkErrorCode; message: string; device?: string; command?: string }

  export interface NftablesTableConfig { name: string; family: NftablesFamily }

  export interface NftablesChainConfig { name: string; table: string; family: NftablesFamily; hook?: NftablesHookType; priority?: number; policy?: NftablesChainPolicy }

  export interface NftablesRuleConfig { chain: string; table: string; family: NftablesFamily; expression: string }

  export type NftablesRuleTokens = string[]

  export interface FirewallRuleTranslation { expression: string; priority: number; ruleName: string; success: boolean; error?: string }

  export interface VMFirewallConfig { vmId: string; tapDeviceName: string; departmentRules: FirewallRuleInput[]; vmRules: FirewallRuleInput[] }

  export interface FirewallRuleInput {
    id: string; name: string; description?: string | null
    action: 'ACCEPT' | 'DROP' | 'REJECT'; direction: 'IN' | 'OUT' | 'INOUT'; priority: number; protocol: string
    srcPortStart?: number | null; srcPortEnd?: number | null; dstPortStart?: number | null; dstPortEnd?: number | null
    srcIpAddr?: string | null; srcIpMask?: string | null; dstIpAddr?: string | null; dstIpMask?: string | null
    connectionState?: ConnectionStateConfig | null; overridesDept?: boolean
  }

  export interface ConnectionStateConfig { established?: boolean; new?: boolean; related?: boolean; invalid?: boolean }

  export interface NftablesError extends Error { code: NftablesErrorCode; context?: { command?: string; args?: string[]; stderr?: string; exitCode?: number } }

  export interface ChainListResult { chains: string[]; tableExists: boolean }

  export interface FirewallApplyResult { totalRules: number; appliedRules: number; failedRules: number; chainName: string; failures: Array<{ ruleName: string; error: string }> }

  export type ImageFormat = 'qcow2' | 'raw' | 'vmdk' | 'vdi' | 'vhdx'

  export interface ImageInfo { filename: string; format: ImageFormat; virtualSize: number; actualSize: number; clusterSize?: number; encrypted?: boolean; snapshots?: SnapshotInfo[]; backingFile?: string }

  export interface SnapshotInfo { id: string; name: string; vmSize: number; date: string; vmClock: string }

  export interface ImageCheckResult { errors: number; leaks: number; corruptions: number; totalClusters: number; allocatedClusters: number }

  export interface CreateImageOptions { path: string; sizeGB: number; format: ImageFormat; clusterSize?: number; preallocation?: 'off' | 'metadata' | 'falloc' | 'full' }

  export interface ConvertImageOptions { sourcePath: string; destPath: string; destFormat: ImageFormat; compress?: boolean }

  export interface SnapshotCreateOptions { imagePath: string; name: string; description?: string }

  export interface StorageErrorInfo { code: StorageErrorCode; message: string; path?: string; command?: string }

  export type SpiceImageCompression = 'auto_glz' | 'auto_lz' | 'quic' | 'glz' | 'lz' | 'off'

  export type SpiceWanCompression = 'auto' | 'never' | 'always'

  export type SpiceStreamingMode = 'off' | 'all' | 'filter'

  export type SpicePlaybackCompression = 'on' | 'off'

  export interface SpiceConfigOptions {
    port: number; addr?: string; password?: string; disableTicketing?: boolean; enableAgent?: boolean
    imageCompression?: SpiceImageCompression; jpegWanCompression?: SpiceWanCompression; zlibGlzWanCompression?: SpiceWanCompression
    streamingVideo?: SpiceStreamingMode; playbackCompression?: SpicePlaybackCompression
    gl?: boolean; rendernode?: string
    disableCopyPaste?: boolean; disableAgentFileXfer?: boolean; seamlessMigration?: boolean
  }

  export interface VncConfigOptions { display: number; addr?: string; password?: boolean }

  export interface ValidationError { code: DisplayErrorCode; message: string }

  export interface DisplayValidationResult { valid: boolean; errors: string[]; validationErrors: ValidationError[] }

  export interface DisplayCommandArgs { args: string[]; vgaType: VgaType }

  export interface MachineRecord { id: string; status: string }

  export interface MachineConfigurationRecord { qemuPid: number | null; tapDeviceName: string | null; qmpSocketPath: string | null; guestAgentSocketPath: string | null; infiniServiceSocketPath: string | null }

  export interface RunningVMRecord { id: string; status: string; MachineConfiguration: MachineConfigurationRecord | null }

  export interface DatabaseAdapter {
    findMachine(id: string): Promise<MachineRecord | null>
    updateMachineStatus(id: string, status: string): Promise<void>
    findRunningVMs(): Promise<RunningVMRecord[]>
    clearMachineConfiguration(machineId: string): Promise<void>
    clearVolatileMachineConfiguration(machineId: string): Promise<void>
  }

  export type DBVMStatus = 'building' | 'running' | 'off' | 'suspended' | 'paused' | 'updating_hardware' | 'powering_off_update' | 'error'

  export interface StatusMapping { qmpStatus: QMPVMStatus; dbStatus: DBVMStatus; timestamp: Date }

  export interface SyncResult { success: boolean; vmId: string; previousStatus: string; newStatus: string; timestamp: Date; error?: string }

  export interface SyncError { code: SyncErrorCode; message: string; vmId: string; timestamp: Date }

  export interface HealthMonitorConfig {
    checkIntervalMs: number; enableCleanup: boolean; pidfileDir?: string
    onCrashDetected?: (vmId: string) => Promise<void>
    onCleanupAlert?: (alert: CleanupAlertEvent) => Promise<void>
  }

  export interface HealthCheckResult { vmId: string; pid: number | null; isAlive: boolean; status: string; timestamp: Date }

  export interface HealthCheckSummary { totalChecked: number; alive: number; crashed: number; errors: number; timestamp: Date; results: HealthCheckResult[] }

  export interface CrashEvent { vmId: string; pid: number; lastKnownStatus: string; detectedAt: Date; cleanupPerformed: boolean; cleanupResult?: CleanupResult }

  export interface EventHandlerConfig { enableLogging: boolean; emitCustomEvents: boolean }

  export interface VMEventData { vmId: string; event: QMPEventType; previousStatus: string; newStatus: string; timestamp: Date; qmpData?: unknown }

  export interface CleanupResourceState { type: CleanupResourceType; identifier: string; status: CleanupStatus; attempts: number; lastError?: string; lastAttemptAt?: Date }

  export interface CleanupResult { vmId: string; totalResources: number; successfulCleanups: number; failedCleanups: number; resources: CleanupResourceState[]; timestamp: Date }

  export interface CleanupAlertEvent { vmId: string; failedResources: CleanupResourceState[]; timestamp: Date; severity: 'warning' | 'error' }

  export interface MachineConfigUpdate {
    qmpSocketPath?: string | null; qemuPid?: number | null; tapDeviceName?: string | null
    graphicProtocol?: string | null; graphicPort?: number | null; graphicPassword?: string | null; graphicHost?: string | null; assignedGpuBus?: string | null
    bridge?: string | null; machineType?: string | null; cpuModel?: string | null; diskBus?: string | null; diskCacheMode?: string | null
    networkModel?: string | null; networkQueues?: number | null; memoryBalloon?: boolean | null; diskPaths?: string[] | null
    uefiFirmware?: string | null; hugepages?: boolean | null; cpuPinning?: { cores: number[] } | null
    enableNumaCtlPinning?: boolean | null; cpuPinningStrategy?: string | null
    tpmSocketPath?: string | null; guestAgentSocketPath?: string | null; infiniServiceSocketPath?: string | null
    virtioDriversIso?: string | null; enableAudio?: boolean | null; enableUsbTablet?: boolean | null
  }

  export interface DepartmentRecord { id: string; name: string; firewallRuleSet: FirewallRuleSetRecord | null }

  export interface FirewallRuleSetRecord { id: string; name: string; internalName: string; priority: number; isActive: boolean; rules: FirewallRuleRecord[] }

  export interface FirewallRuleRecord {
    id: string; name: string; description: string | null; action: 'ACCEPT' | 'DROP' | 'REJECT'; direction: 'IN' | 'OUT' | 'INOUT'
    priority: number; protocol: string
    srcPortStart: number | null; srcPortEnd: number | null; dstPortStart: number | null; dstPortEnd: number | null
    srcIpAddr: string | null; srcIpMask: string | null; dstIpAddr: string | null; dstIpMask: string | null
    connectionState: ConnectionStateConfig | null; overridesDept: boolean
  }

  export interface ExtendedMachineConfigurationRecord extends MachineConfigurationRecord {
    graphicProtocol: string | null; graphicPort: number | null; graphicPassword: string | null; graphicHost: string | null; assignedGpuBus: string | null
    bridge: string | null; machineType: string | null; cpuModel: string | null; diskBus: string | null; diskCacheMode: string | null
    networkModel: string | null; networkQueues: number | null; memoryBalloon: boolean | null; diskPaths: string[] | null
    uefiFirmware: string | null; hugepages: boolean | null; cpuPinning: { cores: number[] } | null
    enableNumaCtlPinning: boolean | null; cpuPinningStrategy: string | null
    tpmSocketPath: string | null; guestAgentSocketPath: string | null; infiniServiceSocketPath: string | null
    virtioDriversIso: string | null; enableAudio: boolean | null; enableUsbTablet: boolean | null
  }

  export interface VMConfigRecord extends MachineRecord {
    name: string; internalName: string; os: string; cpuCores: number; ramGB: number; diskSizeGB: number; gpuPciAddress: string | null
    configuration: ExtendedMachineConfigurationRecord | null; firewallRuleSet: FirewallRuleSetRecord | null; department: DepartmentRecord | null
    version: number
  }

  export type DisplayProtocol = 'spice' | 'vnc'

  export interface DiskConfig { sizeGB: number; format?: 'qcow2' | 'raw'; bus?: string; cache?: string; discard?: boolean }

  export interface VMCreateConfig {
    vmId: string; name: string; internalName: string; os: string; cpuCores: number; ramGB: number
    disks: api.DiskConfig[]; bridge: string; macAddress?: string
    displayType: DisplayProtocol; displayPort: number; displayPassword?: string; displayAddr?: string
    gpuPciAddress?: string; gpuRomfile?: string
    machineType?: string; cpuModel?: string; diskBus?: string; diskCacheMode?: string; networkModel?: string; networkQueues?: number
    memoryBalloon?: boolean; hugepages?: boolean; uefiFirmware?: string; isoPath?: string; uuid?: string
    unattendedInstall?: UnattendedInstallConfig
    cpuPinning?: number[]; enableNumaCtlPinning?: boolean; cpuPinningStrategy?: 'basic' | 'hybrid'
    tpmSocketPath?: string; guestAgentSocketPath?: string; infiniServiceSocketPath?: string; virtioDriversIso?: string
    enableAudio?: boolean; enableUsbTablet?: boolean
  }

  export interface VMCreateResult { vmId: string; tapDevice: string; qmpSocketPath: string; displayPort: number; pid: number; diskPaths: string[]; pidFilePath: string; success: true; installationIsoPath?: string; installingOS?: boolean }

  export interface VMStartConfig { waitForBoot?: boolean; bootTimeout?: number }

  export interface VMStopConfig { graceful?: boolean; timeout?: number; force?: boolean }

  export interface VMOperationResult { success: boolean; message: string; error?: string; vmId: string; timestamp: Date; forced?: boolean }

  export interface VMStatusResult { vmId: string; status: string; qmpStatus: string | null; pid: number | null; uptime: number | null; processAlive: boolean; consistent: boolean; tapDevice: string | null; qmpSocketPath: string | null }

  export interface InfinivirtConfig { prismaClient: unknown; eventManager?: EventManagerLike; healthMonitorInterval?: number; autoStartHealthMonitor?: boolean; diskDir?: string; qmpSocketDir?: string; pidfileDir?: string }

  export interface EventManagerLike { emitCRUD?: (resource: string, action: string, id: string, data?: unknown) => void; emit?: (event: string, data: unknown) => void }

  export interface ActiveVMResources { tapDevice?: string; createdAt: Date; internalName: string }

  export type VMStatus = DBVMStatus

  export interface VMInfo {
    id: string; name: string; internalName: string; os: string; resources: VMResourceConfig; status: VMStatus
    network?: VMNetworkInfo; display?: VMDisplayInfo; hardware?: VMHardwareConfig
    pid?: number | null; qmpSocketPath?: string | null; createdAt?: Date; updatedAt?: Date
  }

  export interface VMResourceConfig { cpuCores: number; ramGB: number; diskSizeGB: number }

  export interface VMNetworkInfo { bridge: string; macAddress?: string; tapDevice?: string }

  export interface VMDisplayInfo { protocol: 'spice' | 'vnc'; port: number; address?: string; hasPassword?: boolean }

  export interface VMHardwareConfig { gpuPciAddress?: string; gpuRomfile?: string; iommuGroup?: number }

  export interface VMOperationHistory { id: string; vmId: string; operation: VMOperation; status: VMOperationStatus; startedAt: Date; completedAt?: Date | null; message?: string; error?: string; forced?: boolean; context?: Record<string, unknown> }

  export type VMDisplayType = Exclude<DisplayType, 'none'>

  export type NetworkModel = NetworkOptions['model']

  export type StorageFormat = 'qcow2' | 'raw'

  export interface DisplayConfig { type: VMDisplayType; port: number; address?: string; password?: string; passwordEnabled?: boolean; disableTicketing?: boolean; enableAgent?: boolean }

  export interface NetworkConfig { bridge: string; macAddress?: string; tapDevice?: string; model?: NetworkModel; queues?: number; firewall?: FirewallConfig }

  export interface FirewallConfig { enabled: boolean; departmentRules?: FirewallRuleInput[]; vmRules?: FirewallRuleInput[] }

  export interface StorageConfig { path: string; format?: StorageFormat; sizeGB: number; bus?: DiskBus; cache?: CacheMode; discard?: boolean; preallocation?: 'off' | 'metadata' | 'falloc' | 'full'; backingFile?: string }

  export interface QemuConfig { machine?: QemuMachineConfig; cpu?: QemuCpuConfig; memory?: QemuMemoryConfig; boot?: QemuBootConfig; process?: QemuProcessConfig }

  export interface QemuMachineConfig { type?: MachineType; accel?: string; kernelIrqchip?: string }

  export interface QemuCpuConfig { model?: string; cores: number; sockets?: number; threads?: number }

  export interface QemuMemoryConfig { sizeGB: number }

  export interface QemuBootConfig { order?: BootDevice; menu?: boolean; isoPath?: string }

  export interface QemuProcessConfig { daemonize?: boolean; pidfile?: string; qmpSocket?: string; uuid?: string }

  export interface VMCompleteConfig { vm: VMIdentityConfig; resources?: VMResourcesConfig; display?: DisplayConfig; network?: NetworkConfig; storage?: StorageConfig; qemu?: QemuConfig; hardware?: VMHardwarePassthroughConfig }

  export interface VMIdentityConfig { id: string; name: string; internalName: string; os?: string }

  export interface VMResourcesConfig { cpuCores: number; ramGB: number; diskSizeGB: number }

  export interface VMHardwarePassthroughConfig { gpuPciAddress?: string; gpuAudioPciAddress?: string; gpuRomfile?: string; usbDevices?: USBDeviceConfig[]; pciDevices?: PCIDeviceConfig[] }

  export interface USBDeviceConfig { vendorId: string; productId: string }

  export interface PCIDeviceConfig { address: string; romfile?: string }

  export interface ConfigValidationResult { valid: boolean; errors: ConfigValidationError[]; warnings: ConfigValidationWarning[] }

  export interface ConfigValidationError { field: string; code: string; message: string }

  export interface ConfigValidationWarning { field: string; code: string; message: string }

  export type OSType = 'windows10' | 'windows11' | 'ubuntu' | 'fedora'

  export type InstallationPhase = 'generating_iso' | 'mounting_media' | 'installing' | 'completing' | 'cleanup' | 'completed' | 'failed'

  export type InstallCommandType = Record<string, string> | string[]

  export interface UnattendedApplication { id: string; name: string; description?: string | null; version?: string | null; url?: string | null; icon?: string | null; os: string[]; installCommand: InstallCommandType; parameters: Record<string, unknown> }

  export type ScriptShell = 'POWERSHELL' | 'CMD' | 'BASH' | 'SH'

  export interface UnattendedScript { id: string; name: string; fileName: string; shell: ScriptShell; description?: string | null; category?: string | null; tags?: string[] }

  export interface ScriptExecutionConfig { script: UnattendedScript; inputValues: Record<string, unknown>; executionId: string }

  export interface UnattendedInstallConfig { vmId: string; os: OSType; username: string; password: string; productKey?: string; applications?: UnattendedApplication[]; scripts?: ScriptExecutionConfig[]; locale?: string; timezone?: string; hostname?: string }

  export interface MonitorConfig { timeout: number; maxResets: number; checkInterval: number }

  export interface InstallationProgress { phase: InstallationPhase; message: string; timestamp: Date; error?: Error }

  export interface InstallationResult { success: boolean; isoPath: string; duration: number; phases: InstallationProgress[]; error?: Error }

  // constants and functions of section 17
  export const PCI_ADDRESS_REGEX: RegExp;
  export function validatePciAddress(address: string): PciAddressValidationResult;
  export function normalizePciAddress(address: string): string;
  export const QEMU_MAC_PREFIX = '52:54:00';
  export const MAX_TAP_NAME_LENGTH = 15;
  export const TAP_NAME_PREFIX = 'vnet-';
  export const INFINIVIRT_TABLE_NAME = 'infinivirt';
  export const INFINIVIRT_TABLE_FAMILY = api.NftablesFamily.BRIDGE;
  export const DEFAULT_CHAIN_PRIORITY = 0;
  export const NFTABLES_COMMENT_PREFIX = 'infinivirt';
  export const SUPPORTED_PROTOCOLS: readonly ['tcp', 'udp', 'icmp', 'all'];
  export const CONNECTION_STATES: readonly ['established', 'new', 'related', 'invalid'];
  export const MAX_CHAIN_NAME_LENGTH = 31;
  export const VM_CHAIN_PREFIX = 'vm_';
  export function generateVMChainName(vmId: string): string;
  export const SUPPORTED_IMAGE_FORMATS: readonly ['qcow2', 'raw', 'vmdk', 'vdi', 'vhdx'];
  export const DEFAULT_CLUSTER_SIZE = 65536;
  export const MAX_SNAPSHOT_NAME_LENGTH = 64;
  export function isValidImageFormat(format: string): format is ImageFormat;
  export const VNC_BASE_PORT = 5900;
  export const VNC_MAX_PASSWORD_LENGTH = 8;
  export const SPICE_MIN_PORT = 5900;
  export const SPICE_MAX_PORT = 65535;
  export const DEFAULT_SPICE_ADDR = '0.0.0.0';
  export const DEFAULT_VNC_ADDR = '0.0.0.0';
  export const DEFAULT_HEALTH_CHECK_INTERVAL = 30000;
  export const DEFAULT_SYNC_TIMEOUT = 5000;
  export const MAX_SYNC_RETRIES = 3;
  export function isValidDBStatus(status: string): status is DBVMStatus;
  export function isValidQMPStatus(status: string): status is QMPVMStatus;
  export function isPrismaAdapterError(error: unknown): error is PrismaAdapterError;
  export const DEFAULT_DISK_PATH_PREFIX = '/var/lib/infinivirt/disks';
  export const DEFAULT_QMP_SOCKET_PATH_PREFIX = '/var/run/infinivirt';
  export const DEFAULT_DISK_FORMAT = 'qcow2';
  export const DEFAULT_DISK_EXTENSION = '.qcow2';
  export function isLifecycleError(error: unknown): error is LifecycleError;
  export function createLifecycleError(code: LifecycleErrorCode, message: string, vmId?: string, context?: Record<string, unknown>): LifecycleError;
  export const DEFAULT_STOP_TIMEOUT = 30000;
  export const DEFAULT_BOOT_TIMEOUT = 60000;
  export const DEFAULT_QMP_CONNECT_TIMEOUT = 5000;
  export const DEFAULT_QMP_SOCKET_DIR = '/var/run/infinivirt';
  export const DEFAULT_DISK_DIR = '/var/lib/infinivirt/disks';
  export const DEFAULT_PIDFILE_DIR = '/var/run/infinivirt/pids';
  export const DEFAULT_NETWORK_MODEL = 'virtio-net-pci';
  export const DEFAULT_DISK_BUS = 'virtio';
  export const DEFAULT_DISK_CACHE = 'writeback';
  export const RESTART_DELAY_MS = 2000;
  export const PROCESS_EXIT_POLL_INTERVAL = 100;
  export const RUNTIME_DISK_SIZE_PLACEHOLDER_GB = 1;
  export function isValidVMStatus(status: string): status is VMStatus;
  export function isValidVMOperation(operation: string): operation is VMOperation;
  export function isValidVMInfo(obj: unknown): obj is VMInfo;
  export const DEFAULT_VM_CPU_CORES = 2;
  export const DEFAULT_VM_RAM_GB = 4;
  export const DEFAULT_VM_DISK_SIZE_GB = 20;
  export const MIN_VM_CPU_CORES = 1;
  export const MAX_VM_CPU_CORES = 64;
  export const MIN_VM_RAM_GB = 1;
  export const MAX_VM_RAM_GB = 512;
  export const MIN_VM_DISK_SIZE_GB = 10;
  export const MAX_VM_DISK_SIZE_GB = 2048;
  export const ConfigDefaults: {
    readonly display: { readonly spicePort: 5900; readonly vncDisplay: 0; readonly address: '0.0.0.0'; readonly enableAgent: true }
    readonly network: { readonly bridge: 'virbr0'; readonly model: 'virtio-net-pci' }
    readonly storage: { readonly format: 'qcow2'; readonly bus: 'virtio'; readonly cache: 'writeback'; readonly sizeGB: 20 }
    readonly qemu: { readonly machineType: 'q35'; readonly cpuModel: 'host'; readonly cpuCores: 2; readonly ramGB: 4 }
    readonly limits: { readonly minCpuCores: 1; readonly maxCpuCores: 64; readonly minRamGB: 1; readonly maxRamGB: 512; readonly minDiskSizeGB: 10; readonly maxDiskSizeGB: 2048; readonly minSpicePort: 5900; readonly maxSpicePort: 65535; readonly maxVncDisplay: 99 }
  };
  export function isValidDisplayConfig(obj: unknown): obj is DisplayConfig;
  export function isValidNetworkConfig(obj: unknown): obj is NetworkConfig;
  export function isValidStorageConfig(obj: unknown): obj is StorageConfig;
  export function isValidVMCompleteConfig(obj: unknown): obj is VMCompleteConfig;
  export function isValidGpuPassthroughConfig(obj: unknown): obj is VMHardwarePassthroughConfig;
  export const DEFAULT_INSTALLATION_TIMEOUT: number;
  export const CDROM_DEVICE_NAME = 'ide1-cd0';
  export const ISO_BOOT_ORDER: BootDevice[];
  export const DEFAULT_MAX_RESETS = 5;
  export const DEFAULT_CHECK_INTERVAL = 5000;
  export const DEFAULT_LOCALE = 'en_US';
  export const DEFAULT_TIMEZONE = 'UTC';
  export function isValidOSType(os: string): os is OSType;
  export function isValidInstallationPhase(phase: string): phase is InstallationPhase;
  export function isValidInstallConfig(config: unknown): config is UnattendedInstallConfig;
  export function isUnattendedError(error: unknown): error is UnattendedError;
  export function createUnattendedError(code: UnattendedErrorCode, message: string, cause?: Error, vmId?: string, context?: Record<string, unknown>): UnattendedError;

  export interface UnattendedInstallerOptions { backendServicesPath?: string; monitorConfig?: Partial<MonitorConfig> }
}

assertTrue<Equals<api.QemuCommand, Spec.QemuCommand>>();
assertTrue<Equals<api.QemuCommandWithPinning, Spec.QemuCommandWithPinning>>();
assertTrue<Equals<api.MachineType, Spec.MachineType>>();
assertTrue<Equals<api.DiskBus, Spec.DiskBus>>();
assertTrue<Equals<api.CacheMode, Spec.CacheMode>>();
assertTrue<Equals<api.DisplayType, Spec.DisplayType>>();
assertTrue<Equals<api.VgaType, Spec.VgaType>>();
assertTrue<Equals<api.BootDevice, Spec.BootDevice>>();
assertTrue<Equals<api.MachineOptions, Spec.MachineOptions>>();
assertTrue<Equals<api.DiskOptions, Spec.DiskOptions>>();
assertTrue<Equals<api.NetworkOptions, Spec.NetworkOptions>>();
assertTrue<Equals<Omit<api.SpiceOptions, 'passwordSecretFile'>, Omit<Spec.SpiceOptions, never>>>();
assertTrue<Equals<api.SpiceOptions['passwordSecretFile'], (string) | undefined>>();
assertTrue<Equals<Omit<api.VncOptions, 'passwordSecretFile'>, Omit<Spec.VncOptions, never>>>();
assertTrue<Equals<api.VncOptions['passwordSecretFile'], (string) | undefined>>();
assertTrue<Equals<api.QemuProcessOptions, Spec.QemuProcessOptions>>();
assertTrue<Equals<api.GpuPassthroughOptions, Spec.GpuPassthroughOptions>>();
assertTrue<Equals<api.PciAddressValidationResult, Spec.PciAddressValidationResult>>();
assertTrue<Equals<api.QMPVersion, Spec.QMPVersion>>();
assertTrue<Equals<api.QMPGreeting, Spec.QMPGreeting>>();
assertTrue<Equals<api.QMPMessage, Spec.QMPMessage>>();
assertTrue<Equals<api.QMPError, Spec.QMPError>>();
assertTrue<Equals<api.QMPResponse, Spec.QMPResponse>>();
assertTrue<Equals<api.QMPResponse<QMPStatusProbe>, Spec.QMPResponse<QMPStatusProbe>>>();
assertTrue<Equals<api.QMPTimestamp, Spec.QMPTimestamp>>();
assertTrue<Equals<api.QMPEvent, Spec.QMPEvent>>();
assertTrue<Equals<api.QMPEvent<QMPStatusProbe>, Spec.QMPEvent<QMPStatusProbe>>>();
assertTrue<Equals<api.QMPEventType, Spec.QMPEventType>>();
assertTrue<Equals<api.QMPShutdownEventData, Spec.QMPShutdownEventData>>();
assertTrue<Equals<api.QMPDeviceDeletedEventData, Spec.QMPDeviceDeletedEventData>>();
assertTrue<Equals<api.QMPBlockJobCompletedEventData, Spec.QMPBlockJobCompletedEventData>>();
assertTrue<Equals<api.QMPVMStatus, Spec.QMPVMStatus>>();
assertTrue<Equals<api.QMPStatusInfo, Spec.QMPStatusInfo>>();
assertTrue<Equals<api.QMPCpuInfo, Spec.QMPCpuInfo>>();
assertTrue<Equals<api.QMPBlockImageInfo, Spec.QMPBlockImageInfo>>();
assertTrue<Equals<api.QMPBlockInsertedInfo, Spec.QMPBlockInsertedInfo>>();
assertTrue<Equals<api.QMPBlockInfo, Spec.QMPBlockInfo>>();
assertTrue<Equals<api.QMPVncClientInfo, Spec.QMPVncClientInfo>>();
assertTrue<Equals<api.QMPVncInfo, Spec.QMPVncInfo>>();
assertTrue<Equals<api.QMPSpiceChannel, Spec.QMPSpiceChannel>>();
assertTrue<Equals<api.QMPSpiceInfo, Spec.QMPSpiceInfo>>();
assertTrue<Equals<api.QMPMemorySizeInfo, Spec.QMPMemorySizeInfo>>();
assertTrue<Equals<api.QMPBalloonInfo, Spec.QMPBalloonInfo>>();
assertTrue<Equals<Omit<api.QMPClientOptions, 'commandTimeouts'>, Omit<Spec.QMPClientOptions, never>>>();
assertTrue<Equals<api.QMPClientOptions['commandTimeouts'], (Record<string, number>) | undefined>>();
assertTrue<Equals<api.QMPSocketOptions, Spec.QMPSocketOptions>>();
assertTrue<Equals<api.MacAddress, Spec.MacAddress>>();
assertTrue<Equals<api.TapDeviceConfig, Spec.TapDeviceConfig>>();
assertTrue<Equals<api.TapDeviceInfo, Spec.TapDeviceInfo>>();
assertTrue<Equals<api.BridgeConfig, Spec.BridgeConfig>>();
assertTrue<Equals<api.BridgeInfo, Spec.BridgeInfo>>();
assertTrue<Equals<api.NetworkDeviceError, Spec.NetworkDeviceError>>();
assertTrue<Equals<api.NftablesTableConfig, Spec.NftablesTableConfig>>();
assertTrue<Equals<api.NftablesChainConfig, Spec.NftablesChainConfig>>();
assertTrue<Equals<api.NftablesRuleConfig, Spec.NftablesRuleConfig>>();
assertTrue<Equals<api.NftablesRuleTokens, Spec.NftablesRuleTokens>>();
assertTrue<Equals<api.FirewallRuleTranslation, Spec.FirewallRuleTranslation>>();
assertTrue<Equals<api.VMFirewallConfig, Spec.VMFirewallConfig>>();
assertTrue<Equals<api.FirewallRuleInput, Spec.FirewallRuleInput>>();
assertTrue<Equals<api.ConnectionStateConfig, Spec.ConnectionStateConfig>>();
assertTrue<Equals<Omit<api.NftablesError, 'chainName' | 'vmId' | 'ownerVmId'>, Omit<Spec.NftablesError, never>>>();
assertTrue<Equals<api.NftablesError['chainName'], (string) | undefined>>();
assertTrue<Equals<api.NftablesError['vmId'], (string) | undefined>>();
assertTrue<Equals<api.NftablesError['ownerVmId'], (string) | undefined>>();
assertTrue<Equals<api.ChainListResult, Spec.ChainListResult>>();
assertTrue<Equals<Omit<api.FirewallApplyResult, 'fallbacks'>, Omit<Spec.FirewallApplyResult, never>>>();
assertTrue<Equals<api.FirewallApplyResult['fallbacks'], (api.FirewallFallback[]) | undefined>>();
assertTrue<Equals<api.ImageFormat, Spec.ImageFormat>>();
assertTrue<Equals<api.ImageInfo, Spec.ImageInfo>>();
assertTrue<Equals<api.SnapshotInfo, Spec.SnapshotInfo>>();
assertTrue<Equals<api.ImageCheckResult, Spec.ImageCheckResult>>();
assertTrue<Equals<Omit<api.CreateImageOptions, 'backingFile' | 'backingFormat' | 'onProgress'>, Omit<Spec.CreateImageOptions, never>>>();
assertTrue<Equals<api.CreateImageOptions['backingFile'], (string) | undefined>>();
assertTrue<Equals<api.CreateImageOptions['backingFormat'], (api.ImageFormat) | undefined>>();
assertTrue<Equals<api.CreateImageOptions['onProgress'], ((percent: number) => void) | undefined>>();
assertTrue<Equals<Omit<api.ConvertImageOptions, 'onProgress'>, Omit<Spec.ConvertImageOptions, never>>>();
assertTrue<Equals<api.ConvertImageOptions['onProgress'], ((percent: number) => void) | undefined>>();
assertTrue<Equals<api.SnapshotCreateOptions, Spec.SnapshotCreateOptions>>();
assertTrue<Equals<api.StorageErrorInfo, Spec.StorageErrorInfo>>();
assertTrue<Equals<api.SpiceImageCompression, Spec.SpiceImageCompression>>();
assertTrue<Equals<api.SpiceWanCompression, Spec.SpiceWanCompression>>();
assertTrue<Equals<api.SpiceStreamingMode, Spec.SpiceStreamingMode>>();
assertTrue<Equals<api.SpicePlaybackCompression, Spec.SpicePlaybackCompression>>();
assertTrue<Equals<Omit<api.SpiceConfigOptions, 'passwordSecretFile'>, Omit<Spec.SpiceConfigOptions, never>>>();
assertTrue<Equals<api.SpiceConfigOptions['passwordSecretFile'], (string) | undefined>>();
assertTrue<Equals<Omit<api.VncConfigOptions, 'passwordSecretFile'>, Omit<Spec.VncConfigOptions, never>>>();
assertTrue<Equals<api.VncConfigOptions['passwordSecretFile'], (string) | undefined>>();
assertTrue<Equals<api.ValidationError, Spec.ValidationError>>();
assertTrue<Equals<api.DisplayValidationResult, Spec.DisplayValidationResult>>();
assertTrue<Equals<api.DisplayCommandArgs, Spec.DisplayCommandArgs>>();
assertTrue<Equals<api.MachineRecord, Spec.MachineRecord>>();
assertTrue<Equals<api.MachineConfigurationRecord, Spec.MachineConfigurationRecord>>();
assertTrue<Equals<api.RunningVMRecord, Spec.RunningVMRecord>>();
assertTrue<Equals<api.DatabaseAdapter, Spec.DatabaseAdapter>>();
assertTrue<Equals<api.DBVMStatus, Spec.DBVMStatus>>();
assertTrue<Equals<api.StatusMapping, Spec.StatusMapping>>();
assertTrue<Equals<api.SyncResult, Spec.SyncResult>>();
assertTrue<Equals<api.SyncError, Spec.SyncError>>();
assertTrue<Equals<Omit<api.HealthMonitorConfig, 'tapManager' | 'nftables' | 'cgroups' | 'cleanupRetryBaseMs'>, Omit<Spec.HealthMonitorConfig, never>>>();
assertTrue<Equals<api.HealthMonitorConfig['tapManager'], (api.NetworkCleanupTargets['tapManager']) | undefined>>();
assertTrue<Equals<api.HealthMonitorConfig['nftables'], (api.NetworkCleanupTargets['nftables']) | undefined>>();
assertTrue<Equals<api.HealthMonitorConfig['cgroups'], (api.NetworkCleanupTargets['cgroups']) | undefined>>();
assertTrue<Equals<api.HealthMonitorConfig['cleanupRetryBaseMs'], (number) | undefined>>();
assertTrue<Equals<api.HealthCheckResult, Spec.HealthCheckResult>>();
assertTrue<Equals<api.HealthCheckSummary, Spec.HealthCheckSummary>>();
assertTrue<Equals<Omit<api.CrashEvent, 'reason'>, Omit<Spec.CrashEvent, never>>>();
assertTrue<Equals<api.CrashEvent['reason'], (api.TransitionReason) | undefined>>();
assertTrue<Equals<Omit<api.EventHandlerConfig, 'tapManager' | 'nftables' | 'cgroups' | 'exitWaitMs'>, Omit<Spec.EventHandlerConfig, never>>>();
assertTrue<Equals<api.EventHandlerConfig['tapManager'], (api.NetworkCleanupTargets['tapManager']) | undefined>>();
assertTrue<Equals<api.EventHandlerConfig['nftables'], (api.NetworkCleanupTargets['nftables']) | undefined>>();
assertTrue<Equals<api.EventHandlerConfig['cgroups'], (api.NetworkCleanupTargets['cgroups']) | undefined>>();
assertTrue<Equals<api.EventHandlerConfig['exitWaitMs'], (number) | undefined>>();
assertTrue<Equals<Omit<api.VMEventData, 'reason'>, Omit<Spec.VMEventData, never>>>();
assertTrue<Equals<api.VMEventData['reason'], (api.TransitionReason) | undefined>>();
assertTrue<Equals<api.CleanupResourceState, Spec.CleanupResourceState>>();
assertTrue<Equals<api.CleanupResult, Spec.CleanupResult>>();
assertTrue<Equals<api.CleanupAlertEvent, Spec.CleanupAlertEvent>>();
assertTrue<Equals<api.MachineConfigUpdate, Spec.MachineConfigUpdate>>();
assertTrue<Equals<api.DepartmentRecord, Spec.DepartmentRecord>>();
assertTrue<Equals<api.FirewallRuleSetRecord, Spec.FirewallRuleSetRecord>>();
assertTrue<Equals<api.FirewallRuleRecord, Spec.FirewallRuleRecord>>();
assertTrue<Equals<api.ExtendedMachineConfigurationRecord, Spec.ExtendedMachineConfigurationRecord>>();
assertTrue<Equals<api.VMConfigRecord, Spec.VMConfigRecord>>();
assertTrue<Equals<api.DisplayProtocol, Spec.DisplayProtocol>>();
assertTrue<Equals<Omit<api.DiskConfig, 'backingFile'>, Omit<Spec.DiskConfig, never>>>();
assertTrue<Equals<api.DiskConfig['backingFile'], (string) | undefined>>();
assertTrue<Equals<api.VMCreateConfig, Spec.VMCreateConfig>>();
assertTrue<Equals<api.VMCreateResult, Spec.VMCreateResult>>();
assertTrue<Equals<api.VMStartConfig, Spec.VMStartConfig>>();
assertTrue<Equals<api.VMStopConfig, Spec.VMStopConfig>>();
assertTrue<Equals<api.VMOperationResult, Spec.VMOperationResult>>();
assertTrue<Equals<Omit<api.VMStatusResult, 'monitorResponsive' | 'agentResponsive' | 'guestIpAddresses'>, Omit<Spec.VMStatusResult, never>>>();
assertTrue<Equals<api.VMStatusResult['monitorResponsive'], (boolean) | undefined>>();
assertTrue<Equals<api.VMStatusResult['agentResponsive'], (boolean) | undefined>>();
assertTrue<Equals<api.VMStatusResult['guestIpAddresses'], (string[]) | undefined>>();
assertTrue<Equals<Omit<api.InfinivirtConfig, 'prismaClient' | 'strictDisplaySecurity' | 'databaseUrl' | 'sqlitePath' | 'extraArgs' | 'firewallPersistenceDir' | 'firewallStrictRules' | 'qemuBinary' | 'unattended'>, Omit<Spec.InfinivirtConfig, 'prismaClient'>>>();
assertTrue<Equals<api.InfinivirtConfig['prismaClient'], (unknown) | undefined>>();
assertTrue<Equals<api.InfinivirtConfig['strictDisplaySecurity'], (boolean) | undefined>>();
assertTrue<Equals<api.InfinivirtConfig['databaseUrl'], (string) | undefined>>();
assertTrue<Equals<api.InfinivirtConfig['sqlitePath'], (string) | undefined>>();
assertTrue<Equals<api.InfinivirtConfig['extraArgs'], (string[]) | undefined>>();
assertTrue<Equals<api.InfinivirtConfig['firewallPersistenceDir'], (string) | undefined>>();
assertTrue<Equals<api.InfinivirtConfig['firewallStrictRules'], (boolean) | undefined>>();
assertTrue<Equals<api.InfinivirtConfig['qemuBinary'], (string) | undefined>>();
assertTrue<Equals<api.InfinivirtConfig['unattended'], (api.UnattendedInstallerOptions) | undefined>>();
assertTrue<Equals<api.EventManagerLike, Spec.EventManagerLike>>();
assertTrue<Equals<api.ActiveVMResources, Spec.ActiveVMResources>>();
assertTrue<Equals<api.VMStatus, Spec.VMStatus>>();
assertTrue<Equals<api.VMInfo, Spec.VMInfo>>();
assertTrue<Equals<api.VMResourceConfig, Spec.VMResourceConfig>>();
assertTrue<Equals<api.VMNetworkInfo, Spec.VMNetworkInfo>>();
assertTrue<Equals<api.VMDisplayInfo, Spec.VMDisplayInfo>>();
assertTrue<Equals<api.VMHardwareConfig, Spec.VMHardwareConfig>>();
assertTrue<Equals<api.VMOperationHistory, Spec.VMOperationHistory>>();
assertTrue<Equals<api.VMDisplayType, Spec.VMDisplayType>>();
assertTrue<Equals<api.NetworkModel, Spec.NetworkModel>>();
assertTrue<Equals<api.StorageFormat, Spec.StorageFormat>>();
assertTrue<Equals<api.DisplayConfig, Spec.DisplayConfig>>();
assertTrue<Equals<api.NetworkConfig, Spec.NetworkConfig>>();
assertTrue<Equals<api.FirewallConfig, Spec.FirewallConfig>>();
assertTrue<Equals<api.StorageConfig, Spec.StorageConfig>>();
assertTrue<Equals<api.QemuConfig, Spec.QemuConfig>>();
assertTrue<Equals<api.QemuMachineConfig, Spec.QemuMachineConfig>>();
assertTrue<Equals<api.QemuCpuConfig, Spec.QemuCpuConfig>>();
assertTrue<Equals<api.QemuMemoryConfig, Spec.QemuMemoryConfig>>();
assertTrue<Equals<api.QemuBootConfig, Spec.QemuBootConfig>>();
assertTrue<Equals<api.QemuProcessConfig, Spec.QemuProcessConfig>>();
assertTrue<Equals<api.VMCompleteConfig, Spec.VMCompleteConfig>>();
assertTrue<Equals<api.VMIdentityConfig, Spec.VMIdentityConfig>>();
assertTrue<Equals<api.VMResourcesConfig, Spec.VMResourcesConfig>>();
assertTrue<Equals<api.VMHardwarePassthroughConfig, Spec.VMHardwarePassthroughConfig>>();
assertTrue<Equals<api.USBDeviceConfig, Spec.USBDeviceConfig>>();
assertTrue<Equals<api.PCIDeviceConfig, Spec.PCIDeviceConfig>>();
assertTrue<Equals<api.ConfigValidationResult, Spec.ConfigValidationResult>>();
assertTrue<Equals<api.ConfigValidationError, Spec.ConfigValidationError>>();
assertTrue<Equals<api.ConfigValidationWarning, Spec.ConfigValidationWarning>>();
assertTrue<Equals<api.OSType, Spec.OSType>>();
assertTrue<Equals<api.InstallationPhase, Spec.InstallationPhase>>();
assertTrue<Equals<api.InstallCommandType, Spec.InstallCommandType>>();
assertTrue<Equals<api.UnattendedApplication, Spec.UnattendedApplication>>();
assertTrue<Equals<api.ScriptShell, Spec.ScriptShell>>();
assertTrue<Equals<api.UnattendedScript, Spec.UnattendedScript>>();
assertTrue<Equals<api.ScriptExecutionConfig, Spec.ScriptExecutionConfig>>();
assertTrue<Equals<api.UnattendedInstallConfig, Spec.UnattendedInstallConfig>>();
assertTrue<Equals<Omit<api.MonitorConfig, 'minInstallTime' | 'expectedReboots' | 'ejectAfterResets' | 'ejectDevice' | 'screenshotPath'>, Omit<Spec.MonitorConfig, never>>>();
assertTrue<Equals<api.MonitorConfig['minInstallTime'], (number) | undefined>>();
assertTrue<Equals<api.MonitorConfig['expectedReboots'], (number) | undefined>>();
assertTrue<Equals<api.MonitorConfig['ejectAfterResets'], (number) | undefined>>();
assertTrue<Equals<api.MonitorConfig['ejectDevice'], (string) | undefined>>();
assertTrue<Equals<api.MonitorConfig['screenshotPath'], (string) | undefined>>();
assertTrue<Equals<api.InstallationProgress, Spec.InstallationProgress>>();
assertTrue<Equals<Omit<api.InstallationResult, 'error' | 'resetCount' | 'screenshotPath'>, Omit<Spec.InstallationResult, 'error'>>>();
assertTrue<Equals<api.InstallationResult['error'], (api.InstallationError) | undefined>>();
assertTrue<Equals<api.InstallationResult['resetCount'], (number) | undefined>>();
assertTrue<Equals<api.InstallationResult['screenshotPath'], (string) | undefined>>();
assertTrue<Equals<Omit<api.UnattendedInstallerOptions, 'monitorConfig' | 'outputDir' | 'workDir' | 'scriptsDir' | 'xorrisoPath'>, Omit<Spec.UnattendedInstallerOptions, 'monitorConfig'>>>();
assertTrue<Equals<api.UnattendedInstallerOptions['monitorConfig'], (Partial<api.MonitorConfig>) | undefined>>();
assertTrue<Equals<api.UnattendedInstallerOptions['outputDir'], (string) | undefined>>();
assertTrue<Equals<api.UnattendedInstallerOptions['workDir'], (string) | undefined>>();
assertTrue<Equals<api.UnattendedInstallerOptions['scriptsDir'], (string) | undefined>>();
assertTrue<Equals<api.UnattendedInstallerOptions['xorrisoPath'], (string) | undefined>>();

// constants and functions
assertTrue<Equals<typeof api.PCI_ADDRESS_REGEX, typeof Spec.PCI_ADDRESS_REGEX>>();
assertTrue<Equals<typeof api.validatePciAddress, typeof Spec.validatePciAddress>>();
assertTrue<Equals<typeof api.normalizePciAddress, typeof Spec.normalizePciAddress>>();
assertTrue<Equals<typeof api.QEMU_MAC_PREFIX, typeof Spec.QEMU_MAC_PREFIX>>();
assertTrue<Equals<typeof api.MAX_TAP_NAME_LENGTH, typeof Spec.MAX_TAP_NAME_LENGTH>>();
assertTrue<Equals<typeof api.TAP_NAME_PREFIX, typeof Spec.TAP_NAME_PREFIX>>();
assertTrue<Equals<typeof api.INFINIVIRT_TABLE_NAME, typeof Spec.INFINIVIRT_TABLE_NAME>>();
assertTrue<Equals<typeof api.INFINIVIRT_TABLE_FAMILY, typeof Spec.INFINIVIRT_TABLE_FAMILY>>();
assertTrue<Equals<typeof api.DEFAULT_CHAIN_PRIORITY, typeof Spec.DEFAULT_CHAIN_PRIORITY>>();
assertTrue<Equals<typeof api.NFTABLES_COMMENT_PREFIX, typeof Spec.NFTABLES_COMMENT_PREFIX>>();
assertTrue<Equals<typeof api.SUPPORTED_PROTOCOLS, typeof Spec.SUPPORTED_PROTOCOLS>>();
assertTrue<Equals<typeof api.CONNECTION_STATES, typeof Spec.CONNECTION_STATES>>();
assertTrue<Equals<typeof api.MAX_CHAIN_NAME_LENGTH, typeof Spec.MAX_CHAIN_NAME_LENGTH>>();
assertTrue<Equals<typeof api.VM_CHAIN_PREFIX, typeof Spec.VM_CHAIN_PREFIX>>();
assertTrue<Equals<typeof api.generateVMChainName, typeof Spec.generateVMChainName>>();
assertTrue<Equals<typeof api.SUPPORTED_IMAGE_FORMATS, typeof Spec.SUPPORTED_IMAGE_FORMATS>>();
assertTrue<Equals<typeof api.DEFAULT_CLUSTER_SIZE, typeof Spec.DEFAULT_CLUSTER_SIZE>>();
assertTrue<Equals<typeof api.MAX_SNAPSHOT_NAME_LENGTH, typeof Spec.MAX_SNAPSHOT_NAME_LENGTH>>();
assertTrue<Equals<typeof api.isValidImageFormat, typeof Spec.isValidImageFormat>>();
assertTrue<Equals<typeof api.VNC_BASE_PORT, typeof Spec.VNC_BASE_PORT>>();
assertTrue<Equals<typeof api.VNC_MAX_PASSWORD_LENGTH, typeof Spec.VNC_MAX_PASSWORD_LENGTH>>();
assertTrue<Equals<typeof api.SPICE_MIN_PORT, typeof Spec.SPICE_MIN_PORT>>();
assertTrue<Equals<typeof api.SPICE_MAX_PORT, typeof Spec.SPICE_MAX_PORT>>();
assertTrue<Equals<typeof api.DEFAULT_SPICE_ADDR, typeof Spec.DEFAULT_SPICE_ADDR>>();
assertTrue<Equals<typeof api.DEFAULT_VNC_ADDR, typeof Spec.DEFAULT_VNC_ADDR>>();
assertTrue<Equals<typeof api.DEFAULT_HEALTH_CHECK_INTERVAL, typeof Spec.DEFAULT_HEALTH_CHECK_INTERVAL>>();
assertTrue<Equals<typeof api.DEFAULT_SYNC_TIMEOUT, typeof Spec.DEFAULT_SYNC_TIMEOUT>>();
assertTrue<Equals<typeof api.MAX_SYNC_RETRIES, typeof Spec.MAX_SYNC_RETRIES>>();
assertTrue<Equals<typeof api.isValidDBStatus, typeof Spec.isValidDBStatus>>();
assertTrue<Equals<typeof api.isValidQMPStatus, typeof Spec.isValidQMPStatus>>();
assertTrue<Equals<typeof api.isPrismaAdapterError, typeof Spec.isPrismaAdapterError>>();
assertTrue<Equals<typeof api.DEFAULT_DISK_PATH_PREFIX, typeof Spec.DEFAULT_DISK_PATH_PREFIX>>();
assertTrue<Equals<typeof api.DEFAULT_QMP_SOCKET_PATH_PREFIX, typeof Spec.DEFAULT_QMP_SOCKET_PATH_PREFIX>>();
assertTrue<Equals<typeof api.DEFAULT_DISK_FORMAT, typeof Spec.DEFAULT_DISK_FORMAT>>();
assertTrue<Equals<typeof api.DEFAULT_DISK_EXTENSION, typeof Spec.DEFAULT_DISK_EXTENSION>>();
assertTrue<Equals<typeof api.isLifecycleError, typeof Spec.isLifecycleError>>();
assertTrue<Equals<typeof api.createLifecycleError, typeof Spec.createLifecycleError>>();
assertTrue<Equals<typeof api.DEFAULT_STOP_TIMEOUT, typeof Spec.DEFAULT_STOP_TIMEOUT>>();
assertTrue<Equals<typeof api.DEFAULT_BOOT_TIMEOUT, typeof Spec.DEFAULT_BOOT_TIMEOUT>>();
assertTrue<Equals<typeof api.DEFAULT_QMP_CONNECT_TIMEOUT, typeof Spec.DEFAULT_QMP_CONNECT_TIMEOUT>>();
assertTrue<Equals<typeof api.DEFAULT_QMP_SOCKET_DIR, typeof Spec.DEFAULT_QMP_SOCKET_DIR>>();
assertTrue<Equals<typeof api.DEFAULT_DISK_DIR, typeof Spec.DEFAULT_DISK_DIR>>();
assertTrue<Equals<typeof api.DEFAULT_PIDFILE_DIR, typeof Spec.DEFAULT_PIDFILE_DIR>>();
assertTrue<Equals<typeof api.DEFAULT_NETWORK_MODEL, typeof Spec.DEFAULT_NETWORK_MODEL>>();
assertTrue<Equals<typeof api.DEFAULT_DISK_BUS, typeof Spec.DEFAULT_DISK_BUS>>();
assertTrue<Equals<typeof api.DEFAULT_DISK_CACHE, typeof Spec.DEFAULT_DISK_CACHE>>();
assertTrue<Equals<typeof api.RESTART_DELAY_MS, typeof Spec.RESTART_DELAY_MS>>();
assertTrue<Equals<typeof api.PROCESS_EXIT_POLL_INTERVAL, typeof Spec.PROCESS_EXIT_POLL_INTERVAL>>();
assertTrue<Equals<typeof api.RUNTIME_DISK_SIZE_PLACEHOLDER_GB, typeof Spec.RUNTIME_DISK_SIZE_PLACEHOLDER_GB>>();
assertTrue<Equals<typeof api.isValidVMStatus, typeof Spec.isValidVMStatus>>();
assertTrue<Equals<typeof api.isValidVMOperation, typeof Spec.isValidVMOperation>>();
assertTrue<Equals<typeof api.isValidVMInfo, typeof Spec.isValidVMInfo>>();
assertTrue<Equals<typeof api.DEFAULT_VM_CPU_CORES, typeof Spec.DEFAULT_VM_CPU_CORES>>();
assertTrue<Equals<typeof api.DEFAULT_VM_RAM_GB, typeof Spec.DEFAULT_VM_RAM_GB>>();
assertTrue<Equals<typeof api.DEFAULT_VM_DISK_SIZE_GB, typeof Spec.DEFAULT_VM_DISK_SIZE_GB>>();
assertTrue<Equals<typeof api.MIN_VM_CPU_CORES, typeof Spec.MIN_VM_CPU_CORES>>();
assertTrue<Equals<typeof api.MAX_VM_CPU_CORES, typeof Spec.MAX_VM_CPU_CORES>>();
assertTrue<Equals<typeof api.MIN_VM_RAM_GB, typeof Spec.MIN_VM_RAM_GB>>();
assertTrue<Equals<typeof api.MAX_VM_RAM_GB, typeof Spec.MAX_VM_RAM_GB>>();
assertTrue<Equals<typeof api.MIN_VM_DISK_SIZE_GB, typeof Spec.MIN_VM_DISK_SIZE_GB>>();
assertTrue<Equals<typeof api.MAX_VM_DISK_SIZE_GB, typeof Spec.MAX_VM_DISK_SIZE_GB>>();
assertTrue<Equals<typeof api.ConfigDefaults, typeof Spec.ConfigDefaults>>();
assertTrue<Equals<typeof api.isValidDisplayConfig, typeof Spec.isValidDisplayConfig>>();
assertTrue<Equals<typeof api.isValidNetworkConfig, typeof Spec.isValidNetworkConfig>>();
assertTrue<Equals<typeof api.isValidStorageConfig, typeof Spec.isValidStorageConfig>>();
assertTrue<Equals<typeof api.isValidVMCompleteConfig, typeof Spec.isValidVMCompleteConfig>>();
assertTrue<Equals<typeof api.isValidGpuPassthroughConfig, typeof Spec.isValidGpuPassthroughConfig>>();
assertTrue<Equals<typeof api.DEFAULT_INSTALLATION_TIMEOUT, typeof Spec.DEFAULT_INSTALLATION_TIMEOUT>>();
assertTrue<Equals<typeof api.CDROM_DEVICE_NAME, typeof Spec.CDROM_DEVICE_NAME>>();
assertTrue<Equals<typeof api.ISO_BOOT_ORDER, typeof Spec.ISO_BOOT_ORDER>>();
assertTrue<Equals<typeof api.DEFAULT_MAX_RESETS, typeof Spec.DEFAULT_MAX_RESETS>>();
assertTrue<Equals<typeof api.DEFAULT_CHECK_INTERVAL, typeof Spec.DEFAULT_CHECK_INTERVAL>>();
assertTrue<Equals<typeof api.DEFAULT_LOCALE, typeof Spec.DEFAULT_LOCALE>>();
assertTrue<Equals<typeof api.DEFAULT_TIMEZONE, typeof Spec.DEFAULT_TIMEZONE>>();
assertTrue<Equals<typeof api.isValidOSType, typeof Spec.isValidOSType>>();
assertTrue<Equals<typeof api.isValidInstallationPhase, typeof Spec.isValidInstallationPhase>>();
assertTrue<Equals<typeof api.isValidInstallConfig, typeof Spec.isValidInstallConfig>>();
assertTrue<Equals<typeof api.isUnattendedError, typeof Spec.isUnattendedError>>();
assertTrue<Equals<typeof api.createUnattendedError, typeof Spec.createUnattendedError>>();

// enum NetworkDeviceState
assertTrue<Equals<keyof typeof api.NetworkDeviceState, 'UP' | 'DOWN' | 'UNKNOWN'>>();
assertTrue<Equals<`${api.NetworkDeviceState}`, 'up' | 'down' | 'unknown'>>();
assertTrue<Equals<`${api.NetworkDeviceState.UP}`, 'up'>>();
assertTrue<Equals<`${api.NetworkDeviceState.DOWN}`, 'down'>>();
assertTrue<Equals<`${api.NetworkDeviceState.UNKNOWN}`, 'unknown'>>();
// enum NetworkErrorCode
assertTrue<Equals<keyof typeof api.NetworkErrorCode, 'DEVICE_NOT_FOUND' | 'DEVICE_ALREADY_EXISTS' | 'BRIDGE_NOT_FOUND' | 'BRIDGE_ALREADY_EXISTS' | 'COMMAND_FAILED' | 'INVALID_MAC_ADDRESS' | 'PERMISSION_DENIED' | 'INVALID_INTERFACE_NAME' | 'INVALID_IP_ADDRESS' | 'INVALID_ARGUMENT'>>();
assertTrue<Equals<`${api.NetworkErrorCode}`, 'DEVICE_NOT_FOUND' | 'DEVICE_ALREADY_EXISTS' | 'BRIDGE_NOT_FOUND' | 'BRIDGE_ALREADY_EXISTS' | 'COMMAND_FAILED' | 'INVALID_MAC_ADDRESS' | 'PERMISSION_DENIED' | 'INVALID_INTERFACE_NAME' | 'INVALID_IP_ADDRESS' | 'INVALID_ARGUMENT'>>();
assertTrue<Equals<`${api.NetworkErrorCode.DEVICE_NOT_FOUND}`, 'DEVICE_NOT_FOUND'>>();
assertTrue<Equals<`${api.NetworkErrorCode.DEVICE_ALREADY_EXISTS}`, 'DEVICE_ALREADY_EXISTS'>>();
assertTrue<Equals<`${api.NetworkErrorCode.BRIDGE_NOT_FOUND}`, 'BRIDGE_NOT_FOUND'>>();
assertTrue<Equals<`${api.NetworkErrorCode.BRIDGE_ALREADY_EXISTS}`, 'BRIDGE_ALREADY_EXISTS'>>();
assertTrue<Equals<`${api.NetworkErrorCode.COMMAND_FAILED}`, 'COMMAND_FAILED'>>();
assertTrue<Equals<`${api.NetworkErrorCode.INVALID_MAC_ADDRESS}`, 'INVALID_MAC_ADDRESS'>>();
assertTrue<Equals<`${api.NetworkErrorCode.PERMISSION_DENIED}`, 'PERMISSION_DENIED'>>();
assertTrue<Equals<`${api.NetworkErrorCode.INVALID_INTERFACE_NAME}`, 'INVALID_INTERFACE_NAME'>>();
assertTrue<Equals<`${api.NetworkErrorCode.INVALID_IP_ADDRESS}`, 'INVALID_IP_ADDRESS'>>();
assertTrue<Equals<`${api.NetworkErrorCode.INVALID_ARGUMENT}`, 'INVALID_ARGUMENT'>>();
// enum NftablesFamily
assertTrue<Equals<keyof typeof api.NftablesFamily, 'BRIDGE' | 'INET' | 'IP' | 'IP6'>>();
assertTrue<Equals<`${api.NftablesFamily}`, 'bridge' | 'inet' | 'ip' | 'ip6'>>();
assertTrue<Equals<`${api.NftablesFamily.BRIDGE}`, 'bridge'>>();
assertTrue<Equals<`${api.NftablesFamily.INET}`, 'inet'>>();
assertTrue<Equals<`${api.NftablesFamily.IP}`, 'ip'>>();
assertTrue<Equals<`${api.NftablesFamily.IP6}`, 'ip6'>>();
// enum NftablesHookType
assertTrue<Equals<keyof typeof api.NftablesHookType, 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING'>>();
assertTrue<Equals<`${api.NftablesHookType}`, 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting'>>();
assertTrue<Equals<`${api.NftablesHookType.PREROUTING}`, 'prerouting'>>();
assertTrue<Equals<`${api.NftablesHookType.INPUT}`, 'input'>>();
assertTrue<Equals<`${api.NftablesHookType.FORWARD}`, 'forward'>>();
assertTrue<Equals<`${api.NftablesHookType.OUTPUT}`, 'output'>>();
assertTrue<Equals<`${api.NftablesHookType.POSTROUTING}`, 'postrouting'>>();
// enum NftablesChainPolicy
assertTrue<Equals<keyof typeof api.NftablesChainPolicy, 'ACCEPT' | 'DROP'>>();
assertTrue<Equals<`${api.NftablesChainPolicy}`, 'accept' | 'drop'>>();
assertTrue<Equals<`${api.NftablesChainPolicy.ACCEPT}`, 'accept'>>();
assertTrue<Equals<`${api.NftablesChainPolicy.DROP}`, 'drop'>>();
// enum NftablesErrorCode
assertTrue<Equals<keyof typeof api.NftablesErrorCode, 'TABLE_NOT_FOUND' | 'TABLE_EXISTS' | 'CHAIN_NOT_FOUND' | 'CHAIN_EXISTS' | 'RULE_INVALID' | 'COMMAND_FAILED' | 'PERMISSION_DENIED' | 'INVALID_IP_ADDRESS' | 'INVALID_SUBNET_MASK' | 'INVALID_PORT_RANGE' | 'UNSUPPORTED_PROTOCOL'>>();
assertTrue<Equals<`${api.NftablesErrorCode}`, 'TABLE_NOT_FOUND' | 'TABLE_EXISTS' | 'CHAIN_NOT_FOUND' | 'CHAIN_EXISTS' | 'RULE_INVALID' | 'COMMAND_FAILED' | 'PERMISSION_DENIED' | 'INVALID_IP_ADDRESS' | 'INVALID_SUBNET_MASK' | 'INVALID_PORT_RANGE' | 'UNSUPPORTED_PROTOCOL'>>();
assertTrue<Equals<`${api.NftablesErrorCode.TABLE_NOT_FOUND}`, 'TABLE_NOT_FOUND'>>();
assertTrue<Equals<`${api.NftablesErrorCode.TABLE_EXISTS}`, 'TABLE_EXISTS'>>();
assertTrue<Equals<`${api.NftablesErrorCode.CHAIN_NOT_FOUND}`, 'CHAIN_NOT_FOUND'>>();
assertTrue<Equals<`${api.NftablesErrorCode.CHAIN_EXISTS}`, 'CHAIN_EXISTS'>>();
assertTrue<Equals<`${api.NftablesErrorCode.RULE_INVALID}`, 'RULE_INVALID'>>();
assertTrue<Equals<`${api.NftablesErrorCode.COMMAND_FAILED}`, 'COMMAND_FAILED'>>();
assertTrue<Equals<`${api.NftablesErrorCode.PERMISSION_DENIED}`, 'PERMISSION_DENIED'>>();
assertTrue<Equals<`${api.NftablesErrorCode.INVALID_IP_ADDRESS}`, 'INVALID_IP_ADDRESS'>>();
assertTrue<Equals<`${api.NftablesErrorCode.INVALID_SUBNET_MASK}`, 'INVALID_SUBNET_MASK'>>();
assertTrue<Equals<`${api.NftablesErrorCode.INVALID_PORT_RANGE}`, 'INVALID_PORT_RANGE'>>();
assertTrue<Equals<`${api.NftablesErrorCode.UNSUPPORTED_PROTOCOL}`, 'UNSUPPORTED_PROTOCOL'>>();
// enum StorageErrorCode
assertTrue<Equals<keyof typeof api.StorageErrorCode, 'IMAGE_NOT_FOUND' | 'IMAGE_ALREADY_EXISTS' | 'SNAPSHOT_NOT_FOUND' | 'SNAPSHOT_ALREADY_EXISTS' | 'INVALID_FORMAT' | 'INVALID_SIZE' | 'IMAGE_IN_USE' | 'PERMISSION_DENIED' | 'COMMAND_FAILED' | 'PARSE_ERROR' | 'INVALID_SNAPSHOT_NAME' | 'INVALID_BACKING_FILE'>>();
assertTrue<Equals<`${api.StorageErrorCode}`, 'IMAGE_NOT_FOUND' | 'IMAGE_ALREADY_EXISTS' | 'SNAPSHOT_NOT_FOUND' | 'SNAPSHOT_ALREADY_EXISTS' | 'INVALID_FORMAT' | 'INVALID_SIZE' | 'IMAGE_IN_USE' | 'PERMISSION_DENIED' | 'COMMAND_FAILED' | 'PARSE_ERROR' | 'INVALID_SNAPSHOT_NAME' | 'INVALID_BACKING_FILE'>>();
assertTrue<Equals<`${api.StorageErrorCode.IMAGE_NOT_FOUND}`, 'IMAGE_NOT_FOUND'>>();
assertTrue<Equals<`${api.StorageErrorCode.IMAGE_ALREADY_EXISTS}`, 'IMAGE_ALREADY_EXISTS'>>();
assertTrue<Equals<`${api.StorageErrorCode.SNAPSHOT_NOT_FOUND}`, 'SNAPSHOT_NOT_FOUND'>>();
assertTrue<Equals<`${api.StorageErrorCode.SNAPSHOT_ALREADY_EXISTS}`, 'SNAPSHOT_ALREADY_EXISTS'>>();
assertTrue<Equals<`${api.StorageErrorCode.INVALID_FORMAT}`, 'INVALID_FORMAT'>>();
assertTrue<Equals<`${api.StorageErrorCode.INVALID_SIZE}`, 'INVALID_SIZE'>>();
assertTrue<Equals<`${api.StorageErrorCode.IMAGE_IN_USE}`, 'IMAGE_IN_USE'>>();
assertTrue<Equals<`${api.StorageErrorCode.PERMISSION_DENIED}`, 'PERMISSION_DENIED'>>();
assertTrue<Equals<`${api.StorageErrorCode.COMMAND_FAILED}`, 'COMMAND_FAILED'>>();
assertTrue<Equals<`${api.StorageErrorCode.PARSE_ERROR}`, 'PARSE_ERROR'>>();
assertTrue<Equals<`${api.StorageErrorCode.INVALID_SNAPSHOT_NAME}`, 'INVALID_SNAPSHOT_NAME'>>();
assertTrue<Equals<`${api.StorageErrorCode.INVALID_BACKING_FILE}`, 'INVALID_BACKING_FILE'>>();
// enum DisplayErrorCode
assertTrue<Equals<keyof typeof api.DisplayErrorCode, 'INVALID_PORT' | 'INVALID_PASSWORD' | 'INVALID_ADDRESS' | 'INVALID_DISPLAY_NUMBER' | 'PASSWORD_TOO_LONG' | 'PORT_OUT_OF_RANGE' | 'CONFLICTING_OPTIONS' | 'INVALID_COMPRESSION_MODE' | 'INVALID_STREAMING_MODE' | 'INVALID_GL_CONFIG' | 'RENDERNODE_NOT_FOUND'>>();
assertTrue<Equals<`${api.DisplayErrorCode}`, 'INVALID_PORT' | 'INVALID_PASSWORD' | 'INVALID_ADDRESS' | 'INVALID_DISPLAY_NUMBER' | 'PASSWORD_TOO_LONG' | 'PORT_OUT_OF_RANGE' | 'CONFLICTING_OPTIONS' | 'INVALID_COMPRESSION_MODE' | 'INVALID_STREAMING_MODE' | 'INVALID_GL_CONFIG' | 'RENDERNODE_NOT_FOUND'>>();
assertTrue<Equals<`${api.DisplayErrorCode.INVALID_PORT}`, 'INVALID_PORT'>>();
assertTrue<Equals<`${api.DisplayErrorCode.INVALID_PASSWORD}`, 'INVALID_PASSWORD'>>();
assertTrue<Equals<`${api.DisplayErrorCode.INVALID_ADDRESS}`, 'INVALID_ADDRESS'>>();
assertTrue<Equals<`${api.DisplayErrorCode.INVALID_DISPLAY_NUMBER}`, 'INVALID_DISPLAY_NUMBER'>>();
assertTrue<Equals<`${api.DisplayErrorCode.PASSWORD_TOO_LONG}`, 'PASSWORD_TOO_LONG'>>();
assertTrue<Equals<`${api.DisplayErrorCode.PORT_OUT_OF_RANGE}`, 'PORT_OUT_OF_RANGE'>>();
assertTrue<Equals<`${api.DisplayErrorCode.CONFLICTING_OPTIONS}`, 'CONFLICTING_OPTIONS'>>();
assertTrue<Equals<`${api.DisplayErrorCode.INVALID_COMPRESSION_MODE}`, 'INVALID_COMPRESSION_MODE'>>();
assertTrue<Equals<`${api.DisplayErrorCode.INVALID_STREAMING_MODE}`, 'INVALID_STREAMING_MODE'>>();
assertTrue<Equals<`${api.DisplayErrorCode.INVALID_GL_CONFIG}`, 'INVALID_GL_CONFIG'>>();
assertTrue<Equals<`${api.DisplayErrorCode.RENDERNODE_NOT_FOUND}`, 'RENDERNODE_NOT_FOUND'>>();
// enum SyncErrorCode
assertTrue<Equals<keyof typeof api.SyncErrorCode, 'QMP_UNAVAILABLE' | 'DB_ERROR' | 'VM_NOT_FOUND' | 'INVALID_STATUS'>>();
assertTrue<Equals<`${api.SyncErrorCode}`, 'QMP_UNAVAILABLE' | 'DB_ERROR' | 'VM_NOT_FOUND' | 'INVALID_STATUS'>>();
assertTrue<Equals<`${api.SyncErrorCode.QMP_UNAVAILABLE}`, 'QMP_UNAVAILABLE'>>();
assertTrue<Equals<`${api.SyncErrorCode.DB_ERROR}`, 'DB_ERROR'>>();
assertTrue<Equals<`${api.SyncErrorCode.VM_NOT_FOUND}`, 'VM_NOT_FOUND'>>();
assertTrue<Equals<`${api.SyncErrorCode.INVALID_STATUS}`, 'INVALID_STATUS'>>();
// enum CleanupResourceType
assertTrue<Equals<`${api.CleanupResourceType}`, 'TAP_DEVICE' | 'FIREWALL_CHAIN' | 'QMP_SOCKET' | 'PIDFILE' | 'DB_CONFIGURATION'>>();
assertTrue<Equals<`${api.CleanupResourceType.TAP_DEVICE}`, 'TAP_DEVICE'>>();
assertTrue<Equals<`${api.CleanupResourceType.FIREWALL_CHAIN}`, 'FIREWALL_CHAIN'>>();
assertTrue<Equals<`${api.CleanupResourceType.QMP_SOCKET}`, 'QMP_SOCKET'>>();
assertTrue<Equals<`${api.CleanupResourceType.PIDFILE}`, 'PIDFILE'>>();
assertTrue<Equals<`${api.CleanupResourceType.DB_CONFIGURATION}`, 'DB_CONFIGURATION'>>();
// enum CleanupStatus
assertTrue<Equals<`${api.CleanupStatus}`, 'PENDING' | 'SUCCESS' | 'FAILED' | 'RETRYING'>>();
assertTrue<Equals<`${api.CleanupStatus.PENDING}`, 'PENDING'>>();
assertTrue<Equals<`${api.CleanupStatus.SUCCESS}`, 'SUCCESS'>>();
assertTrue<Equals<`${api.CleanupStatus.FAILED}`, 'FAILED'>>();
assertTrue<Equals<`${api.CleanupStatus.RETRYING}`, 'RETRYING'>>();
// enum PrismaAdapterErrorCode
assertTrue<Equals<keyof typeof api.PrismaAdapterErrorCode, 'MACHINE_NOT_FOUND' | 'DB_CONNECTION_ERROR' | 'UPDATE_FAILED' | 'QUERY_FAILED' | 'INVALID_INPUT' | 'CONSTRAINT_VIOLATION' | 'VERSION_CONFLICT'>>();
assertTrue<Equals<`${api.PrismaAdapterErrorCode}`, 'MACHINE_NOT_FOUND' | 'DB_CONNECTION_ERROR' | 'UPDATE_FAILED' | 'QUERY_FAILED' | 'INVALID_INPUT' | 'CONSTRAINT_VIOLATION' | 'VERSION_CONFLICT'>>();
assertTrue<Equals<`${api.PrismaAdapterErrorCode.MACHINE_NOT_FOUND}`, 'MACHINE_NOT_FOUND'>>();
assertTrue<Equals<`${api.PrismaAdapterErrorCode.DB_CONNECTION_ERROR}`, 'DB_CONNECTION_ERROR'>>();
assertTrue<Equals<`${api.PrismaAdapterErrorCode.UPDATE_FAILED}`, 'UPDATE_FAILED'>>();
assertTrue<Equals<`${api.PrismaAdapterErrorCode.QUERY_FAILED}`, 'QUERY_FAILED'>>();
assertTrue<Equals<`${api.PrismaAdapterErrorCode.INVALID_INPUT}`, 'INVALID_INPUT'>>();
assertTrue<Equals<`${api.PrismaAdapterErrorCode.CONSTRAINT_VIOLATION}`, 'CONSTRAINT_VIOLATION'>>();
assertTrue<Equals<`${api.PrismaAdapterErrorCode.VERSION_CONFLICT}`, 'VERSION_CONFLICT'>>();
// enum LifecycleErrorCode
assertTrue<Equals<keyof typeof api.LifecycleErrorCode, 'VM_NOT_FOUND' | 'ALREADY_RUNNING' | 'ALREADY_STOPPED' | 'CREATE_FAILED' | 'START_FAILED' | 'STOP_FAILED' | 'CLEANUP_FAILED' | 'TIMEOUT' | 'QMP_ERROR' | 'DISK_ERROR' | 'NETWORK_ERROR' | 'FIREWALL_ERROR' | 'INVALID_CONFIG' | 'PROCESS_ERROR' | 'DATABASE_ERROR' | 'INVALID_STATE' | 'CONCURRENT_MODIFICATION' | 'RESOURCE_UNAVAILABLE'>>();
assertTrue<Equals<`${api.LifecycleErrorCode}`, 'VM_NOT_FOUND' | 'ALREADY_RUNNING' | 'ALREADY_STOPPED' | 'CREATE_FAILED' | 'START_FAILED' | 'STOP_FAILED' | 'CLEANUP_FAILED' | 'TIMEOUT' | 'QMP_ERROR' | 'DISK_ERROR' | 'NETWORK_ERROR' | 'FIREWALL_ERROR' | 'INVALID_CONFIG' | 'PROCESS_ERROR' | 'DATABASE_ERROR' | 'INVALID_STATE' | 'CONCURRENT_MODIFICATION' | 'RESOURCE_UNAVAILABLE'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.VM_NOT_FOUND}`, 'VM_NOT_FOUND'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.ALREADY_RUNNING}`, 'ALREADY_RUNNING'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.ALREADY_STOPPED}`, 'ALREADY_STOPPED'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.CREATE_FAILED}`, 'CREATE_FAILED'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.START_FAILED}`, 'START_FAILED'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.STOP_FAILED}`, 'STOP_FAILED'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.CLEANUP_FAILED}`, 'CLEANUP_FAILED'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.TIMEOUT}`, 'TIMEOUT'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.QMP_ERROR}`, 'QMP_ERROR'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.DISK_ERROR}`, 'DISK_ERROR'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.NETWORK_ERROR}`, 'NETWORK_ERROR'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.FIREWALL_ERROR}`, 'FIREWALL_ERROR'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.INVALID_CONFIG}`, 'INVALID_CONFIG'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.PROCESS_ERROR}`, 'PROCESS_ERROR'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.DATABASE_ERROR}`, 'DATABASE_ERROR'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.INVALID_STATE}`, 'INVALID_STATE'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.CONCURRENT_MODIFICATION}`, 'CONCURRENT_MODIFICATION'>>();
assertTrue<Equals<`${api.LifecycleErrorCode.RESOURCE_UNAVAILABLE}`, 'RESOURCE_UNAVAILABLE'>>();
// enum VMOperation
assertTrue<Equals<keyof typeof api.VMOperation, 'CREATE' | 'START' | 'STOP' | 'RESTART' | 'SUSPEND' | 'RESUME' | 'RESET' | 'DELETE'>>();
assertTrue<Equals<`${api.VMOperation}`, 'CREATE' | 'START' | 'STOP' | 'RESTART' | 'SUSPEND' | 'RESUME' | 'RESET' | 'DELETE'>>();
assertTrue<Equals<`${api.VMOperation.CREATE}`, 'CREATE'>>();
assertTrue<Equals<`${api.VMOperation.START}`, 'START'>>();
assertTrue<Equals<`${api.VMOperation.STOP}`, 'STOP'>>();
assertTrue<Equals<`${api.VMOperation.RESTART}`, 'RESTART'>>();
assertTrue<Equals<`${api.VMOperation.SUSPEND}`, 'SUSPEND'>>();
assertTrue<Equals<`${api.VMOperation.RESUME}`, 'RESUME'>>();
assertTrue<Equals<`${api.VMOperation.RESET}`, 'RESET'>>();
assertTrue<Equals<`${api.VMOperation.DELETE}`, 'DELETE'>>();
// enum VMOperationStatus
assertTrue<Equals<keyof typeof api.VMOperationStatus, 'PENDING' | 'IN_PROGRESS' | 'SUCCESS' | 'FAILED' | 'TIMEOUT'>>();
assertTrue<Equals<`${api.VMOperationStatus}`, 'PENDING' | 'IN_PROGRESS' | 'SUCCESS' | 'FAILED' | 'TIMEOUT'>>();
assertTrue<Equals<`${api.VMOperationStatus.PENDING}`, 'PENDING'>>();
assertTrue<Equals<`${api.VMOperationStatus.IN_PROGRESS}`, 'IN_PROGRESS'>>();
assertTrue<Equals<`${api.VMOperationStatus.SUCCESS}`, 'SUCCESS'>>();
assertTrue<Equals<`${api.VMOperationStatus.FAILED}`, 'FAILED'>>();
assertTrue<Equals<`${api.VMOperationStatus.TIMEOUT}`, 'TIMEOUT'>>();
// enum UnattendedErrorCode
assertTrue<Equals<keyof typeof api.UnattendedErrorCode, 'INVALID_CONFIG' | 'ISO_GENERATION_FAILED' | 'MOUNT_FAILED' | 'INSTALLATION_TIMEOUT' | 'INSTALLATION_RESET_LIMIT_EXCEEDED' | 'INSTALLATION_FAILED' | 'CLEANUP_FAILED' | 'UNSUPPORTED_OS' | 'MANAGER_NOT_FOUND' | 'QMP_ERROR' | 'MONITORING_ERROR'>>();
assertTrue<Equals<`${api.UnattendedErrorCode}`, 'INVALID_CONFIG' | 'ISO_GENERATION_FAILED' | 'MOUNT_FAILED' | 'INSTALLATION_TIMEOUT' | 'INSTALLATION_RESET_LIMIT_EXCEEDED' | 'INSTALLATION_FAILED' | 'CLEANUP_FAILED' | 'UNSUPPORTED_OS' | 'MANAGER_NOT_FOUND' | 'QMP_ERROR' | 'MONITORING_ERROR'>>();
assertTrue<Equals<`${api.UnattendedErrorCode.INVALID_CONFIG}`, 'INVALID_CONFIG'>>();
assertTrue<Equals<`${api.UnattendedErrorCode.ISO_GENERATION_FAILED}`, 'ISO_GENERATION_FAILED'>>();
assertTrue<Equals<`${api.UnattendedErrorCode.MOUNT_FAILED}`, 'MOUNT_FAILED'>>();
assertTrue<Equals<`${api.UnattendedErrorCode.INSTALLATION_TIMEOUT}`, 'INSTALLATION_TIMEOUT'>>();
assertTrue<Equals<`${api.UnattendedErrorCode.INSTALLATION_RESET_LIMIT_EXCEEDED}`, 'INSTALLATION_RESET_LIMIT_EXCEEDED'>>();
assertTrue<Equals<`${api.UnattendedErrorCode.INSTALLATION_FAILED}`, 'INSTALLATION_FAILED'>>();
assertTrue<Equals<`${api.UnattendedErrorCode.CLEANUP_FAILED}`, 'CLEANUP_FAILED'>>();
assertTrue<Equals<`${api.UnattendedErrorCode.UNSUPPORTED_OS}`, 'UNSUPPORTED_OS'>>();
assertTrue<Equals<`${api.UnattendedErrorCode.MANAGER_NOT_FOUND}`, 'MANAGER_NOT_FOUND'>>();
assertTrue<Equals<`${api.UnattendedErrorCode.QMP_ERROR}`, 'QMP_ERROR'>>();
assertTrue<Equals<`${api.UnattendedErrorCode.MONITORING_ERROR}`, 'MONITORING_ERROR'>>();
