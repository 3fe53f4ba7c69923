// SPDX-License-Identifier: MIT
//
// test_limits.cpp — per-door and per-client resource limits
// (DOOR_PARAM_*_NP, userspace/params.h): defaults and ranges, EAGAIN for
// calls beyond the concurrent-call limits, E2BIG/EAGAIN for large
// arguments beyond the in-flight byte limits, and that one client at its
// limit neither starves others nor grows the server's thread count.
#include <dirent.h>
#include <door.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "door_test_util.h"

using doortest::call_str;
using doortest::g_gate;
using doortest::gate_hold;
using doortest::gate_reset;
using doortest::gate_wait_until;
using doortest::ServerProcess;

namespace {

int count_dir(const char *path) {
  int n = 0;
  if (DIR *d = opendir(path)) {
    while (readdir(d)) n++;
    closedir(d);
  }
  return n;
}

/// "hold": held at the gate, then echoes; "threads": the server's thread
/// count; anything else (any size): replies with its size, arguments
/// larger than a call slot being held at the gate first.
void limits_proc(void *, char *argp, size_t n, door_desc_t *, uint_t) {
  if (n == 4 && std::memcmp(argp, "hold", 4) == 0) gate_hold();
  if (n == 7 && std::memcmp(argp, "threads", 7) == 0) {
    std::string r = std::to_string(count_dir("/proc/self/task"));
    door_return(r.data(), r.size(), nullptr, 0);
  }
  if (n > 64) {  // large arguments: touch them, then answer their size
    if (n > 1 << 16) gate_hold();
    volatile char sink = argp[n - 1];
    (void)sink;
    std::string r = std::to_string(n);
    door_return(r.data(), r.size(), nullptr, 0);
  }
  door_return(argp, n, nullptr, 0);
}

/// A server whose door has `param` set to `value` (set by the creator).
ServerProcess limited_server(int param, size_t value, int param2 = 0, size_t value2 = 0) {
  return ServerProcess([=] {
    int d = door_create(limits_proc, nullptr, 0);
    if (door_setparam(d, param, value) != 0) _exit(3);
    if (param2 && door_setparam(d, param2, value2) != 0) _exit(3);
    return std::vector<int>{d};
  });
}

/// Runs `n` concurrent calls of `msg` from `n` threads; returns errno
/// counts (0 = success) as "ok" and "eagain", anything else in "other".
/// With `open_gate_at` > 0 the gate opens once that many calls (across
/// every client of the test) entered the server or came back.
struct Tally {
  int ok = 0, eagain = 0, e2big = 0, other = 0;
};
Tally concurrent_calls(int d, int n, const std::string &msg, int open_gate_at = 0) {
  std::atomic<int> ok{0}, eagain{0}, e2big{0}, other{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < n; i++)
    ts.emplace_back([&] {
      std::string r = call_str(d, msg);
      g_gate->returned++;
      if (r == "ERR:" + std::to_string(EAGAIN))
        eagain++;
      else if (r == "ERR:" + std::to_string(E2BIG))
        e2big++;
      else if (r.rfind("ERR:", 0) == 0)
        other++;
      else
        ok++;
    });
  if (open_gate_at > 0) {
    EXPECT_TRUE(gate_wait_until([&](int e, int r) { return e + r >= open_gate_at; }))
        << "calls neither entered the server nor came back";
    g_gate->open = 1;
  }
  for (auto &t : ts) t.join();
  return Tally{ok.load(), eagain.load(), e2big.load(), other.load()};
}

}  // namespace

TEST(Limits, DefaultsAreDocumentedAndVisibleToClients) {
  int d = door_create(limits_proc, nullptr, 0);
  ASSERT_GE(d, 0);
  const std::pair<int, size_t> documented[] = {{DOOR_PARAM_CALLS_MAX_NP, 1024},
                                               {DOOR_PARAM_CLIENT_CALLS_MAX_NP, 256},
                                               {DOOR_PARAM_INFLIGHT_MAX_NP, size_t{1} << 30},
                                               {DOOR_PARAM_CLIENT_INFLIGHT_MAX_NP, size_t{256} << 20},
                                               {DOOR_PARAM_CLIENT_CONNS_MAX_NP, 256}};
  size_t v = 0;
  for (auto [param, want] : documented) {
    ASSERT_EQ(door_getparam(d, param, &v), 0) << "param 0x" << std::hex << param;
    EXPECT_EQ(v, want) << "param 0x" << std::hex << param;
  }
  close(d);
  // A client reads the values the creator set.
  ServerProcess srv = limited_server(DOOR_PARAM_CLIENT_CALLS_MAX_NP, 7, DOOR_PARAM_INFLIGHT_MAX_NP, 12345);
  ASSERT_EQ(door_getparam(srv.door(), DOOR_PARAM_CLIENT_CALLS_MAX_NP, &v), 0);
  EXPECT_EQ(v, 7u);
  ASSERT_EQ(door_getparam(srv.door(), DOOR_PARAM_INFLIGHT_MAX_NP, &v), 0);
  EXPECT_EQ(v, 12345u);
  // Only the creator sets them.
  errno = 0;
  EXPECT_EQ(door_setparam(srv.door(), DOOR_PARAM_CALLS_MAX_NP, 5), -1);
  EXPECT_EQ(errno, EPERM);
}

TEST(Limits, SetparamRanges) {
  int d = door_create(limits_proc, nullptr, 0);
  ASSERT_GE(d, 0);
  for (int p : {DOOR_PARAM_CALLS_MAX_NP, DOOR_PARAM_CLIENT_CALLS_MAX_NP, DOOR_PARAM_CLIENT_CONNS_MAX_NP}) {
    errno = 0;
    EXPECT_EQ(door_setparam(d, p, 0), -1) << "at least one call (connection) must be possible";
    EXPECT_EQ(errno, ERANGE);
    errno = 0;
    EXPECT_EQ(door_setparam(d, p, size_t{INT_MAX} + 1), -1);
    EXPECT_EQ(errno, ERANGE);
    EXPECT_EQ(door_setparam(d, p, INT_MAX), 0);
  }
  EXPECT_EQ(door_setparam(d, DOOR_PARAM_INFLIGHT_MAX_NP, 0), 0) << "0: no argument larger than a slot";
  EXPECT_EQ(door_setparam(d, DOOR_PARAM_CLIENT_INFLIGHT_MAX_NP, SIZE_MAX), 0);
  size_t v = 1;
  ASSERT_EQ(door_getparam(d, DOOR_PARAM_INFLIGHT_MAX_NP, &v), 0);
  EXPECT_EQ(v, 0u);
  // An unknown Linux parameter number is still EINVAL.
  errno = 0;
  EXPECT_EQ(door_setparam(d, 0x1fff, 1), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(door_getparam(d, 0x1fff, &v), -1);
  EXPECT_EQ(errno, EINVAL);
  close(d);
}

TEST(Limits, ClientCallsBeyondTheLimitGetEAGAIN) {
  gate_reset();
  ServerProcess srv = limited_server(DOOR_PARAM_CLIENT_CALLS_MAX_NP, 2);
  Tally t = concurrent_calls(srv.door(), 5, "hold", 5);
  EXPECT_EQ(t.ok, 2);
  EXPECT_EQ(t.eagain, 3) << "calls beyond the per-client limit fail with EAGAIN";
  EXPECT_EQ(t.other, 0);
  // Idle bindings left by those calls do not refuse later calls made one
  // at a time from other threads: their budget is handed over.
  for (int i = 0; i < 6; i++) {
    std::string r;
    std::thread th([&] { r = call_str(srv.door(), "seq" + std::to_string(i)); });
    th.join();
    EXPECT_EQ(r, "seq" + std::to_string(i));
  }
}

TEST(Limits, ClientConnectionsBeyondTheLimitGetEAGAIN) {
  // One connection carries 64 concurrent calls; with one allowed, a client
  // making more at once gets EAGAIN for the rest, and may call again later.
  gate_reset();
  ServerProcess srv = limited_server(DOOR_PARAM_CLIENT_CONNS_MAX_NP, 1);
  size_t v = 0;
  ASSERT_EQ(door_getparam(srv.door(), DOOR_PARAM_CLIENT_CONNS_MAX_NP, &v), 0);
  EXPECT_EQ(v, 1u);
  Tally t = concurrent_calls(srv.door(), 70, "hold", 70);
  EXPECT_EQ(t.ok, 64);
  EXPECT_EQ(t.eagain, 6) << "calls that needed a second connection";
  EXPECT_EQ(t.other, 0);
  EXPECT_EQ(call_str(srv.door(), "after"), "after");
}

TEST(Limits, DoorCallsLimitCountsEveryClient) {
  gate_reset();
  ServerProcess srv = limited_server(DOOR_PARAM_CALLS_MAX_NP, 3);
  int d = srv.door();
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t other = fork();
  if (other == 0) {  // a second client process: two concurrent calls
    close(pipefd[0]);
    Tally t = concurrent_calls(d, 2, "hold");  // the parent opens the gate
    (void)!write(pipefd[1], &t, sizeof t);
    _exit(0);
  }
  close(pipefd[1]);
  // Four calls from two processes; the gate opens once all four settled.
  Tally mine = concurrent_calls(d, 2, "hold", 4);
  Tally theirs{};
  ASSERT_EQ(read(pipefd[0], &theirs, sizeof theirs), static_cast<ssize_t>(sizeof theirs));
  close(pipefd[0]);
  waitpid(other, nullptr, 0);
  EXPECT_EQ(mine.ok + theirs.ok, 3) << "at most calls_max calls run across clients";
  EXPECT_EQ(mine.eagain + theirs.eagain, 1);
  EXPECT_EQ(mine.other + theirs.other, 0);
}

TEST(Limits, ClientAtItsLimitDoesNotStarveOthers) {
  gate_reset();
  ServerProcess srv = limited_server(DOOR_PARAM_CLIENT_CALLS_MAX_NP, 4);
  int d = srv.door();
  pid_t hog = fork();
  if (hog == 0) {  // floods with held calls from 32 threads until the gate opens
    alarm(120);
    std::vector<std::thread> ts;
    for (int i = 0; i < 32; i++)
      ts.emplace_back([&] {
        while (!g_gate->open.load()) {
          call_str(d, "hold");
          g_gate->returned++;
        }
      });
    for (auto &t : ts) t.join();
    _exit(0);
  }
  ASSERT_TRUE(gate_wait_until([](int e, int r) { return e == 4 && r > 0; }))
      << "the hog holds its 4 calls and is being refused more";
  int good = 0;
  for (int i = 0; i < 50; i++) good += call_str(d, "ok" + std::to_string(i)) == "ok" + std::to_string(i);
  EXPECT_EQ(good, 50) << "another client keeps getting answers";
  int threads = std::stoi(call_str(d, "threads"));
  // The hog engages at most 4 server threads; the pool holds a few more
  // (ours, idle ones, the reactor): nowhere near one per hog thread.
  EXPECT_LT(threads, 16) << "a client at its limit must not grow the pool";
  EXPECT_EQ(g_gate->entered.load(), 4) << "never more than the hog's 4 calls inside";
  g_gate->open = 1;
  kill(hog, SIGKILL);
  waitpid(hog, nullptr, 0);
}

TEST(Limits, LargeArgumentsBeyondTheByteLimits) {
  gate_reset();
  ServerProcess srv = limited_server(DOOR_PARAM_CLIENT_INFLIGHT_MAX_NP, 1 << 20);
  int d = srv.door();
  std::string big(2 << 20, 'x');
  EXPECT_EQ(call_str(d, big), "ERR:" + std::to_string(E2BIG)) << "larger than the limit by itself";
  std::string half(600 * 1024, 'y');  // two of these do not fit at once
  Tally t = concurrent_calls(d, 2, half, 2);
  EXPECT_EQ(t.ok, 1);
  EXPECT_EQ(t.eagain, 1) << "fits alone, not beside a running call";
  EXPECT_EQ(call_str(d, half), std::to_string(half.size())) << "budget returned after the call";
  // Arguments that fit a call slot are not counted.
  std::string slot(100 * 1024, 'z');
  Tally s = concurrent_calls(d, 8, slot);
  EXPECT_EQ(s.ok, 8);
}

TEST(Limits, DoorByteLimitCountsEveryClient) {
  gate_reset();
  ServerProcess srv = limited_server(DOOR_PARAM_INFLIGHT_MAX_NP, 1 << 20);
  int d = srv.door();
  std::string half(600 * 1024, 'y');
  pid_t other = fork();
  if (other == 0) _exit(call_str(d, half) == std::to_string(half.size()) ? 0 : 1);
  ASSERT_TRUE(gate_wait_until([](int e, int) { return e == 1; })) << "the other client's call holds 600 KiB";
  std::string r = call_str(d, half);
  g_gate->open = 1;
  int st;
  waitpid(other, &st, 0);
  EXPECT_EQ(r, "ERR:" + std::to_string(EAGAIN));
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_EQ(call_str(d, half), std::to_string(half.size()));
}
