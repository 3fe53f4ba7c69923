#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh — the benchmark suite in one command: set up, build, measure every
# mechanism on the host (door_bench), then door_call with and without
# scx_door next to binder inside the sched_ext VM, and write the report
# (report.md, CSV, JSON, PNG plots) with bench/report.py.
#
#   bench/run.sh [--quick] [--no-vm] [--out DIR] [--build-dir DIR] [--no-setup]
#
#   --quick      fewer repeats and round trips (the same tables; a few minutes)
#   --no-vm      skip the VM section (it needs qemu, the sched_ext kernel
#                download and the scx_door build)
#   --out DIR    report directory (default BUILD/bench-report/<UTC time>-<mode>)
#   --build-dir  build directory (default build-bench; configured here)
#   --no-setup   do not run scripts/setup.sh (packages) first
#
# Exit: 0 when every measurement ran (targets missed are a result, not an
# error), 1 when a mechanism or the VM section failed (the report still
# says what was measured).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
QUICK=0 VM=1 OUT='' BUILD=build-bench SETUP=1
ARGS="$*"
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) QUICK=1 ;;
	--no-vm) VM=0 ;;
	--out) OUT=$2; shift ;;
	--build-dir) BUILD=$2; shift ;;
	--no-setup) SETUP=0 ;;
	-h | --help) sed -n '3,20p' "$0"; exit 0 ;;
	*) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
MODE=$( ((QUICK)) && echo quick || echo full)
OUT=${OUT:-$BUILD/bench-report/$(date -u +%Y%m%dT%H%M%SZ)-$MODE}
T0=$(date +%s)
STEP=0
step() { STEP=$((STEP + 1)); printf '\n[bench/run.sh] %d/5 %s (%ds)\n' "$STEP" "$*" $(($(date +%s) - T0)); }
rc=0

step "set-up"
if ((SETUP)); then bash scripts/setup.sh >"${TMPDIR:-/tmp}/door-bench-setup.log" 2>&1 ||
	{ echo "scripts/setup.sh failed; see ${TMPDIR:-/tmp}/door-bench-setup.log" >&2; exit 1; }; fi
VM_NOTE=''
if ((VM)); then
	for need in qemu-system-x86_64 bpftool clang-19; do
		command -v "$need" >/dev/null || [[ -x /usr/sbin/$need ]] || VM_NOTE="$need is not installed"
	done
	[[ -f scx_door/CMakeLists.txt && -f tests/vm/CMakeLists.txt ]] || VM_NOTE="scx_door or tests/vm missing"
	if [[ -n $VM_NOTE ]]; then echo "VM section skipped: $VM_NOTE"; VM=0; fi
else
	VM_NOTE="skipped with --no-vm"
fi

step "build ($BUILD)"
VMFLAG=$( ((VM)) && echo ON || echo OFF)
mkdir -p "$BUILD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOOR_BUILD_TESTS=OFF -DDOOR_BUILD_EXAMPLES=OFF \
	-DDOOR_BUILD_SCX="$VMFLAG" -DDOOR_VM_TESTS="$VMFLAG" >"$BUILD/bench-configure.log" 2>&1 ||
	{ cat "$BUILD/bench-configure.log"; exit 1; }
grep -E 'door_bench:' "$BUILD/bench-configure.log" || true
TARGETS=(door_bench)
((VM)) && TARGETS+=(door_bench_vm scx_door vm_pingpong vm_door_pingpong)
cmake --build "$BUILD" -j"$(nproc)" --target "${TARGETS[@]}" 2>&1 | grep -E 'error|warning: |Built target' || true
for t in "${TARGETS[@]}"; do
	[[ -n $(find "$BUILD" -type f -name "$t" -perm -u+x) ]] || { echo "build of $t failed" >&2; exit 1; }
done
mkdir -p "$OUT"

step "host: door_bench (progress below; tables in $OUT/host.txt)"
QFLAG=()
((QUICK)) && QFLAG=(--quick --repeats 3)  # three: a median that one disturbed repeat cannot move
"$BUILD/bench/door_bench" "${QFLAG[@]}" --json "$OUT/host.json" >"$OUT/host.txt" || rc=1

step "VM: door_call with/without scx_door and binder (QEMU TCG, thread=multi)"
VMS=()
if ((VM)); then
	bench/vm/run.sh --build-dir "$BUILD" --out "$OUT" $( ((QUICK)) && echo --quick) ||
		{ rc=1; VM_NOTE="the VM section failed; see vm-run.log and vm-console.log"; }
	shopt -s nullglob
	VMS=("$OUT"/vm-default-*.json "$OUT"/vm-scx_door-*.json)
	shopt -u nullglob
else
	echo "skipped: $VM_NOTE"
fi

step "report"
python3 bench/report.py --host "$OUT/host.json" ${VMS[@]:+--vm "${VMS[@]}"} --out "$OUT" \
	--command "bench/run.sh $ARGS" --vm-note "$VM_NOTE" \
	$( ((VM)) && [[ -f $OUT/vm-console.log ]] && echo "--vm-log $OUT/vm-console.log") || rc=1
printf '\n[bench/run.sh] done in %ds: %s/report.md\n' $(($(date +%s) - T0)) "$OUT"
exit $rc
