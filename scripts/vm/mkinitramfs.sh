#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# mkinitramfs.sh — build a tiny initramfs for the sched_ext VM tests.
#
#   mkinitramfs.sh -o OUT.cpio.gz -i INIT [-b BINARY]... [-f SRC:DST]...
#
# Contents: busybox-static (with its applet links), INIT as /init, each
# BINARY in /bin plus every shared library `ldd` lists for it (and the
# dynamic loader), and extra files SRC copied to DST.
set -euo pipefail

die() { echo "mkinitramfs: error: $*" >&2; exit 1; }

out='' init=''
bins=() files=()
while getopts "o:i:b:f:" opt; do
	case $opt in
	o) out=$OPTARG ;;
	i) init=$OPTARG ;;
	b) bins+=("$OPTARG") ;;
	f) files+=("$OPTARG") ;;
	*) die "usage: $0 -o OUT -i INIT [-b BIN]... [-f SRC:DST]..." ;;
	esac
done
[[ -n $out && -n $init ]] || die "usage: $0 -o OUT -i INIT [-b BIN]... [-f SRC:DST]..."
BUSYBOX=${BUSYBOX:-/bin/busybox}
[[ -x $BUSYBOX ]] || die "busybox-static is not installed ($BUSYBOX)"
for t in cpio gzip ldd; do command -v $t >/dev/null || die "missing tool: $t"; done

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root" # mktemp -d is 0700: unprivileged guest users could not traverse /
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib,lib64,usr/lib,usr/bin,usr/sbin}
cp "$BUSYBOX" "$root/bin/busybox"
for a in $("$BUSYBOX" --list); do
	[[ $a == busybox ]] && continue
	ln -sf busybox "$root/bin/$a"
done

copy_lib() {
	local lib=$1
	case $lib in
	/lib/* | /lib64/* | /usr/lib/* | /usr/lib64/*) ;;
	*) # a build-tree library found through RUNPATH: put it on the
	   # loader's default path (the guest mounts tmpfs over /tmp)
	   lib_dst=/usr/lib/$(basename "$lib")
	   cp -L "$lib" "$root$lib_dst"
	   return 0 ;;
	esac
	[[ -e $root$lib ]] && return 0
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
}

for b in "${bins[@]}"; do
	[[ -x $b ]] || die "not an executable: $b"
	cp -L "$b" "$root/bin/$(basename "$b")"
	# "libfoo.so => /path (addr)" and "/lib64/ld-linux-x86-64.so.2 (addr)"
	while read -r lib; do
		[[ -n $lib && -e $lib ]] && copy_lib "$lib"
	done < <(ldd "$b" 2>/dev/null | awk '/=>/ { print $3; next } /^[ \t]*\// { print $1 }')
done
for f in "${files[@]}"; do
	src=${f%%:*} dst=${f#*:}
	mkdir -p "$root$(dirname "$dst")"
	cp -L "$src" "$root$dst"
done
install -m 0755 "$init" "$root/init"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
