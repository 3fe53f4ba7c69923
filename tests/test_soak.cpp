// SPDX-License-Identifier: MIT
//
// test_soak.cpp — many client processes x threads calling one server with
// per-call unique, checksummed payloads and descriptors both ways:
//  * every reply must be the answer to exactly that call (the server
//    transforms the caller's unique token, payload checksum and a token it
//    read from the caller's descriptor; the caller checks all three and the
//    descriptor the server sent back);
//  * the server checks every call's checksum and that each calling thread's
//    call numbers arrive exactly once and in order: nothing lost,
//    duplicated, reordered or corrupted;
//  * the server's descriptors, threads, mappings and memory stay flat.
//
// Size (environment): DOOR_SOAK_PROCS (default 24), DOOR_SOAK_THREADS (4),
// DOOR_SOAK_CALLS per thread (2500). DOOR_SOAK=long selects 48 x 8 x 8000
// (3 million calls) unless those are set.
#include <door.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "door_test_util.h"

using doortest::ProcCounts;
using doortest::server_counts;
using doortest::ServerProcess;

namespace {

/// The head of every soak call's arguments; the payload follows.
struct CallHead {
  std::uint32_t magic;
  std::uint32_t pid;
  std::uint32_t thread;
  std::uint32_t seq;       ///< 0, 1, 2... per (pid, thread)
  std::uint64_t token;     ///< unique per call
  std::uint64_t checksum;  ///< of the payload
  std::uint32_t payload;   ///< payload bytes
  std::uint32_t pad;
};
/// The reply: what the server saw, transformed so an echo cannot pass.
struct Reply {
  std::uint64_t token_x;     ///< token ^ kX
  std::uint64_t checksum_x;  ///< checksum ^ kX
  std::uint64_t fd_token_x;  ///< token read from the passed descriptor ^ kX (0: none)
  std::int32_t verdict;      ///< 0, or what the server found wrong
  std::uint32_t seq;
};
constexpr std::uint32_t kMagic = 0x50414f53;  // "SOAP"
constexpr std::uint64_t kX = 0x9e3779b97f4a7c15ull;
enum Verdict { kOk = 0, kBadSize = 1, kBadChecksum = 2, kOutOfOrder = 3, kBadDescriptor = 4 };

std::uint64_t fnv1a(const void *p, std::size_t n) {
  std::uint64_t h = 1469598103934665603ull;
  auto *b = static_cast<const unsigned char *>(p);
  for (std::size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

std::uint64_t splitmix(std::uint64_t &s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// ---- the server -----------------------------------------------------------

std::mutex g_seq_mu;
std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint32_t> *g_next_seq;  ///< (pid, thread) -> next seq
std::atomic<std::uint64_t> g_calls{0};  ///< well-formed calls accepted

void soak_proc(void *, char *argp, size_t n, door_desc_t *dp, uint_t nd) {
  if (n == 6 && std::memcmp(argp, "counts", 6) == 0) doortest::counts_or_echo_proc(nullptr, argp, n, dp, nd);
  if (n == 5 && std::memcmp(argp, "calls", 5) == 0) {
    std::uint64_t c = g_calls.load();
    door_return(reinterpret_cast<char *>(&c), sizeof c, nullptr, 0);
  }
  Reply r{};
  CallHead h{};
  if (n >= sizeof h) std::memcpy(&h, argp, sizeof h);
  if (n < sizeof h || h.magic != kMagic || n != sizeof h + h.payload) {
    r.verdict = kBadSize;
  } else if (fnv1a(argp + sizeof h, h.payload) != h.checksum) {
    r.verdict = kBadChecksum;
  } else {
    std::lock_guard g(g_seq_mu);
    std::uint32_t &next = (*g_next_seq)[{h.pid, h.thread}];
    if (h.seq != next) r.verdict = kOutOfOrder;
    next = h.seq + 1;
  }
  r.seq = h.seq;
  r.token_x = h.token ^ kX;
  r.checksum_x = h.checksum ^ kX;
  door_desc_t back{};
  uint_t nback = 0;
  if (nd == 1 && (dp[0].d_attributes & DOOR_DESCRIPTOR)) {
    // The caller's memfd holds its token: read it, answer with a fresh
    // memfd holding token ^ kX.
    int fd = dp[0].d_data.d_desc.d_descriptor;
    std::uint64_t t = 0;
    if (pread(fd, &t, sizeof t, 0) != sizeof t || t != h.token) r.verdict = kBadDescriptor;
    close(fd);
    r.fd_token_x = t ^ kX;
    int m = memfd_create("soak-back", MFD_CLOEXEC);
    std::uint64_t tx = t ^ kX;
    if (m < 0 || pwrite(m, &tx, sizeof tx, 0) != sizeof tx) r.verdict = kBadDescriptor;
    back.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
    back.d_data.d_desc.d_descriptor = m;
    nback = 1;
  } else if (nd != 0) {
    r.verdict = kBadDescriptor;
    for (uint_t k = 0; k < nd; k++) close(dp[k].d_data.d_desc.d_descriptor);
  }
  if (r.verdict == kOk) g_calls++;
  door_return(reinterpret_cast<char *>(&r), sizeof r, nback ? &back : nullptr, nback);
}

// ---- a client thread ------------------------------------------------------

struct ThreadResult {
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;  ///< door_call errors
  std::uint64_t wrong = 0;   ///< replies that do not belong to the call, or a server verdict
};

ThreadResult client_thread(int d, std::uint32_t thread, long calls) {
  ThreadResult res;
  std::uint64_t rng = (std::uint64_t(getpid()) << 20) ^ thread ^ 0x5eed;
  std::vector<char> buf;
  char rbuf[256];
  for (long i = 0; i < calls; i++) {
    // Sizes: mostly small, some slot-sized, a few larger than a slot.
    std::uint64_t pick = splitmix(rng) % 100;
    std::uint32_t payload = pick < 70   ? static_cast<std::uint32_t>(splitmix(rng) % 64)
                            : pick < 97 ? static_cast<std::uint32_t>(splitmix(rng) % 8192)
                                        : static_cast<std::uint32_t>(128 * 1024 + splitmix(rng) % 65536);
    buf.resize(sizeof(CallHead) + payload);
    for (std::uint32_t k = 0; k < payload; k++) buf[sizeof(CallHead) + k] = static_cast<char>(splitmix(rng));
    CallHead h{kMagic, static_cast<std::uint32_t>(getpid()), thread, static_cast<std::uint32_t>(i),
               splitmix(rng) | 1, fnv1a(buf.data() + sizeof h, payload), payload, 0};
    std::memcpy(buf.data(), &h, sizeof h);
    bool with_fd = i % 10 == 3;
    door_desc_t desc{};
    int mfd = -1;
    if (with_fd) {
      mfd = memfd_create("soak", MFD_CLOEXEC);
      if (mfd < 0 || pwrite(mfd, &h.token, sizeof h.token, 0) != sizeof h.token) {
        res.failed++;
        continue;
      }
      desc.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
      desc.d_data.d_desc.d_descriptor = mfd;
    }
    door_arg_t a{buf.data(), buf.size(), with_fd ? &desc : nullptr, with_fd ? 1u : 0u, rbuf, sizeof rbuf};
    if (door_call(d, &a) != 0) {
      res.failed++;
      continue;
    }
    Reply r{};
    bool good = a.data_size == sizeof r;
    if (good) std::memcpy(&r, a.data_ptr, sizeof r);
    good = good && r.verdict == kOk && r.seq == h.seq && r.token_x == (h.token ^ kX) &&
           r.checksum_x == (h.checksum ^ kX);
    if (with_fd) {
      std::uint64_t back = 0;
      good = good && r.fd_token_x == (h.token ^ kX) && a.desc_num == 1;
      if (a.desc_num == 1) {
        int bfd = a.desc_ptr[0].d_data.d_desc.d_descriptor;
        good = good && pread(bfd, &back, sizeof back, 0) == sizeof back && back == (h.token ^ kX);
        close(bfd);
      }
    } else {
      good = good && a.desc_num == 0;
    }
    (good ? res.ok : res.wrong)++;
    if (a.rbuf != rbuf) munmap(a.rbuf, a.rsize);
  }
  return res;
}

long env_long(const char *name, long dflt) {
  const char *v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : dflt;
}

std::uint64_t server_calls(int d) {
  std::uint64_t c = 0;
  char rbuf[16];
  door_arg_t a{const_cast<char *>("calls"), 5, nullptr, 0, rbuf, sizeof rbuf};
  if (door_call(d, &a) == 0 && a.data_size == sizeof c) std::memcpy(&c, a.data_ptr, sizeof c);
  return c;
}

/// Runs `procs` client processes of `threads` threads, `calls` each;
/// returns the summed results.
ThreadResult run_clients(int d, long procs, long threads, long calls) {
  std::vector<std::pair<pid_t, int>> kids;
  for (long p = 0; p < procs; p++) {
    int fds[2];
    if (pipe(fds) != 0) break;
    pid_t c = fork();
    if (c == 0) {
      close(fds[0]);
      std::vector<ThreadResult> results(static_cast<std::size_t>(threads));
      std::vector<std::thread> ts;
      for (long t = 0; t < threads; t++)
        ts.emplace_back([&, t] { results[static_cast<std::size_t>(t)] = client_thread(d, static_cast<std::uint32_t>(t), calls); });
      ThreadResult sum;
      for (long t = 0; t < threads; t++) {
        ts[static_cast<std::size_t>(t)].join();
        sum.ok += results[static_cast<std::size_t>(t)].ok;
        sum.failed += results[static_cast<std::size_t>(t)].failed;
        sum.wrong += results[static_cast<std::size_t>(t)].wrong;
      }
      (void)!write(fds[1], &sum, sizeof sum);
      _exit(0);
    }
    close(fds[1]);
    kids.emplace_back(c, fds[0]);
  }
  ThreadResult total;
  for (auto &[pid, fd] : kids) {
    ThreadResult r{};
    if (read(fd, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) r.failed = static_cast<std::uint64_t>(calls * threads);
    close(fd);
    waitpid(pid, nullptr, 0);
    total.ok += r.ok;
    total.failed += r.failed;
    total.wrong += r.wrong;
  }
  return total;
}

}  // namespace

TEST(Soak, UniqueChecksummedCallsWithDescriptorsNothingLostOrLeaked) {
  const bool long_mode = std::getenv("DOOR_SOAK") && std::string(std::getenv("DOOR_SOAK")) == "long";
  const long procs = env_long("DOOR_SOAK_PROCS", long_mode ? 48 : 24);
  const long threads = env_long("DOOR_SOAK_THREADS", long_mode ? 8 : 4);
  const long calls = env_long("DOOR_SOAK_CALLS", long_mode ? 8000 : 2500);
  ServerProcess srv([] {
    g_next_seq = new std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint32_t>;
    return std::vector<int>{door_create(soak_proc, nullptr, 0)};
  });
  int d = srv.door();
  // A short warm-up round sizes the pool; its calls count too.
  ThreadResult warm = run_clients(d, procs, threads, 20);
  ASSERT_EQ(warm.failed + warm.wrong, 0u);
  usleep(1500 * 1000);  // bound threads of the warm-up unbind (1 s idle)
  ProcCounts base = server_counts(d);
  auto t0 = std::chrono::steady_clock::now();
  ThreadResult r = run_clients(d, procs, threads, calls);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::uint64_t expected = static_cast<std::uint64_t>(procs * threads * calls);
  std::printf("soak: %ld processes x %ld threads x %ld calls = %llu calls in %.1f s (%.0f calls/s)\n", procs,
              threads, calls, static_cast<unsigned long long>(expected), secs, static_cast<double>(expected) / secs);
  EXPECT_EQ(r.failed, 0u) << "door_call failed";
  EXPECT_EQ(r.wrong, 0u) << "a reply did not belong to its call, or the server saw a bad call";
  EXPECT_EQ(r.ok, expected);
  // The server saw each call exactly once (in-order sequence per thread).
  EXPECT_EQ(server_calls(d), expected + static_cast<std::uint64_t>(procs * threads * 20));
  // The pool may grow to one thread per concurrent call (illumos'
  // rule), never beyond. Each new thread may add three mappings (stack,
  // guard, its argument buffer once it served an argument above malloc's
  // mmap threshold) and up to 512 KiB resident (that buffer holds up to
  // 193 KiB here, plus its stack and its malloc arena's share; measured
  // about 380 KiB with 384 callers): that is all the growth allowed. A
  // leak per call would be 3M times larger in the long mode.
  const int max_threads = static_cast<int>(procs * threads) + 8;
  ProcCounts after{};
  for (int i = 0; i < 50; i++) {
    after = server_counts(d);
    if (after.fds <= base.fds && after.threads <= max_threads) break;
    usleep(100 * 1000);
  }
  std::printf("server fds %d->%d threads %d->%d maps %d->%d rss %ld->%ld KiB\n", base.fds, after.fds, base.threads,
              after.threads, base.maps, after.maps, base.rss_kb, after.rss_kb);
  EXPECT_LE(after.fds, base.fds) << "descriptors leaked";
  EXPECT_LE(after.threads, std::max(base.threads, max_threads)) << "more server threads than concurrent calls";
  const int new_threads = std::max(0, after.threads - base.threads);
  EXPECT_LE(after.maps, base.maps + 3 * new_threads + 32 + doortest::kSanitizerMapsSlack) << "mappings leaked";
  EXPECT_LE(after.rss_kb, base.rss_kb + 512L * new_threads + 32 * 1024 + doortest::kSanitizerRssSlackKb)
      << "memory grew";
}
