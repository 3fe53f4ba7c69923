// SPDX-License-Identifier: MIT
//
// vm_stats.h — system counters read by the VM guest programs (pingpong,
// door_pingpong): IPIs from /proc/interrupts, migrations from
// /proc/PID/task/*/sched, CPU busy time from /proc/stat, system calls
// from the raw_syscalls and futex tracepoints (perf_event_open).
#pragma once

#include <dirent.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace vmstats {

/// se.nr_migrations summed over all threads of `pid`; -1 if unavailable.
inline long nr_migrations(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR *d = opendir(dir.c_str());
  if (!d) return -1;
  long tot = 0;
  bool any = false;
  while (dirent *e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(dir + "/" + e->d_name + "/sched");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("se.nr_migrations", 0) == 0) {
        auto c = line.find(':');
        if (c != std::string::npos) {
          tot += std::strtol(line.c_str() + c + 1, nullptr, 10);
          any = true;
        }
      }
    }
  }
  closedir(d);
  return any ? tot : -1;
}

/// Sum over all CPUs of the RES (rescheduling) and, unless res_only, CAL
/// (function call) lines of /proc/interrupts.
inline long long ipi_count(bool res_only = false) {
  std::ifstream f("/proc/interrupts");
  std::string line;
  long long tot = 0;
  while (std::getline(f, line)) {
    std::size_t i = line.find_first_not_of(' ');
    if (i == std::string::npos) continue;
    bool res = line.compare(i, 4, "RES:") == 0;
    bool cal = line.compare(i, 4, "CAL:") == 0;
    if (!res && !(cal && !res_only)) continue;
    const char *p = line.c_str() + i + 4;
    for (;;) {
      char *end;
      long long v = std::strtoll(p, &end, 10);
      if (end == p) break;
      tot += v;
      p = end;
    }
  }
  return tot;
}

/// Busy time of all CPUs in microseconds (/proc/stat: everything but idle
/// and iowait), or -1.
inline double cpu_busy_us() {
  std::ifstream f("/proc/stat");
  std::string tag;
  long long v[10] = {};
  if (!(f >> tag) || tag != "cpu") return -1;
  for (auto &x : v) f >> x;
  long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];  // user nice system irq softirq steal
  long hz = sysconf(_SC_CLK_TCK);
  return hz > 0 ? static_cast<double>(busy) * 1e6 / static_cast<double>(hz) : -1;
}

/// Counts the system calls of this process and of every thread and process
/// it creates after construction (perf tracepoint counters, inherited):
/// all of them, and futex calls alone. Reads include exited children, so
/// read after reaping the server process. Needs tracefs mounted at
/// /sys/kernel/tracing (the guest's /init does it); ok() is false without.
class SyscallCounter {
 public:
  SyscallCounter() : all_(open_tp("raw_syscalls/sys_enter")), futex_(open_tp("syscalls/sys_enter_futex")) {}
  ~SyscallCounter() {
    if (all_ >= 0) close(all_);
    if (futex_ >= 0) close(futex_);
  }
  SyscallCounter(const SyscallCounter &) = delete;
  SyscallCounter &operator=(const SyscallCounter &) = delete;

  bool ok() const { return all_ >= 0 && futex_ >= 0; }
  /// Counting starts (enable) and stops (disable), children included.
  void enable() { ctl(PERF_EVENT_IOC_ENABLE); }
  void disable() { ctl(PERF_EVENT_IOC_DISABLE); }
  long long all() const { return value(all_); }
  long long futex() const { return value(futex_); }

 private:
  static int open_tp(const char *name) {
    std::ifstream f(std::string("/sys/kernel/tracing/events/") + name + "/id");
    long long id;
    if (!(f >> id)) return -1;
    perf_event_attr a{};
    a.type = PERF_TYPE_TRACEPOINT;
    a.size = sizeof a;
    a.config = static_cast<std::uint64_t>(id);
    a.disabled = 1;
    a.inherit = 1;
    return static_cast<int>(syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  }
  void ctl(unsigned long op) {
    if (all_ >= 0) ioctl(all_, op, 0);
    if (futex_ >= 0) ioctl(futex_, op, 0);
  }
  static long long value(int fd) {
    std::uint64_t v;
    return fd >= 0 && read(fd, &v, sizeof v) == sizeof v ? static_cast<long long>(v) : -1;
  }
  int all_, futex_;
};

}  // namespace vmstats
