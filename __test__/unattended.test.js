'use strict'
// UnattendedInstaller through the public API: answer files for every OS parsed by
// real parsers (Python's ElementTree, PyYAML, pykickstart's ksvalidator), answer ISOs
// listed with xorriso, temp directories checked after success and failure, and
// validation errors raised before anything is built.

const fs = require('fs')
const os = require('os')
const path = require('path')
const util = require('util')
const { execFileSync } = require('child_process')
const {
  UnattendedInstaller, UnattendedError, QemuCommandBuilder, isUnattendedError
} = require('../index')

const ROOT = path.join(__dirname, '..')
let PYBIN
let tmp

function py (code, input) {
  return execFileSync(path.join(PYBIN, 'python'), ['-W', 'ignore', '-c', code], { input, encoding: 'utf8' })
}

function xorriso (...args) {
  return execFileSync('xorriso', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function entries (dir) {
  return fs.existsSync(dir) ? fs.readdirSync(dir) : []
}

// Adversarial values that are still valid for the target.
const PASSWORD = 'p"]]>&<\'$(reboot)`id`\nü✓'
const NASTY = "a'b\"c ]]> $(reboot) `id` \n ü ✓ ; rm -rf / &"

function config (osType, extra = {}) {
  const windows = osType.startsWith('windows')
  return {
    vmId: '550e8400-e29b-41d4-a716-446655440000',
    os: osType,
    username: windows ? "Bob & Co's" : 'alice',
    password: PASSWORD,
    locale: 'es_ES',
    timezone: 'Europe/Madrid',
    hostname: windows ? 'DESK-01' : 'web-01',
    applications: [
      {
        id: 'app1',
        name: 'Tool <&> "x"',
        os: ['windows', 'ubuntu', 'fedora'],
        installCommand: { windows: 'choco install tool --params {{p}}', ubuntu: 'apt-get install -y tool && echo {{p}}', fedora: 'dnf -y install tool && echo {{p}}' },
        parameters: { p: NASTY }
      },
      { id: 'app2', name: 'Other OS only', os: ['macos'], installCommand: ['never'], parameters: {} }
    ],
    scripts: [
      {
        script: windows
          ? { id: 's1', name: 'Setup', fileName: 'setup.ps1', shell: 'POWERSHELL', content: 'Write-Output {{who}}\n%end\n]]>' }
          : { id: 's1', name: 'Setup', fileName: 'setup.sh', shell: 'BASH', content: 'echo {{who}}\n%end\n]]>' },
        inputValues: { who: NASTY },
        executionId: 'e1'
      }
    ],
    ...extra
  }
}

beforeAll(() => {
  PYBIN = execFileSync('bash', [path.join(ROOT, 'scripts/python-tools.sh')], { encoding: 'utf8' }).trim()
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-ua-'))
}, 300000)

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
})

function fileOf (answers, p) {
  const f = answers.files.find((x) => x.path === p)
  expect(f).toBeDefined()
  return f.content
}

function noClearPassword (answers) {
  for (const f of answers.files) expect(f.content.includes(PASSWORD)).toBe(false)
}

const WINDOWS_SUMMARY = `
import json, sys, xml.etree.ElementTree as ET
ns = {'u': 'urn:schemas-microsoft-com:unattend'}
root = ET.fromstring(sys.stdin.read())
assert root.tag == '{urn:schemas-microsoft-com:unattend}unattend', root.tag
out = {'passes': [s.get('pass') for s in root.findall('u:settings', ns)], 'components': {}}
for s in root.findall('u:settings', ns):
    out['components'][s.get('pass')] = [c.get('name') for c in s.findall('u:component', ns)]
shell = root.find("u:settings[@pass='oobeSystem']/u:component[@name='Microsoft-Windows-Shell-Setup']", ns)
acc = shell.findall('u:UserAccounts/u:LocalAccounts/u:LocalAccount', ns)
out['accounts'] = [a.find('u:Name', ns).text for a in acc]
out['accountPlain'] = [a.find('u:Password/u:PlainText', ns).text for a in acc]
out['autoLogon'] = shell.find('u:AutoLogon/u:Username', ns).text
cmds = shell.findall('u:FirstLogonCommands/u:SynchronousCommand', ns)
out['commands'] = [[int(c.find('u:Order', ns).text), c.find('u:CommandLine', ns).text, c.find('u:Description', ns).text] for c in cmds]
setup = root.find("u:settings[@pass='windowsPE']/u:component[@name='Microsoft-Windows-Setup']", ns)
key = setup.find('u:UserData/u:ProductKey/u:Key', ns)
out['productKey'] = key.text if key is not None else None
pe = root.find("u:settings[@pass='windowsPE']/u:component[@name='Microsoft-Windows-PnpCustomizationsWinPE']", ns)
out['driverPaths'] = [p.text for p in pe.findall('u:DriverPaths/u:PathAndCredentials/u:Path', ns)]
spec = root.find("u:settings[@pass='specialize']/u:component[@name='Microsoft-Windows-Shell-Setup']", ns)
out['computerName'] = spec.find('u:ComputerName', ns).text
out['timeZone'] = spec.find('u:TimeZone', ns).text
out['elements'] = sum(1 for _ in root.iter())
print(json.dumps(out))
`

function windowsSummary (xml) {
  return JSON.parse(py(WINDOWS_SUMMARY, xml))
}

describe('answer files', () => {
  test('Windows 11: autounattend.xml parses and has the unattend schema shape', async () => {
    const inst = new UnattendedInstaller(config('windows11', { productKey: 'VK7JG-NPHTM-C97JM-9MPGT-3V66T' }))
    const a = await inst.generateAnswerFiles()
    expect(a.os).toBe('windows11')
    expect(a.volumeId).toBe('AUTOUNATTEND')
    noClearPassword(a)
    const s = windowsSummary(fileOf(a, 'autounattend.xml'))
    expect(s.passes).toEqual(['windowsPE', 'offlineServicing', 'specialize', 'oobeSystem'])
    expect(s.components.windowsPE).toEqual(['Microsoft-Windows-International-Core-WinPE', 'Microsoft-Windows-PnpCustomizationsWinPE', 'Microsoft-Windows-Setup'])
    expect(s.components.oobeSystem).toContain('Microsoft-Windows-Shell-Setup')
    expect(s.accounts).toEqual(["Bob & Co's"])
    expect(s.accountPlain).toEqual(['false'])
    expect(s.autoLogon).toBe("Bob & Co's")
    expect(s.productKey).toBe('VK7JG-NPHTM-C97JM-9MPGT-3V66T')
    expect(s.computerName).toBe('DESK-01')
    expect(s.timeZone).toBe('Romance Standard Time')
    expect(s.driverPaths).toContain('E:\\viostor\\w11\\amd64')
    expect(s.commands.map((c) => c[0])).toEqual([1, 2, 3, 4])
    expect(s.commands[1][1]).toBe('powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\ProgramData\\Infinivirt\\apps\\01.ps1')
    expect(s.commands[1][2]).toBe('Install Tool <&> "x"')
    expect(s.commands[3][1]).toBe('shutdown.exe /s /t 15')
    // The application's parameter is one PowerShell literal; the script's input too.
    expect(fileOf(a, 'infinivirt/apps/01.ps1')).toContain(`choco install tool --params '${NASTY.replace(/'/g, "''")}'`)
    expect(fileOf(a, 'infinivirt/scripts/01.ps1')).toContain(`Write-Output '${NASTY.replace(/'/g, "''")}'`)
    // The encoded password decodes to the password (Windows' documented form).
    const enc = fileOf(a, 'autounattend.xml').match(/<Value>([^<]+)<\/Value>/)[1]
    expect(Buffer.from(enc, 'base64').toString('utf16le')).toBe(PASSWORD + 'Password')
  })

  test('Windows 10 without key: BIOS layout, no ProductKey, w10 drivers', async () => {
    const a = await new UnattendedInstaller(config('windows10', { applications: [], scripts: [] })).generateAnswerFiles()
    const s = windowsSummary(fileOf(a, 'autounattend.xml'))
    expect(s.productKey).toBeNull()
    expect(s.driverPaths).toContain('D:\\NetKVM\\w10\\amd64')
    expect(s.commands.length).toBe(2)
  })

  test('Windows: an escaped metacharacter username keeps the element count; a forbidden one is rejected', async () => {
    const plainUser = windowsSummary(fileOf(await new UnattendedInstaller(config('windows10', { username: 'Bob' })).generateAnswerFiles(), 'autounattend.xml'))
    const escaped = windowsSummary(fileOf(await new UnattendedInstaller(config('windows10', { username: "B&b's" })).generateAnswerFiles(), 'autounattend.xml'))
    expect(escaped.elements).toBe(plainUser.elements)
    expect(escaped.accounts).toEqual(["B&b's"])
    expect(() => new UnattendedInstaller(config('windows10', { username: 'a<b>' }))).toThrow(/Username 'a<b>' is not valid for Windows/)
    expect(() => new UnattendedInstaller(config('windows10', { username: 'x]]>' }))).toThrow(/the character ']' is not allowed/)
  })

  test('Ubuntu: user-data is YAML with the autoinstall v1 keys and a crypt hash that verifies', async () => {
    const a = await new UnattendedInstaller(config('ubuntu')).generateAnswerFiles()
    expect(a.volumeId).toBe('CIDATA')
    expect(a.files.map((f) => f.path)).toEqual(['user-data', 'meta-data'])
    noClearPassword(a)
    const ud = fileOf(a, 'user-data')
    expect(ud.startsWith('#cloud-config\n')).toBe(true)
    const parsed = JSON.parse(py('import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))', ud))
    const ai = parsed.autoinstall
    expect(ai.version).toBe(1)
    expect(ai.locale).toBe('es_ES.UTF-8')
    expect(ai.timezone).toBe('Europe/Madrid')
    expect(ai.identity.username).toBe('alice')
    expect(ai.identity.hostname).toBe('web-01')
    expect(ai.shutdown).toBe('poweroff')
    expect(ai['late-commands']).toHaveLength(1)
    const late = ai['late-commands'][0]
    expect(late.slice(0, 6)).toEqual(['curtin', 'in-target', '--target=/target', '--', 'sh', '-c'])
    // The quoted parameter survives sh: echo prints it back unchanged.
    const echoed = execFileSync('sh', ['-c', late[6].replace(/^apt-get install -y tool && /, '')], { encoding: 'utf8' })
    expect(echoed).toBe(NASTY + '\n')
    expect(ai['user-data'].write_files[0].content).toContain('%end\n]]>')
    expect(ai['user-data'].runcmd).toEqual([['bash', '/var/lib/infinivirt/scripts/01.sh']])
    const ok = py('import crypt, sys; h = sys.argv[1] if len(sys.argv) > 1 else None\nimport json\nd = json.loads(sys.stdin.read())\nprint(crypt.crypt(d["pw"], d["hash"]) == d["hash"])',
      JSON.stringify({ pw: PASSWORD, hash: ai.identity.password }))
    expect(ok.trim()).toBe('True')
    const md = JSON.parse(py('import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))', fileOf(a, 'meta-data')))
    expect(md['instance-id']).toBe('iid-550e8400-e29b-41d4-a716-446655440000')
  })

  test('Fedora: ks.cfg passes ksvalidator, password only as a verified crypt hash', async () => {
    const a = await new UnattendedInstaller(config('fedora')).generateAnswerFiles()
    expect(a.volumeId).toBe('OEMDRV')
    noClearPassword(a)
    const ks = fileOf(a, 'ks.cfg')
    const file = path.join(tmp, 'ks.cfg')
    fs.writeFileSync(file, ks)
    const out = execFileSync(path.join(PYBIN, 'ksvalidator'), [file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    expect(out).not.toMatch(/error/i)
    expect(ks.split('\n').filter((l) => l.trim() === '%end')).toHaveLength(1)
    const hash = ks.match(/--password=(\S+) --iscrypted/)[1]
    const ok = py('import crypt, json, sys\nd = json.loads(sys.stdin.read())\nprint(crypt.crypt(d["pw"], d["hash"]) == d["hash"])', JSON.stringify({ pw: PASSWORD, hash }))
    expect(ok.trim()).toBe('True')
    expect(ks).toMatch(/^rootpw --lock$/m)
    expect(ks).toMatch(/^poweroff$/m)
  })

  test('a script read from scriptsDir gets its inputs substituted', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'scripts-'))
    fs.writeFileSync(path.join(dir, 'hello.sh'), 'echo {{who}}\n')
    const c = config('fedora', { applications: [], scripts: [{ script: { id: 's', name: 'hello', fileName: 'hello.sh', shell: 'SH' }, inputValues: { who: "it's" }, executionId: 'e' }] })
    const a = await new UnattendedInstaller(c, { scriptsDir: dir }).generateAnswerFiles()
    const b64 = fileOf(a, 'ks.cfg').match(/echo '([A-Za-z0-9+/=]+)' \| base64 -d > \/var\/lib\/infinivirt\/scripts\/01\.sh/)[1]
    expect(Buffer.from(b64, 'base64').toString()).toBe("echo 'it'\\''s'\n")
  })
})

describe('answer media', () => {
  const cases = [
    ['windows10', 'AUTOUNATTEND', ['/autounattend.xml', '/infinivirt/apps/01.ps1', '/infinivirt/scripts/01.ps1', '/infinivirt/vm.id']],
    ['ubuntu', 'CIDATA', ['/meta-data', '/user-data']],
    ['fedora', 'OEMDRV', ['/ks.cfg']]
  ]
  test.each(cases)('%s: ISO has label %s and the files; the work dir is gone', async (osType, label, files) => {
    const out = path.join(tmp, `out-${osType}`)
    const work = path.join(tmp, `work-${osType}`)
    const inst = new UnattendedInstaller(config(osType), { outputDir: out, workDir: work })
    const iso = await inst.generateInstallationISO()
    expect(path.dirname(iso)).toBe(out)
    expect(entries(out)).toEqual([path.basename(iso)])
    expect(entries(work)).toEqual([])
    expect(fs.statSync(iso).mode & 0o777).toBe(0o600)
    expect(xorriso('-indev', iso, '-pvd_info')).toMatch(new RegExp(`Volume Id\\s*: ${label}\\b`))
    const listed = xorriso('-indev', iso, '-find', '/', '-type', 'f').split('\n').filter(Boolean).map((l) => l.replace(/^'|'$/g, '')).sort()
    expect(listed).toEqual(files)
    if (osType === 'windows10') {
      // Setup reads Joliet names: the answer file keeps its exact lower-case name.
      const joliet = xorriso('-read_fs', 'norock', '-indev', iso, '-ls', '/')
      expect(joliet).toContain("'autounattend.xml'")
      const x = path.join(tmp, 'extracted.xml')
      xorriso('-osirrox', 'on', '-indev', iso, '-extract', '/autounattend.xml', x)
      expect(windowsSummary(fs.readFileSync(x, 'utf8')).accounts).toEqual(["Bob & Co's"])
    }
    const client = { isConnected: () => true, eject: jest.fn(async () => {}) }
    await inst.cleanupInstallationMedia(client, iso)
    expect(client.eject).toHaveBeenCalledWith('ide1-cd0', true)
    expect(fs.existsSync(iso)).toBe(false)
    await inst.cleanupInstallationMedia({ isConnected: () => false }, iso) // idempotent
  })

  test('a failing xorriso leaves neither work dir nor output', async () => {
    const out = path.join(tmp, 'out-fail')
    const work = path.join(tmp, 'work-fail')
    const inst = new UnattendedInstaller(config('ubuntu'), { outputDir: out, workDir: work, xorrisoPath: '/bin/false' })
    const err = await inst.generateInstallationISO().catch((e) => e)
    expect(err).toBeInstanceOf(UnattendedError)
    expect(err.code).toBe('ISO_GENERATION_FAILED')
    expect(err.message).toMatch(/^Failed to generate installation ISO: xorriso exited with 1/)
    expect(err.vmId).toBe('550e8400-e29b-41d4-a716-446655440000')
    expect(entries(work)).toEqual([])
    expect(entries(out)).toEqual([])
    const missing = await new UnattendedInstaller(config('ubuntu'), { outputDir: out, workDir: work, xorrisoPath: '/nonexistent/xorriso' })
      .generateInstallationISO().catch((e) => e)
    expect(missing.message).toBe('Failed to generate installation ISO: xorriso is not installed (Debian package xorriso)')
    expect(entries(work)).toEqual([])
  })

  test('an unusable output dir fails after xorriso and still removes the work dir', async () => {
    const work = path.join(tmp, 'work-badout')
    const notADir = path.join(tmp, 'a-file')
    fs.writeFileSync(notADir, 'x')
    const err = await new UnattendedInstaller(config('fedora'), { outputDir: path.join(notADir, 'sub'), workDir: work })
      .generateInstallationISO().catch((e) => e)
    expect(err.code).toBe('ISO_GENERATION_FAILED')
    expect(err.context.stage).toBe('output')
    expect(entries(work)).toEqual([])
  })
})

describe('installer ISO remaster (Ubuntu autoinstall on the kernel command line)', () => {
  const GRUB = [
    'set timeout=30',
    'loadfont unicode',
    'menuentry "Try or Install Ubuntu Server" {',
    '\tset gfxpayload=keep',
    '\tlinux\t/casper/vmlinuz  ---',
    '\tinitrd\t/casper/initrd',
    '}',
    'menuentry "Ubuntu Server with the HWE kernel" {',
    '\tset gfxpayload=keep',
    '\tlinux\t/casper/hwe-vmlinuz  ---',
    '\tinitrd\t/casper/hwe-initrd',
    '}',
    'grub_platform',
    'if [ "$grub_platform" = "efi" ]; then',
    "menuentry 'UEFI Firmware Settings' {",
    '\tfwsetup',
    '}',
    'else',
    "menuentry 'Test memory' {",
    '\tlinux16 /boot/memtest86+.bin',
    '}',
    'fi',
    ''
  ].join('\n')
  const LOOPBACK = 'menuentry "Try or Install Ubuntu Server" {\n\tlinux\t/casper/vmlinuz  iso-scan/filename=${iso_path} ---\n\tinitrd\t/casper/initrd\n}\n'

  function fakeInstaller (name, grub, loopback) {
    const dir = path.join(tmp, `${name}-tree`)
    fs.mkdirSync(path.join(dir, 'boot/grub'), { recursive: true })
    fs.mkdirSync(path.join(dir, 'casper'), { recursive: true })
    fs.writeFileSync(path.join(dir, 'boot/grub/grub.cfg'), grub)
    if (loopback) fs.writeFileSync(path.join(dir, 'boot/grub/loopback.cfg'), loopback)
    fs.writeFileSync(path.join(dir, 'boot/eltorito.img'), Buffer.alloc(2048))
    fs.writeFileSync(path.join(dir, 'casper/vmlinuz'), 'kernel')
    fs.writeFileSync(path.join(dir, 'casper/initrd'), 'initrd')
    const iso = path.join(tmp, `${name}.iso`)
    xorriso('-as', 'mkisofs', '-quiet', '-V', 'Ubuntu-Server', '-r', '-J',
      '-b', 'boot/eltorito.img', '-no-emul-boot', '-boot-load-size', '4', '-o', iso, dir)
    return iso
  }

  function sha256 (file) {
    return require('crypto').createHash('sha256').update(fs.readFileSync(file)).digest('hex')
  }

  function extract (iso, from, name) {
    const to = path.join(tmp, name)
    fs.rmSync(to, { force: true })
    xorriso('-osirrox', 'on', '-indev', iso, '-extract', from, to)
    return fs.readFileSync(to, 'utf8')
  }

  function listed (iso, dir) {
    return xorriso('-indev', iso, '-find', dir, '-type', 'f').split('\n').filter(Boolean).map((l) => l.replace(/^'|'$/g, '')).sort()
  }

  test('ubuntu: a copy whose casper entries boot with autoinstall; the original untouched, no work dir left', async () => {
    const src = fakeInstaller('ubuntu-live', GRUB, LOOPBACK)
    const before = sha256(src)
    const out = path.join(tmp, 'out-remaster')
    const inst = new UnattendedInstaller(config('ubuntu'), { outputDir: out })
    const iso = await inst.prepareInstallerIso(src)
    expect(iso).toBe(path.join(out, '550e8400-e29b-41d4-a716-446655440000-ubuntu-autoinstall.iso'))
    expect(entries(out)).toEqual([path.basename(iso)]) // the work dir is gone
    expect(fs.statSync(iso).mode & 0o777).toBe(0o600)
    expect(sha256(src)).toBe(before)

    const grub = extract(iso, '/boot/grub/grub.cfg', 'remastered-grub.cfg')
    const linux = grub.split('\n').filter((l) => /^\s*linux\s/.test(l))
    expect(linux).toEqual(['\tlinux\t/casper/vmlinuz autoinstall  ---', '\tlinux\t/casper/hwe-vmlinuz autoinstall  ---'])
    for (const l of linux) expect(l.match(/\bautoinstall\b/g)).toHaveLength(1)
    expect(grub).toContain('\tlinux16 /boot/memtest86+.bin\n')
    expect(grub.replace(/ autoinstall/g, '')).toBe(GRUB)
    expect(extract(iso, '/boot/grub/loopback.cfg', 'remastered-loopback.cfg'))
      .toBe(LOOPBACK.replace('${iso_path} ---', '${iso_path} autoinstall ---'))

    expect(listed(iso, '/casper')).toEqual(['/casper/initrd', '/casper/vmlinuz'])
    expect(extract(iso, '/casper/vmlinuz', 'remastered-vmlinuz')).toBe('kernel')
    expect(xorriso('-indev', iso, '-pvd_info')).toMatch(/Volume Id\s*: Ubuntu-Server\b/)
    // The El Torito boot setup of the original is replayed.
    expect(xorriso('-indev', iso, '-report_el_torito', 'plain')).toMatch(/El Torito img path :\s+1\s+\/boot\/eltorito\.img/)

    // Remembered: cleanup removes the copy (and the answer medium), never the original.
    await inst.cleanupInstallationMedia(null, null)
    expect(fs.existsSync(iso)).toBe(false)
    expect(sha256(src)).toBe(before)
  })

  test('other OSes boot the installer ISO unchanged', async () => {
    const src = path.join(tmp, 'not-read.iso')
    for (const osType of ['windows10', 'windows11', 'fedora']) {
      const out = path.join(tmp, `out-remaster-${osType}`)
      await expect(new UnattendedInstaller(config(osType), { outputDir: out }).prepareInstallerIso(src)).resolves.toBe(src)
      expect(fs.existsSync(out)).toBe(false)
    }
  })

  test('an ISO without a casper kernel entry: ISO_GENERATION_FAILED, nothing left', async () => {
    const src = fakeInstaller('not-ubuntu', "menuentry 'Install Fedora' {\n\tlinux /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=F\n}\n")
    const before = sha256(src)
    const out = path.join(tmp, 'out-remaster-bad')
    const err = await new UnattendedInstaller(config('ubuntu'), { outputDir: out }).prepareInstallerIso(src).catch((e) => e)
    expect(err).toBeInstanceOf(UnattendedError)
    expect(err.code).toBe('ISO_GENERATION_FAILED')
    expect(err.message).toBe('Failed to generate installation ISO: the installer ISO has no casper kernel entry in /boot/grub/grub.cfg (not an Ubuntu live-server ISO)')
    expect(err.vmId).toBe('550e8400-e29b-41d4-a716-446655440000')
    expect(err.context).toEqual({ stage: 'remaster', installerIso: src })
    expect(entries(out)).toEqual([])
    expect(sha256(src)).toBe(before)
  })

  test('a missing installer ISO or a failing xorriso: ISO_GENERATION_FAILED, nothing left', async () => {
    const out = path.join(tmp, 'out-remaster-missing')
    const missing = path.join(tmp, 'no-such.iso')
    const err = await new UnattendedInstaller(config('ubuntu'), { outputDir: out })
      .prepareInstallerIso(missing).catch((e) => e)
    expect(err.code).toBe('ISO_GENERATION_FAILED')
    expect(err.message).toMatch(/^Failed to generate installation ISO: cannot read the installer ISO: No such file/)
    expect(err.context).toEqual({ stage: 'remaster', installerIso: missing })
    expect(entries(out)).toEqual([])
    expect(fs.existsSync(missing)).toBe(false)
    const src = fakeInstaller('ubuntu-live-2', GRUB)
    const failing = await new UnattendedInstaller(config('ubuntu'), { outputDir: out, xorrisoPath: '/bin/false' })
      .prepareInstallerIso(src).catch((e) => e)
    expect(failing.code).toBe('ISO_GENERATION_FAILED')
    expect(failing.context.stage).toBe('xorriso')
    expect(entries(out)).toEqual([])
  })
})

describe('validation', () => {
  test('the spec constructor messages, all at once', () => {
    let err
    try { new UnattendedInstaller({ vmId: ' ', os: '', username: '', password: '' }) } catch (e) { err = e } // eslint-disable-line no-new
    expect(err).toBeInstanceOf(UnattendedError)
    expect(isUnattendedError(err)).toBe(true)
    expect(util.types.isNativeError(err)).toBe(true)
    expect(err.code).toBe('INVALID_CONFIG')
    expect(err.message).toBe('Invalid unattended install configuration: VM ID is required, Operating system type is required, Username is required, Password is required')
    expect(err.context).toEqual({ errors: ['VM ID is required', 'Operating system type is required', 'Username is required', 'Password is required'] })
  })

  const bad = [
    ['product key of the wrong shape', 'windows10', { productKey: 'ABCDE-12345' }, 'Product key must have the form XXXXX-XXXXX-XXXXX-XXXXX-XXXXX (letters and digits)'],
    ['Windows username too long', 'windows11', { username: 'x'.repeat(21) }, "Username 'xxxxxxxxxxxxxxxxxxxxx' is not valid for Windows: at most 20 characters"],
    ['Windows reserved username', 'windows10', { username: 'Administrator' }, "Username 'Administrator' is not valid for Windows: the name of a built-in account"],
    ['Linux username with capitals', 'ubuntu', { username: 'Alice' }, "Username 'Alice' is not valid for Ubuntu: 1 to 32 of a-z 0-9 _ -, starting with a letter or _"],
    ['Linux root', 'fedora', { username: 'root' }, "Username 'root' is not valid for Fedora: the name of a system account"],
    ['Windows hostname over 15', 'windows10', { hostname: 'a-very-long-name1' }, "Hostname 'a-very-long-name1' is not valid for Windows: at most 15 characters"],
    ['hostname with a dot', 'ubuntu', { hostname: 'a.b' }, "Hostname 'a.b' is not valid for Ubuntu: letters, digits and '-', not starting or ending with '-'"],
    ['locale', 'ubuntu', { locale: 'english' }, "Locale 'english' must look like en_US (language_COUNTRY)"],
    ['Linux timezone with a Windows name', 'fedora', { timezone: 'Pacific Standard Time' }, "Timezone 'Pacific Standard Time' must be an IANA name such as Europe/Madrid or UTC"],
    ['script shell for another OS', 'ubuntu', { scripts: [{ script: { id: 's', name: 'x', fileName: 'x.ps1', shell: 'POWERSHELL', content: '' }, inputValues: {}, executionId: 'e' }] }, "Script 'x' uses shell POWERSHELL, which ubuntu cannot run"]
  ]
  test.each(bad)('%s → INVALID_CONFIG before anything is built', (_, osType, extra, message) => {
    const work = path.join(tmp, 'never-created')
    let err
    try { new UnattendedInstaller({ ...config(osType), ...extra }, { workDir: work, outputDir: work }) } catch (e) { err = e } // eslint-disable-line no-new
    expect(err).toBeInstanceOf(UnattendedError)
    expect(err.code).toBe('INVALID_CONFIG')
    expect(err.message).toBe(`Invalid unattended install configuration: ${message}`)
    expect(err.message).not.toContain(PASSWORD)
    expect(fs.existsSync(work)).toBe(false)
  })

  test('unknown OS: the constructor accepts it (spec), generation reports UNSUPPORTED_OS and builds nothing', async () => {
    const work = path.join(tmp, 'never-created-os')
    const inst = new UnattendedInstaller({ ...config('ubuntu'), os: 'beos' }, { workDir: work, outputDir: work })
    // one at a time: a second promise rejecting while the first is awaited would be unhandled
    for (const run of [() => inst.generateInstallationISO(), () => inst.generateAnswerFiles()]) {
      const err = await run().catch((e) => e)
      expect(err).toBeInstanceOf(UnattendedError)
      expect(err.code).toBe('UNSUPPORTED_OS')
      expect(err.message).toBe('Unsupported operating system: beos')
    }
    expect(fs.existsSync(work)).toBe(false)
  })
})

describe('spec surface', () => {
  test('getConfig is a shallow copy; mountInstallationMedia adds -cdrom and boot order d,c', () => {
    const c = config('ubuntu')
    const inst = new UnattendedInstaller(c)
    const got = inst.getConfig()
    expect(got).toEqual(c)
    expect(got).not.toBe(c)
    const b = new QemuCommandBuilder()
    inst.mountInstallationMedia(b, '/tmp/x.iso')
    const args = b.build()
    expect(args.join(' ')).toContain('-cdrom /tmp/x.iso')
    expect(args.join(' ')).toContain('-boot order=dc')
    const b2 = new QemuCommandBuilder()
    inst.mountAnswerMedia(b2, '/tmp/a.iso')
    expect(b2.build().join(' ')).toContain('file=/tmp/a.iso,if=none,media=cdrom,readonly=on')
    let err
    try { inst.mountInstallationMedia({ addCdrom () { throw new Error('nope') } }, '/x') } catch (e) { err = e }
    expect(err.code).toBe('MOUNT_FAILED')
    expect(err.message).toBe('Failed to mount installation media: nope')
  })

  test('monitorInstallation with a client that is not connected: the monitor\'s QMP_ERROR, unchanged; the media removed anyway', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iv-ua-mon-'))
    const iso = path.join(dir, 'answers.iso')
    fs.writeFileSync(iso, 'x')
    const client = new (require('events').EventEmitter)()
    client.isConnected = () => false
    const err = await new UnattendedInstaller(config('ubuntu')).monitorInstallation(client, iso).catch((e) => e)
    expect(err).toBeInstanceOf(UnattendedError)
    expect(err.code).toBe('QMP_ERROR')
    expect(err.message).toBe('QMP client is not connected')
    expect(fs.existsSync(iso)).toBe(false)
    fs.rmSync(dir, { recursive: true, force: true })
  })

  test('backend override: the manager module builds the ISO, as in the spec', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'backend-'))
    fs.writeFileSync(path.join(dir, 'unattendedUbuntuManager.js'), `
      class UnattendedUbuntuManager {
        constructor (...args) { UnattendedUbuntuManager.args = args }
        async generateNewImage () { return '/backend/built.iso' }
      }
      module.exports = { UnattendedUbuntuManager }`)
    const inst = new UnattendedInstaller(config('ubuntu'), { backendServicesPath: dir })
    expect(await inst.generateInstallationISO()).toBe('/backend/built.iso')
    const args = require(path.join(dir, 'unattendedUbuntuManager.js')).UnattendedUbuntuManager.args
    expect(args[0]).toBe('alice')
    expect(args[3]).toBe('550e8400-e29b-41d4-a716-446655440000')
    expect(args[2][0].description).toBeNull()
    expect(args[2][0].createdAt).toBeInstanceOf(Date)

    const missing = await new UnattendedInstaller(config('fedora'), { backendServicesPath: dir }).generateInstallationISO().catch((e) => e)
    expect(missing.code).toBe('MANAGER_NOT_FOUND')
    expect(missing.message).toContain('INFINIBAY_BACKEND_SERVICES_PATH')
    expect(missing.context).toEqual({ managerModulePath: path.join(dir, 'unattendedRedHatManager'), os: 'fedora' })

    process.env.INFINIBAY_BACKEND_SERVICES_PATH = dir
    try {
      expect(await new UnattendedInstaller(config('ubuntu')).generateInstallationISO()).toBe('/backend/built.iso')
    } finally {
      delete process.env.INFINIBAY_BACKEND_SERVICES_PATH
    }
  })
})
