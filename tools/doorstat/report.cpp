// SPDX-License-Identifier: MIT
//
// report.cpp — text and JSON rendering of doorstat's findings.
#include "report.h"

#include <door.h>
#include <fmt/format.h>

namespace doorstat {

namespace {

using json = nlohmann::ordered_json;

std::string hex(std::uint64_t v) { return fmt::format("{:#x}", v); }

std::string join(const std::vector<std::string> &v, const char *sep) {
  std::string s;
  for (const auto &x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

/// Short attribute names for the text table.
std::string short_attrs(std::uint32_t a) {
  std::vector<std::string> v;
  for (auto &n : attribute_names(a)) v.push_back(n.substr(5));  // drop "DOOR_"
  return v.empty() ? "-" : join(v, ",");
}

std::uint64_t calls_of(const ServedDoor &s) { return s.stats ? s.stats->calls() : 0; }

double rate_of(const ServedDoor &s, const Previous &prev) {
  auto it = prev.calls.find(s.name.id);
  if (prev.seconds <= 0 || it == prev.calls.end() || !s.stats) return -1;
  return double(calls_of(s) - std::min(calls_of(s), it->second)) / prev.seconds;
}

}  // namespace

std::vector<std::string> attribute_names(std::uint32_t a) {
  static const std::pair<std::uint32_t, const char *> kNames[] = {
      {DOOR_UNREF, "DOOR_UNREF"},         {DOOR_PRIVATE, "DOOR_PRIVATE"},
      {DOOR_LOCAL, "DOOR_LOCAL"},         {DOOR_REVOKED, "DOOR_REVOKED"},
      {DOOR_UNREF_MULTI, "DOOR_UNREF_MULTI"}, {DOOR_IS_UNREF, "DOOR_IS_UNREF"},
      {DOOR_REFUSE_DESC, "DOOR_REFUSE_DESC"}, {DOOR_NO_CANCEL, "DOOR_NO_CANCEL"},
      {DOOR_NO_DEPLETION_CB, "DOOR_NO_DEPLETION_CB"}, {DOOR_PRIVCREATE, "DOOR_PRIVCREATE"},
      {DOOR_ARGS_IN_PLACE_NP, "DOOR_ARGS_IN_PLACE_NP"}};
  std::vector<std::string> v;
  for (auto &[bit, name] : kNames)
    if (a & bit) v.push_back(name);
  return v;
}

std::map<std::uint64_t, std::uint64_t> calls_by_door(const ProcessDoors &p) {
  std::map<std::uint64_t, std::uint64_t> m;
  for (auto &s : p.served) m[s.name.id] = calls_of(s);
  return m;
}

json process_json(const ProcessDoors &p, const Previous &prev) {
  json j;
  j["pid"] = p.pid;
  j["comm"] = p.comm;
  if (!p.error.empty()) j["error"] = p.error;
  json st;
  st["available"] = p.stats.available;
  if (!p.stats.available && p.stats_fd >= 0) st["error"] = p.stats.error;
  if (p.stats.available) st["public_pool"] = {{"threads", p.stats.public_threads}, {"idle", p.stats.public_idle}};
  j["stats"] = st;
  json served = json::array();
  for (const auto &s : p.served) {
    json d;
    d["id"] = hex(s.name.id);
    d["attributes"] = attribute_names(s.name.attributes);
    d["attribute_bits"] = s.name.attributes;
    d["proc"] = hex(s.name.proc);
    d["cookie"] = hex(s.name.cookie);
    d["state"] = s.revoked ? "revoked" : "live";
    d["server_end_fds"] = s.server_end_fds;
    d["references"] = s.server_end_fds.size();
    if (s.stats) {
      const DoorCounters &c = *s.stats;
      double tpu = p.stats.ticks_per_us;
      if (s.name.attributes & DOOR_PRIVATE)
        d["pool"] = {{"threads", c.pool_threads}, {"idle", c.pool_idle}};
      else
        d["pool"] = "public";
      d["calls"] = c.calls();
      if (double r = rate_of(s, prev); r >= 0) d["calls_per_sec"] = r;
      d["latency_us"] = {{"p50", c.percentile_us(0.50, tpu)},
                         {"p90", c.percentile_us(0.90, tpu)},
                         {"p99", c.percentile_us(0.99, tpu)},
                         {"max", c.percentile_us(1.0, tpu)}};
    }
    served.push_back(d);
  }
  j["served"] = served;
  json held = json::array();
  for (const auto &h : p.held) {
    json d;
    d["fd"] = h.fd;
    d["id"] = hex(h.name.id);
    d["attributes"] = attribute_names(h.name.attributes);
    d["attribute_bits"] = h.name.attributes;
    d["server_pid"] = h.server_pid;
    d["local"] = h.local;
    held.push_back(d);
  }
  j["held"] = held;
  return j;
}

std::string process_text(const ProcessDoors &p, const Previous &prev) {
  std::string out = fmt::format("{}: {}\n", p.pid, p.comm);
  if (!p.error.empty()) return out + "  " + p.error + "\n";
  if (p.stats.available)
    out += fmt::format("  public pool: {} threads, {} idle\n", p.stats.public_threads, p.stats.public_idle);
  else if (p.stats_fd >= 0)
    out += fmt::format("  statistics: {}\n", p.stats.error);
  if (!p.served.empty()) {
    out += fmt::format("  {:<18} {:<22} {:>4} {:>9} {:>10} {:>10} {:>9} {:>9} {:>9}\n", "SERVED ID", "ATTRIBUTES",
                       "REFS", "POOL", "CALLS", "CALLS/S", "P50(us)", "P90(us)", "P99(us)");
    for (const auto &s : p.served) {
      std::string attrs = short_attrs(s.name.attributes) + (s.revoked ? ",REVOKED" : "");
      std::string pool = "-", calls = "-", rate = "-", p50 = "-", p90 = "-", p99 = "-";
      if (s.stats) {
        const DoorCounters &c = *s.stats;
        double tpu = p.stats.ticks_per_us;
        pool = (s.name.attributes & DOOR_PRIVATE) ? fmt::format("{}/{}", c.pool_threads, c.pool_idle) : "public";
        calls = fmt::format("{}", c.calls());
        if (double r = rate_of(s, prev); r >= 0) rate = fmt::format("{:.0f}", r);
        if (c.calls()) {
          p50 = fmt::format("{:.2f}", c.percentile_us(0.50, tpu));
          p90 = fmt::format("{:.2f}", c.percentile_us(0.90, tpu));
          p99 = fmt::format("{:.2f}", c.percentile_us(0.99, tpu));
        }
      }
      out += fmt::format("  {:<18} {:<22} {:>4} {:>9} {:>10} {:>10} {:>9} {:>9} {:>9}\n", hex(s.name.id), attrs,
                         s.server_end_fds.size(), pool, calls, rate, p50, p90, p99);
    }
  }
  if (!p.held.empty()) {
    out += fmt::format("  {:>4}  {:<18} {:<22} {:>8}\n", "FD", "HELD ID", "ATTRIBUTES", "SERVER");
    for (const auto &h : p.held)
      out += fmt::format("  {:>4}  {:<18} {:<22} {:>8}\n", h.fd, hex(h.name.id), short_attrs(h.name.attributes),
                         h.local ? std::string("self") : h.server_pid > 0 ? std::to_string(h.server_pid) : "?");
  }
  if (p.served.empty() && p.held.empty()) out += "  no doors\n";
  return out;
}

std::string summary_text(const std::vector<ProcessDoors> &ps) {
  std::string out = fmt::format("{:>8}  {:<16} {:>7} {:>5} {:>12}\n", "PID", "COMMAND", "SERVED", "HELD", "CALLS");
  for (const auto &p : ps) {
    std::uint64_t calls = 0;
    for (const auto &s : p.served) calls += calls_of(s);
    out += fmt::format("{:>8}  {:<16} {:>7} {:>5} {:>12}\n", p.pid, p.comm, p.served.size(), p.held.size(),
                       p.stats.available ? fmt::format("{}", calls) : std::string("-"));
  }
  return out;
}

json summary_json(const std::vector<ProcessDoors> &ps) {
  json a = json::array();
  for (const auto &p : ps) a.push_back(process_json(p, Previous{}));
  return a;
}

}  // namespace doorstat
