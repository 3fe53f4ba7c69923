// SPDX-License-Identifier: MIT
//
// fuzz_check.h — what every fuzz target shares: an invariant check that
// aborts (libFuzzer then saves the input as a crash) with a message.
#pragma once

#include <cstdio>
#include <cstdlib>

/// Aborts with `what` when `cond` is false: an input broke a safety rule.
#define FUZZ_REQUIRE(cond, what)                                        \
  do {                                                                  \
    if (!(cond)) {                                                      \
      std::fprintf(stderr, "invariant broken: %s (%s)\n", what, #cond); \
      std::abort();                                                     \
    }                                                                   \
  } while (0)
