#!/usr/bin/env bash
# The README's "main job": make sure the machine, the addon and the test guest are
# ready, then run one real VM end to end through the public Infinivirt API
# (examples/main-job.js) inside a private network namespace of its own, so the
# bridge, TAP and nftables rules it makes never reach the host's network.
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

say "checking the test guest (scripts/build-test-guest.sh)"
guest="$(bash scripts/build-test-guest.sh)"
IV_GUEST_KERNEL="$(printf '%s\n' "$guest" | sed -n 's/^kernel=//p')"
IV_GUEST_INITRD="$(printf '%s\n' "$guest" | sed -n 's/^initrd=//p')"
export IV_GUEST_KERNEL IV_GUEST_INITRD

say "running examples/main-job.js in a new network namespace (unshare --net)"
exec unshare --net -- bash -c 'set -euo pipefail; ip link set lo up; exec node examples/main-job.js'
