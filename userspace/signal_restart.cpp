// SPDX-License-Identifier: MIT
//
// signal_restart.cpp — tracks which signals have SA_RESTART handlers.
//
// See signal_restart.h for why. The set starts from the dispositions in
// place when libdoor is loaded and follows every change made through libc:
// sigaction, signal, sigset, bsd_signal and sysv_signal are interposed, call
// the real function, then re-read the signal's disposition. A handler
// installed with a raw rt_sigaction system call is not seen: door_call then
// keeps waiting through that signal instead of failing with EINTR (README,
// "Differences from illumos").
#include <signal.h>

#include <cerrno>

#include <mutex>

#include "runtime.h"
#include "signal_restart.h"

namespace door::detail {

std::atomic<std::uint64_t> g_restarting_handlers{0};

namespace {

using sigaction_fn = int (*)(int, const struct sigaction *, struct sigaction *);
using handler_fn = sighandler_t (*)(int, sighandler_t);

/// libc's sigaction under its public alias (GLIBC_2.2.5), linked directly
/// instead of looked up with dlsym(RTLD_NEXT): a sanitizer runtime's own
/// sigaction interceptor forwards to ours while it initialises, and
/// dlsym allocates — ASan then aborts with "ASan init calls itself".
extern "C" int __sigaction(int, const struct sigaction *, struct sigaction *);

sigaction_fn real_sigaction() noexcept { return &__sigaction; }

/// Serialises re-reads so the last change wins (a stale re-read landing
/// after a newer one would otherwise undo it).
/// Constant-initialised, never allocated: sigaction can be called by a
/// sanitizer runtime before any allocator is ready (see real_sigaction).
constinit std::mutex g_refresh_mu;
std::mutex &refresh_mutex() noexcept { return g_refresh_mu; }

bool restarts(const struct sigaction &sa) noexcept {
  bool handled = (sa.sa_flags & SA_SIGINFO) ||
                 (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
  return handled && (sa.sa_flags & SA_RESTART);
}

/// Re-reads `sig`'s disposition into the set.
void refresh(int sig) noexcept {
  if (sig < 1 || sig > 64) return;
  sigaction_fn f = real_sigaction();
  if (!f) return;
  std::lock_guard g(refresh_mutex());
  struct sigaction cur{};
  if (f(sig, nullptr, &cur) != 0) return;
  std::uint64_t bit = 1ull << (sig - 1);
  if (restarts(cur))
    g_restarting_handlers.fetch_or(bit, std::memory_order_relaxed);
  else
    g_restarting_handlers.fetch_and(~bit, std::memory_order_relaxed);
}

/// Set once the constructor below ran. A sanitizer runtime installs its
/// signal handlers through our sigaction before any constructor (and
/// before its own state allows instrumented code to run): until then
/// sigaction only forwards, and the scan below picks the result up.
/// A plain bool with __atomic builtins: no out-of-line (instrumented)
/// std::atomic member is called from the uninstrumented sigaction.
bool g_ready = false;

/// Handlers installed before libdoor was loaded (a dlopen()ed libdoor, or
/// constructors that ran earlier).
__attribute__((constructor)) void scan_dispositions() {
  for (int sig = 1; sig <= 64; sig++) refresh(sig);
  __atomic_store_n(&g_ready, true, __ATOMIC_RELEASE);
}

/// Calls the real `name`, then re-reads the disposition it changed.
sighandler_t forward_handler_call(const char *name, int sig, sighandler_t h) noexcept {
  auto f = reinterpret_cast<handler_fn>(next_symbol(name));
  if (!f) {
    errno = ENOSYS;
    return SIG_ERR;
  }
  sighandler_t r = f(sig, h);
  int saved = errno;
  refresh(sig);
  errno = saved;
  return r;
}

}  // namespace
}  // namespace door::detail

using namespace door::detail;

extern "C" {

// Not instrumented by ThreadSanitizer: TSan's start-up calls it before
// TSan can run instrumented code (see g_ready).
__attribute__((visibility("default"), no_sanitize("thread"))) int sigaction(int sig, const struct sigaction *act,
                                                                            struct sigaction *oact) {
  if (!__atomic_load_n(&g_ready, __ATOMIC_ACQUIRE)) return __sigaction(sig, act, oact);
  sigaction_fn f = real_sigaction();
  int r = f(sig, act, oact);
  if (r == 0 && act) {
    int saved = errno;
    refresh(sig);
    errno = saved;
  }
  return r;
}

__attribute__((visibility("default"))) sighandler_t signal(int sig, sighandler_t h) {
  return forward_handler_call("signal", sig, h);
}

__attribute__((visibility("default"))) sighandler_t sigset(int sig, sighandler_t h) {
  return forward_handler_call("sigset", sig, h);
}

__attribute__((visibility("default"))) sighandler_t bsd_signal(int sig, sighandler_t h) {
  return forward_handler_call("bsd_signal", sig, h);
}

__attribute__((visibility("default"))) sighandler_t sysv_signal(int sig, sighandler_t h) {
  return forward_handler_call("sysv_signal", sig, h);
}

}  // extern "C"
