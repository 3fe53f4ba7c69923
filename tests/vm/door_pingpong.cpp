// SPDX-License-Identifier: MIT
//
// door_pingpong.cpp — guest test/bench: real libdoor door_call() round trips
// between two processes (the server process creates the door and hands the
// descriptor over SCM_RIGHTS). libdoor registers its threads with scx_door by
// itself when the scheduler is loaded; this program does nothing special.
//
// --threads: the door is served by door threads of the calling process
// (no address-space switch between caller and server).
// --pin-apart: the caller is pinned to CPU 0 and the server process to
// CPU 1, so no scheduler can hand one's CPU to the other.
// SIGUSR1 ends the run early and still prints the line (door traffic
// beside another workload runs until that workload is done).
// --progress-ms N: also print, every N ms, what the last N ms did:
//   PROGRESS t_ms=T calls=C sleeps_per_call=S same_cpu=P scx=STATE
// (STATE: /sys/kernel/sched_ext/state at the end of the interval), so a
// test can follow the calls of one pair of processes across a scheduler
// change.
//
// Prints the same line as pingpong:
//   PINGPONG label=L window=1 registered=na rounds=N same_cpu=P
//            ipi_per_call=X migrations_per_call=Y rtt_p50_us=A rtt_p99_us=B
//            rps=R cpu_us_per_call=C sleeps_per_call=S futex_per_call=F
//            other_syscalls_per_call=O other_syscalls_per_s=Q check=ok
// Every call carries a sequence number that the server echoes with the
// number of calls it has served: the line ends with check=ok only if no
// call was lost, duplicated or answered with another call's reply.
// sleeps_per_call: the caller's voluntary context switches per call (it
//   blocked instead of catching the reply by spinning).
// futex_per_call / other_syscalls_per_call: system calls per call of the
//   caller and the server process together (every thread), futex and all
//   others, during the timed loop (-1: no tracepoint counters). The loop
//   itself reads the clock and the CPU twice per call, which is a system
//   call only where the vDSO cannot serve it. other_syscalls_per_s: the
//   others per second, for those that come from timers, not calls.
// same_cpu: share of the two wake-ups per call (caller -> server thread,
//   server -> caller) after which the woken thread ran on the CPU the other
//   side was on. migrations: se.nr_migrations summed over every thread of
//   both processes (server threads included).
#include <door.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "vm_stats.h"

namespace {

using vmstats::cpu_busy_us;
using vmstats::ipi_count;
using vmstats::nr_migrations;
using vmstats::SyscallCounter;

struct Req {
  std::int32_t caller_cpu;
  std::uint32_t seq;
};
struct Rep {
  std::int32_t server_cpu;
  std::int32_t same;     // server ran on the caller's CPU
  std::uint32_t seq;     // the request's
  std::uint32_t served;  // calls the server has run, this one included
};

std::atomic<std::uint32_t> g_served{0};

void serve(void *, char *argp, size_t arg_size, door_desc_t *, uint_t) {
  Rep r{sched_getcpu(), 0, 0, g_served.fetch_add(1) + 1};
  if (argp && arg_size == sizeof(Req)) {
    Req q;
    std::memcpy(&q, argp, sizeof q);
    r.same = q.caller_cpu == r.server_cpu;
    r.seq = q.seq;
  }
  door_return(reinterpret_cast<char *>(&r), sizeof r, nullptr, 0);
}

bool send_fd(int sock, int fd) {
  char b = 0;
  iovec iov{&b, 1};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof cbuf;
  cmsghdr *h = CMSG_FIRSTHDR(&mh);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(h), &fd, sizeof fd);
  return sendmsg(sock, &mh, 0) == 1;
}

int recv_fd(int sock) {
  char b;
  iovec iov{&b, 1};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof cbuf;
  if (recvmsg(sock, &mh, 0) != 1) return -1;
  cmsghdr *h = CMSG_FIRSTHDR(&mh);
  if (!h || h->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  std::memcpy(&fd, CMSG_DATA(h), sizeof fd);
  return fd;
}

double now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/// Pins the calling thread (and what it creates later) to one CPU.
bool pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

volatile sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }

/// Voluntary context switches of the calling thread: how often it slept.
long voluntary_switches() {
  struct rusage ru;
  return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nvcsw : 0;
}

/// sched_ext's state ("enabled", "disabled", ...), or "none".
std::string scx_state() {
  char buf[32] = {};
  FILE *f = std::fopen("/sys/kernel/sched_ext/state", "r");
  if (!f) return "none";
  if (!std::fgets(buf, sizeof buf, f)) buf[0] = 0;
  std::fclose(f);
  buf[std::strcspn(buf, "\n")] = 0;
  return buf[0] ? buf : "none";
}

}  // namespace

int main(int argc, char **argv) {
  int rounds = 2000;
  bool in_process = false, pin_apart = false;
  double max_seconds = 20, progress_ms = 0;
  std::string label = "run";
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (a == "--max-seconds" && i + 1 < argc) max_seconds = std::atof(argv[++i]);
    else if (a == "--label" && i + 1 < argc) label = argv[++i];
    else if (a == "--threads") in_process = true;
    else if (a == "--pin-apart") pin_apart = true;
    else if (a == "--progress-ms" && i + 1 < argc) progress_ms = std::atof(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: door_pingpong [--rounds N] [--max-seconds S] [--label L] [--threads] [--pin-apart] "
                   "[--progress-ms N]\n");
      return 2;
    }
  }
  if (rounds <= 0) return 2;

  // Before the fork and before libdoor's threads exist: they inherit it.
  SyscallCounter sys;

  // --threads: the door is served by this process' own door threads
  pid_t child = -1;
  int d = -1;
  if (in_process) {
    d = door_create(serve, nullptr, 0);
  } else {
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) return 1;
    child = fork();
    if (child < 0) return 1;
    if (child == 0) {
      close(sp[0]);
      if (pin_apart && !pin_to(1)) _exit(1);  // its door threads inherit it
      int sd = door_create(serve, nullptr, 0);
      if (sd < 0 || !send_fd(sp[1], sd)) _exit(1);
      for (;;) pause();
    }
    close(sp[1]);
    d = recv_fd(sp[0]);
    close(sp[0]);
  }
  if (d < 0) {
    std::fprintf(stderr, "door_pingpong: no door from the server\n");
    if (child > 0) kill(child, SIGKILL);
    return 1;
  }

  if (pin_apart && (in_process || !pin_to(0))) {
    std::fprintf(stderr, "door_pingpong: --pin-apart needs two CPUs and a server process\n");
    if (child > 0) kill(child, SIGKILL);
    return 1;
  }

  // Installed after the fork: the server process keeps the default action.
  struct sigaction sa{};
  sa.sa_handler = on_stop;
  sigaction(SIGUSR1, &sa, nullptr);

  std::uint32_t seq = 0;
  bool check_ok = true;
  auto call = [&](Rep *rep) {
    Req q{sched_getcpu(), ++seq};
    door_arg_t a{reinterpret_cast<char *>(&q), sizeof q, nullptr, 0,
                 reinterpret_cast<char *>(rep), sizeof *rep};
    if (door_call(d, &a) != 0) return false;
    if (a.rbuf != reinterpret_cast<char *>(rep)) {
      if (a.data_size == sizeof *rep) std::memcpy(rep, a.data_ptr, sizeof *rep);
      munmap(a.rbuf, a.rsize);
    }
    // Served count == calls made: none lost (fewer) or run twice (more).
    if (a.data_size != sizeof *rep || rep->seq != q.seq || rep->served != q.seq) {
      if (check_ok)
        std::fprintf(stderr, "door_pingpong: call %u got seq %u, served %u\n", q.seq, rep->seq, rep->served);
      check_ok = false;
    }
    return true;
  };

  int rc = 0;
  Rep rep{};
  for (int i = 0; i < 50; i++)
    if (!call(&rep)) {
      std::perror("door_pingpong: door_call");
      if (child > 0) kill(child, SIGKILL);
      return 1;
    }
  long m0 = nr_migrations(getpid()), m0s = child > 0 ? nr_migrations(child) : 0;
  long long ipi0 = ipi_count();
  double cpu0 = cpu_busy_us();
  long vcsw0 = voluntary_switches();
  std::uint64_t same = 0;
  std::vector<double> rtt;
  rtt.reserve(static_cast<std::size_t>(std::min(rounds, 1 << 20)));
  sys.enable();
  double t_start = now_us();
  int done = 0;
  // --progress-ms: the interval's start (time, calls, sleeps, same-CPU count)
  double p_t = t_start;
  int p_done = 0;
  long p_vcsw = vcsw0;
  std::uint64_t p_same = 0;
  for (; done < rounds; done++) {
    double t0 = now_us();
    if (g_stop || t0 - t_start > max_seconds * 1e6) break;
    if (progress_ms > 0 && t0 - p_t >= progress_ms * 1e3 && done > p_done) {
      long v = voluntary_switches();
      int n = done - p_done;
      std::printf("PROGRESS t_ms=%.0f calls=%d sleeps_per_call=%.3f same_cpu=%.1f scx=%s\n", (t0 - t_start) / 1e3,
                  n, static_cast<double>(v - p_vcsw) / n, 100.0 * static_cast<double>(same - p_same) / (2.0 * n),
                  scx_state().c_str());
      std::fflush(stdout);
      p_t = now_us();  // the line's own cost is not in the next interval
      p_done = done;
      p_vcsw = voluntary_switches();
      p_same = same;
      t0 = p_t;
    }
    if (!call(&rep)) {
      // The stop signal interrupted this call: EINTR once a server thread
      // took it, EAGAIN when it was withdrawn before (door_call(3C)).
      if (g_stop && (errno == EINTR || errno == EAGAIN)) break;
      std::perror("door_pingpong: door_call");
      rc = 1;
      break;
    }
    same += rep.same + (sched_getcpu() == rep.server_cpu ? 1 : 0);
    rtt.push_back(now_us() - t0);
  }
  double elapsed = now_us() - t_start;
  sys.disable();
  long long ipis = ipi_count() - ipi0;
  double cpu_us = cpu_busy_us() - cpu0;
  long vcsw = voluntary_switches() - vcsw0;
  long m1 = nr_migrations(getpid()), m1s = child > 0 ? nr_migrations(child) : 0;
  if (child > 0) {
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);  // its counts join ours when it is reaped
  }
  const long long sys_all = sys.all(), sys_futex = sys.futex();
  if (done == 0) {
    std::printf("PINGPONG label=%s window=1 error=no_rounds\n", label.c_str());
    return 1;
  }
  std::sort(rtt.begin(), rtt.end());
  auto pct = [&](double p) {
    return rtt[std::min(rtt.size() - 1, static_cast<std::size_t>(p * rtt.size()))];
  };
  double migr = (m0 < 0 || m1 < 0 || m0s < 0 || m1s < 0)
                    ? -1.0
                    : static_cast<double>((m1 - m0) + (m1s - m0s)) / done;
  std::printf(
      "PINGPONG label=%s window=1 registered=na rounds=%d same_cpu=%.1f ipi_per_call=%.3f "
      "migrations_per_call=%.3f rtt_p50_us=%.1f rtt_p99_us=%.1f rps=%.0f cpu_us_per_call=%.1f "
      "sleeps_per_call=%.3f futex_per_call=%.3f other_syscalls_per_call=%.3f other_syscalls_per_s=%.0f "
      "check=%s\n",
      label.c_str(), done, 100.0 * static_cast<double>(same) / (2.0 * done),
      static_cast<double>(ipis) / done, migr, pct(0.50), pct(0.99), done / (elapsed / 1e6),
      cpu0 < 0 ? -1.0 : cpu_us / done, static_cast<double>(vcsw) / done,
      sys.ok() ? static_cast<double>(sys_futex) / done : -1.0,
      sys.ok() ? static_cast<double>(sys_all - sys_futex) / done : -1.0,
      sys.ok() ? static_cast<double>(sys_all - sys_futex) / (elapsed / 1e6) : -1.0, check_ok ? "ok" : "fail");
  return check_ok ? rc : 1;
}
