// SPDX-License-Identifier: MIT
//
// test_call.cpp — the call path: payload sizes, the overflow buffer,
// descriptors both ways, doors passed through doors, credentials that
// follow the caller, door_return's constant stack, door_reply_np.
#include <door.h>
#include <fcntl.h>
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

std::vector<char> pattern(size_t n, unsigned seed) {
  std::vector<char> v(n);
  for (size_t i = 0; i < n; i++) v[i] = static_cast<char>((i * 131 + seed) & 0xff);
  return v;
}

int echo_door() { return door_create(doortest::echo_proc, nullptr, 0); }

}  // namespace

class PayloadSizes : public ::testing::TestWithParam<size_t> {};

TEST_P(PayloadSizes, EchoAcrossProcessesIsExact) {
  ServerProcess srv([] { return std::vector<int>{echo_door()}; });
  size_t n = GetParam();
  auto in = pattern(n, 7);
  std::vector<char> rbuf(n + 16);
  door_arg_t a{n ? in.data() : nullptr, n, nullptr, 0, rbuf.data(), rbuf.size()};
  ASSERT_EQ(door_call(srv.door(), &a), 0) << strerror(errno);
  ASSERT_EQ(a.data_size, n);
  EXPECT_EQ(a.rbuf, rbuf.data()) << "a result that fits must not be reallocated";
  EXPECT_EQ(a.data_ptr, rbuf.data());
  if (n) EXPECT_EQ(std::memcmp(a.data_ptr, in.data(), n), 0);
}

INSTANTIATE_TEST_SUITE_P(Sizes, PayloadSizes,
                         ::testing::Values(0, 1, 8, 4096, 65536, 128 * 1024, 128 * 1024 + 1, 1 << 20, 4 << 20, (4 << 20) + 1,
                                           16 << 20));

// ---------------------------------------------------------------------------
// DOOR_ARGS_IN_PLACE_NP: arguments read where the client wrote them
// ---------------------------------------------------------------------------

namespace {

struct ArgsSeen {
  char mapping;  ///< 's': a shared mapping (in place), 'p': private memory
  std::uint32_t sum;
  std::uint64_t size;
};

/// Reports where argp lies (from /proc/self/maps) and a checksum of it.
void where_args_proc(void *, char *argp, size_t n, door_desc_t *, uint_t) {
  ArgsSeen r{'?', 0, n};
  for (size_t i = 0; i < n; i++) r.sum = r.sum * 31 + static_cast<unsigned char>(argp[i]);
  if (FILE *f = fopen("/proc/self/maps", "r")) {
    unsigned long lo, hi;
    char perms[8];
    char line[512];
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && reinterpret_cast<uintptr_t>(argp) >= lo &&
          reinterpret_cast<uintptr_t>(argp) < hi)
        r.mapping = perms[3];
    fclose(f);
  }
  door_return(reinterpret_cast<char *>(&r), sizeof r, nullptr, 0);
}

std::uint32_t checksum(const std::vector<char> &v) {
  std::uint32_t s = 0;
  for (char c : v) s = s * 31 + static_cast<unsigned char>(c);
  return s;
}

}  // namespace

TEST(ArgsInPlace, ProcedureReadsTheClientsMemoryOnlyWhenAsked) {
  ServerProcess srv(
      [] {
        return std::vector<int>{door_create(where_args_proc, nullptr, 0),
                                door_create(where_args_proc, nullptr, DOOR_ARGS_IN_PLACE_NP)};
      },
      2);
  // In the slot header, the slot's data area, a bulk area, a one-shot memfd.
  for (size_t n : {size_t{8}, size_t{65536}, size_t{1} << 20, (size_t{4} << 20) + 1}) {
    SCOPED_TRACE(testing::Message() << n << " bytes");
    auto in = pattern(n, 3);
    for (int k = 0; k < 2; k++) {
      ArgsSeen r{};
      door_arg_t a{in.data(), n, nullptr, 0, reinterpret_cast<char *>(&r), sizeof r};
      ASSERT_EQ(door_call(srv.door(k), &a), 0) << strerror(errno);
      ASSERT_EQ(a.data_size, sizeof r);
      std::memcpy(&r, a.data_ptr, sizeof r);
      EXPECT_EQ(r.size, n);
      EXPECT_EQ(r.sum, checksum(in));
      if (k == 1)
        EXPECT_EQ(r.mapping, 's') << "DOOR_ARGS_IN_PLACE_NP: argp in the shared memory the client wrote";
      else if (n <= (size_t{4} << 20))
        EXPECT_EQ(r.mapping, 'p') << "by default the procedure gets a private copy";
      // (beyond 4 MiB the sealed one-shot memfd is used in place anyway)
    }
  }
}

TEST(ArgsInPlace, EchoIsExactAndAttributeIsVisible) {
  ServerProcess srv(
      [] { return std::vector<int>{door_create(doortest::echo_proc, nullptr, DOOR_ARGS_IN_PLACE_NP)}; });
  door_info_t i;
  ASSERT_EQ(door_info(srv.door(), &i), 0);
  EXPECT_TRUE(i.di_attributes & DOOR_ARGS_IN_PLACE_NP) << "clients see how their arguments are read";
  for (size_t n : {size_t{0}, size_t{8}, size_t{128} * 1024, size_t{1} << 20, size_t{5} << 20}) {
    SCOPED_TRACE(testing::Message() << n << " bytes");
    auto in = pattern(n, 11);
    std::vector<char> rbuf(n + 1);
    for (int rep = 0; rep < 3; rep++) {  // reused slot and bulk areas
      door_arg_t a{n ? in.data() : nullptr, n, nullptr, 0, rbuf.data(), rbuf.size()};
      ASSERT_EQ(door_call(srv.door(), &a), 0) << strerror(errno);
      ASSERT_EQ(a.data_size, n);
      if (n) EXPECT_EQ(std::memcmp(a.data_ptr, in.data(), n), 0);
    }
  }
}

TEST(Overflow, LargeResultComesBackInPageRoundedMapping) {
  ServerProcess srv([] { return std::vector<int>{echo_door()}; });
  for (size_t n : {size_t(100), size_t(5000), size_t(200000), size_t(3 << 20)}) {
    auto in = pattern(n, 3);
    char small[16];
    door_arg_t a{in.data(), n, nullptr, 0, small, sizeof small};
    ASSERT_EQ(door_call(srv.door(), &a), 0) << strerror(errno);
    ASSERT_NE(a.rbuf, small);
    long pg = sysconf(_SC_PAGESIZE);
    EXPECT_EQ(a.rsize % pg, 0u);
    EXPECT_GE(a.rsize, n);
    EXPECT_EQ(a.data_ptr, a.rbuf);
    EXPECT_EQ(a.data_size, n);
    EXPECT_EQ(std::memcmp(a.data_ptr, in.data(), n), 0);
    for (size_t i = n; i < a.rsize; i++) ASSERT_EQ(a.rbuf[i], 0) << "tail must be zero-filled";
    a.rbuf[0] = 1;  // the caller owns it: writable
    EXPECT_EQ(munmap(a.rbuf, a.rsize), 0);
  }
}

TEST(Overflow, ExactFitIsNotReallocated) {
  ServerProcess srv([] { return std::vector<int>{echo_door()}; });
  char buf[64];
  door_arg_t a{const_cast<char *>("0123456789abcdef0123456789abcdef"), 32, nullptr, 0, buf, 32};
  ASSERT_EQ(door_call(srv.door(), &a), 0);
  EXPECT_EQ(a.rbuf, buf);
  EXPECT_EQ(a.rsize, 32u);
}

TEST(Overflow, NullRbufWithZeroSizeIsLegal) {
  ServerProcess srv([] { return std::vector<int>{echo_door()}; });
  door_arg_t a{const_cast<char *>("abc"), 3, nullptr, 0, nullptr, 0};
  ASSERT_EQ(door_call(srv.door(), &a), 0);
  ASSERT_NE(a.rbuf, nullptr);
  EXPECT_EQ(std::string(a.data_ptr, a.data_size), "abc");
  munmap(a.rbuf, a.rsize);
}

TEST(Buffers, SameBufferForArgumentsAndResults) {
  ServerProcess srv([] { return std::vector<int>{echo_door()}; });
  char buf[32] = "same-buffer";
  door_arg_t a{buf, 11, nullptr, 0, buf, sizeof buf};
  ASSERT_EQ(door_call(srv.door(), &a), 0);
  EXPECT_EQ(std::string(a.data_ptr, a.data_size), "same-buffer");
}

TEST(Buffers, NullParamsMeansNoArgumentsNoResults) {
  static std::atomic<int> *hits;
  hits = static_cast<std::atomic<int> *>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ServerProcess srv([] {
    return std::vector<int>{door_create(
        [](void *, char *argp, size_t n, door_desc_t *dp, uint_t nd) {
          if (argp == nullptr && n == 0 && dp == nullptr && nd == 0) hits->fetch_add(1);
          door_return(nullptr, 0, nullptr, 0);
        },
        nullptr, 0)};
  });
  ASSERT_EQ(door_call(srv.door(), nullptr), 0) << strerror(errno);
  EXPECT_EQ(hits->load(), 1);
}

// ---- descriptors ----

TEST(Descriptors, ClientPassesPipeServerWritesIt) {
  ServerProcess srv([] {
    return std::vector<int>{door_create(
        [](void *, char *, size_t, door_desc_t *dp, uint_t nd) {
          char ok = 'n';
          if (nd == 1 && (dp[0].d_attributes & DOOR_DESCRIPTOR)) {
            int fd = dp[0].d_data.d_desc.d_descriptor;
            ok = write(fd, "from-server", 11) == 11 ? 'y' : 'w';
            close(fd);
          }
          door_return(&ok, 1, nullptr, 0);
        },
        nullptr, 0)};
  });
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  door_desc_t d{};
  d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
  d.d_data.d_desc.d_descriptor = p[1];
  char r;
  door_arg_t a{nullptr, 0, &d, 1, &r, 1};
  ASSERT_EQ(door_call(srv.door(), &a), 0) << strerror(errno);
  EXPECT_EQ(r, 'y');
  EXPECT_EQ(fcntl(p[1], F_GETFD), -1) << "DOOR_RELEASE must close the caller's descriptor";
  char buf[32] = {};
  EXPECT_EQ(read(p[0], buf, sizeof buf), 11);
  EXPECT_STREQ(buf, "from-server");
  close(p[0]);
}

TEST(Descriptors, ServerReturnsDescriptorsAfterData) {
  ServerProcess srv([] {
    return std::vector<int>{door_create(
        [](void *, char *, size_t, door_desc_t *, uint_t) {
          door_desc_t d[2]{};
          int p[2];
          (void)!pipe(p);
          (void)!write(p[1], "xyz", 3);
          d[0].d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
          d[0].d_data.d_desc.d_descriptor = p[0];
          d[1].d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
          d[1].d_data.d_desc.d_descriptor = p[1];
          door_return(const_cast<char *>("hello"), 5, d, 2);
        },
        nullptr, 0)};
  });
  alignas(8) char rbuf[256];
  door_arg_t a{nullptr, 0, nullptr, 0, rbuf, sizeof rbuf};
  ASSERT_EQ(door_call(srv.door(), &a), 0) << strerror(errno);
  ASSERT_EQ(a.desc_num, 2u);
  EXPECT_EQ(std::string(a.data_ptr, a.data_size), "hello");
  EXPECT_EQ(reinterpret_cast<char *>(a.desc_ptr), a.data_ptr + sizeof(door_desc_t))
      << "descriptors follow the data, rounded up to sizeof(door_desc_t)";
  for (unsigned i = 0; i < 2; i++) EXPECT_EQ(a.desc_ptr[i].d_attributes & DOOR_DESCRIPTOR, unsigned(DOOR_DESCRIPTOR));
  char buf[4] = {};
  EXPECT_EQ(read(a.desc_ptr[0].d_data.d_desc.d_descriptor, buf, 3), 3);
  EXPECT_STREQ(buf, "xyz");
  close(a.desc_ptr[0].d_data.d_desc.d_descriptor);
  close(a.desc_ptr[1].d_data.d_desc.d_descriptor);
}

TEST(Descriptors, MoreThanOneSocketRecordWorth) {
  // SCM_RIGHTS carries at most 253 descriptors per message; illumos allows
  // 1024 per call. 600 must arrive intact and in order.
  ServerProcess srv([] {
    return std::vector<int>{door_create(
        [](void *, char *, size_t, door_desc_t *dp, uint_t nd) {
          // Reply with the inode of each descriptor, then close them.
          std::vector<ino_t> inos;
          for (uint_t i = 0; i < nd; i++) {
            struct stat st;
            fstat(dp[i].d_data.d_desc.d_descriptor, &st);
            inos.push_back(st.st_ino);
            close(dp[i].d_data.d_desc.d_descriptor);
          }
          door_return(reinterpret_cast<char *>(inos.data()), inos.size() * sizeof(ino_t), nullptr, 0);
        },
        nullptr, 0)};
  });
  constexpr int kN = 600;
  std::vector<int> fds;
  std::vector<door_desc_t> d(kN);
  std::vector<ino_t> want;
  for (int i = 0; i < kN; i++) {
    int fd = i % 2 ? open("/dev/null", O_RDONLY) : dup(0);
    if (i % 2 == 0) {
      int p[2];
      close(fd);
      (void)!pipe(p);
      close(p[1]);
      fd = p[0];
    }
    ASSERT_GE(fd, 0);
    struct stat st;
    fstat(fd, &st);
    want.push_back(st.st_ino);
    d[i].d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
    d[i].d_data.d_desc.d_descriptor = fd;
  }
  std::vector<char> rbuf(kN * sizeof(ino_t));
  door_arg_t a{nullptr, 0, d.data(), kN, rbuf.data(), rbuf.size()};
  ASSERT_EQ(door_call(srv.door(), &a), 0) << strerror(errno);
  ASSERT_EQ(a.data_size, kN * sizeof(ino_t));
  EXPECT_EQ(std::memcmp(a.data_ptr, want.data(), a.data_size), 0);
}

TEST(Descriptors, DoorThroughDoorReachesThirdProcess) {
  // Server A calls whatever door it is handed; server B echoes with its pid.
  ServerProcess b([] {
    return std::vector<int>{door_create(
        [](void *, char *, size_t, door_desc_t *, uint_t) {
          pid_t me = getpid();
          door_return(reinterpret_cast<char *>(&me), sizeof me, nullptr, 0);
        },
        nullptr, 0)};
  });
  ServerProcess a([] {
    return std::vector<int>{door_create(
        [](void *, char *, size_t, door_desc_t *dp, uint_t nd) {
          pid_t got = -1;
          if (nd == 1) {
            door_arg_t c{nullptr, 0, nullptr, 0, reinterpret_cast<char *>(&got), sizeof got};
            if (door_call(dp[0].d_data.d_desc.d_descriptor, &c) != 0) got = -errno;
            close(dp[0].d_data.d_desc.d_descriptor);
          }
          door_return(reinterpret_cast<char *>(&got), sizeof got, nullptr, 0);
        },
        nullptr, 0)};
  });
  door_desc_t d{};
  d.d_attributes = DOOR_DESCRIPTOR;
  d.d_data.d_desc.d_descriptor = b.door();
  pid_t got = 0;
  door_arg_t arg{nullptr, 0, &d, 1, reinterpret_cast<char *>(&got), sizeof got};
  ASSERT_EQ(door_call(a.door(), &arg), 0) << strerror(errno);
  EXPECT_EQ(got, b.pid());
}

TEST(Descriptors, ReceivedDoorCarriesAttributesAndId) {
  static door_id_t *seen;
  seen = static_cast<door_id_t *>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ServerProcess srv([] {
    return std::vector<int>{door_create(
        [](void *, char *, size_t, door_desc_t *dp, uint_t nd) {
          door_attr_t attrs = nd ? dp[0].d_attributes : 0;
          if (nd) {
            seen[0] = dp[0].d_data.d_desc.d_id;
            close(dp[0].d_data.d_desc.d_descriptor);
          }
          door_return(reinterpret_cast<char *>(&attrs), sizeof attrs, nullptr, 0);
        },
        nullptr, 0)};
  });
  int mine = door_create(doortest::echo_proc, nullptr, DOOR_REFUSE_DESC);
  ASSERT_GE(mine, 0);
  door_info_t info;
  ASSERT_EQ(door_info(mine, &info), 0);
  door_desc_t d{};
  d.d_attributes = DOOR_DESCRIPTOR;
  d.d_data.d_desc.d_descriptor = mine;
  door_attr_t attrs = 0;
  door_arg_t a{nullptr, 0, &d, 1, reinterpret_cast<char *>(&attrs), sizeof attrs};
  ASSERT_EQ(door_call(srv.door(), &a), 0);
  EXPECT_TRUE(attrs & DOOR_DESCRIPTOR);
  EXPECT_TRUE(attrs & DOOR_REFUSE_DESC) << "a passed door shows its creation flags";
  EXPECT_FALSE(attrs & DOOR_LOCAL) << "the receiver did not create it";
  EXPECT_EQ(seen[0], door_ptr_t{info.di_uniquifier});
  close(mine);
}

TEST(Descriptors, OwnDoorPassedBackIsLocal) {
  ServerProcess srv([] {
    return std::vector<int>{door_create(
        [](void *, char *, size_t, door_desc_t *dp, uint_t nd) {
          door_desc_t out = nd ? dp[0] : door_desc_t{};
          out.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
          door_return(nullptr, 0, &out, nd ? 1 : 0);
        },
        nullptr, 0)};
  });
  int mine = echo_door();
  door_desc_t d{};
  d.d_attributes = DOOR_DESCRIPTOR;
  d.d_data.d_desc.d_descriptor = mine;
  alignas(8) char rbuf[128];
  door_arg_t a{nullptr, 0, &d, 1, rbuf, sizeof rbuf};
  ASSERT_EQ(door_call(srv.door(), &a), 0) << strerror(errno);
  ASSERT_EQ(a.desc_num, 1u);
  EXPECT_TRUE(a.desc_ptr[0].d_attributes & DOOR_LOCAL);
  int back = a.desc_ptr[0].d_data.d_desc.d_descriptor;
  EXPECT_EQ(call_str(back, "round"), "round");
  close(back);
  close(mine);
}

// ---- who is calling ----

TEST(Credentials, FollowTheProcessThatCallsNow) {
  ServerProcess srv([] {
    return std::vector<int>{door_create(
        [](void *, char *, size_t, door_desc_t *, uint_t) {
          ucred_t *uc = nullptr;
          pid_t p = -1;
          if (door_ucred(&uc) == 0) p = ucred_getpid(uc);
          ucred_free(uc);
          door_return(reinterpret_cast<char *>(&p), sizeof p, nullptr, 0);
        },
        nullptr, 0)};
  });
  auto caller_pid = [](int d) {
    pid_t p = 0;
    door_arg_t a{nullptr, 0, nullptr, 0, reinterpret_cast<char *>(&p), sizeof p};
    return door_call(d, &a) == 0 ? p : -errno;
  };
  EXPECT_EQ(caller_pid(srv.door()), getpid());
  // Hand the descriptor to another process over SCM_RIGHTS: its calls must
  // carry ITS credentials, not ours (we connected first).
  int sp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
  pid_t child = fork();
  if (child == 0) {
    close(sp[0]);
    int d = doortest::recv_fd(sp[1]);
    pid_t got = caller_pid(d);
    _exit(got == getpid() ? 0 : 1);
  }
  close(sp[1]);
  ASSERT_TRUE(doortest::send_fd(sp[0], srv.door()));
  int st;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "the receiver's call must carry its own pid";
  close(sp[0]);
  EXPECT_EQ(caller_pid(srv.door()), getpid());
}

// ---- server thread behaviour ----

TEST(ServerThreads, DoorReturnDoesNotGrowTheStack) {
  static std::atomic<uintptr_t> *lo, *hi;
  auto *mem = static_cast<std::atomic<uintptr_t> *>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  lo = mem, hi = mem + 1;
  lo->store(UINTPTR_MAX);
  ServerProcess srv([] {
    return std::vector<int>{door_create(
        [](void *, char *argp, size_t n, door_desc_t *, uint_t) {
          // The frame's address, not a local's: ASan may put locals on a
          // heap-allocated fake stack.
          auto at = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
          uintptr_t v = lo->load();
          while (at < v && !lo->compare_exchange_weak(v, at)) {
          }
          v = hi->load();
          while (at > v && !hi->compare_exchange_weak(v, at)) {
          }
          door_return(argp, n, nullptr, 0);
        },
        nullptr, 0)};
  });
  for (int i = 0; i < 50000; i++) ASSERT_EQ(call_str(srv.door(), "s"), "s");
  // One thread serves nearly all calls; a different pool thread may serve
  // some, at its own depth. Growth would show as ~100 bytes x 50000 calls.
  EXPECT_LT(hi->load() - lo->load(), 1u << 20) << "stack depth moved: door_return nests frames";
}

TEST(ServerThreads, ProcedureReturningGivesEINTRAndPoolRecovers) {
  ServerProcess srv([] {
    return std::vector<int>{door_create(
        [](void *, char *argp, size_t n, door_desc_t *, uint_t) {
          if (n == 6 && std::memcmp(argp, "return", 6) == 0) return;  // no door_return
          door_return(argp, n, nullptr, 0);
        },
        nullptr, 0)};
  });
  EXPECT_EQ(call_str(srv.door(), "return"), "ERR:" + std::to_string(EINTR));
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(call_str(srv.door(), "return"), "ERR:" + std::to_string(EINTR));
    EXPECT_EQ(call_str(srv.door(), "after"), "after");
  }
}

TEST(ServerThreads, ThreadExitMidCallGivesEINTR) {
  ServerProcess srv([] {
    return std::vector<int>{door_create(
        [](void *, char *argp, size_t n, door_desc_t *, uint_t) {
          if (n == 4 && std::memcmp(argp, "exit", 4) == 0) pthread_exit(nullptr);
          door_return(argp, n, nullptr, 0);
        },
        nullptr, 0)};
  });
  EXPECT_EQ(call_str(srv.door(), "exit"), "ERR:" + std::to_string(EINTR));
  EXPECT_EQ(call_str(srv.door(), "fine"), "fine");
}

TEST(ServerThreads, CallsWithinOneProcess) {
  int d = echo_door();
  ASSERT_GE(d, 0);
  for (int i = 0; i < 100; i++) ASSERT_EQ(call_str(d, "local" + std::to_string(i)), "local" + std::to_string(i));
  close(d);
}

TEST(ServerThreads, NestedCallFromAProcedure) {
  ServerProcess srv(
      [] {
        int inner = door_create(doortest::echo_proc, nullptr, 0);
        static int s_inner;
        s_inner = inner;
        int outer = door_create(
            [](void *, char *argp, size_t n, door_desc_t *, uint_t) {
              std::string r = call_str(s_inner, std::string(argp, n) + "+inner");
              door_return(r.data(), r.size(), nullptr, 0);
            },
            nullptr, 0);
        return std::vector<int>{outer};
      });
  EXPECT_EQ(call_str(srv.door(), "outer"), "outer+inner");
}

TEST(ReplyNp, CallerGetsResultWhileServerKeepsRunning) {
  static std::atomic<int> *after;
  after = static_cast<std::atomic<int> *>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ServerProcess srv([] {
    return std::vector<int>{door_create(
        [](void *, char *argp, size_t n, door_desc_t *, uint_t) {
          if (door_reply_np(argp, n, nullptr, 0) != 0) door_return(nullptr, 0, nullptr, 0);
          usleep(200 * 1000);  // cleanup after the caller has its answer
          after->fetch_add(1);
          door_return(nullptr, 0, nullptr, 0);
        },
        nullptr, 0)};
  });
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(call_str(srv.door(), "early"), "early");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 150) << "the reply must not wait for the post-reply work";
  EXPECT_EQ(after->load(), 0);
  // The next call is served (by another thread) while the first finishes.
  EXPECT_EQ(call_str(srv.door(), "second"), "second");
  for (int i = 0; i < 100 && after->load() < 2; i++) usleep(10 * 1000);
  EXPECT_EQ(after->load(), 2);
}
