#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# fetch-kernel.sh — fetch and cache a sched_ext-capable kernel for the VM tests.
#
# Downloads Debian trixie-backports' linux-binary + linux-base packages (pinned
# version first, newest with CONFIG_SCHED_CLASS_EXT=y as a fallback) through a
# private apt configuration, so the host never sees (or upgrades from) the
# trixie-backports suite. Extracts vmlinuz, the kernel config, the vmlinux ELF
# with .BTF, and generates vmlinux.h with bpftool.
#
# Cache layout ($DOOR_VM_CACHE, default $HOME/.cache/linux-doors/vm):
#   debs/*.deb            downloaded packages
#   kernel/vmlinuz        bootable kernel           (symlink-free copies)
#   kernel/config         its config
#   kernel/vmlinux        decompressed ELF with .BTF
#   kernel/vmlinux.h      bpftool btf dump ... format c
#   kernel/release        "7.3.4+deb13-amd64"
#
# Prints the kernel directory on stdout. Idempotent: a complete cache returns
# at once without touching the network.
#
# --binder: also provide kernel/binder_linux.ko (for the benchmark suite's
# binder mechanism): downloads linux-modules-<release> (~107 MB, cached in
# debs/) once and extracts only that module, decompressed.
#
# --lts: instead, Debian 12's own kernel (bookworm's linux-image-amd64,
# Linux 6.1, the oldest libdoor supports), for running libdoor's suites on
# it: kernel-lts/vmlinuz, kernel-lts/release and, in kernel-lts/modules/,
# what mounting an ext4 image on a loop device needs (modular there), and
# unix_diag for doorstat.
#
# Env: DOOR_VM_CACHE, DOOR_KERNEL_VERSION (default 7.3.4+deb13-amd64),
#      DOOR_KERNEL_MIRROR (default http://deb.debian.org/debian), BPFTOOL.
set -euo pipefail

CACHE=${DOOR_VM_CACHE:-$HOME/.cache/linux-doors/vm}
KVER=${DOOR_KERNEL_VERSION:-7.3.4+deb13-amd64}
MIRROR=${DOOR_KERNEL_MIRROR:-http://deb.debian.org/debian}
BPFTOOL=${BPFTOOL:-$(command -v bpftool || echo /usr/sbin/bpftool)}
KDIR=$CACHE/kernel
WANT_BINDER=0 LTS=0 SUITE=trixie-backports
[[ ${1:-} == --binder ]] && WANT_BINDER=1
if [[ ${1:-} == --lts ]]; then
	LTS=1 SUITE=bookworm KDIR=$CACHE/kernel-lts
	# insmod order: dependencies first. unix_diag: doorstat's sock_diag
	# queries (a stock system loads it on demand; the guest has no modprobe).
	LTS_MODULES=(lib/crc16 fs/mbcache fs/jbd2/jbd2 crypto/crc32c_generic fs/ext4/ext4 drivers/block/loop
		net/unix/unix_diag)
fi

log() { echo "fetch-kernel: $*" >&2; }
die() { echo "fetch-kernel: error: $*" >&2; exit 1; }

lts_cached() {
	local m
	[[ -s $KDIR/vmlinuz && -s $KDIR/release ]] || return 1
	for m in "${LTS_MODULES[@]}"; do [[ -s $KDIR/modules/${m##*/}.ko ]] || return 1; done
}
if ((LTS)) && lts_cached; then
	echo "$KDIR"
	exit 0
fi
if ((!LTS)) && [[ -s $KDIR/vmlinuz && -s $KDIR/vmlinux.h && -s $KDIR/release ]] &&
	{ ((!WANT_BINDER)) || [[ -s $KDIR/binder_linux.ko ]]; }; then
	echo "$KDIR"
	exit 0
fi

for t in apt-get dpkg-deb zstd; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done
[[ -x $BPFTOOL ]] || die "missing bpftool (install bpftool from bookworm-backports)"

mkdir -p "$CACHE/debs" "$CACHE/apt/lists/partial" "$CACHE/apt/archives/partial" "$KDIR"

# A private apt world: its own sources, lists and cache; nothing of the host's.
APTDIR=$CACHE/apt
((LTS)) && APTDIR=$CACHE/apt-lts
mkdir -p "$APTDIR/lists/partial"
cat >"$APTDIR/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main
SRC
APT_OPTS=(
	-o "Dir::Etc::sourcelist=$APTDIR/sources.list"
	-o "Dir::Etc::sourceparts=$APTDIR/empty"
	-o "Dir::Etc::preferences=/dev/null"
	-o "Dir::Etc::preferencesparts=$APTDIR/empty"
	-o "APT::Sandbox::User=root"
	-o "Dir::State::lists=$APTDIR/lists"
	-o "Dir::Cache=$APTDIR/cache"
	-o "Dir::State::status=/dev/null"
	-o "APT::Get::List-Cleanup=0"
	-o "Debug::NoLocking=1"
	-o "Acquire::Languages=none"
)
mkdir -p "$APTDIR/cache" "$APTDIR/empty"

# (called from command substitutions too: a stamp file, not a variable)
apt_update() {
	[[ -e $APTDIR/updated.$$ ]] && return 0
	log "updating private $SUITE index"
	apt-get "${APT_OPTS[@]}" -qq update >&2 || die "apt-get update ($SUITE) failed"
	rm -f "$APTDIR"/updated.*; touch "$APTDIR/updated.$$"
}

# download PKG into debs/ unless a matching file is cached; prints the path
download() {
	local pkg=$1 f
	f=$(ls "$CACHE/debs/${pkg}_"*.deb 2>/dev/null | head -n1 || true)
	if [[ -n $f ]]; then echo "$f"; return 0; fi
	apt_update
	(cd "$CACHE/debs" && apt-get "${APT_OPTS[@]}" -qq download "$pkg" >&2) || return 1
	ls "$CACHE/debs/${pkg}_"*.deb | head -n1
}

extract_kernel() {
	local ver=$1 bin base root
	bin=$(download "linux-binary-$ver") || return 1
	base=$(download "linux-base-$ver") || return 1
	root=$CACHE/root-$ver
	rm -rf "$root"; mkdir -p "$root"
	dpkg-deb -x "$bin" "$root"
	dpkg-deb -x "$base" "$root"
	local vmlinuz config
	vmlinuz=$(find "$root" -name vmlinuz -o -name "vmlinuz-$ver" | head -n1)
	config=$(find "$root" \( -name config -o -name "config-$ver" \) -path "*$ver*" | head -n1)
	[[ -n $vmlinuz ]] || { log "no vmlinuz in linux-binary-$ver"; return 1; }
	if [[ -z $config ]] || ! grep -q '^CONFIG_SCHED_CLASS_EXT=y' "$config"; then
		log "linux-binary-$ver lacks CONFIG_SCHED_CLASS_EXT=y"
		return 1
	fi
	cp "$vmlinuz" "$KDIR/vmlinuz.tmp" && mv "$KDIR/vmlinuz.tmp" "$KDIR/vmlinuz"
	cp "$config" "$KDIR/config"
	echo "$ver" >"$KDIR/release.tmp"
	rm -rf "$root"
}

# binder_linux.ko of the cached kernel, from its linux-modules package
fetch_binder() {
	local ver deb tmp ko
	ver=$(cat "$KDIR/release")
	deb=$(download "linux-modules-$ver") || die "cannot download linux-modules-$ver"
	tmp=$(mktemp -d)
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards '*/binder_linux.ko*' ||
		{ rm -rf "$tmp"; die "no binder_linux.ko in $deb"; }
	ko=$(find "$tmp" -name 'binder_linux.ko*' | head -n1)
	case $ko in
	*.xz) xz -dc "$ko" >"$KDIR/binder_linux.ko.tmp" ;;
	*.zst) zstd -dcq "$ko" >"$KDIR/binder_linux.ko.tmp" ;;
	*) cp "$ko" "$KDIR/binder_linux.ko.tmp" ;;
	esac
	rm -rf "$tmp"
	mv "$KDIR/binder_linux.ko.tmp" "$KDIR/binder_linux.ko"
	log "cached binder_linux.ko for $ver"
}
# Debian 12's kernel: the image linux-image-amd64 points to, and its modules
fetch_lts() {
	local pkg deb root rel m
	apt_update
	pkg=$(apt-cache "${APT_OPTS[@]}" depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
	[[ -n $pkg ]] || die "linux-image-amd64 in $SUITE names no kernel"
	deb=$(download "$pkg") || die "cannot download $pkg"
	root=$(mktemp -d)
	dpkg-deb -x "$deb" "$root"
	rel=${pkg#linux-image-}
	[[ -s $root/boot/vmlinuz-$rel ]] || { rm -rf "$root"; die "no vmlinuz-$rel in $deb"; }
	mkdir -p "$KDIR/modules"
	for m in "${LTS_MODULES[@]}"; do
		[[ -s $root/lib/modules/$rel/kernel/$m.ko ]] || { rm -rf "$root"; die "no $m.ko in $deb"; }
		cp "$root/lib/modules/$rel/kernel/$m.ko" "$KDIR/modules/"
	done
	printf '%s\n' "${LTS_MODULES[@]##*/}" >"$KDIR/modules/order"
	cp "$root/boot/vmlinuz-$rel" "$KDIR/vmlinuz"
	echo "$rel" >"$KDIR/release"
	rm -rf "$root"
	log "cached $rel in $KDIR"
	echo "$KDIR"
}
if ((LTS)); then
	fetch_lts
	exit 0
fi

if [[ -s $KDIR/vmlinuz && -s $KDIR/vmlinux.h && -s $KDIR/release ]]; then
	fetch_binder # only the module was missing
	echo "$KDIR"
	exit 0
fi

if ! extract_kernel "$KVER"; then
	log "pinned $KVER unavailable; looking for the newest sched_ext kernel in trixie-backports"
	apt_update
	# the generic amd64 flavour first (newest first), then cloud/rt ones
	mapfile -t all < <(apt-cache "${APT_OPTS[@]}" pkgnames linux-binary- 2>/dev/null |
		grep -E '^linux-binary-[0-9].*-amd64$' | sed 's/^linux-binary-//' | sort -rV)
	cands=()
	for v in "${all[@]}"; do [[ $v =~ ^[0-9.]+\+deb[0-9]+-amd64$ ]] && cands+=("$v"); done
	for v in "${all[@]}"; do [[ $v =~ ^[0-9.]+\+deb[0-9]+-amd64$ ]] || cands+=("$v"); done
	ok=0
	for v in "${cands[@]}"; do
		[[ $v == "$KVER" ]] && continue
		if extract_kernel "$v"; then KVER=$v; ok=1; break; fi
	done
	((ok)) || die "no linux-binary-* with CONFIG_SCHED_CLASS_EXT=y in trixie-backports"
fi

# vmlinux with .BTF: the bzImage payload is zstd; decompress from the first
# zstd frame magic (28 b5 2f fd). zstd exits 1 on the trailing bytes but the
# ELF it wrote is complete.
off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$KDIR/vmlinuz" | head -n1 | cut -d: -f1)
[[ -n $off ]] || die "no zstd payload in vmlinuz"
tail -c +$((off + 1)) "$KDIR/vmlinuz" | zstd -dc -q 2>/dev/null >"$KDIR/vmlinux.tmp" || true
[[ $(head -c4 "$KDIR/vmlinux.tmp" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] ||
	die "decompressed payload is not an ELF"
mv "$KDIR/vmlinux.tmp" "$KDIR/vmlinux"
"$BPFTOOL" btf dump file "$KDIR/vmlinux" format c >"$KDIR/vmlinux.h.tmp" ||
	die "bpftool btf dump failed"
mv "$KDIR/vmlinux.h.tmp" "$KDIR/vmlinux.h"
mv "$KDIR/release.tmp" "$KDIR/release"
log "cached $KVER in $KDIR"
if ((WANT_BINDER)); then fetch_binder; fi
echo "$KDIR"
