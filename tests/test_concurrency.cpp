// SPDX-License-Identifier: MIT
//
// test_concurrency.cpp — many callers at once: every call gets its own
// server thread (no fixed limit), thousands of calls from many threads and
// processes complete with the right answers.
#include <door.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "door_test_util.h"

using doortest::call_str;
using doortest::ServerProcess;

namespace {
struct Shared {
  std::atomic<int> inside;
  std::atomic<int> max_inside;
  std::atomic<int> release;
};
Shared *g_shared;

/// Holds every caller until `want` invocations are running at once.
void barrier_proc(void *cookie, char *argp, size_t n, door_desc_t *, uint_t) {
  int want = static_cast<int>(reinterpret_cast<intptr_t>(cookie));
  int now = ++g_shared->inside;
  int m = g_shared->max_inside.load();
  while (now > m && !g_shared->max_inside.compare_exchange_weak(m, now)) {
  }
  for (int i = 0; i < 20000 && g_shared->max_inside.load() < want; i++) usleep(1000);
  --g_shared->inside;
  door_return(argp, n, nullptr, 0);
}
}  // namespace

TEST(Concurrency, OneServerThreadPerConcurrentCall) {
  // 150 calls that can only finish once all 150 run at the same time:
  // needs 150 server threads and three connections' worth of slots.
  constexpr int kCalls = 150;
  g_shared = static_cast<Shared *>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ServerProcess srv([] {
    return std::vector<int>{
        door_create(barrier_proc, reinterpret_cast<void *>(static_cast<intptr_t>(kCalls)), 0)};
  });
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < kCalls; i++)
    ts.emplace_back([&, i] {
      std::string m = "c" + std::to_string(i);
      if (call_str(srv.door(), m) == m) ok++;
    });
  for (auto &t : ts) t.join();
  EXPECT_EQ(ok.load(), kCalls);
  EXPECT_EQ(g_shared->max_inside.load(), kCalls);
}

TEST(Concurrency, ThousandsOfCallsFromManyThreads) {
  ServerProcess srv([] { return std::vector<int>{door_create(doortest::echo_proc, nullptr, 0)}; });
  constexpr int kThreads = 64, kPerThread = 250;
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        std::string m = std::to_string(t) + ":" + std::to_string(i) + std::string(i % 7 * 100, 'p');
        (call_str(srv.door(), m) == m ? ok : bad)++;
      }
    });
  for (auto &t : ts) t.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(bad.load(), 0);
}

TEST(Concurrency, ManyClientProcessesAtOnce) {
  ServerProcess srv([] { return std::vector<int>{door_create(doortest::echo_proc, nullptr, 0)}; });
  constexpr int kProcs = 16;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; p++) {
    pid_t c = fork();
    if (c == 0) {
      alarm(60);
      int good = 0;
      std::vector<std::thread> ts;
      std::atomic<int> ok{0};
      for (int t = 0; t < 4; t++)
        ts.emplace_back([&] {
          for (int i = 0; i < 200; i++)
            if (call_str(srv.door(), "m" + std::to_string(i)) == "m" + std::to_string(i)) ok++;
        });
      for (auto &t : ts) t.join();
      good = ok.load();
      _exit(good == 800 ? 0 : 1);
    }
    kids.push_back(c);
  }
  int passed = 0;
  for (pid_t c : kids) {
    int st;
    waitpid(c, &st, 0);
    passed += WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }
  EXPECT_EQ(passed, kProcs);
}

TEST(Concurrency, CallersInterruptedBySignalsLeaveNoMess) {
  // Signals hitting callers while calls run must not corrupt slots for the
  // calls that follow (abandoned slots are reclaimed after their reply).
  static std::atomic<int> *dummy;
  dummy = static_cast<std::atomic<int> *>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ServerProcess srv([] {
    return std::vector<int>{door_create(
        [](void *, char *argp, size_t n, door_desc_t *, uint_t) {
          usleep(2000);
          door_return(argp, n, nullptr, 0);
        },
        nullptr, 0)};
  });
  struct sigaction sa{};
  sa.sa_handler = [](int) { dummy->fetch_add(1); };
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, intr{0}, other{0};
  std::vector<std::thread> ts;
  std::vector<pthread_t> ids(8);
  std::atomic<int> started{0};
  for (int t = 0; t < 8; t++)
    ts.emplace_back([&, t] {
      ids[t] = pthread_self();
      started.fetch_add(1, std::memory_order_release);
      for (int i = 0; !stop; i++) {
        std::string m = std::to_string(t) + "/" + std::to_string(i);
        std::string r = call_str(srv.door(), m);
        if (r == m)
          ok++;
        else if (r == "ERR:" + std::to_string(EINTR) || r == "ERR:" + std::to_string(EAGAIN))
          intr++;
        else
          other++;
      }
    });
  while (started.load(std::memory_order_acquire) < 8) usleep(1000);
  usleep(50 * 1000);
  for (int k = 0; k < 200; k++) {
    pthread_kill(ids[k % 8], SIGUSR1);
    usleep(1000);
  }
  stop = true;
  for (auto &t : ts) t.join();
  signal(SIGUSR1, SIG_DFL);
  EXPECT_EQ(other.load(), 0) << "no call may see another call's reply or a bogus error";
  EXPECT_GT(intr.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(call_str(srv.door(), "clean"), "clean");
}
