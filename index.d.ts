// Public typings of @infinibay/infinivirt (hand-written; the runtime is a
// napi-rs native core behind a small JS facade).
//
// Layout follows the export order of the original `index.ts`: classes first,
// then the `types/*` modules. Types that the public signatures reference but
// that the package does not export at runtime are declared next to their users
// (interfaces are exported as types; the two enums and `NftablesPersistence`
// are exported with `export type`, because no runtime value exists for them).

import { EventEmitter } from 'events';

/**
 * Infinivirt addition (type only; at run time every emitter class extends Node's
 * `EventEmitter`): the emitter methods of a class checked against its event map, so a
 * misspelled event name or a wrong payload field fails to compile. `Events` maps each
 * event name to its listener's arguments (`QMPClientEvents`, `EventHandlerEvents`,
 * `HealthMonitorEvents`, `InstallationMonitorEvents`, `QemuProcessEvents`).
 */
declare class TypedEventEmitter<Events extends { [K in keyof Events]: unknown[] }> extends EventEmitter {
  on<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this;
  once<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this;
  off<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this;
  addListener<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this;
  removeListener<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this;
  prependListener<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this;
  prependOnceListener<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this;
  emit<K extends keyof Events & string>(event: K, ...args: Events[K]): boolean;
}
export type { TypedEventEmitter };

// ===========================================================================
// core/QemuCommandBuilder
// ===========================================================================

/** Result of `QemuCommandBuilder.buildCommand()`: binary plus argv. */
export interface QemuCommand {
  command: string;
  args: string[];
}

/** Result of `buildCommandWithPinning()`: the QEMU command plus an optional numactl wrapper. */
export interface QemuCommandWithPinning extends QemuCommand {
  /** `'numactl'` when pinning applies, otherwise `null`. */
  wrapperCommand: string | null;
  wrapperArgs: string[];
  pinningApplied: boolean;
  pinnedCores: number[];
  numaNodes: number[];
}

/** Fluent builder of a `qemu-system-x86_64` argv; every mutator appends and returns `this`. */
export declare class QemuCommandBuilder {
  constructor();
  setBinary(binary: string): this;
  getBinary(): string;
  isDaemonizeEnabled(): boolean;
  getPidfilePath(): string | null;
  /**
   * Infinivirt addition. When strict, a SPICE/VNC console without a password on a
   * non-loopback address is refused with `DisplayError(INVALID_PASSWORD)` instead of
   * only logging a warning. The default comes from env `INFINIVIRT_STRICT_DISPLAY=1`.
   */
  setStrictDisplaySecurity(strict: boolean): this;
  /** Infinivirt addition: whether strict display security is on for this builder. */
  isStrictDisplaySecurity(): boolean;
  enableKvm(): this;
  setMachine(type: MachineType, options?: MachineOptions): this;
  setCpu(model: string, cores?: number, threads?: number, sockets?: number): this;
  setMemory(sizeGB: number): this;
  addDisks(disks: DiskOptions[]): this;
  /** Appends one `-drive`; its `index=` continues the count of disks added so far. */
  addDisk(disk: DiskOptions): this;
  addNetwork(options: NetworkOptions): this;
  /** SPICE console from a validated `SpiceConfig` or a plain options object; `qxlMemoryMB` defaults to 16. */
  addSpice(options: SpiceOptions | SpiceConfig, qxlMemoryMB?: number): this;
  addVnc(options: VncOptions | VncConfig): this;
  addQmp(socketPath: string): this;
  addCdrom(isoPath: string): this;
  addGpuPassthrough(pciBus: string, romfile?: string): this;
  addGpuWithAudio(gpuBus: string, audioBus: string, romfile?: string): this;
  addPciPassthrough(pciBus: string, romfile?: string): this;
  addMemoryBalloon(): this;
  enableHugepages(): this;
  setFirmware(firmwarePath: string): this;
  setUefiVars(varsPath: string): this;
  setBootOrder(devices: BootDevice[]): this;
  addTPM(socketPath: string): this;
  addVirtioChannel(channelName: string, socketPath: string, chardevId: string): this;
  addGuestAgentChannel(socketPath: string): this;
  addInfiniServiceChannel(socketPath: string): this;
  addSecondCdrom(isoPath: string): this;
  addAudioDevice(): this;
  addUsbTablet(): this;
  addUsbKeyboard(): this;
  setProcessOptions(options: QemuProcessOptions): this;
  addRawArg(arg: string): this;
  enableCpuPinning(strategy: PinningStrategy, vcpuCount: number): this;
  isCpuPinningEnabled(): boolean;
  getCpuPinningStrategy(): PinningStrategy;
  buildCommand(): QemuCommand;
  buildCommandWithPinning(): Promise<QemuCommandWithPinning>;
  /** Copy of the argv built so far. */
  build(): string[];
}

// ===========================================================================
// core/QemuProcess
// ===========================================================================

/** Spawns, stops and kills one QEMU process and tracks its PID. */
/**
 * One QEMU process. Emits `'exit'` with `{ vmId, pid }` the moment the adopted QEMU
 * exits (an Infinivirt addition; the event never keeps Node alive on its own).
 */
/** Events of `QemuProcess` (Infinivirt addition). */
export interface QemuProcessEvents {
  exit: [info: { vmId: string; pid: number }];
}

export declare class QemuProcess extends TypedEventEmitter<QemuProcessEvents> {
  constructor(vmId: string, commandBuilder: QemuCommandBuilder);
  setQmpSocketPath(path: string): void;
  setPidFilePath(path: string): void;
  start(): Promise<void>;
  /** SIGTERM, then SIGKILL after `timeoutMs` (default 30000). */
  stop(timeoutMs?: number): Promise<void>;
  forceKill(): Promise<void>;
  isAlive(): boolean;
  getPid(): number | null;
  isCpuPinningApplied(): boolean;
  getPinnedCores(): number[];
  getNumaNodes(): number[];
  /** Re-adopts a running QEMU from the pidfile after a manager restart; false when none of ours runs. */
  attach(): Promise<boolean>;
  /** Resolves when the adopted QEMU has exited (immediately if none). */
  waitForExit(): Promise<void>;
}

// ===========================================================================
// core/QMPClient
// ===========================================================================

/**
 * QMP client over a Unix socket. Emits every QMP event under its own name
 * (`(data, timestamp)`), then `'event'` (full message); also `'disconnect'`,
 * `'reconnect'` and `'reconnect_failed'`.
 */
export declare class QMPClient extends TypedEventEmitter<QMPClientEvents> {
  constructor(socketPath: string, options?: QMPClientOptions);
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  isConnected(): boolean;
  getGreeting(): QMPGreeting | null;
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
  queryStatus(): Promise<QMPStatusInfo>;
  powerdown(): Promise<void>;
  reset(): Promise<void>;
  /** Pauses the guest (QMP `stop`). */
  stop(): Promise<void>;
  /** Resumes the guest (QMP `cont`). */
  cont(): Promise<void>;
  quit(options?: { ignoreErrors?: boolean }): Promise<void>;
  eject(device: string, force?: boolean): Promise<void>;
  queryCpus(): Promise<QMPCpuInfo[]>;
  queryBlock(): Promise<QMPBlockInfo[]>;
  /** Sets the balloon target, in bytes. */
  balloon(value: number): Promise<void>;
  queryBalloon(): Promise<QMPBalloonInfo>;
  // Infinivirt additions.
  queryVnc(): Promise<QMPVncInfo>;
  querySpice(): Promise<QMPSpiceInfo>;
  queryMemorySizeSummary(): Promise<QMPMemorySizeInfo>;
  /** Writes a PNG screenshot of the primary display to `filename` (on the QEMU host). */
  screendump(filename: string, options?: { device?: string; head?: number }): Promise<void>;
  /** Sets a SPICE/VNC console password over QMP (never on a command line). */
  setPassword(protocol: 'spice' | 'vnc', password: string, options?: { connected?: 'keep' | 'disconnect' | 'fail' }): Promise<void>;
  /** Inserts `filename` into removable drive `device` (QMP `blockdev-change-medium`, by qdev id). */
  blockdevChangeMedium(device: string, filename: string, format?: string): Promise<void>;
  /** HMP passthrough: returns the monitor's text output. */
  humanMonitorCommand(commandLine: string): Promise<string>;
  /** Internal snapshot of a running VM's drive. */
  blockdevSnapshotInternalSync(device: string, name: string): Promise<void>;
  blockdevSnapshotDeleteInternalSync(device: string, name: string): Promise<void>;
  /** Live resize of a drive, `size` in bytes. */
  blockResize(device: string, size: number): Promise<void>;
}

// ===========================================================================
// core/GuestAgentClient (API-next §1; Infinivirt additions marked)
// ===========================================================================

export interface GuestAgentClientOptions {
  /** Dialling plus the first `guest-sync-delimited`, in ms (default 5000). */
  connectTimeout?: number;
  /** Default deadline of one command, in ms (default 30000). */
  commandTimeout?: number;
  /** Infinivirt addition: most bytes kept of each of `guestExec`'s stdout and stderr (default 16 MiB). */
  maxOutputBytes?: number;
}

/** Codes of the errors a guest agent call rejects with (`err.code`; Infinivirt addition). */
export type GuestAgentErrorCode =
  | 'AGENT_NOT_CONNECTED'
  | 'AGENT_CONNECT_FAILED'
  | 'AGENT_NOT_RUNNING'
  | 'AGENT_TIMEOUT'
  | 'AGENT_COMMAND_FAILED'
  | 'AGENT_COMMAND_DISABLED'
  | 'AGENT_COMMAND_NOT_FOUND'
  | 'AGENT_INVALID_REPLY'
  | 'AGENT_REPLY_TOO_LARGE'
  | 'AGENT_CONNECTION_CLOSED'
  | 'AGENT_INVALID_ARGUMENT'
  | 'AGENT_FILE_TOO_LARGE'
  | 'AGENT_NOT_CONFIGURED';

export interface GuestExecOptions {
  /** Overall deadline in ms (default: the client's commandTimeout). The process keeps running in the guest after it. */
  timeout?: number;
  /** Accepted and ignored: the agent has no working-directory parameter. */
  cwd?: string;
}

export interface GuestExecResult {
  stdout: string;
  stderr: string;
  /** -1 when the process was killed by a signal. */
  exitCode: number;
  /** Infinivirt addition: the signal that ended the process, if any. */
  signal?: number;
  /** Infinivirt addition: set when stdout was cut (agent cap of 16 MiB or maxOutputBytes). */
  stdoutTruncated?: boolean;
  stderrTruncated?: boolean;
}

export interface GuestExecRawResult extends Omit<GuestExecResult, 'stdout' | 'stderr'> {
  stdout: Buffer;
  stderr: Buffer;
}

/** One entry of `guest-network-get-interfaces`. */
export interface GuestNetworkInterface {
  name: string;
  'hardware-address'?: string;
  'ip-addresses'?: Array<{ 'ip-address-type': 'ipv4' | 'ipv6'; 'ip-address': string; prefix: number }>;
  statistics?: Record<string, number>;
}

export interface GuestAgentInfo {
  version: string;
  supported_commands: Array<{ name: string; enabled: boolean; 'success-response': boolean }>;
}

/**
 * QEMU guest agent client over the host side of a VM's `org.qemu.guest_agent.0` channel.
 * Clients of one socket share one connection; the stream is resynchronised with
 * `guest-sync-delimited` on connect and after any timeout, so a late reply never answers
 * a new request. Errors carry a `code` (GuestAgentErrorCode).
 */
export declare class GuestAgentClient {
  constructor(socketPath: string, options?: GuestAgentClientOptions);
  readonly socketPath: string;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  isConnected(): boolean;
  /** `options.timeout` (ms) is an Infinivirt addition. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options?: { timeout?: number }): Promise<T>;
  /** Output decoded as UTF-8 (the original decoded latin1). */
  guestExec(command: string, args?: string[], options?: GuestExecOptions): Promise<GuestExecResult>;
  guestExecRaw(command: string, args?: string[], options?: { timeout?: number }): Promise<GuestExecRawResult>;
  /** Number of filesystems frozen. A timeout does not undo a freeze in progress: always thaw. */
  fsFreeze(): Promise<number>;
  fsThaw(): Promise<number>;
  // Infinivirt additions.
  ping(options?: { timeout?: number }): Promise<void>;
  info(): Promise<GuestAgentInfo>;
  getOsInfo(): Promise<Record<string, string>>;
  getHostName(): Promise<string>;
  getNetworkInterfaces(options?: { timeout?: number }): Promise<GuestNetworkInterface[]>;
  getFsInfo(): Promise<Array<Record<string, unknown>>>;
  fsFreezeStatus(): Promise<'thawed' | 'frozen'>;
  /** `guest-shutdown`; resolves once the agent took it (default mode 'powerdown'). */
  shutdown(mode?: 'powerdown' | 'reboot' | 'halt', options?: { timeout?: number }): Promise<void>;
  /** The password is never logged nor echoed in errors. */
  setUserPassword(username: string, password: string, options?: { crypted?: boolean }): Promise<void>;
  /** The whole guest file; larger than `maxBytes` (default 16 MiB) rejects AGENT_FILE_TOO_LARGE. */
  fileRead(path: string, options?: { maxBytes?: number }): Promise<Buffer>;
  /** Creates or truncates the guest file; resolves the bytes written. */
  fileWrite(path: string, data: Buffer | string, options?: { maxBytes?: number }): Promise<number>;
}

/**
 * What a quiesced live snapshot needs of a guest agent (API-next §2.4); a connected
 * GuestAgentClient is one.
 */
export interface GuestQuiesce {
  fsFreeze(): Promise<number>;
  fsThaw(): Promise<number>;
  isConnected?(): boolean;
  connect?(): Promise<void>;
  disconnect?(): Promise<void>;
}

/** Options of `SnapshotManager.createLiveSnapshot` (Infinivirt additions). */
export interface LiveSnapshotOptions {
  /**
   * Freeze the guest's filesystems around the snapshot: the host path of the VM's
   * guest agent socket (an own client, sharing any open connection to it), or a
   * GuestQuiesce object (its calls get the same deadlines and thaw guarantee).
   */
  quiesce?: string | GuestQuiesce;
  /** Bound of the freeze in ms (default 10000, at most 120000); reaching the agent has its own 5 s. */
  freezeTimeoutMs?: number;
  /**
   * true: no frozen guest, no snapshot (an AGENT_* error). false (default): a guest
   * that cannot be frozen gets an unquiesced snapshot, a logged warning and `quiesced: false`.
   */
  quiesceRequired?: boolean;
}

export interface LiveSnapshotResult {
  /** The snapshot was taken with the guest's filesystems frozen. */
  quiesced: boolean;
  /** How many filesystems the agent froze (when quiesced). */
  frozenFilesystems?: number;
}

// ===========================================================================
// core/VMLifecycle
// ===========================================================================

/** Orchestrates create/start/stop/destroy/suspend/resume/reset/status of one VM at a time. */
/** The spec's three directories plus Infinivirt additions. */
export interface VMLifecycleOptions {
  diskDir?: string;
  qmpSocketDir?: string;
  pidfileDir?: string;
  /** Infinivirt addition: the QEMU binary (default `qemu-system-x86_64`). */
  qemuBinary?: string;
  /** Infinivirt addition: where the firewall ruleset is persisted. */
  firewallPersistenceDir?: string;
  /** Infinivirt addition: all-or-nothing firewall rules (see `NftablesServiceConfig.strictRules`). */
  firewallStrictRules?: boolean;
  /** Infinivirt addition, test-only: raw QEMU arguments appended to every VM's command. */
  extraArgs?: string[];
  /** Infinivirt addition: options of the UnattendedInstaller used for `unattendedInstall` (media directory, monitor rule). */
  unattended?: UnattendedInstallerOptions;
}

export declare class VMLifecycle {
  constructor(
    prisma: PrismaAdapter,
    eventHandler: EventHandler,
    eventManager?: EventManagerLike,
    options?: VMLifecycleOptions,
  );
  create(config: VMCreateConfig): Promise<VMCreateResult>;
  /** `_config` is accepted and ignored. */
  start(vmId: string, _config?: VMStartConfig): Promise<VMOperationResult>;
  stop(vmId: string, config?: VMStopConfig): Promise<VMOperationResult>;
  destroyResources(vmId: string): Promise<VMOperationResult>;
  restart(vmId: string): Promise<VMOperationResult>;
  suspend(vmId: string): Promise<VMOperationResult>;
  resume(vmId: string): Promise<VMOperationResult>;
  reset(vmId: string): Promise<VMOperationResult>;
  getStatus(vmId: string): Promise<VMStatusResult>;
}

// ===========================================================================
// core/Infinivirt
// ===========================================================================

/** Top-level VM manager: owns the DB adapter, event handler, health monitor and nftables service. */
export declare class Infinivirt {
  constructor(config: InfinivirtConfig);
  initialize(): Promise<void>;
  shutdown(): Promise<void>;
  isInitialized(): boolean;
  createVM(config: VMCreateConfig): Promise<VMCreateResult>;
  startVM(vmId: string, config?: VMStartConfig): Promise<VMOperationResult>;
  stopVM(vmId: string, config?: VMStopConfig): Promise<VMOperationResult>;
  destroyVM(vmId: string): Promise<VMOperationResult>;
  restartVM(vmId: string): Promise<VMOperationResult>;
  suspendVM(vmId: string): Promise<VMOperationResult>;
  resumeVM(vmId: string): Promise<VMOperationResult>;
  resetVM(vmId: string): Promise<VMOperationResult>;
  getVMStatus(vmId: string): Promise<VMStatusResult>;
  getActiveVMs(): string[];
  getHealthMonitor(): HealthMonitor;
  getEventHandler(): EventHandler;
  attachToRunningVM(vmId: string, qmpSocketPath: string): Promise<void>;
  getPrismaAdapter(): PrismaAdapter;
  getNftablesService(): NftablesService;
  /** `force` defaults to true. */
  ejectCdrom(vmId: string, device: string, force?: boolean): Promise<void>;
  queryBlockDevices(vmId: string): Promise<QMPBlockInfo[]>;
  /**
   * API-next §1.6: runs a program in the guest through its agent (one shared connection
   * per VM). `guestAgentSocketPath` may be null/undefined to use the VM's stored one.
   */
  guestExec(vmId: string, guestAgentSocketPath: string | null | undefined, command: string, args?: string[], options?: GuestExecOptions): Promise<GuestExecResult>;
  /**
   * Infinivirt addition, as libvirt's: `jsonCommand` is `{"execute": …, "arguments"?: …}`,
   * the result the agent's `{"return": …}` as JSON text. `timeoutSeconds` -1/-2/absent: default (30 s).
   */
  qemuAgentCommand(vmId: string, jsonCommand: string, timeoutSeconds?: number): Promise<string>;
}

// ===========================================================================
// cpu/CpuPinningAdapter
// ===========================================================================

/** `'basic'` spreads vCPUs over NUMA nodes proportionally, `'hybrid'` picks a seeded random set. */
export type PinningStrategy = 'basic' | 'hybrid' | 'none';

/** Host NUMA topology: node id -> CPU ids. */
export interface NumaTopology {
  nodes: Map<number, number[]>;
  totalCpus: number;
  isNumaSystem: boolean;
}

/** Result of `CpuPinningAdapter.generatePinningCommand()`. */
export interface CpuPinningResult {
  /** `'numactl'` when pinning applies, otherwise `null`. */
  wrapperCommand: string | null;
  wrapperArgs: string[];
  originalCommand: string;
  originalArgs: string[];
  pinningApplied: boolean;
  pinnedCores: number[];
  numaNodes: number[];
  /** Seed used by the hybrid strategy. */
  hybridSeed?: number;
}

/** Options of `generatePinningCommand()` (not exported at runtime by the original). */
export interface CpuPinningOptions {
  seed?: number;
}

/** Computes a numactl `--physcpubind/--membind` wrapper from the host NUMA topology. */
export declare class CpuPinningAdapter {
  constructor();
  generatePinningCommand(
    vcpuCount: number,
    strategy: PinningStrategy,
    originalCommand: string,
    originalArgs: string[],
    options?: CpuPinningOptions,
  ): Promise<CpuPinningResult>;
  generateNumactlArgs(cores: number[], nodes: number[]): string[];
  getNumaTopology(): Promise<NumaTopology>;
  isNumactlAvailable(): Promise<boolean>;
  validateCores(cores: number[]): Promise<void>;
  clearCache(): void;
}

// ===========================================================================
// network/*
// ===========================================================================

/**
 * Persistent TAP devices for VMs, made and configured through netlink and the TUN
 * ioctls (no `ip`/`ethtool` processes). Each TAP this process creates or attaches
 * is claimed for its VM until `destroy` or `detachFromBridge`; the orphan sweep
 * never removes a claimed TAP or one a QEMU holds open.
 */
export declare class TapDeviceManager {
  /**
   * Infinivirt addition: `orphanGraceMs` (default 30000) is how long a TAP this
   * process has not claimed must look orphaned, unchanged, before
   * `cleanupOrphanedTapDevices` removes it; `sweepOnCreate` (default false) runs
   * that sweep at the start of every `create`, as 5b14fc8 did.
   */
  constructor(options?: { orphanGraceMs?: number; sweepOnCreate?: boolean });
  /**
   * Creates the TAP (`vnet-` + 10 alphanumerics of `vmId`) and resolves its name.
   * Rejects with `DEVICE_ALREADY_EXISTS` naming both VMs when the name belongs to
   * another VM, or when a running QEMU holds it. `bridge` is only logged.
   * Infinivirt addition: `options.queues` (an integer 0–256, default 1) is the queue
   * count QEMU will open the TAP with (`addNetwork`'s `queues`); above 1 the TAP is
   * made multi-queue, as the kernel requires for QEMU's `queues=N` (and refuses for
   * a single queue). Anything else rejects with `INVALID_ARGUMENT`.
   */
  create(vmId: string, bridge?: string, options?: { queues?: number }): Promise<string>;
  /** Up, TX/RX checksum offload off (a warning if the device refuses), and a port of `bridge`. */
  configure(tapName: string, bridge?: string): Promise<void>;
  /** Deletes the TAP; a missing one is fine. Refuses devices that are not tun/tap. */
  destroy(tapName: string): Promise<void>;
  /** Never rejects. */
  bringDown(tapName: string): Promise<void>;
  /** `nomaster` and down, keeping the device; releases the claim. Never rejects. */
  detachFromBridge(tapName: string): Promise<void>;
  /**
   * Up and a port of `bridge`; claims the TAP. Infinivirt addition: with `vmId`,
   * rejects when the TAP carries another VM's owner tag.
   */
  attachToBridge(tapName: string, bridge: string, vmId?: string): Promise<void>;
  exists(tapName: string): Promise<boolean>;
  /** True when the device has carrier (a QEMU holds it open), in any admin state. Never rejects. */
  hasCarrier(tapName: string): Promise<boolean>;
  /** Names of the `vnet-*` tun/tap devices. Never rejects. */
  listAllTapDevices(): Promise<string[]>;
  /** A persistent tun/tap without carrier that this process has not claimed. Never rejects. */
  isOrphaned(tapName: string): Promise<boolean>;
  /**
   * Removes `vnet-*` TAPs that are persistent, carrier-less, unclaimed and have
   * looked so for `orphanGraceMs`. Never rejects.
   */
  cleanupOrphanedTapDevices(): Promise<{ total: number; cleaned: number; failed: number }>;
  /** One line describing the device (any kind), in `ip -d link` words, or `'Error: ' + message`. Never rejects. */
  getDeviceState(tapName: string): Promise<string>;
}

/** Linux bridges, their ports and IPv4 addresses, through netlink. */
export declare class BridgeManager {
  constructor();
  exists(name: string): Promise<boolean>;
  /** Rejects `Bridge <name> already exists` (`BRIDGE_ALREADY_EXISTS`) when the name is taken. */
  create(name: string): Promise<void>;
  /** A missing bridge is fine; a device that is not a bridge is refused. */
  destroy(name: string): Promise<void>;
  addInterface(bridge: string, iface: string): Promise<void>;
  removeInterface(bridge: string, iface: string): Promise<void>;
  listInterfaces(bridge: string): Promise<string[]>;
  /** `ipWithCidr` is `a.b.c.d/n`; already assigned is fine. */
  assignIP(bridge: string, ipWithCidr: string): Promise<void>;
  removeIP(bridge: string, ipWithCidr: string): Promise<void>;
  getIPs(bridge: string): Promise<string[]>;
}

/** Static helpers for `52:54:00` QEMU MAC addresses. */
export declare class MacAddressGenerator {
  static generate(): MacAddress;
  static generateFromVmId(vmId: string): MacAddress;
  static validate(mac: string): boolean;
  static isQemuMac(mac: string): boolean;
}

/** Options of `new NftablesService(config?)` (not exported at runtime by the original). */
export interface NftablesServiceConfig {
  /** Default true: the tables are saved after each change. */
  enablePersistence?: boolean;
  /** Infinivirt addition: where the persistence files live. Default `/etc/infinivirt/nftables`. */
  persistenceDir?: string;
  /** Infinivirt addition: keep `infinivirt.nft.bak` (default true). */
  createBackup?: boolean;
  /** Infinivirt addition: take `.lock` while writing (default true). */
  useLocking?: boolean;
  /**
   * Infinivirt addition: what a VM's chain does with traffic no rule decided.
   * `'accept'` (default, the spec's behaviour: the base chain's accept policy applies)
   * or `'drop'` (every VM chain ends with a rule dropping all but ARP, and a new
   * chain holds that rule from the start, so a VM is never open).
   */
  defaultPolicy?: 'accept' | 'drop';
  /**
   * Infinivirt addition: `applyRules` all or nothing — one invalid rule rejects the call
   * with that rule's error and nothing changes. Default `false` (the spec's behaviour:
   * the rule is left out and reported in `failures`, the others are applied), or `true`
   * when the environment variable `INFINIVIRT_FIREWALL_STRICT` is `1`/`true`.
   */
  strictRules?: boolean;
}

/** How a rule was adapted to the kernel (Infinivirt addition; see `getCapabilities`). */
export interface FirewallFallback {
  ruleName: string;
  /** `'ct state'`, `'reject'` or `'default rule'`. */
  feature: string;
  /** `'mark'` (state from the inet conntrack via mark bits), `'inet'` (rejected by the inet table) or `'omitted'`. */
  mode: string;
}

/** What the kernel's nftables can do, probed once per process (Infinivirt addition). */
export interface FirewallCapabilities {
  bridgeConntrack: boolean;
  bridgeReject: boolean;
  bridgeMetaIbrname: boolean;
  inetConntrack: boolean;
  inetReject: boolean;
  /** br_netfilter passes bridged IPv4 to the inet hooks (`net.bridge.bridge-nf-call-iptables` = 1). */
  brNetfilter: boolean;
  /** How connection states are matched: `'native'`, `'mark'` or `'unavailable'` (such rules are refused). */
  connectionStateMode: 'native' | 'mark' | 'unavailable';
  /** How REJECT is carried out: `'native'`, `'inet'` or `'unavailable'` (such rules are refused). */
  rejectMode: 'native' | 'inet' | 'unavailable';
  summary: string;
}

/** One difference between the kernel and the expected rules (Infinivirt addition). */
export interface FirewallDrift {
  /** `'missing-chain'`, `'missing-rule'`, `'unexpected-rule'`, `'dispatch'`, `'layout'` or `'no-expectation'`. */
  kind: string;
  /** 1-based position in the chain. */
  position?: number;
  chain: string;
  /** The expected rule, as nft text. */
  expected?: string;
  /** The kernel's rule, as nft text. */
  actual?: string;
  detail: string;
}

/** Result of `NftablesService.verifyVM` (Infinivirt addition). */
export interface FirewallVerifyResult {
  vmId: string;
  chainName: string;
  tapDeviceName?: string;
  /** `'arguments'` (the rules passed in), `'last-applied'` (this instance) or `'none'`. */
  expectedSource: 'arguments' | 'last-applied' | 'none';
  inSync: boolean;
  chainExists: boolean;
  expectedRules: number;
  kernelRules: number;
  drift: FirewallDrift[];
}

/** A packet for `NftablesService.explain` (Infinivirt addition). */
export interface FirewallPacket {
  /** `'tcp'`, `'udp'`, `'icmp'` or another IPv4 protocol name. */
  protocol: string;
  srcIp: string;
  dstIp: string;
  srcPort?: number;
  dstPort?: number;
  /** Seen from the VM: `'IN'` travels to it, `'OUT'` comes from it. */
  direction: 'IN' | 'OUT';
  /** The packet's connection state (default `'new'`). */
  state?: 'new' | 'established' | 'related' | 'invalid';
  /** The other bridge port when it is another VM's TAP (default: an uplink port). */
  peerInterface?: string;
}

/** One rule looked at by `explain` (Infinivirt addition). */
export interface FirewallStep {
  chain: string;
  position: number;
  handle: number;
  /** The rule as nft text. */
  rule: string;
  ruleName?: string;
  matched: boolean;
  /** Why it did not match, or what it did. */
  note: string;
}

/** Result of `NftablesService.explain` (Infinivirt addition). */
export interface FirewallExplanation {
  verdict: 'accept' | 'drop' | 'reject' | 'unknown';
  /** The deciding rule; absent when the base chain's policy decided. */
  decidedBy?: FirewallStep;
  reason: string;
  trace: FirewallStep[];
}

/** Options of the persistence helper (not exported at runtime by the original). */
export interface PersistenceConfig {
  /** Default `/etc/infinivirt/nftables`. */
  persistenceDir?: string;
  /** Default true. */
  createBackup?: boolean;
  /** Default true. */
  useLocking?: boolean;
}

/** Result of `NftablesPersistence.exportToDisk()`. */
export interface PersistenceResult {
  success: boolean;
  filePath: string;
  timestamp: Date;
  error?: string;
}

/** Result of `restoreFromDisk()` / `rollbackToBackup()`. */
export interface RestoreResult {
  success: boolean;
  rulesLoaded: boolean;
  timestamp: Date;
  error?: string;
}

/** Saves/restores the `bridge infinivirt` table to disk. Returned by `NftablesService.getPersistence()`; no runtime export. */
declare class NftablesPersistence {
  constructor(config?: PersistenceConfig);
  exportToDisk(): Promise<PersistenceResult>;
  restoreFromDisk(): Promise<RestoreResult>;
  hasPersistenceFile(): Promise<boolean>;
  removePersistenceFile(): Promise<boolean>;
  rollbackToBackup(): Promise<RestoreResult>;
  getStatus(): Promise<{
    persistenceDir: string;
    mainFileExists: boolean;
    backupFileExists: boolean;
    mainFileModified?: Date;
    tableExists: boolean;
  }>;
}
export type { NftablesPersistence };

/** Per-VM nftables chains in `table bridge infinivirt`. */
export declare class NftablesService {
  constructor(config?: NftablesServiceConfig);
  initialize(): Promise<void>;
  /** Resolves the chain name. */
  createVMChain(vmId: string, tapDeviceName: string): Promise<string>;
  applyRules(
    vmId: string,
    tapDeviceName: string,
    departmentRules: FirewallRuleInput[],
    vmRules: FirewallRuleInput[],
  ): Promise<FirewallApplyResult>;
  removeVMChain(vmId: string): Promise<void>;
  flushVMRules(vmId: string): Promise<void>;
  listChains(): Promise<string[]>;
  chainExists(chainName: string): Promise<boolean>;
  ensureVMChain(vmId: string): Promise<string>;
  attachJumpRules(vmId: string, tapDeviceName: string): Promise<void>;
  detachJumpRules(vmId: string): Promise<void>;
  applyRulesIfChanged(
    vmId: string,
    tapDeviceName: string,
    departmentRules: FirewallRuleInput[],
    vmRules: FirewallRuleInput[],
  ): Promise<{ changed: boolean; result?: FirewallApplyResult }>;
  clearRulesCache(vmId: string): void;
  getPersistence(): NftablesPersistence;
  forcePersist(): Promise<{ success: boolean; error?: string }>;
  /** Infinivirt addition: the probed kernel capabilities and the fallbacks in use. */
  getCapabilities(): Promise<FirewallCapabilities>;
  /**
   * Infinivirt addition: compares the kernel's chain, dispatch and layout with the
   * plan of the given rules, or (without `tapDeviceName`) with what this instance
   * last applied for the VM.
   */
  verifyVM(
    vmId: string,
    tapDeviceName?: string,
    departmentRules?: FirewallRuleInput[],
    vmRules?: FirewallRuleInput[],
  ): Promise<FirewallVerifyResult>;
  /** Infinivirt addition: which of the kernel's rules decides `packet` for the VM, and why. */
  explain(vmId: string, packet: FirewallPacket): Promise<FirewallExplanation>;
}

/** Static translation of firewall rules into nft rule tokens. */
export declare class FirewallRuleTranslator {
  static translateToTokens(rule: FirewallRuleInput, tapDeviceName: string): NftablesRuleTokens;
  static translateDirectionToTokens(direction: 'IN' | 'OUT', tapDeviceName: string): NftablesRuleTokens;
  static translateProtocolToTokens(protocol: 'tcp' | 'udp' | 'icmp' | 'all'): NftablesRuleTokens;
  static translatePortsToTokens(
    protocol: string,
    srcPortStart?: number,
    srcPortEnd?: number,
    dstPortStart?: number,
    dstPortEnd?: number,
  ): NftablesRuleTokens;
  static translateIpAddressesToTokens(
    srcIpAddr?: string,
    srcIpMask?: string,
    dstIpAddr?: string,
    dstIpMask?: string,
  ): NftablesRuleTokens;
  static translateConnectionStateToTokens(connectionState?: ConnectionStateConfig): NftablesRuleTokens;
  /** Lower-cased nft verdict. */
  static translateAction(action: 'ACCEPT' | 'DROP' | 'REJECT'): string;
  /** Throws an `Error` carrying an `NftablesErrorCode` in `code`. */
  static validateRule(rule: FirewallRuleInput): void;
  static isValidIpAddress(ip: string): boolean;
  static isValidCidr(cidr: string): boolean;
  static isValidSubnetMask(mask: string): boolean;
}

/** Department masquerade rules in `table ip infinibay_nat`. */
export declare class DepartmentNatService {
  constructor();
  initialize(): Promise<void>;
  addMasquerade(subnet: string, bridgeName: string): Promise<void>;
  removeMasquerade(bridgeName: string): Promise<void>;
  hasMasquerade(bridgeName: string): Promise<boolean>;
  /** Bridge names that have a masquerade rule. */
  listMasqueradeRules(): Promise<string[]>;
}

// ===========================================================================
// storage/*
// ===========================================================================

/** `qemu-img` create/info/resize/convert/check. Errors are `StorageError`s. */
export declare class QemuImgService {
  constructor();
  createImage(options: CreateImageOptions): Promise<void>;
  getImageInfo(path: string): Promise<ImageInfo>;
  /** Grows the image; shrinking needs `{ allowShrink: true }` (an Infinivirt addition). */
  resizeImage(path: string, newSizeGB: number, options?: { allowShrink?: boolean }): Promise<void>;
  convertImage(options: ConvertImageOptions): Promise<void>;
  checkImage(path: string): Promise<ImageCheckResult>;
  /** Live resize of a running VM's drive over QMP `block_resize` (an Infinivirt addition). */
  resizeImageLive(qmp: Pick<QMPClient, 'queryBlock' | 'blockResize'>, device: string, newSizeGB: number, options?: { allowShrink?: boolean }): Promise<void>;
  /**
   * Removes an image file (an Infinivirt addition). Refused with `IMAGE_IN_USE` while the
   * image backs clones (the error's `clones` lists them) or a running QEMU holds it;
   * `IMAGE_NOT_FOUND` when it does not exist.
   */
  deleteImage(path: string): Promise<void>;
  /**
   * The images whose backing file is `path`, sorted (an Infinivirt addition). Searched in
   * the image's own directory, the disk directories and every directory this process made
   * a clone in (README "Thin clones").
   */
  listClones(path: string): Promise<string[]>;
  /**
   * Makes a stopped clone standalone: its chain is copied into a new qcow2 that replaces it
   * atomically (owner and mode kept). Resolves false when it has no backing file. Refused
   * with `IMAGE_IN_USE` while a running QEMU holds it, `SNAPSHOT_ALREADY_EXISTS` when it
   * has internal snapshots (an Infinivirt addition).
   */
  flattenImage(path: string, options?: FlattenImageOptions): Promise<boolean>;
  /**
   * Makes a running VM's clone standalone over QMP `block-stream` while the guest runs
   * (an Infinivirt addition). `device` is the drive's name (`query-block` `device`) or node
   * name. Resolves false when it has no backing file. Past `timeoutMs` (default one hour)
   * the job is cancelled, the disk stays a working clone, and the call rejects.
   */
  flattenImageLive(qmp: QMPClient, device: string, options?: FlattenImageLiveOptions): Promise<boolean>;
}

/** Options of `QemuImgService.flattenImage` (an Infinivirt addition). */
export interface FlattenImageOptions {
  /** Progress in percent, 100 last. */
  onProgress?: (percent: number) => void;
}

/** Options of `QemuImgService.flattenImageLive` (an Infinivirt addition). */
export interface FlattenImageLiveOptions {
  /** Progress in percent (from the block job's counters), 100 last. */
  onProgress?: (percent: number) => void;
  /** Deadline of the whole job; default 3600000 (one hour). */
  timeoutMs?: number;
}

/** Internal (offline) qcow2 snapshots through `qemu-img snapshot`. */
export declare class SnapshotManager {
  constructor();
  createSnapshot(options: SnapshotCreateOptions): Promise<void>;
  listSnapshots(imagePath: string): Promise<SnapshotInfo[]>;
  revertSnapshot(imagePath: string, snapshotName: string): Promise<void>;
  deleteSnapshot(imagePath: string, snapshotName: string): Promise<void>;
  snapshotExists(imagePath: string, snapshotName: string): Promise<boolean>;
  /** Internal snapshot of a running VM's drive over QMP (an Infinivirt addition). */
  createLiveSnapshot(qmp: Pick<QMPClient, 'blockdevSnapshotInternalSync'>, device: string, name: string): Promise<void>;
  /**
   * The same, optionally with the guest's filesystems frozen through its guest agent
   * (`options.quiesce`) around the snapshot and thawed on every path. Rejects with a
   * StorageError when the snapshot fails (the guest thawed first), and with an
   * `AGENT_*` error (GuestAgentErrorCode) when `quiesceRequired` and the guest could not
   * be frozen (no snapshot taken), or when the guest could not be thawed.
   */
  createLiveSnapshot(
    qmp: Pick<QMPClient, 'blockdevSnapshotInternalSync'>,
    device: string,
    name: string,
    options: LiveSnapshotOptions
  ): Promise<LiveSnapshotResult>;
  deleteLiveSnapshot(qmp: Pick<QMPClient, 'blockdevSnapshotDeleteInternalSync'>, device: string, name: string): Promise<void>;
  /**
   * API-next §3: writes the image as it was at snapshot `snapshotName` into a new
   * standalone qcow2 at `destPath` (`qemu-img convert -l snapshot.name=<name>`), removed
   * again on failure. `SNAPSHOT_NOT_FOUND`, `IMAGE_NOT_FOUND`, `IMAGE_ALREADY_EXISTS` for
   * an existing destination, `IMAGE_IN_USE` while a running QEMU holds the source.
   * `options.onProgress` is an Infinivirt addition.
   */
  materializeSnapshot(sourcePath: string, snapshotName: string, destPath: string, options?: { onProgress?: (percent: number) => void }): Promise<void>;
}

// ===========================================================================
// display/*
// ===========================================================================

/** Validated SPICE options producing `-spice` / `-vga qxl`. The constructor throws `DisplayError`. */
export declare class SpiceConfig {
  constructor(options: SpiceConfigOptions);
  validate(): DisplayValidationResult;
  generateArgs(): DisplayCommandArgs;
  getPort(): number;
  getAddr(): string;
  hasPassword(): boolean;
  isAgentEnabled(): boolean;
}

/** Validated VNC options producing `-vnc` / `-vga std`. The constructor throws `DisplayError`. */
export declare class VncConfig {
  constructor(options: VncConfigOptions);
  validate(): DisplayValidationResult;
  generateArgs(): DisplayCommandArgs;
  getDisplay(): number;
  /** 5900 + display. */
  getPort(): number;
  getAddr(): string;
  hasPassword(): boolean;
  static displayToPort(display: number): number;
  static portToDisplay(port: number): number;
  static getMaxPasswordLength(): number;
}

// ===========================================================================
// sync/*
// ===========================================================================

/** Maps QMP run states to DB statuses and writes them through a `DatabaseAdapter`. */
export declare class StateSync {
  constructor(db: DatabaseAdapter);
  mapQMPStatusToDBStatus(qmpStatus: QMPVMStatus): DBVMStatus;
  syncState(vmId: string, qmpClient: QMPClient): Promise<SyncResult>;
  updateVMStatus(vmId: string, status: string): Promise<void>;
  getVMStatus(vmId: string): Promise<string>;
  getVMPid(vmId: string): Promise<number | null>;
  getVMInfo(vmId: string): Promise<{ tapDeviceName: string | null; hasCpuPinning: boolean } | null>;
  clearVolatileMachineConfiguration(vmId: string): Promise<void>;
  updateStatusDirect(vmId: string, newStatus: DBVMStatus): Promise<SyncResult>;
  /** Infinivirt addition: status writes queued because the database was unreachable (they land, in order, once it is back). */
  getPendingWrites(): number;
}

/**
 * Listens to QMP events of attached VMs and updates the DB. Emits `vm:<event>`,
 * `vm:off|suspended|running`, `vm:event` (`VMEventData`), `vm:disconnect` and `error`.
 */
export declare class EventHandler extends TypedEventEmitter<EventHandlerEvents> {
  constructor(db: DatabaseAdapter, config?: Partial<EventHandlerConfig>);
  attachToVM(vmId: string, qmpClient: QMPClient): Promise<void>;
  detachFromVM(vmId: string): Promise<void>;
  detachAll(): Promise<void>;
  getAttachedVMs(): string[];
  isAttached(vmId: string): boolean;
  getQMPClient(vmId: string): QMPClient | undefined;
  /** Infinivirt addition: status writes queued because the database was unreachable. */
  getPendingWrites(): number;
}

/** Periodic liveness check of running VMs. Emits `crash`, `cleanup-alert` and `error`. */
export declare class HealthMonitor extends TypedEventEmitter<HealthMonitorEvents> {
  constructor(db: DatabaseAdapter, config?: Partial<HealthMonitorConfig>);
  start(): Promise<void>;
  stop(): Promise<void>;
  isMonitoring(): boolean;
  checkAllVMs(): Promise<HealthCheckSummary>;
  checkVM(vmId: string, pid: number): boolean;
  retryCleanup(vmId: string, config: MachineConfigurationRecord): Promise<CleanupResult>;
  /**
   * Infinivirt addition: pushed crash detection for one VM. `target` is its `QemuProcess` (the pidfd
   * held since start) or its PID. A QEMU that exits without a `SHUTDOWN` (seen on `qmpSocketPath`) is a
   * crash: its runtime state is read, the status demoted `running → off` (never over `error`), its
   * resources released and `'crash'` emitted, within milliseconds.
   */
  watchVM(vmId: string, target: QemuProcess | number, options?: WatchVMOptions): void;
  /** Infinivirt addition: stop watching (call it before a deliberate stop). True if it was watched. */
  unwatchVM(vmId: string): boolean;
  /** Infinivirt addition: the VMs being watched. */
  getWatchedVMs(): string[];
  /** Infinivirt addition: status writes queued because the database was unreachable. */
  getPendingWrites(): number;
}

// ===========================================================================
// db/PrismaAdapter
// ===========================================================================

/** The Prisma model delegate members the adapter calls. */
export interface PrismaMachineDelegateLike {
  findUnique(args: unknown): Promise<unknown>;
  findMany(args: unknown): Promise<unknown>;
  update(args: unknown): Promise<unknown>;
  updateMany(args: unknown): Promise<{ count: number }>;
}

/** The Prisma model delegate members the adapter calls. */
export interface PrismaMachineConfigurationDelegateLike {
  upsert(args: unknown): Promise<unknown>;
  updateMany(args: unknown): Promise<{ count: number }>;
}

/** Transaction client handed to the `$transaction` callback. */
export interface PrismaTransactionClientLike {
  machine: PrismaMachineDelegateLike;
  machineConfiguration: PrismaMachineConfigurationDelegateLike;
}

/** Structural subset of a Prisma client used by `PrismaAdapter` (a real `PrismaClient` satisfies it). */
export interface PrismaClientLike extends PrismaTransactionClientLike {
  $transaction<R>(fn: (tx: PrismaTransactionClientLike) => Promise<R>): Promise<R>;
}

/** `DatabaseAdapter` over a Prisma client; failures become `PrismaAdapterError`s. */
export declare class PrismaAdapter implements DatabaseAdapter {
  constructor(prisma: PrismaClientLike);
  findMachine(id: string): Promise<MachineRecord | null>;
  updateMachineStatus(id: string, status: string): Promise<void>;
  findRunningVMs(): Promise<RunningVMRecord[]>;
  clearMachineConfiguration(machineId: string): Promise<void>;
  clearVolatileMachineConfiguration(machineId: string): Promise<void>;
  findMachineWithConfig(id: string): Promise<VMConfigRecord | null>;
  updateMachineConfiguration(machineId: string, config: Partial<MachineConfigUpdate>): Promise<void>;
  transitionVMStatus(
    machineId: string,
    expectedStatus: string,
    newStatus: string,
    expectedVersion: number,
  ): Promise<{ success: boolean; newVersion: number; vmConfig: VMConfigRecord }>;
  getFirewallRules(vmId: string): Promise<FirewallRuleRecord[]>;
  getFirewallRuleSetId(vmId: string): Promise<string | null>;
  getMachineInternalName(id: string): Promise<string | null>;
  getMachineDiskPath(id: string): Promise<string | null>;
}

/** Options of `createStore` (Infinivirt addition). Neither: `INFINIVIRT_DATABASE_URL`, else `INFINIVIRT_SQLITE_PATH`, else `/var/lib/infinivirt/state.db`. */
export interface StoreOptions {
  /** PostgreSQL (`postgresql://…`, Prisma parameters translated or ignored), or `sqlite:`/`file:` for SQLite. */
  databaseUrl?: string;
  /** The embedded SQLite database (created, with its schema, on first use). */
  sqlitePath?: string;
}

/** Tables `NativeDatabaseAdapter.insertRecord` writes (Infinivirt addition). */
export type StoreModel = 'Machine' | 'MachineConfiguration' | 'Department' | 'FirewallRuleSet' | 'FirewallRule';

/** A `DatabaseAdapter` with the `PrismaAdapter` methods, implemented natively (Infinivirt addition). */
export interface NativeDatabaseAdapter extends DatabaseAdapter {
  readonly kind: 'postgres' | 'sqlite';
  /** Where the store is, for logs: `sqlite <path>` or `postgres <url>` (password masked). */
  readonly location: string;
  findMachineWithConfig(id: string): Promise<VMConfigRecord | null>;
  updateMachineConfiguration(machineId: string, config: Partial<MachineConfigUpdate>): Promise<void>;
  transitionVMStatus(
    machineId: string,
    expectedStatus: string,
    newStatus: string,
    expectedVersion: number,
  ): Promise<{ success: boolean; newVersion: number; vmConfig: VMConfigRecord }>;
  getFirewallRules(vmId: string): Promise<FirewallRuleRecord[]>;
  getFirewallRuleSetId(vmId: string): Promise<string | null>;
  getMachineInternalName(id: string): Promise<string | null>;
  getMachineDiskPath(id: string): Promise<string | null>;
  /** Inserts one row (columns checked against the schema; `id` generated unless given); resolves its id. */
  insertRecord(model: StoreModel, data: Record<string, unknown>): Promise<string>;
  /** Closes the pooled connections. */
  close(): Promise<void>;
}

/**
 * Infinivirt addition: a native store. Passed to `StateSync`, `EventHandler` or `HealthMonitor` it is
 * used from Rust directly (no JS round trip per query). Errors are `PrismaAdapterError`s with the
 * spec's codes and messages.
 */
export declare function createStore(options?: StoreOptions): NativeDatabaseAdapter;

/** Options of `HealthMonitor.watchVM` (Infinivirt addition). */
export interface WatchVMOptions {
  /** The PID, when `target` is a `QemuProcess` without one. */
  pid?: number;
  /** Its QMP socket: a `SHUTDOWN` seen before the exit makes it a shutdown, not a crash. */
  qmpSocketPath?: string;
  tapDeviceName?: string;
  guestAgentSocketPath?: string;
  infiniServiceSocketPath?: string;
  /** Its pidfile (else `<pidfileDir>/<qmp socket name>.pid`). */
  pidfile?: string;
  /** A file QEMU's stderr goes to: a non-empty tail makes the reason `qemu-error`. */
  stderrPath?: string;
}

/** Why a VM's status changed (Infinivirt addition): `guest-shutdown`, `host-shutdown`, `crash`, `killed`, `qemu-error`, `qmp-event`, `qmp-status`, `operation`. */
export interface TransitionReason {
  code: string;
  message: string;
}

/** The network managers a cleanup calls (Infinivirt addition): `TapDeviceManager`, `NftablesService` and `CgroupsManager` fit. */
export interface NetworkCleanupTargets {
  tapManager?: { detachFromBridge(tapName: string): Promise<unknown> };
  nftables?: { detachJumpRules(vmId: string): Promise<unknown> };
  cgroups?: { cleanupEmptyScopes(): Promise<unknown> };
}

// ===========================================================================
// types/qemu.types
// ===========================================================================

export type MachineType = 'q35' | 'pc';
export type DiskBus = 'virtio' | 'sata' | 'scsi' | 'ide';
export type CacheMode = 'none' | 'writeback' | 'writethrough' | 'directsync' | 'unsafe';
export type DisplayType = 'spice' | 'vnc' | 'none';
export type VgaType = 'std' | 'qxl' | 'virtio' | 'cirrus' | 'none';
export type BootDevice = 'c' | 'd' | 'n';

export interface MachineOptions {
  accel?: string;
  kernelIrqchip?: string;
}

export interface DiskOptions {
  path: string;
  format: 'qcow2' | 'raw';
  bus: DiskBus;
  cache: CacheMode;
  discard?: boolean;
}

export interface NetworkOptions {
  tapName: string;
  mac: string;
  model: 'virtio-net-pci' | 'e1000';
  queues?: number;
}

/** Plain-object SPICE options for `QemuCommandBuilder.addSpice()`. */
export interface SpiceOptions {
  port: number;
  addr: string;
  password?: string;
  disableTicketing?: boolean;
  enableAgent?: boolean;
  /**
   * Infinivirt addition: path of a 0600 file holding the console password. QEMU reads it
   * through `-object secret` + `password-secret=`, so the password never appears on the command line.
   */
  passwordSecretFile?: string;
}

/** Plain-object VNC options for `QemuCommandBuilder.addVnc()`. */
export interface VncOptions {
  display: number;
  addr: string;
  password?: boolean;
  /**
   * Infinivirt addition: path of a 0600 file holding the console password. QEMU reads it
   * through `-object secret` + `password-secret=`, so the password never appears on the command line.
   */
  passwordSecretFile?: string;
}

export interface QemuProcessOptions {
  vmId: string;
  name: string;
  uuid?: string;
  daemonize?: boolean;
  pidfile?: string;
  qmpSocket?: QMPSocketOptions;
}

export interface GpuPassthroughOptions {
  pciBus: string;
  romfile?: string;
  multifunction?: boolean;
  audioFunction?: string;
}

export interface PciAddressValidationResult {
  valid: boolean;
  error?: string;
}

/** Matches `XX:XX.X` or `XXXX:XX:XX.X` (hex). */
export declare const PCI_ADDRESS_REGEX: RegExp;
export declare function validatePciAddress(address: string): PciAddressValidationResult;
/** Lower-case long form (`0000:01:00.0`); throws on an invalid address. */
export declare function normalizePciAddress(address: string): string;

// ===========================================================================
// types/qmp.types
// ===========================================================================

export interface QMPVersion {
  qemu: { micro: number; minor: number; major: number };
  package: string;
}

export interface QMPGreeting {
  QMP: { version: QMPVersion; capabilities: string[] };
}

export interface QMPMessage {
  execute: string;
  arguments?: Record<string, unknown>;
  id?: string;
}

export interface QMPError {
  class: string;
  desc: string;
}

export interface QMPResponse<T = unknown> {
  return?: T;
  error?: QMPError;
  id?: string;
}

export interface QMPTimestamp {
  seconds: number;
  microseconds: number;
}

export interface QMPEvent<T = unknown> {
  event: string;
  data?: T;
  timestamp: QMPTimestamp;
}

export type QMPEventType =
  | 'SHUTDOWN'
  | 'POWERDOWN'
  | 'RESET'
  | 'STOP'
  | 'RESUME'
  | 'SUSPEND'
  | 'WAKEUP'
  | 'DEVICE_DELETED'
  | 'BLOCK_JOB_COMPLETED';

export interface QMPShutdownEventData {
  guest: boolean;
  reason:
    | 'guest-shutdown'
    | 'guest-reset'
    | 'guest-panic'
    | 'host-qmp-quit'
    | 'host-qmp-system-reset'
    | 'host-signal'
    | 'host-ui'
    | 'subsystem-reset'
    | 'snapshot-load';
}

export interface QMPDeviceDeletedEventData {
  device?: string;
  path: string;
}

export interface QMPBlockJobCompletedEventData {
  type: string;
  device: string;
  len: number;
  offset: number;
  speed: number;
  error?: string;
}

/**
 * Infinivirt addition: the `data` of each QMP event QEMU sends, by event name (the
 * events of QEMU's QAPI schema). Events without data carry `undefined`.
 */
export interface QMPEventDataMap {
  SHUTDOWN: QMPShutdownEventData;
  POWERDOWN: undefined;
  RESET: { guest: boolean; reason: QMPShutdownEventData['reason'] };
  STOP: undefined;
  RESUME: undefined;
  SUSPEND: undefined;
  SUSPEND_DISK: undefined;
  WAKEUP: undefined;
  WATCHDOG: { action: string };
  GUEST_PANICKED: { action: string; info?: Record<string, unknown> };
  GUEST_CRASHLOADED: { action: string; info?: Record<string, unknown> };
  GUEST_PVSHUTDOWN: undefined;
  DEVICE_DELETED: QMPDeviceDeletedEventData;
  DEVICE_TRAY_MOVED: { device: string; id: string; 'tray-open': boolean };
  DEVICE_UNPLUG_GUEST_ERROR: { device?: string; path: string };
  BLOCK_JOB_COMPLETED: QMPBlockJobCompletedEventData;
  BLOCK_JOB_CANCELLED: QMPBlockJobCompletedEventData;
  BLOCK_JOB_ERROR: { device: string; operation: string; action: string };
  BLOCK_JOB_READY: QMPBlockJobCompletedEventData;
  BLOCK_JOB_PENDING: { type: string; id: string };
  JOB_STATUS_CHANGE: { id: string; status: string };
  BLOCK_IO_ERROR: Record<string, unknown>;
  BLOCK_IMAGE_CORRUPTED: Record<string, unknown>;
  BLOCK_WRITE_THRESHOLD: Record<string, unknown>;
  BALLOON_CHANGE: { actual: number };
  MEMORY_DEVICE_SIZE_CHANGE: Record<string, unknown>;
  MEM_UNPLUG_ERROR: Record<string, unknown>;
  MEMORY_FAILURE: Record<string, unknown>;
  MIGRATION: { status: string };
  MIGRATION_PASS: { pass: number };
  SPICE_CONNECTED: Record<string, unknown>;
  SPICE_INITIALIZED: Record<string, unknown>;
  SPICE_DISCONNECTED: Record<string, unknown>;
  SPICE_MIGRATE_COMPLETED: undefined;
  VNC_CONNECTED: Record<string, unknown>;
  VNC_INITIALIZED: Record<string, unknown>;
  VNC_DISCONNECTED: Record<string, unknown>;
  RTC_CHANGE: { offset: number; 'qom-path'?: string };
  NIC_RX_FILTER_CHANGED: { name?: string; path: string };
  VSERPORT_CHANGE: { id: string; open: boolean };
  ACPI_DEVICE_OST: Record<string, unknown>;
  DUMP_COMPLETED: Record<string, unknown>;
  QUORUM_FAILURE: Record<string, unknown>;
  QUORUM_REPORT_BAD: Record<string, unknown>;
  FAILOVER_NEGOTIATED: { 'device-id': string };
  UNPLUG_PRIMARY: { 'device-id': string };
  COLO_EXIT: Record<string, unknown>;
  PR_MANAGER_STATUS_CHANGED: { id: string; connected: boolean };
  NETDEV_STREAM_CONNECTED: Record<string, unknown>;
  NETDEV_STREAM_DISCONNECTED: Record<string, unknown>;
}

/**
 * Infinivirt addition: the events of `QMPClient`. Each QMP event is emitted under its
 * own name with `(data, timestamp)`, then as `'event'` with the whole message (use
 * `'event'` for an event this map does not list); the connection's own events carry
 * no arguments.
 */
export type QMPClientEvents = {
  [K in keyof QMPEventDataMap]: [data: QMPEventDataMap[K], timestamp: QMPTimestamp];
} & {
  event: [event: QMPEvent];
  connected: [];
  disconnect: [];
  reconnect: [];
  reconnect_failed: [];
};

export type QMPVMStatus =
  | 'running'
  | 'paused'
  | 'shutdown'
  | 'inmigrate'
  | 'postmigrate'
  | 'prelaunch'
  | 'finish-migrate'
  | 'restore-vm'
  | 'suspended'
  | 'watchdog'
  | 'guest-panicked'
  | 'io-error'
  | 'colo';

export interface QMPStatusInfo {
  running: boolean;
  singlestep: boolean;
  status: QMPVMStatus;
}

export interface QMPCpuInfo {
  'cpu-index': number;
  'qom-path': string;
  'thread-id': number;
  props?: { 'core-id'?: number; 'thread-id'?: number; 'socket-id'?: number; 'node-id'?: number };
  target?: string;
}

export interface QMPBlockImageInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'dirty-flag'?: boolean;
  'cluster-size'?: number;
  encrypted?: boolean;
  compressed?: boolean;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'backing-image'?: QMPBlockImageInfo;
}

export interface QMPBlockInsertedInfo {
  file: string;
  node_name?: string;
  ro: boolean;
  drv: string;
  encrypted: boolean;
  bps?: number;
  bps_rd?: number;
  bps_wr?: number;
  iops?: number;
  iops_rd?: number;
  iops_wr?: number;
  image?: QMPBlockImageInfo;
  detect_zeroes?: string;
  write_threshold?: number;
}

export interface QMPBlockInfo {
  device: string;
  qdev?: string;
  type: string;
  removable: boolean;
  locked: boolean;
  tray_open?: boolean;
  io_status?: string;
  inserted?: QMPBlockInsertedInfo;
}

export interface QMPVncClientInfo {
  host: string;
  service: string;
  family: 'ipv4' | 'ipv6' | 'unix';
  websocket: boolean;
  x509_dname?: string;
  sasl_username?: string;
}

export interface QMPVncInfo {
  enabled: boolean;
  host?: string;
  family?: 'ipv4' | 'ipv6' | 'unix';
  service?: string;
  auth?: string;
  clients?: QMPVncClientInfo[];
}

export interface QMPSpiceChannel {
  host: string;
  family: 'ipv4' | 'ipv6' | 'unix';
  port: string;
  'connection-id': number;
  'channel-type': number;
  'channel-id': number;
  tls: boolean;
}

export interface QMPSpiceInfo {
  enabled: boolean;
  migrated?: boolean;
  host?: string;
  port?: number;
  'tls-port'?: number;
  auth?: string;
  'compiled-version'?: string;
  'mouse-mode'?: 'client' | 'server';
  channels?: QMPSpiceChannel[];
}

export interface QMPMemorySizeInfo {
  'base-memory': number;
  'plugged-memory'?: number;
}

/** `query-balloon` result (not exported at runtime by the original). */
export interface QMPBalloonInfo {
  actual: number;
}

export interface QMPClientOptions {
  connectTimeout?: number;
  commandTimeout?: number;
  reconnect?: boolean;
  reconnectDelay?: number;
  maxReconnectAttempts?: number;
  /** Per-command deadlines in ms, overriding `commandTimeout` (an Infinivirt addition). */
  commandTimeouts?: Record<string, number>;
}

export interface QMPSocketOptions {
  path: string;
  connectTimeout?: number;
  commandTimeout?: number;
}

// ===========================================================================
// types/network.types
// ===========================================================================

export interface TapDeviceConfig {
  name: string;
  vmId: string;
  bridge?: string;
  mac?: string;
}

export interface TapDeviceInfo {
  name: string;
  exists: boolean;
  bridge?: string;
  state: NetworkDeviceState;
}

export interface BridgeConfig {
  name: string;
  interfaces?: string[];
}

export interface BridgeInfo {
  name: string;
  exists: boolean;
  state: NetworkDeviceState;
  interfaces: string[];
}

export interface NetworkDeviceError {
  code: NetworkErrorCode;
  message: string;
  device?: string;
  command?: string;
}

export type MacAddress = string;

export declare enum NetworkDeviceState {
  UP = 'up',
  DOWN = 'down',
  UNKNOWN = 'unknown',
}

export declare enum NetworkErrorCode {
  DEVICE_NOT_FOUND = 'DEVICE_NOT_FOUND',
  DEVICE_ALREADY_EXISTS = 'DEVICE_ALREADY_EXISTS',
  BRIDGE_NOT_FOUND = 'BRIDGE_NOT_FOUND',
  BRIDGE_ALREADY_EXISTS = 'BRIDGE_ALREADY_EXISTS',
  COMMAND_FAILED = 'COMMAND_FAILED',
  INVALID_MAC_ADDRESS = 'INVALID_MAC_ADDRESS',
  PERMISSION_DENIED = 'PERMISSION_DENIED',
  /** An interface name (or a VM id a TAP name comes from) that fails validation (Infinivirt addition). */
  INVALID_INTERFACE_NAME = 'INVALID_INTERFACE_NAME',
  /** An address that is not `a.b.c.d/n` (Infinivirt addition). */
  INVALID_IP_ADDRESS = 'INVALID_IP_ADDRESS',
  /** An option out of range, e.g. `orphanGraceMs` (Infinivirt addition). */
  INVALID_ARGUMENT = 'INVALID_ARGUMENT',
}

export declare const QEMU_MAC_PREFIX: '52:54:00';
export declare const MAX_TAP_NAME_LENGTH: 15;
export declare const TAP_NAME_PREFIX: 'vnet-';

// ===========================================================================
// types/firewall.types
// ===========================================================================

export declare enum NftablesFamily {
  BRIDGE = 'bridge',
  INET = 'inet',
  IP = 'ip',
  IP6 = 'ip6',
}

export declare enum NftablesHookType {
  PREROUTING = 'prerouting',
  INPUT = 'input',
  FORWARD = 'forward',
  OUTPUT = 'output',
  POSTROUTING = 'postrouting',
}

export declare enum NftablesChainPolicy {
  ACCEPT = 'accept',
  DROP = 'drop',
}

export declare enum NftablesErrorCode {
  TABLE_NOT_FOUND = 'TABLE_NOT_FOUND',
  TABLE_EXISTS = 'TABLE_EXISTS',
  CHAIN_NOT_FOUND = 'CHAIN_NOT_FOUND',
  CHAIN_EXISTS = 'CHAIN_EXISTS',
  RULE_INVALID = 'RULE_INVALID',
  COMMAND_FAILED = 'COMMAND_FAILED',
  PERMISSION_DENIED = 'PERMISSION_DENIED',
  INVALID_IP_ADDRESS = 'INVALID_IP_ADDRESS',
  INVALID_SUBNET_MASK = 'INVALID_SUBNET_MASK',
  INVALID_PORT_RANGE = 'INVALID_PORT_RANGE',
  UNSUPPORTED_PROTOCOL = 'UNSUPPORTED_PROTOCOL',
}

export interface NftablesTableConfig {
  name: string;
  family: NftablesFamily;
}

export interface NftablesChainConfig {
  name: string;
  table: string;
  family: NftablesFamily;
  hook?: NftablesHookType;
  priority?: number;
  policy?: NftablesChainPolicy;
}

export interface NftablesRuleConfig {
  chain: string;
  table: string;
  family: NftablesFamily;
  expression: string;
}

export type NftablesRuleTokens = string[];

export interface FirewallRuleTranslation {
  expression: string;
  priority: number;
  ruleName: string;
  success: boolean;
  error?: string;
}

export interface VMFirewallConfig {
  vmId: string;
  tapDeviceName: string;
  departmentRules: FirewallRuleInput[];
  vmRules: FirewallRuleInput[];
}

/** A firewall rule as stored in the database. */
export interface FirewallRuleInput {
  id: string;
  name: string;
  description?: string | null;
  action: 'ACCEPT' | 'DROP' | 'REJECT';
  direction: 'IN' | 'OUT' | 'INOUT';
  priority: number;
  protocol: string;
  srcPortStart?: number | null;
  srcPortEnd?: number | null;
  dstPortStart?: number | null;
  dstPortEnd?: number | null;
  srcIpAddr?: string | null;
  srcIpMask?: string | null;
  dstIpAddr?: string | null;
  dstIpMask?: string | null;
  connectionState?: ConnectionStateConfig | null;
  overridesDept?: boolean;
}

export interface ConnectionStateConfig {
  established?: boolean;
  new?: boolean;
  related?: boolean;
  invalid?: boolean;
}

/** Shape of the plain `Error`s thrown by the nftables code (not a class). */
export interface NftablesError extends Error {
  code: NftablesErrorCode;
  context?: { command?: string; args?: string[]; stderr?: string; exitCode?: number };
  /**
   * Infinivirt addition, with `code: 'CHAIN_EXISTS'`: the VM's chain name (`vm_` + the
   * first 8 alphanumerics of its id) belongs to another VM (`ownerVmId`).
   */
  chainName?: string;
  vmId?: string;
  ownerVmId?: string;
}

export interface ChainListResult {
  chains: string[];
  tableExists: boolean;
}

export interface FirewallApplyResult {
  totalRules: number;
  appliedRules: number;
  failedRules: number;
  chainName: string;
  failures: Array<{ ruleName: string; error: string }>;
  /** Infinivirt addition: rules adapted to what the kernel lacks (always present, may be empty). */
  fallbacks?: FirewallFallback[];
}

export declare const INFINIVIRT_TABLE_NAME: 'infinivirt';
export declare const INFINIVIRT_TABLE_FAMILY: NftablesFamily.BRIDGE;
export declare const DEFAULT_CHAIN_PRIORITY: 0;
export declare const NFTABLES_COMMENT_PREFIX: 'infinivirt';
export declare const SUPPORTED_PROTOCOLS: readonly ['tcp', 'udp', 'icmp', 'all'];
export declare const CONNECTION_STATES: readonly ['established', 'new', 'related', 'invalid'];
export declare const MAX_CHAIN_NAME_LENGTH: 31;
export declare const VM_CHAIN_PREFIX: 'vm_';
/** `'vm_'` + first 8 alphanumerics of `vmId`, lower-cased. */
export declare function generateVMChainName(vmId: string): string;

// ===========================================================================
// types/storage.types
// ===========================================================================

export type ImageFormat = 'qcow2' | 'raw' | 'vmdk' | 'vdi' | 'vhdx';

export declare enum StorageErrorCode {
  IMAGE_NOT_FOUND = 'IMAGE_NOT_FOUND',
  IMAGE_ALREADY_EXISTS = 'IMAGE_ALREADY_EXISTS',
  SNAPSHOT_NOT_FOUND = 'SNAPSHOT_NOT_FOUND',
  SNAPSHOT_ALREADY_EXISTS = 'SNAPSHOT_ALREADY_EXISTS',
  INVALID_FORMAT = 'INVALID_FORMAT',
  INVALID_SIZE = 'INVALID_SIZE',
  IMAGE_IN_USE = 'IMAGE_IN_USE',
  PERMISSION_DENIED = 'PERMISSION_DENIED',
  COMMAND_FAILED = 'COMMAND_FAILED',
  PARSE_ERROR = 'PARSE_ERROR',
  /** A snapshot name that fails validation (an Infinivirt addition; the original used COMMAND_FAILED). */
  INVALID_SNAPSHOT_NAME = 'INVALID_SNAPSHOT_NAME',
  /**
   * A thin clone's backing file that cannot be used: relative, missing, not a regular
   * file, unreadable, the image being created, or its chain broken or looping back (an
   * Infinivirt addition; the error's `backingFile` names it).
   */
  INVALID_BACKING_FILE = 'INVALID_BACKING_FILE',
}

export interface ImageInfo {
  filename: string;
  format: ImageFormat;
  virtualSize: number;
  actualSize: number;
  clusterSize?: number;
  encrypted?: boolean;
  snapshots?: SnapshotInfo[];
  backingFile?: string;
}

export interface SnapshotInfo {
  id: string;
  name: string;
  vmSize: number;
  date: string;
  vmClock: string;
}

export interface ImageCheckResult {
  errors: number;
  leaks: number;
  corruptions: number;
  totalClusters: number;
  allocatedClusters: number;
}

export interface CreateImageOptions {
  path: string;
  sizeGB: number;
  format: ImageFormat;
  clusterSize?: number;
  preallocation?: 'off' | 'metadata' | 'falloc' | 'full';
  /**
   * API-next §3: make the image a thin clone, a qcow2 overlay on this golden image. The
   * path must be absolute and name a readable regular file of format qcow2 or raw whose
   * own chain opens; its format is read from it and recorded in the clone (`-F`).
   * `format` must be `qcow2`. `sizeGB` may then be omitted (the golden image's size) and
   * must not be smaller than the golden image. Bad paths: `INVALID_BACKING_FILE`.
   */
  backingFile?: string;
  /** The golden image's format, if the caller wants it checked (Infinivirt addition). */
  backingFormat?: ImageFormat;
  /** Progress in percent for long creations (full preallocation). */
  onProgress?: (percent: number) => void;
}

export interface ConvertImageOptions {
  sourcePath: string;
  destPath: string;
  destFormat: ImageFormat;
  compress?: boolean;
  /** Progress in percent (Infinivirt addition). */
  onProgress?: (percent: number) => void;
}

export interface SnapshotCreateOptions {
  imagePath: string;
  name: string;
  description?: string;
}

/** Error of the storage classes; `name` is `'StorageError'`. */
export declare class StorageError extends Error {
  readonly code: StorageErrorCode;
  readonly path?: string;
  readonly command?: string;
  /** `INVALID_BACKING_FILE` and backing-format errors: the backing file as given (an Infinivirt addition). */
  readonly backingFile?: string;
  /** `IMAGE_IN_USE` of an image that backs clones: their paths, sorted (an Infinivirt addition). */
  readonly clones?: string[];
  constructor(code: StorageErrorCode, message: string, path?: string, command?: string);
  /** Plain `{ code, message, path, command }`. */
  toInfo(): StorageErrorInfo;
}

export interface StorageErrorInfo {
  code: StorageErrorCode;
  message: string;
  path?: string;
  command?: string;
}

export declare function isValidImageFormat(format: string): format is ImageFormat;
export declare const SUPPORTED_IMAGE_FORMATS: readonly ['qcow2', 'raw', 'vmdk', 'vdi', 'vhdx'];
export declare const DEFAULT_CLUSTER_SIZE: 65536;
export declare const MAX_SNAPSHOT_NAME_LENGTH: 64;

// ===========================================================================
// types/display.types
// ===========================================================================

export declare enum DisplayErrorCode {
  INVALID_PORT = 'INVALID_PORT',
  INVALID_PASSWORD = 'INVALID_PASSWORD',
  INVALID_ADDRESS = 'INVALID_ADDRESS',
  INVALID_DISPLAY_NUMBER = 'INVALID_DISPLAY_NUMBER',
  PASSWORD_TOO_LONG = 'PASSWORD_TOO_LONG',
  PORT_OUT_OF_RANGE = 'PORT_OUT_OF_RANGE',
  CONFLICTING_OPTIONS = 'CONFLICTING_OPTIONS',
  INVALID_COMPRESSION_MODE = 'INVALID_COMPRESSION_MODE',
  INVALID_STREAMING_MODE = 'INVALID_STREAMING_MODE',
  INVALID_GL_CONFIG = 'INVALID_GL_CONFIG',
  RENDERNODE_NOT_FOUND = 'RENDERNODE_NOT_FOUND',
}

/** SPICE `image-compression` values (not exported at runtime by the original). */
export type SpiceImageCompression = 'auto_glz' | 'auto_lz' | 'quic' | 'glz' | 'lz' | 'off';
/** SPICE `jpeg-wan-compression` / `zlib-glz-wan-compression` values. */
export type SpiceWanCompression = 'auto' | 'never' | 'always';
/** SPICE `streaming-video` values. */
export type SpiceStreamingMode = 'off' | 'all' | 'filter';
/** SPICE `playback-compression` values. */
export type SpicePlaybackCompression = 'on' | 'off';

/** Input of `new SpiceConfig(options)`. */
export interface SpiceConfigOptions {
  port: number;
  addr?: string;
  password?: string;
  disableTicketing?: boolean;
  enableAgent?: boolean;
  imageCompression?: SpiceImageCompression;
  jpegWanCompression?: SpiceWanCompression;
  zlibGlzWanCompression?: SpiceWanCompression;
  streamingVideo?: SpiceStreamingMode;
  playbackCompression?: SpicePlaybackCompression;
  gl?: boolean;
  rendernode?: string;
  disableCopyPaste?: boolean;
  disableAgentFileXfer?: boolean;
  seamlessMigration?: boolean;
  /**
   * Infinivirt addition: path of a 0600 file holding the console password. QEMU reads it
   * through `-object secret` + `password-secret=`, so the password never appears on the command line.
   */
  passwordSecretFile?: string;
}

/** Input of `new VncConfig(options)`. */
export interface VncConfigOptions {
  display: number;
  addr?: string;
  password?: boolean;
  /**
   * Infinivirt addition: path of a 0600 file holding the console password. QEMU reads it
   * through `-object secret` + `password-secret=`, so the password never appears on the command line.
   */
  passwordSecretFile?: string;
}

export interface ValidationError {
  code: DisplayErrorCode;
  message: string;
}

export interface DisplayValidationResult {
  valid: boolean;
  errors: string[];
  validationErrors: ValidationError[];
}

export interface DisplayCommandArgs {
  args: string[];
  vgaType: VgaType;
}

/** Error of the display configs; `name` is `'DisplayError'`. */
export declare class DisplayError extends Error {
  readonly code: DisplayErrorCode;
  readonly context?: Record<string, unknown>;
  constructor(code: DisplayErrorCode, message: string, context?: Record<string, unknown>);
}

export declare const VNC_BASE_PORT: 5900;
export declare const VNC_MAX_PASSWORD_LENGTH: 8;
export declare const SPICE_MIN_PORT: 5900;
export declare const SPICE_MAX_PORT: 65535;
export declare const DEFAULT_SPICE_ADDR: '0.0.0.0';
export declare const DEFAULT_VNC_ADDR: '0.0.0.0';

/**
 * Infinivirt addition: writes `password` to a new 0600 file in `dir` (default
 * `/var/run/infinivirt/secrets`) and resolves its path, for use as `passwordSecretFile`.
 */
export declare function writeDisplaySecretFile(password: string, dir?: string): Promise<string>;

/** What `detectAccelerator()` found. */
export interface AcceleratorInfo {
  accel: 'kvm' | 'tcg';
  /** `'host'` with KVM, `'max'` with TCG (never `host` without KVM). */
  cpuModel: 'host' | 'max';
  reason: string;
}

/** KVM only when it really works (vmx/svm, no PVM, /dev/kvm opens), else TCG (an Infinivirt addition). */
export declare function detectAccelerator(): AcceleratorInfo;

// ===========================================================================
// types/sync.types
// ===========================================================================

/** Minimal database contract of `StateSync`, `EventHandler` and `HealthMonitor`. */
export interface DatabaseAdapter {
  findMachine(id: string): Promise<MachineRecord | null>;
  updateMachineStatus(id: string, status: string): Promise<void>;
  findRunningVMs(): Promise<RunningVMRecord[]>;
  clearMachineConfiguration(machineId: string): Promise<void>;
  clearVolatileMachineConfiguration(machineId: string): Promise<void>;
}

export interface MachineRecord {
  id: string;
  status: string;
}

/**
 * Records from the native stores and `PrismaAdapter` also carry `cpuPinning` (`{ cores: number[] } | null`),
 * so `StateSync.getVMInfo().hasCpuPinning` reflects the stored pinning (spec §19 #7); plain adapters may omit it.
 */
export interface MachineConfigurationRecord {
  qemuPid: number | null;
  tapDeviceName: string | null;
  qmpSocketPath: string | null;
  guestAgentSocketPath: string | null;
  infiniServiceSocketPath: string | null;
}

export interface RunningVMRecord {
  id: string;
  status: string;
  MachineConfiguration: MachineConfigurationRecord | null;
}

export type DBVMStatus =
  | 'building'
  | 'running'
  | 'off'
  | 'suspended'
  | 'paused'
  | 'updating_hardware'
  | 'powering_off_update'
  | 'error';

export interface StatusMapping {
  qmpStatus: QMPVMStatus;
  dbStatus: DBVMStatus;
  timestamp: Date;
}

export interface SyncResult {
  success: boolean;
  vmId: string;
  previousStatus: string;
  newStatus: string;
  timestamp: Date;
  /** A `SyncErrorCode` value. */
  error?: string;
}

export interface SyncError {
  code: SyncErrorCode;
  message: string;
  vmId: string;
  timestamp: Date;
}

export declare enum SyncErrorCode {
  QMP_UNAVAILABLE = 'QMP_UNAVAILABLE',
  DB_ERROR = 'DB_ERROR',
  VM_NOT_FOUND = 'VM_NOT_FOUND',
  INVALID_STATUS = 'INVALID_STATUS',
}

export interface HealthMonitorConfig {
  checkIntervalMs: number;
  enableCleanup: boolean;
  pidfileDir?: string;
  onCrashDetected?: (vmId: string) => Promise<void>;
  onCleanupAlert?: (alert: CleanupAlertEvent) => Promise<void>;
  /** Infinivirt addition: detaches the TAP from its bridge; default: the monitor's own `TapDeviceManager` (spec §10.3). */
  tapManager?: NetworkCleanupTargets['tapManager'];
  /** Infinivirt addition: detaches the firewall jump rules; default: the monitor's own `NftablesService` (spec §10.3). */
  nftables?: NetworkCleanupTargets['nftables'];
  /** Infinivirt addition: cleans empty cgroup scopes of pinned VMs; default: the monitor's own `CgroupsManager`. */
  cgroups?: NetworkCleanupTargets['cgroups'];
  /** Infinivirt addition: first cleanup retry delay in ms (default 1000, doubling). */
  cleanupRetryBaseMs?: number;
}

export interface HealthCheckResult {
  vmId: string;
  pid: number | null;
  isAlive: boolean;
  status: string;
  timestamp: Date;
}

export interface HealthCheckSummary {
  totalChecked: number;
  alive: number;
  crashed: number;
  errors: number;
  timestamp: Date;
  results: HealthCheckResult[];
}

export interface CrashEvent {
  vmId: string;
  pid: number;
  lastKnownStatus: string;
  detectedAt: Date;
  cleanupPerformed: boolean;
  cleanupResult?: CleanupResult;
  /** Infinivirt addition: `killed`, `qemu-error` or `crash`. */
  reason?: TransitionReason;
}

export interface EventHandlerConfig {
  enableLogging: boolean;
  emitCustomEvents: boolean;
  /** Infinivirt addition: detaches the TAP after a guest shutdown; default: the handler's own `TapDeviceManager` (spec §10.2). */
  tapManager?: NetworkCleanupTargets['tapManager'];
  /** Infinivirt addition: detaches the firewall jump rules; default: the handler's own `NftablesService` (spec §10.2). */
  nftables?: NetworkCleanupTargets['nftables'];
  /** Infinivirt addition: cleans empty cgroup scopes of pinned VMs; default: the handler's own `CgroupsManager` (spec §10.2). */
  cgroups?: NetworkCleanupTargets['cgroups'];
  /** Infinivirt addition: how long the cleanup after SHUTDOWN waits for QEMU to exit (default 30000 ms; QEMU is never killed). */
  exitWaitMs?: number;
}

export interface VMEventData {
  vmId: string;
  event: QMPEventType;
  previousStatus: string;
  newStatus: string;
  timestamp: Date;
  qmpData?: unknown;
  /** Infinivirt addition: why the status changed (absent when it did not). `event` may also be `'GUEST_PANICKED'`. */
  reason?: TransitionReason;
}

/** Kind of resource handled by the crash cleanup (no runtime export). */
declare enum CleanupResourceType {
  TAP_DEVICE = 'TAP_DEVICE',
  FIREWALL_CHAIN = 'FIREWALL_CHAIN',
  QMP_SOCKET = 'QMP_SOCKET',
  PIDFILE = 'PIDFILE',
  DB_CONFIGURATION = 'DB_CONFIGURATION',
}

/** State of one resource in the crash cleanup (no runtime export). */
declare enum CleanupStatus {
  PENDING = 'PENDING',
  SUCCESS = 'SUCCESS',
  FAILED = 'FAILED',
  RETRYING = 'RETRYING',
}
export type { CleanupResourceType, CleanupStatus };

/** Infinivirt's cleanup may add `note: string` at run time (a remark on a success, e.g. no network manager configured). */
export interface CleanupResourceState {
  type: CleanupResourceType;
  identifier: string;
  status: CleanupStatus;
  attempts: number;
  lastError?: string;
  lastAttemptAt?: Date;
}

export interface CleanupResult {
  vmId: string;
  totalResources: number;
  successfulCleanups: number;
  failedCleanups: number;
  resources: CleanupResourceState[];
  timestamp: Date;
}

export interface CleanupAlertEvent {
  vmId: string;
  failedResources: CleanupResourceState[];
  timestamp: Date;
  severity: 'warning' | 'error';
}

/**
 * Infinivirt addition: the events of `EventHandler` (spec §10.2 plus `vm:guest_panicked`,
 * `vm:error`, `vm:reconnect` and `vm:cleanup`).
 */
export interface EventHandlerEvents {
  'vm:shutdown': [data: VMEventData];
  'vm:powerdown': [data: VMEventData];
  'vm:reset': [data: VMEventData];
  'vm:stop': [data: VMEventData];
  'vm:resume': [data: VMEventData];
  'vm:suspend': [data: VMEventData];
  'vm:wakeup': [data: VMEventData];
  'vm:guest_panicked': [data: VMEventData];
  'vm:off': [data: VMEventData];
  'vm:suspended': [data: VMEventData];
  'vm:running': [data: VMEventData];
  'vm:error': [data: VMEventData];
  'vm:event': [data: VMEventData];
  'vm:disconnect': [data: { vmId: string; timestamp: Date }];
  'vm:reconnect': [data: { vmId: string; timestamp: Date; sync: SyncResult }];
  'vm:cleanup': [result: CleanupResult & { event: 'SHUTDOWN' }];
  error: [error: { vmId: string; event: string; error: string }];
}

/** Infinivirt addition: the events of `HealthMonitor` (spec §10.3). */
export interface HealthMonitorEvents {
  crash: [event: CrashEvent];
  'cleanup-alert': [alert: CleanupAlertEvent];
  error: [error: { message: string; timestamp: Date }];
}

export declare const DEFAULT_HEALTH_CHECK_INTERVAL: 30000;
export declare const DEFAULT_SYNC_TIMEOUT: 5000;
export declare const MAX_SYNC_RETRIES: 3;
export declare function isValidDBStatus(status: string): status is DBVMStatus;
export declare function isValidQMPStatus(status: string): status is QMPVMStatus;

// ===========================================================================
// types/db.types
// ===========================================================================

export declare enum PrismaAdapterErrorCode {
  MACHINE_NOT_FOUND = 'MACHINE_NOT_FOUND',
  DB_CONNECTION_ERROR = 'DB_CONNECTION_ERROR',
  UPDATE_FAILED = 'UPDATE_FAILED',
  QUERY_FAILED = 'QUERY_FAILED',
  INVALID_INPUT = 'INVALID_INPUT',
  CONSTRAINT_VIOLATION = 'CONSTRAINT_VIOLATION',
  VERSION_CONFLICT = 'VERSION_CONFLICT',
}

/** Error of `PrismaAdapter`; note the argument order (message first). `name` is `'PrismaAdapterError'`. */
export declare class PrismaAdapterError extends Error {
  readonly code: PrismaAdapterErrorCode;
  readonly vmId?: string;
  readonly details?: unknown;
  constructor(message: string, code: PrismaAdapterErrorCode, vmId?: string, details?: unknown);
}

/** Partial update of a `MachineConfiguration` row; `null` clears a column. */
export interface MachineConfigUpdate {
  qmpSocketPath?: string | null;
  qemuPid?: number | null;
  tapDeviceName?: string | null;
  graphicProtocol?: string | null;
  graphicPort?: number | null;
  graphicPassword?: string | null;
  graphicHost?: string | null;
  assignedGpuBus?: string | null;
  bridge?: string | null;
  machineType?: string | null;
  cpuModel?: string | null;
  diskBus?: string | null;
  diskCacheMode?: string | null;
  networkModel?: string | null;
  networkQueues?: number | null;
  memoryBalloon?: boolean | null;
  diskPaths?: string[] | null;
  uefiFirmware?: string | null;
  hugepages?: boolean | null;
  cpuPinning?: { cores: number[] } | null;
  enableNumaCtlPinning?: boolean | null;
  cpuPinningStrategy?: string | null;
  tpmSocketPath?: string | null;
  guestAgentSocketPath?: string | null;
  infiniServiceSocketPath?: string | null;
  virtioDriversIso?: string | null;
  enableAudio?: boolean | null;
  enableUsbTablet?: boolean | null;
}

export interface VMConfigRecord extends MachineRecord {
  name: string;
  internalName: string;
  os: string;
  cpuCores: number;
  ramGB: number;
  diskSizeGB: number;
  gpuPciAddress: string | null;
  configuration: ExtendedMachineConfigurationRecord | null;
  firewallRuleSet: FirewallRuleSetRecord | null;
  department: DepartmentRecord | null;
  /** Optimistic-lock version. */
  version: number;
}

export interface DepartmentRecord {
  id: string;
  name: string;
  firewallRuleSet: FirewallRuleSetRecord | null;
}

export interface FirewallRuleSetRecord {
  id: string;
  name: string;
  internalName: string;
  priority: number;
  isActive: boolean;
  rules: FirewallRuleRecord[];
}

export interface FirewallRuleRecord {
  id: string;
  name: string;
  description: string | null;
  action: 'ACCEPT' | 'DROP' | 'REJECT';
  direction: 'IN' | 'OUT' | 'INOUT';
  priority: number;
  protocol: string;
  srcPortStart: number | null;
  srcPortEnd: number | null;
  dstPortStart: number | null;
  dstPortEnd: number | null;
  srcIpAddr: string | null;
  srcIpMask: string | null;
  dstIpAddr: string | null;
  dstIpMask: string | null;
  connectionState: ConnectionStateConfig | null;
  overridesDept: boolean;
}

export interface ExtendedMachineConfigurationRecord extends MachineConfigurationRecord {
  graphicProtocol: string | null;
  graphicPort: number | null;
  graphicPassword: string | null;
  graphicHost: string | null;
  assignedGpuBus: string | null;
  bridge: string | null;
  machineType: string | null;
  cpuModel: string | null;
  diskBus: string | null;
  diskCacheMode: string | null;
  networkModel: string | null;
  networkQueues: number | null;
  memoryBalloon: boolean | null;
  diskPaths: string[] | null;
  uefiFirmware: string | null;
  hugepages: boolean | null;
  cpuPinning: { cores: number[] } | null;
  enableNumaCtlPinning: boolean | null;
  cpuPinningStrategy: string | null;
  tpmSocketPath: string | null;
  guestAgentSocketPath: string | null;
  infiniServiceSocketPath: string | null;
  virtioDriversIso: string | null;
  enableAudio: boolean | null;
  enableUsbTablet: boolean | null;
}

export declare function isPrismaAdapterError(error: unknown): error is PrismaAdapterError;
export declare const DEFAULT_DISK_PATH_PREFIX: '/var/lib/infinivirt/disks';
export declare const DEFAULT_QMP_SOCKET_PATH_PREFIX: '/var/run/infinivirt';
export declare const DEFAULT_DISK_FORMAT: 'qcow2';
export declare const DEFAULT_DISK_EXTENSION: '.qcow2';

// ===========================================================================
// types/lifecycle.types
// ===========================================================================

export type DisplayProtocol = 'spice' | 'vnc';

export interface DiskConfig {
  /** With `backingFile`: the clone's size, raised to the golden image's size when smaller. */
  sizeGB: number;
  format?: 'qcow2' | 'raw';
  bus?: string;
  cache?: string;
  discard?: boolean;
  /**
   * API-next §3: create the disk as a thin clone (a qcow2 overlay, no preallocation) of
   * this golden image, as `CreateImageOptions.backingFile` does. The golden image must
   * outlive the clone: the storage API refuses to delete or overwrite it while it has clones.
   */
  backingFile?: string;
}

/** Input of `VMLifecycle.create()` / `Infinivirt.createVM()`. */
export interface VMCreateConfig {
  vmId: string;
  name: string;
  internalName: string;
  os: string;
  cpuCores: number;
  ramGB: number;
  disks: DiskConfig[];
  bridge: string;
  macAddress?: string;
  displayType: DisplayProtocol;
  displayPort: number;
  displayPassword?: string;
  displayAddr?: string;
  gpuPciAddress?: string;
  gpuRomfile?: string;
  machineType?: string;
  cpuModel?: string;
  diskBus?: string;
  diskCacheMode?: string;
  networkModel?: string;
  networkQueues?: number;
  memoryBalloon?: boolean;
  hugepages?: boolean;
  uefiFirmware?: string;
  isoPath?: string;
  uuid?: string;
  unattendedInstall?: UnattendedInstallConfig;
  cpuPinning?: number[];
  enableNumaCtlPinning?: boolean;
  cpuPinningStrategy?: 'basic' | 'hybrid';
  tpmSocketPath?: string;
  guestAgentSocketPath?: string;
  infiniServiceSocketPath?: string;
  virtioDriversIso?: string;
  enableAudio?: boolean;
  enableUsbTablet?: boolean;
}

export interface VMCreateResult {
  vmId: string;
  tapDevice: string;
  qmpSocketPath: string;
  displayPort: number;
  pid: number;
  diskPaths: string[];
  pidFilePath: string;
  success: true;
  installationIsoPath?: string;
  installingOS?: boolean;
}

/** Accepted by `start()` but ignored. */
export interface VMStartConfig {
  waitForBoot?: boolean;
  bootTimeout?: number;
}

/** Defaults: graceful true, timeout 30000 ms, force true. */
export interface VMStopConfig {
  graceful?: boolean;
  timeout?: number;
  force?: boolean;
}

export interface VMOperationResult {
  success: boolean;
  message: string;
  error?: string;
  vmId: string;
  timestamp: Date;
  forced?: boolean;
}

export interface VMStatusResult {
  vmId: string;
  status: string;
  qmpStatus: string | null;
  pid: number | null;
  uptime: number | null;
  processAlive: boolean;
  consistent: boolean;
  tapDevice: string | null;
  qmpSocketPath: string | null;
  /**
   * Addition: present when this manager holds the VM's monitor connection.
   * `false` means the QEMU process runs but its monitor did not answer within
   * 1.5 s (a stopped or wedged QEMU); `qmpStatus` is then null.
   */
  monitorResponsive?: boolean;
  /**
   * Addition: present for a running VM with a guest agent channel
   * (`guestAgentSocketPath`): whether its agent answered within the same 1.5 s.
   */
  agentResponsive?: boolean;
  /** Addition: the guest's addresses as its agent reports them (no loopback, no IPv6 link-local). */
  guestIpAddresses?: string[];
}

export declare enum LifecycleErrorCode {
  VM_NOT_FOUND = 'VM_NOT_FOUND',
  ALREADY_RUNNING = 'ALREADY_RUNNING',
  ALREADY_STOPPED = 'ALREADY_STOPPED',
  CREATE_FAILED = 'CREATE_FAILED',
  START_FAILED = 'START_FAILED',
  STOP_FAILED = 'STOP_FAILED',
  CLEANUP_FAILED = 'CLEANUP_FAILED',
  TIMEOUT = 'TIMEOUT',
  QMP_ERROR = 'QMP_ERROR',
  DISK_ERROR = 'DISK_ERROR',
  NETWORK_ERROR = 'NETWORK_ERROR',
  FIREWALL_ERROR = 'FIREWALL_ERROR',
  INVALID_CONFIG = 'INVALID_CONFIG',
  PROCESS_ERROR = 'PROCESS_ERROR',
  DATABASE_ERROR = 'DATABASE_ERROR',
  INVALID_STATE = 'INVALID_STATE',
  CONCURRENT_MODIFICATION = 'CONCURRENT_MODIFICATION',
  RESOURCE_UNAVAILABLE = 'RESOURCE_UNAVAILABLE',
}

/** Error of the VM lifecycle; `name` is `'LifecycleError'`. */
export declare class LifecycleError extends Error {
  readonly code: LifecycleErrorCode;
  readonly vmId?: string;
  readonly context?: Record<string, unknown>;
  constructor(code: LifecycleErrorCode, message: string, vmId?: string, context?: Record<string, unknown>);
}

export declare const DEFAULT_STOP_TIMEOUT: 30000;
export declare const DEFAULT_BOOT_TIMEOUT: 60000;
export declare const DEFAULT_QMP_CONNECT_TIMEOUT: 5000;
export declare const DEFAULT_QMP_SOCKET_DIR: '/var/run/infinivirt';
export declare const DEFAULT_DISK_DIR: '/var/lib/infinivirt/disks';
export declare const DEFAULT_PIDFILE_DIR: '/var/run/infinivirt/pids';
export declare const DEFAULT_NETWORK_MODEL: 'virtio-net-pci';
export declare const DEFAULT_DISK_BUS: 'virtio';
export declare const DEFAULT_DISK_CACHE: 'writeback';
export declare const RESTART_DELAY_MS: 2000;
export declare const PROCESS_EXIT_POLL_INTERVAL: 100;
export declare const RUNTIME_DISK_SIZE_PLACEHOLDER_GB: 1;

/** The options of `new Infinivirt(config)` other than the database (see `InfinivirtConfig`). */
export interface InfinivirtOptions {
  eventManager?: EventManagerLike;
  healthMonitorInterval?: number;
  autoStartHealthMonitor?: boolean;
  diskDir?: string;
  qmpSocketDir?: string;
  pidfileDir?: string;
  /**
   * Infinivirt addition: refuse (`DisplayError` INVALID_PASSWORD) instead of warning about a
   * password-less SPICE/VNC console on a non-loopback address. Defaults to env `INFINIVIRT_STRICT_DISPLAY=1`.
   */
  strictDisplaySecurity?: boolean;
  /** Infinivirt addition, test-only: raw QEMU arguments appended to every VM's command. */
  extraArgs?: string[];
  /** Infinivirt addition: where the firewall ruleset is persisted (default `/etc/infinivirt/nftables`). */
  firewallPersistenceDir?: string;
  /** Infinivirt addition: all-or-nothing firewall rules (see `NftablesServiceConfig.strictRules`). */
  firewallStrictRules?: boolean;
  /** Infinivirt addition: the QEMU binary (default `qemu-system-x86_64`). */
  qemuBinary?: string;
  /** Infinivirt addition: options of the UnattendedInstaller used for `unattendedInstall` (media directory, monitor rule). */
  unattended?: UnattendedInstallerOptions;
}

/** The backend's way: its live Prisma client (structurally a `PrismaClientLike`). */
export interface InfinivirtPrismaConfig extends InfinivirtOptions {
  /** A live Prisma client (structurally a `PrismaClientLike`). */
  prismaClient: unknown;
  databaseUrl?: string;
  sqlitePath?: string;
}

/** Infinivirt addition: the native PostgreSQL store (or `sqlite:`/`file:` for the embedded one). */
export interface InfinivirtDatabaseUrlConfig extends InfinivirtOptions {
  prismaClient?: undefined;
  /** PostgreSQL URL, or `sqlite:`/`file:` for the embedded store. */
  databaseUrl: string;
  sqlitePath?: string;
}

/** Infinivirt addition: the embedded SQLite store in this file (schema created on first use). */
export interface InfinivirtSqliteConfig extends InfinivirtOptions {
  prismaClient?: undefined;
  databaseUrl?: string;
  /** The embedded SQLite file. */
  sqlitePath: string;
}

/**
 * Input of `new Infinivirt(config)`: a `prismaClient` (the spec's only way), or, as an
 * Infinivirt addition, a `databaseUrl` or an `sqlitePath` instead of one.
 */
export type InfinivirtConfig = InfinivirtPrismaConfig | InfinivirtDatabaseUrlConfig | InfinivirtSqliteConfig;

/** Backend event sink. */
export interface EventManagerLike {
  emitCRUD?: (resource: string, action: string, id: string, data?: unknown) => void;
  emit?: (event: string, data: unknown) => void;
}

export interface ActiveVMResources {
  tapDevice?: string;
  createdAt: Date;
  internalName: string;
}

export declare function isLifecycleError(error: unknown): error is LifecycleError;
export declare function createLifecycleError(
  code: LifecycleErrorCode,
  message: string,
  vmId?: string,
  context?: Record<string, unknown>,
): LifecycleError;

// ===========================================================================
// types/vm.types
// ===========================================================================

export type VMDisplayProtocol = DisplayProtocol;
export type VMCreateConfigFromHub = VMCreateConfig;
export type VMCreateResultFromHub = VMCreateResult;
export type VMStartConfigFromHub = VMStartConfig;
export type VMStopConfigFromHub = VMStopConfig;
export type VMOperationResultFromHub = VMOperationResult;
export type VMStatusResultFromHub = VMStatusResult;
export type VMStatus = DBVMStatus;
export type VMMachineOptions = MachineOptions;

export interface VMInfo {
  id: string;
  name: string;
  internalName: string;
  os: string;
  resources: VMResourceConfig;
  status: VMStatus;
  network?: VMNetworkInfo;
  display?: VMDisplayInfo;
  hardware?: VMHardwareConfig;
  pid?: number | null;
  qmpSocketPath?: string | null;
  createdAt?: Date;
  updatedAt?: Date;
}

export interface VMResourceConfig {
  cpuCores: number;
  ramGB: number;
  diskSizeGB: number;
}

export interface VMNetworkInfo {
  bridge: string;
  macAddress?: string;
  tapDevice?: string;
}

export interface VMDisplayInfo {
  protocol: 'spice' | 'vnc';
  port: number;
  address?: string;
  hasPassword?: boolean;
}

export interface VMHardwareConfig {
  gpuPciAddress?: string;
  gpuRomfile?: string;
  iommuGroup?: number;
}

export declare enum VMOperation {
  CREATE = 'CREATE',
  START = 'START',
  STOP = 'STOP',
  RESTART = 'RESTART',
  SUSPEND = 'SUSPEND',
  RESUME = 'RESUME',
  RESET = 'RESET',
  DELETE = 'DELETE',
}

export declare enum VMOperationStatus {
  PENDING = 'PENDING',
  IN_PROGRESS = 'IN_PROGRESS',
  SUCCESS = 'SUCCESS',
  FAILED = 'FAILED',
  TIMEOUT = 'TIMEOUT',
}

export interface VMOperationHistory {
  id: string;
  vmId: string;
  operation: VMOperation;
  status: VMOperationStatus;
  startedAt: Date;
  completedAt?: Date | null;
  message?: string;
  error?: string;
  forced?: boolean;
  context?: Record<string, unknown>;
}

export declare function isValidVMStatus(status: string): status is VMStatus;
export declare function isValidVMOperation(operation: string): operation is VMOperation;
export declare function isValidVMInfo(obj: unknown): obj is VMInfo;
export declare const DEFAULT_VM_CPU_CORES: 2;
export declare const DEFAULT_VM_RAM_GB: 4;
export declare const DEFAULT_VM_DISK_SIZE_GB: 20;
export declare const MIN_VM_CPU_CORES: 1;
export declare const MAX_VM_CPU_CORES: 64;
export declare const MIN_VM_RAM_GB: 1;
export declare const MAX_VM_RAM_GB: 512;
export declare const MIN_VM_DISK_SIZE_GB: 10;
export declare const MAX_VM_DISK_SIZE_GB: 2048;

// ===========================================================================
// types/config.types
// ===========================================================================

export type ConfigMachineType = MachineType;
export type ConfigDiskBus = DiskBus;
export type ConfigCacheMode = CacheMode;
export type ConfigDisplayType = DisplayType;
export type ConfigVgaType = VgaType;
export type ConfigBootDevice = BootDevice;
export type ConfigMachineOptions = MachineOptions;
export type ConfigDiskOptions = DiskOptions;
export type ConfigNetworkOptions = NetworkOptions;
export type ConfigSpiceOptions = SpiceOptions;
export type ConfigVncOptions = VncOptions;
export type ConfigQemuProcessOptions = QemuProcessOptions;
export type ConfigSpiceConfigOptions = SpiceConfigOptions;
export type ConfigVncConfigOptions = VncConfigOptions;
export type ConfigTapDeviceConfig = TapDeviceConfig;
export type ConfigBridgeConfig = BridgeConfig;
export type ConfigCreateImageOptions = CreateImageOptions;
export type ConfigConvertImageOptions = ConvertImageOptions;
export type ConfigSnapshotCreateOptions = SnapshotCreateOptions;
export type ConfigVMFirewallConfig = VMFirewallConfig;
export type ConfigFirewallRuleInput = FirewallRuleInput;
export type ConfigInfinivirtConfig = InfinivirtConfig;
export type ConfigHealthMonitorConfig = HealthMonitorConfig;
export type ConfigEventHandlerConfig = EventHandlerConfig;

export type VMDisplayType = Exclude<DisplayType, 'none'>;
export type NetworkModel = NetworkOptions['model'];
export type StorageFormat = 'qcow2' | 'raw';

export interface DisplayConfig {
  type: VMDisplayType;
  port: number;
  address?: string;
  password?: string;
  passwordEnabled?: boolean;
  disableTicketing?: boolean;
  enableAgent?: boolean;
}

export interface NetworkConfig {
  bridge: string;
  macAddress?: string;
  tapDevice?: string;
  model?: NetworkModel;
  queues?: number;
  firewall?: FirewallConfig;
}

export interface FirewallConfig {
  enabled: boolean;
  departmentRules?: FirewallRuleInput[];
  vmRules?: FirewallRuleInput[];
}

export interface StorageConfig {
  path: string;
  format?: StorageFormat;
  sizeGB: number;
  bus?: DiskBus;
  cache?: CacheMode;
  discard?: boolean;
  preallocation?: 'off' | 'metadata' | 'falloc' | 'full';
  backingFile?: string;
}

export interface QemuConfig {
  machine?: QemuMachineConfig;
  cpu?: QemuCpuConfig;
  memory?: QemuMemoryConfig;
  boot?: QemuBootConfig;
  process?: QemuProcessConfig;
}

export interface QemuMachineConfig {
  type?: MachineType;
  accel?: string;
  kernelIrqchip?: string;
}

export interface QemuCpuConfig {
  model?: string;
  cores: number;
  sockets?: number;
  threads?: number;
}

export interface QemuMemoryConfig {
  sizeGB: number;
}

export interface QemuBootConfig {
  order?: BootDevice;
  menu?: boolean;
  isoPath?: string;
}

export interface QemuProcessConfig {
  daemonize?: boolean;
  pidfile?: string;
  qmpSocket?: string;
  uuid?: string;
}

export interface VMCompleteConfig {
  vm: VMIdentityConfig;
  resources?: VMResourcesConfig;
  display?: DisplayConfig;
  network?: NetworkConfig;
  storage?: StorageConfig;
  qemu?: QemuConfig;
  hardware?: VMHardwarePassthroughConfig;
}

export interface VMIdentityConfig {
  id: string;
  name: string;
  internalName: string;
  os?: string;
}

export interface VMResourcesConfig {
  cpuCores: number;
  ramGB: number;
  diskSizeGB: number;
}

export interface VMHardwarePassthroughConfig {
  gpuPciAddress?: string;
  gpuAudioPciAddress?: string;
  gpuRomfile?: string;
  usbDevices?: USBDeviceConfig[];
  pciDevices?: PCIDeviceConfig[];
}

export interface USBDeviceConfig {
  vendorId: string;
  productId: string;
}

export interface PCIDeviceConfig {
  address: string;
  romfile?: string;
}

export interface ConfigValidationResult {
  valid: boolean;
  errors: ConfigValidationError[];
  warnings: ConfigValidationWarning[];
}

export interface ConfigValidationError {
  field: string;
  code: string;
  message: string;
}

export interface ConfigValidationWarning {
  field: string;
  code: string;
  message: string;
}

/** Default values and limits (a plain nested object at runtime). */
export declare const ConfigDefaults: {
  readonly display: {
    readonly spicePort: 5900;
    readonly vncDisplay: 0;
    readonly address: '0.0.0.0';
    readonly enableAgent: true;
  };
  readonly network: {
    readonly bridge: 'virbr0';
    readonly model: 'virtio-net-pci';
  };
  readonly storage: {
    readonly format: 'qcow2';
    readonly bus: 'virtio';
    readonly cache: 'writeback';
    readonly sizeGB: 20;
  };
  readonly qemu: {
    readonly machineType: 'q35';
    readonly cpuModel: 'host';
    readonly cpuCores: 2;
    readonly ramGB: 4;
  };
  readonly limits: {
    readonly minCpuCores: 1;
    readonly maxCpuCores: 64;
    readonly minRamGB: 1;
    readonly maxRamGB: 512;
    readonly minDiskSizeGB: 10;
    readonly maxDiskSizeGB: 2048;
    readonly minSpicePort: 5900;
    readonly maxSpicePort: 65535;
    readonly maxVncDisplay: 99;
  };
};

export declare function isValidDisplayConfig(obj: unknown): obj is DisplayConfig;
export declare function isValidNetworkConfig(obj: unknown): obj is NetworkConfig;
export declare function isValidStorageConfig(obj: unknown): obj is StorageConfig;
export declare function isValidVMCompleteConfig(obj: unknown): obj is VMCompleteConfig;
export declare function isValidGpuPassthroughConfig(obj: unknown): obj is VMHardwarePassthroughConfig;

// ===========================================================================
// unattended/*
// ===========================================================================

export interface UnattendedInstallerOptions {
  /**
   * Directory of the backend's unattended managers; else env `INFINIBAY_BACKEND_SERVICES_PATH`.
   * When neither is set, Infinivirt builds the answer ISO itself (see COMPATIBILITY.md).
   */
  backendServicesPath?: string;
  monitorConfig?: Partial<MonitorConfig>;
  /** Infinivirt addition: directory of the built ISO (default `/var/lib/infinivirt/unattended`). */
  outputDir?: string;
  /** Infinivirt addition: base of the temporary work directory (default: `outputDir`). */
  workDir?: string;
  /** Infinivirt addition: directory `script.fileName` is read from when a script has no `content`. */
  scriptsDir?: string;
  /** Infinivirt addition: the xorriso program (default `xorriso` from PATH). */
  xorrisoPath?: string;
}

/** Infinivirt addition: one file of an answer medium. */
export interface UnattendedAnswerFile {
  /** Path on the medium, `/`-separated (`autounattend.xml`, `user-data`, `ks.cfg`, …). */
  path: string;
  content: string;
}

/** Infinivirt addition: what `generateAnswerFiles()` resolves. */
export interface UnattendedAnswerFiles {
  os: OSType;
  /** Volume ID of the answer ISO: `AUTOUNATTEND`, `CIDATA` or `OEMDRV`. */
  volumeId: string;
  files: UnattendedAnswerFile[];
}

/**
 * Builds the answer ISO for an unattended install (natively, or through the backend
 * managers when `backendServicesPath` / `INFINIBAY_BACKEND_SERVICES_PATH` is set),
 * mounts it and monitors the install.
 */
export declare class UnattendedInstaller {
  constructor(config: UnattendedInstallConfig, options?: UnattendedInstallerOptions);
  /** Resolves the path of the generated ISO. */
  generateInstallationISO(): Promise<string>;
  mountInstallationMedia(builder: QemuCommandBuilder, isoPath: string): void;
  monitorInstallation(qmpClient: QMPClient, isoPath: string): Promise<InstallationResult>;
  cleanupInstallationMedia(qmpClient: QMPClient, isoPath: string): Promise<void>;
  getConfig(): UnattendedInstallConfig;
  /** Infinivirt addition: the answer files (password hashed or encoded), without building media. */
  generateAnswerFiles(): Promise<UnattendedAnswerFiles>;
  /** Infinivirt addition: attaches a native answer ISO as an extra CD-ROM (`addSecondCdrom`). */
  mountAnswerMedia(builder: QemuCommandBuilder, isoPath: string): void;
  /**
   * Infinivirt addition: the installer ISO to boot. Ubuntu: a remastered copy in
   * `outputDir` whose casper GRUB entries pass `autoinstall` (removed by
   * `cleanupInstallationMedia`); other OSes: `isoPath` unchanged.
   */
  prepareInstallerIso(isoPath: string): Promise<string>;
}

/**
 * Watches QMP events during an OS install. Emits `progress` (`InstallationProgress`),
 * `timeout-check`, `complete` (`InstallationResult`), `error` (only when a listener is
 * registered; otherwise logged) and, beyond the spec, `media-ejected` (`{ device }`).
 * Completion needs the installer's final guest shutdown (see `MonitorConfig`).
 * The constructor throws `UnattendedError(INVALID_CONFIG)` for unusable options.
 */
export declare class InstallationMonitor extends TypedEventEmitter<InstallationMonitorEvents> {
  constructor(qmpClient: QMPClient, config?: Partial<MonitorConfig>);
  /** Resolves with the result (never rejects once started); `stop()` resolves it with `MONITORING_ERROR`. */
  start(): Promise<InstallationResult>;
  stop(): void;
  isRunning(): boolean;
  getCurrentPhase(): InstallationPhase;
  getPhases(): InstallationProgress[];
  getElapsedTime(): number;
  /** Infinivirt addition: guest reboots counted so far in this (or the last) run. */
  getResetCount(): number;
}

// ===========================================================================
// types/unattended.types
// ===========================================================================

export type OSType = 'windows10' | 'windows11' | 'ubuntu' | 'fedora';
export type InstallationPhase =
  | 'generating_iso'
  | 'mounting_media'
  | 'installing'
  | 'completing'
  | 'cleanup'
  | 'completed'
  | 'failed';
export type InstallCommandType = Record<string, string> | string[];

export interface UnattendedApplication {
  id: string;
  name: string;
  description?: string | null;
  version?: string | null;
  url?: string | null;
  icon?: string | null;
  os: string[];
  installCommand: InstallCommandType;
  parameters: Record<string, unknown>;
}

export type ScriptShell = 'POWERSHELL' | 'CMD' | 'BASH' | 'SH';

export interface UnattendedScript {
  id: string;
  name: string;
  fileName: string;
  shell: ScriptShell;
  description?: string | null;
  category?: string | null;
  tags?: string[];
}

export interface ScriptExecutionConfig {
  script: UnattendedScript;
  inputValues: Record<string, unknown>;
  executionId: string;
}

export interface UnattendedInstallConfig {
  vmId: string;
  os: OSType;
  username: string;
  password: string;
  productKey?: string;
  applications?: UnattendedApplication[];
  scripts?: ScriptExecutionConfig[];
  locale?: string;
  timezone?: string;
  hostname?: string;
}

/**
 * Infinivirt addition: a script that carries its text. Without `content`, the native
 * generator reads `fileName` from the installer's `scriptsDir` option.
 */
export interface UnattendedScriptWithContent extends UnattendedScript {
  content?: string;
}

/**
 * Infinivirt addition: the fields the native generator reads beyond the spec's
 * `UnattendedInstallConfig` (assignable to it, so it can be passed anywhere one is taken).
 */
export interface NativeUnattendedInstallConfig extends UnattendedInstallConfig {
  scripts?: Array<ScriptExecutionConfig & { script: UnattendedScriptWithContent }>;
  /** The VM's firmware, for the Windows disk layout (default `'bios'`). */
  firmware?: 'bios' | 'uefi';
}

export interface MonitorConfig {
  timeout: number;
  maxResets: number;
  checkInterval: number;
  /**
   * Infinivirt addition (ms, default 0): a guest shutdown at or after this time completes
   * the installation. With neither this nor `expectedReboots` set, the first guest
   * shutdown completes it (the spec's behaviour); otherwise an earlier one fails with
   * `INSTALLATION_FAILED`.
   */
  minInstallTime?: number;
  /** Infinivirt addition (default 0, at most `maxResets`): a guest shutdown after this many reboots completes the installation. */
  expectedReboots?: number;
  /** Infinivirt addition: QMP-eject `ejectDevice` after this many guest reboots so the VM boots from disk. */
  ejectAfterResets?: number;
  /** Infinivirt addition: the drive to eject (default `CDROM_DEVICE_NAME`; `ide2-cd0` for `-cdrom` on q35). */
  ejectDevice?: string;
  /** Infinivirt addition: where a failed installation's screen is saved (PNG, QMP `screendump`). */
  screenshotPath?: string;
}

export interface InstallationProgress {
  phase: InstallationPhase;
  message: string;
  timestamp: Date;
  error?: Error;
}

/**
 * Infinivirt addition: the codes an installation result fails with: the deadline, the
 * reboot limit, an early or unexpected shutdown, a lost QMP connection, `stop()`.
 */
export type InstallationFailureCode =
  | UnattendedErrorCode.INSTALLATION_TIMEOUT
  | UnattendedErrorCode.INSTALLATION_RESET_LIMIT_EXCEEDED
  | UnattendedErrorCode.INSTALLATION_FAILED
  | UnattendedErrorCode.QMP_ERROR
  | UnattendedErrorCode.MONITORING_ERROR;

/** Infinivirt addition: the error of a failed `InstallationResult`. */
export type InstallationError = UnattendedError<InstallationFailureCode>;

/** Infinivirt addition: the events of `InstallationMonitor` (spec §14.2 plus `media-ejected`). */
export interface InstallationMonitorEvents {
  progress: [progress: InstallationProgress];
  'timeout-check': [check: { elapsed: number; remaining: number; percentComplete: number }];
  complete: [result: InstallationResult];
  error: [error: InstallationError];
  'media-ejected': [info: { device: string }];
}

export interface InstallationResult {
  success: boolean;
  isoPath: string;
  duration: number;
  phases: InstallationProgress[];
  /** Set when `success` is false; typed with the codes it can carry (the spec said `Error`). */
  error?: InstallationError;
  /** Infinivirt addition: guest reboots counted (set by `InstallationMonitor`). */
  resetCount?: number;
  /** Infinivirt addition: the screenshot kept of a failed installation. */
  screenshotPath?: string;
}

export declare enum UnattendedErrorCode {
  INVALID_CONFIG = 'INVALID_CONFIG',
  ISO_GENERATION_FAILED = 'ISO_GENERATION_FAILED',
  MOUNT_FAILED = 'MOUNT_FAILED',
  INSTALLATION_TIMEOUT = 'INSTALLATION_TIMEOUT',
  INSTALLATION_RESET_LIMIT_EXCEEDED = 'INSTALLATION_RESET_LIMIT_EXCEEDED',
  INSTALLATION_FAILED = 'INSTALLATION_FAILED',
  CLEANUP_FAILED = 'CLEANUP_FAILED',
  UNSUPPORTED_OS = 'UNSUPPORTED_OS',
  MANAGER_NOT_FOUND = 'MANAGER_NOT_FOUND',
  QMP_ERROR = 'QMP_ERROR',
  MONITORING_ERROR = 'MONITORING_ERROR',
}

/**
 * Error of the unattended-install code; `name` is `'UnattendedError'`. `C` (Infinivirt
 * addition, defaults to every code) narrows `code` where fewer codes can occur.
 */
export declare class UnattendedError<C extends UnattendedErrorCode = UnattendedErrorCode> extends Error {
  readonly code: C;
  readonly cause?: Error;
  readonly vmId?: string;
  readonly context?: Record<string, unknown>;
  constructor(
    code: C,
    message: string,
    cause?: Error,
    vmId?: string,
    context?: Record<string, unknown>,
  );
}

export declare const DEFAULT_INSTALLATION_TIMEOUT: number;
export declare const CDROM_DEVICE_NAME: 'ide1-cd0';
export declare const ISO_BOOT_ORDER: BootDevice[];
export declare const DEFAULT_MAX_RESETS: 5;
export declare const DEFAULT_CHECK_INTERVAL: 5000;
export declare const DEFAULT_LOCALE: 'en_US';
export declare const DEFAULT_TIMEZONE: 'UTC';
export declare function isValidOSType(os: string): os is OSType;
export declare function isValidInstallationPhase(phase: string): phase is InstallationPhase;
export declare function isValidInstallConfig(config: unknown): config is UnattendedInstallConfig;
export declare function isUnattendedError(error: unknown): error is UnattendedError;
export declare function createUnattendedError(
  code: UnattendedErrorCode,
  message: string,
  cause?: Error,
  vmId?: string,
  context?: Record<string, unknown>,
): UnattendedError;

// ===========================================================================
// system/CgroupsManager
// ===========================================================================

/**
 * cpuset pinning of a QEMU PID: cgroups v2 (`infinivirt.slice/qemu-<pid>.scope`), or the
 * v1 cpuset hierarchy (`cpuset/infinivirt/qemu-<pid>`) where v2 has no cpuset controller.
 */
export declare class CgroupsManager {
  constructor();
  /** Best effort; never rejects. */
  applyCpuPinning(pid: number, cores: number[]): Promise<void>;
  /** Resolves the number of empty scopes removed. */
  cleanupEmptyScopes(): Promise<number>;
  getHostCpuCount(): Promise<number>;
  validateCores(cores: number[]): Promise<void>;
}

// ===========================================================================
// utils/*
// ===========================================================================

/** Logger on the `debug` namespace `infinivirt:<module>`; `(level, message)` logs to `infinivirt:<module>:<level>`. */
export declare class Debugger {
  constructor(module: string);
  log(...args: string[]): void;
}

/** Runs a command without a shell; resolves stdout on exit code 0. */
export declare class CommandExecutor {
  constructor();
  execute(command: string, args: string[]): Promise<string>;
}

// ===========================================================================
// backup/BackupService (API-next §2, issue 15)
// ===========================================================================

export declare const BackupType: { readonly FULL: 'FULL'; readonly INCREMENTAL: 'INCREMENTAL'; readonly SNAPSHOT: 'SNAPSHOT' };
export type BackupType = (typeof BackupType)[keyof typeof BackupType];
export declare const BackupStatus: {
  readonly PENDING: 'PENDING'; readonly IN_PROGRESS: 'IN_PROGRESS'; readonly COMPLETED: 'COMPLETED';
  readonly FAILED: 'FAILED'; readonly CANCELLED: 'CANCELLED';
};
export type BackupStatus = (typeof BackupStatus)[keyof typeof BackupStatus];
export declare const BackupCompression: { readonly NONE: 'NONE'; readonly QCOW2: 'QCOW2'; readonly GZIP: 'GZIP' };
export type BackupCompression = (typeof BackupCompression)[keyof typeof BackupCompression];
export declare const BackupErrorCode: {
  readonly VM_NOT_FOUND: 'VM_NOT_FOUND'; readonly BACKUP_NOT_FOUND: 'BACKUP_NOT_FOUND';
  readonly INVALID_DESTINATION: 'INVALID_DESTINATION'; readonly DISK_NOT_FOUND: 'DISK_NOT_FOUND';
  readonly VM_RUNNING: 'VM_RUNNING'; readonly INSUFFICIENT_SPACE: 'INSUFFICIENT_SPACE';
  readonly PARENT_NOT_FOUND: 'PARENT_NOT_FOUND'; readonly BACKUP_EXISTS: 'BACKUP_EXISTS';
  readonly TARGET_EXISTS: 'TARGET_EXISTS'; readonly OPERATION_FAILED: 'OPERATION_FAILED';
  readonly CANCELLED: 'CANCELLED'; readonly INVALID_CONFIG: 'INVALID_CONFIG';
  readonly CORRUPT_BACKUP: 'CORRUPT_BACKUP'; readonly DEPENDENCY: 'DEPENDENCY';
};
export type BackupErrorCode = (typeof BackupErrorCode)[keyof typeof BackupErrorCode];

/** Infinivirt's default: `/var/lib/infinivirt/backups`. */
export declare const DEFAULT_BACKUP_DIR: string;
export declare const DEFAULT_BACKUP_TYPE: BackupType;
export declare const DEFAULT_BACKUP_COMPRESSION: BackupCompression;
export declare const DEFAULT_RETENTION_COUNT: number;
/** Per `BackupService` instance. */
export declare const MAX_CONCURRENT_BACKUPS: number;
export declare const BACKUP_MANIFEST_FILENAME: string;

export interface BackupConfig {
  vmId: string;
  diskPaths: string[];
  /** Must be `<backupRootDir>/<vmId>` (omitted: that directory); anything else → INVALID_DESTINATION. */
  destinationDir?: string;
  type: BackupType;
  /** NONE or QCOW2 (compressed clusters); GZIP → INVALID_CONFIG. */
  compression?: BackupCompression;
  description?: string;
  /** Required for INCREMENTAL. */
  parentBackupId?: string;
  tags?: string[];
  /** Infinivirt: the running VM's QMP socket; the backup then runs through QEMU's block jobs. */
  qmpSocketPath?: string;
  /** Infinivirt: cancels the backup (the VM keeps running; the manifest says CANCELLED). */
  signal?: AbortSignal;
}

export interface BackupRestoreOptions {
  backupId: string;
  vmId: string;
  diskPaths: string[];
  overwriteExisting?: boolean;
  /** Declared by the original; not read. */
  autoStopStart?: boolean;
  /** SNAPSHOT only; SNAPSHOT backups are not supported yet. */
  allowInPlaceSnapshotRevert?: boolean;
}

export interface BackupSchedule {
  id: string; vmId: string; diskPaths?: string[]; type: BackupType; cronExpression: string;
  retentionCount: number; destinationDir: string; compression?: BackupCompression; enabled: boolean;
  label?: string; lastRunAt?: string; nextRunAt?: string;
}

export interface BackupDiskInfo {
  sourcePath: string;
  backupPath: string;
  originalSize: number;
  backupSize: number;
  format: string;
  /** INCREMENTAL: the parent backup's image. */
  backingFile?: string;
  /** Infinivirt: the persistent dirty bitmap this backup left on the source disk. */
  bitmap?: string;
}

export interface BackupMetadata {
  id: string;
  vmId: string;
  type: BackupType;
  status: BackupStatus;
  createdAt: string;
  completedAt?: string;
  durationMs?: number;
  disks: BackupDiskInfo[];
  totalSize: number;
  totalOriginalSize: number;
  compression: BackupCompression;
  description?: string;
  tags?: string[];
  parentBackupId?: string;
  errorMessage?: string;
  runningAtBackup?: boolean;
  crashConsistent?: boolean;
  /** Infinivirt: INCREMENTAL was asked for, a FULL was taken; `fullReason` says why. */
  requestedType?: BackupType;
  fullReason?: string;
}

export interface BackupResult {
  success: boolean; backupId: string; vmId: string; type: BackupType; disks: BackupDiskInfo[];
  totalSize: number; durationMs: number; error?: string;
}

export interface BackupRestoreResult {
  success: boolean; backupId: string; vmId: string; restoredDiskPaths: string[]; durationMs: number; error?: string;
}

export interface BackupProgress {
  backupId: string;
  vmId: string;
  currentDisk: number;
  totalDisks: number;
  diskProgress: number;
  overallProgress: number;
  /** From the block jobs' byte counts. */
  estimatedTimeRemainingMs?: number;
}

export interface BackupErrorInfo {
  code: BackupErrorCode; message: string; backupId?: string; vmId?: string; diskPath?: string; command?: string;
}

/** Infinivirt: the result of `verifyBackup`. */
export interface BackupVerifyResult {
  backupId: string;
  valid: boolean;
  problems: string[];
  checkedImages: string[];
}

export declare class BackupError extends Error {
  constructor(code: BackupErrorCode, message: string, options?: { backupId?: string; vmId?: string; diskPath?: string; command?: string });
  readonly name: 'BackupError';
  readonly code: BackupErrorCode;
  readonly backupId?: string;
  readonly vmId?: string;
  readonly diskPath?: string;
  readonly command?: string;
  toInfo(): BackupErrorInfo;
}

export declare function isValidBackupType(s: string): s is BackupType;
export declare function isValidBackupStatus(s: string): s is BackupStatus;
export declare function isBackupError(e: unknown): e is BackupError;

export type IsVmRunningProbe = (vmId: string) => Promise<boolean | null> | boolean | null;
export interface GuestQuiesce {
  fsFreeze(): Promise<number>; fsThaw(): Promise<number>;
  isConnected?(): boolean; connect?(): Promise<void>; disconnect?(): Promise<void>;
}
export type GuestAgentFactory = (vmId: string) => Promise<GuestQuiesce | null> | GuestQuiesce | null;

export interface BackupServiceOptions {
  /** Default DEFAULT_BACKUP_DIR. */
  backupRootDir?: string;
  /** `true` (or `null`: unknown) with no answering QMP socket refuses the backup (VM_RUNNING). */
  isVmRunning?: IsVmRunningProbe;
  /** Accepted; not used yet (backups are crash-consistent). */
  guestAgentFactory?: GuestAgentFactory;
  /** Infinivirt: resolves a VM's QMP socket when `BackupConfig.qmpSocketPath` is not given. */
  qmpSocketPath?: (vmId: string) => Promise<string | null> | string | null;
}

export interface BackupServiceEvents {
  progress: (p: BackupProgress) => void;
  completed: (m: BackupMetadata) => void;
  restored: (r: BackupRestoreResult) => void;
}

export declare class BackupService extends TypedEventEmitter<{ progress: [BackupProgress]; completed: [BackupMetadata]; restored: [BackupRestoreResult] }> {
  constructor(options?: BackupServiceOptions);
  createBackup(config: BackupConfig, options?: { signal?: AbortSignal }): Promise<BackupResult>;
  restoreBackup(options: BackupRestoreOptions): Promise<BackupRestoreResult>;
  listBackups(vmId: string): Promise<BackupMetadata[]>;
  deleteBackup(backupId: string, vmId: string): Promise<void>;
  getBackupMetadata(backupId: string, vmIdHint?: string): Promise<BackupMetadata>;
  /** Infinivirt: `qemu-img check` of every image of the chain, and the manifest against the files. */
  verifyBackup(backupId: string, vmIdHint?: string): Promise<BackupVerifyResult>;
  readonly activeBackupCount: number;
  /** Infinivirt: the resolved root directory. */
  readonly backupRootDir: string;
}
