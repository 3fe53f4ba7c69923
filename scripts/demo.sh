#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh — set up, build, and run the Linux doors demo (examples/demo_door.c):
# a door server process and a client process that pass the door over a
# socket, get a descriptor back inside a door call, show the caller's
# credentials and measure door_call next to a futex ping-pong.
# Exits with the demo's status.
#
# Environment:
#   BUILD_DIR=dir      build directory (default: build)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build}

section() { printf '\n==== %s ====\n' "$*"; }

section "setup"
bash scripts/setup.sh

section "configure ($BUILD_DIR)"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo

section "build door_demo"
cmake --build "$BUILD_DIR" -j"$(nproc)" --target door_demo

section "run $BUILD_DIR/examples/door_demo"
set +e
"$BUILD_DIR/examples/door_demo" "$@"
rc=$?
set -e
if (( rc == 0 )); then
  section "demo finished OK"
else
  section "demo FAILED (exit $rc)"
fi
exit "$rc"
