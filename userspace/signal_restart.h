// SPDX-License-Identifier: MIT
//
// signal_restart.h — does any caught signal restart system calls?
//
// door_call must fail with EINTR when the caller catches a signal, also
// under SA_RESTART (Solaris semantics). An untimed FUTEX_WAIT is restarted
// by the kernel after such a handler, so door_call would never see the
// signal; a timed wait is never restarted, but arming and cancelling its
// hrtimer costs about 0.3 us per wait here, a tenth of a same-CPU round
// trip. libdoor therefore tracks whether any signal has a handler with
// SA_RESTART (signal_restart.cpp interposes sigaction() and friends) and
// pays for the timer only then.
#pragma once

#include <atomic>
#include <cstdint>

namespace door::detail {

/// Bit (sig - 1) set: that signal has a handler installed with SA_RESTART.
extern std::atomic<std::uint64_t> g_restarting_handlers;

/// True when a blocking wait must be timed to observe a caught signal.
inline bool restarting_handlers_installed() noexcept {
  return g_restarting_handlers.load(std::memory_order_relaxed) != 0;
}

}  // namespace door::detail
