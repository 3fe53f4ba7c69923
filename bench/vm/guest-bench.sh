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
# followed by "VMTEST benchsuite PASS|FAIL <detail>" and "VMDONE".
# Kernel parameters: DOOR_BENCH_REPS (default 3), DOOR_BENCH_MODE
# (quick|full).
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

r=1
while [ $r -le "$REPS" ]; do
	echo "== repeat $r/$REPS: default scheduler"
	bench default $r
	echo "== repeat $r/$REPS: scx_door"
	if start_scx /tmp/scx-$r.log; then
		bench scx_door $r
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
