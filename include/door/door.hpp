// SPDX-License-Identifier: MIT
//
// door/door.hpp — door::Door, an owned door descriptor with a C++ handler,
// and the umbrella header of the C++ doors API (it includes every other
// <door/*.hpp>).
//
// The C++ API is header-only over the C API of <door.h>, which stays the
// stable ABI of libdoor.so.1: nothing here adds an exported symbol. Every
// function is noexcept and reports errors as door::Result, except where a
// user handler runs (Door::create's handler, Reply/Request builders used
// inside one).
//
//   auto d = door::Door::create([](door::Request &rq) { rq.reply(rq.data()); });
//   auto r = d->call("hi");   // r->text() == "hi"; r.error() is a std::error_code
#pragma once

#include <cxxabi.h>
#include <door.h>

#include <atomic>
#include <concepts>
#include <cstddef>
#include <memory>
#include <new>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include <door/credentials.hpp>
#include <door/descriptor.hpp>
#include <door/error.hpp>
#include <door/reply.hpp>
#include <door/request.hpp>

namespace door {

/// A callable that can serve a door: invoked as `h(request)`, it returns
/// nothing (answering with Request::reply(), or an empty reply) or a Reply.
template <class F>
concept Handler = std::invocable<F &, Request &> &&
                  (std::is_void_v<std::invoke_result_t<F &, Request &>> ||
                   std::convertible_to<std::invoke_result_t<F &, Request &>, Reply>);

/// Results up to this size are received into a per-thread buffer and copied
/// into the Reply; larger ones arrive in a mapping door_call() makes.
inline constexpr std::size_t kDefaultReplyBuffer = 128 * 1024;

namespace impl {

/// The cookie of a door made by Door::create(): the handler and a count of
/// its users. Lifetime, and why the block itself is never freed:
///
/// `refs` counts the owning Door (1) plus every invocation running the
/// handler. An invocation enters only by incrementing a NON-ZERO count
/// (weak_ptr::lock), so once the count has dropped to zero nothing can
/// reach `fn` again; whoever drops it to zero destroys the handler. The
/// owner drops its reference after door_revoke(), but an invocation libdoor
/// let through just before the revocation may still be about to read the
/// cookie: the block (a few words) therefore stays allocated for the life
/// of the process, and such a late invocation finds refs == 0 and ends
/// without running anything (its caller gets EINTR). acq_rel on every
/// change orders the handler's last use before its destruction.
struct HandlerBlock {
  std::atomic<long> refs{1};
  void *fn = nullptr;
  void (*invoke)(void *fn, Request &rq) = nullptr;
  void (*destroy)(void *fn) noexcept = nullptr;

  /// Takes a reference unless the handler is already gone.
  bool acquire() noexcept {
    long n = refs.load(std::memory_order_relaxed);
    while (n != 0)
      if (refs.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel, std::memory_order_relaxed)) return true;
    return false;
  }
  /// Drops a reference; the last one destroys the handler.
  void release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      destroy(fn);
      fn = nullptr;
    }
  }
};

/// What a server thread hands to door_return(): trivially destructible, so
/// the trampoline's frame holds nothing that door_return() would skip.
struct ReturnArgs {
  char *data = nullptr;
  std::size_t size = 0;
  door_desc_t *descs = nullptr;
  uint_t ndesc = 0;
};

/// Per-thread storage for the reply being returned. door_return() never
/// returns, so the reply cannot live on the trampoline's frame: it lives
/// here until the thread's next invocation (or its exit) replaces it.
struct PendingReturn {
  Reply reply;
  door_desc_t *descs = nullptr;
  std::size_t cap = 0;
  PendingReturn() = default;
  PendingReturn(const PendingReturn &) = delete;
  PendingReturn &operator=(const PendingReturn &) = delete;
  ~PendingReturn() { delete[] descs; }
};

/// This thread's PendingReturn.
inline PendingReturn &pending_return() noexcept {
  thread_local PendingReturn p;
  return p;
}

/// Runs one invocation: every object with a destructor lives and dies in
/// this function, before the trampoline calls door_return(). Returns false
/// when there is nothing to return (the handler threw, or it is gone):
/// the trampoline then returns without door_return(), which fails the
/// call with EINTR and ends the thread, as on illumos. Thread cancellation
/// (abi::__forced_unwind) passes through.
inline bool run_invocation(HandlerBlock *b, char *argp, std::size_t size, door_desc_t *dp, uint_t ndesc,
                           ReturnArgs &out) {
  PendingReturn &pr = pending_return();
  pr.reply = Reply();  // the previous invocation's reply was sent long ago
  if (!b->acquire()) {
    Request closes_descriptors(argp, size, dp, ndesc);
    return false;
  }
  struct Hold {
    HandlerBlock *b;
    ~Hold() { b->release(); }
  } hold{b};
  try {
    Request rq(argp, size, dp, ndesc);
    b->invoke(b->fn, rq);
    if (rq.unreferenced()) return true;  // no caller: return nothing
    pr.reply = std::move(rq.pending_reply());
    auto fds = pr.reply.descriptors();
    if (fds.size() > pr.cap) {
      delete[] pr.descs;
      pr.descs = nullptr;
      pr.cap = 0;
      pr.descs = new door_desc_t[fds.size()];
      pr.cap = fds.size();
    }
    for (std::size_t k = 0; k < fds.size(); k++) pr.descs[k] = pass_and_close(std::move(fds[k]));
    out.data = const_cast<char *>(reinterpret_cast<const char *>(pr.reply.data().data()));
    out.size = pr.reply.data().size();
    out.descs = fds.empty() ? nullptr : pr.descs;
    out.ndesc = static_cast<uint_t>(fds.size());
    return true;
  } catch (abi::__forced_unwind &) {
    throw;  // cancellation unwinds on to libdoor, which fails the call
  } catch (...) {
    pr.reply = Reply();
    return false;
  }
}

/// The server procedure of every door made by Door::create(). Holds only
/// trivially destructible locals: door_return() discards this frame.
inline void trampoline(void *cookie, char *argp, std::size_t size, door_desc_t *dp, uint_t ndesc) {
  ReturnArgs r;
  if (!run_invocation(static_cast<HandlerBlock *>(cookie), argp, size, dp, ndesc, r)) return;
  door_return(r.data, r.size, r.descs, r.ndesc);
  // door_return() failed (E2BIG: the caller wants no results; EINVAL,
  // EMFILE: descriptors): the DOOR_RELEASE descriptors were not sent and
  // are still ours. Close them and answer with nothing.
  for (uint_t k = 0; k < r.ndesc; k++) ::close(r.descs[k].d_data.d_desc.d_descriptor);
  door_return(nullptr, 0, nullptr, 0);
}

/// Per-thread result buffer offered to door_call() by Door::call().
struct CallScratch {
  std::byte *buf = nullptr;
  CallScratch() = default;
  CallScratch(const CallScratch &) = delete;
  CallScratch &operator=(const CallScratch &) = delete;
  ~CallScratch() { ::operator delete(buf); }
};

/// This thread's result buffer (kDefaultReplyBuffer bytes), allocated on
/// first use; nullptr when that allocation fails.
inline std::byte *call_scratch() noexcept {
  thread_local CallScratch s;
  if (!s.buf) s.buf = static_cast<std::byte *>(::operator new(kDefaultReplyBuffer, std::nothrow));
  return s.buf;
}

}  // namespace impl

/// A door descriptor, owned. A Door made by create() also owns the door
/// itself: destroying it (or revoke()) revokes the door and destroys the
/// handler once the invocations running it have finished. A Door adopting
/// a received descriptor (Door(Fd)) only closes that descriptor.
class Door {
 public:
  /// No door.
  Door() noexcept = default;
  /// Adopts a descriptor naming a door (received in a reply, inherited, or
  /// opened through fattach(3)). Not checked: info() tells.
  explicit Door(Fd fd) noexcept : fd_(std::move(fd)) {}
  /// Revokes the door if this Door created it; closes the descriptor.
  ~Door() { (void)revoke(); }
  /// Takes over `other`'s descriptor (and door); `other` becomes empty.
  Door(Door &&other) noexcept : fd_(std::move(other.fd_)), block_(std::exchange(other.block_, nullptr)) {}
  /// Releases ours as the destructor does, then takes over `other`'s.
  Door &operator=(Door &&other) noexcept {
    if (this != &other) {
      (void)revoke();
      fd_ = std::move(other.fd_);
      block_ = std::exchange(other.block_, nullptr);
    }
    return *this;
  }
  Door(const Door &) = delete;
  Door &operator=(const Door &) = delete;

  /// Creates a door served by `handler` (door_create(3)): it runs on
  /// libdoor's server threads, concurrently with itself, once per call,
  /// with a Request; its reply (returned, or set with Request::reply())
  /// goes back to the caller. A handler that throws fails that call with
  /// EINTR and ends its server thread. The handler must not call
  /// door_return() itself (that would skip the destructors of the Request
  /// and of the trampoline's bookkeeping). `attributes`: DOOR_UNREF,
  /// DOOR_UNREF_MULTI, DOOR_PRIVATE, DOOR_REFUSE_DESC, DOOR_NO_CANCEL,
  /// DOOR_ARGS_IN_PLACE_NP (the Request's data then lies in memory the
  /// client can change during the call: copy before validating).
  /// Errors: EINVAL (attributes), EMFILE, ENOMEM, EAGAIN.
  template <Handler F>
  [[nodiscard]] static Result<Door> create(F &&handler, door_attr_t attributes = 0) noexcept(
      std::is_nothrow_constructible_v<std::decay_t<F>, F>) {
    using Fn = std::decay_t<F>;
    std::unique_ptr<impl::HandlerBlock> owner(new (std::nothrow) impl::HandlerBlock);
    if (!owner) return unexpected_errno(ENOMEM);
    impl::HandlerBlock *b = owner.get();
    Fn *fn = new (std::nothrow) Fn(std::forward<F>(handler));  // may throw: owner frees b
    if (!fn) return unexpected_errno(ENOMEM);
    b->fn = fn;
    b->invoke = [](void *f, Request &rq) {
      Fn &h = *static_cast<Fn *>(f);
      if constexpr (std::is_void_v<std::invoke_result_t<Fn &, Request &>>) {
        h(rq);
      } else {
        rq.reply(Reply(h(rq)));
      }
    };
    b->destroy = [](void *f) noexcept { delete static_cast<Fn *>(f); };
    int d = door_create(&impl::trampoline, b, attributes);
    if (d < 0) {
      int e = errno;
      b->destroy(fn);
      return unexpected_errno(e);  // owner frees b: libdoor never saw it
    }
    Door door{Fd(d)};
    door.block_ = owner.release();  // from now on never freed (HandlerBlock)
    return door;
  }

  /// Calls the door (door_call(3)) with `args` and the descriptors in
  /// `descs` (see door::pass()), and returns its results. Results larger
  /// than `rbuf_size` bytes arrive in a mapping that the Reply unmaps.
  /// Errors: those of door_call(3) — EBADF, EINTR, EAGAIN, ENOBUFS,
  /// ENOTSUP, ENFILE, EMFILE, EINVAL, E2BIG, EOVERFLOW — and ENOMEM.
  [[nodiscard]] Result<Reply> call(std::span<const std::byte> args, std::span<const door_desc_t> descs = {},
                                   std::size_t rbuf_size = kDefaultReplyBuffer) const noexcept {
    std::byte *scratch = nullptr, *heap = nullptr;
    if (rbuf_size <= kDefaultReplyBuffer) {
      scratch = impl::call_scratch();
      if (!scratch) return unexpected_errno(ENOMEM);
    } else {
      heap = static_cast<std::byte *>(::operator new(rbuf_size, std::nothrow));
      if (!heap) return unexpected_errno(ENOMEM);
    }
    door_arg_t a{};
    a.data_ptr = const_cast<char *>(reinterpret_cast<const char *>(args.data()));
    a.data_size = args.size();
    a.desc_ptr = const_cast<door_desc_t *>(descs.data());
    a.desc_num = static_cast<uint_t>(descs.size());
    a.rbuf = reinterpret_cast<char *>(scratch ? scratch : heap);
    a.rsize = rbuf_size;
    if (door_call(fd_.get(), &a) != 0) {
      int e = errno;
      ::operator delete(heap);
      return unexpected_errno(e);
    }
    return impl::adopt_call_results(a, scratch, heap, rbuf_size);
  }
  /// Calls the door with the characters of `text` as arguments.
  [[nodiscard]] Result<Reply> call(std::string_view text, std::span<const door_desc_t> descs = {}) const noexcept {
    return call(std::as_bytes(std::span(text.data(), text.size())), descs);
  }

  /// Describes the door (door_info(3)). Errors: EBADF.
  [[nodiscard]] Result<door_info_t> info() const noexcept {
    door_info_t i{};
    if (door_info(fd_.get(), &i) != 0) return unexpected_errno();
    return i;
  }
  /// Reads a door parameter, DOOR_PARAM_DATA_MIN, DOOR_PARAM_DATA_MAX,
  /// DOOR_PARAM_DESC_MAX or one of the DOOR_PARAM_*_NP resource limits
  /// (door_getparam(3)). Errors: EBADF, EINVAL.
  [[nodiscard]] Result<std::size_t> param(int which) const noexcept {
    std::size_t v = 0;
    if (door_getparam(fd_.get(), which, &v) != 0) return unexpected_errno();
    return v;
  }
  /// Sets a door parameter (door_setparam(3); creator only). Errors:
  /// EBADF, EPERM, EINVAL, ERANGE, ENOTSUP.
  [[nodiscard]] Result<void> set_param(int which, std::size_t value) noexcept {
    if (door_setparam(fd_.get(), which, value) != 0) return unexpected_errno();
    return {};
  }

  /// Revokes the door (door_revoke(3)): new calls fail with EBADF, calls
  /// already running finish. Closes the descriptor. A Door that did not
  /// create its door only closes its descriptor (and reports nothing).
  /// Errors: EBADF, EPERM (a door made by door_create() elsewhere).
  Result<void> revoke() noexcept {
    if (!block_) {
      fd_.reset();
      return {};
    }
    if (door_revoke(fd_.get()) != 0) return unexpected_errno();
    (void)fd_.release();  // door_revoke() closed it
    std::exchange(block_, nullptr)->release();
    return {};
  }

  /// The descriptor number (-1: none); ownership is kept.
  [[nodiscard]] int get() const noexcept { return fd_.get(); }
  /// The owned descriptor.
  [[nodiscard]] const Fd &fd() const noexcept { return fd_; }
  /// True when a descriptor is owned.
  explicit operator bool() const noexcept { return static_cast<bool>(fd_); }
  /// Gives up the descriptor without revoking; a created door's handler
  /// then stays alive for the life of the process.
  [[nodiscard]] Fd release() noexcept {
    block_ = nullptr;
    return std::move(fd_);
  }

 private:
  Fd fd_;
  impl::HandlerBlock *block_ = nullptr;  ///< set when this Door created the door
};

/// The libdoor version, "major.minor.patch" (door_version_np()).
[[nodiscard]] inline const char *version() noexcept { return door_version_np(); }

}  // namespace door
