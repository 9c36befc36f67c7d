// @ts-check
'use strict'
// The generated napi loader (binding.js) picks the platform's .node file or the
// matching @infinibay/infinivirt-<platform> package.
module.exports = require('../binding.js')
