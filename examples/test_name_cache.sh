#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test_name_cache.sh — drives the ncd cache daemon with its client nc.
#
#   sh test_name_cache.sh NCD NC LIBDOOR [SONAME]
#
# Starts ncd on a fresh file under /var/tmp (user extended attributes are
# needed by fattach), waits for "ncd: ready", and checks through nc:
# put/get/del/stats, a reply too big for nc's buffer (the overflow mapping),
# that another user (nobody, when run as root) may GET and STATS but gets
# "ERR permission" for PUT and DEL, that a daemon killed with SIGKILL leaves
# a path that opens as a plain file and that a new daemon replaces its stale
# attachment, and that SIGTERM makes ncd fdetach and exit 0, after which the
# path opens as the plain file again with its contents intact.
# Exit 0 when every check passed; every ncd started is killed on any exit.
set -u

NCD=$1 NC=$2 LIBDOOR=$3 SONAME=${4:-libdoor.so.1}
fails=0
ncd_pid=
dir=$(mktemp -d /var/tmp/ncd-test.XXXXXX) || exit 1
path=$dir/ns

cleanup() {
	if [ -n "$ncd_pid" ]; then
		kill -KILL "$ncd_pid" 2>/dev/null
		wait "$ncd_pid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# nc with a time limit: a hanging call is a failure, not a hung test.
run_nc() {
	timeout -k 2 10 "$NC" "$@"
}

# check DESCRIPTION EXPECTED_STATUS EXPECTED_OUTPUT COMMAND... (stdout+stderr)
check() {
	desc=$1 want_rc=$2 want_out=$3
	shift 3
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -ne "$want_rc" ] || [ "$out" != "$want_out" ]; then
		fail "$desc: status $rc (want $want_rc), output '$out' (want '$want_out')"
	else
		echo "ok: $desc"
	fi
}

# Starts ncd on $path and waits (10 s at most) for "ncd: ready". Each
# daemon writes a file of its own: the background job's redirection happens
# in the child, so a reused file could still show the previous daemon's line.
ncd_runs=0
start_ncd() {
	ncd_runs=$((ncd_runs + 1))
	ncd_out=$dir/ncd.$ncd_runs.out
	: >"$ncd_out"
	"$NCD" "$path" >"$ncd_out" 2>&1 &
	ncd_pid=$!
	i=0
	while ! grep -q '^ncd: ready$' "$ncd_out"; do
		if ! kill -0 "$ncd_pid" 2>/dev/null || [ $i -ge 100 ]; then
			echo "FAIL: ncd did not become ready:"
			cat "$ncd_out"
			exit 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "ok: ncd (pid $ncd_pid) ready on $path"
}

# Waits (5 s at most) for ncd to exit; sets ncd_status.
wait_ncd() {
	i=0
	while kill -0 "$ncd_pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$ncd_pid" 2>/dev/null; then
		fail "ncd did not exit"
		kill -KILL "$ncd_pid"
	fi
	wait "$ncd_pid"
	ncd_status=$?
	ncd_pid=
}

# The file is world-readable so that another user may open it (and get the door).
chmod 755 "$dir"
echo "plain file contents" >"$path"
chmod 644 "$path"

start_ncd
check "get of a missing key" 1 "ERR not found" run_nc "$path" get color
check "put" 0 "OK" run_nc "$path" put color deep blue
check "get" 0 "deep blue" run_nc "$path" get color
check "put replaces" 0 "OK" run_nc "$path" put color green
check "get the new value" 0 "green" run_nc "$path" get color
check "put another" 0 "OK" run_nc "$path" put shape round
check "del" 0 "OK" run_nc "$path" del shape
check "get after del" 1 "ERR not found" run_nc "$path" get shape
check "del of a missing key" 1 "ERR not found" run_nc "$path" del shape
check "stats" 0 "STATS entries=1 gets=4 hits=2 puts=3 dels=2 denied=0" \
	run_nc "$path" stats
check "usage" 64 "$(printf 'usage: nc PATH get KEY\n       nc PATH put KEY VALUE...\n       nc PATH del KEY\n       nc PATH stats')" \
	run_nc "$path" frob

# A 100000-byte value: its GET reply does not fit nc's 512-byte buffer.
big=$(head -c 100000 /dev/zero | tr '\0' x)
check "put of a 100000-byte value" 0 "OK" run_nc "$path" put big "$big"
got=$(run_nc "$path" get big)
if [ "$got" = "$big" ]; then
	echo "ok: get of a 100000-byte value (overflow reply)"
else
	fail "get of a 100000-byte value returned ${#got} bytes"
fi
check "del of the big value" 0 "OK" run_nc "$path" del big

# Another user: may read, may not write.
if [ "$(id -u)" -eq 0 ]; then
	# nc and libdoor copied where nobody can surely reach them.
	cp "$NC" "$dir/nc" && cp "$LIBDOOR" "$dir/$SONAME" &&
		chmod 755 "$dir/nc" && chmod 644 "$dir/$SONAME" ||
		fail "copying nc for nobody"
	if command -v setpriv >/dev/null 2>&1; then
		as_nobody() {
			LD_LIBRARY_PATH=$dir setpriv --reuid=65534 --regid=65534 \
				--clear-groups "$@"
		}
	else
		as_nobody() {
			cmd=
			for a in "$@"; do cmd="$cmd '$a'"; done
			su nobody -s /bin/sh -c "LD_LIBRARY_PATH='$dir' exec $cmd"
		}
	fi
	nc_nobody() {
		as_nobody timeout -k 2 10 "$dir/nc" "$@"
	}
	check "nobody's id" 0 65534 as_nobody id -u
	check "nobody may get" 0 "green" nc_nobody "$path" get color
	check "nobody may not put" 2 "ERR permission" \
		nc_nobody "$path" put color red
	check "nobody may not del" 2 "ERR permission" \
		nc_nobody "$path" del color
	check "the value nobody tried to change" 0 "green" run_nc "$path" get color
	check "stats count the refusals" 0 \
		"STATS entries=1 gets=7 hits=5 puts=4 dels=3 denied=2" \
		run_nc "$path" stats
	# Without read permission on the file, open() fails: no door either.
	chmod 600 "$path"
	check "nobody cannot open a 0600 path" 3 \
		"nc: $path: Permission denied" \
		nc_nobody "$path" get color
	chmod 644 "$path"
else
	echo "note: not root, the other-user checks are skipped"
fi

# A killed daemon leaves its attachment behind: open() ignores it, and the
# next daemon fdetach()es it before attaching its own door.
kill -KILL "$ncd_pid"
wait_ncd
check "a dead daemon's path is a plain file" 3 \
	"nc: $path: no daemon attached (not a door)" run_nc "$path" stats
start_ncd
check "a new daemon starts empty" 1 "ERR not found" run_nc "$path" get color
check "and serves" 0 "OK" run_nc "$path" put color red

# SIGTERM: ncd fdetach()es, revokes and exits 0.
kill -TERM "$ncd_pid"
wait_ncd
if [ "$ncd_status" -ne 0 ] || ! grep -q '^ncd: SIGTERM, detached ' "$ncd_out"; then
	fail "ncd after SIGTERM: status $ncd_status, output:"
	cat "$ncd_out"
else
	echo "ok: ncd detached and exited 0 on SIGTERM"
fi
check "the path is a plain file again" 3 \
	"nc: $path: no daemon attached (not a door)" run_nc "$path" stats
check "with its contents" 0 "plain file contents" cat "$path"

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
exit 0
