#!/usr/bin/env bash
# Install the Debian packages Infinivirt needs at run time and in tests.
# Idempotent: does nothing when everything is already present. Runs without a
# terminal (CI=true, no stdin). QEMU comes from bookworm-backports, because the
# base image's qemu-utils (backports) conflicts with bookworm's qemu-system 7.2.
set -euo pipefail

say() { printf '[setup-system] %s\n' "$*"; }

export DEBIAN_FRONTEND=noninteractive
BACKPORTS_LIST=/etc/apt/sources.list.d/bookworm-backports.list
BACKPORTS_LINE='deb http://deb.debian.org/debian bookworm-backports main'

# Packages that must come from bookworm-backports, and the rest.
backports_pkgs=()
plain_pkgs=()

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  say "qemu-system-x86_64 missing"
  backports_pkgs+=(qemu-system-x86)
fi
if ! dpkg -s qemu-system-modules-spice >/dev/null 2>&1; then
  say "qemu-system-modules-spice missing (needed for -spice)"
  backports_pkgs+=(qemu-system-modules-spice)
fi
if ! command -v qemu-img >/dev/null 2>&1; then
  say "qemu-img missing"
  backports_pkgs+=(qemu-utils)
fi

check_cmd() { # <command> <package>
  if ! command -v "$1" >/dev/null 2>&1; then
    say "$1 missing (package $2)"
    plain_pkgs+=("$2")
  fi
}
check_cmd nft nftables
check_cmd ip iproute2
check_cmd ethtool ethtool
check_cmd busybox busybox-static
check_cmd xorriso xorriso
# Tests of the unattended installer: scripts/python-tools.sh makes a venv (pykickstart,
# PyYAML) with python3 -m venv.
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  say "python3 with venv missing (packages python3 python3-venv)"
  plain_pkgs+=(python3 python3-venv)
fi
# The state tests start a private PostgreSQL (initdb/pg_ctl as the postgres user).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  say "PostgreSQL server binaries (initdb, pg_ctl) missing (package postgresql)"
  plain_pkgs+=(postgresql)
fi
check_cmd setpriv util-linux
# numactl wraps QEMU for NUMA CPU pinning (enableNumaCtlPinning); without it VMs start unpinned.
check_cmd numactl numactl
if [ ! -d /usr/share/OVMF ]; then
  say "/usr/share/OVMF missing (package ovmf)"
  plain_pkgs+=(ovmf)
fi

if [ ${#backports_pkgs[@]} -eq 0 ] && [ ${#plain_pkgs[@]} -eq 0 ]; then
  say "all system packages present; nothing to do"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  say "error: packages are missing (${backports_pkgs[*]} ${plain_pkgs[*]}) and this script is not running as root" >&2
  exit 1
fi

apt_get() { apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null; }

if [ ${#backports_pkgs[@]} -gt 0 ]; then
  if ! grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding bookworm-backports to $BACKPORTS_LIST"
    echo "$BACKPORTS_LINE" >> "$BACKPORTS_LIST"
  fi
fi

say "apt-get update"
apt_get update

if [ ${#backports_pkgs[@]} -gt 0 ]; then
  # qemu-utils is installed alongside so the whole QEMU set stays on one version.
  say "installing from bookworm-backports: ${backports_pkgs[*]} qemu-utils"
  apt_get install --no-install-recommends -t bookworm-backports \
    "${backports_pkgs[@]}" qemu-utils
fi
if [ ${#plain_pkgs[@]} -gt 0 ]; then
  say "installing: ${plain_pkgs[*]}"
  apt_get install --no-install-recommends "${plain_pkgs[@]}"
fi
say "done"
