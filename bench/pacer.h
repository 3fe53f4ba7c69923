// SPDX-License-Identifier: MIT
//
// pacer.h — a fixed call rate for the paced latency cells: one call per
// period, each released at an absolute CLOCK_MONOTONIC deadline
// (clock_nanosleep TIMER_ABSTIME), so the time a call takes does not shift
// the ones after it and the rate does not drift. A call that overruns its
// slot does not cause a burst: the slots it covered are skipped (counted
// in missed()) and the next call waits for the next slot still ahead.
#pragma once

#include <time.h>

#include <cerrno>
#include <cstdint>

#include "proc.h"

namespace bench {

class Pacer {
 public:
  /// The first slot is one period from now.
  explicit Pacer(std::uint64_t period_ns) : period_(period_ns), next_(now_ns() + period_ns) {}

  /// Sleeps until the next slot that has not passed yet.
  void wait() noexcept {
    const std::uint64_t now = now_ns();
    if (next_ < now) {
      const std::uint64_t behind = (now - next_) / period_ + 1;
      missed_ += behind;
      next_ += behind * period_;
    }
    const timespec ts{time_t(next_ / 1000000000u), long(next_ % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
    next_ += period_;
  }

  std::uint64_t period_ns() const noexcept { return period_; }
  /// Slots skipped because the previous call (or a late wake-up) ran past them.
  std::uint64_t missed() const noexcept { return missed_; }

 private:
  std::uint64_t period_, next_, missed_ = 0;
};

}  // namespace bench
