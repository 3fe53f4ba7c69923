// SPDX-License-Identifier: MIT
//
// test_hostile_server.cpp — a server that does not play by the rules. A
// door served by hand (wire.h, shm_layout.h) answers libdoor's Hello with
// a region and then replies with whatever the test wants. A caller must
// get an error or a bounded cost, never a crash, a hang or an allocation
// the server chose for it.
#include <door.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "door_test_util.h"
#include "raw_wire.h"
#include "shm_layout.h"
#include "wire.h"

using namespace door::detail;
using doortest::recv_rec;
using doortest::send_rec;

namespace {

/// A sealed memfd of `len` bytes (sparse: nothing allocated).
int sealed_memfd(uint64_t len, int seals) {
  int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(len)) != 0) return -1;
  if (seals) fcntl(fd, F_ADD_SEALS, seals);
  return fd;
}

/// A door served by a thread of this process speaking the protocol by
/// hand. `reply(region slot, seq, channel)` answers each call.
class RawServer {
 public:
  using Reply = std::function<void(SlotHeader *, uint32_t seq, int chan)>;

  RawServer(Reply reply, bool seal_region = true) : reply_(std::move(reply)), seal_(seal_region) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return;
    // The name libdoor recognises a door by (door_identity.h).
    char name[96];
    std::snprintf(name, sizeof name, "ldoor1:%08x:%016" PRIx64 ":%016x:%016x", 0u, kId, 0u, 0u);
    struct sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path + 1, name, std::strlen(name));
    socklen_t alen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + std::strlen(name));
    if (bind(sv[0], reinterpret_cast<sockaddr *>(&a), alen) != 0) return;
    end_ = sv[0];
    door_ = sv[1];
    thread_ = std::thread([this] { serve(); });
  }
  ~RawServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int fd : {end_, conn_, memfd_}) if (fd >= 0) close(fd);
    for (int c : chans_) if (c >= 0) close(c);
    if (region_) munmap(region_, kRegionSize);
    if (door_ >= 0) close(door_);
  }
  int door() const { return door_; }

 private:
  static constexpr uint64_t kId = 0x5eed5eed5eed5eedull;

  void serve() {
    std::vector<uint32_t> last(kSlots, 0);
    while (!stop_) {
      struct pollfd p[2] = {{end_, POLLIN, 0}, {conn_, POLLIN, 0}};
      poll(p, conn_ >= 0 ? 2 : 1, 5);
      int fd = -1;
      if (p[0].revents & POLLIN) {
        MsgHeader h{};
        if (recv_rec(end_, &h, sizeof h, &fd, 0) == sizeof h && fd >= 0 && conn_ < 0) hello(fd);
        else if (fd >= 0) close(fd);
      }
      if (conn_ >= 0 && (p[1].revents & POLLIN)) {
        SlotMsg m{};
        int n = recv_rec(conn_, &m, sizeof m, &fd, 0);
        if (n == sizeof m && m.h.type == MsgType::SlotChannel && fd >= 0 && m.slot < kSlots) {
          chans_[m.slot] = fd;
          SlotMsg ack{make_header(MsgType::SlotChannelAck), m.slot, 0};
          send_rec(conn_, &ack, sizeof ack, {});
        } else if (fd >= 0) {
          close(fd);
        }
      }
      if (!region_) continue;
      for (uint32_t i = 0; i < kSlots; i++) {
        SlotHeader *s = slot_at(region_, i);
        uint32_t seq = s->req.load() & kSeqMask;
        if (seq == 0 || seq == last[i]) continue;
        last[i] = seq;
        reply_(s, seq, chans_[i]);
        s->rsp.store(seq | kRspDone);
        syscall(SYS_futex, &s->rsp, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
      }
    }
  }

  void hello(int conn) {
    conn_ = conn;
    memfd_ = sealed_memfd(kRegionSize, seal_ ? F_SEAL_SHRINK | F_SEAL_GROW : 0);
    region_ = mmap(nullptr, kRegionSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_, 0);
    auto *h = static_cast<RegionHeader *>(region_);
    h->magic = kRegionMagic;
    h->version = kRegionVersion;
    h->header_size = kRegionHeaderSize;
    h->slot_header_size = kSlotHeaderSize;
    h->nslots = kSlots;
    h->slot_data = kSlotData;
    h->region_size = kRegionSize;
    h->door_id = kId;
    h->data_max = UINT64_MAX;
    h->desc_max = 1024;
    HelloReply rep{make_header(MsgType::HelloReply), 0, kSlots, kRegionSize};
    send_rec(conn_, &rep, sizeof rep, {memfd_});
  }

  Reply reply_;
  bool seal_;
  int end_ = -1, door_ = -1, conn_ = -1, memfd_ = -1;
  void *region_ = nullptr;
  std::vector<int> chans_ = std::vector<int>(kSlots, -1);
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// Page faults this thread has taken (populating a mapping counts one per
/// page, also where nothing is allocated).
long thread_faults() {
  struct rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return u.ru_minflt + u.ru_majflt;
}

/// A successful reply of `size` bytes announced in the slot header.
void set_result(SlotHeader *s, uint64_t size, uint32_t flags) {
  s->error = 0;
  s->result_size = size;
  s->result_ndesc = 0;
  s->result_flags = flags;
  s->result_offset = 0;
}

}  // namespace

TEST(HostileServer, SparseHugeResultCostsTheCallerNothing) {
  // A sealed, sparse 1 GiB memfd as the result: the caller gets a mapping
  // whose pages fault in as it reads them. Populated up front, it cost the
  // caller 1.3 s of page faults per GiB the server claimed.
  constexpr uint64_t kHuge = 1ull << 30;
  RawServer srv([](SlotHeader *s, uint32_t seq, int chan) {
    int fd = sealed_memfd(kHuge, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    ChannelHeader h{kWireMagic, seq, 1, kHasData, kHuge};
    send_rec(chan, &h, sizeof h, {fd});
    close(fd);
    set_result(s, kHuge, kResultViaChannel);
  });
  ASSERT_GE(srv.door(), 0);
  long rss_before = doortest::self_counts().rss_kb;
  long faults_before = thread_faults();
  char small[16];
  door_arg_t a{const_cast<char *>("x"), 1, nullptr, 0, small, sizeof small};
  ASSERT_EQ(door_call(srv.door(), &a), 0) << strerror(errno);
  EXPECT_EQ(a.data_size, kHuge);
  ASSERT_NE(a.rbuf, small);
  EXPECT_GE(a.rsize, kHuge);
  EXPECT_EQ(a.data_ptr[0], 0);
  EXPECT_EQ(a.data_ptr[kHuge - 1], 0);
  EXPECT_LT(doortest::self_counts().rss_kb, rss_before + 64 * 1024) << "the caller populated the server's memfd";
  EXPECT_LT(thread_faults(), faults_before + 4096) << "the caller faulted in every page of the server's memfd";
  munmap(a.rbuf, a.rsize);
}

TEST(HostileServer, RegionThatCanShrinkIsRefused) {
  // Unsealed, the server could truncate the region and make the caller's
  // next slot access fault (SIGBUS).
  RawServer srv([](SlotHeader *s, uint32_t, int) { set_result(s, 0, 0); }, /*seal_region=*/false);
  ASSERT_GE(srv.door(), 0);
  char rbuf[16];
  door_arg_t a{const_cast<char *>("x"), 1, nullptr, 0, rbuf, sizeof rbuf};
  errno = 0;
  EXPECT_EQ(door_call(srv.door(), &a), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(HostileServer, BulkResultsThatAreNotWhatTheySay) {
  // Results said to be in a bulk area the caller was never sent, in an
  // unsealed area, or in one smaller than the result: EBADF, no crash.
  std::atomic<int> mode{0};
  RawServer srv([&](SlotHeader *s, uint32_t seq, int chan) {
    constexpr uint64_t kMiB = 1 << 20;
    s->result_bulk_gen = 3;
    switch (mode.load()) {
      case 0:  // never sent
        set_result(s, kMiB, kResultInBulk);
        break;
      case 1: {  // unsealed
        int fd = sealed_memfd(kMiB, 0);
        ChannelHeader h{kWireMagic, seq, 1, kHasBulk, kMiB};
        send_rec(chan, &h, sizeof h, {fd});
        close(fd);
        set_result(s, kMiB, kResultInBulk | kResultViaChannel);
        break;
      }
      case 2: {  // too small for the result
        int fd = sealed_memfd(256 * 1024, F_SEAL_SHRINK | F_SEAL_GROW);
        ChannelHeader h{kWireMagic, seq, 1, kHasBulk, kMiB};
        send_rec(chan, &h, sizeof h, {fd});
        close(fd);
        set_result(s, kMiB, kResultInBulk | kResultViaChannel);
        break;
      }
      default: {  // well-formed
        int fd = sealed_memfd(kMiB, F_SEAL_SHRINK | F_SEAL_GROW);
        ChannelHeader h{kWireMagic, seq, 1, kHasBulk, kMiB};
        send_rec(chan, &h, sizeof h, {fd});
        close(fd);
        set_result(s, kMiB - 1, kResultInBulk | kResultViaChannel);
      }
    }
  });
  ASSERT_GE(srv.door(), 0);
  std::vector<char> rbuf(1 << 20);
  for (int m = 0; m < 3; m++) {
    mode = m;
    door_arg_t a{const_cast<char *>("x"), 1, nullptr, 0, rbuf.data(), rbuf.size()};
    errno = 0;
    EXPECT_EQ(door_call(srv.door(), &a), -1) << "mode " << m;
    EXPECT_EQ(errno, EBADF) << "mode " << m;
  }
  mode = 3;
  door_arg_t a{const_cast<char *>("x"), 1, nullptr, 0, rbuf.data(), rbuf.size()};
  ASSERT_EQ(door_call(srv.door(), &a), 0) << strerror(errno);
  EXPECT_EQ(a.data_size, (1u << 20) - 1);
}
