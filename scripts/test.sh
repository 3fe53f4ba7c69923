#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test.sh — set up, configure, build and run every test of Linux doors.
#
# Steps: scripts/setup.sh, configure ./build (RelWithDebInfo), build with
# all cores, ctest. The sched_ext scheduler and its VM tests are included
# when scx_door/ and tests/vm/ exist, unless DOOR_VM=0. Then the hardening
# stages (README, "Hardening"): valgrind memcheck of the core suites, a
# bounded libFuzzer run of every target, and the ASan+UBSan and TSan builds
# of the library and tests. Exits non-zero on any failure.
#
# Environment:
#   DOOR_VM=0           leave out the sched_ext scheduler and the VM tests
#   BUILD_DIR=dir       build directory (default: build)
#   DOOR_SANITIZERS=0   skip the ASan+UBSan and TSan stages
#   DOOR_VALGRIND=0     skip the valgrind memcheck stage
#   DOOR_FUZZ_SECONDS=n seconds per fuzz target (default 20; 0 skips fuzzing)
#   DOOR_SOAK=long      long soak and fault runs (see README) instead of CI size
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build}

section() { printf '\n==== %s ====\n' "$*"; }
trap 'rc=$?; if (( rc )); then printf "\n==== FAILED (exit %d) ====\n" "$rc" >&2; fi' EXIT

section "setup"
bash scripts/setup.sh

CMAKE_ARGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [[ "${DOOR_VM:-1}" != 0 && -f scx_door/CMakeLists.txt && -f tests/vm/CMakeLists.txt ]]; then
  CMAKE_ARGS+=(-DDOOR_BUILD_SCX=ON -DDOOR_VM_TESTS=ON)
  echo "sched_ext scheduler and VM tests: included"
else
  CMAKE_ARGS+=(-DDOOR_BUILD_SCX=OFF -DDOOR_VM_TESTS=OFF)
  if [[ "${DOOR_VM:-1}" == 0 ]]; then
    echo "sched_ext scheduler and VM tests: left out (DOOR_VM=0)"
  else
    echo "sched_ext scheduler and VM tests: left out" \
         "(scx_door/CMakeLists.txt or tests/vm/CMakeLists.txt not there yet)"
  fi
fi

section "configure ($BUILD_DIR)"
cmake -S . -B "$BUILD_DIR" "${CMAKE_ARGS[@]}"

section "build (-j$(nproc))"
cmake --build "$BUILD_DIR" -j"$(nproc)"

section "test"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 600 -LE memcheck

if [[ "${DOOR_VALGRIND:-1}" != 0 ]]; then
  section "valgrind memcheck (core suites, label memcheck)"
  cmake -S . -B "$BUILD_DIR" -DDOOR_MEMCHECK=ON >/dev/null
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 -L memcheck
fi

if [[ "${DOOR_FUZZ_SECONDS:-20}" != 0 ]]; then
  section "fuzz (${DOOR_FUZZ_SECONDS:-20} s per target)"
  FUZZ_BUILD_DIR="$BUILD_DIR-fuzz" bash fuzz/run.sh "${DOOR_FUZZ_SECONDS:-20}"
fi

if [[ "${DOOR_SANITIZERS:-1}" != 0 ]]; then
  # The library and every test suite, instrumented; any report fails its
  # test. Fault and soak suites run at a reduced size under instrumentation.
  SAN_ENV=(DOOR_FAULT_CYCLES=400 DOOR_SOAK_PROCS=8 DOOR_SOAK_CALLS=400)
  SAN_ARGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOOR_BUILD_SCX=OFF -DDOOR_VM_TESTS=OFF
            -DDOOR_BUILD_BENCH=OFF -DDOOR_BUILD_EXAMPLES=OFF)

  section "ASan+UBSan ($BUILD_DIR-asan)"
  # clang-19's ASan locks its allocator across fork(); GCC 12's does not, so
  # a fork child of a threaded test could inherit that lock held by a thread
  # it does not have and hang in its first malloc (suites fork on purpose).
  CC=clang-19 CXX=clang++-19 \
  cmake -S . -B "$BUILD_DIR-asan" "${SAN_ARGS[@]}" -DDOOR_SANITIZE=address,undefined >/dev/null
  cmake --build "$BUILD_DIR-asan" -j"$(nproc)"
  env "${SAN_ENV[@]}" ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir "$BUILD_DIR-asan" --output-on-failure -j2 --timeout 900

  section "TSan ($BUILD_DIR-tsan)"
  # Every suite. die_after_fork=0: the suites fork from threaded processes
  # on purpose; tests/tsan.supp explains the suppressed report family.
  # GTEST_FILTER leaves out the tests TSan cannot judge (README,
  # "Sanitizers"): fork children that join or detach threads (GCC 12's
  # TSan kills them: "dup thread with used id") and one test whose timing
  # TSan's slowdown breaks under load (server descriptors settling while
  # threads exit mid-call). All of them run in the main and ASan+UBSan
  # stages.
  TSAN_SKIP=(DoorRevoke.EBADF_CallerWaitingForServerThread
             Limits.DoorCallsLimitCountsEveryClient
             Limits.ClientAtItsLimitDoesNotStarveOthers
             Faults.ServerThreadsExitingMidCallAreReplaced)
  cmake -S . -B "$BUILD_DIR-tsan" "${SAN_ARGS[@]}" -DDOOR_SANITIZE=thread >/dev/null
  cmake --build "$BUILD_DIR-tsan" -j"$(nproc)"
  env "${SAN_ENV[@]}" TSAN_OPTIONS="die_after_fork=0:halt_on_error=1:suppressions=$PWD/tests/tsan.supp" \
      GTEST_FILTER="-$(IFS=:; echo "${TSAN_SKIP[*]}")" \
      ctest --test-dir "$BUILD_DIR-tsan" --output-on-failure -j2 --timeout 900 -R '^test_'
fi

section "all tests passed"
