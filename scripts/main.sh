#!/usr/bin/env bash
# The README's "main job": make sure the machine and the addon are ready, then
# start a real VM under TCG through the public API and talk to it over QMP.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '[main] %s\n' "$*"; }

say "checking system packages"
bash scripts/setup-system.sh

say "checking npm dependencies"
bash scripts/npm-deps.sh

# Rebuild the addon when it is missing or older than any source file.
addon="$(ls -t infinivirt.*.node 2>/dev/null | head -n 1 || true)"
need_build=0
if [ -z "$addon" ]; then
  say "addon not built yet"
  need_build=1
else
  newer="$(find src Cargo.toml Cargo.lock build.rs -type f -newer "$addon" -print -quit 2>/dev/null || true)"
  if [ -n "$newer" ]; then
    say "addon $addon is older than $newer"
    need_build=1
  fi
fi
if [ "$need_build" -eq 1 ]; then
  say "building the addon (npm run build)"
  npm run build
else
  say "addon $addon is up to date"
fi

say "running examples/main-job.js"
exec node examples/main-job.js
