// SPDX-License-Identifier: MIT
//
// caught_signals.h — has this thread caught a signal since door_call began?
//
// door_call must fail when its thread catches a signal, also under
// SA_RESTART (Solaris semantics). Two things hide a signal from a futex
// wait: the kernel restarts an untimed FUTEX_WAIT after an SA_RESTART
// handler, and a signal caught just before the wait (while the call is
// posted, spins, or its first call connects) leaves nothing behind.
//
// libdoor therefore wraps every handler installed through libc
// (caught_signals.cpp interposes sigaction() and friends): the wrapper
// counts the signals each thread catches, then runs the handler. door_call
// notes the count when it starts and gives up once it has moved. Around
// its futex sleep it also names the reply word and the value it sleeps on
// (arm_sleep): a wrapper that runs then changes that word, so the sleep
// cannot begin, and a sleep the kernel restarts ends at once. No timer, no
// extra system call, and the sleep stays a plain FUTEX_WAIT.
//
// What cannot be wrapped falls back to a timed FUTEX_WAIT, which a caught
// signal always interrupts with EINTR but whose hrtimer costs about 0.3 us
// per wait: an SA_RESTART handler for a signal libdoor does not wrap
// (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS: synchronous faults,
// whose handlers are left exactly as installed). A handler installed with
// a raw rt_sigaction system call is not seen at all.
#pragma once

#include <atomic>
#include <cstdint>

namespace door::detail {

/// Signals this thread has caught through a wrapped handler (wraps around).
__attribute__((tls_model("initial-exec"))) extern constinit thread_local std::uint32_t t_signals_caught;

inline std::uint32_t signals_caught() noexcept { return __atomic_load_n(&t_signals_caught, __ATOMIC_RELAXED); }

/// The futex sleep this thread is about to enter or is in: while `word` is
/// set, a wrapped handler replaces `expected` there by `disarmed` (if the
/// word still holds it), which the sleeper's protocol must accept.
struct ArmedSleep {
  std::uint32_t *word;
  std::uint32_t expected;
  std::uint32_t disarmed;
};
__attribute__((tls_model("initial-exec"))) extern constinit thread_local ArmedSleep t_armed_sleep;

/// Call before the last check of signals_caught() ahead of a FUTEX_WAIT on
/// `word` for `expected`; disarm_sleep() once the wait returned.
inline void arm_sleep(std::atomic<std::uint32_t> *word, std::uint32_t expected, std::uint32_t disarmed) noexcept {
  t_armed_sleep.expected = expected;
  t_armed_sleep.disarmed = disarmed;
  std::atomic_signal_fence(std::memory_order_seq_cst);  // the pair before the word
  __atomic_store_n(&t_armed_sleep.word, reinterpret_cast<std::uint32_t *>(word), __ATOMIC_RELAXED);
  std::atomic_signal_fence(std::memory_order_seq_cst);  // armed before the check that follows
}

inline void disarm_sleep() noexcept {
  __atomic_store_n(&t_armed_sleep.word, nullptr, __ATOMIC_RELAXED);
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

/// True when a sleeping door_call must use a timed FUTEX_WAIT to see a
/// caught signal: some SA_RESTART handler is not wrapped.
bool wait_needs_timer() noexcept;

}  // namespace door::detail
