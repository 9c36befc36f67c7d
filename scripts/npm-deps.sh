#!/usr/bin/env bash
# Installs the npm dependencies exactly as package-lock.json records them (`npm ci`)
# when node_modules is missing or older than package.json or the lock. A lock that
# does not match package.json fails here (also when node_modules is current, through
# a dry run), so it fails CI before it fails a user's install.
#
# The lock can be complete on every platform because package.json declares no
# per-platform packages of its own: `napi prepublish` adds the
# @infinibay/infinivirt-<platform> optional dependencies when publishing (README,
# Publishing), and napi-rs's own platform binaries are all recorded in the lock.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MARK=node_modules/.package-lock.json
if [ ! -f "$MARK" ] || [ package-lock.json -nt "$MARK" ] || [ package.json -nt "$MARK" ]; then
  npm ci --no-audit --no-fund
else
  npm ci --dry-run --no-audit --no-fund >/dev/null
  echo "node_modules is up to date"
fi
