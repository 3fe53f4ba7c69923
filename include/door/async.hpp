// SPDX-License-Identifier: MIT
//
// door/async.hpp — door::Async, door calls that do not block a thread,
// completed through io_uring (header-only over <door_async.h>).
//
// Present only when libdoor was built with liburing (it is not included by
// <door/door.hpp>; include it yourself). Two ways to collect completions:
//
//   // 1. Pollable: the context owns its ring; fd() goes into epoll.
//   auto ax = door::Async::create(64);
//   auto tok = ax->call(door, "hello", &my_state);
//   ... epoll says ax->fd() is readable ...
//   std::array<door::AsyncResult, 16> done;
//   auto n = ax->reap(done, 0);           // done[k].reply->text()
//
//   // 2. Your io_uring: libdoor queues IORING_OP_FUTEX_WAIT SQEs on it.
//   auto ax = door::Async::attach(ring, 64);
//   ... for each CQE: if (door::Async::is_token(cqe->user_data))
//         if (auto r = ax->complete(cqe->user_data, cqe->res); r && *r) use(**r);
//
// Every function is noexcept and reports errors as door::Result.
#pragma once

#include <door.h>
#include <door_async.h>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include <door/error.hpp>
#include <door/reply.hpp>

namespace door {

/// Result buffer offered to each asynchronous call by default; larger
/// results arrive in a mapping libdoor makes (the Reply unmaps it).
inline constexpr std::size_t kDefaultAsyncReplyBuffer = 4096;

/// A finished asynchronous call.
struct AsyncResult {
  std::uint64_t token = 0;  ///< the token Async::call() returned
  void *user = nullptr;     ///< the user pointer given to Async::call()
  Result<Reply> reply;      ///< the results, or door_call(3)'s errno
};

namespace impl {

/// Per-call storage: the door_arg_t libdoor writes the results into and
/// the result buffer, owned by the Async (intrusive list) until the call
/// finishes or is cancelled.
struct AsyncBox {
  door_arg_t args{};
  std::byte *buf = nullptr;
  std::size_t cap = 0;
  void *user = nullptr;
  AsyncBox *prev = nullptr;
  AsyncBox *next = nullptr;
};

}  // namespace impl

/// An asynchronous call context (door_async_create_np(3)): up to `depth`
/// door calls in flight from one thread at a time. Move-only; destroying
/// it cancels the calls still pending (door_async_destroy_np(3)).
class Async {
 public:
  /// No context.
  Async() noexcept = default;
  /// Cancels pending calls and frees the context.
  ~Async() { reset(); }
  /// Takes over `other`'s context; `other` becomes empty.
  Async(Async &&other) noexcept
      : ax_(std::exchange(other.ax_, nullptr)), boxes_(std::exchange(other.boxes_, nullptr)) {}
  /// Releases ours as the destructor does, then takes over `other`'s.
  Async &operator=(Async &&other) noexcept {
    if (this != &other) {
      reset();
      ax_ = std::exchange(other.ax_, nullptr);
      boxes_ = std::exchange(other.boxes_, nullptr);
    }
    return *this;
  }
  Async(const Async &) = delete;
  Async &operator=(const Async &) = delete;

  /// A context with its own io_uring and a pollable descriptor (fd()).
  /// Errors: EINVAL (depth), ENOSYS (Linux < 5.18: neither io_uring futex
  /// waits nor futex_waitv and IORING_OP_MSG_RING for the watcher thread
  /// that stands in for them before 6.7), ENOMEM, and io_uring_queue_init's
  /// errnos (EPERM, EMFILE).
  [[nodiscard]] static Result<Async> create(unsigned depth = 64) noexcept { return make(nullptr, depth); }
  /// A context whose completions arrive on `ring` (not SQPOLL), with an
  /// io_uring user_data that is_token() recognises. Errors as create().
  [[nodiscard]] static Result<Async> attach(struct io_uring &ring, unsigned depth = 64) noexcept {
    return make(&ring, depth);
  }

  /// True if an io_uring user_data is a libdoor token.
  [[nodiscard]] static constexpr bool is_token(std::uint64_t user_data) noexcept {
    return DOOR_ASYNC_IS_TOKEN(user_data);
  }

  /// Posts a call to door descriptor `d` with `args` (copied now) and the
  /// descriptors in `descs`, returning its token; `user` comes back in its
  /// AsyncResult. Errors: door_call(3)'s errnos detected before the call
  /// runs (EBADF, ENOBUFS, ENOTSUP, ENFILE, EINVAL, E2BIG, EMFILE), EBUSY
  /// (depth calls in flight, or the ring's submission queue is full),
  /// ENOMEM.
  [[nodiscard]] Result<std::uint64_t> call(int d, std::span<const std::byte> args, void *user = nullptr,
                                           std::span<const door_desc_t> descs = {},
                                           std::size_t rbuf_size = kDefaultAsyncReplyBuffer) noexcept {
    auto *box = new (std::nothrow) impl::AsyncBox;
    if (!box) return unexpected_errno(ENOMEM);
    box->cap = std::max<std::size_t>(rbuf_size, 1);
    box->buf = static_cast<std::byte *>(::operator new(box->cap, std::nothrow));
    if (!box->buf) {
      delete box;
      return unexpected_errno(ENOMEM);
    }
    box->user = user;
    box->args.data_ptr = const_cast<char *>(reinterpret_cast<const char *>(args.data()));
    box->args.data_size = args.size();
    box->args.desc_ptr = const_cast<door_desc_t *>(descs.data());
    box->args.desc_num = static_cast<uint_t>(descs.size());
    box->args.rbuf = reinterpret_cast<char *>(box->buf);
    box->args.rsize = box->cap;
    std::uint64_t token = 0;
    if (door_call_async_np(d, &box->args, ax_, box, &token) != 0) {
      int e = errno;
      free_box(box);
      return unexpected_errno(e);
    }
    link(box);
    return token;
  }
  /// Posts a call with the characters of `text` as arguments.
  [[nodiscard]] Result<std::uint64_t> call(int d, std::string_view text, void *user = nullptr) noexcept {
    return call(d, std::as_bytes(std::span(text.data(), text.size())), user);
  }
  /// Posts a call to a door object (door::Door, door::Fd: anything with get()).
  template <class D>
    requires requires(const D &x) {
      { x.get() } -> std::convertible_to<int>;
    }
  [[nodiscard]] Result<std::uint64_t> call(const D &door, std::string_view text, void *user = nullptr) noexcept {
    return call(door.get(), text, user);
  }

  /// Hands a CQE of the attached ring to the context: the finished call,
  /// or nullopt when none finished (a stale completion, or the call's wait
  /// was queued again: submit the ring). Errors: EINVAL (not a token of
  /// this context).
  [[nodiscard]] Result<std::optional<AsyncResult>> complete(std::uint64_t user_data, int res) noexcept {
    door_async_result_t r;
    int n = door_async_complete_np(ax_, user_data, res, &r);
    if (n < 0) return unexpected_errno();
    if (n == 0) return std::optional<AsyncResult>{};
    return std::optional<AsyncResult>{finish(r)};
  }

  /// Collects finished calls into `out` (own ring only), waiting up to
  /// `timeout_ms` (0: not at all, -1: until one finishes) for the first.
  /// Returns how many were stored. Errors: EINVAL (attached context),
  /// EINTR (a signal arrived while waiting).
  [[nodiscard]] Result<std::size_t> reap(std::span<AsyncResult> out, int timeout_ms = -1) noexcept {
    constexpr std::size_t kChunk = 64;
    door_async_result_t raw[kChunk];
    unsigned max = static_cast<unsigned>(std::min(out.size(), kChunk));
    int n = door_async_reap_np(ax_, raw, max, timeout_ms);
    if (n < 0) return unexpected_errno();
    for (int k = 0; k < n; k++) out[k] = finish(raw[k]);
    return static_cast<std::size_t>(n);
  }

  /// Cancels a pending call (door_async_cancel_np(3)); returns its user
  /// pointer. It never completes. Errors: ENOENT (no such pending call).
  Result<void *> cancel(std::uint64_t token) noexcept {
    void *raw = nullptr;
    if (door_async_cancel_np(ax_, token, &raw) != 0) return unexpected_errno();
    auto *box = static_cast<impl::AsyncBox *>(raw);
    void *user = box->user;
    unlink(box);
    free_box(box);
    return user;
  }

  /// The pollable descriptor of a create()d context (-1 for attach()).
  [[nodiscard]] int fd() const noexcept {
    int f = ax_ ? door_async_fd_np(ax_) : -1;
    return f < 0 ? -1 : f;
  }
  /// Calls pending.
  [[nodiscard]] std::size_t pending() const noexcept {
    int n = ax_ ? door_async_pending_np(ax_) : 0;
    return n < 0 ? 0 : static_cast<std::size_t>(n);
  }
  /// The C context (ownership is kept).
  [[nodiscard]] door_async_t *native() const noexcept { return ax_; }
  /// True when a context is owned.
  explicit operator bool() const noexcept { return ax_ != nullptr; }

 private:
  explicit Async(door_async_t *ax) noexcept : ax_(ax) {}

  static Result<Async> make(struct io_uring *ring, unsigned depth) noexcept {
    door_async_t *ax = door_async_create_np(ring, depth, 0);
    if (!ax) return unexpected_errno();
    return Async(ax);
  }
  void link(impl::AsyncBox *b) noexcept {
    b->next = boxes_;
    if (boxes_) boxes_->prev = b;
    boxes_ = b;
  }
  void unlink(impl::AsyncBox *b) noexcept {
    if (b->prev) b->prev->next = b->next;
    else boxes_ = b->next;
    if (b->next) b->next->prev = b->prev;
  }
  static void free_box(impl::AsyncBox *b) noexcept {
    ::operator delete(b->buf);
    delete b;
  }
  /// Turns a C completion into an AsyncResult and frees its box (the
  /// result buffer is adopted by the Reply, or freed).
  AsyncResult finish(const door_async_result_t &r) noexcept {
    auto *box = static_cast<impl::AsyncBox *>(r.user);
    unlink(box);
    AsyncResult out;
    out.token = r.token;
    out.user = box->user;
    if (r.error != 0) {
      ::operator delete(box->buf);
      out.reply = unexpected_errno(r.error);
    } else {
      out.reply = impl::adopt_call_results(box->args, nullptr, box->buf, box->cap);
    }
    delete box;
    return out;
  }
  void reset() noexcept {
    if (!ax_) return;
    door_async_destroy_np(std::exchange(ax_, nullptr));  // cancels: no box is in use now
    while (boxes_) {
      impl::AsyncBox *b = boxes_;
      boxes_ = b->next;
      free_box(b);
    }
  }

  door_async_t *ax_ = nullptr;
  impl::AsyncBox *boxes_ = nullptr;  ///< calls pending (their storage)
};

}  // namespace door
