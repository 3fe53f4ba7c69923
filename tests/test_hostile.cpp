// SPDX-License-Identifier: MIT
//
// test_hostile.cpp — a client that does not play by the rules. It speaks
// the wire protocol directly (wire.h, shm_layout.h), then lies in every
// field it controls, scribbles over the shared call region, floods and
// sends malformed records. The server must answer with errors, stay up,
// and keep serving well-behaved clients correctly.
#include <door.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "door_test_util.h"
#include "raw_wire.h"
#include "shm_layout.h"
#include "wire.h"

using namespace door::detail;
using doortest::call_str;
using doortest::recv_rec;
using doortest::send_rec;
using doortest::ServerProcess;

namespace {

/// A client speaking the protocol by hand.
struct RawClient {
  int sock = -1;
  int memfd = -1;
  void *region = nullptr;
  std::vector<int> chans = std::vector<int>(kSlots, -1);

  bool hello(int door) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return false;
    MsgHeader h = make_header(MsgType::Hello);
    if (!send_rec(door, &h, sizeof h, {sv[1]})) return false;
    close(sv[1]);
    sock = sv[0];
    HelloReply rep{};
    if (recv_rec(sock, &rep, sizeof rep, &memfd) != sizeof rep || rep.status != 0 || memfd < 0) return false;
    region = mmap(nullptr, kRegionSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    return region != MAP_FAILED;
  }
  bool channel(uint32_t slot) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
    SlotMsg m{make_header(MsgType::SlotChannel), slot, 0};
    if (!send_rec(sock, &m, sizeof m, {sv[1]})) return false;
    close(sv[1]);
    SlotMsg ack{};
    if (recv_rec(sock, &ack, sizeof ack, nullptr) != sizeof ack) return false;
    chans[slot] = sv[0];
    return true;
  }
  /// Posts a call whose header says whatever the test wants; returns the
  /// server's errno (0 = success), or -1 if no reply came.
  int call(uint32_t slot, uint32_t seq, uint32_t flags, uint64_t size, uint32_t ndesc) {
    SlotHeader *s = slot_at(region, slot);
    s->call_flags = flags;
    s->arg_size = size;
    s->arg_ndesc = ndesc;
    s->req.store(seq);  // drop kReqBound: ask the reactor for a thread too
    syscall(SYS_futex, &s->req, FUTEX_WAKE, 1, nullptr, nullptr, 0);
    SlotMsg m{make_header(MsgType::NeedServer), slot, seq};
    send_rec(sock, &m, sizeof m, {});
    for (int i = 0; i < 2000; i++) {
      uint32_t r = s->rsp.load();
      if ((r & kSeqMask) == seq && (r & kRspDone)) return s->error;
      usleep(1000);
    }
    return -1;
  }
  ~RawClient() {
    if (region && region != MAP_FAILED) munmap(region, kRegionSize);
    if (memfd >= 0) close(memfd);
    if (sock >= 0) close(sock);
    for (int c : chans)
      if (c >= 0) close(c);
  }
};

bool alive(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) == 0; }

}  // namespace

TEST(Hostile, LyingCallHeadersGetErrorsNotCrashes) {
  ServerProcess srv([] { return std::vector<int>{door_create(doortest::echo_proc, nullptr, 0)}; });
  RawClient rc;
  ASSERT_TRUE(rc.hello(srv.door()));
  ASSERT_TRUE(rc.channel(1));
  // Inline payload larger than the slot.
  EXPECT_EQ(rc.call(0, 1, 0, kSlotData + 1, 0), EINVAL);
  // Absurd sizes.
  EXPECT_EQ(rc.call(0, 2, 0, ~0ull, 0), EINVAL);
  // Descriptors claimed but not sent / no channel.
  EXPECT_EQ(rc.call(0, 3, 0, 8, 5), EINVAL);
  EXPECT_EQ(rc.call(0, 4, kCallViaChannel, 8, 0), EINVAL);
  // Channel exists, header claims attachments that never came.
  EXPECT_EQ(rc.call(1, 1, kCallViaChannel, 8, 2), EINVAL);
  // More descriptors than any call may carry.
  EXPECT_EQ(rc.call(1, 2, kCallViaChannel, 8, 100000), E2BIG);
  // Large data in a memfd the client could still change: refused.
  {
    int mfd = memfd_create("evil", MFD_CLOEXEC);
    ASSERT_EQ(ftruncate(mfd, 1 << 20), 0);
    ChannelHeader h{kWireMagic, 3, 1, 1, (1 << 20)};
    ASSERT_TRUE(send_rec(rc.chans[1], &h, sizeof h, {mfd}));
    close(mfd);
    EXPECT_EQ(rc.call(1, 3, kCallViaChannel, 1 << 20, 0), EINVAL) << "unsealed memfd must be refused";
  }
  // A well-formed call on the same hostile connection still works.
  std::memcpy(slot_at(rc.region, 0)->small_args, "fine", 4);
  EXPECT_EQ(rc.call(0, 5, 0, 4, 0), 0);
  EXPECT_EQ(slot_at(rc.region, 0)->result_offset, kResultInHeader);
  EXPECT_EQ(std::memcmp(slot_at(rc.region, 0)->small_result, "fine", 4), 0);
  EXPECT_TRUE(alive(srv.pid()));
  EXPECT_EQ(call_str(srv.door(), "good"), "good");
}

TEST(Hostile, RegionCannotBeShrunkUnderTheServer) {
  ServerProcess srv([] { return std::vector<int>{door_create(doortest::echo_proc, nullptr, 0)}; });
  RawClient rc;
  ASSERT_TRUE(rc.hello(srv.door()));
  EXPECT_NE(ftruncate(rc.memfd, 4096), 0);
  EXPECT_EQ(errno, EPERM);
  struct stat st;
  ASSERT_EQ(fstat(rc.memfd, &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), kRegionSize);
}

TEST(Hostile, ScribblingOverSharedMemoryWhileOthersCall) {
  ServerProcess srv([] { return std::vector<int>{door_create(doortest::echo_proc, nullptr, 0)}; });
  int d = srv.door();
  pid_t evil = fork();
  if (evil == 0) {
    alarm(20);
    RawClient rc;
    if (!rc.hello(d)) _exit(2);
    for (uint32_t i = 0; i < 8; i++) rc.channel(i);
    std::mt19937_64 rng(42);
    auto *words = static_cast<uint64_t *>(rc.region);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
      // Random garbage everywhere: headers, futex words, sizes, flags.
      for (int k = 0; k < 256; k++) words[rng() % (kRegionSize / 8)] = rng();
      for (uint32_t i = 0; i < kSlots; i++) {
        SlotHeader *s = slot_at(rc.region, i);
        s->req.store(static_cast<uint32_t>(rng()));
        s->arg_size = rng() % (2 * kSlotData);
        s->arg_ndesc = static_cast<uint32_t>(rng() % 4);
        s->call_flags = static_cast<uint32_t>(rng() & 3);
        syscall(SYS_futex, &s->req, FUTEX_WAKE, 1, nullptr, nullptr, 0);
      }
      SlotMsg m{make_header(MsgType::NeedServer), static_cast<uint32_t>(rng() % kSlots), 1};
      send_rec(rc.sock, &m, sizeof m, {});
      if (rng() % 4 == 0) {
        ChannelHeader h{kWireMagic, static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng() % 3), 0, 0};
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        send_rec(rc.chans[rng() % 8], &h, sizeof h, {devnull});
        close(devnull);
      }
      usleep(200);
    }
    _exit(0);
  }
  // Meanwhile a good client calls continuously and must get exact answers.
  int good = 0, bad = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (int i = 0; std::chrono::steady_clock::now() < deadline; i++) {
    std::string m = "good-" + std::to_string(i);
    (call_str(d, m) == m ? good : bad)++;
  }
  int st;
  waitpid(evil, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_EQ(bad, 0);
  EXPECT_GT(good, 100);
  EXPECT_TRUE(alive(srv.pid())) << "the server must survive anything a client does";
  EXPECT_EQ(call_str(d, "after"), "after");
}

TEST(Hostile, MalformedControlRecordsAreDropped) {
  ServerProcess srv([] { return std::vector<int>{door_create(doortest::echo_proc, nullptr, 0)}; });
  int d = srv.door();
  // Hello without a descriptor, with two, with a non-socket, with a stream
  // socket, truncated, wrong magic, wrong type.
  MsgHeader h = make_header(MsgType::Hello);
  EXPECT_TRUE(send_rec(d, &h, sizeof h, {}));
  int sv[2], sv2[2];
  socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv2);
  EXPECT_TRUE(send_rec(d, &h, sizeof h, {sv[0], sv[1]}));
  int devnull = open("/dev/null", O_RDONLY);
  EXPECT_TRUE(send_rec(d, &h, sizeof h, {devnull}));
  EXPECT_TRUE(send_rec(d, &h, sizeof h, {sv2[0]}));
  EXPECT_TRUE(send_rec(d, &h, 3, {sv[0]}));
  MsgHeader bad = h;
  bad.magic = 1;
  EXPECT_TRUE(send_rec(d, &bad, sizeof bad, {sv[0]}));
  bad = make_header(MsgType::Cancel);
  EXPECT_TRUE(send_rec(d, &bad, sizeof bad, {sv[0]}));
  // On a real connection: out-of-range slot, duplicate channel, garbage.
  {
    RawClient rc;
    ASSERT_TRUE(rc.hello(d));
    SlotMsg m{make_header(MsgType::NeedServer), 9999, 1};
    send_rec(rc.sock, &m, sizeof m, {});
  }
  {
    RawClient rc;
    ASSERT_TRUE(rc.hello(d));
    ASSERT_TRUE(rc.channel(3));
    EXPECT_FALSE(rc.channel(3)) << "a slot channel is set once";
  }
  {
    RawClient rc;
    ASSERT_TRUE(rc.hello(d));
    char junk[200];
    std::memset(junk, 0xab, sizeof junk);
    send_rec(rc.sock, junk, sizeof junk, {devnull});
  }
  close(devnull);
  EXPECT_TRUE(alive(srv.pid()));
  EXPECT_EQ(call_str(d, "ok"), "ok");
}

TEST(Hostile, HelloFloodIsBounded) {
  ServerProcess srv([] { return std::vector<int>{door_create(doortest::echo_proc, nullptr, 0)}; });
  int d = srv.door();
  pid_t evil = fork();
  if (evil == 0) {
    alarm(30);
    std::vector<RawClient *> conns;
    int refused = 0;
    for (int i = 0; i < 300; i++) {
      auto *rc = new RawClient;
      if (rc->hello(d))
        conns.push_back(rc);
      else
        refused++;
    }
    // One process may hold a bounded number of connections per door.
    _exit(conns.size() <= 256 && refused >= 44 ? 0 : 1);
  }
  int st;
  waitpid(evil, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_TRUE(alive(srv.pid()));
  EXPECT_EQ(call_str(d, "ok"), "ok");
}

// The idle sweep (idle_sweep.h): a bound thread sleeps untimed, and the
// reactor returns it to its pool once its slot has been quiet for 1-1.5 s.
// The protocol shows it: kReqBound is set while a thread owns the slot.
TEST(IdleSweep, QuietSlotReleasesItsThreadAfterAboutASecond) {
  ServerProcess srv([] { return std::vector<int>{door_create(doortest::echo_proc, nullptr, 0)}; });
  RawClient rc;
  ASSERT_TRUE(rc.hello(srv.door()));
  SlotHeader *s = slot_at(rc.region, 0);
  std::memcpy(s->small_args, "ping", 4);
  ASSERT_EQ(rc.call(0, 1, 0, 4, 0), 0);
  ASSERT_TRUE(s->req.load() & kReqBound) << "a server thread should own the slot after a call";
  // Calls every 300 ms keep the thread bound past the idle limit.
  auto busy_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2000);
  uint32_t seq = 2;
  while (std::chrono::steady_clock::now() < busy_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // Keep kReqBound: a bound thread needs no NeedServer (see post_call).
    uint32_t v = s->req.load();
    s->req.store((v & kReqBound) | seq);
    syscall(SYS_futex, &s->req, FUTEX_WAKE, 1, nullptr, nullptr, 0);
    for (int i = 0; i < 2000 && !((s->rsp.load() & kSeqMask) == seq && (s->rsp.load() & kRspDone)); i++) usleep(500);
    ASSERT_EQ(s->rsp.load() & kSeqMask, seq) << "call " << seq << " unanswered";
    ASSERT_TRUE(s->req.load() & kReqBound) << "the thread left a slot that was called every 300 ms";
    seq++;
  }
  auto quiet_since = std::chrono::steady_clock::now();
  while ((s->req.load() & kReqBound) && std::chrono::steady_clock::now() - quiet_since < std::chrono::seconds(5))
    usleep(5000);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - quiet_since).count();
  EXPECT_FALSE(s->req.load() & kReqBound) << "the thread never left the quiet slot";
  EXPECT_GE(took, 0.9);
  EXPECT_LE(took, 2.5);
  EXPECT_EQ(call_str(srv.door(), "after"), "after");
}

namespace {

/// The address of this process' first call region (libdoor maps it from a
/// memfd named "door-region"), or null.
void *own_region() {
  FILE *f = std::fopen("/proc/self/maps", "r");
  if (!f) return nullptr;
  char line[512];
  void *at = nullptr;
  while (!at && std::fgets(line, sizeof line, f))
    if (std::strstr(line, "door-region")) at = reinterpret_cast<void *>(std::strtoull(line, nullptr, 16));
  std::fclose(f);
  return at;
}

}  // namespace

TEST(Hostile, ClientScribblingItsOwnRegionDuringItsCalls) {
  // A libdoor client whose own threads call while another of its threads
  // keeps writing garbage over the region — headers, sizes, futex words —
  // at every moment of those calls. It may get errors or garbage (it
  // broke its own memory); the server must survive and others must not
  // notice.
  ServerProcess srv([] { return std::vector<int>{door_create(doortest::echo_proc, nullptr, 0)}; });
  int d = srv.door();
  pid_t evil = fork();
  if (evil == 0) {
    alarm(20);
    if (call_str(d, "first") != "first") _exit(2);  // connects: the region exists
    auto *region = static_cast<char *>(own_region());
    if (!region) _exit(3);
    std::atomic<bool> stop{false};
    std::thread scribbler([&] {
      std::mt19937_64 rng(7);
      while (!stop) {
        std::uint32_t slot = static_cast<std::uint32_t>(rng() % 8);
        SlotHeader *s = slot_at(region, slot);
        switch (rng() % 7) {
          case 0: s->req.store(static_cast<uint32_t>(rng())); break;
          case 1: s->arg_size = rng(); break;
          case 2: s->arg_ndesc = static_cast<uint32_t>(rng()); break;
          case 3: s->call_flags = static_cast<uint32_t>(rng()); break;
          case 4: s->claim.store(static_cast<uint32_t>(rng())); break;
          case 5: s->wake_ns.store(rng()); break;  // the arrival stamp
          default: std::memset(slot_data(s), static_cast<int>(rng()), 256);
        }
        syscall(SYS_futex, &s->req, FUTEX_WAKE, 1, nullptr, nullptr, 0);
      }
    });
    // The callers: each returns or is stuck on its own ruined slot; a
    // watchdog ends the process either way.
    for (int k = 0; k < 6; k++)
      std::thread([d, k] {
        for (int i = 0;; i++) call_str(d, std::string(static_cast<size_t>(1 + (i * 37 + k) % 300), 'e'));
      }).detach();
    sleep(2);
    stop = true;
    scribbler.join();
    _exit(0);
  }
  int good = 0, bad = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (int i = 0; std::chrono::steady_clock::now() < deadline; i++) {
    std::string m = "victim-" + std::to_string(i) + std::string(static_cast<size_t>(i % 200), 'v');
    (call_str(d, m) == m ? good : bad)++;
  }
  int st;
  waitpid(evil, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "status " << st;
  EXPECT_EQ(bad, 0);
  EXPECT_GT(good, 100);
  EXPECT_TRUE(alive(srv.pid()));
  EXPECT_EQ(call_str(d, "after"), "after");
}

TEST(Hostile, NoClientSeesAnotherClientsArgumentsOrResults) {
  // Client A calls with a secret; client B maps everything the door gave
  // it and searches it for the secret during A's calls. Each connection
  // has its own region (its own memfd): B must never find A's bytes.
  ServerProcess srv([] { return std::vector<int>{door_create(doortest::echo_proc, nullptr, 0)}; });
  int d = srv.door();
  static const char kSecret[] = "A-secret-7f3a9c1e-do-not-leak";
  pid_t a = fork();
  if (a == 0) {
    alarm(20);
    std::string big(300000, 's');  // also large data (memfd) both ways
    std::memcpy(&big[1000], kSecret, sizeof kSecret - 1);
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    int ok = 1;
    while (std::chrono::steady_clock::now() < until) {
      ok &= call_str(d, kSecret) == kSecret;
      ok &= call_str(d, std::string(5000, 'p') + kSecret) == std::string(5000, 'p') + kSecret;
      ok &= call_str(d, big) == big;
    }
    _exit(ok ? 0 : 1);
  }
  RawClient rb;
  ASSERT_TRUE(rb.hello(d));
  struct stat sb;
  ASSERT_EQ(fstat(rb.memfd, &sb), 0);
  int found = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  while (std::chrono::steady_clock::now() < until) {
    auto *p = static_cast<const char *>(rb.region);
    if (memmem(p, kRegionSize, kSecret, sizeof kSecret - 1)) found++;
    // B also posts calls that claim to have results waiting: nothing of
    // A's may come back in B's slots.
    SlotHeader *s = slot_at(rb.region, 0);
    s->call_flags = 0;
    s->arg_size = 0;
    s->arg_ndesc = 0;
    usleep(1000);
  }
  int st;
  waitpid(a, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "client A got wrong answers";
  EXPECT_EQ(found, 0) << "client B saw client A's arguments or results";
  // The other direction: the secret sat in B's region; a fresh client C
  // never sees it either.
  std::memcpy(slot_data(slot_at(rb.region, 3)), kSecret, sizeof kSecret - 1);
  RawClient rc;
  ASSERT_TRUE(rc.hello(d));
  EXPECT_EQ(memmem(rc.region, kRegionSize, kSecret, sizeof kSecret - 1), nullptr);
  struct stat sc;
  ASSERT_EQ(fstat(rc.memfd, &sc), 0);
  EXPECT_NE(sc.st_ino, sb.st_ino) << "two clients share a region";
}

TEST(Hostile, DescriptorsThatAreNotWhatTheySay) {
  ServerProcess srv([] { return std::vector<int>{door_create(doortest::counts_or_echo_proc, nullptr, 0)}; });
  RawClient rc;
  ASSERT_TRUE(rc.hello(srv.door()));
  ASSERT_TRUE(rc.channel(2));
  uint32_t seq = 1;
  auto send_then_call = [&](ChannelHeader h, std::vector<int> fds, uint64_t size, uint32_t ndesc) {
    h.seq = seq;
    EXPECT_TRUE(send_rec(rc.chans[2], &h, sizeof h, fds));
    return rc.call(2, seq++, kCallViaChannel, size, ndesc);
  };
  constexpr uint64_t kBig = 1 << 20;
  // "memfd" that is a pipe.
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  EXPECT_EQ(send_then_call(ChannelHeader{kWireMagic, 0, 1, 1, kBig}, {p[0]}, kBig, 0), EINVAL);
  // Sealed memfd smaller than it claims (the server would read past its end).
  int small = memfd_create("small", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_EQ(ftruncate(small, 4096), 0);
  ASSERT_EQ(fcntl(small, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), 0);
  EXPECT_EQ(send_then_call(ChannelHeader{kWireMagic, 0, 1, 1, kBig}, {small}, kBig, 0), EINVAL);
  // Header says two descriptors follow, one comes.
  EXPECT_EQ(send_then_call(ChannelHeader{kWireMagic, 0, 2, 0, 0}, {p[1]}, 8, 2), EINVAL);
  // Channel header's size disagrees with the slot header's.
  int right = memfd_create("right", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_EQ(ftruncate(right, kBig), 0);
  ASSERT_EQ(fcntl(right, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), 0);
  EXPECT_EQ(send_then_call(ChannelHeader{kWireMagic, 0, 1, 1, kBig}, {right}, kBig - 100, 0), EINVAL);
  // A sealed, sparse memfd claiming 64 GiB of arguments: refused before
  // the server maps (and would populate) any of it.
  long rss_before = doortest::server_counts(srv.door()).rss_kb;
  int sparse = memfd_create("sparse", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  constexpr uint64_t kHuge = 64ull << 30;
  ASSERT_EQ(ftruncate(sparse, static_cast<off_t>(kHuge)), 0);
  ASSERT_EQ(fcntl(sparse, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), 0);
  EXPECT_EQ(send_then_call(ChannelHeader{kWireMagic, 0, 1, 1, kHuge}, {sparse}, kHuge, 0), E2BIG);
  for (int fd : {p[0], p[1], small, right, sparse}) close(fd);
  EXPECT_TRUE(alive(srv.pid()));
  EXPECT_LT(doortest::server_counts(srv.door()).rss_kb, rss_before + 64 * 1024);
  std::memcpy(slot_at(rc.region, 0)->small_args, "fine", 4);
  EXPECT_EQ(rc.call(0, 9, 0, 4, 0), 0) << "the connection still serves well-formed calls";
}

TEST(Hostile, RefusedLargeArgumentsAreNeverMapped) {
  // A call refused by DATA_MAX (ENOBUFS) is drained without mapping its
  // memfd: a sealed sparse 64 GiB memfd costs the server nothing.
  ServerProcess srv([] {
    int d = door_create(doortest::counts_or_echo_proc, nullptr, 0);
    door_setparam(d, DOOR_PARAM_CLIENT_INFLIGHT_MAX_NP, SIZE_MAX);
    door_setparam(d, DOOR_PARAM_INFLIGHT_MAX_NP, SIZE_MAX);
    door_setparam(d, DOOR_PARAM_DATA_MAX, 1 << 20);
    return std::vector<int>{d};
  });
  RawClient rc;
  ASSERT_TRUE(rc.hello(srv.door()));
  ASSERT_TRUE(rc.channel(1));
  long rss_before = doortest::server_counts(srv.door()).rss_kb;
  int sparse = memfd_create("sparse", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  constexpr uint64_t kHuge = 64ull << 30;
  ASSERT_EQ(ftruncate(sparse, static_cast<off_t>(kHuge)), 0);
  ASSERT_EQ(fcntl(sparse, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), 0);
  ChannelHeader h{kWireMagic, 1, 1, 1, kHuge};
  ASSERT_TRUE(send_rec(rc.chans[1], &h, sizeof h, {sparse}));
  close(sparse);
  EXPECT_EQ(rc.call(1, 1, kCallViaChannel, kHuge, 0), ENOBUFS);
  EXPECT_LT(doortest::server_counts(srv.door()).rss_kb, rss_before + 64 * 1024);
  EXPECT_TRUE(alive(srv.pid()));
}

namespace {

/// A sealed-against-resizing memfd of `len` bytes filled with `fill`: a
/// well-formed bulk area (userspace/bulk.h).
int bulk_area(size_t len, char fill) {
  int fd = memfd_create("door-bulk-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(len)) != 0) return -1;
  void *m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  std::memset(m, fill, len);
  munmap(m, len);
  fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
  return fd;
}

/// Sums its arguments, waits 100 ms, sums again: "same" or "diff".
void stable_args_proc(void *, char *argp, size_t n, door_desc_t *, uint_t) {
  auto sum = [&] {
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) h = h * 31 + static_cast<unsigned char>(argp[i]);
    return h;
  };
  uint64_t a = sum();
  usleep(100 * 1000);
  char r[4];
  std::memcpy(r, a == sum() ? "same" : "diff", 4);
  door_return(r, 4, nullptr, 0);
}

}  // namespace

TEST(Hostile, BulkAreasThatAreNotWhatTheySay) {
  ServerProcess srv([] { return std::vector<int>{door_create(doortest::counts_or_echo_proc, nullptr, 0)}; });
  RawClient rc;
  ASSERT_TRUE(rc.hello(srv.door()));
  ASSERT_TRUE(rc.channel(2));
  SlotHeader *s = slot_at(rc.region, 2);
  uint32_t seq = 1;
  constexpr uint64_t kMiB = 1 << 20;
  auto bulk_call = [&](int area, uint32_t gen, uint64_t size, uint32_t has = kHasBulk) {
    uint32_t flags = kCallArgsInBulk;
    if (area >= 0) {
      ChannelHeader h{kWireMagic, seq, 1, has, size};
      EXPECT_TRUE(send_rec(rc.chans[2], &h, sizeof h, {area}));
      flags |= kCallViaChannel;
    }
    s->arg_bulk_gen = gen;
    return rc.call(2, seq++, flags, size, 0);
  };
  long rss_before = doortest::server_counts(srv.door()).rss_kb;
  // An area the server was never sent.
  EXPECT_EQ(bulk_call(-1, 7, kMiB), EINVAL);
  // Sizes a bulk area never carries.
  EXPECT_EQ(bulk_call(-1, 7, kSlotData), EINVAL);
  EXPECT_EQ(bulk_call(-1, 7, kBulkMax + 1), EINVAL);
  // Not sealed: the client could truncate it under the server (SIGBUS).
  int unsealed = memfd_create("unsealed", MFD_CLOEXEC);
  ASSERT_EQ(ftruncate(unsealed, kMiB), 0);
  EXPECT_EQ(bulk_call(unsealed, 1, kMiB), EINVAL);
  // A pipe.
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  EXPECT_EQ(bulk_call(p[0], 2, kMiB), EINVAL);
  // Sealed but 64 GiB (sparse): beyond kBulkMax, never mapped.
  int sparse = memfd_create("sparse", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_EQ(ftruncate(sparse, static_cast<off_t>(64ull << 30)), 0);
  ASSERT_EQ(fcntl(sparse, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
  EXPECT_EQ(bulk_call(sparse, 3, kMiB), EINVAL);
  // Smaller than the call says.
  int small = bulk_area(256 * 1024, 'x');
  EXPECT_EQ(bulk_call(small, 4, kMiB), EINVAL);
  // Generation 0 is never valid.
  int zero = bulk_area(kMiB, 'z');
  EXPECT_EQ(bulk_call(zero, 0, kMiB), EINVAL);
  // A one-shot data memfd where a bulk call needs none.
  int sealed = memfd_create("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_EQ(ftruncate(sealed, kMiB), 0);
  ASSERT_EQ(fcntl(sealed, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), 0);
  EXPECT_EQ(bulk_call(sealed, 5, kMiB, kHasData), EINVAL);
  // A bulk area attached to a call that does not use one.
  {
    int area = bulk_area(kMiB, 'q');
    ChannelHeader h{kWireMagic, seq, 1, kHasBulk, 8};
    ASSERT_TRUE(send_rec(rc.chans[2], &h, sizeof h, {area}));
    EXPECT_EQ(rc.call(2, seq++, kCallViaChannel, 8, 0), EINVAL);
    close(area);
  }
  for (int fd : {unsealed, p[0], p[1], sparse, small, zero, sealed}) close(fd);
  EXPECT_TRUE(alive(srv.pid()));
  EXPECT_LT(doortest::server_counts(srv.door()).rss_kb, rss_before + 64 * 1024);

  // A well-formed area works, and is used again without being re-sent.
  int good = bulk_area(kMiB, 'g');
  EXPECT_EQ(bulk_call(good, 9, kMiB), 0);
  EXPECT_EQ(s->arg_bulk_held, 9u) << "the server says which area it holds";
  EXPECT_TRUE(s->result_flags & kResultInBulk);
  EXPECT_EQ(s->result_size, kMiB);
  // The echo came back in the server's new result area, sent on the channel.
  ChannelHeader rh{};
  int result_area = -1;
  ASSERT_EQ(recv_rec(rc.chans[2], &rh, sizeof rh, &result_area), static_cast<int>(sizeof rh));
  EXPECT_EQ(rh.has_memfd, kHasBulk);
  ASSERT_GE(result_area, 0);
  const char *r = static_cast<const char *>(mmap(nullptr, kMiB, PROT_READ, MAP_SHARED, result_area, 0));
  ASSERT_NE(r, MAP_FAILED);
  EXPECT_TRUE(r[0] == 'g' && r[kMiB - 1] == 'g');
  s->result_bulk_held = s->result_bulk_gen;
  EXPECT_EQ(bulk_call(-1, 9, kMiB - 4096), 0) << "the held area serves the next call";
  EXPECT_TRUE(s->result_flags & kResultInBulk);
  EXPECT_FALSE(s->result_flags & kResultViaChannel) << "an area the client holds is not sent again";
  munmap(const_cast<char *>(r), kMiB);
  close(result_area);
  close(good);
  EXPECT_EQ(call_str(srv.door(), "others"), "others");
}

TEST(Hostile, ClientRewritingItsBulkAreaDuringTheCall) {
  // The procedure reads private bytes while the client rewrites its area.
  ServerProcess srv([] { return std::vector<int>{door_create(stable_args_proc, nullptr, 0)}; });
  RawClient rc;
  ASSERT_TRUE(rc.hello(srv.door()));
  ASSERT_TRUE(rc.channel(3));
  constexpr size_t kLen = 1 << 20;
  int area = bulk_area(kLen, 'a');
  char *w = static_cast<char *>(mmap(nullptr, kLen, PROT_READ | PROT_WRITE, MAP_SHARED, area, 0));
  ASSERT_NE(w, MAP_FAILED);
  ChannelHeader h{kWireMagic, 1, 1, kHasBulk, kLen};
  ASSERT_TRUE(send_rec(rc.chans[3], &h, sizeof h, {area}));
  slot_at(rc.region, 3)->arg_bulk_gen = 1;
  std::atomic<bool> stop{false};
  std::thread scribbler([&] {
    for (unsigned v = 0; !stop.load(); v++) std::memset(w, static_cast<int>(v), kLen);
  });
  EXPECT_EQ(rc.call(3, 1, kCallViaChannel | kCallArgsInBulk, kLen, 0), 0);
  stop = true;
  scribbler.join();
  SlotHeader *s = slot_at(rc.region, 3);
  ASSERT_EQ(s->result_size, 4u);
  EXPECT_EQ(std::memcmp(s->small_result, "same", 4), 0) << "the procedure saw its arguments change";
  munmap(w, kLen);
  close(area);
  EXPECT_TRUE(alive(srv.pid()));
}
