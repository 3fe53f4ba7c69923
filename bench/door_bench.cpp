// SPDX-License-Identifier: MIT
//
// door_bench — door_call() round-trip latency next to the IPC baselines it
// has to beat, all measured in the same run between two processes.
//
// For each placement (client and server on the same CPU, on two different
// CPUs, unpinned) and payload (8 B, 4 KiB, 64 KiB) every mechanism does a
// warm-up and then up to --iters round trips, each timed on its own with
// CLOCK_MONOTONIC; p50 and p99 are taken per repeat and the report shows the
// median of them across --repeats. The mechanisms are interleaved: repeat 1
// runs every (placement, payload, mechanism) cell, then repeat 2, ..., so a
// disturbance on the machine hits all mechanisms alike instead of one.
//
// It ends with the project's latency targets as PASS/MISS lines (a MISS is a
// result, not an error: the exit status is 0 unless a mechanism failed).
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include <door.h>

#include "pingpong.h"

namespace {

using bench::Mechanism;
using json = nlohmann::ordered_json;

std::uint64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

struct Options {
  unsigned iters = 10000;    // max timed round trips per cell
  unsigned min_iters = 500;  // timed round trips per cell even past cell_ms
  unsigned warmup = 300;
  unsigned repeats = 5;
  unsigned cell_ms = 300;  // time cap of the timed part of one cell
  unsigned spin_us = 7;
  bool quick = false;
  std::string json_path;
  std::vector<std::string> only;        // mechanism filter
  std::vector<std::string> placements;  // placement filter
};

struct Placement {
  std::string name;  // "same-cpu", "cross-cpu", "unpinned"
  std::string label;
  int client_cpu;  // -1: unpinned
  int server_cpu;
};

/// One cell's result for one repeat.
struct Sample {
  double p50_us = NAN;
  double p99_us = NAN;
  std::size_t iters = 0;
};

/// All repeats of one (placement, mechanism, payload) cell.
struct Cell {
  std::vector<Sample> samples;
  std::string error;
  double p50() const { return median([](const Sample &s) { return s.p50_us; }); }
  double p99() const { return median([](const Sample &s) { return s.p99_us; }); }

 private:
  template <class F>
  double median(F get) const {
    std::vector<double> v;
    for (const Sample &s : samples)
      if (!std::isnan(get(s))) v.push_back(get(s));
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }
};

const std::size_t kPayloads[] = {8, 4096, 65536};

std::string payload_name(std::size_t n) {
  if (n >= 1024 && n % 1024 == 0) return fmt::format("{} KiB", n / 1024);
  return fmt::format("{} B", n);
}

/// Nearest-rank percentile of sorted values.
double percentile(const std::vector<std::uint64_t> &sorted, double q) {
  if (sorted.empty()) return NAN;
  std::size_t idx = std::size_t(std::ceil(q * double(sorted.size())));
  idx = idx ? idx - 1 : 0;
  return double(sorted[std::min(idx, sorted.size() - 1)]);
}

/// Stamps round trip `tag` into the payload (first and last 8 bytes).
void stamp(std::vector<char> &req, std::uint64_t tag) {
  std::memcpy(req.data(), &tag, sizeof tag);
  std::memcpy(req.data() + req.size() - sizeof tag, &tag, sizeof tag);
}

void check_echo(const std::vector<char> &rep, std::uint64_t tag, const char *mech) {
  std::uint64_t a, b;
  std::memcpy(&a, rep.data(), sizeof a);
  std::memcpy(&b, rep.data() + rep.size() - sizeof b, sizeof b);
  if (a != tag || b != tag)
    throw std::runtime_error(fmt::format("{}: reply does not echo the request (round trip {})", mech, tag));
}

/// Runs one cell: start the server, warm up, time round trips, stop.
Sample run_cell(Mechanism &m, const Placement &pl, std::size_t payload, const Options &o) {
  bench::pin_self(pl.client_cpu);
  std::vector<char> req(payload, 'q'), rep(payload, 0);
  std::vector<std::uint64_t> lat;
  lat.reserve(o.iters);
  m.start(pl.server_cpu, payload);
  try {
    std::uint64_t tag = 1;
    for (unsigned i = 0; i < o.warmup; ++i, ++tag) {
      stamp(req, tag);
      m.roundtrip(req.data(), rep.data(), payload);
      check_echo(rep, tag, m.name());
    }
    const std::uint64_t start = now_ns();
    const std::uint64_t cap = std::uint64_t(o.cell_ms) * 1000000u;
    for (unsigned i = 0; i < o.iters; ++i, ++tag) {
      stamp(req, tag);
      const std::uint64_t t0 = now_ns();
      m.roundtrip(req.data(), rep.data(), payload);
      const std::uint64_t t1 = now_ns();
      check_echo(rep, tag, m.name());
      lat.push_back(t1 - t0);
      if (t1 - start > cap && lat.size() >= o.min_iters) break;
    }
  } catch (...) {
    m.stop();
    throw;
  }
  m.stop();
  std::sort(lat.begin(), lat.end());
  Sample s;
  s.p50_us = percentile(lat, 0.50) / 1000.0;
  s.p99_us = percentile(lat, 0.99) / 1000.0;
  s.iters = lat.size();
  return s;
}

std::string fmt_us(double v) {
  if (std::isnan(v)) return "-";
  return v < 10 ? fmt::format("{:.2f}", v) : v < 100 ? fmt::format("{:.1f}", v) : fmt::format("{:.0f}", v);
}
std::string fmt_ratio(double v) { return std::isnan(v) ? "-" : fmt::format("{:.3g}x", v); }

struct Target {
  std::string name;
  std::string verdict;  // PASS, MISS, SKIP
  std::string detail;
  json data = json::array();
};

}  // namespace

int main(int argc, char **argv) {
  Options o;
  CLI::App app{"door_bench: door_call round-trip latency vs futex, eventfd, pipe and busy-poll "
               "ping-pong between two processes"};
  app.add_option("--iters", o.iters, "max timed round trips per cell")->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--min-iters", o.min_iters, "timed round trips per cell even past --cell-ms")
      ->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed round trips before each cell")
      ->capture_default_str();
  app.add_option("--repeats", o.repeats, "repeats (the report shows medians)")->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--cell-ms", o.cell_ms, "time cap of one cell's timed part, ms")->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--spin-us", o.spin_us, "futex_spin: spin bound before sleeping, us")
      ->capture_default_str();
  app.add_flag("--quick", o.quick, "fewer iterations and repeats (under a minute)");
  app.add_option("--json", o.json_path, "also write every number to this JSON file");
  app.add_option("--only", o.only, "only these mechanisms (futex,futex_spin,eventfd,pipe,busypoll,door_call)")
      ->delimiter(',');
  app.add_option("--placement", o.placements, "only these placements (same-cpu,cross-cpu,unpinned)")
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  if (o.quick) {
    o.iters = std::min(o.iters, 2000u);
    o.min_iters = std::min(o.min_iters, 300u);
    o.warmup = std::min(o.warmup, 100u);
    o.repeats = std::min(o.repeats, 3u);
    o.cell_ms = std::min(o.cell_ms, 80u);
  }
  o.min_iters = std::min(o.min_iters, o.iters);

  const std::vector<int> &cpus = bench::allowed_cpus();  // before any pinning
  std::vector<Placement> placements;
  placements.push_back({"same-cpu", fmt::format("same CPU (client and server on CPU {})", cpus[0]), cpus[0], cpus[0]});
  if (cpus.size() >= 2)
    placements.push_back({"cross-cpu", fmt::format("cross CPU (client CPU {}, server CPU {})", cpus[0], cpus[1]),
                          cpus[0], cpus[1]});
  placements.push_back({"unpinned", "unpinned (both free to run on any allowed CPU)", -1, -1});
  if (!o.placements.empty()) {
    std::erase_if(placements, [&](const Placement &p) {
      return std::find(o.placements.begin(), o.placements.end(), p.name) == o.placements.end();
    });
  }

  std::vector<std::unique_ptr<Mechanism>> mechs;
  mechs.push_back(bench::make_futex());
  mechs.push_back(bench::make_futex_spin(o.spin_us));
  mechs.push_back(bench::make_eventfd());
  mechs.push_back(bench::make_pipe());
  mechs.push_back(bench::make_busypoll());
  mechs.push_back(bench::make_door());
  if (!o.only.empty()) {
    std::erase_if(mechs, [&](const std::unique_ptr<Mechanism> &m) {
      return std::find(o.only.begin(), o.only.end(), m->name()) == o.only.end();
    });
  }
  if (mechs.empty() || placements.empty()) {
    fmt::print(stderr, "door_bench: nothing selected (check --only / --placement)\n");
    return 2;
  }

  utsname un{};
  uname(&un);
  fmt::print("door_bench: libdoor {}, kernel {} {}, {} CPU(s) allowed, {} repeats x up to {} round trips "
             "(warm-up {}, cap {} ms per cell), futex_spin bound {} us\n",
             door_version_np(), un.sysname, un.release, cpus.size(), o.repeats, o.iters, o.warmup, o.cell_ms,
             o.spin_us);
  for (const auto &m : mechs) fmt::print("  {:<10} {}\n", m->name(), m->description());
  std::fflush(stdout);

  // results[placement][mechanism][payload]
  std::map<std::string, std::map<std::string, std::map<std::size_t, Cell>>> results;
  bool any_error = false;
  const std::uint64_t t_start = now_ns();
  for (unsigned r = 0; r < o.repeats; ++r) {
    fmt::print(stderr, "[door_bench] repeat {}/{} ...\n", r + 1, o.repeats);
    for (const Placement &pl : placements) {
      for (std::size_t payload : kPayloads) {
        for (auto &m : mechs) {
          Cell &cell = results[pl.name][m->name()][payload];
          if (!cell.error.empty()) continue;  // failed before: do not retry
          try {
            cell.samples.push_back(run_cell(*m, pl, payload, o));
          } catch (const std::exception &e) {
            cell.error = e.what();
            any_error = true;
            fmt::print(stderr, "[door_bench] {} {} {}: ERROR: {}\n", pl.name, m->name(), payload_name(payload),
                       e.what());
          }
        }
      }
    }
  }
  bench::pin_self(-1);
  const double elapsed_s = double(now_ns() - t_start) / 1e9;

  auto p50_of = [&](const std::string &pl, const std::string &mech, std::size_t payload) -> double {
    auto a = results.find(pl);
    if (a == results.end()) return NAN;
    auto b = a->second.find(mech);
    if (b == a->second.end()) return NAN;
    auto c = b->second.find(payload);
    return c == b->second.end() ? NAN : c->second.p50();
  };
  const char *ratio_mechs[] = {"futex", "eventfd", "pipe", "busypoll"};
  const int ratio_widths[] = {10, 12, 9, 13};  // as wide as the column titles

  json j;
  j["config"] = {{"iters", o.iters},         {"min_iters", o.min_iters}, {"warmup", o.warmup},
                 {"repeats", o.repeats},     {"cell_ms", o.cell_ms},     {"spin_us", o.spin_us},
                 {"quick", o.quick},         {"cpus", cpus},             {"kernel", un.release},
                 {"machine", un.machine},    {"libdoor", door_version_np()},
                 {"elapsed_s", elapsed_s}};
  j["mechanisms"] = json::object();
  for (const auto &m : mechs) j["mechanisms"][m->name()] = m->description();
  j["placements"] = json::array();

  for (const Placement &pl : placements) {
    fmt::print("\n== {} ==  (median across repeats; ratios are door_call p50 / baseline p50)\n", pl.label);
    fmt::print("{:<11} {:>7} {:>9} {:>9} {:>7}  {:>10} {:>12} {:>9} {:>13}\n", "mechanism", "payload", "p50 us",
               "p99 us", "iters", "door/futex", "door/eventfd", "door/pipe", "door/busypoll");
    json jp = {{"name", pl.name}, {"client_cpu", pl.client_cpu}, {"server_cpu", pl.server_cpu},
               {"results", json::array()}, {"ratios", json::array()}};
    for (std::size_t payload : kPayloads) {
      for (const auto &m : mechs) {
        const Cell &cell = results[pl.name][m->name()][payload];
        std::size_t iters = 0;
        for (const Sample &s : cell.samples) iters += s.iters;
        const std::size_t avg_iters = cell.samples.empty() ? 0 : iters / cell.samples.size();
        std::string ratios;
        if (std::string(m->name()) == "door_call") {
          const double d = cell.p50();
          for (std::size_t k = 0; k < std::size(ratio_mechs); ++k)
            ratios += fmt::format(" {:>{}}", fmt_ratio(d / p50_of(pl.name, ratio_mechs[k], payload)),
                                  ratio_widths[k]);
        }
        if (!cell.error.empty()) {
          fmt::print("{:<11} {:>7}  ERROR: {}\n", m->name(), payload_name(payload), cell.error);
        } else {
          fmt::print("{:<11} {:>7} {:>9} {:>9} {:>7} {}\n", m->name(), payload_name(payload), fmt_us(cell.p50()),
                     fmt_us(cell.p99()), avg_iters, ratios);
        }
        json jc = {{"mechanism", m->name()}, {"payload", payload}};
        jc["p50_us"] = std::isnan(cell.p50()) ? json(nullptr) : json(cell.p50());
        jc["p99_us"] = std::isnan(cell.p99()) ? json(nullptr) : json(cell.p99());
        jc["repeats"] = json::array();
        for (const Sample &s : cell.samples)
          jc["repeats"].push_back({{"p50_us", s.p50_us}, {"p99_us", s.p99_us}, {"iters", s.iters}});
        if (!cell.error.empty()) jc["error"] = cell.error;
        jp["results"].push_back(jc);
      }
      json jr = {{"payload", payload}};
      const double d = p50_of(pl.name, "door_call", payload);
      for (const char *b : ratio_mechs) {
        const double v = d / p50_of(pl.name, b, payload);
        jr[fmt::format("door_over_{}", b)] = std::isnan(v) ? json(nullptr) : json(v);
      }
      jp["ratios"].push_back(jr);
    }
    j["placements"].push_back(jp);
  }
  if (std::any_of(mechs.begin(), mechs.end(), [](const auto &m) { return std::string(m->name()) == "busypoll"; }))
    fmt::print("\nnote: busypoll keeps both processes spinning: it burns two CPUs and is the latency floor, "
               "not a usable mechanism.\n");

  // ---- Targets ---------------------------------------------------------------
  std::vector<Target> targets;
  auto has = [&](const char *pl) {
    return std::any_of(placements.begin(), placements.end(), [&](const Placement &p) { return p.name == pl; });
  };
  auto bound_check = [&](const std::string &name, const char *pl, const char *base, double factor) {
    Target t{name, "PASS", ""};
    if (!has(pl)) {
      t.verdict = "SKIP";
      t.detail = fmt::format("placement {} not measured", pl);
      return t;
    }
    std::vector<std::string> parts;
    for (std::size_t payload : kPayloads) {
      const double d = p50_of(pl, "door_call", payload), b = p50_of(pl, base, payload);
      const double ratio = d / b;
      const bool ok = !std::isnan(ratio) && ratio <= factor;
      if (std::isnan(ratio) && t.verdict == "PASS") t.verdict = "SKIP";
      if (!std::isnan(ratio) && !ok) t.verdict = "MISS";
      parts.push_back(fmt::format("{} {}/{} us = {}{}", payload_name(payload), fmt_us(d), fmt_us(b),
                                  fmt_ratio(ratio), std::isnan(ratio) ? "" : ok ? "" : " (over)"));
      t.data.push_back({{"placement", pl}, {"payload", payload}, {"door_p50_us", std::isnan(d) ? json(nullptr) : json(d)},
                        {"baseline", base}, {"baseline_p50_us", std::isnan(b) ? json(nullptr) : json(b)},
                        {"ratio", std::isnan(ratio) ? json(nullptr) : json(ratio)}, {"limit", factor},
                        {"ok", std::isnan(ratio) ? json(nullptr) : json(ok)}});
    }
    t.detail = fmt::format("{}", fmt::join(parts, "; "));
    return t;
  };
  targets.push_back(bound_check("same-CPU door_call p50 <= 1.15x futex ping-pong", "same-cpu", "futex", 1.15));
  targets.push_back(bound_check("cross-CPU door_call p50 <= 2x busy-poll floor", "cross-cpu", "busypoll", 2.0));
  {
    Target t{"door_call p50 never worse than pipe (every placement, payload)", "PASS", ""};
    std::vector<std::string> worse;
    std::size_t checked = 0;
    for (const Placement &pl : placements) {
      for (std::size_t payload : kPayloads) {
        const double d = p50_of(pl.name, "door_call", payload), b = p50_of(pl.name, "pipe", payload);
        if (std::isnan(d) || std::isnan(b)) continue;
        ++checked;
        const bool ok = d <= b;
        if (!ok) worse.push_back(fmt::format("{} {} {}/{} us = {}", pl.name, payload_name(payload), fmt_us(d),
                                             fmt_us(b), fmt_ratio(d / b)));
        t.data.push_back({{"placement", pl.name}, {"payload", payload}, {"door_p50_us", d}, {"pipe_p50_us", b},
                          {"ratio", d / b}, {"ok", ok}});
      }
    }
    if (checked == 0) {
      t.verdict = "SKIP";
      t.detail = "door_call or pipe not measured";
    } else if (!worse.empty()) {
      t.verdict = "MISS";
      t.detail = fmt::format("worse in {}/{}: {}", worse.size(), checked, fmt::join(worse, "; "));
    } else {
      double worst = 0;
      for (const auto &e : t.data) worst = std::max(worst, e["ratio"].get<double>());
      t.detail = fmt::format("{} cells checked, worst door/pipe {}", checked, fmt_ratio(worst));
    }
    targets.push_back(t);
  }
  fmt::print("\nTargets (p50, median of {} repeats):\n", o.repeats);
  j["targets"] = json::array();
  for (const Target &t : targets) {
    fmt::print("{}  {}: {}\n", t.verdict, t.name, t.detail);
    j["targets"].push_back({{"name", t.name}, {"verdict", t.verdict}, {"detail", t.detail}, {"cells", t.data}});
  }
  fmt::print("\n{:.1f} s{}\n", elapsed_s, any_error ? "; some mechanisms FAILED (see ERROR above)" : "");

  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << j.dump(2) << '\n';
    if (!out) {
      fmt::print(stderr, "door_bench: cannot write {}\n", o.json_path);
      return 1;
    }
  }
  return any_error ? 1 : 0;
}
