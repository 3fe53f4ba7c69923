// SPDX-License-Identifier: MIT
//
// async_watcher.h — io_uring completions for futex words on kernels whose
// io_uring has no IORING_OP_FUTEX_WAIT (Linux 6.1 to 6.6).
//
// An asynchronous door call completes when its reply word changes. From
// Linux 6.7 io_uring waits for that itself. Before, a watcher thread does:
// it sleeps in futex_waitv(2) (5.16+) on up to kPerGroup words at once plus
// a control word, and when a word no longer holds the value it was watched
// for, posts a CQE {user_data, res 0} to the target ring with
// IORING_OP_MSG_RING (5.18+). The ring's owner cannot tell it from a futex
// wait's completion, so the async API and its users stay the same. One
// thread serves each group of kPerGroup entries, started on first use; the
// watcher holds one descriptor (its posting ring) from creation.
//
// async.h's invariant holds here too: unwatch() returns only once the
// watcher no longer sleeps on the word (it has rebuilt its wait list
// without it), so a released slot never keeps a stale waiter that could
// swallow the next caller's wake-up.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "result.h"

namespace door::detail {

class FutexWatcher {
 public:
  /// futex_waitv takes at most 128 words; one of them is the control word.
  static constexpr unsigned kPerGroup = 127;

  /// True when this kernel has what the watcher needs: futex_waitv and
  /// IORING_OP_MSG_RING (`ring` is probed for the latter).
  static bool supported(struct io_uring *ring) noexcept;

  /// A watcher for entries 0..capacity-1 that posts to the ring `ring_fd`.
  static Result<std::unique_ptr<FutexWatcher>> create(int ring_fd, unsigned capacity) noexcept;
  /// Stops and joins the threads (entries still watched are dropped).
  ~FutexWatcher();

  /// Starts the thread of `idx`'s group if it is not running: call before
  /// committing to a watch (EAGAIN or ENOMEM when it cannot start).
  Result<void> prepare(unsigned idx) noexcept;
  /// Watches `word` while it holds `expect`; once it differs, posts
  /// `user_data` to the ring, once. `idx` must be prepared and not watched.
  void watch(unsigned idx, std::atomic<std::uint32_t> *word, std::uint32_t expect,
             std::uint64_t user_data) noexcept;
  /// Stops watching `idx` (a no-op once its CQE was posted). On return no
  /// watcher thread sleeps on the word.
  void unwatch(unsigned idx) noexcept;

  FutexWatcher(const FutexWatcher &) = delete;
  FutexWatcher &operator=(const FutexWatcher &) = delete;

 private:
  struct Group;
  FutexWatcher() = default;
  static void run(FutexWatcher *self, Group *g) noexcept;
  void post(Group &g, std::uint64_t user_data) noexcept;

  int ring_fd_ = -1;
  unsigned ngroups_ = 0;
  std::unique_ptr<Group[]> groups_;
  std::mutex post_mu_;             ///< the groups share one posting ring
  struct io_uring post_ring_ {};   ///< submits the IORING_OP_MSG_RINGs
  bool post_ring_ok_ = false;
};

}  // namespace door::detail
