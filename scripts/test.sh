#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test.sh — set up, configure, build and run every test of Linux doors.
#
# Steps: scripts/setup.sh, configure ./build (RelWithDebInfo), build with
# all cores, ctest. The sched_ext scheduler and its VM tests are included
# when scx_door/ and tests/vm/ exist, unless DOOR_VM=0. Exits non-zero on
# any failure.
#
# Environment:
#   DOOR_VM=0          leave out the sched_ext scheduler and the VM tests
#   BUILD_DIR=dir      build directory (default: build)
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
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 600

section "all tests passed"
