// SPDX-License-Identifier: MIT
//
// async_watcher.cpp — the watcher threads of async_watcher.h.
//
// Per group: a mutex guards the watch list; `epoch` (a futex word)
// is bumped on every change and is the control word of the thread's
// futex_waitv, so a change wakes it; `built` tells which epoch the thread's
// current wait list reflects. unwatch() waits for built to reach the epoch
// of its removal: from then on the thread sleeps on a list without the word.
#include "async_watcher.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <mutex>
#include <new>

#include "futex.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif

namespace door::detail {

struct FutexWatcher::Group {
  struct Watch {
    std::atomic<std::uint32_t> *word = nullptr;
    std::uint32_t expect = 0;
    bool active = false;
    std::uint64_t user_data = 0;
  };
  std::mutex mu;
  Watch watches[kPerGroup];
  std::atomic<std::uint32_t> epoch{0};    ///< bumped on every list change (control word)
  std::atomic<std::uint32_t> built{0};    ///< the epoch the thread's wait list reflects
  std::atomic<std::uint32_t> waiters{0};  ///< unwatch() calls waiting on `built`
  std::atomic<bool> stop{false};
  bool started = false;
  FutexWatcher *owner = nullptr;
  pthread_t thread{};
};

namespace {

bool epoch_reached(std::uint32_t have, std::uint32_t want) noexcept {
  return static_cast<std::int32_t>(have - want) >= 0;
}

/// The thread that starts a watcher must not hand it the application's
/// signals: it is created with every signal blocked.
struct AllSignalsBlocked {
  sigset_t old;
  AllSignalsBlocked() noexcept {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
  }
  ~AllSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old, nullptr); }
};

}  // namespace

bool FutexWatcher::supported(struct io_uring *ring) noexcept {
  // futex_waitv with no words fails with EINVAL where it exists, ENOSYS
  // where it does not.
  if (syscall(SYS_futex_waitv, nullptr, 0, 0, nullptr, CLOCK_MONOTONIC) == -1 && errno == ENOSYS) return false;
  struct io_uring_probe *p = io_uring_get_probe_ring(ring);
  if (!p) return false;
  bool ok = io_uring_opcode_supported(p, IORING_OP_MSG_RING);
  io_uring_free_probe(p);
  return ok;
}

Result<std::unique_ptr<FutexWatcher>> FutexWatcher::create(int ring_fd, unsigned capacity) noexcept {
  std::unique_ptr<FutexWatcher> w(new (std::nothrow) FutexWatcher);
  if (!w) return fail(std::errc::not_enough_memory);
  w->ring_fd_ = ring_fd;
  w->ngroups_ = (capacity + kPerGroup - 1) / kPerGroup;
  w->groups_.reset(new (std::nothrow) Group[w->ngroups_]);
  if (!w->groups_) return fail(std::errc::not_enough_memory);
  // One MSG_RING in flight at a time (post_mu_): a tiny ring does.
  if (int r = io_uring_queue_init(2, &w->post_ring_, 0); r < 0) return fail_errno(-r);
  w->post_ring_ok_ = true;
  return w;
}

FutexWatcher::~FutexWatcher() {
  for (unsigned k = 0; k < ngroups_; k++) {
    Group &g = groups_[k];
    if (!g.started) continue;
    g.stop.store(true);
    g.epoch.fetch_add(1);
    futex_wake(&g.epoch, INT_MAX);
    pthread_join(g.thread, nullptr);
  }
  if (post_ring_ok_) io_uring_queue_exit(&post_ring_);
}

Result<void> FutexWatcher::prepare(unsigned idx) noexcept {
  Group &g = groups_[idx / kPerGroup];
  if (g.started) return {};
  g.owner = this;
  int rc;
  {
    AllSignalsBlocked blocked;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    rc = pthread_create(
        &g.thread, &attr,
        [](void *arg) -> void * {
          auto *group = static_cast<Group *>(arg);
          run(group->owner, group);
          return nullptr;
        },
        &g);
    pthread_attr_destroy(&attr);
  }
  if (rc != 0) return fail_errno(rc);
  pthread_setname_np(g.thread, "door-async");
  g.started = true;
  return {};
}

void FutexWatcher::watch(unsigned idx, std::atomic<std::uint32_t> *word, std::uint32_t expect,
                         std::uint64_t user_data) noexcept {
  Group &g = groups_[idx / kPerGroup];
  {
    std::lock_guard<std::mutex> lk(g.mu);
    g.watches[idx % kPerGroup] = Group::Watch{word, expect, true, user_data};
    g.epoch.fetch_add(1);
  }
  futex_wake(&g.epoch, 1);
}

void FutexWatcher::unwatch(unsigned idx) noexcept {
  Group &g = groups_[idx / kPerGroup];
  std::uint32_t want;
  {
    std::lock_guard<std::mutex> lk(g.mu);
    Group::Watch &w = g.watches[idx % kPerGroup];
    // Fired: the thread dropped it from its list before posting.
    if (!w.active) return;
    w.active = false;
    want = g.epoch.fetch_add(1) + 1;
  }
  futex_wake(&g.epoch, 1);
  // Registered before reading `built`, and the thread publishes `built`
  // before reading `waiters` (both seq_cst): one of us sees the other.
  g.waiters.fetch_add(1);
  for (std::uint32_t have; !epoch_reached(have = g.built.load(), want);) futex_wait(&g.built, have, nullptr);
  g.waiters.fetch_sub(1);
}

void FutexWatcher::post(Group &g, std::uint64_t user_data) noexcept {
  // MSG_RING completes inline: submit and read its result at once. A full
  // target CQ (-EOVERFLOW on older kernels) clears when its owner reaps.
  while (!g.stop.load(std::memory_order_relaxed)) {
    int res;
    {
      std::lock_guard<std::mutex> lk(post_mu_);
      struct io_uring_sqe *sqe = io_uring_get_sqe(&post_ring_);
      if (!sqe) return;  // never: one SQE at a time on a ring of two
      io_uring_prep_msg_ring(sqe, ring_fd_, 0, user_data, 0);
      struct io_uring_cqe *cqe;
      res = io_uring_submit_and_wait(&post_ring_, 1);
      if (res >= 0 && io_uring_peek_cqe(&post_ring_, &cqe) == 0) {
        res = cqe->res;
        io_uring_cqe_seen(&post_ring_, cqe);
      }
    }
    if (res >= 0 || res == -EBADF || res == -EBADFD) return;  // done, or the ring is gone
    usleep(1000);
  }
}

void FutexWatcher::run(FutexWatcher *self, Group *g) noexcept {
  struct futex_waitv waitv[kPerGroup + 1];
  std::uint64_t fired[kPerGroup];
  for (;;) {
    unsigned n = 0, nfired = 0;
    std::uint32_t epoch;
    {
      std::lock_guard<std::mutex> lk(g->mu);
      if (g->stop.load()) return;
      epoch = g->epoch.load();
      for (Group::Watch &w : g->watches) {
        if (!w.active) continue;
        if (w.word->load(std::memory_order_acquire) != w.expect) {
          w.active = false;  // changed: post it, once
          fired[nfired++] = w.user_data;
          continue;
        }
        // Shared futexes: the words live in memory the server process wakes.
        waitv[n++] = {w.expect, reinterpret_cast<std::uintptr_t>(w.word), FUTEX2_SIZE_U32, 0};
      }
      // Not FUTEX2_PRIVATE: futex_wake() wakes it as a shared futex, and
      // the two kinds of key never match.
      waitv[n++] = {epoch, reinterpret_cast<std::uintptr_t>(&g->epoch), FUTEX2_SIZE_U32, 0};
      g->built.store(epoch);
    }
    if (g->waiters.load() != 0) futex_wake(&g->built, INT_MAX);
    for (unsigned k = 0; k < nfired; k++) self->post(*g, fired[k]);
    if (nfired != 0) continue;  // the posts took time: look again before sleeping
    // Returns on a wake of any word, or at once (EAGAIN) when one of them
    // no longer holds its value: either way the loop rescans.
    syscall(SYS_futex_waitv, waitv, n, 0, nullptr, CLOCK_MONOTONIC);
  }
}

}  // namespace door::detail
