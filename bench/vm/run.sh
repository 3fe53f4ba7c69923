#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh — the VM section of the benchmark suite: boots Debian's sched_ext
# kernel under QEMU (TCG, thread=multi for timings) with binder_linux,
# scx_door and door_bench_vm, runs bench/vm/guest-bench.sh as /init and
# writes the guest's JSON results to OUT/vm-<label>-<rep>.json and the
# console to OUT/vm-console.log. A boot that panics is retried (by
# tests/vm/run.sh, whose boot loop this reuses).
#
#   bench/vm/run.sh --build-dir DIR --out OUT [--quick] [--reps N] [--only-mixed]
#
# --only-mixed: just the mixed-workload step (hackbench beside door traffic).
#
# Exit: 0 when the guest completed every run, non-zero otherwise.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$ROOT/build OUT='' MODE=full REPS='' ONLY_MIXED=''
while [[ $# -gt 0 ]]; do
	case $1 in
	--build-dir) BUILD=$2; shift ;;
	--out) OUT=$2; shift ;;
	--quick) MODE=quick ;;
	--reps) REPS=$2; shift ;;
	--only-mixed) ONLY_MIXED=1 ;;
	-h | --help) sed -n '3,16p' "$0"; exit 0 ;;
	*) echo "bench/vm/run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
[[ -n $OUT ]] || { echo "bench/vm/run.sh: --out is required" >&2; exit 2; }
[[ -n $REPS ]] || { [[ $MODE == quick ]] && REPS=1 || REPS=3; }
mkdir -p "$OUT"
for b in scx_door/scx_door bench/door_bench_vm tests/vm/vm_pingpong tests/vm/vm_door_pingpong; do
	[[ -x $BUILD/$b ]] || { echo "bench/vm/run.sh: $BUILD/$b missing (configure with -DDOOR_BUILD_SCX=ON -DDOOR_VM_TESTS=ON)" >&2; exit 2; }
done
KDIR=$("$ROOT/scripts/vm/fetch-kernel.sh" --binder) || { echo "bench/vm/run.sh: kernel/binder fetch failed" >&2; exit 2; }

# The mixed-workload step (an unrelated hackbench beside door traffic)
# needs rt-tests' hackbench; without it the step is left out.
HACKBENCH=$(command -v hackbench || true)
[[ -n $HACKBENCH ]] || echo "bench/vm/run.sh: NOTE hackbench (rt-tests) not installed: no mixed-workload figures"

# Per run under TCG: about 20 s (quick) to 60 s (full) per scheduler.
per_rep=420
[[ $MODE == quick ]] && per_rep=180
timeout=$((120 + REPS * per_rep))
"$ROOT/tests/vm/run.sh" --build-dir "$BUILD" --scx-door "$BUILD/scx_door/scx_door" \
	--pingpong "$BUILD/tests/vm/vm_pingpong" --door-pingpong /nonexistent \
	--init "$HERE/guest-bench.sh" --bin "$BUILD/bench/door_bench_vm" \
	--bin "$BUILD/tests/vm/vm_door_pingpong" ${HACKBENCH:+--bin "$HACKBENCH"} \
	--file "$KDIR/binder_linux.ko:/lib/binder_linux.ko" \
	--append "DOOR_BENCH_REPS=$REPS DOOR_BENCH_MODE=$MODE${ONLY_MIXED:+ DOOR_BENCH_ONLY_MIXED=1}" \
	--tests benchsuite --mttcg --timeout "$timeout" --log "$OUT/vm-console.log" >"$OUT/vm-run.log" 2>&1
rc=$?
grep -E '^run.sh: (kernel|boot|FAIL|NOTE)' "$OUT/vm-run.log"
n=0
while read -r tag name json; do
	[[ $tag == BENCHJSON ]] || continue
	printf '%s\n' "$json" >"$OUT/vm-$name.json"
	n=$((n + 1))
done < <(grep '^BENCHJSON ' "$OUT/vm-console.log" 2>/dev/null)
grep -E '^(BENCHSCX|MIXEDBENCH|VMTEST) ' "$OUT/vm-console.log" 2>/dev/null
echo "bench/vm/run.sh: $n result files in $OUT (exit $rc)"
exit $rc
