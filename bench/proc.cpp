// SPDX-License-Identifier: MIT
//
// proc.cpp — process plumbing shared by the mechanisms (see proc.h).
#include "proc.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace bench {

void fail(const std::string &what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

namespace {
std::vector<int> read_allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) fail("sched_getaffinity");
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}
}  // namespace

const std::vector<int> &allowed_cpus() {
  static const std::vector<int> cpus = read_allowed_cpus();
  return cpus;
}

void pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu < 0) {
    for (int c : allowed_cpus()) CPU_SET(c, &set);
  } else {
    CPU_SET(cpu, &set);
  }
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    fail("sched_setaffinity(" + std::to_string(cpu) + ")");
}

void run_per_channel(unsigned n, const std::function<void(unsigned)> &body) {
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < n; ++i) threads.emplace_back(body, i);
  body(0);
  for (auto &t : threads) t.join();
}

std::uint64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

std::int64_t process_cpu_ns() noexcept {
  timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return -1;
  return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace bench
