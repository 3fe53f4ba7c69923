// SPDX-License-Identifier: MIT
//
// stats.h — the few statistics door_bench reports: nearest-rank
// percentiles of one run's round trips, and the median and spread (min,
// max) of a metric across repeats ("median of medians").
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
