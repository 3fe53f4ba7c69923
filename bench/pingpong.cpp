// SPDX-License-Identifier: MIT
//
// pingpong.cpp — the baseline mechanisms of door_bench: futex (no spin),
// futex with adaptive spin, eventfd + shm, pipe pair, busy-poll.
//
// Each one forks a server process per (placement, payload, repeat) cell and
// SIGKILLs it afterwards; the child also dies with its parent
// (PR_SET_PDEATHSIG), so an interrupted benchmark leaves nothing behind.
#include "pingpong.h"

#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace bench {
namespace {

[[noreturn]] void fail(const std::string &what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

inline std::uint64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

std::vector<int> read_allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) fail("sched_getaffinity");
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

// Shared (not PRIVATE) futex operations: the word lives in MAP_SHARED memory
// seen by two processes.
long futex_wait(std::atomic<std::uint32_t> *word, std::uint32_t expected) noexcept {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t *>(word), FUTEX_WAIT,
                 expected, nullptr, nullptr, 0);
}
long futex_wake(std::atomic<std::uint32_t> *word) noexcept {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t *>(word), FUTEX_WAKE, 1,
                 nullptr, nullptr, 0);
}
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "futex words must be plain 32-bit atomics");

/// Forks a server. The child pins itself, arranges to die with the parent
/// and runs `body` forever (it is SIGKILLed by stop()).
template <class Body>
pid_t fork_server(int server_cpu, Body &&body) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    try {
      pin_self(server_cpu);
      body();
    } catch (...) {
    }
    _exit(1);
  }
  return pid;
}

void reap(pid_t &pid) noexcept {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid = -1;
}

// ---------------------------------------------------------------------------
// Shared-memory mechanisms: one request and one reply channel, each a
// sequence word that the sender increments after writing the payload.
//
// Ordering invariant: the payload is written before the sequence increment
// (release, seq_cst RMW) and read after observing the new sequence
// (acquire). For the adaptive spin the `waiters` flag and the sequence form
// a Dekker pair (both seq_cst): either the sender sees waiters == 1 and
// issues FUTEX_WAKE, or the waiter sees the new sequence and never sleeps;
// FUTEX_WAIT re-checks the word atomically, so no wake-up is lost.
// ---------------------------------------------------------------------------
struct alignas(64) Chan {
  std::atomic<std::uint32_t> seq{0};
  std::atomic<std::uint32_t> waiters{0};
};

struct Shm {
  Chan req;
  Chan rep;
  alignas(64) std::atomic<int> cpu[2];  // [0] client, [1] server: last CPU seen
};
// The request buffer, then the reply buffer, follow the header (64-aligned).
static_assert(sizeof(Shm) % 64 == 0);

enum class Kind { Futex, FutexSpin, Eventfd, Busypoll };

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
    }
    return "?";
  }
  const char *description() const noexcept override {
    switch (kind_) {
      case Kind::Futex: return "shared futex FUTEX_WAKE/FUTEX_WAIT each way, no spin; payload via shm";
      case Kind::FutexSpin: return "shared futex, waiter spins up to the spin bound first (not when the peer shares its CPU); payload via shm";
      case Kind::Eventfd: return "eventfd write/read each way; payload via shm";
      case Kind::Busypoll: return "both sides spin on a shared word (burns two CPUs; yields when the peer shares the CPU); payload via shm";
    }
    return "?";
  }

  void start(int server_cpu, std::size_t payload) override {
    stop();
    payload_ = payload;
    map_size_ = sizeof(Shm) + 2 * ((payload + 63) & ~std::size_t(63)) + 64;
    void *p = mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail("mmap");
    shm_ = new (p) Shm;
    req_buf_ = static_cast<char *>(p) + sizeof(Shm);
    rep_buf_ = req_buf_ + ((payload + 63) & ~std::size_t(63));
    shm_->cpu[0].store(-1);
    shm_->cpu[1].store(-1);
    if (kind_ == Kind::Eventfd) {
      efd_req_ = eventfd(0, EFD_CLOEXEC);
      efd_rep_ = eventfd(0, EFD_CLOEXEC);
      if (efd_req_ < 0 || efd_rep_ < 0) fail("eventfd");
    }
    rep_seen_ = 0;
    pid_ = fork_server(server_cpu, [this] { serve(); });
  }

  void roundtrip(const char *req, char *rep, std::size_t n) override {
    std::memcpy(req_buf_, req, n);
    signal(shm_->req, efd_req_);
    wait(shm_->rep, rep_seen_, efd_rep_, 0);
    ++rep_seen_;
    std::memcpy(rep, rep_buf_, n);
  }

  void stop() noexcept override {
    reap(pid_);
    if (efd_req_ >= 0) close(efd_req_);
    if (efd_rep_ >= 0) close(efd_rep_);
    efd_req_ = efd_rep_ = -1;
    if (shm_) munmap(shm_, map_size_);
    shm_ = nullptr;
  }

 private:
  // Child: echo every request through a private buffer.
  [[noreturn]] void serve() {
    char *local = static_cast<char *>(std::malloc(payload_ ? payload_ : 1));
    std::uint32_t req_seen = 0;
    for (;;) {
      wait(shm_->req, req_seen, efd_req_, 1);
      ++req_seen;
      std::memcpy(local, req_buf_, payload_);
      std::memcpy(rep_buf_, local, payload_);
      signal(shm_->rep, efd_rep_);
    }
  }

  void signal(Chan &ch, int efd) {
    switch (kind_) {
      case Kind::Futex:
        ch.seq.fetch_add(1, std::memory_order_seq_cst);
        futex_wake(&ch.seq);
        break;
      case Kind::FutexSpin:
        ch.seq.fetch_add(1, std::memory_order_seq_cst);
        if (ch.waiters.load(std::memory_order_seq_cst)) futex_wake(&ch.seq);
        break;
      case Kind::Busypoll:
        ch.seq.fetch_add(1, std::memory_order_release);
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

  // Waits until ch.seq != seen. `self` is 0 for the client, 1 for the server.
  void wait(Chan &ch, std::uint32_t seen, int efd, int self) {
    Shm &s = *shm_;
    switch (kind_) {
      case Kind::Futex:
        while (ch.seq.load(std::memory_order_acquire) == seen) futex_wait(&ch.seq, seen);
        break;
      case Kind::FutexSpin: {
        const int me = sched_getcpu();
        s.cpu[self].store(me, std::memory_order_relaxed);
        // A spin on a CPU shared with the peer only delays the peer.
        if (s.cpu[1 - self].load(std::memory_order_relaxed) != me) {
          const std::uint64_t deadline = now_ns() + spin_ns_;
          for (unsigned i = 1;; ++i) {
            if (ch.seq.load(std::memory_order_acquire) != seen) return;
            cpu_relax();
            if ((i & 15) == 0 && now_ns() >= deadline) break;
          }
        }
        ch.waiters.store(1, std::memory_order_seq_cst);
        while (ch.seq.load(std::memory_order_seq_cst) == seen) futex_wait(&ch.seq, seen);
        ch.waiters.store(0, std::memory_order_relaxed);
        break;
      }
      case Kind::Busypoll: {
        s.cpu[self].store(sched_getcpu(), std::memory_order_relaxed);
        for (unsigned i = 1; ch.seq.load(std::memory_order_acquire) == seen; ++i) {
          cpu_relax();
          if ((i & 63) == 0) {
            // Same CPU as the peer: spinning cannot make progress, yield.
            // Spinning very long: the peer was preempted, yield too.
            const int me = sched_getcpu();
            s.cpu[self].store(me, std::memory_order_relaxed);
            if (s.cpu[1 - self].load(std::memory_order_relaxed) == me || i >= (1u << 14))
              sched_yield();
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
  std::size_t map_size_ = 0;
  Shm *shm_ = nullptr;
  char *req_buf_ = nullptr;
  char *rep_buf_ = nullptr;
  int efd_req_ = -1, efd_rep_ = -1;
  std::uint32_t rep_seen_ = 0;
  pid_t pid_ = -1;
};

// ---------------------------------------------------------------------------
// Pipe pair: request pipe client -> server, reply pipe server -> client.
// ---------------------------------------------------------------------------
void write_all(int fd, const char *p, std::size_t n) {
  while (n) {
    const ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("pipe write");
    }
    p += w;
    n -= std::size_t(w);
  }
}
void read_all(int fd, char *p, std::size_t n) {
  while (n) {
    const ssize_t r = read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("pipe read");
    }
    if (r == 0) {
      errno = EPIPE;
      fail("pipe read (peer gone)");
    }
    p += r;
    n -= std::size_t(r);
  }
}

class PipeMechanism final : public Mechanism {
 public:
  ~PipeMechanism() override { stop(); }
  const char *name() const noexcept override { return "pipe"; }
  const char *description() const noexcept override {
    return "two pipes; the payload is written/read through them";
  }
  void start(int server_cpu, std::size_t payload) override {
    stop();
    if (pipe2(req_, O_CLOEXEC) != 0 || pipe2(rep_, O_CLOEXEC) != 0) fail("pipe2");
    pid_ = fork_server(server_cpu, [this, payload] {
      close(req_[1]);
      close(rep_[0]);
      char *local = static_cast<char *>(std::malloc(payload ? payload : 1));
      for (;;) {
        read_all(req_[0], local, payload);
        write_all(rep_[1], local, payload);
      }
    });
    close(req_[0]);
    close(rep_[1]);
    req_[0] = rep_[1] = -1;
  }
  void roundtrip(const char *req, char *rep, std::size_t n) override {
    write_all(req_[1], req, n);
    read_all(rep_[0], rep, n);
  }
  void stop() noexcept override {
    reap(pid_);
    for (int *fd : {&req_[0], &req_[1], &rep_[0], &rep_[1]}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }

 private:
  int req_[2] = {-1, -1};
  int rep_[2] = {-1, -1};
  pid_t pid_ = -1;
};

}  // namespace

const std::vector<int> &allowed_cpus() {
  static const std::vector<int> cpus = read_allowed_cpus();
  return cpus;
}

void pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu < 0) {
    for (int c : allowed_cpus()) CPU_SET(c, &set);
  } else {
    CPU_SET(cpu, &set);
  }
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    fail("sched_setaffinity(" + std::to_string(cpu) + ")");
}

std::unique_ptr<Mechanism> make_futex() { return std::make_unique<ShmMechanism>(Kind::Futex, 0); }
std::unique_ptr<Mechanism> make_futex_spin(unsigned spin_us) {
  return std::make_unique<ShmMechanism>(Kind::FutexSpin, spin_us);
}
std::unique_ptr<Mechanism> make_eventfd() { return std::make_unique<ShmMechanism>(Kind::Eventfd, 0); }
std::unique_ptr<Mechanism> make_pipe() { return std::make_unique<PipeMechanism>(); }
std::unique_ptr<Mechanism> make_busypoll() { return std::make_unique<ShmMechanism>(Kind::Busypoll, 0); }

}  // namespace bench
