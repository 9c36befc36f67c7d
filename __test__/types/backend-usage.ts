// The Infinibay backend's use of the public API, written the way the backend uses
// it: one long-lived Infinivirt built around its Prisma client and event manager,
// every Infinivirt method of API.md §6, its results read field by field, its
// errors told apart by class and code, and the long-lived EventHandler /
// HealthMonitor / NftablesService listened to. Type-checked only (tsc --strict,
// `npm run typecheck`); the runtime behaviour is in __test__/net/lifecycle*.test.js.

import {
  Infinivirt,
  InfinivirtConfig,
  EventManagerLike,
  VMCreateConfig,
  VMCreateResult,
  VMOperationResult,
  VMStatusResult,
  VMStopConfig,
  LifecycleError,
  LifecycleErrorCode,
  isLifecycleError,
  PrismaAdapterError,
  isPrismaAdapterError,
  QMPBlockInfo,
  CrashEvent,
  VMEventData,
  HealthCheckSummary,
  FirewallRuleInput,
  DBVMStatus,
} from '../../index';

// What the backend passes in: its Prisma client (opaque here) and its event bus.
declare const prisma: { machine: unknown; machineConfiguration: unknown };
declare function publish(resource: string, action: string, id: string, data?: unknown): void;

class VirtualizationService {
  private readonly iv: Infinivirt;

  constructor() {
    const eventManager: EventManagerLike = {
      emitCRUD: (resource, action, id, data) => publish(resource, action, id, data),
    };
    const config: InfinivirtConfig = {
      prismaClient: prisma,
      eventManager,
      healthMonitorInterval: 30_000,
      autoStartHealthMonitor: true,
      diskDir: '/var/lib/infinivirt/disks',
      qmpSocketDir: '/var/run/infinivirt',
      pidfileDir: '/var/run/infinivirt/pids',
    };
    this.iv = new Infinivirt(config);
  }

  async boot(): Promise<void> {
    if (!this.iv.isInitialized()) await this.iv.initialize();
    const events = this.iv.getEventHandler();
    events.on('vm:event', (e: VMEventData) => publish('machines', 'update', e.vmId, { status: e.newStatus }));
    events.on('vm:disconnect', (e: { vmId: string }) => publish('machines', 'update', e.vmId, { qmp: 'lost' }));
    const health = this.iv.getHealthMonitor();
    health.on('crash', (c: CrashEvent) => publish('machines', 'crash', c.vmId, { pid: c.pid }));
    const summary: HealthCheckSummary = await health.checkAllVMs();
    console.log(`${summary.totalChecked} checked, ${summary.crashed} crashed`);
  }

  async create(machine: { id: string; name: string; internalName: string; os: string; cpuCores: number; ramGB: number; diskSizeGB: number }, bridge: string): Promise<VMCreateResult> {
    const config: VMCreateConfig = {
      vmId: machine.id,
      name: machine.name,
      internalName: machine.internalName,
      os: machine.os,
      cpuCores: machine.cpuCores,
      ramGB: machine.ramGB,
      disks: [{ sizeGB: machine.diskSizeGB, format: 'qcow2' }],
      bridge,
      displayType: 'spice',
      displayPort: 5900,
      displayPassword: 'from-the-vault',
      displayAddr: '0.0.0.0',
      guestAgentSocketPath: `/opt/infinibay/sockets/${machine.id}.ga`,
      infiniServiceSocketPath: `/opt/infinibay/sockets/${machine.id}.socket`,
      enableAudio: true,
      cpuPinning: [0, 1],
      unattendedInstall: { vmId: machine.id, os: 'ubuntu', username: 'user', password: 'pw', applications: [], scripts: [] },
    };
    const r = await this.iv.createVM(config);
    const fields: [string, string, string, number, number, string[], string, true] = [
      r.vmId, r.tapDevice, r.qmpSocketPath, r.displayPort, r.pid, r.diskPaths, r.pidFilePath, r.success,
    ];
    const iso: string | undefined = r.installationIsoPath;
    const installing: boolean | undefined = r.installingOS;
    console.log(fields, iso, installing);
    return r;
  }

  async power(id: string, action: 'on' | 'off' | 'force-off' | 'restart' | 'suspend' | 'resume' | 'reset' | 'destroy'): Promise<VMOperationResult> {
    const stop: VMStopConfig = { graceful: action === 'off', timeout: 60_000, force: true };
    try {
      switch (action) {
        case 'on': return await this.iv.startVM(id);
        case 'off': return await this.iv.stopVM(id, stop);
        case 'force-off': return await this.iv.stopVM(id, { graceful: false, force: true });
        case 'restart': return await this.iv.restartVM(id);
        case 'suspend': return await this.iv.suspendVM(id);
        case 'resume': return await this.iv.resumeVM(id);
        case 'reset': return await this.iv.resetVM(id);
        case 'destroy': return await this.iv.destroyVM(id);
      }
    } catch (e) {
      if (isLifecycleError(e)) {
        const le: LifecycleError = e;
        const code: LifecycleErrorCode = le.code;
        if (code === LifecycleErrorCode.VM_NOT_FOUND || code === LifecycleErrorCode.INVALID_STATE) {
          return { success: false, message: le.message, error: code, vmId: le.vmId ?? id, timestamp: new Date() };
        }
        const context: Record<string, unknown> | undefined = le.context;
        console.error(code, context);
      } else if (isPrismaAdapterError(e)) {
        const pe: PrismaAdapterError = e;
        console.error(pe.code, pe.vmId, pe.details);
      }
      throw e;
    }
  }

  async status(id: string): Promise<{ status: DBVMStatus | string; alive: boolean }> {
    const s: VMStatusResult = await this.iv.getVMStatus(id);
    const pieces: [string, string | null, number | null, number | null, boolean, boolean, string | null, string | null] = [
      s.vmId, s.qmpStatus, s.pid, s.uptime, s.processAlive, s.consistent, s.tapDevice, s.qmpSocketPath,
    ];
    console.log(pieces);
    return { status: s.status, alive: s.processAlive };
  }

  running(): string[] {
    return this.iv.getActiveVMs();
  }

  async media(id: string): Promise<number> {
    const blocks: QMPBlockInfo[] = await this.iv.queryBlockDevices(id);
    const cdrom = blocks.find((b) => b.removable && b.inserted);
    if (cdrom) await this.iv.ejectCdrom(id, cdrom.device);
    await this.iv.ejectCdrom(id, 'ide1-cd0', false);
    return blocks.length;
  }

  async reattach(id: string, socket: string): Promise<void> {
    await this.iv.attachToRunningVM(id, socket);
  }

  async firewall(id: string, tap: string, rules: FirewallRuleInput[]): Promise<number> {
    const nft = this.iv.getNftablesService();
    const applied = await nft.applyRules(id, tap, rules, []);
    return applied.appliedRules;
  }

  async adapterStatus(id: string): Promise<string | null> {
    const db = this.iv.getPrismaAdapter();
    const vm = await db.findMachine(id);
    return vm ? vm.status : null;
  }

  async close(): Promise<void> {
    await this.iv.shutdown();
  }
}

export { VirtualizationService };
