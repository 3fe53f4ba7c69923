// SPDX-License-Identifier: MIT
//
// proc.h — process plumbing shared by the mechanisms: CPU pinning, forking
// a server that dies with its parent, reaping it, CPU clocks of processes.
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

/// Forks a server: the child pins itself to `cpu`, dies with its parent
/// (PR_SET_PDEATHSIG) and runs `body`; it exits when body returns or throws.
pid_t fork_server(int cpu, const std::function<void()> &body);

/// SIGKILLs and reaps `pid` (if > 0) and sets it to -1.
void reap(pid_t &pid) noexcept;

/// Runs body(i) for i in [0, n): i = 0 on the calling thread, the others on
/// new threads; returns when all have returned (server processes use it to
/// serve one channel per thread).
void run_per_channel(unsigned n, const std::function<void(unsigned)> &body);

/// CLOCK_MONOTONIC in nanoseconds.
std::uint64_t now_ns() noexcept;

/// CPU time (user + system, all threads) of process `pid` in nanoseconds,
/// from its POSIX CPU clock; 0 for pid 0 means this process. Returns -1 if
/// the process cannot be read.
std::int64_t process_cpu_ns(pid_t pid) noexcept;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace bench
