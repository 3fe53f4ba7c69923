// SPDX-License-Identifier: MIT
//
// test_async.cpp — asynchronous door calls (<door_async.h>,
// <door/async.hpp>): many calls in flight from one thread on one ring,
// mixed with blocking calls, the pollable descriptor under epoll, server
// death, cancellation and context teardown with calls pending (no slot
// leaked, no stale futex waiter left on a reused slot), and the errnos of
// door_call_async_np(3) and friends.
#include <door.h>
#include <door_async.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <dirent.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <door/async.hpp>
#include <door/door.hpp>
#include <functional>
#include <map>
#include <utility>
#include <string>
#include <thread>
#include <vector>

#include "door_test_util.h"

using namespace doortest;
using Clock = std::chrono::steady_clock;

namespace {

// No spinning anywhere in this binary (set before libdoor reads it): every
// reply then travels through the futex path, so a wake-up lost to a stale
// waiter shows up as a hang instead of being hidden by a spin.
[[maybe_unused]] const int kNoSpin = setenv("DOOR_SPIN_NS", "0", 1);

/// Invocations that started, counted across the fork (MAP_SHARED).
std::atomic<int> *g_started = [] {
  void *p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return new (p) std::atomic<int>(0);
}();

/// Opened by the test to let "G" calls finish (MAP_SHARED, like g_started).
std::atomic<int> *g_release = [] {
  void *p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return new (p) std::atomic<int>(0);
}();

/// "S<ms>:<tag>" sleeps <ms> then echoes; "G<tag>" echoes once g_release is
/// open; "F<text>" returns a pipe whose read end holds <text>; anything
/// else is echoed.
void test_proc(void *, char *argp, size_t n, door_desc_t *, uint_t) {
  if (n > 0 && argp[0] == 'G') {
    while (g_release->load() == 0) usleep(1000);
  } else if (n > 0 && argp[0] == 'S') {
    g_started->fetch_add(1);
    usleep(static_cast<useconds_t>(std::atoi(argp + 1)) * 1000);
  } else if (n > 0 && argp[0] == 'F') {
    int p[2];
    if (pipe(p) == 0) {
      (void)!write(p[1], argp + 1, n - 1);
      close(p[1]);
      door_desc_t d{};
      d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
      d.d_data.d_desc.d_descriptor = p[0];
      door_return(argp, n, &d, 1);
    }
  }
  door_return(argp, n, nullptr, 0);
}

/// Creates no server thread: calls to its doors are never claimed.
void no_threads(door_info_t *) {}

ServerProcess serve() {
  return ServerProcess([] { return std::vector<int>{door_create(test_proc, nullptr, 0)}; });
}

/// One asynchronous call: its arguments, result buffer and door_arg_t.
struct Call {
  std::string arg;
  char rbuf[256];
  door_arg_t a{};
  explicit Call(std::string s) : arg(std::move(s)) {
    a = door_arg_t{arg.data(), arg.size(), nullptr, 0, rbuf, sizeof rbuf};
  }
  std::string result() const { return std::string(a.data_ptr, a.data_size); }
};

/// A finished call that must have succeeded with its own arguments echoed.
void expect_echoed(const door_async_result_t &r) {
  EXPECT_EQ(r.error, 0) << strerror(r.error);
  auto *c = static_cast<Call *>(r.user);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(r.params, &c->a);
  EXPECT_EQ(c->result(), c->arg);
}

/// Posts one call per argument in `args` (user pointer: the Call).
void post_all(int d, door_async_t *ax, std::vector<std::unique_ptr<Call>> &calls, const std::vector<std::string> &args,
              bool with_user = true) {
  for (const auto &a : args) {
    calls.push_back(std::make_unique<Call>(a));
    Call *c = calls.back().get();
    ASSERT_EQ(door_call_async_np(d, &c->a, ax, with_user ? c : nullptr, nullptr), 0) << strerror(errno);
  }
}

/// "<prefix>0" ... "<prefix><n-1>".
std::vector<std::string> numbered(const std::string &prefix, int n) {
  std::vector<std::string> v;
  for (int k = 0; k < n; k++) v.push_back(prefix + std::to_string(k));
  return v;
}

/// A caller-provided ring.
struct Ring {
  struct io_uring r{};
  bool ok = false;
  explicit Ring(unsigned entries = 256) { ok = io_uring_queue_init(entries, &r, 0) == 0; }
  ~Ring() {
    if (ok) io_uring_queue_exit(&r);
  }
};

/// A context attached to a ring of the test's own; destroyed with it
/// unless the test destroys it first (then it sets `ax` to null).
struct Attached {
  Ring ring;
  door_async_t *ax = nullptr;
  explicit Attached(unsigned depth) {
    if (ring.ok) ax = door_async_create_np(&ring.r, depth, 0);
  }
  ~Attached() {
    if (ax) door_async_destroy_np(ax);
  }
  /// Destroys the context now (door_async_destroy_np's result).
  int destroy() { return door_async_destroy_np(std::exchange(ax, nullptr)); }
};

/// Submits and reaps `ring` until `want` calls of `ax` finished (results
/// appended to `out`) or `timeout` passed. Returns false on timeout.
bool drive(struct io_uring *ring, door_async_t *ax, std::vector<door_async_result_t> &out, size_t want,
           std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = Clock::now() + timeout;
  while (out.size() < want) {
    io_uring_submit(ring);
    struct __kernel_timespec ts{0, 50 * 1000 * 1000};
    struct io_uring_cqe *cqe;
    int w = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
    if (w < 0 && w != -ETIME && w != -EINTR) return false;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(ring, head, cqe) {
      door_async_result_t r;
      seen++;
      EXPECT_TRUE(DOOR_ASYNC_IS_TOKEN(cqe->user_data));
      int n = door_async_complete_np(ax, cqe->user_data, cqe->res, &r);
      EXPECT_GE(n, 0) << strerror(errno);
      if (n == 1) out.push_back(r);
    }
    io_uring_cq_advance(ring, seen);
    if (Clock::now() > deadline) return false;
  }
  return true;
}

/// Sets (value non-null) or unsets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char *name, const char *value) : name_(name) {
    if (const char *old = getenv(name)) old_ = old;
    value ? setenv(name, value, 1) : unsetenv(name);
  }
  ~ScopedEnv() { old_.empty() ? unsetenv(name_) : setenv(name_, old_.c_str(), 1); }

 private:
  const char *name_;
  std::string old_;
};

/// Threads of this process named `name`.
int threads_named(const std::string &name) {
  int n = 0;
  DIR *d = opendir("/proc/self/task");
  while (struct dirent *e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string comm;
    if (FILE *f = fopen(("/proc/self/task/" + std::string(e->d_name) + "/comm").c_str(), "r")) {
      char buf[32] = {};
      if (fgets(buf, sizeof buf, f)) comm = buf;
      fclose(f);
    }
    if (comm == name + "\n") n++;
  }
  closedir(d);
  return n;
}

/// True if this kernel's io_uring can wait on futexes (Linux >= 6.7).
bool kernel_has_uring_futex_wait() {
  struct io_uring_probe *p = io_uring_get_probe();
  bool ok = p && io_uring_opcode_supported(p, IORING_OP_FUTEX_WAIT);
  if (p) io_uring_free_probe(p);
  return ok;
}

/// Descriptors open in this process.
int open_fds() {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  while (struct dirent *e = readdir(d))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

}  // namespace

TEST(AsyncCall, ManyInFlightOneThreadOneRing) {
  auto srv = serve();
  Attached cx(64);
  ASSERT_NE(cx.ax, nullptr) << strerror(errno);
  auto &ring = cx.ring;
  door_async_t *ax = cx.ax;
  // 500 calls, at most 64 in flight, all from this thread: each result
  // must be its own call's arguments.
  constexpr int kCalls = 500;
  std::vector<std::unique_ptr<Call>> calls;
  for (int k = 0; k < kCalls; k++) calls.push_back(std::make_unique<Call>("call-" + std::to_string(k)));
  int next = 0, ok = 0;
  std::vector<door_async_result_t> done;
  while (ok < kCalls) {
    while (next < kCalls && door_async_pending_np(ax) < 64) {
      Call *c = calls[next].get();
      ASSERT_EQ(door_call_async_np(srv.door(), &c->a, ax, c, nullptr), 0) << strerror(errno);
      next++;
    }
    done.clear();
    ASSERT_TRUE(drive(&ring.r, ax, done, 1));
    for (auto &r : done) {
      expect_echoed(r);
      ok++;
    }
  }
  EXPECT_EQ(door_async_pending_np(ax), 0);
  EXPECT_EQ(cx.destroy(), 0);
}

TEST(AsyncCall, InFlightCallsRunConcurrently) {
  auto srv = serve();
  Attached cx(32);
  ASSERT_NE(cx.ax, nullptr) << strerror(errno);
  auto &ring = cx.ring;
  door_async_t *ax = cx.ax;
  // 16 calls of 200 ms each: sequentially 3.2 s; in flight together they
  // take about one call's time plus the server pool's growth.
  std::vector<std::unique_ptr<Call>> calls;
  auto t0 = Clock::now();
  post_all(srv.door(), ax, calls, numbered("S200:", 16));
  std::vector<door_async_result_t> done;
  ASSERT_TRUE(drive(&ring.r, ax, done, 16));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_LT(ms, 1600) << "calls in flight did not overlap";
  for (auto &r : done) {
    expect_echoed(r);
  }
  cx.destroy();
}

TEST(AsyncCall, MixedWithBlockingCallsOnTheSameDoor) {
  auto srv = serve();
  Attached cx(16);
  ASSERT_NE(cx.ax, nullptr) << strerror(errno);
  auto &ring = cx.ring;
  door_async_t *ax = cx.ax;
  Call slow("S300:slow"), fast("fast");
  ASSERT_EQ(door_call_async_np(srv.door(), &slow.a, ax, &slow, nullptr), 0);
  ASSERT_EQ(door_call_async_np(srv.door(), &fast.a, ax, &fast, nullptr), 0);
  io_uring_submit(&ring.r);
  // Blocking calls from the same thread while both are in flight, and
  // from another thread.
  for (int k = 0; k < 50; k++) EXPECT_EQ(call_str(srv.door(), "b" + std::to_string(k)), "b" + std::to_string(k));
  std::thread other([&] {
    for (int k = 0; k < 50; k++) EXPECT_EQ(call_str(srv.door(), "t" + std::to_string(k)), "t" + std::to_string(k));
  });
  other.join();
  std::vector<door_async_result_t> done;
  ASSERT_TRUE(drive(&ring.r, ax, done, 2));
  for (auto &r : done) {
    expect_echoed(r);
  }
  cx.destroy();
}

TEST(AsyncCall, LargeArgumentsAndResultsGoThroughBulkAreas) {
  // 16 calls of 200 KiB to 3 MiB in flight at once (each on its own slot
  // and bulk areas), then again on the now warm areas, mixed with blocking
  // calls: every result is its own call's arguments. The arguments are
  // copied at posting, so the buffers are rewritten right after.
  auto srv = serve();
  Attached cx(32);
  ASSERT_NE(cx.ax, nullptr) << strerror(errno);
  for (int round = 0; round < 2; round++) {
    struct Big {
      std::vector<char> in, want, out;
      door_arg_t a{};
    };
    std::vector<std::unique_ptr<Big>> calls;
    for (int k = 0; k < 16; k++) {
      auto b = std::make_unique<Big>();
      size_t n = 200000 + size_t(k) * 190000;
      b->in.resize(n);
      for (size_t i = 0; i < n; i++) b->in[i] = static_cast<char>((i * 7 + k * 13 + round) & 0xff);
      b->want = b->in;
      b->out.resize(n);
      b->a = door_arg_t{b->in.data(), n, nullptr, 0, b->out.data(), n};
      ASSERT_EQ(door_call_async_np(srv.door(), &b->a, cx.ax, b.get(), nullptr), 0) << strerror(errno);
      std::fill(b->in.begin(), b->in.end(), 'X');
      calls.push_back(std::move(b));
    }
    EXPECT_EQ(call_str(srv.door(), "blocking"), "blocking");
    std::vector<door_async_result_t> done;
    ASSERT_TRUE(drive(&cx.ring.r, cx.ax, done, calls.size()));
    for (auto &r : done) {
      EXPECT_EQ(r.error, 0) << strerror(r.error);
      auto *b = static_cast<Big *>(r.user);
      ASSERT_EQ(b->a.data_size, b->want.size());
      EXPECT_EQ(std::memcmp(b->a.data_ptr, b->want.data(), b->want.size()), 0);
      if (b->a.rbuf != b->out.data()) munmap(b->a.rbuf, b->a.rsize);
    }
  }
  EXPECT_EQ(cx.destroy(), 0);
}

TEST(AsyncCall, PollableDescriptorWorksWithEpoll) {
  auto srv = serve();
  door_async_t *ax = door_async_create_np(nullptr, 64, 0);
  ASSERT_NE(ax, nullptr) << strerror(errno);
  int afd = door_async_fd_np(ax);
  ASSERT_GE(afd, 0);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, afd, &ev), 0);
  // Nothing pending: not readable.
  EXPECT_EQ(epoll_wait(ep, &ev, 1, 0), 0);
  std::vector<std::unique_ptr<Call>> calls;
  for (int k = 0; k < 40; k++) {
    calls.push_back(std::make_unique<Call>((k % 4 == 0 ? "S50:" : "e") + std::to_string(k)));
    ASSERT_EQ(door_call_async_np(srv.door(), &calls.back()->a, ax, calls.back().get(), nullptr), 0);
  }
  int got = 0;
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (got < 40 && Clock::now() < deadline) {
    int n = epoll_wait(ep, &ev, 1, 1000);
    if (n <= 0) continue;
    door_async_result_t rs[8];  // fewer than may be ready: the fd must stay readable
    int m = door_async_reap_np(ax, rs, 8, 0);
    ASSERT_GE(m, 0) << strerror(errno);
    for (int k = 0; k < m; k++) expect_echoed(rs[k]);
    got += m;
  }
  EXPECT_EQ(got, 40);
  EXPECT_EQ(door_async_pending_np(ax), 0);
  door_async_result_t r;
  EXPECT_EQ(door_async_reap_np(ax, &r, 1, 0), 0);
  EXPECT_EQ(epoll_wait(ep, &ev, 1, 0), 0) << "descriptor readable with nothing to collect";
  close(ep);
  door_async_destroy_np(ax);
}

TEST(AsyncCall, ReapWaitsForTheFirstCompletion) {
  auto srv = serve();
  door_async_t *ax = door_async_create_np(nullptr, 8, 0);
  ASSERT_NE(ax, nullptr);
  Call c("S100:w");
  ASSERT_EQ(door_call_async_np(srv.door(), &c.a, ax, &c, nullptr), 0);
  door_async_result_t r;
  EXPECT_EQ(door_async_reap_np(ax, &r, 1, 0), 0);  // not yet
  ASSERT_EQ(door_async_reap_np(ax, &r, 1, 10000), 1);
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(c.result(), "S100:w");
  // With nothing pending, a wait without timeout returns at once.
  EXPECT_EQ(door_async_reap_np(ax, &r, 1, -1), 0);
  door_async_destroy_np(ax);
}

TEST(AsyncCall, ServerDeathCompletesPendingCallsWithEINTR) {
  g_started->store(0);
  auto srv = serve();
  Attached cx(16);
  ASSERT_NE(cx.ax, nullptr) << strerror(errno);
  auto &ring = cx.ring;
  door_async_t *ax = cx.ax;
  std::vector<std::unique_ptr<Call>> calls;
  post_all(srv.door(), ax, calls, numbered("S20000:", 8));
  io_uring_submit(&ring.r);
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (g_started->load() < 8 && Clock::now() < deadline) usleep(1000);
  ASSERT_EQ(g_started->load(), 8);  // every call is running in the server
  auto t0 = Clock::now();
  srv.kill_now();
  std::vector<door_async_result_t> done;
  ASSERT_TRUE(drive(&ring.r, ax, done, 8, std::chrono::seconds(5)));
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(3));
  for (auto &r : done) EXPECT_EQ(r.error, EINTR);
  // The door is gone now: new calls fail at once.
  Call late("x");
  EXPECT_EQ(door_call_async_np(srv.door(), &late.a, ax, &late, nullptr), -1);
  EXPECT_EQ(errno, EBADF);
  cx.destroy();
}

TEST(AsyncCall, ResultsWithDescriptors) {
  auto srv = serve();
  door_async_t *ax = door_async_create_np(nullptr, 8, 0);
  ASSERT_NE(ax, nullptr);
  Call c("Fpiped");
  ASSERT_EQ(door_call_async_np(srv.door(), &c.a, ax, &c, nullptr), 0);
  door_async_result_t r;
  ASSERT_EQ(door_async_reap_np(ax, &r, 1, 10000), 1);
  ASSERT_EQ(r.error, 0);
  EXPECT_EQ(c.result(), "Fpiped");
  ASSERT_EQ(c.a.desc_num, 1u);
  door_desc_t d;
  std::memcpy(&d, c.a.desc_ptr, sizeof d);
  char buf[16] = {};
  EXPECT_EQ(read(d.d_data.d_desc.d_descriptor, buf, sizeof buf), 5);
  EXPECT_STREQ(buf, "piped");
  close(d.d_data.d_desc.d_descriptor);
  door_async_destroy_np(ax);
}

TEST(AsyncCall, CancelledCallNeverCompletes) {
  auto srv = serve();
  Attached cx(8);
  ASSERT_NE(cx.ax, nullptr) << strerror(errno);
  auto &ring = cx.ring;
  door_async_t *ax = cx.ax;
  Call slow("S200:c"), fast("f");
  std::uint64_t tok = 0;
  ASSERT_EQ(door_call_async_np(srv.door(), &slow.a, ax, &slow, &tok), 0);
  EXPECT_TRUE(DOOR_ASYNC_IS_TOKEN(tok));
  io_uring_submit(&ring.r);
  void *user = nullptr;
  ASSERT_EQ(door_async_cancel_np(ax, tok, &user), 0);
  EXPECT_EQ(user, &slow);
  EXPECT_EQ(door_async_pending_np(ax), 0);
  EXPECT_EQ(door_async_cancel_np(ax, tok, nullptr), -1);
  EXPECT_EQ(errno, ENOENT);
  // Only the second call completes; the cancelled one's CQE is stale.
  ASSERT_EQ(door_call_async_np(srv.door(), &fast.a, ax, &fast, nullptr), 0);
  std::vector<door_async_result_t> done;
  ASSERT_TRUE(drive(&ring.r, ax, done, 1));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].user, &fast);
  usleep(300 * 1000);  // the abandoned call finishes in the server
  ASSERT_TRUE(drive(&ring.r, ax, done, 1, std::chrono::milliseconds(200)));
  EXPECT_EQ(done.size(), 1u);
  cx.destroy();
}

// Teardown with calls that no server thread will ever claim: they are
// withdrawn, their slots freed, and their futex waits cancelled, so the
// same slots then serve blocking callers (which sleep on the very reply
// words: a stale waiter left there would swallow their wake-ups) and a
// new batch of asynchronous calls without opening another connection.
TEST(AsyncCall, DestroyWithPendingCallsLeaksNoSlot) {
  ServerProcess srv([] {
    door_server_create(no_threads);
    return std::vector<int>{door_create(test_proc, nullptr, 0)};
  });
  int never = srv.door();
  ASSERT_GE(never, 0);
  Ring ring;
  ASSERT_TRUE(ring.ok);
  {
    door_async_t *ax = door_async_create_np(&ring.r, 64, 0);
    ASSERT_NE(ax, nullptr);
    std::vector<std::unique_ptr<Call>> calls;
    post_all(never, ax, calls, numbered("x", 64), false);
    EXPECT_EQ(door_async_pending_np(ax), 64);
    EXPECT_EQ(door_async_destroy_np(ax), 0);
  }
  // Drain the ring: whatever completions remain are stale ones.
  io_uring_submit(&ring.r);
  door_async_t *ax = door_async_create_np(&ring.r, 64, 0);
  ASSERT_NE(ax, nullptr);
  // After the context: on kernels without io_uring futex waits it holds a
  // descriptor of its own (the watcher's posting ring).
  int fds = open_fds();
  std::vector<std::unique_ptr<Call>> calls;
  post_all(never, ax, calls, numbered("y", 64), false);
  EXPECT_EQ(open_fds(), fds) << "a slot leaked: a second connection was opened";
  door_async_destroy_np(ax);
}

TEST(AsyncCall, DestroyWithRunningCallsThenSlotsServeBlockingCallers) {
  auto srv = serve();
  Attached cx(64);
  ASSERT_NE(cx.ax, nullptr) << strerror(errno);
  auto &ring = cx.ring;
  door_async_t *ax = cx.ax;
  std::vector<std::unique_ptr<Call>> calls;
  post_all(srv.door(), ax, calls, numbered("S100:", 32), false);
  io_uring_submit(&ring.r);
  usleep(20 * 1000);
  auto t0 = Clock::now();
  EXPECT_EQ(cx.destroy(), 0);
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(500)) << "destroy waited for the calls";
  usleep(200 * 1000);  // the abandoned calls' replies land: their slots are reusable
  // 64 blocking callers at once reuse every slot (no spinning: futex only).
  std::atomic<int> good{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 64; t++)
    ts.emplace_back([&, t] {
      for (int k = 0; k < 20; k++)
        if (call_str(srv.door(), std::to_string(t) + "/" + std::to_string(k)) == std::to_string(t) + "/" + std::to_string(k))
          good++;
    });
  for (auto &t : ts) t.join();
  EXPECT_EQ(good.load(), 64 * 20);
}

int one_thread(door_info_t *, void *(*startf)(void *), void *arg, void *) { return start_detached(startf, arg); }

// Calls queued behind a busy single-thread pool are withdrawn by destroy:
// their waits must be cancelled. The server wakes one waiter per reply, so
// a wait left armed on a slot's reply word would take the wake-up of the
// next blocking caller of that slot, which would then sleep with no timeout.
/// Posts a long call and 16 queued ones to a one-thread door, takes them
/// all back with `take_back` (destroy, or cancel each by token, the context
/// staying alive), then has blocking callers reuse the slots: a futex wait
/// left on a reply word would take one of their wake-ups and hang it.
void expect_no_stale_waiter(const std::function<void(Attached &, const std::vector<std::uint64_t> &)> &take_back) {
  int d = door_xcreate(test_proc, nullptr, DOOR_NO_DEPLETION_CB | DOOR_NO_CANCEL, one_thread, nullptr, nullptr, 1);
  ASSERT_GE(d, 0) << strerror(errno);
  Attached cx(32);
  ASSERT_NE(cx.ax, nullptr) << strerror(errno);
  auto &ring = cx.ring;
  door_async_t *ax = cx.ax;
  std::vector<std::unique_ptr<Call>> calls;
  std::vector<std::uint64_t> tokens;
  calls.push_back(std::make_unique<Call>("S200:busy"));
  for (int k = 0; k < 16; k++) calls.push_back(std::make_unique<Call>("q" + std::to_string(k)));
  for (auto &c : calls) {
    tokens.push_back(0);
    ASSERT_EQ(door_call_async_np(d, &c->a, ax, nullptr, &tokens.back()), 0);
  }
  io_uring_submit(&ring.r);
  usleep(20 * 1000);
  take_back(cx, tokens);
  std::atomic<int> good{0};
  std::atomic<bool> finished{false};
  std::thread callers([&] {
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++)
      ts.emplace_back([&, t] {
        for (int k = 0; k < 10; k++) {
          std::string m = std::to_string(t) + "." + std::to_string(k);
          if (call_str(d, m) == m) good++;
        }
      });
    for (auto &t : ts) t.join();
    finished = true;
  });
  // Generous: the lone server thread first works through the withdrawn
  // calls' queued requests (each costs it up to its 1 s bound-idle time).
  auto deadline = Clock::now() + std::chrono::seconds(40);
  while (!finished && Clock::now() < deadline) usleep(10 * 1000);
  if (!finished) {
    ADD_FAILURE() << "a blocking caller lost its wake-up to a stale asynchronous wait";
    _exit(1);  // the hung caller cannot be joined
  }
  callers.join();
  EXPECT_EQ(good.load(), 40);
  door_revoke(d);
}

TEST(AsyncCall, WithdrawnCallsLeaveNoStaleWaiter) {
  expect_no_stale_waiter([](Attached &cx, const std::vector<std::uint64_t> &) { ASSERT_EQ(cx.destroy(), 0); });
}

TEST(AsyncCall, CancelledCallsLeaveNoStaleWaiterWhileTheContextLives) {
  expect_no_stale_waiter([](Attached &cx, const std::vector<std::uint64_t> &tokens) {
    for (std::uint64_t t : tokens) ASSERT_EQ(door_async_cancel_np(cx.ax, t, nullptr), 0) << strerror(errno);
    EXPECT_EQ(door_async_pending_np(cx.ax), 0);
  });
}

TEST(AsyncCallErrno, EBADF_NotADoor) {
  door_async_t *ax = door_async_create_np(nullptr, 4, 0);
  ASSERT_NE(ax, nullptr);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  Call c("x");
  EXPECT_EQ(door_call_async_np(p[0], &c.a, ax, nullptr, nullptr), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(door_call_async_np(-1, &c.a, ax, nullptr, nullptr), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(door_async_pending_np(ax), 0);
  close(p[0]);
  close(p[1]);
  door_async_destroy_np(ax);
}

TEST(AsyncCallErrno, EBADF_Revoked) {
  int d = door_create(test_proc, nullptr, 0);
  ASSERT_GE(d, 0);
  int copy = dup(d);
  ASSERT_EQ(door_revoke(d), 0);
  door_async_t *ax = door_async_create_np(nullptr, 4, 0);
  Call c("x");
  EXPECT_EQ(door_call_async_np(copy, &c.a, ax, nullptr, nullptr), -1);
  EXPECT_EQ(errno, EBADF);
  close(copy);
  door_async_destroy_np(ax);
}

TEST(AsyncCallErrno, ENOBUFS_EFAULT_LikeDoorCall) {
  int d = door_create(test_proc, nullptr, 0);
  ASSERT_GE(d, 0);
  ASSERT_EQ(door_setparam(d, DOOR_PARAM_DATA_MAX, 4), 0);
  door_async_t *ax = door_async_create_np(nullptr, 4, 0);
  Call big("too long");
  EXPECT_EQ(door_call_async_np(d, &big.a, ax, nullptr, nullptr), -1);
  EXPECT_EQ(errno, ENOBUFS);
  door_arg_t bad{nullptr, 3, nullptr, 0, nullptr, 0};
  EXPECT_EQ(door_call_async_np(d, &bad, ax, nullptr, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(door_async_pending_np(ax), 0);
  door_async_destroy_np(ax);
  door_revoke(d);
}

TEST(AsyncCallErrno, EBUSY_DepthReached) {
  auto srv = serve();
  door_async_t *ax = door_async_create_np(nullptr, 2, 0);
  Call a("S100:a"), b("S100:b"), c("c");
  ASSERT_EQ(door_call_async_np(srv.door(), &a.a, ax, nullptr, nullptr), 0);
  ASSERT_EQ(door_call_async_np(srv.door(), &b.a, ax, nullptr, nullptr), 0);
  EXPECT_EQ(door_call_async_np(srv.door(), &c.a, ax, nullptr, nullptr), -1);
  EXPECT_EQ(errno, EBUSY);
  door_async_result_t r[2];
  int got = 0;
  while (got < 2) {
    int n = door_async_reap_np(ax, r, 2, 10000);
    ASSERT_GT(n, 0);
    got += n;
  }
  EXPECT_EQ(door_call_async_np(srv.door(), &c.a, ax, nullptr, nullptr), 0);  // room again
  door_async_destroy_np(ax);
}

TEST(AsyncCallErrno, EINVAL_CreateArguments) {
  EXPECT_EQ(door_async_create_np(nullptr, 0, 0), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(door_async_create_np(nullptr, DOOR_ASYNC_MAX_DEPTH + 1, 0), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(door_async_create_np(nullptr, 4, 1), nullptr);
  EXPECT_EQ(errno, EINVAL);
  struct io_uring sq{};
  struct io_uring_params p{};
  p.flags = IORING_SETUP_SQPOLL;
  if (io_uring_queue_init_params(4, &sq, &p) == 0) {
    EXPECT_EQ(door_async_create_np(&sq, 4, 0), nullptr);
    EXPECT_EQ(errno, EINVAL);
    io_uring_queue_exit(&sq);
  }
  EXPECT_EQ(door_async_destroy_np(nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST(AsyncCallErrno, EINVAL_WrongModeOrForeignCompletion) {
  Ring ring;
  ASSERT_TRUE(ring.ok);
  door_async_t *attached = door_async_create_np(&ring.r, 4, 0);
  door_async_t *own = door_async_create_np(nullptr, 4, 0);
  ASSERT_NE(attached, nullptr);
  ASSERT_NE(own, nullptr);
  door_async_result_t r;
  EXPECT_EQ(door_async_fd_np(attached), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(door_async_reap_np(attached, &r, 1, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(door_async_reap_np(own, &r, 0, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(door_async_complete_np(attached, 42, 0, &r), -1);  // not a token
  EXPECT_EQ(errno, EINVAL);
  // A token of another context is refused too.
  int d = door_create(test_proc, nullptr, 0);
  Call c("x");
  std::uint64_t tok = 0;
  ASSERT_EQ(door_call_async_np(d, &c.a, own, nullptr, &tok), 0);
  EXPECT_EQ(door_async_complete_np(attached, tok, 0, &r), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(door_async_cancel_np(attached, tok, nullptr), -1);
  EXPECT_EQ(errno, ENOENT);
  door_async_destroy_np(own);
  door_async_destroy_np(attached);
  door_revoke(d);
}

// Kernels 6.1-6.6 (no io_uring futex waits): a watcher thread per 127
// entries sleeps on the reply words and posts the completions with
// IORING_OP_MSG_RING. DOOR_ASYNC_WATCHER=1 selects it on any kernel; ctest
// also runs this whole binary that way (test_async_watcher).
TEST(AsyncWatcher, ThreadsWatchEveryGroupAndCompleteAllCalls) {
  ScopedEnv force("DOOR_ASYNC_WATCHER", "1");
  g_release->store(0);
  auto srv = serve();
  // Three groups of 127, within the default DOOR_PARAM_CLIENT_CALLS_MAX_NP.
  constexpr int kCalls = 256;
  Attached cx(kCalls);
  ASSERT_NE(cx.ax, nullptr) << strerror(errno);
  int before = threads_named("door-async");
  std::vector<std::unique_ptr<Call>> calls;
  // None can finish before the gate opens: every call is watched.
  post_all(srv.door(), cx.ax, calls, numbered("G", kCalls));
  EXPECT_EQ(threads_named("door-async") - before, 3);
  std::vector<door_async_result_t> done;
  EXPECT_TRUE(drive(&cx.ring.r, cx.ax, done, 1, std::chrono::milliseconds(200)) == false && done.empty())
      << "a call completed while its server procedure was still waiting";
  g_release->store(1);
  ASSERT_TRUE(drive(&cx.ring.r, cx.ax, done, kCalls));
  for (auto &r : done) expect_echoed(r);
  EXPECT_EQ(cx.destroy(), 0);
  EXPECT_EQ(threads_named("door-async"), before) << "watcher threads outlived their context";
}

TEST(AsyncWatcher, NotStartedWhereIoUringWaitsOnFutexes) {
  if (!kernel_has_uring_futex_wait()) GTEST_SKIP() << "Linux < 6.7: io_uring has no futex waits";
  ScopedEnv unforced("DOOR_ASYNC_WATCHER", nullptr);
  auto srv = serve();
  Attached cx(8);
  ASSERT_NE(cx.ax, nullptr) << strerror(errno);
  int before = threads_named("door-async");
  std::vector<std::unique_ptr<Call>> calls;
  post_all(srv.door(), cx.ax, calls, numbered("S20:", 8));
  std::vector<door_async_result_t> done;
  ASSERT_TRUE(drive(&cx.ring.r, cx.ax, done, 8));
  EXPECT_EQ(threads_named("door-async"), before);
}

TEST(AsyncWatcher, RefusesRingsItCannotPostTo) {
  ScopedEnv force("DOOR_ASYNC_WATCHER", "1");
  struct io_uring r{};
  struct io_uring_params p{};
  p.flags = IORING_SETUP_IOPOLL;  // takes no completions from IORING_OP_MSG_RING
  ASSERT_EQ(io_uring_queue_init_params(4, &r, &p), 0);
  errno = 0;
  EXPECT_EQ(door_async_create_np(&r, 4, 0), nullptr);
  EXPECT_EQ(errno, EINVAL);
  io_uring_queue_exit(&r);
}

TEST(AsyncCxx, CreateCallReap) {
  auto srv = serve();
  auto ax = door::Async::create(16);
  ASSERT_TRUE(ax) << ax.error().message();
  int tags[10];
  std::map<std::uint64_t, int> want;
  for (int k = 0; k < 10; k++) {
    tags[k] = k;
    auto t = ax->call(srv.door(), "cxx" + std::to_string(k), &tags[k]);
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_TRUE(door::Async::is_token(*t));
    want[*t] = k;
  }
  EXPECT_EQ(ax->pending(), 10u);
  EXPECT_GE(ax->fd(), 0);
  std::array<door::AsyncResult, 4> out;
  int got = 0;
  while (got < 10) {
    auto n = ax->reap(out, 10000);
    ASSERT_TRUE(n) << n.error().message();
    ASSERT_GT(*n, 0u);
    for (std::size_t k = 0; k < *n; k++) {
      int i = *static_cast<int *>(out[k].user);
      EXPECT_EQ(want.at(out[k].token), i);
      ASSERT_TRUE(out[k].reply);
      EXPECT_EQ(out[k].reply->text(), "cxx" + std::to_string(i));
    }
    got += static_cast<int>(*n);
  }
  auto bad = ax->call(-1, "x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), std::errc::bad_file_descriptor);
}

TEST(AsyncCxx, AttachCompleteCancelAndDestroyWithPending) {
  auto srv = serve();
  Ring ring;
  ASSERT_TRUE(ring.ok);
  auto ax = door::Async::attach(ring.r, 8);
  ASSERT_TRUE(ax);
  EXPECT_EQ(ax->fd(), -1);
  door::Door door{door::Fd(dup(srv.door()))};
  auto slow = ax->call(door, "S300:slow");
  auto fast = ax->call(door, "fast");
  ASSERT_TRUE(slow && fast);
  auto c = ax->cancel(*slow);
  ASSERT_TRUE(c);
  std::optional<door::AsyncResult> got;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!got && Clock::now() < deadline) {
    io_uring_submit_and_wait(&ring.r, 1);
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(&ring.r, &cqe) == 0) {
      auto ud = cqe->user_data;
      int res = cqe->res;
      io_uring_cqe_seen(&ring.r, cqe);
      auto r = ax->complete(ud, res);
      ASSERT_TRUE(r);
      if (*r) got = std::move(*r);
    }
  }
  ASSERT_TRUE(got);
  EXPECT_EQ(got->token, *fast);
  ASSERT_TRUE(got->reply);
  EXPECT_EQ(got->reply->text(), "fast");
  // Pending calls at destruction are cancelled (ASan would see a leak).
  ASSERT_TRUE(ax->call(door, "S300:left"));
  EXPECT_EQ(ax->pending(), 1u);
  *ax = door::Async();
}
