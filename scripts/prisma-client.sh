#!/usr/bin/env bash
# Generates the Prisma Client the tests and bench:state use (Prisma 6.16, engineType
# "client" over @prisma/adapter-pg) from __test__/prisma/schema.prisma into
# node_modules/.prisma/client. Skipped when the client was generated from this schema
# after the installed prisma package.
#
# Offline: with engineType "client" no engine binary is needed, but `prisma generate`
# still checks that the schema engine and query engine are present and otherwise
# downloads them from binaries.prisma.sh. Pointing both variables at an existing file
# satisfies that check; neither file is run or loaded by `generate`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCHEMA=__test__/prisma/schema.prisma
OUT=node_modules/.prisma/client/schema.prisma   # written by generate, a copy of SCHEMA

if [ ! -x node_modules/.bin/prisma ]; then
  echo "node_modules/.bin/prisma is missing: run scripts/npm-deps.sh first" >&2
  exit 1
fi

mkdir -p node_modules/.prisma
# One generation at a time (parallel Jest workers may call this together).
exec 9>node_modules/.prisma/.generate.lock
flock 9

if [ -f "$OUT" ] && cmp -s "$SCHEMA" "$OUT" && [ "$OUT" -nt node_modules/prisma/package.json ]; then
  echo "Prisma Client is up to date"
  exit 0
fi

PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-$PWD/$SCHEMA}" \
PRISMA_QUERY_ENGINE_LIBRARY="${PRISMA_QUERY_ENGINE_LIBRARY:-$PWD/$SCHEMA}" \
CHECKPOINT_DISABLE=1 PRISMA_HIDE_UPDATE_MESSAGE=1 PRISMA_GENERATE_NO_HINTS=1 \
  node_modules/.bin/prisma generate --schema "$SCHEMA"
