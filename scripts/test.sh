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
bash scripts/npm-deps.sh

step "Prisma Client for the tests (scripts/prisma-client.sh)"
bash scripts/prisma-client.sh

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -D warnings (core, then with the napi feature)"
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --features napi -- -D warnings

step "cargo test (Rust core, no Node)"
cargo test

step "npm run build (release addon, --features napi)"
npm run build

if [ -f __test__/types/tsconfig.json ]; then
  step "npm run typecheck"
  npm run typecheck
fi

step "jest"
# package.json's testPathIgnorePatterns leaves out __test__/net/: those suites
# create links and rulesets and run only inside a private network namespace.
npx jest --ci --runInBand

step "jest (network suites in a private network namespace)"
bash scripts/test-net.sh

STEP="done"
