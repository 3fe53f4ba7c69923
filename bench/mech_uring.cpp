// SPDX-License-Identifier: MIT
//
// mech_uring.cpp — io_uring futex ping-pong: each side publishes its message
// in shared memory and submits a FUTEX_WAKE of the peer's word LINKED
// (IOSQE_IO_LINK) to a FUTEX_WAIT on its own word, i.e. "wake the other side
// and sleep" in one io_uring_enter. Needs kernel >= 6.7 and liburing >= 2.6
// (io_uring_prep_futex_wake/wait). Each process uses its own ring (rings are
// made in attach() / in the server thread, never inherited across fork).
#include <linux/futex.h>
#include <liburing.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "mechanism.h"
#include "proc.h"
#include "shm_channels.h"

#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02  // uapi <linux/futex.h> of 6.7; older headers lack it
#endif

namespace bench {
namespace {

struct alignas(64) Words {
  std::atomic<std::uint32_t> req{0};
  alignas(64) std::atomic<std::uint32_t> rep{0};
};
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));

/// One ring; frees itself.
struct Ring {
  io_uring r{};
  bool ok = false;
  Ring() {
    const int e = io_uring_queue_init(8, &r, 0);
    if (e < 0) {
      errno = -e;
      fail("io_uring_queue_init");
    }
    ok = true;
  }
  ~Ring() {
    if (ok) io_uring_queue_exit(&r);
  }
  Ring(const Ring &) = delete;
  Ring &operator=(const Ring &) = delete;

  /// Wakes `wake` (if non-null) then waits while *wait == seen, linked.
  ///
  /// Invariant: the caller has already published its message and bumped
  /// *wake; FUTEX_WAIT re-checks *wait == seen atomically in the kernel, so
  /// a reply that lands before the wait is armed makes it return -EAGAIN
  /// (not sleep), and the loop re-arms only while the word is unchanged.
  void wake_and_wait(std::atomic<std::uint32_t> *wake, std::atomic<std::uint32_t> *wait, std::uint32_t seen) {
    unsigned pending = 0;
    if (wake) {
      io_uring_sqe *s = io_uring_get_sqe(&r);
      io_uring_prep_futex_wake(s, reinterpret_cast<std::uint32_t *>(wake), 1, FUTEX_BITSET_MATCH_ANY,
                               FUTEX2_SIZE_U32, 0);
      s->flags |= IOSQE_IO_LINK;
      ++pending;
    }
    for (;;) {
      io_uring_sqe *s = io_uring_get_sqe(&r);
      io_uring_prep_futex_wait(s, reinterpret_cast<std::uint32_t *>(wait), seen, FUTEX_BITSET_MATCH_ANY,
                               FUTEX2_SIZE_U32, 0);
      ++pending;
      int e = io_uring_submit_and_wait(&r, pending);
      if (e < 0 && e != -EINTR) {
        errno = -e;
        fail("io_uring_submit_and_wait");
      }
      while (pending) {
        io_uring_cqe *c;
        e = io_uring_wait_cqe(&r, &c);
        if (e == -EINTR) continue;
        if (e < 0) {
          errno = -e;
          fail("io_uring_wait_cqe");
        }
        const int res = c->res;
        io_uring_cqe_seen(&r, c);
        --pending;
        if (res < 0 && res != -EAGAIN && res != -EINTR && res != -ECANCELED) {
          errno = -res;
          fail("io_uring futex op");
        }
      }
      if (wait->load(std::memory_order_acquire) != seen) return;
    }
  }
};

class UringMechanism final : public Mechanism {
 public:
  ~UringMechanism() override { stop(); }
  const char *name() const noexcept override { return "io_uring"; }
  const char *description() const noexcept override {
    return "io_uring FUTEX_WAKE linked to FUTEX_WAIT (one io_uring_enter per side per message); payload via "
           "shm (4 copies)";
  }
  std::string unavailable() const override {
    io_uring_probe *p = io_uring_get_probe();
    if (!p) return "io_uring not available";
    const bool ok = io_uring_opcode_supported(p, IORING_OP_FUTEX_WAIT) &&
                    io_uring_opcode_supported(p, IORING_OP_FUTEX_WAKE);
    io_uring_free_probe(p);
    return ok ? "" : "kernel lacks IORING_OP_FUTEX_WAIT/WAKE (needs 6.7+)";
  }

  void start(const ServeConfig &cfg) override {
    stop();
    payload_ = cfg.payload;
    nchan_ = cfg.channels;
    shm_.map(nchan_, payload_);
    server_ = ServerProcess::fork(cfg.server_cpu, [this] {
      run_per_channel(nchan_, [this](unsigned i) {
        Ring ring;
        Words &w = *words(i);
        std::vector<char> local(payload_ ? payload_ : 1);
        ring.wake_and_wait(nullptr, &w.req, 0);
        for (std::uint32_t seen = 1;; ++seen) {
          std::memcpy(local.data(), req_buf(i), payload_);
          std::memcpy(rep_buf(i), local.data(), payload_);
          w.rep.fetch_add(1, std::memory_order_seq_cst);
          ring.wake_and_wait(&w.rep, &w.req, seen);
        }
      });
    });
  }

  std::int64_t server_cpu_ns() const noexcept override { return server_.cpu_ns(); }

  void attach(unsigned ch) override {
    if (!rings_.count(ch)) rings_.emplace(ch, std::make_unique<Ring>());
  }

  void roundtrip(unsigned ch, const char *req, char *rep, std::size_t n) override {
    attach(ch);
    Words &w = *words(ch);
    const std::uint32_t seen = w.rep.load(std::memory_order_acquire);
    std::memcpy(req_buf(ch), req, n);
    w.req.fetch_add(1, std::memory_order_seq_cst);
    rings_[ch]->wake_and_wait(&w.req, &w.rep, seen);
    std::memcpy(rep, rep_buf(ch), n);
  }

  void stop() noexcept override {
    server_.kill();
    rings_.clear();
    shm_.unmap();
  }

 private:
  Words *words(unsigned i) const { return shm_.header(i); }
  char *req_buf(unsigned i) const { return shm_.req(i); }
  char *rep_buf(unsigned i) const { return shm_.rep(i); }

  std::size_t payload_ = 0;
  unsigned nchan_ = 0;
  ShmChannels<Words> shm_;
  std::map<unsigned, std::unique_ptr<Ring>> rings_;
  ServerProcess server_;
};

}  // namespace

std::unique_ptr<Mechanism> make_uring() { return std::make_unique<UringMechanism>(); }

}  // namespace bench
