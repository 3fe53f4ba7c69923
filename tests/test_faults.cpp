// SPDX-License-Identifier: MIT
//
// test_faults.cpp — peers that die at the worst moment, many times:
//  * clients SIGKILLed mid-call (plain, large-data and descriptor calls,
//    several threads), thousands of cycles: the server's descriptors,
//    threads, mappings and memory return to their baseline;
//  * the server SIGKILLed under many blocked callers in many processes:
//    every one returns EINTR promptly;
//  * server threads that exit or return mid-call: the caller gets EINTR,
//    the door keeps serving, nothing leaks.
// DOOR_FAULT_CYCLES sets the client-kill cycles (default 2000; 20000 with
// DOOR_SOAK=long).
#include <door.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "door_test_util.h"

using doortest::call_str;
using doortest::ProcCounts;
using doortest::server_counts;
using doortest::ServerProcess;

namespace {

std::atomic<int> g_blocked{0};  // in the server process: "block" calls running

/// counts: ProcCounts; mid: 3 ms then echo; block: 30 s; blocked: how many
/// "block" calls run; exit: pthread_exit; return: returns without
/// door_return; descriptors: answers with a dup of the first one; large
/// arguments: answers their size.
void fault_proc(void *, char *argp, size_t n, door_desc_t *dp, uint_t nd) {
  auto is = [&](const char *s) { return n == std::strlen(s) && std::memcmp(argp, s, n) == 0; };
  if (is("counts") || is("fdlist")) doortest::counts_or_echo_proc(nullptr, argp, n, dp, nd);
  if (is("mid")) usleep(3000);
  if (is("block")) {
    g_blocked++;
    sleep(30);
  }
  if (is("blocked")) {
    int b = g_blocked.load();
    door_return(reinterpret_cast<char *>(&b), sizeof b, nullptr, 0);
  }
  if (is("exit")) pthread_exit(nullptr);
  if (is("return")) return;
  if (nd > 0) {
    door_desc_t back{};
    back.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
    back.d_data.d_desc.d_descriptor = dup(dp[0].d_data.d_desc.d_descriptor);
    for (uint_t k = 0; k < nd; k++) close(dp[k].d_data.d_desc.d_descriptor);
    door_return(nullptr, 0, &back, 1);
  }
  if (n > 64) {
    std::string r = std::to_string(n);
    door_return(r.data(), r.size(), nullptr, 0);
  }
  door_return(argp, n, nullptr, 0);
}

ServerProcess fault_server() {
  return ServerProcess([] { return std::vector<int>{door_create(fault_proc, nullptr, 0)}; });
}

long env_long(const char *name, long dflt) {
  const char *v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : dflt;
}

double now_s() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // one clock for every process
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// One client that is killed during (or just before) its call. `kind`
/// picks the call: 0 slot-sized, 1 large data (memfd), 2 descriptors,
/// 3 four threads at once.
void doomed_client(int d, int kind, int ready_fd) {
  char c = 1;
  auto go = [&] { (void)!write(ready_fd, &c, 1); };
  switch (kind) {
    case 0:
      go();
      call_str(d, "mid");
      break;
    case 1: {
      std::string big(200 * 1024, 'b');
      go();
      call_str(d, big);
      break;
    }
    case 2: {
      int p[2];
      if (pipe(p) != 0) _exit(2);
      door_desc_t ds[3];
      for (auto &x : ds) {
        x.d_attributes = DOOR_DESCRIPTOR;
        x.d_data.d_desc.d_descriptor = p[0];
      }
      char rbuf[64];
      door_arg_t a{nullptr, 0, ds, 3, rbuf, sizeof rbuf};
      go();
      door_call(d, &a);
      break;
    }
    default: {
      std::vector<std::thread> ts;
      for (int k = 0; k < 4; k++) ts.emplace_back([&] { call_str(d, "mid"); });
      go();
      for (auto &t : ts) t.join();
    }
  }
  _exit(0);
}

/// Runs `cycles` fork-call-SIGKILL cycles against `d`.
void kill_clients(int d, long cycles) {
  for (long i = 0; i < cycles; i++) {
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    pid_t c = fork();
    ASSERT_GE(c, 0);
    if (c == 0) {
      close(p[0]);
      doomed_client(d, static_cast<int>(i % 4), p[1]);
    }
    close(p[1]);
    char b;
    (void)!read(p[0], &b, 1);
    close(p[0]);
    // Vary the moment: before the call is posted, while it runs, after.
    if (long us = (i * 7919) % 4000; us) usleep(static_cast<useconds_t>(us));
    kill(c, SIGKILL);
    waitpid(c, nullptr, 0);
  }
}

/// Mappings the server may gain without a leak; a leaked call region or
/// thread stack per cycle would add hundreds.
constexpr int kMapsSlack = 32 + doortest::kSanitizerMapsSlack;

/// Waits until the server's counts are back within the given slack of
/// `base` (connections of dead clients are torn down asynchronously).
ProcCounts settle(int d, const ProcCounts &base, int thread_slack, int maps_slack, long rss_slack_kb) {
  ProcCounts now{};
  for (int i = 0; i < 150; i++) {
    now = server_counts(d);
    if (now.fds <= base.fds && now.threads <= base.threads + thread_slack && now.maps <= base.maps + maps_slack &&
        now.rss_kb <= base.rss_kb + rss_slack_kb)
      break;
    usleep(100 * 1000);
  }
  return now;
}

}  // namespace

TEST(Faults, ClientsKilledMidCallThousandsOfTimesLeakNothing) {
  ServerProcess srv = fault_server();
  int d = srv.door();
  // Warm up with the same mix so the pool and allocator reach their size.
  kill_clients(d, 64);
  ProcCounts base = settle(d, ProcCounts{1 << 20, 1 << 20, 1 << 20, 1L << 40}, 0, 0, 0);
  for (int i = 0; i < 30; i++) {  // wait for quiet: bound threads unbind after 1 s
    usleep(100 * 1000);
    base = server_counts(d);
  }
  ASSERT_GT(base.fds, 0);
  const std::string base_fds = doortest::server_fd_list(d);
  const char *soak = std::getenv("DOOR_SOAK");
  const long cycles = env_long("DOOR_FAULT_CYCLES", soak && std::string(soak) == "long" ? 20000 : 2000);
  auto t0 = std::chrono::steady_clock::now();
  kill_clients(d, cycles);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ProcCounts after = settle(d, base, 4, kMapsSlack, 16 * 1024 + doortest::kSanitizerRssSlackKb);
  RecordProperty("cycles", std::to_string(cycles));
  std::printf("%ld kill cycles in %.1f s; server fds %d->%d threads %d->%d maps %d->%d rss %ld->%ld KiB\n", cycles,
              secs, base.fds, after.fds, base.threads, after.threads, base.maps, after.maps, base.rss_kb,
              after.rss_kb);
  EXPECT_LE(after.fds, base.fds) << "a dead client's connection, channels or descriptors leaked\nbefore:\n"
                                 << base_fds << "after:\n" << doortest::server_fd_list(d);
  EXPECT_LE(after.threads, base.threads + 4) << "server threads were not released";
  EXPECT_LE(after.maps, base.maps + kMapsSlack) << "call regions or argument mappings leaked";
  EXPECT_LE(after.rss_kb, base.rss_kb + 16 * 1024) << "memory grows with dead clients";
  EXPECT_EQ(call_str(d, "still"), "still");
}

TEST(Faults, ServerKilledUnderManyBlockedCallersAllGetEINTRPromptly) {
  ServerProcess srv = fault_server();
  int d = srv.door();
  constexpr int kProcs = 6, kThreadsPerProc = 12, kLocal = 16;
  constexpr int kTotal = kProcs * kThreadsPerProc + kLocal;
  struct Report {
    int eintr;
    int other;
    double last_return;
  };
  std::vector<std::pair<pid_t, int>> kids;
  for (int p = 0; p < kProcs; p++) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t c = fork();
    if (c == 0) {
      alarm(60);
      close(fds[0]);
      std::atomic<int> eintr{0}, other{0};
      std::atomic<double> last{0};
      std::vector<std::thread> ts;
      for (int k = 0; k < kThreadsPerProc; k++)
        ts.emplace_back([&] {
          std::string r = call_str(d, "block");
          (r == "ERR:" + std::to_string(EINTR) ? eintr : other)++;
          double t = now_s(), prev = last.load();
          while (t > prev && !last.compare_exchange_weak(prev, t)) {
          }
        });
      for (auto &t : ts) t.join();
      Report rep{eintr.load(), other.load(), last.load()};
      (void)!write(fds[1], &rep, sizeof rep);
      _exit(0);
    }
    close(fds[1]);
    kids.emplace_back(c, fds[0]);
  }
  std::atomic<int> eintr{0}, other{0};
  std::vector<std::thread> ts;
  for (int k = 0; k < kLocal; k++)
    ts.emplace_back([&] { (call_str(d, "block") == "ERR:" + std::to_string(EINTR) ? eintr : other)++; });
  // Every caller is inside the procedure before the kill.
  int blocked = 0;
  for (int i = 0; i < 200 && blocked < kTotal; i++) {
    usleep(50 * 1000);
    char rbuf[16];
    door_arg_t a{const_cast<char *>("blocked"), 7, nullptr, 0, rbuf, sizeof rbuf};
    if (door_call(d, &a) == 0 && a.data_size == sizeof blocked) std::memcpy(&blocked, a.data_ptr, sizeof blocked);
  }
  ASSERT_EQ(blocked, kTotal) << "not every caller reached the server";
  double killed_at = now_s();
  srv.kill_now();
  for (auto &t : ts) t.join();
  double local_done = now_s();
  int total_eintr = eintr.load(), total_other = other.load();
  double worst = local_done - killed_at;
  for (auto &[pid, fd] : kids) {
    Report rep{};
    ASSERT_EQ(read(fd, &rep, sizeof rep), static_cast<ssize_t>(sizeof rep));
    close(fd);
    waitpid(pid, nullptr, 0);
    total_eintr += rep.eintr;
    total_other += rep.other;
    worst = std::max(worst, rep.last_return - killed_at);
  }
  EXPECT_EQ(total_eintr, kTotal);
  EXPECT_EQ(total_other, 0);
  EXPECT_LT(worst, 2.0) << "the last caller returned " << worst << " s after the kill";
}

TEST(Faults, ServerThreadsExitingMidCallAreReplaced) {
  ServerProcess srv = fault_server();
  int d = srv.door();
  for (int i = 0; i < 5; i++) ASSERT_EQ(call_str(d, "warm"), "warm");
  // Meanwhile another client keeps calling and must see exact answers.
  std::atomic<bool> stop{false};
  std::atomic<int> good{0}, bad{0};
  std::thread bystander([&] {
    for (int i = 0; !stop; i++) {
      std::string m = "by" + std::to_string(i);
      (call_str(d, m) == m ? good : bad)++;
    }
  });
  // The baseline includes both callers' slots (each slot keeps its channel).
  while (good.load() < 10) usleep(1000);
  ProcCounts base = server_counts(d);
  for (int i = 0; i < 200; i++) {
    EXPECT_EQ(call_str(d, i % 2 ? "exit" : "return"), "ERR:" + std::to_string(EINTR));
    EXPECT_EQ(call_str(d, "after" + std::to_string(i)), "after" + std::to_string(i));
  }
  stop = true;
  bystander.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(good.load(), 0);
  ProcCounts after = settle(d, base, 4, kMapsSlack, 16 * 1024 + doortest::kSanitizerRssSlackKb);
  EXPECT_LE(after.fds, base.fds);
  EXPECT_LE(after.threads, base.threads + 4) << "exited threads must not accumulate";
  EXPECT_LE(after.maps, base.maps + kMapsSlack);
}
