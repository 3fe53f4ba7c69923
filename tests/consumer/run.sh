#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run.sh BUILD_DIR [CC] [CXX] [SANITIZE] — installs the build into a staging
# prefix (cmake --install BUILD_DIR --prefix STAGE), checks what was
# installed, then builds a C consumer (<door.h>) and a C++ consumer
# (<door/door.hpp>) twice — with `pkg-config --cflags --libs door` and with
# find_package(door CONFIG REQUIRED) + door::door — and runs all four, which
# create a door and call it. Exits non-zero on any failure.
set -euo pipefail

BUILD=$(cd "${1:?usage: run.sh BUILD_DIR [CC] [CXX] [SANITIZE]}" && pwd)
CC=${2:-cc}
CXX=${3:-c++}
SANITIZE=${4:-}
SRC=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/door-consumer.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/stage
SANFLAGS=()
[ -n "$SANITIZE" ] && SANFLAGS=(-fsanitize="$SANITIZE")

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

step "install into $STAGE"
cmake --install "$BUILD" --prefix "$STAGE" > "$WORK/install.log" || { cat "$WORK/install.log"; fail "cmake --install"; }

step "installed layout"
lib=$(find "$STAGE" -name 'libdoor.so.1' | head -n1)
[ -n "$lib" ] || fail "libdoor.so.1 not installed"
libdir=$(dirname "$lib")
[ -e "$libdir/libdoor.so" ] || fail "libdoor.so (development link) not installed"
[ "$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')" = libdoor.so.1 ] || fail "SONAME is not libdoor.so.1"
for h in door.h ucred.h stropts.h door/door.hpp door/error.hpp door/descriptor.hpp door/reply.hpp \
         door/request.hpp door/credentials.hpp; do
  [ -f "$STAGE/include/$h" ] || fail "header $h not installed"
done
extra=$(cd "$STAGE/include" && find . -type f ! -name door.h ! -name ucred.h ! -name stropts.h ! -name door_async.h \
        ! -path './door/*.hpp')
[ -z "$extra" ] || fail "unexpected files in include/: $extra"
pc=$(find "$STAGE" -name door.pc | head -n1)
[ -n "$pc" ] || fail "door.pc not installed"
cfg=$(find "$STAGE" -name doorConfig.cmake | head -n1)
[ -n "$cfg" ] || fail "doorConfig.cmake not installed"
[ -f "$(dirname "$cfg")/doorConfigVersion.cmake" ] || fail "doorConfigVersion.cmake not installed"
[ -f "$STAGE/share/man/man3/door_call.3" ] || fail "man pages not installed"
[ -f "$STAGE/share/man/man7/doors.7" ] || fail "doors(7) not installed"
[ -f "$STAGE/share/man/man3/ucred_get.3" ] || fail "ucred_get(3) not installed"
# With the scheduler built: its man page and the sched_ext-conditioned unit.
if [ -x "$STAGE/sbin/scx_door" ]; then
  [ -f "$STAGE/share/man/man8/scx_door.8" ] || fail "scx_door(8) not installed"
  unit="$STAGE/lib/systemd/system/scx_door.service"
  [ -f "$unit" ] || fail "scx_door.service not installed"
  grep -q '^ConditionPathIsDirectory=/sys/kernel/sched_ext$' "$unit" || fail "scx_door.service not conditioned on sched_ext"
  # ExecStart names the configured prefix (the staging prefix is install-time only).
  grep -q '^ExecStart=/.*/sbin/scx_door$' "$unit" || fail "scx_door.service ExecStart does not name scx_door"
fi
# The C++ API is header-only: libdoor exports no C++ symbol.
cxxsyms=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep '^_Z' || true)
[ -z "$cxxsyms" ] || fail "libdoor exports C++ symbols: $cxxsyms"
# Besides door_* and ucred_*: fattach/fdetach, and the libc functions libdoor
# interposes, unversioned so that every library's calls reach them
# (userspace/libdoor.map).
others=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v -E '^(door_|ucred_|LIBDOOR_)' | sort | tr '\n' ' ')
expected=$(printf '%s\n' fattach@@LIBDOOR_1.0 fdetach@@LIBDOOR_1.0 close dup2 dup3 close_range closefrom \
           open open64 openat openat64 __open_2 __open64_2 \
           sigaction signal sigset bsd_signal sysv_signal siginterrupt | sort | tr '\n' ' ')
[ "$others" = "$expected" ] || fail "libdoor exports [$others], expected [$expected]"

step "pkg-config"
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags --libs door)
echo "pkg-config --cflags --libs door: $flags"
pclibdir=$(pkg-config --variable=libdir door)
[ "$(cd "$pclibdir" && pwd -P)" = "$(cd "$libdir" && pwd -P)" ] || fail "door.pc libdir $pclibdir is not $libdir"
# shellcheck disable=SC2086
"$CC" -std=c11 -Wall -Wextra -Werror "${SANFLAGS[@]}" "$SRC/consumer.c" -o "$WORK/pc_c" $flags -Wl,-rpath,"$pclibdir"
# shellcheck disable=SC2086
"$CXX" -std=c++20 -Wall -Wextra -Wpedantic -Werror "${SANFLAGS[@]}" "$SRC/consumer.cpp" -o "$WORK/pc_cxx" $flags \
  -Wl,-rpath,"$pclibdir"

step "illumos-style examples against the installed library"
# The examples/ programs are plain illumos C: they must build from the
# installed headers and library alone, and fdpass and sessions must run.
EXAMPLES="$SRC/../../examples"
for ex in ncd nc fdpass sessions; do
  # shellcheck disable=SC2086
  "$CC" -std=c11 -D_GNU_SOURCE -Wall -Wextra "${SANFLAGS[@]}" "$EXAMPLES/$ex.c" -o "$WORK/ex_$ex" $flags \
    -lpthread -Wl,-rpath,"$pclibdir" || fail "example $ex does not build against the installed library"
done

step "find_package(door)"
cmake -S "$SRC" -B "$WORK/cmake-build" -DCMAKE_PREFIX_PATH="$STAGE" -DCMAKE_C_COMPILER="$CC" \
  -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror ${SANFLAGS[*]}" \
  -DCMAKE_CXX_FLAGS="-Wall -Wextra -Wpedantic -Werror ${SANFLAGS[*]}" > "$WORK/cmake.log" 2>&1 \
  || { cat "$WORK/cmake.log"; fail "configuring the find_package consumer"; }
cmake --build "$WORK/cmake-build" -j2 > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; fail "building it"; }

step "run"
for exe in "$WORK/pc_c" "$WORK/pc_cxx" "$WORK/cmake-build/consumer_c" "$WORK/cmake-build/consumer_cxx" \
           "$WORK/ex_fdpass" "$WORK/ex_sessions"; do
  resolved=$(ldd "$exe" | awk '/libdoor\.so\.1/ {print $3}')
  [ "$(cd "$(dirname "$resolved")" && pwd -P)" = "$(cd "$libdir" && pwd -P)" ] \
    || fail "$(basename "$exe") loads $resolved, not the staged library"
  timeout 30 "$exe" || fail "$(basename "$exe") exited $?"
done
echo "consumer: all passed"
