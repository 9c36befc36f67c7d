#!/usr/bin/env bash
# Creates (once) the Python virtualenv the tests and benches use: pykickstart's
# ksvalidator for kickstart files and PyYAML for autoinstall user-data (answer-file
# tests), and QEMU's own QMP library qemu.qmp (the peer of bench/qmp.js). Prints the
# venv's bin directory. Idempotent; INFINIVIRT_PYVENV overrides the location.
set -euo pipefail

VENV="${INFINIVIRT_PYVENV:-/var/cache/infinivirt/pyvenv}"
PACKAGES=(pykickstart PyYAML qemu.qmp)
say() { printf '[python-tools] %s\n' "$*" >&2; }

if [ -x "$VENV/bin/ksvalidator" ] && "$VENV/bin/python" -c 'import yaml, pykickstart, qemu.qmp' >/dev/null 2>&1; then
  echo "$VENV/bin"
  exit 0
fi

PY="$(command -v python3 || true)"
if [ -z "$PY" ]; then
  say "error: python3 is missing (Debian packages python3 python3-venv)"
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  mkdir -p "$(dirname "$VENV")"
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi
say "installing ${PACKAGES[*]} from PyPI"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}" >&2
echo "$VENV/bin"
