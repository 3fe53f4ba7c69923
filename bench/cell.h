// SPDX-License-Identifier: MIT
//
// cell.h — one measurement ("cell") of door_bench, run in a forked cell
// process so that every cell starts from a clean process (no libdoor
// connection, gRPC state or binder descriptor left over from the previous
// one) and a hung mechanism can be killed with all its processes.
//
// A latency cell times single round trips of one caller; a concurrency cell
// counts the calls of N caller processes during a fixed window. Both report
// CPU time per call: the CPU clocks of the server process and of every
// client process over the timed part, divided by the calls made (spinning
// shows up here).
//
// A paced latency cell (pace_us > 0) issues one round trip per pace_us
// (pacer.h) and sleeps in between, so what each mechanism burns between
// calls is charged too: it also reports the CPU time per second of wall
// clock, i.e. how many CPUs the mechanism keeps busy at that call rate.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>

#include "mechanism.h"

namespace bench {

struct LatencyCell {
  int client_cpu = -1, server_cpu = -1;  ///< -1: unpinned
  std::size_t payload = 8;
  unsigned warmup = 300;     ///< untimed round trips first
  unsigned iters = 10000;    ///< at most this many timed round trips
  unsigned min_iters = 500;  ///< at least this many, even past cell_ms
  unsigned cell_ms = 300;    ///< time cap of the timed part
  unsigned pace_us = 0;      ///< > 0: one round trip per pace_us, sleeping between (paced cell)
};

struct ConcurrencyCell {
  std::size_t payload = 8;
  unsigned callers = 1;  ///< client processes, unpinned
  unsigned warmup = 100; ///< untimed round trips per caller first
  unsigned window_ms = 300;
};

/// Runs the cell in a child process (killed with everything it started
/// after timeout_s). Returns the metrics: p50_us, p99_us, p999_us, mean_us,
/// iters, calls_per_s, cpu_us_per_call, client_cpu_us_per_call,
/// server_cpu_us_per_call. A paced latency cell adds pace_us,
/// cpu_us_per_s, client_cpu_us_per_s, server_cpu_us_per_s (CPU time per
/// second of wall clock over the timed part) and missed_slots. Throws
/// std::runtime_error with the reason on any failure.
nlohmann::ordered_json run_latency(Mechanism &m, const LatencyCell &c, unsigned timeout_s);
nlohmann::ordered_json run_concurrency(Mechanism &m, const ConcurrencyCell &c, unsigned timeout_s);

}  // namespace bench
