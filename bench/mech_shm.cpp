// SPDX-License-Identifier: MIT
//
// mech_shm.cpp — the shared-memory mechanisms: the payload travels through a
// MAP_SHARED region mapped before fork(); they differ only in how each side
// learns that the other has written:
//   futex       FUTEX_WAKE / FUTEX_WAIT each way, no spin
//   futex_spin  a bounded adaptive spin first (not when the peer shares the CPU)
//   eventfd     eventfd write / read each way
//   busypoll    both sides spin (the latency floor; burns a CPU per side)
//   shm_memcpy  busy-poll signalling with the fewest copies (client -> shm,
//               server echoes shm -> shm in place, shm -> client): for big
//               payloads its time is the memcpy bandwidth, the floor any
//               shared-memory mechanism (door_call included) can reach
// The others copy the payload four times like door_call does for slot-sized
// data: client -> shm -> server's private buffer -> shm -> client.
#include <linux/futex.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mechanism.h"
#include "proc.h"
#include "shm_channels.h"

namespace bench {
namespace {

// Shared (not PRIVATE) futex operations: the word lives in MAP_SHARED memory
// seen by two processes.
long futex_wait(std::atomic<std::uint32_t> *word, std::uint32_t expected) noexcept {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t *>(word), FUTEX_WAIT, expected, nullptr,
                 nullptr, 0);
}
long futex_wake(std::atomic<std::uint32_t> *word) noexcept {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t *>(word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "futex words must be plain 32-bit atomics");

// ---------------------------------------------------------------------------
// One request and one reply direction per channel, each a sequence word that
// the sender increments after writing the payload.
//
// Ordering invariant: the payload is written before the sequence increment
// (release, seq_cst RMW) and read after observing the new sequence
// (acquire). For the adaptive spin the `waiters` flag and the sequence form
// a Dekker pair (both seq_cst): either the sender sees waiters == 1 and
// issues FUTEX_WAKE, or the waiter sees the new sequence and never sleeps;
// FUTEX_WAIT re-checks the word atomically, so no wake-up is lost.
// ---------------------------------------------------------------------------
struct alignas(64) Dir {
  std::atomic<std::uint32_t> seq{0};
  std::atomic<std::uint32_t> waiters{0};
};

struct Chan {
  Dir req;
  Dir rep;
  alignas(64) std::atomic<int> cpu[2];  // [0] client, [1] server: last CPU seen
  int efd_req = -1, efd_rep = -1;       // eventfd only
};
static_assert(sizeof(Chan) % 64 == 0);

enum class Kind { Futex, FutexSpin, Eventfd, Busypoll, Memcpy };

class ShmMechanism final : public Mechanism {
 public:
  ShmMechanism(Kind kind, unsigned spin_us) : kind_(kind), spin_ns_(spin_us * 1000ull) {}
  ~ShmMechanism() override { stop(); }

  const char *name() const noexcept override {
    switch (kind_) {
      case Kind::Futex: return "futex";
      case Kind::FutexSpin: return "futex_spin";
      case Kind::Eventfd: return "eventfd";
      case Kind::Busypoll: return "busypoll";
      case Kind::Memcpy: return "shm_memcpy";
    }
    return "?";
  }
  const char *description() const noexcept override {
    switch (kind_) {
      case Kind::Futex: return "shared futex FUTEX_WAKE/FUTEX_WAIT each way, no spin; payload via shm (4 copies)";
      case Kind::FutexSpin:
        return "shared futex, the waiter spins up to the spin bound first (not when the peer shares its CPU); "
               "payload via shm (4 copies)";
      case Kind::Eventfd: return "eventfd write/read each way; payload via shm (4 copies)";
      case Kind::Busypoll:
        return "both sides spin on a shared word (burns a CPU per side; yields when the peer shares the CPU); "
               "payload via shm (4 copies)";
      case Kind::Memcpy:
        return "memcpy-bound baseline: busy-poll signalling, 3 copies (client->shm, server echoes in shm, "
               "shm->client)";
    }
    return "?";
  }
  Role role() const noexcept override {
    return kind_ == Kind::Busypoll ? Role::Floor : kind_ == Kind::Memcpy ? Role::Baseline : Role::Blocking;
  }

  void start(const ServeConfig &cfg) override {
    stop();
    payload_ = cfg.payload;
    nchan_ = cfg.channels;
    shm_.map(nchan_, payload_);
    for (unsigned i = 0; i < nchan_; ++i) {
      Chan *c = chan(i);
      c->cpu[0].store(-1);
      c->cpu[1].store(-1);
      if (kind_ == Kind::Eventfd) {
        c->efd_req = eventfd(0, EFD_CLOEXEC);
        c->efd_rep = eventfd(0, EFD_CLOEXEC);
        if (c->efd_req < 0 || c->efd_rep < 0) fail("eventfd");
      }
    }
    server_ = ServerProcess::fork(cfg.server_cpu, [this] { run_per_channel(nchan_, [this](unsigned i) { serve(i); }); });
  }

  std::int64_t server_cpu_ns() const noexcept override { return server_.cpu_ns(); }

  void roundtrip(unsigned ch, const char *req, char *rep, std::size_t n) override {
    Chan &c = *chan(ch);
    // Only our own request produces a reply: the count before it is the one to wait past.
    const std::uint32_t seen = c.rep.seq.load(std::memory_order_acquire);
    std::memcpy(req_buf(ch), req, n);
    signal(c.req, c.efd_req);
    wait(c, c.rep, seen, c.efd_rep, 0);
    std::memcpy(rep, rep_buf(ch), n);
  }

  void stop() noexcept override {
    server_.kill();
    for (unsigned i = 0; i < shm_.size(); ++i) {
      if (chan(i)->efd_req >= 0) close(chan(i)->efd_req);
      if (chan(i)->efd_rep >= 0) close(chan(i)->efd_rep);
    }
    shm_.unmap();
  }

 private:
  Chan *chan(unsigned i) const { return shm_.header(i); }
  char *req_buf(unsigned i) const { return shm_.req(i); }
  char *rep_buf(unsigned i) const { return shm_.rep(i); }

  // Server thread of channel i: echo every request.
  void serve(unsigned i) {
    Chan &c = *chan(i);
    std::vector<char> local(payload_ ? payload_ : 1);
    for (std::uint32_t seen = 0;; ++seen) {
      wait(c, c.req, seen, c.efd_req, 1);
      if (kind_ == Kind::Memcpy) {
        std::memcpy(rep_buf(i), req_buf(i), payload_);
      } else {
        // A server must not trust memory its client can still rewrite.
        std::memcpy(local.data(), req_buf(i), payload_);
        std::memcpy(rep_buf(i), local.data(), payload_);
      }
      signal(c.rep, c.efd_rep);
    }
  }

  void signal(Dir &d, int efd) {
    switch (kind_) {
      case Kind::Futex:
        d.seq.fetch_add(1, std::memory_order_seq_cst);
        futex_wake(&d.seq);
        break;
      case Kind::FutexSpin:
        d.seq.fetch_add(1, std::memory_order_seq_cst);
        if (d.waiters.load(std::memory_order_seq_cst)) futex_wake(&d.seq);
        break;
      case Kind::Busypoll:
      case Kind::Memcpy:
        d.seq.fetch_add(1, std::memory_order_release);
        break;
      case Kind::Eventfd: {
        std::atomic_thread_fence(std::memory_order_release);
        const std::uint64_t one = 1;
        while (write(efd, &one, sizeof one) != sizeof one)
          if (errno != EINTR) fail("eventfd write");
        break;
      }
    }
  }

  // Waits until d.seq != seen. `self` is 0 for the client, 1 for the server.
  void wait(Chan &c, Dir &d, std::uint32_t seen, int efd, int self) {
    switch (kind_) {
      case Kind::Futex:
        while (d.seq.load(std::memory_order_acquire) == seen) futex_wait(&d.seq, seen);
        break;
      case Kind::FutexSpin: {
        const int me = sched_getcpu();
        c.cpu[self].store(me, std::memory_order_relaxed);
        // A spin on a CPU shared with the peer only delays the peer.
        if (c.cpu[1 - self].load(std::memory_order_relaxed) != me) {
          const std::uint64_t deadline = now_ns() + spin_ns_;
          for (unsigned i = 1;; ++i) {
            if (d.seq.load(std::memory_order_acquire) != seen) return;
            cpu_relax();
            if ((i & 15) == 0 && now_ns() >= deadline) break;
          }
        }
        d.waiters.store(1, std::memory_order_seq_cst);
        while (d.seq.load(std::memory_order_seq_cst) == seen) futex_wait(&d.seq, seen);
        d.waiters.store(0, std::memory_order_relaxed);
        break;
      }
      case Kind::Busypoll:
      case Kind::Memcpy: {
        c.cpu[self].store(sched_getcpu(), std::memory_order_relaxed);
        for (unsigned i = 1; d.seq.load(std::memory_order_acquire) == seen; ++i) {
          cpu_relax();
          if ((i & 63) == 0) {
            // Same CPU as the peer: spinning cannot make progress, yield.
            // Spinning very long: the peer was preempted, yield too.
            const int me = sched_getcpu();
            c.cpu[self].store(me, std::memory_order_relaxed);
            if (c.cpu[1 - self].load(std::memory_order_relaxed) == me || i >= (1u << 14)) sched_yield();
          }
        }
        break;
      }
      case Kind::Eventfd: {
        std::uint64_t v;
        while (read(efd, &v, sizeof v) != sizeof v)
          if (errno != EINTR) fail("eventfd read");
        std::atomic_thread_fence(std::memory_order_acquire);
        break;
      }
    }
  }

  Kind kind_;
  std::uint64_t spin_ns_;
  std::size_t payload_ = 0;
  unsigned nchan_ = 0;
  ShmChannels<Chan> shm_;
  ServerProcess server_;
};

}  // namespace

std::unique_ptr<Mechanism> make_futex() { return std::make_unique<ShmMechanism>(Kind::Futex, 0); }
std::unique_ptr<Mechanism> make_futex_spin(unsigned spin_us) {
  return std::make_unique<ShmMechanism>(Kind::FutexSpin, spin_us);
}
std::unique_ptr<Mechanism> make_eventfd() { return std::make_unique<ShmMechanism>(Kind::Eventfd, 0); }
std::unique_ptr<Mechanism> make_busypoll() { return std::make_unique<ShmMechanism>(Kind::Busypoll, 0); }
std::unique_ptr<Mechanism> make_shm_memcpy() { return std::make_unique<ShmMechanism>(Kind::Memcpy, 0); }

}  // namespace bench
