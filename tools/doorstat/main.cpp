// SPDX-License-Identifier: MIT
//
// doorstat — lists the doors a process serves or holds, their attributes,
// server pool sizes, calls served and service-time percentiles; the Linux
// answer to the door lines of illumos' pfiles(1). See doorstat(1).
//
//   doorstat                 every process with doors, one line each
//   doorstat PID...          those processes in detail
//   doorstat -j PID          JSON
//   doorstat -w 2 PID        refresh every 2 s (calls/s between refreshes)
//
// Doors and their attributes come from /proc/<pid>/fd and the kernel's
// AF_UNIX socket table alone; pool sizes and call statistics from the
// "ldoor-stats" memfd libdoor publishes (same uid, or root).
#include <door.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fmt/format.h>
#include <map>
#include <thread>
#include <vector>

#include "process_doors.h"
#include "report.h"

using namespace doorstat;

namespace {

volatile sig_atomic_t g_stop = 0;

/// One refresh: inspects `pids` (all processes with doors when empty).
std::vector<ProcessDoors> collect(const std::vector<pid_t> &pids, bool &any_missing) {
  UnixSocketTable sockets = dump_unix_sockets();
  if (!sockets.error.empty()) fmt::print(stderr, "doorstat: {} (door sockets cannot be recognised)\n", sockets.error);
  auto owners = server_end_owners(sockets);
  std::vector<ProcessDoors> out;
  any_missing = false;
  for (pid_t pid : pids.empty() ? all_pids() : pids) {
    ProcessDoors p = inspect_process(pid, sockets, &owners);
    if (pids.empty()) {
      if (p.error.empty() && p.has_doors()) out.push_back(std::move(p));
      continue;
    }
    if (!p.error.empty()) any_missing = true;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

int main(int argc, char **argv) {
  CLI::App app{"doorstat: the doors processes serve and hold, with pool sizes, calls and latency"};
  std::vector<pid_t> pids;
  bool as_json = false, version = false;
  double interval = 0;
  unsigned count = 0;
  app.add_option("pid", pids, "processes to inspect (default: every process with doors)");
  app.add_flag("-j,--json", as_json, "JSON output (one document per refresh with -w)");
  app.add_option("-w,--watch", interval, "refresh every INTERVAL seconds (default 1)")
      ->expected(0, 1)
      ->default_str("1")
      ->check(CLI::PositiveNumber);
  app.add_option("-n,--count", count, "with -w: stop after COUNT refreshes");
  app.add_flag("-V,--version", version, "print the version and exit");
  CLI11_PARSE(app, argc, argv);
  if (version) {
    fmt::print("doorstat (libdoor {})\n", door_version_np());
    return 0;
  }
  bool watch = app.count("--watch") > 0;
  if (watch && interval <= 0) interval = 1;
  signal(SIGINT, [](int) { g_stop = 1; });
  signal(SIGTERM, [](int) { g_stop = 1; });

  std::map<pid_t, std::map<std::uint64_t, std::uint64_t>> last;
  auto last_time = std::chrono::steady_clock::now();
  bool have_last = false, missing = false;
  for (unsigned n = 0; !g_stop; n++) {
    auto procs = collect(pids, missing);
    auto now = std::chrono::steady_clock::now();
    double dt = have_last ? std::chrono::duration<double>(now - last_time).count() : 0;
    if (as_json) {
      nlohmann::ordered_json doc;
      if (pids.empty()) {
        doc = summary_json(procs);
      } else {
        doc = nlohmann::ordered_json::array();
        for (auto &p : procs) doc.push_back(process_json(p, Previous{last[p.pid], dt}));
      }
      fmt::print("{}\n", watch ? doc.dump() : doc.dump(2));
    } else {
      if (watch) {
        std::time_t t = std::time(nullptr);
        char ts[32];
        std::strftime(ts, sizeof ts, "%H:%M:%S", std::localtime(&t));
        fmt::print("--- {}\n", ts);
      }
      if (pids.empty())
        fmt::print("{}", summary_text(procs));
      else
        for (auto &p : procs) fmt::print("{}", process_text(p, Previous{last[p.pid], dt}));
    }
    std::fflush(stdout);
    for (auto &p : procs) last[p.pid] = calls_by_door(p);
    last_time = now;
    have_last = true;
    if (!watch || (count && n + 1 >= count)) break;
    auto until = now + std::chrono::duration<double>(interval);
    while (!g_stop && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return missing ? 1 : 0;
}
