#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh — boot the cached sched_ext kernel under qemu (TCG) and run the
# scx_door guest tests (tests/vm/guest-init.sh); with --lts, boot Debian
# 12's Linux 6.1 instead and run libdoor's test suites there
# (tests/vm/guest-suites.sh).
#
#   tests/vm/run.sh [--scx-door PATH] [--pingpong PATH] [--door-pingpong PATH]
#                   [--build-dir DIR] [--tests LIST]
#                   [--timeout SECS] [--retries N] [--mttcg] [--rounds N]
#                   [--bench] [--log FILE] [--scx-args "FLAGS"]
#                   [--init FILE] [--bin PATH]... [--file SRC:DST]... [--append "ARGS"]
#   tests/vm/run.sh --lts --tests SUITES --bin PATH... [--timeout SECS] [--log FILE]
#
# LIST: comma-separated guest tests (see tests/vm/guest-init.sh); default
# all of load,error,stall,handoff,bound,rendezvous,charge,security,partial,affinity,fairness,idle
# plus doorcall,apart,eject,kill when a door_pingpong binary is given or found. --bench runs
# the timing report under MTTCG instead. --init replaces guest-init.sh
# (bench/vm uses it), --bin/--file add programs/files to the initramfs,
# --append adds kernel parameters. --lts: SUITES names the test binaries
# given with --bin (test_call,test_errno,...), each a verdict.
#
# Exit: 0 if every requested test printed PASS (SKIP counts as failure
# unless --allow-skip), 1 on a failed test, 2 on a VM that never completed
# (after retries), 77 if the host lacks qemu (so ctest can skip).
# A boot that panics/oopses or times out is retried (and reported as such).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$ROOT/build
SCX='' PP='' DPP='' TESTS='' TIMEOUT=300 RETRIES=2 ACCEL=single
ROUNDS=2000 LOG='' ALLOW_SKIP=0 SCX_ARGS='' LTS=0 MEM=1G
INIT=$HERE/guest-init.sh EXTRA=() APPEND=''
while [[ $# -gt 0 ]]; do
	case $1 in
	--scx-door) SCX=$2; shift ;;
	--pingpong) PP=$2; shift ;;
	--door-pingpong) DPP=$2; shift ;;
	--build-dir) BUILD=$2; shift ;;
	--tests) TESTS=$2; shift ;;
	--timeout) TIMEOUT=$2; shift ;;
	--retries) RETRIES=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--mttcg) ACCEL=multi ;;
	--lts) LTS=1 ;;
	--bench) TESTS=bench; ACCEL=multi ;;
	--allow-skip) ALLOW_SKIP=1 ;;
	--log) LOG=$2; shift ;;
	--scx-args) SCX_ARGS=$2; shift ;;
	--init) INIT=$2; shift ;;
	--bin) EXTRA+=(-b "$2"); shift ;;
	--file) EXTRA+=(-f "$2"); shift ;;
	--append) APPEND=" $2"; shift ;;
	-h | --help) sed -n '3,25p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

command -v qemu-system-x86_64 >/dev/null || { echo "run.sh: SKIP: qemu-system-x86_64 missing"; exit 77; }
find_bin() { # NAME EXPLICIT
	[[ -n $2 ]] && { echo "$2"; return; }
	find "$BUILD" -type f -name "$1" -perm -u+x 2>/dev/null | head -n1
}
WORK=$(mktemp -d /tmp/scx-vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
if ((LTS)); then
	[[ -n $TESTS ]] || { echo "run.sh: --lts needs --tests SUITES" >&2; exit 2; }
	command -v mke2fs >/dev/null || { echo "run.sh: SKIP: mke2fs missing (e2fsprogs)"; exit 77; }
	KDIR=$("$ROOT/scripts/vm/fetch-kernel.sh" --lts) || { echo "run.sh: kernel fetch failed" >&2; exit 2; }
	[[ $INIT == "$HERE/guest-init.sh" ]] && INIT=$HERE/guest-suites.sh
	# /var/tmp of the guest: ext4 (see guest-suites.sh)
	mke2fs -q -t ext4 "$WORK/var-tmp.ext4" 64M || { echo "run.sh: mke2fs failed" >&2; exit 2; }
	bins=(-f "$WORK/var-tmp.ext4:/var-tmp.ext4" -f "$KDIR/modules/order:/lib/modules/order")
	while read -r m; do bins+=(-f "$KDIR/modules/$m.ko:/lib/modules/$m.ko"); done <"$KDIR/modules/order"
	APPEND+=" DOOR_SUITES=$TESTS"
	MEM=2G # the suites, their fork children and the image, all in RAM
else
	SCX=$(find_bin scx_door "$SCX")
	PP=$(find_bin vm_pingpong "$PP")
	DPP=$(find_bin vm_door_pingpong "$DPP")
	[[ -x $SCX ]] || { echo "run.sh: scx_door binary not found (build with -DDOOR_BUILD_SCX=ON)" >&2; exit 2; }
	[[ -x $PP ]] || { echo "run.sh: pingpong binary not found (build with -DDOOR_VM_TESTS=ON)" >&2; exit 2; }
	if [[ -z $TESTS ]]; then
		TESTS=load,error,stall,handoff,bound,rendezvous,charge,security,partial,affinity,fairness,idle
		[[ -n $DPP && -x $DPP ]] && TESTS+=,doorcall,apart,eject,kill
	fi
	KDIR=$("$ROOT/scripts/vm/fetch-kernel.sh") || { echo "run.sh: kernel fetch failed" >&2; exit 2; }
	# the guest runs them as /bin/scx_door, /bin/vm_pingpong, /bin/vm_door_pingpong
	cp "$PP" "$WORK/vm_pingpong"
	bins=(-b "$SCX" -b "$WORK/vm_pingpong")
	if [[ -n $DPP && -x $DPP ]]; then
		cp "$DPP" "$WORK/vm_door_pingpong"
		# libdoor.so next to it (build tree): ldd resolves it through the RUNPATH
		bins+=(-b "$WORK/vm_door_pingpong")
	fi
fi
"$ROOT/scripts/vm/mkinitramfs.sh" -o "$WORK/initramfs.cpio.gz" -i "$INIT" "${bins[@]}" "${EXTRA[@]}" ||
	{ echo "run.sh: initramfs build failed" >&2; exit 2; }

echo "run.sh: kernel $(cat "$KDIR/release"), accel tcg,thread=$ACCEL, tests $TESTS"
attempt=0 status=2
while ((attempt <= RETRIES)); do
	attempt=$((attempt + 1))
	out=$WORK/console.$attempt.log
	start=$(date +%s)
	timeout --foreground -k 5 "$TIMEOUT" qemu-system-x86_64 \
		-accel tcg,thread=$ACCEL -cpu max -smp 2 -m $MEM -nographic -no-reboot -nic none \
		-kernel "$KDIR/vmlinuz" -initrd "$WORK/initramfs.cpio.gz" \
		-append "console=ttyS0 panic=-1 oops=panic quiet DOOR_TESTS=$TESTS DOOR_ROUNDS=$ROUNDS DOOR_SCX_ARGS=${SCX_ARGS// /,}$APPEND" \
		</dev/null 2>&1 | tr -d '\r' >"$out"
	qrc=${PIPESTATUS[0]}
	secs=$(($(date +%s) - start))
	[[ -n $LOG ]] && cp "$out" "$LOG"
	if grep -q '^VMDONE' "$out"; then
		status=0
		break
	fi
	if ((qrc == 124 || qrc == 137)); then
		why="timed out"
	elif grep -qE 'Kernel panic|Oops|BUG:|general protection' "$out"; then
		why="kernel panic/oops"
	else
		why="exited early (qemu rc $qrc)"
	fi
	echo "run.sh: boot $attempt $why after ${secs}s; console tail:"
	tail -n 25 "$out" | sed 's/^/  | /'
	if ((attempt <= RETRIES)); then echo "run.sh: retrying the boot ($attempt/$RETRIES retries used)"; fi
done
if ((status != 0)); then
	echo "run.sh: FAIL: the VM never completed ($attempt boots)"
	exit 2
fi
echo "run.sh: boot $attempt completed in ${secs}s"
if ((attempt > 1)); then echo "run.sh: NOTE: needed $attempt boots (earlier ones failed, see above)"; fi

# guest output (everything after /init started), tests' verdicts
sed -n '/VMSTART/,/^VMDONE/p' "$out" | grep -vE '^VMDONE'
rc=0
IFS=, read -ra want <<<"$TESTS"
for t in "${want[@]}"; do
	line=$(grep -E "^VMTEST $t " "$out" | tail -n1)
	case $line in
	"VMTEST $t PASS"*) ;;
	"VMTEST $t SKIP"*) ((ALLOW_SKIP)) || rc=1 ;;
	"") echo "run.sh: no verdict for $t"; rc=1 ;;
	*) rc=1 ;;
	esac
done
echo "run.sh: summary:"
grep -E '^VMTEST ' "$out" | sed 's/^/  /'
grep -E '^(scx_door handoff:|door_call scx_door handoff:|BENCH [a-z_]+:)' "$out" | sort -u
exit $rc
