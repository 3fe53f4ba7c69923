// SPDX-License-Identifier: MIT
//
// vm_stats.h — system counters read by the VM guest programs (pingpong,
// door_pingpong): IPIs from /proc/interrupts, migrations from
// /proc/PID/task/*/sched, CPU busy time from /proc/stat.
#pragma once

#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

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

}  // namespace vmstats
