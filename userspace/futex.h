// SPDX-License-Identifier: MIT
//
// futex.h — thin wrappers over futex(2) for words in shared memory.
//
// Door futexes live in MAP_SHARED memory visible to two processes, so they
// never use FUTEX_PRIVATE_FLAG; the one exception is the caught-signal count
// a sleeping caller watches beside its reply word (futex_wait_or_signal).
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

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449  // the same number on every architecture (5.16+)
#endif
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02  // called FUTEX_32 before 6.7's headers
#endif

/// Waits while *word == expected (a shared word) and *count == counted (a
/// word private to this process, here the thread's caught-signal count;
/// caught_signals.h). Returns 0 on a wake-up or a changed value, EINTR
/// when a signal handler ran (after an SA_RESTART handler the kernel
/// restarts the wait, which then finds the count changed), or ENOSYS when
/// futex_waitv cannot be used: missing (before 5.16), refused by a seccomp
/// filter (EPERM), or unknown to an emulator.
inline int futex_wait_or_signal(std::atomic<std::uint32_t> *word, std::uint32_t expected, std::uint32_t *count,
                                std::uint32_t counted) noexcept {
  struct futex_waitv w[2] = {};
  w[0].val = expected;
  w[0].uaddr = reinterpret_cast<std::uintptr_t>(word);
  w[0].flags = FUTEX2_SIZE_U32;
  w[1].val = counted;
  w[1].uaddr = reinterpret_cast<std::uintptr_t>(count);
  w[1].flags = FUTEX2_SIZE_U32 | FUTEX_PRIVATE_FLAG;
  long r = syscall(SYS_futex_waitv, w, 2u, 0u, nullptr, 0);
  if (r >= 0) return 0;
  if (errno == EAGAIN) return 0;  // a value changed before we slept
  return errno == EINTR ? EINTR : ENOSYS;
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
