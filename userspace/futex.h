// SPDX-License-Identifier: MIT
//
// futex.h — thin wrappers over futex(2) for words in shared memory.
//
// All door futexes live in MAP_SHARED memory visible to two processes, so
// they never use FUTEX_PRIVATE_FLAG.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

namespace door::detail {

/// Waits while *word == expected. `timeout` is relative (may be null).
/// Returns 0 on wake-up (or value mismatch), or the errno: EINTR when a
/// signal handler ran, ETIMEDOUT.
///
/// Invariant relied on by door_call: a FUTEX_WAIT with a timeout that is
/// interrupted by a caught signal fails with EINTR even when the handler has
/// SA_RESTART (the kernel uses ERESTART_RESTARTBLOCK for timed waits), which
/// is how door_call reports EINTR like Solaris. Callers that must not see
/// EINTR simply loop.
inline int futex_wait(std::atomic<std::uint32_t> *word, std::uint32_t expected,
                      const struct timespec *timeout) noexcept {
  long r = syscall(SYS_futex, reinterpret_cast<std::uint32_t *>(word),
                   FUTEX_WAIT, expected, timeout, nullptr, 0);
  if (r == 0) return 0;
  if (errno == EAGAIN) return 0;  // value changed before we slept
  return errno;
}

/// Wakes up to `n` waiters on `word`.
inline void futex_wake(std::atomic<std::uint32_t> *word, int n = 1) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t *>(word), FUTEX_WAKE, n,
          nullptr, nullptr, 0);
}

/// CPU relax hint for spin loops.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

/// Monotonic clock in nanoseconds (vDSO, no syscall).
inline std::uint64_t now_ns() noexcept {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace door::detail
