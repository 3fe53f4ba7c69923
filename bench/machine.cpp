// SPDX-License-Identifier: MIT
//
// machine.cpp — machine description for the report (see machine.h).
#include "machine.h"

#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "proc.h"

namespace bench {
namespace {

std::string read_line(const std::string &path) {
  std::ifstream f(path);
  std::string s;
  if (!std::getline(f, s)) return "n/a";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

/// The value of the first "key : value" line of /proc/cpuinfo.
std::string cpuinfo(const std::string &key) {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto v = line.find_first_not_of(" \t", colon + 1);
    return v == std::string::npos ? "" : line.substr(v);
  }
  return "n/a";
}

}  // namespace

nlohmann::ordered_json describe_machine() {
  utsname un{};
  uname(&un);
  const std::string flags = " " + cpuinfo("flags") + " ";
  const std::string dmi = read_line("/sys/class/dmi/id/sys_vendor") + " " + read_line("/sys/class/dmi/id/product_name");
  char when[64] = "n/a";
  const time_t t = time(nullptr);
  tm utc{};
  if (gmtime_r(&t, &utc)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
  nlohmann::ordered_json j;
  j["date_utc"] = when;
  j["cpu_model"] = cpuinfo("model name");
  j["cpus_online"] = sysconf(_SC_NPROCESSORS_ONLN);
  j["cpus_allowed"] = allowed_cpus();
  j["smt_active"] = read_line("/sys/devices/system/cpu/smt/active");
  j["kernel"] = std::string(un.release) + " " + un.version;
  j["arch"] = un.machine;
  j["hypervisor"] = flags.find(" hypervisor ") != std::string::npos ? "yes (" + dmi + ")" : "no (" + dmi + ")";
  j["cpufreq_driver"] = read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_driver");
  j["cpufreq_governor"] = read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  j["cpuidle_driver"] = read_line("/sys/devices/system/cpu/cpuidle/current_driver");
  j["cpuidle_governor"] = read_line("/sys/devices/system/cpu/cpuidle/current_governor_ro");
  j["sched_ext"] = read_line("/sys/kernel/sched_ext/state") + " " + read_line("/sys/kernel/sched_ext/root/ops");
  // Kernel parameters only: what follows " -- " belongs to init.
  const std::string cmdline = read_line("/proc/cmdline");
  j["cmdline"] = cmdline.substr(0, cmdline.find(" -- "));
  j["loadavg_start"] = read_line("/proc/loadavg");
  std::istringstream mem(read_line("/proc/meminfo"));
  std::string k, kb;
  mem >> k >> kb;
  j["mem_total_kb"] = kb;
  return j;
}

}  // namespace bench
