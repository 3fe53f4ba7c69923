// SPDX-License-Identifier: MIT
//
// test_pools.cpp — server thread pools: door_xcreate's per-door creation,
// depletion callbacks, a creation function that declines (calls queue,
// never fail), and client-abort cancellation vs DOOR_NO_CANCEL.
#include <door.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "door_test_util.h"

using doortest::call_str;
using doortest::ServerProcess;

namespace {

struct Counters {
  std::atomic<int> crf_calls, crf_depletion, setup_calls, cookie_ok, cancelled, completed;
};
Counters *c;

Counters *fresh() {
  c = static_cast<Counters *>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  new (c) Counters{};
  return c;
}

int crf_thread(door_info_t *info, void *(*startf)(void *), void *arg, void *crcookie) {
  c->crf_calls++;
  if (info && (info->di_attributes & DOOR_DEPLETION_CB)) c->crf_depletion++;
  if (crcookie == reinterpret_cast<void *>(0x5eed)) c->cookie_ok++;
  return doortest::start_detached(startf, arg);
}

void setup_thread(void *crcookie) {
  if (crcookie == reinterpret_cast<void *>(0x5eed)) c->setup_calls++;
}

void slow_echo(void *, char *argp, size_t n, door_desc_t *, uint_t) {
  usleep(100 * 1000);
  door_return(argp, n, nullptr, 0);
}

}  // namespace

TEST(DoorXcreate, CreatesAndBindsNthreadThreadsUpFront) {
  fresh();
  int d = door_xcreate(doortest::echo_proc, nullptr, 0, crf_thread, setup_thread, reinterpret_cast<void *>(0x5eed), 3);
  ASSERT_GE(d, 0) << strerror(errno);
  EXPECT_EQ(c->crf_calls.load(), 3);
  EXPECT_EQ(c->setup_calls.load(), 3) << "every thread runs the setup function before it serves";
  EXPECT_EQ(c->cookie_ok.load(), 3);
  door_info_t info;
  ASSERT_EQ(door_info(d, &info), 0);
  EXPECT_TRUE(info.di_attributes & DOOR_PRIVATE);
  EXPECT_EQ(call_str(d, "x"), "x");
  close(d);
}

TEST(DoorXcreate, DepletionAsksTheDoorsOwnFunctionAgain) {
  fresh();
  int d = door_xcreate(slow_echo, nullptr, 0, crf_thread, nullptr, nullptr, 1);
  ASSERT_GE(d, 0);
  std::thread a([&] { EXPECT_EQ(call_str(d, "a"), "a"); });
  std::thread b([&] { EXPECT_EQ(call_str(d, "b"), "b"); });
  a.join();
  b.join();
  EXPECT_GE(c->crf_depletion.load(), 1) << "taking the last thread must call crf with DOOR_DEPLETION_CB";
  close(d);
}

TEST(DoorXcreate, NoDepletionCallbacksWhenAsked) {
  fresh();
  int d = door_xcreate(slow_echo, nullptr, DOOR_NO_DEPLETION_CB, crf_thread, nullptr, nullptr, 1);
  ASSERT_GE(d, 0);
  std::thread a([&] { EXPECT_EQ(call_str(d, "a"), "a"); });
  std::thread b([&] { EXPECT_EQ(call_str(d, "b"), "b"); });  // queues behind a
  a.join();
  b.join();
  EXPECT_EQ(c->crf_calls.load(), 1);
  EXPECT_EQ(c->crf_depletion.load(), 0);
  close(d);
}

TEST(DoorXcreate, EINVAL_BadArguments) {
  fresh();
  EXPECT_EQ(door_xcreate(doortest::echo_proc, nullptr, 0, nullptr, nullptr, nullptr, 1), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(door_xcreate(doortest::echo_proc, nullptr, 0, crf_thread, nullptr, nullptr, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(door_xcreate(doortest::echo_proc, nullptr, 0x8000, crf_thread, nullptr, nullptr, 1), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST(DoorXcreate, FailsWhenAThreadCannotBeCreated) {
  fresh();
  auto decline = [](door_info_t *, void *(*)(void *), void *, void *) -> int { return 0; };
  EXPECT_EQ(door_xcreate(doortest::echo_proc, nullptr, 0, decline, nullptr, nullptr, 2), -1);
}

TEST(DoorServerCreate, DecliningFunctionMakesCallsQueueNotFail) {
  // The creation function creates nothing; the server's main thread joins
  // the pool late with door_return(NULL, 0, NULL, 0). Calls made before
  // must wait for it and then succeed.
  static std::atomic<int> *asked;
  asked = static_cast<std::atomic<int> *>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  int sp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
  pid_t srv = fork();
  if (srv == 0) {
    door_server_create([](door_info_t *) { asked->fetch_add(1); });
    int d = door_create(doortest::echo_proc, nullptr, 0);
    doortest::send_fd(sp[1], d);
    sleep(1);  // no server thread exists yet
    door_return(nullptr, 0, nullptr, 0);  // the main thread becomes one
    _exit(1);
  }
  int d = doortest::recv_fd(sp[0]);
  ASSERT_GE(d, 0);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(call_str(d, "queued"), "queued");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(ms, 500) << "the call must have waited for a thread";
  EXPECT_GE(asked->load(), 1);
  kill(srv, SIGKILL);
  waitpid(srv, nullptr, 0);
}

namespace {
/// Enables cancellation and sleeps in a cancellation point; a cleanup
/// handler records a cancellation.
void cancellable_proc(void *, char *argp, size_t n, door_desc_t *, uint_t) {
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, nullptr);
  pthread_cleanup_push([](void *) { c->cancelled++; }, nullptr);
  sleep(1);
  pthread_cleanup_pop(0);
  c->completed++;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, nullptr);
  door_return(argp, n, nullptr, 0);
}

void interrupt_call(int d) {
  struct sigaction sa{};
  sa.sa_handler = [](int) {};
  sigaction(SIGUSR2, &sa, nullptr);
  pthread_t self = pthread_self();
  std::thread killer([self] {
    usleep(200 * 1000);
    pthread_kill(self, SIGUSR2);
  });
  EXPECT_EQ(call_str(d, "abort me"), "ERR:" + std::to_string(EINTR));
  killer.join();
}
}  // namespace

TEST(Cancellation, ClientAbortCancelsTheServerThread) {
  fresh();
  ServerProcess srv([] { return std::vector<int>{door_create(cancellable_proc, nullptr, 0)}; });
  interrupt_call(srv.door());
  for (int i = 0; i < 200 && c->cancelled.load() == 0; i++) usleep(10 * 1000);
  EXPECT_EQ(c->cancelled.load(), 1);
  EXPECT_EQ(c->completed.load(), 0);
  EXPECT_EQ(call_str(srv.door(), "pool ok"), "pool ok") << "the pool recovers from the cancelled thread";
}

TEST(Cancellation, DoorNoCancelLetsTheProcedureFinish) {
  fresh();
  ServerProcess srv([] { return std::vector<int>{door_create(cancellable_proc, nullptr, DOOR_NO_CANCEL)}; });
  interrupt_call(srv.door());
  for (int i = 0; i < 300 && c->completed.load() == 0; i++) usleep(10 * 1000);
  EXPECT_EQ(c->completed.load(), 1);
  EXPECT_EQ(c->cancelled.load(), 0);
}
