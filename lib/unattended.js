// @ts-check
'use strict'
// UnattendedInstaller (API.md §14.1). Answer files and the answer ISO are built in
// Rust (src/unattended/); this file keeps the spec's JS surface, the optional
// backend-module override and the QMP-side cleanup.

const path = require('path')
const native = require('./native')
const { callIn, UnattendedError } = require('./errors')
const call = callIn('unattended')
const { Debugger } = require('./utils')

const debug = new Debugger('unattended-installer')

const OS_TIMEOUTS = { ubuntu: 2700000, fedora: 3600000, windows10: 5400000, windows11: 7200000 }
const DEFAULT_TIMEOUT = 3600000
const CDROM_DEVICE = 'ide1-cd0'
const BACKEND_ENV = 'INFINIBAY_BACKEND_SERVICES_PATH'
const BACKEND_MANAGERS = {
  ubuntu: ['unattendedUbuntuManager', 'UnattendedUbuntuManager'],
  windows10: ['unattendedWindowsManager', 'UnattendedWindowsManager'],
  windows11: ['unattendedWindowsManager', 'UnattendedWindowsManager'],
  fedora: ['unattendedRedHatManager', 'UnattendedRedHatManager']
}

// The config as plain JSON for the native parser; what JSON cannot carry is refused
// as INVALID_CONFIG rather than surfacing as a conversion error.
function plain (config, vmId) {
  try {
    return JSON.parse(JSON.stringify(config === undefined ? {} : config))
  } catch (e) {
    throw new UnattendedError('INVALID_CONFIG', 'Invalid unattended install configuration: config must be JSON-serialisable', e, vmId)
  }
}

function errorMessage (e) {
  return e && typeof e.message === 'string' ? e.message : String(e)
}

class UnattendedInstaller {
  constructor (config, options) {
    const vmId = config && typeof config.vmId === 'string' ? config.vmId : undefined
    const json = plain(config, vmId)
    call(() => native.unattendedValidate(json))
    this.config = { ...config }
    this.options = { ...(options || {}) }
    // Files this installer built (answer medium, remastered installer ISO): removed by
    // cleanupInstallationMedia.
    this._made = new Set()
    // The spec's backend managers are used only when a path is given explicitly.
    this.backendServicesPath = this.options.backendServicesPath || process.env[BACKEND_ENV] || null
    const mc = this.options.monitorConfig || {}
    this.monitorConfig = {
      timeout: mc.timeout ?? OS_TIMEOUTS[String(this.config.os).toLowerCase()] ?? DEFAULT_TIMEOUT,
      maxResets: mc.maxResets ?? 5,
      checkInterval: mc.checkInterval ?? 5000
    }
  }

  async generateInstallationISO () {
    if (this.backendServicesPath) return this._generateWithBackend(this.backendServicesPath)
    debug.log(`generating the answer ISO for ${this.config.vmId} (${this.config.os})`)
    const o = this.options
    const iso = await call(() => native.unattendedBuildMedia(plain(this.config), {
      outputDir: o.outputDir,
      workDir: o.workDir,
      scriptsDir: o.scriptsDir,
      xorrisoPath: o.xorrisoPath
    }))
    this._made.add(iso)
    return iso
  }

  /**
   * Infinivirt addition: the installer ISO to boot. For Ubuntu a remastered copy of
   * `isoPath` (in `outputDir`) whose casper GRUB entries carry `autoinstall`, so
   * subiquity does not stop at "Continue with autoinstall?"; for the other OSes
   * `isoPath` itself (Windows Setup and anaconda find their answer media unprompted).
   * The copy is removed by cleanupInstallationMedia with the answer medium.
   */
  async prepareInstallerIso (isoPath) {
    if (typeof isoPath !== 'string' || !isoPath) {
      throw new UnattendedError('INVALID_CONFIG', 'Invalid unattended install configuration: the installer ISO path must be a non-empty string', undefined, this.config.vmId)
    }
    const os = String(this.config.os ?? '').trim().toLowerCase()
    if (os !== 'ubuntu') return isoPath
    const o = this.options
    debug.log(`remastering ${isoPath} for an unattended Ubuntu install of ${this.config.vmId}`)
    const out = await call(() => native.unattendedRemasterInstaller(path.resolve(isoPath), {
      os,
      vmId: String(this.config.vmId ?? ''),
      outputDir: o.outputDir,
      xorrisoPath: o.xorrisoPath
    }))
    if (out !== isoPath) this._made.add(out)
    return out
  }

  /** Infinivirt addition: the answer files the native generator writes, without building media. */
  async generateAnswerFiles () {
    return call(() => native.unattendedAnswerFiles(plain(this.config), this.options.scriptsDir))
  }

  // The spec's path: the Infinibay backend's manager modules build the ISO.
  async _generateWithBackend (servicesPath) {
    const vmId = this.config.vmId
    try {
      const os = this.config.os
      const entry = BACKEND_MANAGERS[os]
      if (!entry) throw new UnattendedError('UNSUPPORTED_OS', `Unsupported operating system: ${os}`, undefined, vmId)
      const managerModulePath = path.join(servicesPath, entry[0])
      let mod
      try {
        mod = require(managerModulePath)
      } catch (e) {
        throw new UnattendedError('MANAGER_NOT_FOUND',
          `Failed to load unattended manager module at ${managerModulePath}: ${errorMessage(e)}. ` +
          `Set ${BACKEND_ENV} or the backendServicesPath option to the backend's services directory.`,
          e, vmId, { managerModulePath, os })
      }
      const Manager = mod && mod[entry[1]]
      if (typeof Manager !== 'function') {
        throw new UnattendedError('MANAGER_NOT_FOUND', `Module ${managerModulePath} does not export ${entry[1]}`,
          undefined, vmId, { managerModulePath, os })
      }
      const now = new Date()
      const apps = (this.config.applications || []).map((a) => ({
        ...a,
        description: a.description ?? null,
        version: a.version ?? null,
        url: a.url ?? null,
        icon: a.icon ?? null,
        createdAt: now,
        updatedAt: now
      }))
      const manager = new Manager(this.config.username, this.config.password, apps, vmId, this.config.scripts ?? [])
      return await manager.generateNewImage()
    } catch (e) {
      if (e instanceof UnattendedError) throw e
      throw new UnattendedError('ISO_GENERATION_FAILED', `Failed to generate installation ISO: ${errorMessage(e)}`, e, vmId)
    }
  }

  mountInstallationMedia (builder, isoPath) {
    try {
      builder.addCdrom(isoPath)
      builder.setBootOrder(['d', 'c'])
    } catch (e) {
      throw new UnattendedError('MOUNT_FAILED', `Failed to mount installation media: ${errorMessage(e)}`, e, this.config.vmId)
    }
  }

  /**
   * Infinivirt addition: attaches a native answer ISO as an extra CD-ROM next to the
   * installer ISO (which stays the boot CD). The boot order is left to the caller.
   */
  mountAnswerMedia (builder, isoPath) {
    try {
      builder.addSecondCdrom(isoPath)
    } catch (e) {
      throw new UnattendedError('MOUNT_FAILED', `Failed to mount installation media: ${errorMessage(e)}`, e, this.config.vmId)
    }
  }

  /**
   * Spec §14.1: watches the install with an InstallationMonitor until the installer's
   * final power-off. The completion rule (minimum time / expected reboots) defaults per
   * OS; `options.monitorConfig` overrides it. Beyond the spec, the answer media are
   * removed whatever the outcome (the spec removed them on success only).
   */
  async monitorInstallation (qmpClient, isoPath) {
    const { InstallationMonitor, completionDefaults } = require('./unattended-monitor')
    const vmId = this.config.vmId
    try {
      const config = { ...completionDefaults(this.config.os), ...this.monitorConfig, ...(this.options.monitorConfig || {}) }
      const monitor = new InstallationMonitor(qmpClient, config)
      monitor.on('progress', (p) => debug.log(`VM ${vmId}: install ${p.phase}: ${p.message}`))
      const result = await monitor.start()
      result.isoPath = isoPath
      return result
    } catch (e) {
      if (e instanceof UnattendedError) throw e
      throw new UnattendedError('MONITORING_ERROR', `Installation monitoring failed: ${errorMessage(e)}`, e, vmId)
    } finally {
      await this.cleanupInstallationMedia(qmpClient, isoPath)
    }
  }

  /**
   * Spec §14.1: ejects the install media and removes the ISO file. Beyond the spec the
   * drive is found by the ISO it holds (query-block): `-cdrom` is `ide1-cd0` on `pc`
   * but `ide2-cd0` on `q35`, and the answer medium is a second drive. Every file this
   * installer built (answer medium, remastered Ubuntu ISO) is ejected and removed too;
   * the user's own installer ISO never is.
   */
  async cleanupInstallationMedia (qmpClient, isoPath) {
    const files = [...new Set([isoPath, ...this._made])].filter((f) => typeof f === 'string' && f)
    try {
      if (qmpClient && typeof qmpClient.isConnected === 'function' && qmpClient.isConnected()) {
        let devices = [CDROM_DEVICE]
        try {
          const blocks = typeof qmpClient.queryBlock === 'function' ? await qmpClient.queryBlock() : await qmpClient.execute('query-block')
          const holding = (blocks || []).filter((b) => b && b.inserted && files.includes(b.inserted.file)).map((b) => b.device || b.qdev)
          if (holding.length) devices = holding
        } catch (e) {
          debug.log(`query-block failed (ignored): ${errorMessage(e)}`)
        }
        for (const device of devices) {
          try {
            if (typeof qmpClient.eject === 'function') await qmpClient.eject(device, true)
            else await qmpClient.execute('eject', { device, force: true })
          } catch (e) {
            debug.log(`eject of ${device} failed (ignored): ${errorMessage(e)}`)
          }
        }
      }
    } catch (e) {
      debug.log(`eject failed (ignored): ${errorMessage(e)}`)
    }
    for (const file of files) {
      try {
        await call(() => native.unattendedRemoveMedia(file))
        this._made.delete(file)
      } catch (e) {
        debug.log(`removing ${file} failed (ignored): ${errorMessage(e)}`)
      }
    }
  }

  getConfig () {
    return { ...this.config }
  }
}

module.exports = { UnattendedInstaller }
