#!/usr/bin/env bash
# The Jest suites of __test__/net/ (links, firewall, NAT), run inside a private
# network namespace made here with `unshare --net`, so nothing they create or
# change can reach the host's own interfaces, addresses or nftables. Every net
# suite also checks that it is in such a namespace before it starts.
#
#   bash scripts/test-net.sh                 # all network suites
#   bash scripts/test-net.sh links           # those whose path matches "links"
#
# Needs root (CAP_SYS_ADMIN for the namespace, CAP_NET_ADMIN inside it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# --roots limits the run to __test__/net; the ignore list drops package.json's
# exclusion of that directory. Extra arguments are Jest path patterns.
exec unshare --net -- bash -c '
  set -euo pipefail
  ip link set lo up
  exec npx jest --ci --runInBand --roots "<rootDir>/__test__/net" --testPathIgnorePatterns "/node_modules/" -- "$@"
' test-net "$@"
