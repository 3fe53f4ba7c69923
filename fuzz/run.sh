#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh — build and run every libFuzzer target for a bounded time.
#
#   fuzz/run.sh [seconds-per-target]      (default 30)
#
# Builds fuzz/ with clang-19 into $FUZZ_BUILD_DIR (default build-fuzz),
# then runs each fuzz_<name> on its committed corpus fuzz/corpus/<name>/.
# New interesting inputs go to a scratch directory (the committed corpus
# is not modified; copy from there to grow it). Exits non-zero if a target
# finds a crash or an invariant violation; the input is saved under
# $FUZZ_BUILD_DIR/artifacts/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECS=${1:-30}
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
CXX_FUZZ=${CXX_FUZZ:-clang++-19}
CC_FUZZ=${CC_FUZZ:-clang-19}

cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER="$CC_FUZZ" -DCMAKE_CXX_COMPILER="$CXX_FUZZ" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOOR_FUZZ=ON -DDOOR_BUILD_TESTS=OFF -DDOOR_BUILD_BENCH=OFF \
  -DDOOR_BUILD_EXAMPLES=OFF -DDOOR_BUILD_SCX=OFF -DDOOR_VM_TESTS=OFF >/dev/null
targets=()
for src in fuzz/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp)"); done
cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]}"

mkdir -p "$BUILD/artifacts"
rc=0
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  corpus=fuzz/corpus/$name
  scratch=$BUILD/new-corpus/$name
  mkdir -p "$scratch"
  printf '== %s (%ss, corpus %s: %s inputs)\n' "$t" "$SECS" "$corpus" "$(ls "$corpus" 2>/dev/null | wc -l)"
  if ! "$BUILD/fuzz/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$BUILD/artifacts/$name-" "$scratch" "$corpus" 2>"$BUILD/$t.log"; then
    echo "FAIL: $t (log: $BUILD/$t.log)"
    tail -30 "$BUILD/$t.log"
    rc=1
  else
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$BUILD/$t.log" | tr '\n' ' '
    echo
  fi
done
exit $rc
