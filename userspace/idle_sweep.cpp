// SPDX-License-Identifier: MIT
//
// idle_sweep.cpp — the reactor's periodic sweep of bound server threads.
//
// See idle_sweep.h for the policy. The registry's mutex is what keeps a
// registered thread's binding (t->conn, t->slot) valid while the sweep
// recalls it: unbind() removes the thread before it drops the binding. The
// timerfd runs only while the registry is non-empty; arming and disarming
// happen under the same mutex as the registry changes, so an add can never
// be left without a running timer.
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <new>
#include <vector>

#include "idle_sweep.h"
#include "reactor.h"
#include "runtime.h"
#include "server.h"

namespace door::detail {

namespace {

struct Registry {
  std::mutex mu;
  std::vector<ServerThread *> bound;
  int tfd = -1;        ///< the sweep's timerfd (created on first use)
  bool armed = false;  ///< tfd is ticking
};

Registry &registry() noexcept {
  static Registry *r = new Registry;  // threads outlive static destruction
  return *r;
}

/// Sweeps count idle periods: recalled after this many (see idle_sweep.h).
constexpr std::uint32_t kIdleSweeps = 2;

void set_timer(Registry &r, bool on) noexcept {
  itimerspec its{};
  if (on) {
    its.it_value = {0, static_cast<long>(kIdleSweepNs)};
    its.it_interval = its.it_value;
  }
  if (timerfd_settime(r.tfd, 0, &its, nullptr) == 0) r.armed = on;
}

void sweep() noexcept {
  Registry &r = registry();
  std::lock_guard g(r.mu);
  for (ServerThread *t : r.bound) {
    std::uint32_t calls = t->calls_taken.load(std::memory_order_relaxed);
    if (t->idle_bound.load() && calls == t->sweep_calls) {
      if (++t->sweep_idle >= kIdleSweeps) {
        t->sweep_idle = 0;
        recall_bound_thread(t);
      }
    } else {
      t->sweep_calls = calls;
      t->sweep_idle = 0;
    }
  }
  if (r.bound.empty()) set_timer(r, false);
}

/// Creates the timerfd and hands it to the reactor (under r.mu).
bool start_timer(Registry &r) noexcept {
  if (r.tfd >= 0) return true;
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (tfd < 0) return false;
  static char key;  // one sweep per process
  if (!reactor_watch_fd(tfd, &key, [tfd] {
        std::uint64_t ticks;
        (void)!read(tfd, &ticks, sizeof ticks);
        sweep();
        return true;
      })) {
    raw_close(tfd);
    return false;
  }
  r.tfd = tfd;
  return true;
}

}  // namespace

void idle_sweep_add(ServerThread *t) noexcept {
  Registry &r = registry();
  std::lock_guard g(r.mu);
  t->sweep_calls = t->calls_taken.load(std::memory_order_relaxed);
  t->sweep_idle = 0;
  try {
    r.bound.push_back(t);
  } catch (const std::bad_alloc &) {
    return;  // not swept: the thread stays bound until recalled for work
  }
  if (!r.armed && start_timer(r)) set_timer(r, true);
}

void idle_sweep_remove(ServerThread *t) noexcept {
  Registry &r = registry();
  std::lock_guard g(r.mu);
  std::erase(r.bound, t);
}

void idle_sweep_prepare_fork() noexcept { registry().mu.lock(); }

void idle_sweep_parent_after_fork() noexcept { registry().mu.unlock(); }

void idle_sweep_forget_after_fork() noexcept {
  // Single-threaded child, no allocation: the parent's bound threads do not
  // exist here, and the reactor that watched the timer is gone.
  Registry &r = registry();
  new (&r.mu) std::mutex;
  r.bound.clear();
  if (r.tfd >= 0) raw_close(r.tfd);
  r.tfd = -1;
  r.armed = false;
}

}  // namespace door::detail
