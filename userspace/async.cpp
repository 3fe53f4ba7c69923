// SPDX-License-Identifier: MIT
//
// async.cpp — asynchronous door calls over io_uring (see async.h for the
// protocol and the invariant every function here keeps).
#include "async.h"

#include <linux/futex.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "futex.h"

#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif

namespace door::detail {

namespace {

// Token: DOOR_ASYNC_TOKEN_FLAG | context tag (15 bits) | entry generation
// (32 bits) | entry index (16 bits). The tag tells contexts apart, the
// generation makes a completion that arrives after its call was cancelled
// (or a NOP's) harmless.
constexpr unsigned kTagShift = 48, kGenShift = 16;
constexpr std::uint64_t kIndexMask = 0xffff, kTagMask = 0x7fff;
std::atomic<std::uint32_t> g_next_tag{1};

/// True if the kernel's io_uring has the futex operations (Linux >= 6.7)
/// and DOOR_ASYNC_WATCHER=1 does not ask for the watcher thread anyway
/// (to test the path of older kernels on a new one).
bool futex_ops_supported(struct io_uring *ring) noexcept {
  const char *force = std::getenv("DOOR_ASYNC_WATCHER");
  if (force && std::strcmp(force, "1") == 0) return false;
  struct io_uring_probe *p = io_uring_get_probe_ring(ring);
  if (!p) return false;
  bool ok = io_uring_opcode_supported(p, IORING_OP_FUTEX_WAIT);
  io_uring_free_probe(p);
  return ok;
}

}  // namespace

Result<AsyncContext *> AsyncContext::create(struct io_uring *ring, unsigned depth, unsigned flags) noexcept {
  if (flags != 0 || depth == 0 || depth > DOOR_ASYNC_MAX_DEPTH) return fail(std::errc::invalid_argument);
  // SQPOLL: the kernel consumes SQEs on its own schedule, so a cancel could
  // miss a wait not yet armed (see async.h).
  if (ring && (ring->flags & IORING_SETUP_SQPOLL)) return fail(std::errc::invalid_argument);
  auto *ax = new (std::nothrow) AsyncContext;
  if (!ax) return fail(std::errc::not_enough_memory);
  std::unique_ptr<AsyncContext> hold(ax);
  try {
    ax->entries_.resize(depth);
    ax->free_.reserve(depth);
  } catch (...) {
    return fail(std::errc::not_enough_memory);
  }
  for (unsigned k = depth; k-- > 0;) ax->free_.push_back(k);
  ax->tag_ = g_next_tag.fetch_add(1, std::memory_order_relaxed) & kTagMask;
  if (ring) {
    ax->ring_ = ring;
  } else {
    // Each call has at most one SQE queued and one CQE outstanding, plus
    // stale NOP/cancel completions: twice the depth never overflows the CQ.
    int r = io_uring_queue_init(depth, &ax->own_, 0);
    if (r < 0) return fail_errno(-r);
    ax->ring_ = &ax->own_;
    ax->owns_ring_ = true;
    ax->efd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!ax->efd_) return fail_errno(errno);
    if (int e = io_uring_register_eventfd(ax->ring_, ax->efd_.get()); e < 0) return fail_errno(-e);
  }
  if (!futex_ops_supported(ax->ring_)) {
    // Linux 6.1-6.6: a watcher thread waits for the reply words and posts
    // the completions to the ring (async_watcher.h).
    if (!FutexWatcher::supported(ax->ring_)) return fail(std::errc::function_not_supported);
    // It posts with IORING_OP_MSG_RING, which needs the ring's real
    // descriptor and a ring that takes completions from outside.
    if (ax->ring_->flags & (IORING_SETUP_IOPOLL | IORING_SETUP_REGISTERED_FD_ONLY))
      return fail(std::errc::invalid_argument);
    auto w = FutexWatcher::create(ax->ring_->ring_fd, depth);
    if (!w) return fail(w.error());
    ax->watcher_ = std::move(*w);
  }
  return hold.release();
}

AsyncContext::~AsyncContext() {
  for (std::uint32_t k = 0; k < entries_.size(); k++)
    if (entries_[k].busy) {
      disarm(k);
      call_abandon(entries_[k].pc);
      release(k);
    }
  // Joined before the ring goes: no completion may be posted to a closed
  // (or reused) descriptor.
  watcher_.reset();
  if (owns_ring_) io_uring_queue_exit(&own_);
}

std::uint64_t AsyncContext::token_of(std::uint32_t idx) const noexcept {
  return DOOR_ASYNC_TOKEN_FLAG | (std::uint64_t(tag_) << kTagShift) |
         (std::uint64_t(entries_[idx].gen) << kGenShift) | idx;
}

AsyncContext::Entry *AsyncContext::entry_of(std::uint64_t token) noexcept {
  std::uint32_t idx = static_cast<std::uint32_t>(token & kIndexMask);
  if (idx >= entries_.size()) return nullptr;
  Entry &e = entries_[idx];
  if (!e.busy || token != token_of(idx)) return nullptr;
  return &e;
}

struct io_uring_sqe *AsyncContext::get_sqe() noexcept {
  struct io_uring_sqe *sqe = io_uring_get_sqe(ring_);
  if (!sqe && io_uring_submit(ring_) >= 0) sqe = io_uring_get_sqe(ring_);
  return sqe;
}

bool AsyncContext::arm(std::uint32_t idx) noexcept {
  Entry &e = entries_[idx];
  std::uint32_t expect = 0;
  bool pending = call_reply_state(e.pc, &expect) == ReplyState::Pending;
  if (pending && watcher_) {
    // The same contract as the futex wait below: a CQE comes once the word
    // no longer holds `expect`.
    watcher_->watch(idx, call_reply_word(e.pc), expect, token_of(idx));
    e.armed = e.watched = true;
    return true;
  }
  struct io_uring_sqe *sqe = get_sqe();
  if (!sqe) return false;
  if (pending) {
    // kRspWaiting is in `expect` (call_reply_state set it): the server's
    // reply sees the bit and FUTEX_WAKEs the word; if the reply (or kDead)
    // lands before the kernel arms this wait, the value no longer equals
    // `expect` and the wait completes at once with -EAGAIN. Either way a
    // CQE comes. Shared futex (no FUTEX2_PRIVATE): the word is in a
    // MAP_SHARED memfd that the server process wakes.
    io_uring_prep_futex_wait(sqe, reinterpret_cast<std::uint32_t *>(call_reply_word(e.pc)), expect,
                             FUTEX_BITSET_MATCH_ANY, FUTEX2_SIZE_U32, 0);
  } else {
    io_uring_prep_nop(sqe);  // the reply is already there: complete via the ring anyway
  }
  io_uring_sqe_set_data64(sqe, token_of(idx));
  e.armed = true;
  return true;
}

void AsyncContext::disarm(std::uint32_t idx) noexcept {
  Entry &e = entries_[idx];
  if (!e.armed) return;
  if (e.watched) {
    watcher_->unwatch(idx);  // returns once the watcher left the word
    e.armed = e.watched = false;
    return;
  }
  // The wait must be in the kernel to be found by the cancel: flush the SQ
  // first (no SQPOLL, so io_uring_submit() issues every queued SQE, and a
  // futex wait is armed inline during the submission).
  while (io_uring_sq_ready(ring_) > 0)
    if (io_uring_submit(ring_) < 0) break;
  // Synchronous cancel: when it returns, the wait is off the futex queue —
  // cancelled now, or already woken (its CQE, stale from now on, is in the
  // CQ or on its way). Either way no waiter of ours stays on the word.
  struct io_uring_sync_cancel_reg reg{};
  reg.addr = token_of(idx);
  reg.fd = -1;
  reg.timeout.tv_sec = -1;
  reg.timeout.tv_nsec = -1;
  (void)io_uring_register_sync_cancel(ring_, &reg);
  e.armed = false;
}

void AsyncContext::release(std::uint32_t idx) noexcept {
  Entry &e = entries_[idx];
  e.busy = false;
  e.armed = false;
  e.watched = false;
  e.gen = e.gen + 1 ? e.gen + 1 : 1;
  e.params = nullptr;
  e.user = nullptr;
  free_.push_back(idx);
  pending_--;
}

Result<std::uint64_t> AsyncContext::call(int fd, door_arg_t *params, void *user) noexcept {
  if (free_.empty()) return fail(std::errc::device_or_resource_busy);
  // Reserve the SQE before posting: a posted call must always get its wait.
  if (io_uring_sq_space_left(ring_) == 0) {
    if (!owns_ring_ || io_uring_submit(ring_) < 0 || io_uring_sq_space_left(ring_) == 0)
      return fail(std::errc::device_or_resource_busy);
  }
  // The watcher thread of this entry runs before the call is posted, for
  // the same reason.
  if (watcher_)
    if (auto r = watcher_->prepare(free_.back()); !r) return fail(std::errc::resource_unavailable_try_again);
  auto pc = call_post(fd, params);
  if (!pc) return fail(pc.error());
  std::uint32_t idx = free_.back();
  free_.pop_back();
  Entry &e = entries_[idx];
  e.busy = true;
  e.pc = *pc;
  e.params = params;
  e.user = user;
  pending_++;
  (void)arm(idx);  // cannot fail: the SQE was reserved above
  std::uint64_t token = token_of(idx);
  if (owns_ring_) (void)io_uring_submit(ring_);
  return token;
}

Result<bool> AsyncContext::complete(std::uint64_t user_data, int res, door_async_result_t *out) noexcept {
  if (!DOOR_ASYNC_IS_TOKEN(user_data) || ((user_data >> kTagShift) & kTagMask) != tag_)
    return fail(std::errc::invalid_argument);
  (void)res;  // 0 (woken), -EAGAIN (value changed), -ECANCELED (submitter exited): the word decides
  Entry *e = entry_of(user_data);
  if (!e || !e->armed) return false;  // stale: the call was cancelled
  std::uint32_t idx = static_cast<std::uint32_t>(user_data & kIndexMask);
  e->armed = e->watched = false;  // a watch that fired was dropped by its watcher
  auto r = call_collect(e->pc, e->params);
  if (!r && r.error() == std::errc::operation_in_progress) {
    if (arm(idx)) return false;
    // The caller's SQ is full even after a submit: a call without a
    // queued wait would never complete, so give it up cleanly.
    call_abandon(e->pc);
    r = fail(std::errc::interrupted);
  }
  if (out) {
    *out = door_async_result_t{};
    out->token = user_data;
    out->user = e->user;
    out->params = e->params;
    out->error = r ? 0 : to_errno(r.error());
  }
  release(idx);
  return true;
}

Result<unsigned> AsyncContext::reap(door_async_result_t *out, unsigned max, int timeout_ms) noexcept {
  if (!owns_ring_) return fail(std::errc::invalid_argument);
  if (max == 0 || !out) return fail(std::errc::invalid_argument);
  std::uint64_t deadline = timeout_ms > 0 ? now_ns() + std::uint64_t(timeout_ms) * 1000000u : 0;
  unsigned n = 0;
  for (;;) {
    // Drain the eventfd before the CQ: a CQE posted after this read bumps
    // it again, so a poller never sleeps on a CQ that has entries.
    eventfd_t junk;
    (void)eventfd_read(efd_.get(), &junk);
    struct io_uring_cqe *cqe;
    while (n < max && io_uring_peek_cqe(ring_, &cqe) == 0) {
      std::uint64_t ud = cqe->user_data;
      int res = cqe->res;
      io_uring_cqe_seen(ring_, cqe);
      auto r = complete(ud, res, &out[n]);
      if (r && *r) n++;
    }
    if (io_uring_sq_ready(ring_) > 0) (void)io_uring_submit(ring_);  // re-queued waits
    if (n > 0 || timeout_ms == 0 || pending_ == 0) break;
    struct __kernel_timespec ts{}, *tsp = nullptr;
    if (timeout_ms > 0) {
      std::uint64_t now = now_ns();
      if (now >= deadline) break;
      std::uint64_t left = deadline - now;
      ts.tv_sec = static_cast<long long>(left / 1000000000u);
      ts.tv_nsec = static_cast<long long>(left % 1000000000u);
      tsp = &ts;
    }
    int w = io_uring_wait_cqe_timeout(ring_, &cqe, tsp);
    if (w == -ETIME) break;
    if (w == -EINTR) return fail(std::errc::interrupted);
    if (w < 0 && w != -EAGAIN) return fail_errno(-w);
  }
  // Completions left for a later call keep the descriptor readable.
  if (io_uring_cq_ready(ring_) > 0) (void)eventfd_write(efd_.get(), 1);
  return n;
}

Result<void *> AsyncContext::cancel(std::uint64_t token) noexcept {
  Entry *e = entry_of(token);
  if (!e) return fail(std::errc::no_such_file_or_directory);
  std::uint32_t idx = static_cast<std::uint32_t>(token & kIndexMask);
  void *user = e->user;
  disarm(idx);
  call_abandon(e->pc);
  release(idx);
  return user;
}

Result<int> AsyncContext::fd() const noexcept {
  if (!owns_ring_) return fail(std::errc::invalid_argument);
  return efd_.get();
}

}  // namespace door::detail
