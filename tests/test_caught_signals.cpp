// SPDX-License-Identifier: MIT
//
// test_caught_signals.cpp — libdoor wraps every signal handler installed
// through libc so door_call sees each caught signal (caught_signals.h).
// The wrapping must be invisible: programs read back their own handlers
// and flags, handlers get their arguments, and the one-shot, re-arm and
// siginterrupt idioms behave as without libdoor. door_call's behaviour
// under signals is tested in test_errno.cpp (EINTR_*, EAGAIN_Signal*).
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

#include "door_test_util.h"

// Declared by <signal.h> only for old X/Open levels; libc and libdoor export it.
extern "C" sighandler_t bsd_signal(int, sighandler_t);

namespace {

/// ThreadSanitizer interposes sigaction and signal itself and puts its own
/// handler between the program and libdoor (libdoor wraps TSan's): what
/// the kernel holds, and what libc's sigset/siginterrupt read back, are
/// then TSan's. Tests of that layer skip under TSan.
#ifdef DOOR_TEST_TSAN
#define SKIP_UNDER_TSAN() GTEST_SKIP() << "ThreadSanitizer's own handler layer sits in front of libdoor's"
#else
#define SKIP_UNDER_TSAN() (void)0
#endif

volatile sig_atomic_t g_plain_sig = 0;
volatile sig_atomic_t g_plain_runs = 0;
void plain_handler(int sig) {
  g_plain_sig = sig;
  g_plain_runs = g_plain_runs + 1;
}

void other_handler(int) {}
void third_handler(int) {}

volatile sig_atomic_t g_info_value = 0;
volatile sig_atomic_t g_info_code = 0;
volatile sig_atomic_t g_info_ctx = 0;
void info_handler(int, siginfo_t *info, void *ctx) {
  g_info_value = info->si_value.sival_int;
  g_info_code = info->si_code;
  g_info_ctx = ctx != nullptr;
}

volatile sig_atomic_t g_rearm_runs = 0;
void rearm_handler(int sig) {
  g_rearm_runs = g_rearm_runs + 1;
  signal(sig, rearm_handler);  // the SysV idiom: re-install from inside
}

/// The kernel's own view of a disposition, bypassing libc and libdoor.
struct KernelAction {
  void *handler;
  unsigned long flags;
  unsigned long restorer;
  std::uint64_t mask;
};
KernelAction kernel_action(int sig) {
  KernelAction k{};
  syscall(SYS_rt_sigaction, sig, nullptr, &k, 8);
  return k;
}

/// Installs `h` for `sig` through libc's sigaction (so through libdoor's).
int install(int sig, void (*h)(int), int flags = 0) {
  struct sigaction sa{};
  sa.sa_handler = h;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  return sigaction(sig, &sa, nullptr);
}

/// Restores a signal's disposition when a test ends.
class SavedDisposition {
 public:
  explicit SavedDisposition(int sig) : sig_(sig) { sigaction(sig, nullptr, &old_); }
  ~SavedDisposition() { sigaction(sig_, &old_, nullptr); }

 private:
  int sig_;
  struct sigaction old_{};
};

TEST(CaughtSignals, SigactionReadsBackTheApplicationsHandlerAndFlags) {
  SavedDisposition keep(SIGUSR2);
  struct sigaction sa{};
  sa.sa_handler = plain_handler;
  sa.sa_flags = SA_RESTART | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGTERM);
  struct sigaction prev{};
  ASSERT_EQ(sigaction(SIGUSR2, &sa, &prev), 0);
  struct sigaction got{};
  ASSERT_EQ(sigaction(SIGUSR2, nullptr, &got), 0);
  EXPECT_EQ(got.sa_handler, plain_handler);
  EXPECT_FALSE(got.sa_flags & SA_SIGINFO);
  EXPECT_TRUE(got.sa_flags & SA_RESTART);
  EXPECT_TRUE(got.sa_flags & SA_NODEFER);
  EXPECT_TRUE(sigismember(&got.sa_mask, SIGTERM));
  // The kernel holds libdoor's wrapper, not the handler itself.
  EXPECT_NE(kernel_action(SIGUSR2).handler, reinterpret_cast<void *>(plain_handler));

  struct sigaction si{};
  si.sa_sigaction = info_handler;
  si.sa_flags = SA_SIGINFO;
  sigemptyset(&si.sa_mask);
  struct sigaction replaced{};
  ASSERT_EQ(sigaction(SIGUSR2, &si, &replaced), 0);
  EXPECT_EQ(replaced.sa_handler, plain_handler) << "oact must show the previous application handler";
  EXPECT_FALSE(replaced.sa_flags & SA_SIGINFO);
  ASSERT_EQ(sigaction(SIGUSR2, nullptr, &got), 0);
  EXPECT_EQ(got.sa_sigaction, info_handler);
  EXPECT_TRUE(got.sa_flags & SA_SIGINFO);
  EXPECT_FALSE(got.sa_flags & SA_RESTART);

  struct sigaction dfl{};
  dfl.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGUSR2, &dfl, &replaced), 0);
  EXPECT_EQ(replaced.sa_sigaction, info_handler);
  ASSERT_EQ(sigaction(SIGUSR2, nullptr, &got), 0);
  EXPECT_EQ(got.sa_handler, SIG_IGN);
  EXPECT_EQ(kernel_action(SIGUSR2).handler, reinterpret_cast<void *>(SIG_IGN));
}

TEST(CaughtSignals, HandlersGetTheirArguments) {
  SavedDisposition keep(SIGUSR2);
  ASSERT_EQ(install(SIGUSR2, plain_handler), 0);
  g_plain_sig = 0;
  ASSERT_EQ(raise(SIGUSR2), 0);
  EXPECT_EQ(g_plain_sig, SIGUSR2);

  struct sigaction si{};
  si.sa_sigaction = info_handler;
  si.sa_flags = SA_SIGINFO;
  sigemptyset(&si.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &si, nullptr), 0);
  union sigval v;
  v.sival_int = 4242;
  g_info_value = 0;
  ASSERT_EQ(sigqueue(getpid(), SIGUSR2, v), 0);  // to the process: any thread may take it
  for (int k = 0; k < 1000 && g_info_value == 0; k++) usleep(1000);
  EXPECT_EQ(g_info_value, 4242);
  EXPECT_EQ(g_info_code, SI_QUEUE);
  EXPECT_TRUE(g_info_ctx);
}

TEST(CaughtSignals, RealTimeSignalsAreWrappedToo) {
  const int sig = SIGRTMIN + 3;
  SavedDisposition keep(sig);
  ASSERT_EQ(install(sig, plain_handler), 0);
  EXPECT_NE(kernel_action(sig).handler, reinterpret_cast<void *>(plain_handler));
  g_plain_sig = 0;
  ASSERT_EQ(raise(sig), 0);
  EXPECT_EQ(g_plain_sig, sig);
}

TEST(CaughtSignals, FaultSignalHandlersAreLeftAsInstalled) {
  SKIP_UNDER_TSAN();
  SavedDisposition keep(SIGBUS);
  ASSERT_EQ(install(SIGBUS, plain_handler), 0);
  EXPECT_EQ(kernel_action(SIGBUS).handler, reinterpret_cast<void *>(plain_handler));
}

TEST(CaughtSignals, ResetHandRunsOnceThenTheDefaultIsBack) {
  SavedDisposition keep(SIGUSR2);
  ASSERT_EQ(install(SIGUSR2, plain_handler, SA_RESETHAND), 0);
  g_plain_runs = 0;
  ASSERT_EQ(raise(SIGUSR2), 0);
  EXPECT_EQ(g_plain_runs, 1);
  struct sigaction got{};
  ASSERT_EQ(sigaction(SIGUSR2, nullptr, &got), 0);
  EXPECT_EQ(got.sa_handler, SIG_DFL);
}

TEST(CaughtSignals, SignalAndSigsetReturnThePreviousApplicationHandler) {
  SKIP_UNDER_TSAN();
  SavedDisposition keep(SIGUSR2);
  signal(SIGUSR2, SIG_DFL);
  EXPECT_EQ(signal(SIGUSR2, plain_handler), SIG_DFL);
  EXPECT_EQ(signal(SIGUSR2, other_handler), plain_handler);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  EXPECT_EQ(sigset(SIGUSR2, plain_handler), other_handler);
#pragma GCC diagnostic pop
  EXPECT_EQ(bsd_signal(SIGUSR2, other_handler), plain_handler);
  EXPECT_EQ(sysv_signal(SIGUSR2, plain_handler), other_handler);
  struct sigaction got{};
  ASSERT_EQ(sigaction(SIGUSR2, nullptr, &got), 0);
  EXPECT_EQ(got.sa_handler, plain_handler);
  EXPECT_NE(kernel_action(SIGUSR2).handler, reinterpret_cast<void *>(plain_handler));
  // sysv_signal installs a one-shot handler: still one-shot behind the wrapper.
  g_plain_runs = 0;
  ASSERT_EQ(raise(SIGUSR2), 0);
  EXPECT_EQ(g_plain_runs, 1);
  ASSERT_EQ(sigaction(SIGUSR2, nullptr, &got), 0);
  EXPECT_EQ(got.sa_handler, SIG_DFL);
}

TEST(CaughtSignals, SiginterruptChangesOnlyTheRestartFlag) {
  SKIP_UNDER_TSAN();
  SavedDisposition keep(SIGUSR2);
  signal(SIGUSR2, plain_handler);  // BSD semantics: SA_RESTART
  struct sigaction got{};
  ASSERT_EQ(sigaction(SIGUSR2, nullptr, &got), 0);
  EXPECT_TRUE(got.sa_flags & SA_RESTART);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  ASSERT_EQ(siginterrupt(SIGUSR2, 1), 0);
#pragma GCC diagnostic pop
  ASSERT_EQ(sigaction(SIGUSR2, nullptr, &got), 0);
  EXPECT_EQ(got.sa_handler, plain_handler);
  EXPECT_FALSE(got.sa_flags & SA_RESTART);
  EXPECT_FALSE(kernel_action(SIGUSR2).flags & SA_RESTART);
  g_plain_sig = 0;
  ASSERT_EQ(raise(SIGUSR2), 0);
  EXPECT_EQ(g_plain_sig, SIGUSR2);
}

TEST(CaughtSignals, HandlerReinstallingItselfFromInside) {
  SavedDisposition keep(SIGUSR2);
  signal(SIGUSR2, rearm_handler);
  g_rearm_runs = 0;
  for (int k = 0; k < 50; k++) ASSERT_EQ(raise(SIGUSR2), 0);
  EXPECT_EQ(g_rearm_runs, 50);
}

TEST(CaughtSignals, ReinstallingTheKernelsViewKeepsTheHandler) {
  SKIP_UNDER_TSAN();
  // A program may hand back what a raw rt_sigaction read showed it (libdoor's
  // wrapper): that must not make the wrapper call itself.
  SavedDisposition keep(SIGUSR2);
  signal(SIGUSR2, plain_handler);
  KernelAction k = kernel_action(SIGUSR2);
  struct sigaction back{};
  back.sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t *, void *)>(k.handler);
  back.sa_flags = static_cast<int>(k.flags & ~0x04000000ul);  // without SA_RESTORER: libc adds its own
  sigemptyset(&back.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &back, nullptr), 0);
  g_plain_sig = 0;
  ASSERT_EQ(raise(SIGUSR2), 0);
  EXPECT_EQ(g_plain_sig, SIGUSR2);
}

TEST(CaughtSignals, ChangesFromManyThreadsAtOnce) {
  SavedDisposition keep(SIGUSR2);
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++)
    ts.emplace_back([&, t] {
      while (!go.load()) {
      }
      for (int k = 0; k < 500; k++) {
        signal(SIGUSR2, (k + t) & 1 ? third_handler : other_handler);
        raise(SIGUSR2);
      }
    });
  go.store(true);
  for (auto &th : ts) th.join();
  struct sigaction got{};
  ASSERT_EQ(sigaction(SIGUSR2, nullptr, &got), 0);
  EXPECT_TRUE(got.sa_handler == third_handler || got.sa_handler == other_handler);
}

TEST(CaughtSignals, HandlersInstalledBeforeLibdoorAreWrapped) {
  SKIP_UNDER_TSAN();
  if (std::getenv("DOOR_TEST_EARLY_HANDLER")) {
    // The re-executed copy below: foreign_library.so, preloaded, installed
    // its handler from a constructor that ran before libdoor's.
    auto handler = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "early_handler"));
    auto *runs = static_cast<volatile sig_atomic_t *>(dlsym(RTLD_DEFAULT, "early_handler_runs"));
    ASSERT_TRUE(handler && runs) << "foreign_library.so is not loaded";
    EXPECT_NE(kernel_action(SIGUSR2).handler, reinterpret_cast<void *>(handler)) << "not wrapped";
    struct sigaction got{};
    ASSERT_EQ(sigaction(SIGUSR2, nullptr, &got), 0);
    EXPECT_EQ(got.sa_handler, handler);
    EXPECT_TRUE(got.sa_flags & SA_RESTART);
    ASSERT_EQ(raise(SIGUSR2), 0);
    EXPECT_EQ(*runs, 1);
    return;
  }
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("LD_PRELOAD", FOREIGN_LIBRARY_PATH, 1);
    setenv("DOOR_TEST_EARLY_HANDLER", "1", 1);
    execl("/proc/self/exe", "test_caught_signals", "--gtest_filter=CaughtSignals.HandlersInstalledBeforeLibdoorAreWrapped",
          "--gtest_brief=1", static_cast<char *>(nullptr));
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the re-executed test failed (its output is above)";
}

}  // namespace
