#!/bin/sh
# SPDX-License-Identifier: MIT
#
# guest-bench.sh — /init of the benchmark VM (busybox sh), booted by
# bench/vm/run.sh through tests/vm/run.sh --init.
#
# Loads binder_linux (/dev/binder), then runs door_bench_vm (door_call,
# binder, futex, pipe; unpinned; latency and a 1..8-caller throughput
# sweep) DOOR_BENCH_REPS times, each time first
# under the default scheduler and then with scx_door loaded, in this one
# boot: the two schedulers alternate, so both see the same emulator state.
# Every run's JSON is printed on the console as one line
#   BENCHJSON <label>-<rep> {...}
# and, after each run, a mixed-workload line (hackbench beside door
# traffic, see mixed() below) as
#   MIXEDBENCH <label> <rep> field=value...
# followed by "VMTEST benchsuite PASS|FAIL <detail>" and "VMDONE".
# Kernel parameters: DOOR_BENCH_REPS (default 3), DOOR_BENCH_MODE
# (quick|full), DOOR_BENCH_ONLY_MIXED (set: only the mixed-workload step),
# DOOR_HACKBENCH_LOOPS (default 200).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t bpf bpf /sys/fs/bpf
mount -t tmpfs tmp /run
mount -t tmpfs tmp /tmp

REPS=${DOOR_BENCH_REPS:-3}
SCX_PID=
fail=

echo "VMSTART $(uname -r) cpus=$(nproc)"
echo "VMRUN benchsuite"

# binder_linux has no dependencies; it creates /dev/binder.
if [ -f /lib/binder_linux.ko ]; then
	insmod /lib/binder_linux.ko devices=binder || echo "insmod binder_linux failed"
fi
i=0
while [ ! -c /dev/binder ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
[ -c /dev/binder ] || fail="$fail no-/dev/binder"

# start_scx LOG: scx_door with stats, up to 20 s to attach (as guest-init.sh)
start_scx() {
	scx_door --timeout-ms 30000 --stats 1 >"$1" 2>&1 &
	SCX_PID=$!
	i=0
	while [ $i -lt 200 ]; do
		[ "$(cat /sys/kernel/sched_ext/state 2>/dev/null)" = enabled ] && [ -S /run/scx_door.sock ] && return 0
		kill -0 $SCX_PID 2>/dev/null || break
		sleep 0.1; i=$((i + 1))
	done
	cat "$1"
	return 1
}
stop_scx() {
	kill -INT $SCX_PID 2>/dev/null
	wait $SCX_PID
	SCX_PID=
	i=0
	while [ "$(cat /sys/kernel/sched_ext/state 2>/dev/null)" != disabled ] && [ $i -lt 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
}

if [ "${DOOR_BENCH_MODE:-full}" = quick ]; then
	ARGS="--iters 1000 --min-iters 50 --warmup 50 --cell-ms 150 --conc-ms 300"
else
	ARGS="--iters 3000 --min-iters 100 --warmup 100 --cell-ms 400 --conc-ms 800"
fi
# The throughput sweep runs 1..4x the vCPUs in callers: from 2 callers on,
# every CPU is busy (saturation), where the handoff must not cost calls/s.
COMMON="--repeats 1 --placement unpinned --only door_call,binder,futex,pipe
        --payloads 8,4096,65536,1048576 --callers 1,2,4,8 --conc-payload 8 --cell-timeout 120"

# bench LABEL REP: one door_bench_vm run, its JSON on one console line
bench() {
	# shellcheck disable=SC2086 # word splitting wanted
	door_bench_vm $COMMON $ARGS --label "$1" --json "/tmp/$1-$2.json" 2>&1 || fail="$fail $1-$2"
	if [ -s "/tmp/$1-$2.json" ]; then
		printf 'BENCHJSON %s-%s ' "$1" "$2"
		tr -d '\n' <"/tmp/$1-$2.json"
		echo
	fi
}

# hackbench_s: one hackbench run (message passing between process groups
# over pipes, rt-tests), its time in seconds; empty if it failed
HACKBENCH="hackbench --pipe --groups 2 --loops ${DOOR_HACKBENCH_LOOPS:-200}"
hackbench_s() {
	# shellcheck disable=SC2086 # word splitting wanted
	$HACKBENCH 2>/dev/null | sed -n 's/^Time: *//p'
}

# switches: context switches so far, all CPUs
switches() { awk '$1 == "ctxt" { print $2 }' /proc/stat; }
# ipis: rescheduling and function-call IPIs so far, all CPUs
ipis() { awk '$1 == "RES:" || $1 == "CAL:" { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }' /proc/interrupts; }

# mixed LABEL REP: an unrelated workload beside door traffic. hackbench
# alone (and the IPIs and context switches during it), then beside two
# libdoor ping-pong pairs (client and server processes, back to back) that
# run until it is done (SIGUSR1 ends them). One line:
#   MIXEDBENCH LABEL REP hackbench_s=A hackbench_ipis=I hackbench_switches=S
#              hackbench_doors_s=B door_rps=R
mixed() {
	command -v hackbench >/dev/null && command -v vm_door_pingpong >/dev/null || return 0
	i0=$(ipis) c0=$(switches)
	alone=$(hackbench_s)
	hb_ipis=$(($(ipis) - i0)) hb_cs=$(($(switches) - c0))
	vm_door_pingpong --rounds 100000000 --max-seconds 600 --label "$1-mix-a" >/tmp/mix-a.out 2>&1 &
	pa=$!
	vm_door_pingpong --rounds 100000000 --max-seconds 600 --label "$1-mix-b" >/tmp/mix-b.out 2>&1 &
	pb=$!
	sleep 1
	beside=$(hackbench_s)
	kill -USR1 $pa $pb
	wait $pa || { fail="$fail mixed-pair-$1-$2"; cat /tmp/mix-a.out; }
	wait $pb || { fail="$fail mixed-pair-$1-$2"; cat /tmp/mix-b.out; }
	rps=$(cat /tmp/mix-a.out /tmp/mix-b.out | sed -n 's/.* rps=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	[ -n "$alone" ] && [ -n "$beside" ] || fail="$fail hackbench-$1-$2"
	echo "MIXEDBENCH $1 $2 hackbench_s=${alone:-nan} hackbench_ipis=$hb_ipis hackbench_switches=$hb_cs hackbench_doors_s=${beside:-nan} door_rps=$rps"
}

r=1
while [ $r -le "$REPS" ]; do
	echo "== repeat $r/$REPS: default scheduler"
	[ -n "${DOOR_BENCH_ONLY_MIXED:-}" ] || bench default $r
	mixed default $r
	echo "== repeat $r/$REPS: scx_door"
	if start_scx /tmp/scx-$r.log; then
		[ -n "${DOOR_BENCH_ONLY_MIXED:-}" ] || bench scx_door $r
		mixed scx_door $r
		stop_scx
		echo "BENCHSCX $r $(grep '^\[scx_door\]' /tmp/scx-$r.log | tail -n1)"
		grep '^EXIT' /tmp/scx-$r.log
	else
		fail="$fail scx_door-did-not-attach-$r"
	fi
	r=$((r + 1))
done

if [ -z "$fail" ]; then
	echo "VMTEST benchsuite PASS reps=$REPS"
else
	echo "VMTEST benchsuite FAIL$fail"
fi
echo VMDONE
sync
poweroff -f
