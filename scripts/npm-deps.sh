#!/usr/bin/env bash
# Installs the npm dependencies when node_modules is missing or older than the lock.
#
# `npm install`, not `npm ci`: a lock written on one platform does not record every
# other platform's optional packages (napi-rs's own binaries, our npm/* packages
# before they are published), and `npm ci` refuses such a lock on a fresh clone.
# `npm install` follows the lock for everything it records and resolves the rest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] \
   || { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  npm install --no-audit --no-fund
else
  echo "node_modules is up to date"
fi
