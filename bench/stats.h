// SPDX-License-Identifier: MIT
//
// stats.h — the few statistics door_bench reports: nearest-rank
// percentiles of one run's round trips, the runs of slow round trips in
// it, and the median and spread (min, max) of a metric across repeats
// ("median of medians").
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace bench {

/// Nearest-rank percentile (q in (0, 1]) of ascending values; NaN if empty.
inline double percentile(const std::vector<std::uint64_t> &sorted, double q) {
  if (sorted.empty()) return NAN;
  std::size_t idx = std::size_t(std::ceil(q * double(sorted.size())));
  idx = idx ? idx - 1 : 0;
  return double(sorted[std::min(idx, sorted.size() - 1)]);
}

/// The slow round trips of one cell, taken in the order they ran. On a
/// host that halts idle vCPUs, two spinning peers that both fell asleep
/// wake each other for every call until one of them spins long enough
/// again: slow calls come in runs, and a few runs can hold most of a
/// cell's time, so its mean and CPU per call describe them more than a
/// typical call (README, "Runs of slow calls").
struct SlowRuns {
  double time_share = NAN;   ///< their share of the summed round trips (0..1)
  std::size_t longest = 0;   ///< most slow round trips in a row
};

inline SlowRuns slow_runs(const std::vector<std::uint64_t> &in_order, std::uint64_t threshold_ns) {
  SlowRuns r;
  if (in_order.empty()) return r;
  double total = 0, slow = 0;
  std::size_t run = 0;
  for (std::uint64_t v : in_order) {
    total += double(v);
    if (v > threshold_ns) {
      slow += double(v);
      r.longest = std::max(r.longest, ++run);
    } else {
      run = 0;
    }
  }
  r.time_share = total > 0 ? slow / total : 0;
  return r;
}

/// What counts as slow in a cell whose p50 is `p50_ns`: ten times that,
/// and at least 10 us (a hot cross-CPU round trip takes well under one, a
/// wake-up of a sleeping peer tens of them).
inline std::uint64_t slow_threshold_ns(double p50_ns) {
  return std::max<std::uint64_t>(10000, std::uint64_t(10 * p50_ns));
}

/// Median, minimum and maximum of the non-NaN values.
struct Spread {
  double median = NAN, min = NAN, max = NAN;
};

inline Spread spread(std::vector<double> v) {
  std::erase_if(v, [](double x) { return std::isnan(x); });
  Spread s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  s.min = v.front();
  s.max = v.back();
  return s;
}

}  // namespace bench
