#!/usr/bin/env bash
# The whole test suite (what `npm test` runs): system packages, npm deps,
# cargo test of the pure core, the release addon, type checks, then Jest.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export CI="${CI:-true}"
START=$SECONDS
STEP="start"

step() {
  STEP="$1"
  printf '\n==> [test] %s\n' "$1"
}

on_exit() {
  local rc=$?
  local took=$((SECONDS - START))
  if [ "$rc" -eq 0 ]; then
    printf '\n[test] SUMMARY: PASS — all steps succeeded in %ss\n' "$took"
  else
    printf '\n[test] SUMMARY: FAIL — step "%s" failed (exit %s) after %ss\n' "$STEP" "$rc" "$took" >&2
  fi
}
trap on_exit EXIT

step "system packages (scripts/setup-system.sh)"
bash scripts/setup-system.sh

step "npm dependencies"
# npm rewrites node_modules/.package-lock.json on every install, so it is the
# stamp to compare the lockfile against.
if [ -f package-lock.json ]; then
  if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] \
     || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  else
    echo "node_modules is up to date with package-lock.json"
  fi
elif [ ! -d node_modules ]; then
  npm install --no-audit --no-fund
else
  echo "node_modules present (no package-lock.json)"
fi

step "cargo test (Rust core, no Node)"
cargo test

step "npm run build (release addon, --features napi)"
npm run build

if [ -f __test__/types/tsconfig.json ]; then
  step "npm run typecheck"
  npm run typecheck
fi

step "jest"
npx jest --ci --runInBand

STEP="done"
