// SPDX-License-Identifier: MIT
//
// sched_watch.cpp — notices when scx_door goes away.
//
// While handoff is active, the reactor re-checks every 200 ms (a timerfd)
// that the scx_door instance this process registered with is still the
// loaded sched_ext scheduler. If it was unloaded, ejected after an error or
// stall, killed or restarted, g_handoff_active drops to false and libdoor
// spins again: latency returns to the no-scheduler behaviour with no
// per-call check. A door thread about to sleep then looks, at most once a
// second, for a new scx_door instance (handoff_before_sleep); finding one
// makes every thread register again on its next call, which turns handoff
// back on and re-arms this watch.
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "handoff.h"
#include "reactor.h"
#include "unique_fd.h"

namespace door::detail {

namespace {
std::atomic<pid_t> g_watch_pid{0};  ///< process that armed the watch
}

void handoff_watch_scheduler() noexcept {
  pid_t me = getpid();
  if (g_watch_pid.exchange(me) == me) return;  // armed in this process already
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (tfd < 0) {
    g_watch_pid.store(0);
    return;
  }
  itimerspec its{{0, 200 * 1000 * 1000}, {0, 200 * 1000 * 1000}};
  timerfd_settime(tfd, 0, &its, nullptr);
  static char key;  // one watch per process
  bool ok = reactor_watch_fd(tfd, &key, [tfd] {
    std::uint64_t ticks;
    (void)!read(tfd, &ticks, sizeof ticks);
    if (scx_door_still_loaded()) return true;
    g_handoff_active.store(false, std::memory_order_relaxed);
    g_watch_pid.store(0);
    reactor_post([tfd] { raw_close(tfd); });  // after the watch is removed
    return false;
  });
  if (!ok) {
    raw_close(tfd);
    g_watch_pid.store(0);
  }
}

}  // namespace door::detail
