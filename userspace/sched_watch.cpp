// SPDX-License-Identifier: MIT
//
// sched_watch.cpp — notices scx_door going away and coming (back).
//
// Checked by door threads about to sleep in FUTEX_WAIT, which pay a syscall
// anyway, at most every 200 ms per process while handoff is on and every
// second while it is off; never by a timer, so an idle door program never
// wakes up for it, and a thread that keeps catching its peer by spinning
// has nothing to learn.
//  * On: if the scx_door instance this process registered with was
//    unloaded, ejected after an error or stall, killed or restarted,
//    handoff goes off and libdoor spins again: latency returns to the
//    no-scheduler behaviour.
//  * Off: if an scx_door instance this process has not tried is loaded,
//    the registration epoch is bumped and every thread registers again on
//    its next call (a server thread: its next reply), which turns handoff
//    back on. A long-running server thus keeps its handoffs across
//    `systemctl restart scx_door`, and gets them if scx_door starts later.
#include <time.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "handoff.h"

namespace door::detail {

void handoff_before_sleep() noexcept {
  static std::atomic<std::int64_t> next_check{0};
  const bool on = g_handoff_active.load(std::memory_order_relaxed);
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);  // vDSO: no syscall
  const std::int64_t now = ts.tv_sec * 1000000000LL + ts.tv_nsec;
  std::int64_t next = next_check.load(std::memory_order_relaxed);
  if (now < next ||
      !next_check.compare_exchange_strong(next, now + (on ? 200'000'000LL : 1'000'000'000LL)))
    return;
  const int saved_errno = errno;
  if (on) {
    if (!scx_door_still_loaded()) g_handoff_active.store(false, std::memory_order_relaxed);
  } else if (scx_door_newly_loaded()) {
    // Only the winner of next_check gets here: one writer at a time.
    std::uint32_t e = g_handoff_epoch.load(std::memory_order_relaxed) + 1;
    g_handoff_epoch.store(e ? e : 1, std::memory_order_relaxed);  // 0 means "never tried"
  }
  errno = saved_errno;
}

}  // namespace door::detail
