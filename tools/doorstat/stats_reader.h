// SPDX-License-Identifier: MIT
//
// stats_reader.h — reads a process' "ldoor-stats" region (layout:
// userspace/stats_layout.h, shared with libdoor) through
// /proc/<pid>/fd/<n>: per-door calls served and latency histograms, pool
// sizes. Needs the same uid as the process, or root.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "stats_layout.h"

namespace doorstat {

/// One door's counters, copied out of the region.
struct DoorCounters {
  std::uint64_t id = 0;
  std::uint32_t attributes = 0;
  std::uint64_t proc = 0, cookie = 0;
  bool revoked = false;
  std::uint32_t pool_threads = 0, pool_idle = 0;  ///< DOOR_PRIVATE doors only
  std::array<std::uint64_t, door::stats::kLatencyBuckets> latency{};
  /// Calls served: the histogram's sum.
  std::uint64_t calls() const;
  /// The q-quantile (0..1) of the service time in microseconds; 0 with no
  /// calls. Log2 buckets: exact within a factor of 2, interpolated inside.
  double percentile_us(double q, double ticks_per_us) const;
};

/// A process' statistics region, copied.
struct ProcessStats {
  bool available = false;
  std::string error;  ///< why not available
  std::uint32_t public_threads = 0, public_idle = 0;
  double ticks_per_us = 1000.0;
  std::vector<DoorCounters> doors;
};

/// Reads the region behind /proc/<pid>/fd/<fd>.
ProcessStats read_process_stats(pid_t pid, int fd);

/// Ticks per microsecond of the region's clock (TSC: calibrated once
/// against CLOCK_MONOTONIC; the TSC is common to all processes).
double ticks_per_us(std::uint32_t clock);

}  // namespace doorstat
