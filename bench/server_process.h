// SPDX-License-Identifier: MIT
//
// server_process.h — a mechanism's server process: forked, pinned, killed
// with its parent, and able to report its own CPU time precisely.
//
// Why the server reports its CPU time itself: the kernel brings a running
// thread's CPU time up to date only at a scheduler tick (4 ms at Debian's
// HZ=250), at a context switch, or when the thread's own process reads its
// clock. Read from another process, a server thread that spins and never
// sleeps shows almost no CPU for a cell of a few milliseconds: busy-poll's
// server read 0.000 us per call across CPUs (its client 0.21), making the
// floor look half as expensive as it is. Inside the server, a small thread
// reads each thread's own clock (which forces the update) and then the
// process clock, on request.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>

namespace bench {

class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess() { kill(); }
  ServerProcess(const ServerProcess &) = delete;
  ServerProcess &operator=(const ServerProcess &) = delete;
  ServerProcess(ServerProcess &&o) noexcept { *this = std::move(o); }
  ServerProcess &operator=(ServerProcess &&o) noexcept;

  /// Forks the server: the child pins itself to `cpu` (< 0: any allowed
  /// CPU), dies with its parent (PR_SET_PDEATHSIG), starts its CPU-time
  /// thread and runs `body`; it exits when body returns (0) or throws (1).
  /// Throws std::runtime_error if fork fails.
  static ServerProcess fork(int cpu, const std::function<void()> &body);

  bool running() const noexcept { return pid_ > 0; }
  pid_t pid() const noexcept { return pid_; }

  /// CPU time (user + system, all threads) of the server so far, in ns,
  /// up to date to within microseconds; -1 if it cannot be read.
  std::int64_t cpu_ns() const noexcept;

  /// SIGKILLs and reaps the server (no-op if not running).
  void kill() noexcept;
  /// Waits up to `grace` for the server to exit by itself, then kill().
  void stop(std::chrono::milliseconds grace) noexcept;

 private:
  pid_t pid_ = -1;
  int cpu_fd_ = -1;  ///< parent's end of the CPU-time channel
};

}  // namespace bench
