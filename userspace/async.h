// SPDX-License-Identifier: MIT
//
// async.h — asynchronous door calls: the context behind door_async_t.
//
// A call is door_call() split in two (client.h: call_post / call_collect).
// Between the halves the caller's thread is free; what tells it that the
// reply is in is an io_uring IORING_OP_FUTEX_WAIT on the slot's reply word
// (`rsp`), which the server's ordinary FUTEX_WAKE on reply completes — the
// server cannot tell an asynchronous caller from a blocked one. The same
// holds for server death: the client's reactor sets kDead in every reply
// word and wakes them all (client_conn_lost), so pending waits complete and
// the calls finish with door_call()'s errnos (EINTR once started, EBADF if
// never claimed). Before Linux 6.7 io_uring has no futex waits: a watcher
// thread (async_watcher.h) sleeps on the reply words instead and posts the
// same completions with IORING_OP_MSG_RING.
//
// Invariant: a slot is never released while a futex wait that this context
// queued may still be armed on its reply word. The server wakes ONE waiter
// per reply; a stale waiter left on a reused slot would swallow the wake-up
// meant for the slot's next caller (which could be a blocking door_call()
// asleep with no timeout). So a call is freed only after its wait's CQE was
// seen, or after IORING_REGISTER_SYNC_CANCEL removed the wait (cancel and
// destroy; with the watcher, after unwatch()), and an SQPOLL ring — whose SQEs the kernel may consume after
// the cancel — is refused.
#pragma once

#include <door_async.h>
#include <liburing.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "async_watcher.h"
#include "client.h"
#include "result.h"
#include "unique_fd.h"

struct door_async {};  // the C API's opaque type; AsyncContext derives from it

namespace door::detail {

/// An asynchronous call context (door_async_t). One thread at a time.
class AsyncContext : public door_async {
 public:
  /// door_async_create_np().
  static Result<AsyncContext *> create(struct io_uring *ring, unsigned depth, unsigned flags) noexcept;
  /// door_async_destroy_np(): cancels every pending call.
  ~AsyncContext();

  /// door_call_async_np(): posts the call, queues its wait; returns the token.
  Result<std::uint64_t> call(int fd, door_arg_t *params, void *user) noexcept;
  /// door_async_complete_np(): true when a call finished (*out filled).
  Result<bool> complete(std::uint64_t user_data, int res, door_async_result_t *out) noexcept;
  /// door_async_reap_np() (own ring only).
  Result<unsigned> reap(door_async_result_t *out, unsigned max, int timeout_ms) noexcept;
  /// door_async_cancel_np().
  Result<void *> cancel(std::uint64_t token) noexcept;
  /// door_async_fd_np(): the eventfd (own ring only).
  Result<int> fd() const noexcept;
  /// Calls pending.
  unsigned pending() const noexcept { return pending_; }

  AsyncContext(const AsyncContext &) = delete;
  AsyncContext &operator=(const AsyncContext &) = delete;

 private:
  AsyncContext() = default;

  /// One call in flight (or a free entry).
  struct Entry {
    std::uint32_t gen = 1;      ///< bumped when the entry is freed (stale tokens)
    bool busy = false;
    bool armed = false;         ///< an SQE with this token is queued or in the kernel
    bool watched = false;       ///< armed through the watcher (no futex waits in io_uring)
    PostedCall pc;
    door_arg_t *params = nullptr;
    void *user = nullptr;
  };

  std::uint64_t token_of(std::uint32_t idx) const noexcept;
  Entry *entry_of(std::uint64_t token) noexcept;
  struct io_uring_sqe *get_sqe() noexcept;
  /// Queues the wait (or NOP) of a posted call; false when no SQE is free.
  bool arm(std::uint32_t idx) noexcept;
  void disarm(std::uint32_t idx) noexcept;
  void release(std::uint32_t idx) noexcept;

  struct io_uring own_{};
  struct io_uring *ring_ = nullptr;
  bool owns_ring_ = false;
  unique_fd efd_;
  std::unique_ptr<FutexWatcher> watcher_;  ///< Linux < 6.7 (async_watcher.h), else null
  std::uint32_t tag_ = 0;
  unsigned pending_ = 0;
  std::vector<Entry> entries_;
  std::vector<std::uint32_t> free_;
};

}  // namespace door::detail
