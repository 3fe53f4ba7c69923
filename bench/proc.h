// SPDX-License-Identifier: MIT
//
// proc.h — process plumbing shared by the mechanisms: CPU pinning, threads
// per channel, clocks (the server process itself: server_process.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bench {

/// Throws std::runtime_error(what + ": " + strerror(errno)).
[[noreturn]] void fail(const std::string &what);

/// Pins the calling thread (and the threads it creates later) to `cpu`;
/// cpu < 0 restores the affinity the process started with.
void pin_self(int cpu);

/// The CPUs this process may run on at start-up, in ascending order.
const std::vector<int> &allowed_cpus();

/// Runs body(i) for i in [0, n): i = 0 on the calling thread, the others on
/// new threads; returns when all have returned (server processes use it to
/// serve one channel per thread).
void run_per_channel(unsigned n, const std::function<void(unsigned)> &body);

/// CLOCK_MONOTONIC in nanoseconds.
std::uint64_t now_ns() noexcept;

/// CPU time (user + system, all threads) of this process in nanoseconds,
/// from its POSIX CPU clock; -1 on error. Other threads' shares lag by up to
/// a scheduler tick (see server_process.h).
std::int64_t process_cpu_ns() noexcept;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace bench
