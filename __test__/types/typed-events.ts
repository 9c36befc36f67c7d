// What the typings must refuse (Infinivirt additions, issue 13): every line under a
// `@ts-expect-error` has to fail `tsc --strict`, or `npm run typecheck` fails with
// "Unused '@ts-expect-error' directive". The lines without one must compile.
// Type-checked only, never executed.

import {
  EventHandler,
  HealthMonitor,
  InstallationMonitor,
  InstallationResult,
  Infinivirt,
  InfinivirtConfig,
  QMPClient,
  QemuProcess,
  UnattendedError,
  UnattendedErrorCode,
  createStore,
} from '../../index';

declare const handler: EventHandler;
declare const monitor: HealthMonitor;
declare const install: InstallationMonitor;
declare const qmp: QMPClient;
declare const proc: QemuProcess;
declare function use(...values: unknown[]): void;

// ---------------------------------------------------------------- EventHandler
handler.on('vm:event', (e) => use(e.vmId, e.previousStatus, e.newStatus, e.timestamp.getTime(), e.reason?.code));
handler.once('vm:disconnect', (e) => use(e.vmId, e.timestamp));
handler.on('vm:cleanup', (r) => use(r.event, r.failedCleanups, r.resources[0]?.type));
handler.on('vm:reconnect', (e) => use(e.sync.success));
handler.on('error', (e) => use(e.vmId, e.event, e.error));
// @ts-expect-error misspelled event name
handler.on('vm:evnet', (e: unknown) => use(e));
// @ts-expect-error misspelled event name (the spec's events are lower case)
handler.on('vm:Shutdown', (e: unknown) => use(e));
// @ts-expect-error wrong payload field (VMEventData has `newStatus`)
handler.on('vm:event', (e) => use(e.status));
// @ts-expect-error wrong payload type for the listener
handler.on('vm:disconnect', (e: { vmId: number }) => use(e));
// @ts-expect-error a payload emitted by hand is checked too
handler.emit('vm:disconnect', { vmId: 'a' });

// ---------------------------------------------------------------- HealthMonitor
monitor.on('crash', (c) => use(c.vmId, c.pid, c.cleanupResult?.successfulCleanups));
monitor.on('cleanup-alert', (a) => use(a.severity === 'error'));
monitor.on('error', (e) => use(e.message, e.timestamp));
// @ts-expect-error misspelled event name
monitor.on('crashed', (c: unknown) => use(c));
// @ts-expect-error misspelled event name
monitor.off('cleanup_alert', () => undefined);
// @ts-expect-error wrong payload field (CrashEvent has `pid`)
monitor.on('crash', (c) => use(c.qemuPid));
// @ts-expect-error 'cleanup-alert' severity is 'warning' | 'error'
monitor.on('cleanup-alert', (a) => { const s: 'fatal' = a.severity; use(s); });

// ---------------------------------------------------------------- InstallationMonitor
install.on('progress', (p) => use(p.phase, p.message));
install.on('complete', (r) => use(r.success, r.error?.code));
install.on('timeout-check', (t) => use(t.elapsed, t.remaining, t.percentComplete));
install.on('media-ejected', (m) => use(m.device));
install.on('error', (e) => use(e.code === UnattendedErrorCode.INSTALLATION_TIMEOUT));
// @ts-expect-error misspelled event name
install.on('completed', (r: unknown) => use(r));
// @ts-expect-error wrong payload field (timeout-check has `percentComplete`)
install.on('timeout-check', (t) => use(t.percent));

// ---------------------------------------------------------------- InstallationResult.error
declare const result: InstallationResult;
if (result.error) {
  const code: 'INSTALLATION_TIMEOUT' | 'INSTALLATION_RESET_LIMIT_EXCEEDED' | 'INSTALLATION_FAILED' | 'QMP_ERROR' | 'MONITORING_ERROR' = result.error.code;
  use(code, result.error.message, result.error instanceof UnattendedError);
  // @ts-expect-error a result never fails with an ISO-generation code
  const never: UnattendedErrorCode.ISO_GENERATION_FAILED = result.error.code;
  use(never);
}
const failed: InstallationResult = {
  success: false, isoPath: '', duration: 1, phases: [],
  error: new UnattendedError(UnattendedErrorCode.INSTALLATION_FAILED, 'early shutdown'),
};
const wrongCode: InstallationResult = {
  success: false, isoPath: '', duration: 1, phases: [],
  // @ts-expect-error not a code an installation result carries
  error: new UnattendedError(UnattendedErrorCode.MOUNT_FAILED, 'mount'),
};
use(failed, wrongCode);

// ---------------------------------------------------------------- QMPClient, QemuProcess
qmp.on('SHUTDOWN', (data, ts) => use(data.guest, data.reason, ts.seconds));
qmp.on('RESET', (data) => use(data.guest));
qmp.on('STOP', (data) => { const none: undefined = data; use(none); });
qmp.on('event', (e) => use(e.event, e.data, e.timestamp.microseconds));
qmp.on('disconnect', () => undefined);
qmp.on('reconnect_failed', () => undefined);
// @ts-expect-error misspelled QMP event name
qmp.on('SHUTDOWM', () => undefined);
// @ts-expect-error QMP event names are upper case
qmp.on('shutdown', () => undefined);
// @ts-expect-error wrong payload field (SHUTDOWN data has `guest` and `reason`)
qmp.on('SHUTDOWN', (data) => use(data.graceful));
proc.on('exit', (info) => use(info.vmId, info.pid));
// @ts-expect-error misspelled event name
proc.on('exited', () => undefined);
// @ts-expect-error wrong payload field
proc.on('exit', (info) => use(info.code));

// ---------------------------------------------------------------- InfinivirtConfig
declare const prisma: { machine: unknown };
const withPrisma: InfinivirtConfig = { prismaClient: prisma, diskDir: '/d' };
const withSqlite: InfinivirtConfig = { sqlitePath: '/var/lib/infinivirt/state.db' };
const withUrl: InfinivirtConfig = { databaseUrl: 'postgresql://u@localhost/db', healthMonitorInterval: 1000 };
new Infinivirt({ sqlitePath: '/tmp/state.db', autoStartHealthMonitor: false });
// @ts-expect-error a config needs prismaClient, databaseUrl or sqlitePath
const noDatabase: InfinivirtConfig = { diskDir: '/d' };
// @ts-expect-error sqlitePath is a path
const badPath: InfinivirtConfig = { sqlitePath: 42 };
use(withPrisma, withSqlite, withUrl, noDatabase, badPath, createStore);
