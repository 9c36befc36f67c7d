#!/usr/bin/env bash
# Build the tiny test guest used by the tests that boot a real QEMU:
# Debian's cloud kernel plus a busybox initramfs whose /init is
# scripts/test-guest/init (see scripts/test-guest/README.md).
#
# Usage: scripts/build-test-guest.sh [--force]
#
# The output is cached outside the repository in
#   ${INFINIVIRT_GUEST_DIR:-/var/cache/infinivirt/test-guest}/
#     vmlinuz            the kernel
#     initramfs.cpio.gz  busybox + /init + the needed kernel modules + qemu-ga
#     stamp              kernel and qemu-ga package versions, hashes of the inputs
# A second run with the same inputs only checks the stamp and prints "cached".
# On stdout the script prints two lines, `kernel=<path>` and `initrd=<path>`;
# progress goes to stderr.
#
# The kernel comes from the package behind the metapackage
# linux-image-cloud-amd64 (fetched with `apt-get download`, unpacked with
# `dpkg-deb -x`, never installed). So does QEMU's guest agent (qemu-ga, from
# qemu-guest-agent), with the shared libraries `ldd` finds for it on this host
# and the dynamic loader. Busybox comes from busybox-static. Nothing is fetched
# except through apt.
set -euo pipefail

say() { printf '[build-test-guest] %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }

FORCE=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown argument: $a (usage: $0 [--force])" ;;
  esac
done

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INIT_SRC="$SCRIPT_DIR/test-guest/init"
OUT_DIR=${INFINIVIRT_GUEST_DIR:-/var/cache/infinivirt/test-guest}
META_PKG=linux-image-cloud-amd64

# Root modules the guest needs, with the config symbol that says whether each
# is built in (=y, nothing to copy), a module (=m, copied with its
# dependencies) or missing (error).
#   virtio_pci  the virtio PCI transport (q35 devices are virtio-pci)
#   virtio_net  virtio-net-pci NIC (pulls in net_failover, failover)
#   virtio_blk  the state disk of iv.mode=reboot
#   button      ACPI power button -> input event
#   evdev       /dev/input/event* for acpid
#   virtio_console  virtio-serial ports (the guest agent's org.qemu.guest_agent.0)
#   ext4        the data disk of iv.data= (what the agent's fsfreeze freezes)
#   crc32c_generic  the crc32c ext4 metadata checksums ask the crypto API for
ROOT_MODULES="virtio_pci:CONFIG_VIRTIO_PCI virtio_net:CONFIG_VIRTIO_NET virtio_blk:CONFIG_VIRTIO_BLK button:CONFIG_ACPI_BUTTON evdev:CONFIG_INPUT_EVDEV virtio_console:CONFIG_VIRTIO_CONSOLE ext4:CONFIG_EXT4_FS crc32c_generic:CONFIG_CRYPTO_CRC32C"
QGA_PKG=qemu-guest-agent

[ -f "$INIT_SRC" ] || fail "missing $INIT_SRC"
for c in apt-cache apt-get dpkg-deb dpkg-query sha256sum gzip find flock ldd; do
  command -v "$c" >/dev/null 2>&1 || fail "$c not found"
done

# busybox must be the static one: the initramfs has no libc.
BUSYBOX=
if dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
  BUSYBOX=$(dpkg-query -L busybox-static | grep -E '/bin/busybox$' | head -n1 || true)
fi
[ -n "$BUSYBOX" ] && [ -x "$BUSYBOX" ] ||
  fail "busybox-static is not installed (apt-get install busybox-static, or run scripts/setup-system.sh)"

if command -v cpio >/dev/null 2>&1; then
  CPIO=(cpio)
else
  CPIO=("$BUSYBOX" cpio)
fi

mkdir -p "$OUT_DIR"
# Several test workers may run this at once: one builds, the others wait.
exec 9>"$OUT_DIR/.lock"
flock 9

APT_UPDATED=0
apt_update() {
  [ "$APT_UPDATED" = 1 ] && return 0
  say "apt-get update"
  apt-get -q update </dev/null >&2 || fail "apt-get update failed"
  APT_UPDATED=1
}

# Sets KPKG/KVER to the concrete kernel package behind the metapackage and
# its version. The metapackage's candidate pins it exactly
# ("Depends: linux-image-6.1.0-NN-cloud-amd64 (= 6.1.x-y)"), so one
# apt-cache call is enough (each call takes about a second when apt keeps no
# pkgcache.bin); `apt-cache show` of the package is the fallback.
resolve_kernel() {
  local dep
  dep=$(apt-cache show --no-all-versions "$META_PKG" 2>/dev/null |
    sed -n 's/^Depends: *//p' | head -n1 | tr ',' '\n' |
    grep -E '^ *linux-image-[^ ]*-cloud-amd64( |$)' | head -n1 || true)
  KPKG=$(printf '%s\n' "$dep" | awk '{ print $1 }')
  KVER=$(printf '%s\n' "$dep" | sed -n 's/.*(= *\([^)]*\)).*/\1/p')
  if [ -n "$KPKG" ] && [ -z "$KVER" ]; then
    KVER=$(apt-cache show --no-all-versions "$KPKG" 2>/dev/null | awk '$1 == "Version:" { print $2; exit }')
  fi
  [ -n "$KPKG" ] && [ -n "$KVER" ]
}

# Sets QVER to the candidate version of qemu-guest-agent.
resolve_qga() {
  QVER=$(apt-cache show --no-all-versions "$QGA_PKG" 2>/dev/null | awk '$1 == "Version:" { print $2; exit }')
  [ -n "$QVER" ]
}

KPKG=
KVER=
QVER=
if ! resolve_kernel || ! resolve_qga; then
  apt_update
  resolve_kernel || true
  resolve_qga || true
fi

INIT_HASH=$(sha256sum "$INIT_SRC" | cut -d' ' -f1)
BUILDER_HASH=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
BUSYBOX_HASH=$(sha256sum "$BUSYBOX" | cut -d' ' -f1)
stamp_text() {
  printf 'kernel-package=%s\nkernel-version=%s\nqga-version=%s\ninit-sha256=%s\nbuilder-sha256=%s\nbusybox-sha256=%s\n' \
    "$1" "$2" "$QVER" "$INIT_HASH" "$BUILDER_HASH" "$BUSYBOX_HASH"
}

print_paths() {
  printf 'kernel=%s\ninitrd=%s\n' "$OUT_DIR/vmlinuz" "$OUT_DIR/initramfs.cpio.gz"
}

have_output() { [ -s "$OUT_DIR/vmlinuz" ] && [ -s "$OUT_DIR/initramfs.cpio.gz" ] && [ -f "$OUT_DIR/stamp" ]; }

if [ -z "$KPKG" ] || [ -z "$KVER" ] || [ -z "$QVER" ]; then
  # apt knows no cloud kernel (no network, odd sources): keep a cache built
  # from the same init rather than failing.
  if [ "$FORCE" = 0 ] && have_output &&
     grep -qx "init-sha256=$INIT_HASH" "$OUT_DIR/stamp" &&
     grep -qx "builder-sha256=$BUILDER_HASH" "$OUT_DIR/stamp"; then
    say "warning: cannot resolve $META_PKG through apt; using the cached build"
    say "cached: $OUT_DIR"
    print_paths
    exit 0
  fi
  fail "cannot resolve $META_PKG and $QGA_PKG through apt-cache"
fi

WANT_STAMP=$(stamp_text "$KPKG" "$KVER")
if [ "$FORCE" = 0 ] && have_output && [ "$(cat "$OUT_DIR/stamp")" = "$WANT_STAMP" ]; then
  say "cached: $OUT_DIR ($KPKG $KVER)"
  print_paths
  exit 0
fi

say "building the test guest from $KPKG $KVER"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/iv-test-guest.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# ---- kernel package -------------------------------------------------------
mkdir -p "$TMP/deb"
apt_download() {
  # As root apt drops to the _apt user for downloads, who cannot write into
  # a mktemp directory; download as root instead (an ordinary apt option).
  (cd "$TMP/deb" && apt-get -q -o APT::Sandbox::User=root download "$KPKG=$KVER" "$QGA_PKG=$QVER" </dev/null >&2)
}
if ! apt_download; then
  # Stale package lists (the version was superseded on the mirror): update,
  # resolve again, retry.
  apt_update
  resolve_kernel || fail "cannot resolve $META_PKG through apt-cache"
  resolve_qga || fail "cannot resolve $QGA_PKG through apt-cache"
  WANT_STAMP=$(stamp_text "$KPKG" "$KVER")
  say "retrying with $KPKG $KVER and $QGA_PKG $QVER"
  apt_download || fail "apt-get download $KPKG=$KVER $QGA_PKG=$QVER failed"
fi
DEB=$(find "$TMP/deb" -maxdepth 1 -name 'linux-image-*.deb' | head -n1)
[ -n "$DEB" ] || fail "apt-get download produced no kernel .deb"
QDEB=$(find "$TMP/deb" -maxdepth 1 -name "${QGA_PKG}_*.deb" | head -n1)
[ -n "$QDEB" ] || fail "apt-get download produced no $QGA_PKG .deb"
mkdir -p "$TMP/kernel"
dpkg-deb -x "$DEB" "$TMP/kernel"

KREL_DIR=
for d in "$TMP/kernel/lib/modules"/* "$TMP/kernel/usr/lib/modules"/*; do
  if [ -d "$d/kernel" ]; then KREL_DIR=$d; break; fi
done
[ -n "$KREL_DIR" ] || fail "no lib/modules/<release> in $KPKG"
KREL=$(basename "$KREL_DIR")
VMLINUZ="$TMP/kernel/boot/vmlinuz-$KREL"
KCONFIG="$TMP/kernel/boot/config-$KREL"
[ -f "$VMLINUZ" ] || fail "no boot/vmlinuz-$KREL in $KPKG"
[ -f "$KCONFIG" ] || fail "no boot/config-$KREL in $KPKG"
BUILTIN="$KREL_DIR/modules.builtin"
[ -f "$BUILTIN" ] || : >"$TMP/empty.builtin"
[ -f "$BUILTIN" ] || BUILTIN="$TMP/empty.builtin"
say "kernel release $KREL"

# ---- modules --------------------------------------------------------------
# The package has no modules.dep (depmod runs at install time), so the
# dependencies come from the depends= field of each module's .modinfo.
ROOT="$TMP/root"
mkdir -p "$ROOT"/{bin,dev,proc,sys,tmp,run,etc,root,lib/modules}

declare -A MOD_PATH=()   # name -> path of the (maybe compressed) file
while IFS= read -r f; do
  b=$(basename "$f")
  n=${b%%.ko*}
  MOD_PATH[$n]=$f
  MOD_PATH[${n//-/_}]=$f
done < <(find "$KREL_DIR/kernel" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')

is_builtin() { # <name>
  local n=${1//-/_}
  sed -e 's#.*/##' -e 's#\.ko.*##' -e 's#-#_#g' "$BUILTIN" | grep -qx "$n"
}

# Writes an uncompressed copy of module <name> into the initramfs tree.
copy_module() { # <name>
  local src=${MOD_PATH[$1]} dst="$ROOT/lib/modules/$1.ko"
  case "$src" in
    *.ko) cp "$src" "$dst" ;;
    *.ko.xz) xz -dc "$src" >"$dst" 2>/dev/null || "$BUSYBOX" xzcat "$src" >"$dst" ;;
    *.ko.gz) gzip -dc "$src" >"$dst" ;;
    *.ko.zst) zstd -qdc "$src" >"$dst" ;;
  esac
}

module_deps() { # <name>: its depends= list, space separated
  tr '\0' '\n' <"$ROOT/lib/modules/$1.ko" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '
}

declare -A SEEN=()
ORDER=()
add_module() { # <name>: depth-first, dependencies first
  local n=${1//-/_} d
  [ -n "${SEEN[$n]:-}" ] && return 0
  SEEN[$n]=1
  if is_builtin "$n"; then return 0; fi
  [ -n "${MOD_PATH[$n]:-}" ] || fail "module $n not found in $KPKG"
  copy_module "$n"
  for d in $(module_deps "$n"); do
    add_module "$d"
  done
  ORDER+=("$n")
}

for entry in $ROOT_MODULES; do
  mod=${entry%%:*}
  sym=${entry#*:}
  val=$(sed -n "s/^$sym=//p" "$KCONFIG")
  case "$val" in
    y) say "$mod: built in ($sym=y)" ;;
    m) add_module "$mod" ;;
    *) fail "$sym is not set in $KREL's config: this kernel cannot run the test guest" ;;
  esac
done
printf '%s\n' "${ORDER[@]}" >"$ROOT/lib/modules/load-order"
say "modules: ${ORDER[*]:-(none)}"

# ---- busybox and /init ----------------------------------------------------
cp "$BUSYBOX" "$ROOT/bin/busybox"
chmod 755 "$ROOT/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] && continue
  ln -s busybox "$ROOT/bin/$applet"
done
cp "$INIT_SRC" "$ROOT/init"
chmod 755 "$ROOT/init"

# ---- qemu-ga --------------------------------------------------------------
# The agent is dynamically linked: its libraries (as `ldd` resolves them on
# this host) and the dynamic loader go to the same paths in the initramfs.
mkdir -p "$TMP/qga"
dpkg-deb -x "$QDEB" "$TMP/qga"
QGA_BIN="$TMP/qga/usr/sbin/qemu-ga"
[ -x "$QGA_BIN" ] || fail "no usr/sbin/qemu-ga in $QGA_PKG"
mkdir -p "$ROOT/usr/sbin" "$ROOT/sbin"
cp "$QGA_BIN" "$ROOT/usr/sbin/qemu-ga"
LDD_OUT=$(ldd "$QGA_BIN" 2>&1) || fail "ldd qemu-ga failed: $LDD_OUT"
if printf '%s\n' "$LDD_OUT" | grep -q 'not found'; then
  fail "qemu-ga needs libraries this host lacks (install them with apt-get):
$(printf '%s\n' "$LDD_OUT" | grep 'not found')"
fi
for lib in $(printf '%s\n' "$LDD_OUT" | sed -n -e 's/.*=> \(\/[^ ]*\) (.*/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
# guest-shutdown runs /sbin/shutdown, which busybox lacks: a small stand-in.
cat >"$ROOT/sbin/shutdown" <<'EOF'
#!/bin/sh
# Called by qemu-ga for guest-shutdown: -P powerdown, -H halt, -r reboot.
what=poweroff
for a in "$@"; do
	case "$a" in
		-r) what=reboot ;;
	esac
done
echo "IV-AGENT-SHUTDOWN $what" >/dev/console
(sleep 0.2; sync; "/bin/$what" -f) </dev/null >/dev/null 2>&1 &
exit 0
EOF
chmod 755 "$ROOT/sbin/shutdown"
# guest-set-user-password runs `chpasswd [-e]` (found in PATH) with "user:password"
# on stdin; busybox has no chpasswd applet: a stand-in that hashes with busybox
# mkpasswd (SHA-512) and rewrites the user's /etc/shadow entry.
cat >"$ROOT/usr/sbin/chpasswd" <<'EOF'
#!/bin/sh
# Stand-in for chpasswd (the test guest's busybox has none): one "user:password"
# line on stdin; -e: the password is already a crypt(3) hash.
enc=
[ "$1" = -e ] && enc=1
IFS= read -r line || exit 1
user=${line%%:*}
pw=${line#*:}
[ -n "$user" ] && grep -q "^$user:" /etc/shadow || exit 1
if [ -z "$enc" ]; then
	pw=$(printf '%s\n' "$pw" | mkpasswd -m sha512 -P 0) || exit 1
fi
awk -F: -v u="$user" -v h="$pw" 'BEGIN { OFS = ":" } $1 == u { $2 = h } { print }' /etc/shadow >/etc/shadow.new &&
	mv /etc/shadow.new /etc/shadow
EOF
chmod 755 "$ROOT/usr/sbin/chpasswd"
# Users for it: root and iv (no password yet).
printf 'root:x:0:0:root:/root:/bin/sh\niv:x:1000:1000:iv:/tmp:/bin/sh\n' >"$ROOT/etc/passwd"
printf 'root:*:19000:0:99999:7:::\niv:!:19000:0:99999:7:::\n' >"$ROOT/etc/shadow"
printf 'root:x:0:\niv:x:1000:\n' >"$ROOT/etc/group"
chmod 600 "$ROOT/etc/shadow"
say "qemu-ga $QVER with $(printf '%s\n' "$LDD_OUT" | grep -c '/') libraries"

# ---- pack -----------------------------------------------------------------
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort |
  "${CPIO[@]}" -o -H newc -R 0:0 2>"$TMP/cpio.log") | gzip -9 -n >"$TMP/initramfs.cpio.gz" ||
  { cat "$TMP/cpio.log" >&2; fail "cpio failed"; }
cp "$VMLINUZ" "$TMP/vmlinuz"

# Replace the outputs, stamp last, so a half-written build is never "cached".
rm -f "$OUT_DIR/stamp"
mv -f "$TMP/vmlinuz" "$OUT_DIR/vmlinuz"
mv -f "$TMP/initramfs.cpio.gz" "$OUT_DIR/initramfs.cpio.gz"
printf '%s\n' "$WANT_STAMP" >"$OUT_DIR/stamp.new"
mv -f "$OUT_DIR/stamp.new" "$OUT_DIR/stamp"
say "built: $OUT_DIR (vmlinuz $(stat -c %s "$OUT_DIR/vmlinuz") bytes, initramfs $(stat -c %s "$OUT_DIR/initramfs.cpio.gz") bytes)"
print_paths
