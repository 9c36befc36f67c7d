// Member-for-member conformance of the declared classes with API.md.
//
// `SpecClasses` transcribes the class signatures of API.md (sections 2.2, 3-16
// and the error classes of section 17; the BridgeManager parameters of the
// section 8.2 table are strings). For every class: each specified member has
// exactly the specified type, the class has no public member beyond the
// specification (except Infinivirt's documented additions), the constructor
// takes exactly the specified parameters and the static side holds exactly the
// specified static methods. Type-checked only, never executed.

import { EventEmitter } from 'events';
import * as api from '../../index';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function assertTrue<T extends true>(): void {}

declare namespace SpecClasses {
  type BootDevice = api.BootDevice;
  type CleanupResult = api.CleanupResult;
  type ConnectionStateConfig = api.ConnectionStateConfig;
  type ConvertImageOptions = api.ConvertImageOptions;
  type CpuPinningOptions = api.CpuPinningOptions;
  type CpuPinningResult = api.CpuPinningResult;
  type CreateImageOptions = api.CreateImageOptions;
  type DBVMStatus = api.DBVMStatus;
  type DatabaseAdapter = api.DatabaseAdapter;
  type DiskOptions = api.DiskOptions;
  type DisplayCommandArgs = api.DisplayCommandArgs;
  type DisplayErrorCode = api.DisplayErrorCode;
  type DisplayValidationResult = api.DisplayValidationResult;
  type EventHandler = api.EventHandler;
  type EventHandlerConfig = api.EventHandlerConfig;
  type EventManagerLike = api.EventManagerLike;
  type FirewallApplyResult = api.FirewallApplyResult;
  type FirewallRuleInput = api.FirewallRuleInput;
  type FirewallRuleRecord = api.FirewallRuleRecord;
  type HealthCheckSummary = api.HealthCheckSummary;
  type HealthMonitor = api.HealthMonitor;
  type HealthMonitorConfig = api.HealthMonitorConfig;
  type ImageCheckResult = api.ImageCheckResult;
  type ImageInfo = api.ImageInfo;
  type InfinivirtConfig = api.InfinivirtConfig;
  type InstallationPhase = api.InstallationPhase;
  type InstallationProgress = api.InstallationProgress;
  type InstallationResult = api.InstallationResult;
  type LifecycleErrorCode = api.LifecycleErrorCode;
  type MacAddress = api.MacAddress;
  type MachineConfigUpdate = api.MachineConfigUpdate;
  type MachineConfigurationRecord = api.MachineConfigurationRecord;
  type MachineOptions = api.MachineOptions;
  type MachineRecord = api.MachineRecord;
  type MachineType = api.MachineType;
  type MonitorConfig = api.MonitorConfig;
  type NetworkOptions = api.NetworkOptions;
  type NftablesPersistence = api.NftablesPersistence;
  type NftablesRuleTokens = api.NftablesRuleTokens;
  type NftablesService = api.NftablesService;
  type NftablesServiceConfig = api.NftablesServiceConfig;
  type NumaTopology = api.NumaTopology;
  type PersistenceConfig = api.PersistenceConfig;
  type PersistenceResult = api.PersistenceResult;
  type PinningStrategy = api.PinningStrategy;
  type PrismaAdapter = api.PrismaAdapter;
  type PrismaAdapterErrorCode = api.PrismaAdapterErrorCode;
  type PrismaClientLike = api.PrismaClientLike;
  type QMPBalloonInfo = api.QMPBalloonInfo;
  type QMPBlockInfo = api.QMPBlockInfo;
  type QMPClient = api.QMPClient;
  type QMPClientOptions = api.QMPClientOptions;
  type QMPCpuInfo = api.QMPCpuInfo;
  type QMPGreeting = api.QMPGreeting;
  type QMPStatusInfo = api.QMPStatusInfo;
  type QMPVMStatus = api.QMPVMStatus;
  type QemuCommand = api.QemuCommand;
  type QemuCommandBuilder = api.QemuCommandBuilder;
  type QemuCommandWithPinning = api.QemuCommandWithPinning;
  type QemuProcessOptions = api.QemuProcessOptions;
  type RestoreResult = api.RestoreResult;
  type RunningVMRecord = api.RunningVMRecord;
  type SnapshotCreateOptions = api.SnapshotCreateOptions;
  type SnapshotInfo = api.SnapshotInfo;
  type SpiceConfig = api.SpiceConfig;
  type SpiceConfigOptions = api.SpiceConfigOptions;
  type SpiceOptions = api.SpiceOptions;
  type StorageErrorCode = api.StorageErrorCode;
  type StorageErrorInfo = api.StorageErrorInfo;
  type SyncResult = api.SyncResult;
  type UnattendedErrorCode = api.UnattendedErrorCode;
  type UnattendedInstallConfig = api.UnattendedInstallConfig;
  type UnattendedInstallerOptions = api.UnattendedInstallerOptions;
  type VMConfigRecord = api.VMConfigRecord;
  type VMCreateConfig = api.VMCreateConfig;
  type VMCreateResult = api.VMCreateResult;
  type VMOperationResult = api.VMOperationResult;
  type VMStartConfig = api.VMStartConfig;
  type VMStatusResult = api.VMStatusResult;
  type VMStopConfig = api.VMStopConfig;
  type VncConfig = api.VncConfig;
  type VncConfigOptions = api.VncConfigOptions;
  type VncOptions = api.VncOptions;

  /** BridgeManager instance members. */
  interface Class_BridgeManager {
    exists(name: string): Promise<boolean>;
    create(name: string): Promise<void>;
    destroy(name: string): Promise<void>;
    addInterface(bridge: string, iface: string): Promise<void>;
    removeInterface(bridge: string, iface: string): Promise<void>;
    listInterfaces(bridge: string): Promise<string[]>;
    assignIP(bridge: string, ipWithCidr: string): Promise<void>;
    removeIP(bridge: string, ipWithCidr: string): Promise<void>;
    getIPs(bridge: string): Promise<string[]>;
  }
  type Ctor_BridgeManager = new () => unknown;

  /** CgroupsManager instance members. */
  interface Class_CgroupsManager {
    applyCpuPinning(pid: number, cores: number[]): Promise<void>;
    cleanupEmptyScopes(): Promise<number>;
    getHostCpuCount(): Promise<number>;
    validateCores(cores: number[]): Promise<void>;
  }
  type Ctor_CgroupsManager = new () => unknown;

  /** CommandExecutor instance members. */
  interface Class_CommandExecutor {
    execute(command: string, args: string[]): Promise<string>;
  }
  type Ctor_CommandExecutor = new () => unknown;

  /** CpuPinningAdapter instance members. */
  interface Class_CpuPinningAdapter {
    generatePinningCommand(vcpuCount: number, strategy: PinningStrategy, originalCommand: string, originalArgs: string[], options?: CpuPinningOptions): Promise<CpuPinningResult>;
    generateNumactlArgs(cores: number[], nodes: number[]): string[];
    getNumaTopology(): Promise<NumaTopology>;
    isNumactlAvailable(): Promise<boolean>;
    validateCores(cores: number[]): Promise<void>;
    clearCache(): void;
  }
  type Ctor_CpuPinningAdapter = new () => unknown;

  /** Debugger instance members. */
  interface Class_Debugger {
    log(...args: string[]): void;
  }
  type Ctor_Debugger = new (module: string) => unknown;

  /** DepartmentNatService instance members. */
  interface Class_DepartmentNatService {
    initialize(): Promise<void>;
    addMasquerade(subnet: string, bridgeName: string): Promise<void>;
    removeMasquerade(bridgeName: string): Promise<void>;
    hasMasquerade(bridgeName: string): Promise<boolean>;
    listMasqueradeRules(): Promise<string[]>;
  }
  type Ctor_DepartmentNatService = new () => unknown;

  /** EventHandler instance members. */
  interface Class_EventHandler {
    attachToVM(vmId: string, qmpClient: QMPClient): Promise<void>;
    detachFromVM(vmId: string): Promise<void>;
    detachAll(): Promise<void>;
    getAttachedVMs(): string[];
    isAttached(vmId: string): boolean;
    getQMPClient(vmId: string): QMPClient | undefined;
  }
  type Ctor_EventHandler = new (db: DatabaseAdapter, config?: Partial<EventHandlerConfig>) => unknown;

  /** FirewallRuleTranslator instance members. */
  interface Class_FirewallRuleTranslator {
  }
  interface Static_FirewallRuleTranslator {
    translateToTokens(rule: FirewallRuleInput, tapDeviceName: string): NftablesRuleTokens;
    translateDirectionToTokens(direction: 'IN' | 'OUT', tapDeviceName: string): NftablesRuleTokens;
    translateProtocolToTokens(protocol: 'tcp' | 'udp' | 'icmp' | 'all'): NftablesRuleTokens;
    translatePortsToTokens(protocol: string, srcPortStart?: number, srcPortEnd?: number, dstPortStart?: number, dstPortEnd?: number): NftablesRuleTokens;
    translateIpAddressesToTokens(srcIpAddr?: string, srcIpMask?: string, dstIpAddr?: string, dstIpMask?: string): NftablesRuleTokens;
    translateConnectionStateToTokens(connectionState?: ConnectionStateConfig): NftablesRuleTokens;
    translateAction(action: 'ACCEPT' | 'DROP' | 'REJECT'): string;
    validateRule(rule: FirewallRuleInput): void;
    isValidIpAddress(ip: string): boolean;
    isValidCidr(cidr: string): boolean;
    isValidSubnetMask(mask: string): boolean;
  }
  type Ctor_FirewallRuleTranslator = new () => unknown;

  /** HealthMonitor instance members. */
  interface Class_HealthMonitor {
    start(): Promise<void>;
    stop(): Promise<void>;
    isMonitoring(): boolean;
    checkAllVMs(): Promise<HealthCheckSummary>;
    checkVM(vmId: string, pid: number): boolean;
    retryCleanup(vmId: string, config: MachineConfigurationRecord): Promise<CleanupResult>;
  }
  type Ctor_HealthMonitor = new (db: DatabaseAdapter, config?: Partial<HealthMonitorConfig>) => unknown;

  /** Infinivirt instance members. */
  interface Class_Infinivirt {
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
    ejectCdrom(vmId: string, device: string, force?: boolean ): Promise<void>;
    queryBlockDevices(vmId: string): Promise<QMPBlockInfo[]>;
  }
  type Ctor_Infinivirt = new (config: InfinivirtConfig) => unknown;

  /** InstallationMonitor instance members. */
  interface Class_InstallationMonitor {
    start(): Promise<InstallationResult>;
    stop(): void;
    isRunning(): boolean;
    getCurrentPhase(): InstallationPhase;
    getPhases(): InstallationProgress[];
    getElapsedTime(): number;
  }
  type Ctor_InstallationMonitor = new (qmpClient: QMPClient, config?: Partial<MonitorConfig>) => unknown;

  /** MacAddressGenerator instance members. */
  interface Class_MacAddressGenerator {
  }
  interface Static_MacAddressGenerator {
    generate(): MacAddress;
    generateFromVmId(vmId: string): MacAddress;
    validate(mac: string): boolean;
    isQemuMac(mac: string): boolean;
  }
  type Ctor_MacAddressGenerator = new () => unknown;

  /** NftablesPersistence instance members. */
  interface Class_NftablesPersistence {
    exportToDisk(): Promise<PersistenceResult>;
    restoreFromDisk(): Promise<RestoreResult>;
    hasPersistenceFile(): Promise<boolean>;
    removePersistenceFile(): Promise<boolean>;
    rollbackToBackup(): Promise<RestoreResult>;
    getStatus(): Promise<{ persistenceDir: string; mainFileExists: boolean; backupFileExists: boolean; mainFileModified?: Date; tableExists: boolean }>;
  }
  type Ctor_NftablesPersistence = new (config?: PersistenceConfig) => unknown;

  /** NftablesService instance members. */
  interface Class_NftablesService {
    initialize(): Promise<void>;
    createVMChain(vmId: string, tapDeviceName: string): Promise<string>;
    applyRules(vmId: string, tapDeviceName: string, departmentRules: FirewallRuleInput[], vmRules: FirewallRuleInput[]): Promise<FirewallApplyResult>;
    removeVMChain(vmId: string): Promise<void>;
    flushVMRules(vmId: string): Promise<void>;
    listChains(): Promise<string[]>;
    chainExists(chainName: string): Promise<boolean>;
    ensureVMChain(vmId: string): Promise<string>;
    attachJumpRules(vmId: string, tapDeviceName: string): Promise<void>;
    detachJumpRules(vmId: string): Promise<void>;
    applyRulesIfChanged(vmId: string, tapDeviceName: string, departmentRules: FirewallRuleInput[], vmRules: FirewallRuleInput[]): Promise<{ changed: boolean; result?: FirewallApplyResult }>;
    clearRulesCache(vmId: string): void;
    getPersistence(): NftablesPersistence;
    forcePersist(): Promise<{ success: boolean; error?: string }>;
  }
  type Ctor_NftablesService = new (config?: NftablesServiceConfig) => unknown;

  /** PrismaAdapter instance members. */
  interface Class_PrismaAdapter {
    findMachine(id: string): Promise<MachineRecord | null>;
    updateMachineStatus(id: string, status: string): Promise<void>;
    findRunningVMs(): Promise<RunningVMRecord[]>;
    clearMachineConfiguration(machineId: string): Promise<void>;
    clearVolatileMachineConfiguration(machineId: string): Promise<void>;
    findMachineWithConfig(id: string): Promise<VMConfigRecord | null>;
    updateMachineConfiguration(machineId: string, config: Partial<MachineConfigUpdate>): Promise<void>;
    transitionVMStatus(machineId: string, expectedStatus: string, newStatus: string, expectedVersion: number): Promise<{ success: boolean; newVersion: number; vmConfig: VMConfigRecord }>;
    getFirewallRules(vmId: string): Promise<FirewallRuleRecord[]>;
    getFirewallRuleSetId(vmId: string): Promise<string | null>;
    getMachineInternalName(id: string): Promise<string | null>;
    getMachineDiskPath(id: string): Promise<string | null>;
  }
  type Ctor_PrismaAdapter = new (prisma: PrismaClientLike) => unknown;

  /** QMPClient instance members. */
  interface Class_QMPClient {
    connect(): Promise<void>;
    disconnect(): Promise<void>;
    isConnected(): boolean;
    getGreeting(): QMPGreeting | null;
    execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
    queryStatus(): Promise<QMPStatusInfo>;
    powerdown(): Promise<void>;
    reset(): Promise<void>;
    stop(): Promise<void>;
    cont(): Promise<void>;
    quit(options?: { ignoreErrors?: boolean }): Promise<void>;
    eject(device: string, force?: boolean): Promise<void>;
    queryCpus(): Promise<QMPCpuInfo[]>;
    queryBlock(): Promise<QMPBlockInfo[]>;
    balloon(value: number): Promise<void>;
    queryBalloon(): Promise<QMPBalloonInfo>;
  }
  type Ctor_QMPClient = new (socketPath: string, options?: QMPClientOptions) => unknown;

  /** QemuCommandBuilder instance members. */
  interface Class_QemuCommandBuilder {
    setBinary(binary: string): QemuCommandBuilder;
    getBinary(): string;
    isDaemonizeEnabled(): boolean;
    getPidfilePath(): string | null;
    enableKvm(): QemuCommandBuilder;
    setMachine(type: MachineType, options?: MachineOptions): QemuCommandBuilder;
    setCpu(model: string, cores?: number, threads?: number, sockets?: number): QemuCommandBuilder;
    setMemory(sizeGB: number): QemuCommandBuilder;
    addDisks(disks: DiskOptions[]): QemuCommandBuilder;
    addDisk(disk: DiskOptions): QemuCommandBuilder;
    addNetwork(options: NetworkOptions): QemuCommandBuilder;
    addSpice(options: SpiceOptions | SpiceConfig, qxlMemoryMB?: number): QemuCommandBuilder;
    addVnc(options: VncOptions | VncConfig): QemuCommandBuilder;
    addQmp(socketPath: string): QemuCommandBuilder;
    addCdrom(isoPath: string): QemuCommandBuilder;
    addGpuPassthrough(pciBus: string, romfile?: string): QemuCommandBuilder;
    addGpuWithAudio(gpuBus: string, audioBus: string, romfile?: string): QemuCommandBuilder;
    addPciPassthrough(pciBus: string, romfile?: string): QemuCommandBuilder;
    addMemoryBalloon(): QemuCommandBuilder;
    enableHugepages(): QemuCommandBuilder;
    setFirmware(firmwarePath: string): QemuCommandBuilder;
    setUefiVars(varsPath: string): QemuCommandBuilder;
    setBootOrder(devices: BootDevice[]): QemuCommandBuilder;
    addTPM(socketPath: string): QemuCommandBuilder;
    addVirtioChannel(channelName: string, socketPath: string, chardevId: string): QemuCommandBuilder;
    addGuestAgentChannel(socketPath: string): QemuCommandBuilder;
    addInfiniServiceChannel(socketPath: string): QemuCommandBuilder;
    addSecondCdrom(isoPath: string): QemuCommandBuilder;
    addAudioDevice(): QemuCommandBuilder;
    addUsbTablet(): QemuCommandBuilder;
    addUsbKeyboard(): QemuCommandBuilder;
    setProcessOptions(options: QemuProcessOptions): QemuCommandBuilder;
    addRawArg(arg: string): QemuCommandBuilder;
    enableCpuPinning(strategy: PinningStrategy, vcpuCount: number): QemuCommandBuilder;
    isCpuPinningEnabled(): boolean;
    getCpuPinningStrategy(): PinningStrategy;
    buildCommand(): QemuCommand;
    buildCommandWithPinning(): Promise<QemuCommandWithPinning>;
    build(): string[];
  }
  type Ctor_QemuCommandBuilder = new () => unknown;

  /** QemuImgService instance members. */
  interface Class_QemuImgService {
    createImage(options: CreateImageOptions): Promise<void>;
    getImageInfo(path: string): Promise<ImageInfo>;
    resizeImage(path: string, newSizeGB: number, options?: { allowShrink?: boolean }): Promise<void>;
    convertImage(options: ConvertImageOptions): Promise<void>;
    checkImage(path: string): Promise<ImageCheckResult>;
  }
  type Ctor_QemuImgService = new () => unknown;

  /** QemuProcess instance members. */
  interface Class_QemuProcess {
    setQmpSocketPath(path: string): void;
    setPidFilePath(path: string): void;
    start(): Promise<void>;
    stop(timeoutMs?: number ): Promise<void>;
    forceKill(): Promise<void>;
    isAlive(): boolean;
    getPid(): number | null;
    isCpuPinningApplied(): boolean;
    getPinnedCores(): number[];
    getNumaNodes(): number[];
  }
  type Ctor_QemuProcess = new (vmId: string, commandBuilder: QemuCommandBuilder) => unknown;

  /** SnapshotManager instance members. */
  interface Class_SnapshotManager {
    createSnapshot(options: SnapshotCreateOptions): Promise<void>;
    listSnapshots(imagePath: string): Promise<SnapshotInfo[]>;
    revertSnapshot(imagePath: string, snapshotName: string): Promise<void>;
    deleteSnapshot(imagePath: string, snapshotName: string): Promise<void>;
    snapshotExists(imagePath: string, snapshotName: string): Promise<boolean>;
  }
  type Ctor_SnapshotManager = new () => unknown;

  /** SpiceConfig instance members. */
  interface Class_SpiceConfig {
    validate(): DisplayValidationResult;
    generateArgs(): DisplayCommandArgs;
    getPort(): number;
    getAddr(): string;
    hasPassword(): boolean;
    isAgentEnabled(): boolean;
  }
  type Ctor_SpiceConfig = new (options: SpiceConfigOptions) => unknown;

  /** StateSync instance members. */
  interface Class_StateSync {
    mapQMPStatusToDBStatus(qmpStatus: QMPVMStatus): DBVMStatus;
    syncState(vmId: string, qmpClient: QMPClient): Promise<SyncResult>;
    updateVMStatus(vmId: string, status: string): Promise<void>;
    getVMStatus(vmId: string): Promise<string>;
    getVMPid(vmId: string): Promise<number | null>;
    getVMInfo(vmId: string): Promise<{ tapDeviceName: string | null; hasCpuPinning: boolean } | null>;
    clearVolatileMachineConfiguration(vmId: string): Promise<void>;
    updateStatusDirect(vmId: string, newStatus: DBVMStatus): Promise<SyncResult>;
  }
  type Ctor_StateSync = new (db: DatabaseAdapter) => unknown;

  /** TapDeviceManager instance members. */
  interface Class_TapDeviceManager {
    create(vmId: string, bridge?: string, options?: { queues?: number }): Promise<string>;
    configure(tapName: string, bridge?: string): Promise<void>;
    destroy(tapName: string): Promise<void>;
    bringDown(tapName: string): Promise<void>;
    detachFromBridge(tapName: string): Promise<void>;
    attachToBridge(tapName: string, bridge: string, vmId?: string): Promise<void>;
    exists(tapName: string): Promise<boolean>;
    hasCarrier(tapName: string): Promise<boolean>;
    listAllTapDevices(): Promise<string[]>;
    isOrphaned(tapName: string): Promise<boolean>;
    cleanupOrphanedTapDevices(): Promise<{ total: number; cleaned: number; failed: number }>;
    getDeviceState(tapName: string): Promise<string>;
  }
  type Ctor_TapDeviceManager = new (options?: { orphanGraceMs?: number; sweepOnCreate?: boolean }) => unknown;

  /** UnattendedInstaller instance members. */
  interface Class_UnattendedInstaller {
    generateInstallationISO(): Promise<string>;
    mountInstallationMedia(builder: QemuCommandBuilder, isoPath: string): void;
    monitorInstallation(qmpClient: QMPClient, isoPath: string): Promise<InstallationResult>;
    cleanupInstallationMedia(qmpClient: QMPClient, isoPath: string): Promise<void>;
    getConfig(): UnattendedInstallConfig;
  }
  type Ctor_UnattendedInstaller = new (config: UnattendedInstallConfig, options?: UnattendedInstallerOptions) => unknown;

  /** VMLifecycle instance members. */
  interface Class_VMLifecycle {
    create(config: VMCreateConfig): Promise<VMCreateResult>;
    start(vmId: string, _config?: VMStartConfig): Promise<VMOperationResult>;
    stop(vmId: string, config?: VMStopConfig): Promise<VMOperationResult>;
    destroyResources(vmId: string): Promise<VMOperationResult>;
    restart(vmId: string): Promise<VMOperationResult>;
    suspend(vmId: string): Promise<VMOperationResult>;
    resume(vmId: string): Promise<VMOperationResult>;
    reset(vmId: string): Promise<VMOperationResult>;
    getStatus(vmId: string): Promise<VMStatusResult>;
  }
  type Ctor_VMLifecycle = new (prisma: PrismaAdapter, eventHandler: EventHandler, eventManager?: EventManagerLike, options?: { diskDir?: string; qmpSocketDir?: string; pidfileDir?: string; qemuBinary?: string; firewallPersistenceDir?: string; firewallStrictRules?: boolean; extraArgs?: string[]; unattended?: UnattendedInstallerOptions }) => unknown;

  /** VncConfig instance members. */
  interface Class_VncConfig {
    validate(): DisplayValidationResult;
    generateArgs(): DisplayCommandArgs;
    getDisplay(): number;
    getPort(): number;
    getAddr(): string;
    hasPassword(): boolean;
  }
  interface Static_VncConfig {
    displayToPort(display: number): number;
    portToDisplay(port: number): number;
    getMaxPasswordLength(): number;
  }
  type Ctor_VncConfig = new (options: VncConfigOptions) => unknown;

  interface Class_StorageError extends Error {
    readonly code: StorageErrorCode;
    readonly path?: string;
    readonly command?: string;
    toInfo(): StorageErrorInfo;
  }
  type Ctor_StorageError = new (code: StorageErrorCode, message: string, path?: string, command?: string) => unknown;

  interface Class_DisplayError extends Error {
    readonly code: DisplayErrorCode;
    readonly context?: Record<string, unknown>;
  }
  type Ctor_DisplayError = new (code: DisplayErrorCode, message: string, context?: Record<string, unknown>) => unknown;

  interface Class_PrismaAdapterError extends Error {
    readonly code: PrismaAdapterErrorCode;
    readonly vmId?: string;
    readonly details?: unknown;
  }
  type Ctor_PrismaAdapterError = new (message: string, code: PrismaAdapterErrorCode, vmId?: string, details?: unknown) => unknown;

  interface Class_LifecycleError extends Error {
    readonly code: LifecycleErrorCode;
    readonly vmId?: string;
    readonly context?: Record<string, unknown>;
  }
  type Ctor_LifecycleError = new (code: LifecycleErrorCode, message: string, vmId?: string, context?: Record<string, unknown>) => unknown;

  interface Class_UnattendedError extends Error {
    readonly code: UnattendedErrorCode;
    readonly cause?: Error;
    readonly vmId?: string;
    readonly context?: Record<string, unknown>;
  }
  type Ctor_UnattendedError = new (code: UnattendedErrorCode, message: string, cause?: Error, vmId?: string, context?: Record<string, unknown>) => unknown;

}

// BridgeManager
assertTrue<Equals<Pick<api.BridgeManager, keyof SpecClasses.Class_BridgeManager>, Pick<SpecClasses.Class_BridgeManager, keyof SpecClasses.Class_BridgeManager>>>();
assertTrue<Equals<Exclude<keyof api.BridgeManager, keyof SpecClasses.Class_BridgeManager>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.BridgeManager>, ConstructorParameters<SpecClasses.Ctor_BridgeManager>>>();
assertTrue<Equals<Exclude<keyof typeof api.BridgeManager, 'prototype'>, never>>();
// CgroupsManager
assertTrue<Equals<Pick<api.CgroupsManager, keyof SpecClasses.Class_CgroupsManager>, Pick<SpecClasses.Class_CgroupsManager, keyof SpecClasses.Class_CgroupsManager>>>();
assertTrue<Equals<Exclude<keyof api.CgroupsManager, keyof SpecClasses.Class_CgroupsManager>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.CgroupsManager>, ConstructorParameters<SpecClasses.Ctor_CgroupsManager>>>();
assertTrue<Equals<Exclude<keyof typeof api.CgroupsManager, 'prototype'>, never>>();
// CommandExecutor
assertTrue<Equals<Pick<api.CommandExecutor, keyof SpecClasses.Class_CommandExecutor>, Pick<SpecClasses.Class_CommandExecutor, keyof SpecClasses.Class_CommandExecutor>>>();
assertTrue<Equals<Exclude<keyof api.CommandExecutor, keyof SpecClasses.Class_CommandExecutor>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.CommandExecutor>, ConstructorParameters<SpecClasses.Ctor_CommandExecutor>>>();
assertTrue<Equals<Exclude<keyof typeof api.CommandExecutor, 'prototype'>, never>>();
// CpuPinningAdapter
assertTrue<Equals<Pick<api.CpuPinningAdapter, keyof SpecClasses.Class_CpuPinningAdapter>, Pick<SpecClasses.Class_CpuPinningAdapter, keyof SpecClasses.Class_CpuPinningAdapter>>>();
assertTrue<Equals<Exclude<keyof api.CpuPinningAdapter, keyof SpecClasses.Class_CpuPinningAdapter>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.CpuPinningAdapter>, ConstructorParameters<SpecClasses.Ctor_CpuPinningAdapter>>>();
assertTrue<Equals<Exclude<keyof typeof api.CpuPinningAdapter, 'prototype'>, never>>();
// Debugger
assertTrue<Equals<Pick<api.Debugger, keyof SpecClasses.Class_Debugger>, Pick<SpecClasses.Class_Debugger, keyof SpecClasses.Class_Debugger>>>();
assertTrue<Equals<Exclude<keyof api.Debugger, keyof SpecClasses.Class_Debugger>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.Debugger>, ConstructorParameters<SpecClasses.Ctor_Debugger>>>();
assertTrue<Equals<Exclude<keyof typeof api.Debugger, 'prototype'>, never>>();
// DepartmentNatService
assertTrue<Equals<Pick<api.DepartmentNatService, keyof SpecClasses.Class_DepartmentNatService>, Pick<SpecClasses.Class_DepartmentNatService, keyof SpecClasses.Class_DepartmentNatService>>>();
assertTrue<Equals<Exclude<keyof api.DepartmentNatService, keyof SpecClasses.Class_DepartmentNatService>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.DepartmentNatService>, ConstructorParameters<SpecClasses.Ctor_DepartmentNatService>>>();
assertTrue<Equals<Exclude<keyof typeof api.DepartmentNatService, 'prototype'>, never>>();
// EventHandler
assertTrue<Equals<Pick<api.EventHandler, keyof SpecClasses.Class_EventHandler>, Pick<SpecClasses.Class_EventHandler, keyof SpecClasses.Class_EventHandler>>>();
assertTrue<Equals<Exclude<keyof api.EventHandler, keyof SpecClasses.Class_EventHandler | keyof EventEmitter>, 'getPendingWrites'>>();
assertTrue<api.EventHandler extends EventEmitter ? true : false>();
assertTrue<Equals<ConstructorParameters<typeof api.EventHandler>, ConstructorParameters<SpecClasses.Ctor_EventHandler>>>();
assertTrue<Equals<Exclude<keyof typeof api.EventHandler, 'prototype' | keyof typeof EventEmitter>, never>>();
// FirewallRuleTranslator
assertTrue<Equals<Pick<api.FirewallRuleTranslator, keyof SpecClasses.Class_FirewallRuleTranslator>, Pick<SpecClasses.Class_FirewallRuleTranslator, keyof SpecClasses.Class_FirewallRuleTranslator>>>();
assertTrue<Equals<Exclude<keyof api.FirewallRuleTranslator, keyof SpecClasses.Class_FirewallRuleTranslator>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.FirewallRuleTranslator>, ConstructorParameters<SpecClasses.Ctor_FirewallRuleTranslator>>>();
assertTrue<Equals<Pick<typeof api.FirewallRuleTranslator, keyof SpecClasses.Static_FirewallRuleTranslator>, Pick<SpecClasses.Static_FirewallRuleTranslator, keyof SpecClasses.Static_FirewallRuleTranslator>>>();
assertTrue<Equals<Exclude<keyof typeof api.FirewallRuleTranslator, 'prototype' | keyof SpecClasses.Static_FirewallRuleTranslator>, never>>();
// HealthMonitor
assertTrue<Equals<Pick<api.HealthMonitor, keyof SpecClasses.Class_HealthMonitor>, Pick<SpecClasses.Class_HealthMonitor, keyof SpecClasses.Class_HealthMonitor>>>();
assertTrue<Equals<Exclude<keyof api.HealthMonitor, keyof SpecClasses.Class_HealthMonitor | keyof EventEmitter>, 'watchVM' | 'unwatchVM' | 'getWatchedVMs' | 'getPendingWrites'>>();
assertTrue<api.HealthMonitor extends EventEmitter ? true : false>();
assertTrue<Equals<ConstructorParameters<typeof api.HealthMonitor>, ConstructorParameters<SpecClasses.Ctor_HealthMonitor>>>();
assertTrue<Equals<Exclude<keyof typeof api.HealthMonitor, 'prototype' | keyof typeof EventEmitter>, never>>();
// Infinivirt
assertTrue<Equals<Pick<api.Infinivirt, keyof SpecClasses.Class_Infinivirt>, Pick<SpecClasses.Class_Infinivirt, keyof SpecClasses.Class_Infinivirt>>>();
assertTrue<Equals<Exclude<keyof api.Infinivirt, keyof SpecClasses.Class_Infinivirt>, 'guestExec' | 'qemuAgentCommand'>>();
assertTrue<Equals<ConstructorParameters<typeof api.Infinivirt>, ConstructorParameters<SpecClasses.Ctor_Infinivirt>>>();
assertTrue<Equals<Exclude<keyof typeof api.Infinivirt, 'prototype'>, never>>();
// InstallationMonitor
assertTrue<Equals<Pick<api.InstallationMonitor, keyof SpecClasses.Class_InstallationMonitor>, Pick<SpecClasses.Class_InstallationMonitor, keyof SpecClasses.Class_InstallationMonitor>>>();
assertTrue<Equals<Exclude<keyof api.InstallationMonitor, keyof SpecClasses.Class_InstallationMonitor | keyof EventEmitter>, 'getResetCount'>>();
assertTrue<api.InstallationMonitor extends EventEmitter ? true : false>();
assertTrue<Equals<ConstructorParameters<typeof api.InstallationMonitor>, ConstructorParameters<SpecClasses.Ctor_InstallationMonitor>>>();
assertTrue<Equals<Exclude<keyof typeof api.InstallationMonitor, 'prototype' | keyof typeof EventEmitter>, never>>();
// MacAddressGenerator
assertTrue<Equals<Pick<api.MacAddressGenerator, keyof SpecClasses.Class_MacAddressGenerator>, Pick<SpecClasses.Class_MacAddressGenerator, keyof SpecClasses.Class_MacAddressGenerator>>>();
assertTrue<Equals<Exclude<keyof api.MacAddressGenerator, keyof SpecClasses.Class_MacAddressGenerator>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.MacAddressGenerator>, ConstructorParameters<SpecClasses.Ctor_MacAddressGenerator>>>();
assertTrue<Equals<Pick<typeof api.MacAddressGenerator, keyof SpecClasses.Static_MacAddressGenerator>, Pick<SpecClasses.Static_MacAddressGenerator, keyof SpecClasses.Static_MacAddressGenerator>>>();
assertTrue<Equals<Exclude<keyof typeof api.MacAddressGenerator, 'prototype' | keyof SpecClasses.Static_MacAddressGenerator>, never>>();
// NftablesPersistence
assertTrue<Equals<Pick<api.NftablesPersistence, keyof SpecClasses.Class_NftablesPersistence>, Pick<SpecClasses.Class_NftablesPersistence, keyof SpecClasses.Class_NftablesPersistence>>>();
assertTrue<Equals<Exclude<keyof api.NftablesPersistence, keyof SpecClasses.Class_NftablesPersistence>, never>>();
// NftablesService
assertTrue<Equals<Pick<api.NftablesService, keyof SpecClasses.Class_NftablesService>, Pick<SpecClasses.Class_NftablesService, keyof SpecClasses.Class_NftablesService>>>();
assertTrue<Equals<Exclude<keyof api.NftablesService, keyof SpecClasses.Class_NftablesService>, 'getCapabilities' | 'verifyVM' | 'explain'>>();
assertTrue<Equals<ConstructorParameters<typeof api.NftablesService>, ConstructorParameters<SpecClasses.Ctor_NftablesService>>>();
assertTrue<Equals<Exclude<keyof typeof api.NftablesService, 'prototype'>, never>>();
// PrismaAdapter
assertTrue<Equals<Pick<api.PrismaAdapter, keyof SpecClasses.Class_PrismaAdapter>, Pick<SpecClasses.Class_PrismaAdapter, keyof SpecClasses.Class_PrismaAdapter>>>();
assertTrue<Equals<Exclude<keyof api.PrismaAdapter, keyof SpecClasses.Class_PrismaAdapter>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.PrismaAdapter>, ConstructorParameters<SpecClasses.Ctor_PrismaAdapter>>>();
assertTrue<Equals<Exclude<keyof typeof api.PrismaAdapter, 'prototype'>, never>>();
// QMPClient
assertTrue<Equals<Pick<api.QMPClient, keyof SpecClasses.Class_QMPClient>, Pick<SpecClasses.Class_QMPClient, keyof SpecClasses.Class_QMPClient>>>();
assertTrue<Equals<Exclude<keyof api.QMPClient, keyof SpecClasses.Class_QMPClient | keyof EventEmitter>, 'queryVnc' | 'querySpice' | 'queryMemorySizeSummary' | 'screendump' | 'setPassword' | 'blockdevChangeMedium' | 'humanMonitorCommand' | 'blockdevSnapshotInternalSync' | 'blockdevSnapshotDeleteInternalSync' | 'blockResize'>>();
assertTrue<api.QMPClient extends EventEmitter ? true : false>();
assertTrue<Equals<ConstructorParameters<typeof api.QMPClient>, ConstructorParameters<SpecClasses.Ctor_QMPClient>>>();
assertTrue<Equals<Exclude<keyof typeof api.QMPClient, 'prototype' | keyof typeof EventEmitter>, never>>();
// QemuCommandBuilder
assertTrue<Equals<Pick<api.QemuCommandBuilder, keyof SpecClasses.Class_QemuCommandBuilder>, Pick<SpecClasses.Class_QemuCommandBuilder, keyof SpecClasses.Class_QemuCommandBuilder>>>();
assertTrue<Equals<Exclude<keyof api.QemuCommandBuilder, keyof SpecClasses.Class_QemuCommandBuilder>, 'setStrictDisplaySecurity' | 'isStrictDisplaySecurity'>>();
assertTrue<Equals<ConstructorParameters<typeof api.QemuCommandBuilder>, ConstructorParameters<SpecClasses.Ctor_QemuCommandBuilder>>>();
assertTrue<Equals<Exclude<keyof typeof api.QemuCommandBuilder, 'prototype'>, never>>();
// QemuImgService
assertTrue<Equals<Pick<api.QemuImgService, keyof SpecClasses.Class_QemuImgService>, Pick<SpecClasses.Class_QemuImgService, keyof SpecClasses.Class_QemuImgService>>>();
assertTrue<Equals<Exclude<keyof api.QemuImgService, keyof SpecClasses.Class_QemuImgService>, 'resizeImageLive' | 'deleteImage' | 'listClones' | 'flattenImage' | 'flattenImageLive'>>();
assertTrue<Equals<ConstructorParameters<typeof api.QemuImgService>, ConstructorParameters<SpecClasses.Ctor_QemuImgService>>>();
assertTrue<Equals<Exclude<keyof typeof api.QemuImgService, 'prototype'>, never>>();
// QemuProcess
assertTrue<Equals<Pick<api.QemuProcess, keyof SpecClasses.Class_QemuProcess>, Pick<SpecClasses.Class_QemuProcess, keyof SpecClasses.Class_QemuProcess>>>();
assertTrue<Equals<Exclude<keyof api.QemuProcess, keyof SpecClasses.Class_QemuProcess | keyof EventEmitter>, 'attach' | 'waitForExit'>>();
assertTrue<api.QemuProcess extends EventEmitter ? true : false>();
assertTrue<Equals<ConstructorParameters<typeof api.QemuProcess>, ConstructorParameters<SpecClasses.Ctor_QemuProcess>>>();
assertTrue<Equals<Exclude<keyof typeof api.QemuProcess, 'prototype' | keyof typeof EventEmitter>, never>>();
// SnapshotManager
assertTrue<Equals<Pick<api.SnapshotManager, keyof SpecClasses.Class_SnapshotManager>, Pick<SpecClasses.Class_SnapshotManager, keyof SpecClasses.Class_SnapshotManager>>>();
assertTrue<Equals<Exclude<keyof api.SnapshotManager, keyof SpecClasses.Class_SnapshotManager>, 'createLiveSnapshot' | 'deleteLiveSnapshot' | 'materializeSnapshot'>>();
assertTrue<Equals<ConstructorParameters<typeof api.SnapshotManager>, ConstructorParameters<SpecClasses.Ctor_SnapshotManager>>>();
assertTrue<Equals<Exclude<keyof typeof api.SnapshotManager, 'prototype'>, never>>();
// SpiceConfig
assertTrue<Equals<Pick<api.SpiceConfig, keyof SpecClasses.Class_SpiceConfig>, Pick<SpecClasses.Class_SpiceConfig, keyof SpecClasses.Class_SpiceConfig>>>();
assertTrue<Equals<Exclude<keyof api.SpiceConfig, keyof SpecClasses.Class_SpiceConfig>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.SpiceConfig>, ConstructorParameters<SpecClasses.Ctor_SpiceConfig>>>();
assertTrue<Equals<Exclude<keyof typeof api.SpiceConfig, 'prototype'>, never>>();
// StateSync
assertTrue<Equals<Pick<api.StateSync, keyof SpecClasses.Class_StateSync>, Pick<SpecClasses.Class_StateSync, keyof SpecClasses.Class_StateSync>>>();
assertTrue<Equals<Exclude<keyof api.StateSync, keyof SpecClasses.Class_StateSync>, 'getPendingWrites'>>();
assertTrue<Equals<ConstructorParameters<typeof api.StateSync>, ConstructorParameters<SpecClasses.Ctor_StateSync>>>();
assertTrue<Equals<Exclude<keyof typeof api.StateSync, 'prototype'>, never>>();
// TapDeviceManager
assertTrue<Equals<Pick<api.TapDeviceManager, keyof SpecClasses.Class_TapDeviceManager>, Pick<SpecClasses.Class_TapDeviceManager, keyof SpecClasses.Class_TapDeviceManager>>>();
assertTrue<Equals<Exclude<keyof api.TapDeviceManager, keyof SpecClasses.Class_TapDeviceManager>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.TapDeviceManager>, ConstructorParameters<SpecClasses.Ctor_TapDeviceManager>>>();
assertTrue<Equals<Exclude<keyof typeof api.TapDeviceManager, 'prototype'>, never>>();
// UnattendedInstaller
assertTrue<Equals<Pick<api.UnattendedInstaller, keyof SpecClasses.Class_UnattendedInstaller>, Pick<SpecClasses.Class_UnattendedInstaller, keyof SpecClasses.Class_UnattendedInstaller>>>();
assertTrue<Equals<Exclude<keyof api.UnattendedInstaller, keyof SpecClasses.Class_UnattendedInstaller>, 'generateAnswerFiles' | 'mountAnswerMedia' | 'prepareInstallerIso'>>();
assertTrue<Equals<ConstructorParameters<typeof api.UnattendedInstaller>, ConstructorParameters<SpecClasses.Ctor_UnattendedInstaller>>>();
assertTrue<Equals<Exclude<keyof typeof api.UnattendedInstaller, 'prototype'>, never>>();
// VMLifecycle
assertTrue<Equals<Pick<api.VMLifecycle, keyof SpecClasses.Class_VMLifecycle>, Pick<SpecClasses.Class_VMLifecycle, keyof SpecClasses.Class_VMLifecycle>>>();
assertTrue<Equals<Exclude<keyof api.VMLifecycle, keyof SpecClasses.Class_VMLifecycle>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.VMLifecycle>, ConstructorParameters<SpecClasses.Ctor_VMLifecycle>>>();
assertTrue<Equals<Exclude<keyof typeof api.VMLifecycle, 'prototype'>, never>>();
// VncConfig
assertTrue<Equals<Pick<api.VncConfig, keyof SpecClasses.Class_VncConfig>, Pick<SpecClasses.Class_VncConfig, keyof SpecClasses.Class_VncConfig>>>();
assertTrue<Equals<Exclude<keyof api.VncConfig, keyof SpecClasses.Class_VncConfig>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.VncConfig>, ConstructorParameters<SpecClasses.Ctor_VncConfig>>>();
assertTrue<Equals<Pick<typeof api.VncConfig, keyof SpecClasses.Static_VncConfig>, Pick<SpecClasses.Static_VncConfig, keyof SpecClasses.Static_VncConfig>>>();
assertTrue<Equals<Exclude<keyof typeof api.VncConfig, 'prototype' | keyof SpecClasses.Static_VncConfig>, never>>();
// QemuCommandBuilder mutators return the polymorphic `this` (subclass-preserving).
declare class FluentProbe extends api.QemuCommandBuilder {
  probe: true;
}
type FluentKeys =
  | 'setBinary'
  | 'enableKvm'
  | 'setMachine'
  | 'setCpu'
  | 'setMemory'
  | 'addDisks'
  | 'addDisk'
  | 'addNetwork'
  | 'addSpice'
  | 'addVnc'
  | 'addQmp'
  | 'addCdrom'
  | 'addGpuPassthrough'
  | 'addGpuWithAudio'
  | 'addPciPassthrough'
  | 'addMemoryBalloon'
  | 'enableHugepages'
  | 'setFirmware'
  | 'setUefiVars'
  | 'setBootOrder'
  | 'addTPM'
  | 'addVirtioChannel'
  | 'addGuestAgentChannel'
  | 'addInfiniServiceChannel'
  | 'addSecondCdrom'
  | 'addAudioDevice'
  | 'addUsbTablet'
  | 'addUsbKeyboard'
  | 'setProcessOptions'
  | 'addRawArg'
  | 'enableCpuPinning'
  | 'setStrictDisplaySecurity';
assertTrue<Equals<{ [K in FluentKeys]: ReturnType<FluentProbe[K]> }[FluentKeys], FluentProbe>>();
// StorageError
assertTrue<Equals<Pick<api.StorageError, keyof SpecClasses.Class_StorageError>, Pick<SpecClasses.Class_StorageError, keyof SpecClasses.Class_StorageError>>>();
assertTrue<Equals<Exclude<keyof api.StorageError, keyof SpecClasses.Class_StorageError>, 'backingFile' | 'clones'>>();
assertTrue<Equals<ConstructorParameters<typeof api.StorageError>, ConstructorParameters<SpecClasses.Ctor_StorageError>>>();
assertTrue<Equals<Exclude<keyof typeof api.StorageError, 'prototype' | keyof ErrorConstructor>, never>>();
// DisplayError
assertTrue<Equals<Pick<api.DisplayError, keyof SpecClasses.Class_DisplayError>, Pick<SpecClasses.Class_DisplayError, keyof SpecClasses.Class_DisplayError>>>();
assertTrue<Equals<Exclude<keyof api.DisplayError, keyof SpecClasses.Class_DisplayError>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.DisplayError>, ConstructorParameters<SpecClasses.Ctor_DisplayError>>>();
assertTrue<Equals<Exclude<keyof typeof api.DisplayError, 'prototype' | keyof ErrorConstructor>, never>>();
// PrismaAdapterError
assertTrue<Equals<Pick<api.PrismaAdapterError, keyof SpecClasses.Class_PrismaAdapterError>, Pick<SpecClasses.Class_PrismaAdapterError, keyof SpecClasses.Class_PrismaAdapterError>>>();
assertTrue<Equals<Exclude<keyof api.PrismaAdapterError, keyof SpecClasses.Class_PrismaAdapterError>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.PrismaAdapterError>, ConstructorParameters<SpecClasses.Ctor_PrismaAdapterError>>>();
assertTrue<Equals<Exclude<keyof typeof api.PrismaAdapterError, 'prototype' | keyof ErrorConstructor>, never>>();
// LifecycleError
assertTrue<Equals<Pick<api.LifecycleError, keyof SpecClasses.Class_LifecycleError>, Pick<SpecClasses.Class_LifecycleError, keyof SpecClasses.Class_LifecycleError>>>();
assertTrue<Equals<Exclude<keyof api.LifecycleError, keyof SpecClasses.Class_LifecycleError>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.LifecycleError>, ConstructorParameters<SpecClasses.Ctor_LifecycleError>>>();
assertTrue<Equals<Exclude<keyof typeof api.LifecycleError, 'prototype' | keyof ErrorConstructor>, never>>();
// UnattendedError
assertTrue<Equals<Pick<api.UnattendedError, keyof SpecClasses.Class_UnattendedError>, Pick<SpecClasses.Class_UnattendedError, keyof SpecClasses.Class_UnattendedError>>>();
assertTrue<Equals<Exclude<keyof api.UnattendedError, keyof SpecClasses.Class_UnattendedError>, never>>();
assertTrue<Equals<ConstructorParameters<typeof api.UnattendedError>, ConstructorParameters<SpecClasses.Ctor_UnattendedError>>>();
assertTrue<Equals<Exclude<keyof typeof api.UnattendedError, 'prototype' | keyof ErrorConstructor>, never>>();
