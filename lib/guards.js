// @ts-check
'use strict'
// Type guards of the public API. Value sets come from the core (src/consts.rs);
// the structural checks look at JS objects, which only JS can see.

const native = require('./native')

const C = native.specConstants()
const L = C._lists
const isObj = (o) => typeof o === 'object' && o !== null
const isStr = (s) => typeof s === 'string'
const nonEmpty = (s) => isStr(s) && s.length > 0
const member = (list) => (v) => list.includes(v)

const isValidDBStatus = member(L.dbStatuses)
const isValidOSType = member(L.osTypes)

function pciOk (a) {
  return isStr(a) && native.validatePciAddress(a).valid
}

module.exports = {
  isValidImageFormat: member(L.imageFormats),
  isValidDBStatus,
  isValidQMPStatus: member(L.qmpStatuses),
  isValidVMStatus: isValidDBStatus,
  isValidVMOperation: member(Object.values(C.VMOperation)),
  isValidOSType,
  isValidInstallationPhase: member(L.installationPhases),

  isValidVMInfo (o) {
    return isObj(o) && isStr(o.id) && isStr(o.name) && isStr(o.internalName) && isStr(o.os) &&
      isStr(o.status) && isValidDBStatus(o.status) && isObj(o.resources)
  },
  isValidDisplayConfig (o) {
    return isObj(o) && (o.type === 'spice' || o.type === 'vnc') && typeof o.port === 'number' && o.port > 0
  },
  isValidNetworkConfig (o) {
    return isObj(o) && nonEmpty(o.bridge)
  },
  isValidStorageConfig (o) {
    return isObj(o) && nonEmpty(o.path) && typeof o.sizeGB === 'number' && o.sizeGB > 0
  },
  isValidVMCompleteConfig (o) {
    return isObj(o) && isObj(o.vm) && isStr(o.vm.id) && isStr(o.vm.name) && isStr(o.vm.internalName)
  },
  isValidGpuPassthroughConfig (o) {
    if (!isObj(o)) return false
    if (o.gpuPciAddress !== undefined && !pciOk(o.gpuPciAddress)) return false
    if (o.gpuAudioPciAddress !== undefined && !pciOk(o.gpuAudioPciAddress)) return false
    if (o.gpuPciAddress !== undefined && o.gpuAudioPciAddress !== undefined && o.gpuPciAddress === o.gpuAudioPciAddress) return false
    if (o.gpuRomfile !== undefined && !(isStr(o.gpuRomfile) && native.romInsideAllowedDir(o.gpuRomfile))) return false
    return true
  },
  isValidInstallConfig (o) {
    if (!isObj(o) || !nonEmpty(o.vmId) || !isValidOSType(o.os) || !nonEmpty(o.username) || !nonEmpty(o.password)) return false
    for (const k of ['productKey', 'locale', 'timezone', 'hostname']) {
      if (o[k] !== undefined && !isStr(o[k])) return false
    }
    for (const k of ['applications', 'scripts']) {
      if (o[k] !== undefined && !Array.isArray(o[k])) return false
    }
    return true
  }
}
