// SPDX-License-Identifier: MIT
//
// caught_signals.cpp — wraps signal handlers so door_call sees every caught
// signal (see caught_signals.h for why).
//
// sigaction() installs a handler as libdoor's trampoline, with the caller's
// mask and flags plus SA_SIGINFO, and keeps the real handler in a table;
// the trampoline bumps the thread's count and calls it. Reading a
// disposition back (sigaction's oact, signal()'s result) shows the
// application its own handler and flags, never the trampoline. signal,
// sigset, bsd_signal, sysv_signal and siginterrupt call libc, then wrap
// whatever libc installed; handlers in place when libdoor is loaded (a
// dlopen()ed libdoor, earlier constructors) are wrapped then.
#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>

#include "caught_signals.h"
#include "runtime.h"

namespace door::detail {

constinit thread_local std::uint32_t t_signals_caught = 0;
constinit thread_local ArmedSleep t_armed_sleep{nullptr, 0, 0};

namespace {

/// libc's sigaction under its public alias (GLIBC_2.2.5), linked directly
/// instead of looked up with dlsym(RTLD_NEXT): a sanitizer runtime's own
/// sigaction interceptor forwards to ours while it initialises, and
/// dlsym allocates — ASan then aborts with "ASan init calls itself".
extern "C" int __sigaction(int, const struct sigaction *, struct sigaction *);

using handler_fn = sighandler_t (*)(int, sighandler_t);
using siginterrupt_fn = int (*)(int, int);

/// Per signal, the application's handler behind the trampoline, with
/// kTakesInfo set when it takes (sig, siginfo_t *, void *). One word, so the
/// trampoline reads it without a lock; never cleared (the kernel stops
/// calling the trampoline when the disposition changes), only replaced.
constexpr std::uint64_t kTakesInfo = 1ull << 63;
std::uint64_t g_wrapped[65];

/// Signals whose installed handler has SA_RESTART and is not wrapped.
std::uint64_t g_unwrapped_restarting = 0;

/// Set once the constructor below ran. A sanitizer runtime installs its
/// signal handlers through our sigaction before any constructor (and
/// before its own state allows instrumented code to run): until then
/// sigaction only forwards, and the constructor's scan wraps the result.
/// Plain words with __atomic builtins throughout: no out-of-line
/// (instrumented) std::atomic member runs in uninstrumented code.
bool g_ready = false;

/// Serialises changes. Constant-initialised, never allocated: sigaction can
/// be called by a sanitizer runtime before any allocator is ready.
constinit std::mutex g_change_mu;

bool has_handler(const struct sigaction &sa) noexcept {
  return (sa.sa_flags & SA_SIGINFO) || (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
}

/// Signals libdoor wraps: not SIGKILL/SIGSTOP (no handler possible), not
/// glibc's internal real-time signals, and not synchronous faults, whose
/// handlers often inspect their own frame and are never what interrupts
/// a door_call.
bool wrappable(int sig) noexcept {
  switch (sig) {
    case SIGKILL: case SIGSTOP:
    case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGTRAP: case SIGSYS:
      return false;
    default:
      return sig >= 1 && sig <= 64 && (sig < 32 || sig >= SIGRTMIN);
  }
}

// Not instrumented by ThreadSanitizer: it runs as the kernel's handler,
// before TSan's own (which defers the application's handler to a safe
// point); TSan code must not run at an arbitrary instruction.
__attribute__((no_sanitize("thread"))) void trampoline(int sig, siginfo_t *info, void *ctx) {
  __atomic_fetch_add(&t_signals_caught, 1, __ATOMIC_RELAXED);
  // A door_call about to sleep, or asleep: change its futex word so that
  // the sleep does not begin, or ends when the kernel restarts it.
  if (std::uint32_t *word = __atomic_load_n(&t_armed_sleep.word, __ATOMIC_RELAXED)) {
    std::uint32_t expected = t_armed_sleep.expected;
    __atomic_compare_exchange_n(word, &expected, t_armed_sleep.disarmed, false, __ATOMIC_ACQ_REL,
                                __ATOMIC_RELAXED);
  }
  std::uint64_t w = __atomic_load_n(&g_wrapped[sig], __ATOMIC_ACQUIRE);
  std::uintptr_t fn = static_cast<std::uintptr_t>(w & ~kTakesInfo);
  if (fn == reinterpret_cast<std::uintptr_t>(SIG_DFL) || fn == reinterpret_cast<std::uintptr_t>(SIG_IGN)) return;
  if (w & kTakesInfo)
    reinterpret_cast<void (*)(int, siginfo_t *, void *)>(fn)(sig, info, ctx);
  else
    reinterpret_cast<void (*)(int)>(fn)(sig);
}

bool is_trampoline(const struct sigaction &sa) noexcept {
  return (sa.sa_flags & SA_SIGINFO) && sa.sa_sigaction == trampoline;
}

std::uint64_t pack(const struct sigaction &sa) noexcept {
  return (sa.sa_flags & SA_SIGINFO) ? reinterpret_cast<std::uintptr_t>(sa.sa_sigaction) | kTakesInfo
                                    : reinterpret_cast<std::uintptr_t>(sa.sa_handler);
}

std::uint64_t wrapped_entry(int sig) noexcept { return __atomic_load_n(&g_wrapped[sig], __ATOMIC_ACQUIRE); }

/// What the application installed, given what the kernel holds and the
/// table entry that was behind the trampoline then.
struct sigaction application_view(const struct sigaction &kernel, std::uint64_t entry) noexcept {
  if (!is_trampoline(kernel)) return kernel;
  struct sigaction sa = kernel;
  if (entry & kTakesInfo) {
    sa.sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t *, void *)>(entry & ~kTakesInfo);
  } else {
    sa.sa_flags &= ~SA_SIGINFO;
    sa.sa_handler = reinterpret_cast<sighandler_t>(entry);
  }
  return sa;
}

sighandler_t application_handler(sighandler_t kernel, std::uint64_t entry) noexcept {
  if (reinterpret_cast<std::uintptr_t>(kernel) != reinterpret_cast<std::uintptr_t>(trampoline)) return kernel;
  return reinterpret_cast<sighandler_t>(entry & ~kTakesInfo);
}

void set_bit(std::uint64_t *mask, int sig, bool on) noexcept {
  std::uint64_t bit = 1ull << (sig - 1);
  if (on)
    __atomic_fetch_or(mask, bit, __ATOMIC_RELAXED);
  else
    __atomic_fetch_and(mask, ~bit, __ATOMIC_RELAXED);
}

/// Records what `sig` now has installed (the kernel's view).
void note_installed(int sig, const struct sigaction &kernel) noexcept {
  bool restarting = has_handler(kernel) && (kernel.sa_flags & SA_RESTART);
  set_bit(&g_unwrapped_restarting, sig, restarting && !is_trampoline(kernel));
}

/// Installs `act` (an application handler) for `sig` behind the trampoline.
int install_wrapped(int sig, const struct sigaction &act, struct sigaction *kernel_old) noexcept {
  std::uint64_t before = wrapped_entry(sig);
  // The entry first: from the moment the trampoline is installed it is
  // what the trampoline calls.
  __atomic_store_n(&g_wrapped[sig], pack(act), __ATOMIC_RELEASE);
  struct sigaction tramp = act;
  tramp.sa_sigaction = trampoline;
  tramp.sa_flags |= SA_SIGINFO;
  int r = __sigaction(sig, &tramp, kernel_old);
  if (r != 0) {
    __atomic_store_n(&g_wrapped[sig], before, __ATOMIC_RELEASE);
    return r;
  }
  note_installed(sig, tramp);
  return 0;
}

/// Blocks every signal of this thread while it changes dispositions: a
/// handler that calls signal() (the SysV re-arm idiom) must not find the
/// change mutex held by the code it interrupted.
class ChangeGuard {
 public:
  ChangeGuard() noexcept {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved_);
    g_change_mu.lock();
  }
  ~ChangeGuard() {
    g_change_mu.unlock();
    pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }
  ChangeGuard(const ChangeGuard &) = delete;
  ChangeGuard &operator=(const ChangeGuard &) = delete;

 private:
  sigset_t saved_;
};

/// Puts whatever application handler `sig` has behind the trampoline, and
/// records the result. Used after libc's own installers, and at start-up.
void wrap_installed(int sig) noexcept {
  struct sigaction cur{};
  if (__sigaction(sig, nullptr, &cur) != 0) return;
  if (wrappable(sig) && has_handler(cur) && !is_trampoline(cur) && install_wrapped(sig, cur, nullptr) == 0) return;
  note_installed(sig, cur);
}

/// A fork child may inherit the mutex held by a parent thread that was
/// changing a disposition: it starts with a fresh one.
void reset_change_mutex_in_child() noexcept { new (&g_change_mu) std::mutex; }

__attribute__((constructor)) void wrap_existing_handlers() {
  pthread_atfork(nullptr, nullptr, reset_change_mutex_in_child);
  {
    ChangeGuard g;
    for (int sig = 1; sig <= 64; sig++) wrap_installed(sig);
  }
  __atomic_store_n(&g_ready, true, __ATOMIC_RELEASE);
}

/// Calls libc's `name` (which installs through libc's internal sigaction,
/// not ours), then wraps what it installed; answers with the application's
/// view of the previous handler.
sighandler_t forward_handler_call(const char *name, int sig, sighandler_t h) noexcept {
  auto f = reinterpret_cast<handler_fn>(next_symbol(name));
  if (!f) {
    errno = ENOSYS;
    return SIG_ERR;
  }
  if (!__atomic_load_n(&g_ready, __ATOMIC_ACQUIRE)) return f(sig, h);
  // Not under ChangeGuard: sigset() reads and changes the signal mask.
  std::uint64_t before = wrapped_entry(sig >= 1 && sig <= 64 ? sig : 0);
  sighandler_t r = f(sig, h);
  if (r == SIG_ERR) return r;
  int saved = errno;
  {
    ChangeGuard g;
    wrap_installed(sig);
  }
  errno = saved;
  return application_handler(r, before);
}

}  // namespace

bool wait_needs_timer() noexcept { return __atomic_load_n(&g_unwrapped_restarting, __ATOMIC_RELAXED) != 0; }

}  // namespace door::detail

using namespace door::detail;

extern "C" {

// Not instrumented by ThreadSanitizer: TSan's start-up calls it before
// TSan can run instrumented code (see g_ready).
__attribute__((visibility("default"), no_sanitize("thread"))) int sigaction(int sig, const struct sigaction *act,
                                                                            struct sigaction *oact) {
  if (!__atomic_load_n(&g_ready, __ATOMIC_ACQUIRE) || sig < 1 || sig > 64) return __sigaction(sig, act, oact);
  ChangeGuard g;
  std::uint64_t before = wrapped_entry(sig);
  struct sigaction kernel_old{};
  int r;
  if (act && wrappable(sig) && has_handler(*act) && !is_trampoline(*act)) {
    r = install_wrapped(sig, *act, &kernel_old);
  } else {
    r = __sigaction(sig, act, &kernel_old);
    if (r == 0 && act) note_installed(sig, *act);
  }
  if (r == 0 && oact) *oact = application_view(kernel_old, before);
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

// siginterrupt() rewrites SA_RESTART of the installed action, trampoline
// included; only the restart bookkeeping changes.
__attribute__((visibility("default"))) int siginterrupt(int sig, int flag) {
  auto f = reinterpret_cast<siginterrupt_fn>(next_symbol("siginterrupt"));
  if (!f) {
    errno = ENOSYS;
    return -1;
  }
  int r = f(sig, flag);
  if (r == 0 && __atomic_load_n(&g_ready, __ATOMIC_ACQUIRE)) {
    int saved = errno;
    ChangeGuard g;
    wrap_installed(sig);
    errno = saved;
  }
  return r;
}

}  // extern "C"
