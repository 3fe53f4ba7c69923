// SPDX-License-Identifier: MIT
//
// pingpong.cpp — guest test: a futex ping-pong between two processes that
// registers with scx_door exactly like libdoor (it links
// userspace/sched_register.cpp and uses the inline hooks of
// userspace/handoff.h), and measures what the scheduler did with it.
//
// Per window of --rounds round trips it prints one line:
//   PINGPONG label=L window=W registered=0|1 rounds=N same_cpu=P
//            ipi_per_call=X migrations_per_call=Y rtt_p50_us=A rtt_p99_us=B
//            rps=R
// same_cpu: share of wake-ups (both directions) after which the woken thread
//   ran on the CPU its waker was running on when it woke it.
// ipi_per_call: CAL+RES interrupts (all CPUs, /proc/interrupts) per round trip.
// migrations_per_call: se.nr_migrations of both processes per round trip
//   (/proc/PID/task/*/sched).
// cpu_us_per_call: busy CPU time of the whole machine per round trip
//   (/proc/stat; spinning shows up here).
//
// --threads: the server is a thread of the caller's process instead of a
// second process (no address-space switch between the two).
// --uid N: drop to uid/gid N first (registration needs no privileges).
// --forge PID: instead of a ping-pong, try to register a thread of another
// process (PID) with the daemon, as an attacker would; prints
// "FORGE status=S" with the daemon's answer (-1 EPERM expected) and exits 0
// only if the daemon refused.
//
// --wait-stdin: read one line from stdin before each window (the guest
// script uses this to unload/reload the scheduler between windows while the
// same registered processes keep running). --spin-us N: the caller busy-waits
// N us after waking the server before it blocks (a waker that does not block
// promptly: exercises the handoff bound). --work-us N: the server busy-waits
// N us per call before it replies (run time the scheduler charges to the
// caller).
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "handoff.h"
#include "vm_stats.h"

namespace {

using vmstats::cpu_busy_us;
using vmstats::ipi_count;
using vmstats::nr_migrations;

using door::detail::handoff_announce;
using door::detail::handoff_clear;
using door::detail::handoff_self_token;

struct Shared {
  alignas(64) std::atomic<std::uint32_t> req{0};
  alignas(64) std::atomic<std::uint32_t> rep{0};
  alignas(64) std::atomic<int> caller_cpu{-1};
  std::atomic<int> server_cpu{-1};
  std::atomic<std::uint64_t> caller_tok{0};
  std::atomic<std::uint64_t> server_tok{0};
  std::atomic<std::uint64_t> server_same{0};
  std::atomic<int> server_ready{0};
  std::atomic<int> quit{0};
  double work_us = 0;  ///< server work per call (set before the server starts)
};

long futex(std::atomic<std::uint32_t> *uaddr, int op, std::uint32_t val) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t *>(uaddr), op, val, nullptr, nullptr,
                 0);
}

void wait_change(std::atomic<std::uint32_t> *w, std::uint32_t old) {
  while (w->load(std::memory_order_acquire) == old) futex(w, FUTEX_WAIT, old);
}

double now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

void spin_us(double us) {
  double t0 = now_us();
  while (now_us() - t0 < us) {
  }
}

// The registration request of sched_register.cpp, but with any pidfd.
int forge_registration(pid_t victim) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, victim, 0));
  if (pidfd < 0) {
    std::perror("pingpong: pidfd_open");
    return 2;
  }
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strcpy(sa.sun_path, SCX_DOOR_SOCK_PATH);
  if (connect(s, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) < 0) {
    std::perror("pingpong: connect");
    return 2;
  }
  static scx_door_intent fake{};
  scx_door_reg_req req{SCX_DOOR_REG_MAGIC, SCX_DOOR_REG_VERSION, sizeof(req), victim,
                       reinterpret_cast<std::uintptr_t>(&fake)};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{&req, sizeof(req)};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof(cbuf);
  cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &pidfd, sizeof(int));
  scx_door_reg_resp resp{};
  if (sendmsg(s, &mh, 0) != sizeof(req) || recv(s, &resp, sizeof(resp), 0) != sizeof(resp)) {
    std::perror("pingpong: registration exchange");
    return 2;
  }
  std::printf("FORGE victim=%d uid=%d status=%d token=%llu\n", victim, getuid(), resp.status,
              static_cast<unsigned long long>(resp.token));
  return resp.status == -EPERM && resp.token == 0 ? 0 : 1;
}

void server_loop(Shared *sh) {
  handoff_self_token();  // registers this thread if scx_door is loaded
  sh->server_tok.store(handoff_self_token());
  sh->server_ready.store(1);
  std::uint32_t seen = 0;
  for (;;) {
    wait_change(&sh->req, seen);
    seen = sh->req.load(std::memory_order_acquire);
    if (sh->quit.load()) return;
    if (sh->work_us > 0) spin_us(sh->work_us);
    int cpu = sched_getcpu();
    if (cpu == sh->caller_cpu.load(std::memory_order_relaxed))
      sh->server_same.fetch_add(1, std::memory_order_relaxed);
    sh->server_cpu.store(cpu, std::memory_order_relaxed);
    // Reply: "I woke the caller and will block".
    handoff_announce(SCX_DOOR_REPLY_BLOCK, sh->caller_tok.load(std::memory_order_relaxed));
    sh->rep.store(seen, std::memory_order_release);
    futex(&sh->rep, FUTEX_WAKE, 1);
    handoff_clear();
  }
}

}  // namespace

int main(int argc, char **argv) {
  int rounds = 2000, windows = 1, uid = -1, forge = 0;
  bool threads = false;
  double max_seconds = 20, spin = 0, work = 0;
  bool wait_stdin = false;
  std::string label = "run";
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&]() -> const char * {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "pingpong: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--rounds") rounds = std::atoi(next());
    else if (a == "--windows") windows = std::atoi(next());
    else if (a == "--max-seconds") max_seconds = std::atof(next());
    else if (a == "--spin-us") spin = std::atof(next());
    else if (a == "--work-us") work = std::atof(next());
    else if (a == "--label") label = next();
    else if (a == "--wait-stdin") wait_stdin = true;
    else if (a == "--threads") threads = true;
    else if (a == "--uid") uid = std::atoi(next());
    else if (a == "--forge") forge = std::atoi(next());
    else {
      std::fprintf(stderr,
                   "usage: pingpong [--rounds N] [--windows K] [--max-seconds S] [--spin-us U] [--work-us U] "
                   "[--label L] [--wait-stdin] [--uid N] [--forge PID] [--threads]\n");
      return 2;
    }
  }
  if (rounds <= 0 || windows <= 0) return 2;
  if (uid >= 0 && (setgroups(0, nullptr) != 0 || setgid(static_cast<gid_t>(uid)) != 0 ||
                   setuid(static_cast<uid_t>(uid)) != 0)) {
    std::perror("pingpong: dropping privileges");
    return 2;
  }
  // setuid() from root clears "dumpable", which makes /proc/self/* root-owned
  if (uid >= 0) prctl(PR_SET_DUMPABLE, 1);
  if (forge > 0) return forge_registration(forge);

  void *mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
  if (mem == MAP_FAILED) return 1;
  auto *sh = new (mem) Shared;
  sh->work_us = work;

  // The server is a second process (two address spaces, like a door client
  // and server) or, with --threads, a second thread of this process.
  std::thread server_thread;
  pid_t child = getpid();
  if (threads) {
    server_thread = std::thread(server_loop, sh);
  } else {
    child = fork();
    if (child < 0) return 1;
    if (child == 0) {
      server_loop(sh);
      _exit(0);
    }
  }

  handoff_self_token();
  sh->caller_tok.store(handoff_self_token());
  while (!sh->server_ready.load()) usleep(1000);
  const std::uint64_t server_tok = sh->server_tok.load();
  const bool registered = sh->caller_tok.load() != 0 && server_tok != 0;

  std::uint32_t seq = 0;
  int rc = 0;
  for (int w = 1; w <= windows; w++) {
    if (wait_stdin) {
      std::string line;
      if (!std::getline(std::cin, line)) break;
    }
    // warm-up, then measure
    for (int i = 0; i < 50; i++) {
      ++seq;
      handoff_announce(SCX_DOOR_CALLING, server_tok);
      sh->req.store(seq, std::memory_order_release);
      futex(&sh->req, FUTEX_WAKE, 1);
      handoff_clear();
      wait_change(&sh->rep, seq - 1);
    }
    sh->server_same.store(0);
    long m0c = nr_migrations(getpid()), m0s = threads ? 0 : nr_migrations(child);
    long long ipi0 = ipi_count(), res0 = ipi_count(true);
    double cpu0 = cpu_busy_us();
    std::uint64_t caller_same = 0;
    std::vector<double> rtt;
    rtt.reserve(static_cast<std::size_t>(rounds));
    double t_start = now_us();
    int done = 0;
    for (; done < rounds; done++) {
      if (now_us() - t_start > max_seconds * 1e6) break;
      double t0 = now_us();
      ++seq;
      sh->caller_cpu.store(sched_getcpu(), std::memory_order_relaxed);
      handoff_announce(SCX_DOOR_CALLING, server_tok);
      sh->req.store(seq, std::memory_order_release);
      futex(&sh->req, FUTEX_WAKE, 1);
      handoff_clear();
      if (spin > 0) spin_us(spin);
      wait_change(&sh->rep, seq - 1);
      if (sched_getcpu() == sh->server_cpu.load(std::memory_order_relaxed)) caller_same++;
      rtt.push_back(now_us() - t0);
    }
    double elapsed = now_us() - t_start;
    long long ipis = ipi_count() - ipi0, res = ipi_count(true) - res0;
    double cpu_us = cpu_busy_us() - cpu0;
    long m1c = nr_migrations(getpid()), m1s = threads ? 0 : nr_migrations(child);
    if (done == 0) {
      std::printf("PINGPONG label=%s window=%d error=no_rounds\n", label.c_str(), w);
      rc = 1;
      continue;
    }
    std::sort(rtt.begin(), rtt.end());
    auto pct = [&](double p) {
      return rtt[std::min(rtt.size() - 1, static_cast<std::size_t>(p * rtt.size()))];
    };
    double same = 100.0 * static_cast<double>(caller_same + sh->server_same.load()) / (2.0 * done);
    double migr = (m0c < 0 || m0s < 0 || m1c < 0 || m1s < 0)
                      ? -1.0
                      : static_cast<double>((m1c - m0c) + (m1s - m0s)) / done;
    std::printf(
        "PINGPONG label=%s window=%d registered=%d uid=%d policy=%d rounds=%d same_cpu=%.1f "
        "ipi_per_call=%.3f migrations_per_call=%.3f rtt_p50_us=%.1f rtt_p99_us=%.1f rps=%.0f "
        "cpu_us_per_call=%.1f res=%lld cal=%lld\n",
        label.c_str(), w, registered ? 1 : 0, static_cast<int>(getuid()), sched_getscheduler(0), done, same, static_cast<double>(ipis) / done, migr,
        pct(0.50), pct(0.99), done / (elapsed / 1e6), cpu0 < 0 ? -1.0 : cpu_us / done, res, ipis - res);
    std::fflush(stdout);
  }
  sh->quit.store(1);
  sh->req.store(++seq, std::memory_order_release);
  futex(&sh->req, FUTEX_WAKE, 1);
  if (threads) {
    server_thread.join();
  } else {
    int st = 0;
    waitpid(child, &st, 0);
  }
  return rc;
}
