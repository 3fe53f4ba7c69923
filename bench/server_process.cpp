// SPDX-License-Identifier: MIT
//
// server_process.cpp — see server_process.h.
#include "server_process.h"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <thread>

#include "proc.h"

namespace bench {
namespace {

/// The CPU clock of thread `tid` of this process, encoded as glibc's
/// pthread_getcpuclockid() does (the kernel's MAKE_THREAD_CPUCLOCK with
/// CPUCLOCK_SCHED): only threads of the same process may read it.
clockid_t thread_cpu_clock(pid_t tid) noexcept {
  constexpr unsigned kPerThread = 4, kSched = 2;
  return static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | kPerThread | kSched);
}

/// This process's CPU time with every thread's share up to date: reading a
/// thread's own clock makes the kernel account the time it has run since
/// its last tick, which the process clock then includes.
std::int64_t fresh_process_cpu_ns() noexcept {
  if (DIR *d = opendir("/proc/self/task")) {
    while (const dirent *e = readdir(d)) {
      char *end = nullptr;
      const long tid = std::strtol(e->d_name, &end, 10);
      if (tid <= 0 || *end) continue;
      timespec ts;
      (void)clock_gettime(thread_cpu_clock(pid_t(tid)), &ts);  // an exited thread: nothing to update
    }
    closedir(d);
  }
  return process_cpu_ns();
}

/// The server's CPU-time thread: answers each query until the parent's end
/// closes. Blocked in recv otherwise, so it costs the server nothing.
void answer_cpu_queries(int fd) noexcept {
  for (;;) {
    char q;
    const ssize_t r = recv(fd, &q, 1, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r != 1) break;
    const std::int64_t ns = fresh_process_cpu_ns();
    if (send(fd, &ns, sizeof ns, MSG_NOSIGNAL) != ssize_t(sizeof ns)) break;
  }
  close(fd);
}

}  // namespace

ServerProcess &ServerProcess::operator=(ServerProcess &&o) noexcept {
  if (this != &o) {
    kill();
    pid_ = o.pid_;
    cpu_fd_ = o.cpu_fd_;
    o.pid_ = -1;
    o.cpu_fd_ = -1;
  }
  return *this;
}

ServerProcess ServerProcess::fork(int cpu, const std::function<void()> &body) {
  (void)allowed_cpus();  // read before the child can narrow its affinity
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) fail("socketpair");
  const pid_t parent = getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    close(sv[0]);
    close(sv[1]);
    errno = e;
    fail("fork");
  }
  if (pid == 0) {
    close(sv[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    int rc = 0;
    try {
      pin_self(cpu);
      std::thread(answer_cpu_queries, sv[1]).detach();  // inherits the pinning
      body();
    } catch (...) {
      rc = 1;
    }
    _exit(rc);
  }
  close(sv[1]);
  // A server that stops answering (stopped, wedged) must not hang the run.
  const timeval limit{5, 0};
  (void)setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ServerProcess p;
  p.pid_ = pid;
  p.cpu_fd_ = sv[0];
  return p;
}

std::int64_t ServerProcess::cpu_ns() const noexcept {
  if (cpu_fd_ < 0) return -1;
  const char q = '?';
  if (send(cpu_fd_, &q, 1, MSG_NOSIGNAL) != 1) return -1;
  std::int64_t ns = -1;
  ssize_t r;
  while ((r = recv(cpu_fd_, &ns, sizeof ns, 0)) < 0 && errno == EINTR) {
  }
  return r == ssize_t(sizeof ns) ? ns : -1;
}

void ServerProcess::kill() noexcept {
  if (cpu_fd_ >= 0) close(cpu_fd_);
  cpu_fd_ = -1;
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void ServerProcess::stop(std::chrono::milliseconds grace) noexcept {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    const timespec ts{0, 5 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  kill();
}

}  // namespace bench
