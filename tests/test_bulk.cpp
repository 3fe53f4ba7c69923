// SPDX-License-Identifier: MIT
//
// test_bulk.cpp — data between a slot (128 KiB) and kBulkMax (4 MiB) goes
// through per-slot bulk areas that both sides keep (userspace/bulk.h):
// exact across sizes and processes, reused (the same memfds call after
// call), re-sent after an interrupted call, not shared with fork children.
#include <door.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "door_test_util.h"
#include "shm_layout.h"

using doortest::ServerProcess;

namespace {

constexpr size_t kSlot = door::detail::kSlotData;
constexpr size_t kBulk = door::detail::kBulkMax;

std::vector<char> pattern(size_t n, unsigned seed) {
  std::vector<char> v(n);
  for (size_t i = 0; i < n; i++) v[i] = static_cast<char>((i * 131 + seed * 7 + (i >> 12)) & 0xff);
  return v;
}

/// Echo, except that "maps" answers with the server's /proc/self/maps and
/// a first byte 'S' waits at the test's gate first.
void bulk_proc(void *, char *argp, size_t n, door_desc_t *, uint_t) {
  if (n == 4 && std::memcmp(argp, "maps", 4) == 0) {
    std::ifstream f("/proc/self/maps");
    std::stringstream ss;
    ss << f.rdbuf();
    std::string m = ss.str();
    door_return(m.data(), m.size(), nullptr, 0);
  }
  if (n && argp[0] == 'S') doortest::gate_hold();
  door_return(argp, n, nullptr, 0);
}

int bulk_door() { return door_create(bulk_proc, nullptr, 0); }

/// Sends SIGUSR1 to `target` every 20 ms, once `ready()` holds, until
/// stopped: one signal may land before the call waits, a later one not.
class Interrupter {
 public:
  template <class Ready>
  Interrupter(pthread_t target, Ready ready)
      : th_([this, target, ready] {
          while (!stop_ && !ready()) usleep(1000);
          while (!stop_) {
            pthread_kill(target, SIGUSR1);
            usleep(20 * 1000);
          }
        }) {}
  ~Interrupter() {
    stop_ = true;
    th_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread th_;
};

/// One echo call of `n` bytes; true if the reply is exact. Uses an exact
/// rbuf so that the result lands in place.
bool echo_ok(int d, size_t n, unsigned seed) {
  auto in = pattern(n, seed);
  std::vector<char> out(n);
  door_arg_t a{in.data(), n, nullptr, 0, out.data(), n};
  if (door_call(d, &a) != 0) return false;
  bool ok = a.data_size == n && std::memcmp(a.data_ptr, in.data(), n) == 0;
  if (a.rbuf != out.data()) munmap(a.rbuf, a.rsize);
  return ok;
}

/// Inodes of the bulk areas mapped in a maps listing.
std::multiset<std::string> bulk_inodes(const std::string &maps) {
  std::multiset<std::string> out;
  std::istringstream in(maps);
  for (std::string line; std::getline(in, line);) {
    if (line.find("door-bulk") == std::string::npos) continue;
    std::istringstream f(line);
    std::string range, perms, off, dev, inode;
    f >> range >> perms >> off >> dev >> inode;
    out.insert(inode + " " + perms);
  }
  return out;
}

/// `now` without what `before` had (areas of earlier tests' connections).
std::multiset<std::string> minus(std::multiset<std::string> now, const std::multiset<std::string> &before) {
  for (const auto &x : before)
    if (auto it = now.find(x); it != now.end()) now.erase(it);
  return now;
}

std::string self_maps() {
  std::ifstream f("/proc/self/maps");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string server_maps(int d) {
  std::vector<char> buf(1 << 20);
  door_arg_t a{const_cast<char *>("maps"), 4, nullptr, 0, buf.data(), buf.size()};
  if (door_call(d, &a) != 0) return "";
  std::string m(a.data_ptr, a.data_size);
  if (a.rbuf != buf.data()) munmap(a.rbuf, a.rsize);
  return m;
}

void noop(int) {}

}  // namespace

TEST(Bulk, MixedSizesAreExact) {
  ServerProcess srv([] { return std::vector<int>{bulk_door()}; });
  const size_t sizes[] = {kSlot + 1, 200000, 1 << 20, kSlot, 8, kBulk, kBulk + 1, 300000, 3 << 20, kSlot + 4096};
  for (unsigned round = 0; round < 3; round++)
    for (size_t n : sizes) ASSERT_TRUE(echo_ok(srv.door(), n, round * 100 + static_cast<unsigned>(n % 97))) << n;
}

TEST(Bulk, AreasAreReusedCallAfterCall) {
  ServerProcess srv([] { return std::vector<int>{bulk_door()}; });
  const auto earlier = bulk_inodes(self_maps());
  // Warm up to the largest size used below: each side then holds one area
  // per direction for this thread's slot.
  ASSERT_TRUE(echo_ok(srv.door(), 2 << 20, 1));
  auto mine = minus(bulk_inodes(self_maps()), earlier);
  auto theirs = bulk_inodes(server_maps(srv.door()));
  EXPECT_EQ(mine.size(), 2u) << "our argument area (rw) and the server's result area (r)";
  EXPECT_EQ(theirs.size(), 2u) << "the server's result area (rw) and our argument area (r)";
  auto counts = doortest::self_counts();
  for (unsigned i = 0; i < 50; i++) ASSERT_TRUE(echo_ok(srv.door(), kSlot + 1 + i * 40000, i));
  EXPECT_EQ(minus(bulk_inodes(self_maps()), earlier), mine)
      << "a new area was made although the old one was large enough";
  EXPECT_EQ(bulk_inodes(server_maps(srv.door())), theirs);
  auto after = doortest::self_counts();
  EXPECT_EQ(after.fds, counts.fds);
  // Sanitizer allocators map regions of their own as they go.
  EXPECT_LE(after.maps, counts.maps + doortest::kSanitizerMapsSlack);
  // Data above kBulkMax does not touch (or grow) the areas.
  ASSERT_TRUE(echo_ok(srv.door(), kBulk + 1, 9));
  EXPECT_EQ(minus(bulk_inodes(self_maps()), earlier), mine);
}

TEST(Bulk, AnAreaGrowsOnceForALargerCall) {
  ServerProcess srv([] { return std::vector<int>{bulk_door()}; });
  const auto earlier = bulk_inodes(self_maps());
  ASSERT_TRUE(echo_ok(srv.door(), kSlot + 1, 1));
  auto small = minus(bulk_inodes(self_maps()), earlier);
  ASSERT_TRUE(echo_ok(srv.door(), kBulk, 2));
  auto big = minus(bulk_inodes(self_maps()), earlier);
  EXPECT_EQ(big.size(), 2u) << "the old areas are unmapped when replaced";
  EXPECT_NE(big, small);
  ASSERT_TRUE(echo_ok(srv.door(), kSlot + 1, 3));
  EXPECT_EQ(minus(bulk_inodes(self_maps()), earlier), big) << "smaller calls keep the larger area";
}

TEST(Bulk, InterruptedCallThenTheAreaIsSentAgain) {
  ServerProcess srv([] { return std::vector<int>{bulk_door()}; });
  struct sigaction sa{}, old{};
  sa.sa_handler = noop;  // no SA_RESTART: door_call fails with EINTR
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  for (unsigned round = 0; round < 3; round++) {
    doortest::gate_reset();
    auto in = pattern(1 << 20, round);
    in[0] = 'S';  // the server holds it at the gate
    std::vector<char> out(in.size());
    door_arg_t a{in.data(), in.size(), nullptr, 0, out.data(), out.size()};
    errno = 0;
    {
      // Interrupted once the server runs it: EINTR, not a withdrawal.
      Interrupter killer(pthread_self(), [] { return doortest::g_gate->entered.load() > 0; });
      EXPECT_EQ(door_call(srv.door(), &a), -1);
      EXPECT_EQ(errno, EINTR);
    }
    // The next calls carry exact data: on another slot while the
    // interrupted call still runs, then after its reply is in.
    for (unsigned k = 0; k < 8; k++) {
      if (k == 4) doortest::g_gate->open = 1;
      ASSERT_TRUE(echo_ok(srv.door(), (1 << 20) + k * 4096, round * 10 + k));
      usleep(20 * 1000);
    }
  }
  sigaction(SIGUSR1, &old, nullptr);
}

TEST(Bulk, WithdrawnCallThenTheAreaIsSentAgain) {
  // One server thread, kept busy: the bulk call below is never claimed, so
  // the new argument area it carried is never received. The next call on
  // the same slot must send it again.
  doortest::gate_reset();
  ServerProcess srv([] {
    door_server_create([](door_info_t *) {});  // no threads but ours
    int d = door_create(bulk_proc, nullptr, DOOR_PRIVATE);
    std::thread([d] {
      door_bind(d);
      door_return(nullptr, 0, nullptr, 0);
    }).detach();
    return std::vector<int>{d};
  });
  struct sigaction sa{}, old{};
  sa.sa_handler = noop;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  std::thread busy([&] { EXPECT_EQ(doortest::call_str(srv.door(), "S"), "S"); });  // held at the gate
  ASSERT_TRUE(doortest::gate_wait_until([](int entered, int) { return entered == 1; }));
  auto in = pattern(1 << 20, 5);
  std::vector<char> out(in.size());
  door_arg_t a{in.data(), in.size(), nullptr, 0, out.data(), out.size()};
  errno = 0;
  {
    Interrupter killer(pthread_self(), [] { return true; });
    EXPECT_EQ(door_call(srv.door(), &a), -1);
    EXPECT_EQ(errno, EAGAIN) << "the call was taken back before any thread claimed it";
  }
  doortest::g_gate->open = 1;
  busy.join();
  EXPECT_TRUE(echo_ok(srv.door(), 1 << 20, 6)) << "the server never got this slot's argument area";
  EXPECT_TRUE(echo_ok(srv.door(), 1 << 20, 7));
  sigaction(SIGUSR1, &old, nullptr);
}

TEST(Bulk, ForkChildUsesItsOwnAreas) {
  ServerProcess srv([] { return std::vector<int>{bulk_door()}; });
  ASSERT_TRUE(echo_ok(srv.door(), 1 << 20, 1));
  int d = srv.door();
  pid_t child = fork();
  if (child == 0) {
    // The parent's areas are not mapped here (MADV_DONTFORK).
    if (!bulk_inodes(self_maps()).empty()) _exit(2);
    for (unsigned i = 0; i < 10; i++)
      if (!echo_ok(d, (1 << 20) + i, 50 + i)) _exit(1);
    _exit(bulk_inodes(self_maps()).size() == 2 ? 0 : 3);
  }
  for (unsigned i = 0; i < 10; i++) ASSERT_TRUE(echo_ok(srv.door(), (1 << 20) - i, 80 + i));
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
      << "1: a call failed, 2: parent areas mapped in the child, 3: child holds other than two areas";
  ASSERT_TRUE(echo_ok(srv.door(), 1 << 20, 99));
}

TEST(Bulk, ManyThreadsEachWithTheirOwnSlot) {
  ServerProcess srv([] { return std::vector<int>{bulk_door()}; });
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < 4; t++)
    ts.emplace_back([&, t] {
      for (unsigned i = 0; i < 40; i++)
        if (!echo_ok(srv.door(), kSlot + 1 + ((t * 7919 + i * 104729) % (2 << 20)), t * 1000 + i)) bad++;
    });
  for (auto &t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}
