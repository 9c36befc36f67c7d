#!/usr/bin/env bash
# Creates (once) the Python virtualenv the answer-file tests use: pykickstart's
# ksvalidator for kickstart files and PyYAML for autoinstall user-data. Prints the
# venv's bin directory. Idempotent; INFINIVIRT_PYVENV overrides the location.
set -euo pipefail

VENV="${INFINIVIRT_PYVENV:-/var/cache/infinivirt/pyvenv}"
say() { printf '[python-tools] %s\n' "$*" >&2; }

if [ -x "$VENV/bin/ksvalidator" ] && "$VENV/bin/python" -c 'import yaml, pykickstart' >/dev/null 2>&1; then
  echo "$VENV/bin"
  exit 0
fi

PY="$(command -v python3 || true)"
if [ -z "$PY" ]; then
  say "error: python3 is missing (Debian packages python3 python3-venv)"
  exit 1
fi
mkdir -p "$(dirname "$VENV")"
say "creating $VENV"
"$PY" -m venv "$VENV"
say "installing pykickstart and PyYAML from PyPI"
"$VENV/bin/pip" install --quiet --disable-pip-version-check pykickstart PyYAML >&2
echo "$VENV/bin"
