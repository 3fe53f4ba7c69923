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
// notes the count when it starts, gives up once it changes, and sleeps in
// futex_waitv on both the reply word and this count, so a handler that runs
// at any moment, before or during the sleep, ends the wait (a restarted
// wait finds the count changed at once). No timer, no extra system call.
//
// What cannot be wrapped falls back to a timed FUTEX_WAIT, which a caught
// signal always interrupts with EINTR but whose hrtimer costs about 0.3 us
// per wait: an SA_RESTART handler for a signal libdoor does not wrap
// (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS: synchronous faults,
// whose handlers are left exactly as installed), or a kernel without
// futex_waitv (before 5.16, or a seccomp filter that refuses it). A handler
// installed with a raw rt_sigaction system call is not seen at all.
#pragma once

#include <cstdint>

namespace door::detail {

/// Signals this thread has caught through a wrapped handler (wraps around).
/// A futex word: door_call sleeps on it (private to the process).
__attribute__((tls_model("initial-exec"))) extern constinit thread_local std::uint32_t t_signals_caught;

inline std::uint32_t signals_caught() noexcept { return __atomic_load_n(&t_signals_caught, __ATOMIC_RELAXED); }

/// True when a sleeping door_call must use a timed FUTEX_WAIT to see a
/// caught signal. `counting_wait`: the wait also watches t_signals_caught
/// (futex_waitv works here).
bool wait_needs_timer(bool counting_wait) noexcept;

}  // namespace door::detail
