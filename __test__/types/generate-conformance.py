#!/usr/bin/env python3
"""Regenerates the spec-derived type checks of this directory from API.md.

    python3 __test__/types/generate-conformance.py /path/to/API.md
    npm run typecheck

Writes export-names.ts (the 300 names of section 1.1), spec-conformance.ts
(interfaces, types, constants, functions and enums of sections 2 and 17) and
class-conformance.ts (class signatures of sections 2.2 to 16). usage.ts is
hand-written and not touched.
"""
import os
import re
import sys

SPEC_PATH = sys.argv[1] if len(sys.argv) > 1 else '/work/shared/spec/API.md'
OUT_DIR = os.path.dirname(os.path.abspath(__file__))
spec = open(SPEC_PATH).read()

# Section 1.1 table: name and runtime/type-only.
ROWS = []
for line in spec.split('\n'):
    m = re.match(r'^\| (\d+) \| `([A-Za-z_0-9]+)` \| ([^|]+) \| ([^|]+) \| (runtime|type-only) \|', line)
    if m:
        ROWS.append((m.group(2), m.group(5)))
assert len(ROWS) == 300, len(ROWS)
RUNTIME = [n for n, k in ROWS if k == 'runtime']
TYPE_ONLY = [n for n, k in ROWS if k != 'runtime']

# ------------------------------------------------------------ export-names.ts
EXPORT_NAMES_TEMPLATE = '''// List check: every one of the 300 names of API.md section 1.1 is exported by
// the package root, runtime names as values and type-only names as types.
// Type-checked only (`npm run typecheck`), never executed.

import * as api from '../../index';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function assertTrue<T extends true>(): void {}

/** The 123 runtime exports (section 1.1), in `index.ts` order. */
export const RUNTIME_EXPORT_NAMES = [
@RUNTIME_NAMES@
] as const;

/** The 177 type-only exports (section 1.1), in `index.ts` order. */
export const TYPE_ONLY_EXPORT_NAMES = [
@TYPE_ONLY_NAMES@
] as const;

/** All 300 names. */
export const ALL_EXPORT_NAMES = [...RUNTIME_EXPORT_NAMES, ...TYPE_ONLY_EXPORT_NAMES] as const;

const runtimeCount: 123 = RUNTIME_EXPORT_NAMES.length;
const typeOnlyCount: 177 = TYPE_ONLY_EXPORT_NAMES.length;
const totalCount: 300 = ALL_EXPORT_NAMES.length;
void runtimeCount;
void typeOnlyCount;
void totalCount;

// Every runtime name is a value export of the package root ...
type RuntimeName = (typeof RUNTIME_EXPORT_NAMES)[number];
const runtimeKeys: readonly (keyof typeof api)[] = RUNTIME_EXPORT_NAMES;
void runtimeKeys;
// ... and the only value exports beyond them are Infinivirt's `writeDisplaySecretFile`, `detectAccelerator` and `createStore`,
// `GuestAgentClient` (API-next §1) and the backup set (API-next §2).
type BackupRuntimeName =
  | 'BackupService' | 'BackupError' | 'BackupType' | 'BackupStatus' | 'BackupCompression' | 'BackupErrorCode'
  | 'DEFAULT_BACKUP_DIR' | 'DEFAULT_BACKUP_TYPE' | 'DEFAULT_BACKUP_COMPRESSION' | 'DEFAULT_RETENTION_COUNT'
  | 'MAX_CONCURRENT_BACKUPS' | 'BACKUP_MANIFEST_FILENAME' | 'isValidBackupType' | 'isValidBackupStatus' | 'isBackupError';
assertTrue<Equals<Exclude<keyof typeof api, RuntimeName>, 'writeDisplaySecretFile' | 'detectAccelerator' | 'createStore' | 'GuestAgentClient' | BackupRuntimeName>>();

// Type-level reference of each runtime export (fails if one is missing).
export type RuntimeExportCheck = [
@RUNTIME_REFS@
];

// Type-level reference of each type-only export (fails if one is missing).
export type TypeOnlyExportCheck = [
@TYPE_ONLY_REFS@
];

// Type-only names must not exist as values.
type TypeOnlyName = (typeof TYPE_ONLY_EXPORT_NAMES)[number];
assertTrue<Equals<Extract<TypeOnlyName, keyof typeof api>, never>>();

// Types that the original reaches through sub-module typings (section 1.3) are
// declared too; the runtime-less ones are type-only.
export type NonIndexTypeCheck = [
  api.QMPBalloonInfo,
  api.SpiceImageCompression,
  api.SpiceWanCompression,
  api.SpiceStreamingMode,
  api.SpicePlaybackCompression,
  api.CleanupResourceType,
  api.CleanupStatus,
  api.CleanupResourceState,
  api.CleanupResult,
  api.CleanupAlertEvent,
  api.NftablesServiceConfig,
  api.NftablesPersistence,
  api.PersistenceResult,
  api.RestoreResult,
  api.PersistenceConfig,
  api.CpuPinningOptions,
  api.PrismaClientLike,
];
'''


def lines(names, fmt):
    return '\n'.join('  ' + fmt(n) + ',' for n in names)


export_names = (
    EXPORT_NAMES_TEMPLATE.replace('@RUNTIME_NAMES@', lines(RUNTIME, lambda n: "'" + n + "'"))
    .replace('@TYPE_ONLY_NAMES@', lines(TYPE_ONLY, lambda n: "'" + n + "'"))
    .replace('@RUNTIME_REFS@', lines(RUNTIME, lambda n: 'typeof api.' + n))
    .replace('@TYPE_ONLY_REFS@', lines(TYPE_ONLY, lambda n: 'api.' + n))
)
open(os.path.join(OUT_DIR, 'export-names.ts'), 'w').write(export_names)

# ------------------------------------------------------- spec-conformance.ts
def section(start, end):
    a=spec.index(start); b=spec.index(end,a); return spec[a:b]
text=section('## 2. core/QemuCommandBuilder','### 2.1')+section('## 17. types/*','## 18.')
blocks=re.findall(r'```ts\n(.*?)```',text,re.S)
decls=[];enums=[];valdecls=[]
for blk in blocks:
    lines=[re.sub(r'\s*//.*$','',l) for l in blk.split('\n')]
    src='\n'.join(lines)
    stmts=[]; cur=[]; depth=0
    for l in src.split('\n'):
        if depth==0 and re.match(r'^(export\s+)?(interface|type|class|enum|const|function)\b',l.strip()) and cur:
            stmts.append('\n'.join(cur)); cur=[]
        cur.append(l)
        depth+=l.count('{')-l.count('}')
    if cur: stmts.append('\n'.join(cur))
    for s in stmts:
        st=s.strip()
        if re.match(r'^(export\s+)?(interface|type)\b',st):
            decls.append(re.sub(r'^(export\s+)?','',st))
        elif st.startswith('const ') or st.startswith('function '):
            for part in [x.strip() for x in re.split(r';\s*(?=const |function )',st) if x.strip()]:
                valdecls.append(' '.join(part.rstrip(';').split()) if part.startswith('function') else part.rstrip(';'))
        elif st.startswith('enum '):
            m=re.match(r'enum\s+(\w+)\s*\{(.*)\}',st,re.S)
            members=re.findall(r"(\w+)\s*=\s*'([^']*)'",m.group(2))
            enums.append((m.group(1),members))
names=[re.match(r'(interface|type)\s+(\w+)',d).group(2) for d in decls]
enum_names=[e for e,_ in enums]+['PrismaAdapterErrorCode','LifecycleErrorCode','UnattendedErrorCode']
enum_names=list(dict.fromkeys(enum_names))
def indent(s): return '\n'.join(('  '+l) if l.strip() else '' for l in s.split('\n'))
runtime=set(RUNTIME)
val_body=[];val_checks=[]
for v in valdecls:
    m=re.match(r'(const|function)\s+(\w+)',v)
    n=m.group(2)
    if n not in runtime: continue
    if n=='DEFAULT_INSTALLATION_TIMEOUT': v='const DEFAULT_INSTALLATION_TIMEOUT: number'
    v=v.replace('= NftablesFamily.BRIDGE','= api.NftablesFamily.BRIDGE')
    val_body.append(indent('export '+v+';'))
    val_checks.append(f'assertTrue<Equals<typeof api.{n}, typeof Spec.{n}>>();')
body=[]
for e in enum_names+['PrismaAdapterError','LifecycleError','UnattendedError']: body.append(f'  type {e} = api.{e};')
body.append('')
for d in decls:
    d=re.sub(r'[ \t]+$','',d,flags=re.M)
    # VMCreateConfig's disks are the package's DiskConfig (checked on its own above,
    # with its addition), so the rest of VMCreateConfig is still compared exactly.
    if d.startswith('interface VMCreateConfig'):
        d=d.replace('disks: DiskConfig[]','disks: api.DiskConfig[]')
    body.append(indent('export '+d)); body.append('')
body+=['  // constants and functions of section 17']+val_body+['']
body.append(indent('export interface UnattendedInstallerOptions { backendServicesPath?: string; monitorConfig?: Partial<MonitorConfig> }'))
# Infinivirt's documented additions: interface -> [(field, type)].
additions={
 'SpiceOptions':[('passwordSecretFile','string')],'VncOptions':[('passwordSecretFile','string')],
 'SpiceConfigOptions':[('passwordSecretFile','string')],'VncConfigOptions':[('passwordSecretFile','string')],
 'InfinivirtConfig':[('strictDisplaySecurity','boolean'),('databaseUrl','string'),('sqlitePath','string'),('extraArgs','string[]'),('firewallPersistenceDir','string'),('firewallStrictRules','boolean'),('qemuBinary','string'),('unattended','api.UnattendedInstallerOptions')],'QMPClientOptions':[('commandTimeouts','Record<string, number>')],
 'VMStatusResult':[('monitorResponsive','boolean'),('agentResponsive','boolean'),('guestIpAddresses','string[]')],
 'NftablesError':[('chainName','string'),('vmId','string'),('ownerVmId','string')],
 'CreateImageOptions':[('backingFile','string'),('backingFormat','api.ImageFormat'),('onProgress','(percent: number) => void')],
 'ConvertImageOptions':[('onProgress','(percent: number) => void')],
 'DiskConfig':[('backingFile','string')],
 'HealthMonitorConfig':[('tapManager',"api.NetworkCleanupTargets['tapManager']"),('nftables',"api.NetworkCleanupTargets['nftables']"),('cgroups',"api.NetworkCleanupTargets['cgroups']"),('cleanupRetryBaseMs','number')],
 'EventHandlerConfig':[('tapManager',"api.NetworkCleanupTargets['tapManager']"),('nftables',"api.NetworkCleanupTargets['nftables']"),('cgroups',"api.NetworkCleanupTargets['cgroups']"),('exitWaitMs','number')],
 'CrashEvent':[('reason','api.TransitionReason')],'VMEventData':[('reason','api.TransitionReason')],
 'FirewallApplyResult':[('fallbacks','api.FirewallFallback[]')],
 'UnattendedInstallerOptions':[('outputDir','string'),('workDir','string'),('scriptsDir','string'),('xorrisoPath','string')],
 'MonitorConfig':[('minInstallTime','number'),('expectedReboots','number'),('ejectAfterResets','number'),('ejectDevice','string'),('screenshotPath','string')],
 'InstallationResult':[('resetCount','number'),('screenshotPath','string')],
}
# Fields whose type widens with an addition elsewhere: interface -> [(field, type)].
# (InstallationResult.error narrows `Error` to the failure codes it can carry.)
# (InfinivirtConfig.prismaClient becomes optional when `databaseUrl` or `sqlitePath` is given.)
widened={'UnattendedInstallerOptions':[('monitorConfig','Partial<api.MonitorConfig>')],
 'InfinivirtConfig':[('prismaClient','unknown')],
 'InstallationResult':[('error','api.InstallationError')]}
generic={'QMPResponse','QMPEvent'}
checks=[]
for n in names+['UnattendedInstallerOptions']:
    if n in widened or n in additions:
        w=widened.get(n,[]); a=additions.get(n,[])
        api_fs=' | '.join(f"'{f}'" for f,_ in w+a)
        spec_fs=' | '.join(f"'{f}'" for f,_ in w) or 'never'
        checks.append(f"assertTrue<Equals<Omit<api.{n}, {api_fs}>, Omit<Spec.{n}, {spec_fs}>>>();")
        for f,t in w+a:
            checks.append(f"assertTrue<Equals<api.{n}['{f}'], ({t}) | undefined>>();")
    elif n in generic:
        checks.append(f"assertTrue<Equals<api.{n}, Spec.{n}>>();")
        checks.append(f"assertTrue<Equals<api.{n}<QMPStatusProbe>, Spec.{n}<QMPStatusProbe>>>();")
    else:
        checks.append(f"assertTrue<Equals<api.{n}, Spec.{n}>>();")
typeonly_enums={'CleanupResourceType','CleanupStatus'}
# Codes Infinivirt adds to the spec's enums.
enum_additions={'StorageErrorCode':[('INVALID_SNAPSHOT_NAME','INVALID_SNAPSHOT_NAME'),('INVALID_BACKING_FILE','INVALID_BACKING_FILE')],
                'NetworkErrorCode':[('INVALID_INTERFACE_NAME','INVALID_INTERFACE_NAME'),('INVALID_IP_ADDRESS','INVALID_IP_ADDRESS'),
                                    ('INVALID_ARGUMENT','INVALID_ARGUMENT')]}
enum_checks=[]
for e,members in enums:
    members=members+enum_additions.get(e,[])
    enum_checks.append(f'// enum {e}')
    if e not in typeonly_enums:
        keys=' | '.join(f"'{k}'" for k,_ in members)
        enum_checks.append(f'assertTrue<Equals<keyof typeof api.{e}, {keys}>>();')
    vals=' | '.join(f"'{v}'" for _,v in members)
    enum_checks.append(f'assertTrue<Equals<`${{api.{e}}}`, {vals}>>();')
    for k,v in members:
        enum_checks.append(f"assertTrue<Equals<`${{api.{e}.{k}}}`, '{v}'>>();")
out=f'''// Field-for-field conformance of the typings with API.md.
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
function assertTrue<T extends true>(): void {{}}
interface QMPStatusProbe {{
  probe: true;
}}

declare namespace Spec {{
{chr(10).join(body)}
}}

{chr(10).join(checks)}

// constants and functions
{chr(10).join(val_checks)}

{chr(10).join(enum_checks)}
'''
open(os.path.join(OUT_DIR,'spec-conformance.ts'),'w').write(out)

# ------------------------------------------------------ class-conformance.ts
heads=[(m.start(),m.group(0)) for m in re.finditer(r'^#{2,3} .*$',spec,re.M)]
def sect(title):
    for i,(p,h) in enumerate(heads):
        if h.startswith(title):
            end=heads[i+1][0] if i+1<len(heads) else len(spec)
            return spec[p:end]
    raise KeyError(title)
classes=[('## 3.','QemuProcess'),('## 4.','QMPClient'),('## 5.','VMLifecycle'),('## 6.','Infinivirt'),
('### 7.1','SpiceConfig'),('### 7.2','VncConfig'),('### 8.1','TapDeviceManager'),('### 8.3','MacAddressGenerator'),
('### 8.4','FirewallRuleTranslator'),('### 8.5','NftablesService'),('### 8.6','NftablesPersistence'),('### 8.7','DepartmentNatService'),
('### 9.1','QemuImgService'),('### 9.2','SnapshotManager'),('### 10.1','StateSync'),('### 10.2','EventHandler'),('### 10.3','HealthMonitor'),
('### 11.1','PrismaAdapter'),('### 12.1','CpuPinningAdapter'),('## 13.','CgroupsManager'),('### 14.1','UnattendedInstaller'),
('### 14.2','InstallationMonitor'),('### 16.1','Debugger'),('### 16.2','CommandExecutor')]
def split_stmts(src):
    src=re.sub(r'/\*.*?\*/','',src,flags=re.S)
    src='\n'.join(re.sub(r'//.*$','',l) for l in src.split('\n'))
    stmts=[];cur='';depth=0
    for ch in src:
        if ch in '(<{[': depth+=1
        if ch in ')>}]': depth-=1
        if ch=='\n' and depth==0:
            if cur.strip(): stmts.append(' '.join(cur.split()))
            cur=''
        else: cur+=ch
    if cur.strip(): stmts.append(' '.join(cur.split()))
    return stmts
classes_out={}
for t,name in classes:
    blk=re.findall(r'```ts\n(.*?)```',sect(t),re.S)[0]
    classes_out[name]=split_stmts(blk)
# QemuCommandBuilder from the table in 2.2
tbl=sect('### 2.2')
classes_out['QemuCommandBuilder']=['constructor()']+[' '.join(m.replace('\\|','|').split()) for m in re.findall(r'^\| `([a-zA-Z]+\(.*?\): [^`]+)`',tbl,re.M)]
# BridgeManager from table 8.2 (parameters are strings)
tbl=sect('### 8.2')
bm=['constructor()']
for m in re.findall(r'^\| `(\w+)\(([^)]*)\): ([^`]+)`',tbl,re.M):
    params=', '.join(p.strip()+': string' for p in m[1].split(',') if p.strip())
    bm.append(f'{m[0]}({params}): {m[2]}')
classes_out['BridgeManager']=bm
# Infinivirt addition: TapDeviceManager takes optional options (the spec's has none).
classes_out['TapDeviceManager']=['constructor(options?: { orphanGraceMs?: number; sweepOnCreate?: boolean })']+[
    x for x in classes_out['TapDeviceManager'] if not x.startswith('constructor')]
# Infinivirt addition: VMLifecycle's options also take qemuBinary, firewallPersistenceDir, extraArgs.
classes_out['VMLifecycle']=['constructor(prisma: PrismaAdapter, eventHandler: EventHandler, eventManager?: EventManagerLike, options?: { diskDir?: string; qmpSocketDir?: string; pidfileDir?: string; qemuBinary?: string; firewallPersistenceDir?: string; firewallStrictRules?: boolean; extraArgs?: string[]; unattended?: UnattendedInstallerOptions })']+[
    x for x in classes_out['VMLifecycle'] if not x.startswith('constructor')]

# ---------------------------------------------------------------- generate
builtins={'Promise','Record','Partial','Date','Error','T','Array','Map','EventEmitter'}
# QemuProcess is an EventEmitter here (its 'exit' event is an Infinivirt addition).
emitters={'QMPClient','EventHandler','HealthMonitor','InstallationMonitor','QemuProcess'}
extras={'QemuCommandBuilder':["setStrictDisplaySecurity","isStrictDisplaySecurity"],
        'QemuProcess':["attach","waitForExit"],
        # Thin clones (API-next §3, issue 15): deleteImage, listClones, flattening.
        'QemuImgService':["resizeImageLive","deleteImage","listClones","flattenImage","flattenImageLive"],
        'SnapshotManager':["createLiveSnapshot","deleteLiveSnapshot","materializeSnapshot"],
        'StateSync':["getPendingWrites"],
        'UnattendedInstaller':["generateAnswerFiles","mountAnswerMedia","prepareInstallerIso"],
        'EventHandler':["getPendingWrites"],
        'HealthMonitor':["watchVM","unwatchVM","getWatchedVMs","getPendingWrites"],
        'InstallationMonitor':["getResetCount"],
        # API-next §1.6 guestExec, and the libvirt-style pass-through.
        'Infinivirt':["guestExec","qemuAgentCommand"],
        'NftablesService':["getCapabilities","verifyVM","explain"],
        'QMPClient':["queryVnc","querySpice","queryMemorySizeSummary","screendump","setPassword","blockdevChangeMedium",
                     "humanMonitorCommand","blockdevSnapshotInternalSync","blockdevSnapshotDeleteInternalSync","blockResize"]}
typeonly_values={'NftablesPersistence'}  # no runtime export
errors={
 'StorageError':('code: StorageErrorCode, message: string, path?: string, command?: string',
                 ['readonly code: StorageErrorCode','readonly path?: string','readonly command?: string','toInfo(): StorageErrorInfo']),
 'DisplayError':('code: DisplayErrorCode, message: string, context?: Record<string, unknown>',
                 ['readonly code: DisplayErrorCode','readonly context?: Record<string, unknown>']),
 'PrismaAdapterError':('message: string, code: PrismaAdapterErrorCode, vmId?: string, details?: unknown',
                 ['readonly code: PrismaAdapterErrorCode','readonly vmId?: string','readonly details?: unknown']),
 'LifecycleError':('code: LifecycleErrorCode, message: string, vmId?: string, context?: Record<string, unknown>',
                 ['readonly code: LifecycleErrorCode','readonly vmId?: string','readonly context?: Record<string, unknown>']),
 'UnattendedError':('code: UnattendedErrorCode, message: string, cause?: Error, vmId?: string, context?: Record<string, unknown>',
                 ['readonly code: UnattendedErrorCode','readonly cause?: Error','readonly vmId?: string','readonly context?: Record<string, unknown>']),
}
# Fields Infinivirt's error classes add (thin clones: the backing file, the clones).
error_extras={'StorageError':['backingFile','clones']}
refs=set()
body=[];checks=[]
def fix(s):
    s=s.replace('qxlMemoryMB = 16','qxlMemoryMB?: number')
    # Infinivirt addition: an optional options argument (shrinking is opt-in).
    s=s.replace('resizeImage(path: string, newSizeGB: number): Promise<void>','resizeImage(path: string, newSizeGB: number, options?: { allowShrink?: boolean }): Promise<void>')
    # Infinivirt addition: attachToBridge may name the VM the TAP must belong to.
    s=s.replace('attachToBridge(tapName: string, bridge: string): Promise<void>','attachToBridge(tapName: string, bridge: string, vmId?: string): Promise<void>')
    # Infinivirt addition: multi-queue TAPs (kept here; the generated file had it by hand).
    s=s.replace('create(vmId: string, bridge?: string): Promise<string>','create(vmId: string, bridge?: string, options?: { queues?: number }): Promise<string>')
    return s
for name,stmts in sorted(classes_out.items()):
    ctor=None;inst=[];stat=[]
    for s in stmts:
        s=fix(s)
        if s.startswith('constructor'): ctor=s[len('constructor'):].strip()
        elif s.startswith('static '): stat.append(s[len('static '):])
        else: inst.append(s)
    if name=='QemuCommandBuilder': inst=[re.sub(r': this$',': QemuCommandBuilder',s) for s in inst]
    for s in ([ctor] if ctor else [])+inst+stat:
        refs.update(re.findall(r'\b[A-Z][A-Za-z]+\b',re.sub(r"'[^']*'",'',s)))
    body.append(f'  /** {name} instance members. */')
    body.append(f'  interface Class_{name} {{')
    body += [f'    {s};' for s in inst]
    body.append('  }')
    if stat:
        body.append(f'  interface Static_{name} {{')
        body += [f'    {s};' for s in stat]
        body.append('  }')
    body.append(f'  type Ctor_{name} = new {ctor or "()"} => unknown;')
    body.append('')
    ee=name in emitters
    cls=f'api.{name}'
    checks.append(f'// {name}')
    checks.append(f'assertTrue<Equals<Pick<{cls}, keyof SpecClasses.Class_{name}>, Pick<SpecClasses.Class_{name}, keyof SpecClasses.Class_{name}>>>();')
    allowed=' | '.join(f"'{e}'" for e in extras.get(name,[])) or 'never'
    sub=f'keyof SpecClasses.Class_{name}'+(' | keyof EventEmitter' if ee else '')
    checks.append(f'assertTrue<Equals<Exclude<keyof {cls}, {sub}>, {allowed}>>();')
    if ee: checks.append(f'assertTrue<{cls} extends EventEmitter ? true : false>();')
    if name in typeonly_values: continue  # no `typeof` for a type-only export
    checks.append(f'assertTrue<Equals<ConstructorParameters<typeof {cls}>, ConstructorParameters<SpecClasses.Ctor_{name}>>>();')
    ssub="'prototype'"+(' | keyof typeof EventEmitter' if ee else '')
    if stat:
        checks.append(f'assertTrue<Equals<Pick<typeof {cls}, keyof SpecClasses.Static_{name}>, Pick<SpecClasses.Static_{name}, keyof SpecClasses.Static_{name}>>>();')
        ssub+=f' | keyof SpecClasses.Static_{name}'
    checks.append(f'assertTrue<Equals<Exclude<keyof typeof {cls}, {ssub}>, never>>();')
fluent=[re.match(r'(\w+)',x).group(1) for x in classes_out['QemuCommandBuilder'] if x.endswith(': this')]+['setStrictDisplaySecurity']
checks.append('// QemuCommandBuilder mutators return the polymorphic `this` (subclass-preserving).')
checks.append('declare class FluentProbe extends api.QemuCommandBuilder {\n  probe: true;\n}')
checks.append('type FluentKeys =\n'+'\n'.join("  | '%s'" % f for f in fluent)+';')
checks.append('assertTrue<Equals<{ [K in FluentKeys]: ReturnType<FluentProbe[K]> }[FluentKeys], FluentProbe>>();')
for name,(ctor,members) in errors.items():
    for s in [ctor]+members: refs.update(re.findall(r'\b[A-Z][A-Za-z]+\b',re.sub(r"'[^']*'",'',s)))
    body.append(f'  interface Class_{name} extends Error {{')
    body += [f'    {s};' for s in members]
    body.append('  }')
    body.append(f'  type Ctor_{name} = new ({ctor}) => unknown;')
    body.append('')
    cls=f'api.{name}'
    checks.append(f'// {name}')
    checks.append(f'assertTrue<Equals<Pick<{cls}, keyof SpecClasses.Class_{name}>, Pick<SpecClasses.Class_{name}, keyof SpecClasses.Class_{name}>>>();')
    extra=' | '.join(f"'{f}'" for f in error_extras.get(name,[])) or 'never'
    checks.append(f'assertTrue<Equals<Exclude<keyof {cls}, keyof SpecClasses.Class_{name}>, {extra}>>();')
    checks.append(f'assertTrue<Equals<ConstructorParameters<typeof {cls}>, ConstructorParameters<SpecClasses.Ctor_{name}>>>();')
    checks.append(f'assertTrue<Equals<Exclude<keyof typeof {cls}, \'prototype\' | keyof ErrorConstructor>, never>>();')
refs-=builtins
aliases=[f'  type {r} = api.{r};' for r in sorted(refs)]
res=f'''// Member-for-member conformance of the declared classes with API.md.
//
// `SpecClasses` transcribes the class signatures of API.md (sections 2.2, 3-16
// and the error classes of section 17; the BridgeManager parameters of the
// section 8.2 table are strings). For every class: each specified member has
// exactly the specified type, the class has no public member beyond the
// specification (except Infinivirt's documented additions), the constructor
// takes exactly the specified parameters and the static side holds exactly the
// specified static methods. Type-checked only, never executed.

import {{ EventEmitter }} from 'events';
import * as api from '../../index';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function assertTrue<T extends true>(): void {{}}

declare namespace SpecClasses {{
{chr(10).join(aliases)}

{chr(10).join(body)}
}}

{chr(10).join(checks)}
'''
open(os.path.join(OUT_DIR,'class-conformance.ts'),'w').write(res)
