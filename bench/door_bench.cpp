// SPDX-License-Identifier: MIT
//
// door_bench — door_call() against the IPC mechanisms it has to beat, all
// as request/reply between two processes with the same payloads, measured
// in the same run.
//
// Latency: for each placement (client and server on the same CPU, on two
// different CPUs, unpinned), payload and mechanism, a cell does a warm-up
// and then up to --iters round trips, each timed on its own; it reports
// p50/p99/p99.9, calls/s and CPU time per call (both processes' CPU clocks).
// Paced latency: a few mechanisms (door_call, busypoll, futex, futex_spin;
// 8 B, same CPU and cross CPU) called once every --pace-us microseconds
// (default 50 and 500) with the caller asleep in between; besides latency
// it reports the CPU time of both processes per second of wall clock — what
// a mechanism burns between calls, which back-to-back cells cannot show
// (busy-poll spins all along, door_call spins briefly and then sleeps).
// Throughput: for 1..2x(CPUs) concurrent caller processes, calls/s and CPU
// per call during a fixed window. Every cell runs in a fresh process
// (cell.h). Repeats are interleaved — repeat 1 runs every cell, then repeat
// 2, ... with the mechanism order rotated — so a disturbance of the machine
// hits all mechanisms alike; the output keeps every repeat and the median
// and spread (min, max) across repeats of each metric.
//
// Output: tables on stdout, progress on stderr, everything as JSON with
// --json (bench/report.py turns it into the report). Exit status 0 unless a
// mechanism failed.
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include <door.h>

#include "cell.h"
#include "machine.h"
#include "mechanism.h"
#include "proc.h"
#include "stats.h"

namespace {

using bench::Mechanism;
using json = nlohmann::ordered_json;

struct Options {
  unsigned iters = 10000;
  unsigned min_iters = 500;
  unsigned warmup = 300;
  unsigned repeats = 5;
  unsigned cell_ms = 300;
  unsigned conc_ms = 300;
  unsigned spin_us = 7;
  unsigned timeout_s = 120;
  bool quick = false;
  bool no_concurrency = false;
  bool paced_only = false;
  std::vector<unsigned> paces{50, 500};  // us between paced calls; {0}: none
  std::vector<std::string> paced_mechs{"door_call", "busypoll", "futex", "futex_spin"};
  std::size_t paced_payload = 8;
  std::string json_path, label;
  std::vector<std::string> only, placements;
  std::vector<std::size_t> payloads{8, 4096, 65536, 1 << 20};
  std::vector<unsigned> callers;  // default 1..2 x allowed CPUs
  std::size_t conc_payload = 8;
};

struct Placement {
  std::string name;
  int client_cpu, server_cpu;
};

/// Every repeat of one cell.
struct Cell {
  std::vector<json> samples;
  std::string error;
};

const std::vector<const char *> kMetrics{
    "p50_us", "p99_us", "p999_us", "mean_us", "calls_per_s", "cpu_us_per_call",
    "client_cpu_us_per_call", "server_cpu_us_per_call"};
// Paced cells: the same, plus CPU per second of wall clock.
const std::vector<const char *> kPacedMetrics = [] {
  std::vector<const char *> v = kMetrics;
  for (const char *k : {"cpu_us_per_s", "client_cpu_us_per_s", "server_cpu_us_per_s", "missed_slots"}) v.push_back(k);
  return v;
}();

double num(const json &j) { return j.is_number() ? j.get<double>() : NAN; }
json num_or_null(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

/// {metric: {median, min, max}} across repeats.
json summarize(const Cell &c, const std::vector<const char *> &metrics = kMetrics) {
  json s = json::object();
  for (const char *k : metrics) {
    std::vector<double> v;
    for (const json &x : c.samples) v.push_back(x.contains(k) ? num(x[k]) : NAN);
    const bench::Spread sp = bench::spread(v);
    s[k] = {{"median", num_or_null(sp.median)}, {"min", num_or_null(sp.min)}, {"max", num_or_null(sp.max)}};
  }
  return s;
}

double median_of(const Cell &c, const char *k) {
  std::vector<double> v;
  for (const json &x : c.samples) v.push_back(x.contains(k) ? num(x[k]) : NAN);
  return bench::spread(v).median;
}

std::string payload_name(std::size_t n) {
  if (n >= (1u << 20) && n % (1u << 20) == 0) return fmt::format("{} MiB", n >> 20);
  if (n >= 1024 && n % 1024 == 0) return fmt::format("{} KiB", n / 1024);
  return fmt::format("{} B", n);
}

std::string fmt_num(double v) {
  if (std::isnan(v)) return "-";
  return v < 10 ? fmt::format("{:.2f}", v) : v < 100 ? fmt::format("{:.1f}", v) : fmt::format("{:.0f}", v);
}

std::string fmt_duration(double s) {
  const long t = long(s + 0.5);
  return fmt::format("{}:{:02}", t / 60, t % 60);
}

/// The progress line on stderr: rewritten in place on a terminal, one line
/// every few seconds otherwise (logs).
class Progress {
 public:
  explicit Progress(std::size_t total) : total_(total), tty_(isatty(2)), start_(bench::now_ns()) {}
  void step(const std::string &what) {
    const double el = double(bench::now_ns() - start_) / 1e9;
    const double left = done_ ? el / double(done_) * double(total_ - done_) : NAN;
    const std::string line =
        fmt::format("[door_bench] {}/{} ({:.0f}%) {} | {} elapsed{}", done_ + 1, total_,
                    100.0 * double(done_) / double(total_), what, fmt_duration(el),
                    std::isnan(left) ? "" : ", ~" + fmt_duration(left) + " left");
    if (tty_) {
      fmt::print(stderr, "\r\033[K{}", line);
    } else if (el - last_ >= 5 || done_ == 0) {
      fmt::print(stderr, "{}\n", line);
      last_ = el;
    }
    ++done_;
  }
  void error(const std::string &msg) { fmt::print(stderr, "{}[door_bench] ERROR: {}\n", tty_ ? "\r\033[K" : "", msg); }
  void finish() {
    if (tty_) fmt::print(stderr, "\r\033[K");
    fmt::print(stderr, "[door_bench] {} cells in {}\n", total_, fmt_duration(double(bench::now_ns() - start_) / 1e9));
  }

 private:
  std::size_t total_, done_ = 0;
  bool tty_;
  std::uint64_t start_;
  double last_ = 0;
};

}  // namespace

int main(int argc, char **argv) {
  Options o;
  CLI::App app{"door_bench: door_call against pipe, AF_UNIX, eventfd, futex, mqueue, io_uring, TCP, gRPC, "
               "binder, busy-poll and a memcpy baseline, request/reply between two processes"};
  app.add_option("--iters", o.iters, "max timed round trips per latency cell")->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--min-iters", o.min_iters, "timed round trips per cell even past --cell-ms")->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed round trips before each cell")->capture_default_str();
  app.add_option("--repeats", o.repeats, "repeats (the report shows medians and spread)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--cell-ms", o.cell_ms, "time cap of a latency cell's timed part, ms")->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--conc-ms", o.conc_ms, "window of a concurrency cell, ms")->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--spin-us", o.spin_us, "futex_spin: spin bound before sleeping, us")->capture_default_str();
  app.add_option("--cell-timeout", o.timeout_s, "kill a cell after this many seconds")->capture_default_str();
  app.add_flag("--quick", o.quick, "fewer iterations and repeats");
  app.add_option("--json", o.json_path, "write every number to this JSON file");
  app.add_option("--label", o.label, "label stored in the JSON (e.g. the scheduler)");
  app.add_option("--only", o.only, "only these mechanisms (comma-separated; --list shows them)")->delimiter(',');
  app.add_option("--placement", o.placements, "only these placements (same-cpu,cross-cpu,unpinned)")->delimiter(',');
  app.add_option("--payloads", o.payloads, "payload sizes in bytes")->delimiter(',')->capture_default_str();
  app.add_option("--callers", o.callers, "concurrent callers for the throughput sweep (default 1..2x CPUs)")
      ->delimiter(',');
  app.add_option("--conc-payload", o.conc_payload, "payload of the throughput sweep, bytes")->capture_default_str();
  app.add_flag("--no-concurrency", o.no_concurrency, "skip the throughput sweep");
  app.add_option("--pace-us", o.paces,
                 "paced latency cells: one round trip every this many us, sleeping between (0: none)")
      ->delimiter(',')->capture_default_str();
  app.add_option("--paced-mechs", o.paced_mechs, "mechanisms of the paced cells (those also selected by --only)")
      ->delimiter(',')->capture_default_str();
  app.add_option("--paced-payload", o.paced_payload, "payload of the paced cells, bytes")->capture_default_str();
  app.add_flag("--paced-only", o.paced_only, "only the paced cells (no back-to-back latency, no throughput)");
  bool list = false;
  app.add_flag("--list", list, "list the mechanisms and exit");
  CLI11_PARSE(app, argc, argv);
  if (o.quick) {
    o.iters = std::min(o.iters, 2000u);
    o.min_iters = std::min(o.min_iters, 100u);  // 1 MiB over a pipe or mqueue: ~1 s at 200
    o.warmup = std::min(o.warmup, 100u);
    o.repeats = std::min(o.repeats, 3u);
    o.cell_ms = std::min(o.cell_ms, 80u);
    o.conc_ms = std::min(o.conc_ms, 150u);
  }
  o.min_iters = std::min(o.min_iters, o.iters);
  std::erase(o.paces, 0u);
  if (o.paced_only) o.no_concurrency = true;

  const std::vector<int> &cpus = bench::allowed_cpus();  // before any pinning
  if (o.callers.empty())
    for (unsigned n = 1; n <= 2 * cpus.size(); ++n) o.callers.push_back(n);

  std::vector<Placement> placements{{"same-cpu", cpus[0], cpus[0]}};
  if (cpus.size() >= 2) placements.push_back({"cross-cpu", cpus[0], cpus[1]});
  placements.push_back({"unpinned", -1, -1});
  if (!o.placements.empty())
    std::erase_if(placements, [&](const Placement &p) {
      return std::find(o.placements.begin(), o.placements.end(), p.name) == o.placements.end();
    });

  auto all = bench::all_mechanisms(o.spin_us);
  if (list) {
    for (const auto &m : all) {
      const std::string why = m->unavailable();
      fmt::print("{:<15} {}{}\n", m->name(), m->description(), why.empty() ? "" : " [unavailable: " + why + "]");
    }
    return 0;
  }
  json jmechs = json::array();
  std::vector<Mechanism *> mechs;
  for (const auto &m : all) {
    if (!o.only.empty() && std::find(o.only.begin(), o.only.end(), m->name()) == o.only.end()) continue;
    const std::string why = m->unavailable();
    const char *role = m->role() == bench::Role::Floor      ? "floor"
                       : m->role() == bench::Role::Baseline ? "baseline"
                       : m->role() == bench::Role::Variant  ? "variant"
                                                            : "blocking";
    jmechs.push_back({{"name", m->name()}, {"description", m->description()}, {"role", role},
                      {"available", why.empty()}, {"unavailable", why}});
    if (why.empty())
      mechs.push_back(m.get());
    else
      fmt::print(stderr, "[door_bench] {}: skipped: {}\n", m->name(), why);
  }
  // Paced cells: pinned placements only (the CPU cost of one placement), the
  // selected mechanisms named by --paced-mechs.
  std::vector<Placement> paced_placements;
  std::vector<Mechanism *> paced_mechs;
  if (!o.paces.empty()) {
    for (const Placement &pl : placements)
      if (pl.client_cpu >= 0) paced_placements.push_back(pl);
    for (Mechanism *m : mechs)
      if (std::find(o.paced_mechs.begin(), o.paced_mechs.end(), m->name()) != o.paced_mechs.end())
        paced_mechs.push_back(m);
  }
  if (paced_placements.empty() || paced_mechs.empty()) {
    paced_placements.clear();
    paced_mechs.clear();
  }
  if (o.paced_only && paced_mechs.empty()) {
    fmt::print(stderr, "door_bench: --paced-only, but no paced cell selected (check --pace-us / --paced-mechs)\n");
    return 2;
  }
  if (mechs.empty() || placements.empty() || o.payloads.empty()) {
    fmt::print(stderr, "door_bench: nothing selected (check --only / --placement / --payloads)\n");
    return 2;
  }

  json machine = bench::describe_machine();
  fmt::print("door_bench: libdoor {}, {} | {} | {} CPU(s) allowed | {} repeats, up to {} round trips per cell "
             "(warm-up {}, cap {} ms), throughput windows {} ms\n",
             door_version_np(), machine["kernel"].get<std::string>(), machine["cpu_model"].get<std::string>(),
             cpus.size(), o.repeats, o.iters, o.warmup, o.cell_ms, o.conc_ms);
  if (!paced_mechs.empty()) {
    std::vector<std::string> names;
    for (Mechanism *m : paced_mechs) names.push_back(m->name());
    fmt::print("door_bench: paced cells: {} at {}, one call every {} us\n", fmt::join(names, ","),
               payload_name(o.paced_payload), fmt::join(o.paces, " or "));
  }
  std::fflush(stdout);

  // lat[placement][mechanism][payload], paced[placement][mechanism][pace_us], conc[mechanism][callers]
  std::map<std::string, std::map<std::string, std::map<std::size_t, Cell>>> lat;
  std::map<std::string, std::map<std::string, std::map<unsigned, Cell>>> paced;
  std::map<std::string, std::map<unsigned, Cell>> conc;
  const std::size_t per_repeat =
      mechs.size() * ((o.paced_only ? 0 : placements.size() * o.payloads.size()) +
                      (o.no_concurrency ? 0 : o.callers.size())) +
      paced_mechs.size() * paced_placements.size() * o.paces.size();
  Progress progress(per_repeat * o.repeats);
  bool any_error = false;
  const std::uint64_t t_start = bench::now_ns();
  for (unsigned r = 0; r < o.repeats; ++r) {
    // Rotating the order keeps one mechanism from always following another.
    std::vector<Mechanism *> order = mechs;
    std::rotate(order.begin(), order.begin() + (r % order.size()), order.end());
    for (const Placement &pl : o.paced_only ? std::vector<Placement>{} : placements) {
      for (std::size_t payload : o.payloads) {
        for (Mechanism *m : order) {
          Cell &cell = lat[pl.name][m->name()][payload];
          progress.step(fmt::format("repeat {}/{} {} {} {}", r + 1, o.repeats, pl.name, m->name(), payload_name(payload)));
          if (!cell.error.empty()) continue;  // failed before: do not retry
          try {
            bench::LatencyCell c{pl.client_cpu, pl.server_cpu, payload, o.warmup, o.iters, o.min_iters, o.cell_ms};
            cell.samples.push_back(bench::run_latency(*m, c, o.timeout_s));
          } catch (const std::exception &e) {
            cell.error = e.what();
            any_error = true;
            progress.error(fmt::format("{} {} {}: {}", pl.name, m->name(), payload_name(payload), e.what()));
          }
        }
      }
    }
    std::vector<Mechanism *> paced_order = paced_mechs;
    if (!paced_order.empty())
      std::rotate(paced_order.begin(), paced_order.begin() + (r % paced_order.size()), paced_order.end());
    for (const Placement &pl : paced_placements) {
      for (unsigned pace : o.paces) {
        for (Mechanism *m : paced_order) {
          Cell &cell = paced[pl.name][m->name()][pace];
          progress.step(fmt::format("repeat {}/{} {} {} {} paced {} us", r + 1, o.repeats, pl.name, m->name(),
                                    payload_name(o.paced_payload), pace));
          if (!cell.error.empty()) continue;
          try {
            bench::LatencyCell c{pl.client_cpu, pl.server_cpu, o.paced_payload, o.warmup, o.iters,
                                 o.min_iters, o.cell_ms, pace};
            cell.samples.push_back(bench::run_latency(*m, c, o.timeout_s));
          } catch (const std::exception &e) {
            cell.error = e.what();
            any_error = true;
            progress.error(fmt::format("{} {} paced {} us: {}", pl.name, m->name(), pace, e.what()));
          }
        }
      }
    }
    if (o.no_concurrency) continue;
    for (unsigned n : o.callers) {
      for (Mechanism *m : order) {
        Cell &cell = conc[m->name()][n];
        progress.step(fmt::format("repeat {}/{} {} callers {}", r + 1, o.repeats, n, m->name()));
        if (!cell.error.empty()) continue;
        try {
          bench::ConcurrencyCell c{o.conc_payload, n, std::min(o.warmup, 100u), o.conc_ms};
          cell.samples.push_back(bench::run_concurrency(*m, c, o.timeout_s));
        } catch (const std::exception &e) {
          cell.error = e.what();
          any_error = true;
          progress.error(fmt::format("{} callers {}: {}", n, m->name(), e.what()));
        }
      }
    }
  }
  progress.finish();
  const double elapsed_s = double(bench::now_ns() - t_start) / 1e9;
  machine["loadavg_end"] = bench::describe_machine()["loadavg_start"];

  // ---- text tables -----------------------------------------------------------
  for (const Placement &pl : o.paced_only ? std::vector<Placement>{} : placements) {
    fmt::print("\n== {} == p50 us (median of {} repeats) | CPU us per call\n{:<15}", pl.name, o.repeats, "mechanism");
    for (std::size_t p : o.payloads) fmt::print(" {:>19}", payload_name(p));
    fmt::print("\n");
    for (Mechanism *m : mechs) {
      fmt::print("{:<15}", m->name());
      for (std::size_t p : o.payloads) {
        const Cell &c = lat[pl.name][m->name()][p];
        fmt::print(" {:>19}", c.error.empty() ? fmt::format("{} | {}", fmt_num(median_of(c, "p50_us")),
                                                             fmt_num(median_of(c, "cpu_us_per_call")))
                                              : "ERROR");
      }
      fmt::print("\n");
    }
  }
  for (const Placement &pl : paced_placements) {
    fmt::print("\n== {} paced, {} == p50 | p99 us | CPU us per call | CPUs kept busy (CPU s per s)\n{:<15}",
               pl.name, payload_name(o.paced_payload), "mechanism");
    for (unsigned pace : o.paces) fmt::print(" {:>31}", fmt::format("1 call / {} us", pace));
    fmt::print("\n");
    for (Mechanism *m : paced_mechs) {
      fmt::print("{:<15}", m->name());
      for (unsigned pace : o.paces) {
        const Cell &c = paced[pl.name][m->name()][pace];
        fmt::print(" {:>31}", c.error.empty() ? fmt::format("{} | {} | {} | {:.3f}", fmt_num(median_of(c, "p50_us")),
                                                             fmt_num(median_of(c, "p99_us")),
                                                             fmt_num(median_of(c, "cpu_us_per_call")),
                                                             median_of(c, "cpu_us_per_s") / 1e6)
                                              : "ERROR");
      }
      fmt::print("\n");
    }
  }
  if (!o.no_concurrency) {
    fmt::print("\n== throughput, {} payload, unpinned callers == calls/s (median) | CPU us per call\n{:<15}",
               payload_name(o.conc_payload), "mechanism");
    for (unsigned n : o.callers) fmt::print(" {:>19}", fmt::format("{} caller{}", n, n > 1 ? "s" : ""));
    fmt::print("\n");
    for (Mechanism *m : mechs) {
      fmt::print("{:<15}", m->name());
      for (unsigned n : o.callers) {
        const Cell &c = conc[m->name()][n];
        fmt::print(" {:>19}", c.error.empty() ? fmt::format("{:.0f} | {}", median_of(c, "calls_per_s"),
                                                             fmt_num(median_of(c, "cpu_us_per_call")))
                                              : "ERROR");
      }
      fmt::print("\n");
    }
  }
  fmt::print("\n{:.1f} s{}\n", elapsed_s, any_error ? "; some mechanisms FAILED (see ERROR above)" : "");

  // ---- JSON --------------------------------------------------------------------
  if (!o.json_path.empty()) {
    json j;
    j["tool"] = "door_bench";
    j["label"] = o.label;
    j["libdoor"] = door_version_np();
    j["machine"] = machine;
    j["config"] = {{"iters", o.iters},     {"min_iters", o.min_iters}, {"warmup", o.warmup},
                   {"repeats", o.repeats}, {"cell_ms", o.cell_ms},     {"conc_ms", o.conc_ms},
                   {"spin_us", o.spin_us}, {"quick", o.quick},         {"payloads", o.payloads},
                   {"callers", o.callers}, {"conc_payload", o.conc_payload}};
    if (!paced_mechs.empty()) {
      j["config"]["pace_us"] = o.paces;
      j["config"]["paced_payload"] = o.paced_payload;
      j["config"]["paced_mechanisms"] = json::array();
      for (Mechanism *m : paced_mechs) j["config"]["paced_mechanisms"].push_back(m->name());
    }
    j["elapsed_s"] = elapsed_s;
    j["mechanisms"] = jmechs;
    j["latency"] = json::array();
    for (const Placement &pl : o.paced_only ? std::vector<Placement>{} : placements)
      for (Mechanism *m : mechs)
        for (std::size_t p : o.payloads) {
          const Cell &c = lat[pl.name][m->name()][p];
          json e = {{"placement", pl.name}, {"client_cpu", pl.client_cpu}, {"server_cpu", pl.server_cpu},
                    {"mechanism", m->name()}, {"payload", p}, {"samples", c.samples}, {"stats", summarize(c)}};
          if (!c.error.empty()) e["error"] = c.error;
          j["latency"].push_back(e);
        }
    // Paced cells: a separate array, so "latency" keeps only back-to-back cells.
    if (!paced_mechs.empty()) {
      j["paced"] = json::array();
      for (const Placement &pl : paced_placements)
        for (Mechanism *m : paced_mechs)
          for (unsigned pace : o.paces) {
            const Cell &c = paced[pl.name][m->name()][pace];
            json e = {{"placement", pl.name}, {"client_cpu", pl.client_cpu}, {"server_cpu", pl.server_cpu},
                      {"mechanism", m->name()}, {"payload", o.paced_payload}, {"pace_us", pace},
                      {"samples", c.samples}, {"stats", summarize(c, kPacedMetrics)}};
            if (!c.error.empty()) e["error"] = c.error;
            j["paced"].push_back(e);
          }
    }
    j["concurrency"] = json::array();
    for (Mechanism *m : mechs)
      for (unsigned n : o.no_concurrency ? std::vector<unsigned>{} : o.callers) {
        const Cell &c = conc[m->name()][n];
        json e = {{"mechanism", m->name()}, {"payload", o.conc_payload}, {"callers", n},
                  {"samples", c.samples}, {"stats", summarize(c)}};
        if (!c.error.empty()) e["error"] = c.error;
        j["concurrency"].push_back(e);
      }
    std::ofstream out(o.json_path);
    out << j.dump(1) << '\n';
    if (!out) {
      fmt::print(stderr, "door_bench: cannot write {}\n", o.json_path);
      return 1;
    }
  }
  return any_error ? 1 : 0;
}
