#!/bin/sh
# SPDX-License-Identifier: MIT
#
# guest-suites.sh — /init of the Linux 6.1 VM (busybox sh), booted by
# tests/vm/run.sh --lts: runs libdoor's GoogleTest suites on Debian 12's own
# kernel, the oldest libdoor supports (the host's is newer).
#
# Kernel parameters: DOOR_SUITES (comma-separated /bin/test_* binaries).
# /var/tmp is an ext4 image on a loop device (modules from /lib/modules,
# loaded in the order of /lib/modules/order): fattach(3) keeps its record
# in a user xattr, which tmpfs supports only from Linux 6.6.
# Prints "VMTEST <suite> PASS|FAIL <gtest summary>" per suite and "VMDONE"
# last; run.sh parses the serial console.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# No tmpfs over /tmp: build trees under /tmp put files there (doorstat at
# its build path), and the initramfs root is writable anyway.
mkdir -p /tmp
mkdir -p /dev/shm && mount -t tmpfs shm /dev/shm

echo "VMSTART $(uname -r) cpus=$(nproc)"
for m in $(cat /lib/modules/order); do
	insmod "/lib/modules/$m.ko" || echo "guest-suites: insmod $m failed"
done
mkdir -p /var/tmp
if ! { losetup /dev/loop0 /var-tmp.ext4 && mount -t ext4 /dev/loop0 /var/tmp; }; then
	echo "guest-suites: no ext4 /var/tmp: fattach suites will fail"
fi

# The fault and soak suites at the size the sanitizer stages use.
export DOOR_FAULT_CYCLES=400 DOOR_SOAK_PROCS=8 DOOR_SOAK_CALLS=400
cd /tmp || exit 1
for t in $(echo "$DOOR_SUITES" | tr ',' ' '); do
	start=$(date +%s)
	timeout 600 "/bin/$t" --gtest_brief=1 >"/tmp/$t.log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	summary=$(grep -E '^\[  (PASSED|FAILED|SKIPPED) *\]' "/tmp/$t.log" | tr -s ' ' | tr '\n' ' ')
	if [ $rc -eq 0 ]; then
		echo "VMTEST $t PASS ${secs}s $summary"
	else
		echo "VMTEST $t FAIL rc=$rc ${secs}s $summary"
		grep -E 'Failure|FAILED|Skipped' "/tmp/$t.log" | head -n 20 | sed 's/^/  | /'
		tail -n 15 "/tmp/$t.log" | sed 's/^/  | /'
	fi
done
echo VMDONE
sync
poweroff -f
