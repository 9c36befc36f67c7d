'use strict'

// The package installs, loads and type-checks from an empty directory, the way
// a consumer gets it: the main tarball from `npm pack` plus the per-platform
// package carrying the native addon (npm/linux-x64-gnu). Needs the release
// addon built first (`npm run build`).

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const REPO = path.resolve(__dirname, '..')
const PLATFORM = 'linux-x64-gnu'
const ADDON = `infinivirt.${PLATFORM}.node`
const TIMEOUT_MS = 180_000

// A clean environment: nothing that could make the installed copy load the
// repo's addon or modules, and none of the npm_* variables `npm test` exports
// (npm_config_local_prefix etc. would point the consumer's npm at the repo).
const env = {}
for (const [k, v] of Object.entries(process.env)) {
  if (!/^npm_/i.test(k) && k !== 'NAPI_RS_NATIVE_LIBRARY_PATH' && k !== 'NODE_PATH' && k !== 'INIT_CWD') env[k] = v
}
Object.assign(env, { npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' })

/** Runs argv (no shell) and returns stdout; fails the test with stderr when it exits non-zero. */
function run (cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: TIMEOUT_MS })
  if (r.error) throw r.error
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`)
  }
  return r.stdout
}

/** `npm pack --json` prints an array; take the single entry. */
function pack (dir, dest) {
  const out = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dest], dir))
  expect(out).toHaveLength(1)
  return { tarball: path.join(dest, out[0].filename), files: out[0].files.map((f) => f.path) }
}

const onLinuxX64 = process.platform === 'linux' && process.arch === 'x64'
const describeHere = onLinuxX64 ? describe : describe.skip

describeHere('npm package (pack + install into an empty directory)', () => {
  let work // temp root: tarballs, staged platform package, consumer app
  let app
  let main
  let platform

  beforeAll(() => {
    const addonPath = path.join(REPO, ADDON)
    if (!fs.existsSync(addonPath)) {
      throw new Error(`${addonPath} is missing: run \`npm run build\` before this test`)
    }
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'infinivirt-pack-'))

    main = pack(REPO, work)

    // Stage the platform package outside the repo (same package.json as
    // npm/linux-x64-gnu, plus the freshly built addon) so the test never
    // leaves files behind in the working tree.
    const staged = path.join(work, `platform-${PLATFORM}`)
    fs.mkdirSync(staged)
    fs.copyFileSync(path.join(REPO, 'npm', PLATFORM, 'package.json'), path.join(staged, 'package.json'))
    fs.copyFileSync(addonPath, path.join(staged, ADDON))
    platform = pack(staged, work)

    app = path.join(work, 'app')
    fs.mkdirSync(app)
    run('npm', ['init', '-y'], app)
    // Both tarballs are local and the other platforms' optional packages are
    // skipped, so no registry access is needed.
    run('npm', ['install', '--no-audit', '--no-fund', '--offline', main.tarball, platform.tarball], app)
  }, TIMEOUT_MS)

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true })
  })

  test('the tarballs hold the right files', () => {
    for (const f of ['package.json', 'index.js', 'index.d.ts', 'binding.js', 'binding.d.ts']) {
      expect(main.files).toContain(f)
    }
    // The native code ships only in the platform package.
    expect(main.files.filter((f) => f.endsWith('.node'))).toEqual([])
    expect(platform.files.sort()).toEqual([ADDON, 'package.json'].sort())
  })

  test('the installed package depends on nothing: Prisma stays a dev dependency and an optional peer', () => {
    const installed = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', '@infinibay', 'infinivirt', 'package.json'), 'utf8'))
    expect(installed.dependencies ?? {}).toEqual({})
    expect(installed.peerDependenciesMeta).toEqual({ '@prisma/client': { optional: true } })
    for (const dir of ['prisma', '@prisma', 'pg']) {
      expect([dir, fs.existsSync(path.join(app, 'node_modules', dir))]).toEqual([dir, false])
    }
  })

  test('require() loads the installed package and its platform addon', () => {
    const script = `
      const m = require('@infinibay/infinivirt')
      let displayError = null
      try { new m.SpiceConfig({ port: 5899 }) } catch (e) {
        displayError = { isDisplayError: e instanceof m.DisplayError, isError: e instanceof Error, code: e.code }
      }
      console.log(JSON.stringify({
        resolved: require.resolve('@infinibay/infinivirt'),
        types: {
          QemuCommandBuilder: typeof m.QemuCommandBuilder,
          SpiceConfig: typeof m.SpiceConfig,
          VncConfig: typeof m.VncConfig,
          DisplayError: typeof m.DisplayError,
          validatePciAddress: typeof m.validatePciAddress,
        },
        command: new m.QemuCommandBuilder()
          .setMachine('q35', { accel: 'tcg' })
          .setMemory(0.5)
          .setBootOrder(['d', 'c'])
          .buildCommand(),
        displayError,
        natives: Object.keys(require.cache).filter((k) => k.endsWith('.node')),
      }))
    `
    const out = JSON.parse(run(process.execPath, ['-e', script], app))

    expect(out.resolved).toBe(path.join(fs.realpathSync(app), 'node_modules', '@infinibay', 'infinivirt', 'index.js'))
    expect(out.types).toEqual({
      QemuCommandBuilder: 'function',
      SpiceConfig: 'function',
      VncConfig: 'function',
      DisplayError: 'function',
      validatePciAddress: 'function',
    })
    expect(out.command).toEqual({
      command: 'qemu-system-x86_64',
      args: ['-machine', 'q35,accel=tcg', '-m', '0.5G', '-boot', 'order=dc'],
    })
    expect(out.displayError).toEqual({ isDisplayError: true, isError: true, code: 'PORT_OUT_OF_RANGE' })
    // The addon came from the installed platform package, not from the repo.
    const platformAddon = path.join(fs.realpathSync(app), 'node_modules', '@infinibay', `infinivirt-${PLATFORM}`, ADDON)
    expect(out.natives).toEqual([platformAddon])
  })

  test('TypeScript consumers type-check against the installed typings (tsc --strict)', () => {
    const check = `
import {
  QemuCommandBuilder,
  SpiceConfig,
  VncConfig,
  DisplayError,
  type QemuCommand,
  type DiskOptions,
  type MachineOptions,
  type QemuProcessOptions,
  type SpiceConfigOptions,
} from '@infinibay/infinivirt'

const disk: DiskOptions = { path: '/var/lib/infinivirt/disks/a.qcow2', format: 'qcow2', bus: 'virtio', cache: 'writeback', discard: true }
const machine: MachineOptions = { accel: 'tcg' }
const proc: QemuProcessOptions = { vmId: 'vm-1', name: 'vm-1', daemonize: true, pidfile: '/run/vm-1.pid' }
const spiceOptions: SpiceConfigOptions = { port: 5901, addr: '127.0.0.1', disableTicketing: true }

const spice = new SpiceConfig(spiceOptions)
const port: number = spice.getPort()
const vnc = new VncConfig({ display: 1, addr: '127.0.0.1' })
const vncPort: number = vnc.getPort()

const cmd: QemuCommand = new QemuCommandBuilder()
  .setMachine('q35', machine)
  .setCpu('max', 1)
  .setMemory(0.5)
  .addDisks([disk])
  .addSpice(spice)
  .addQmp('/run/vm-1.sock')
  .setBootOrder(['c'])
  .setProcessOptions(proc)
  .buildCommand()
const argv: string[] = [cmd.command, ...cmd.args]

function describeError (e: unknown): string {
  return e instanceof DisplayError ? \`\${e.name}: \${e.code}\` : String(e)
}

// The typings are real, not \`any\`: these must be rejected.
// @ts-expect-error 'floppy' is not a DiskBus
const badDisk: DiskOptions = { path: '/x', format: 'qcow2', bus: 'floppy', cache: 'none' }
// @ts-expect-error setMemory takes a number of GiB
new QemuCommandBuilder().setMemory('1G')

export { argv, port, vncPort, describeError, badDisk }
`
    fs.writeFileSync(path.join(app, 'check.ts'), check)
    const tsc = path.join(REPO, 'node_modules', '.bin', 'tsc')
    run(tsc, [
      '--strict', '--noEmit',
      '--target', 'es2022', '--module', 'commonjs', '--moduleResolution', 'node10',
      '--types', 'node', '--typeRoots', path.join(REPO, 'node_modules', '@types'),
      'check.ts',
    ], app)
  })
})
