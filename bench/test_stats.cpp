// SPDX-License-Identifier: MIT
//
// test_stats.cpp — the statistics door_bench reports (stats.h): nearest-rank
// percentiles, runs of slow round trips, and the median and spread.
#include "stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace bench {
namespace {

TEST(Percentile, NearestRank) {
  const std::vector<std::uint64_t> v{10, 20, 30, 40};
  EXPECT_EQ(percentile(v, 0.50), 20);
  EXPECT_EQ(percentile(v, 0.99), 40);
  EXPECT_TRUE(std::isnan(percentile({}, 0.5)));
}

TEST(SlowRuns, ShareOfTimeAndLongestRun) {
  // In call order: two runs of slow round trips (2 and 3 long).
  const std::vector<std::uint64_t> v{1, 50, 60, 1, 1, 70, 80, 90, 1};
  const SlowRuns r = slow_runs(v, 10);
  EXPECT_DOUBLE_EQ(r.time_share, 350.0 / 354.0);
  EXPECT_EQ(r.longest, 3u);
}

TEST(SlowRuns, NoneSlowAndEmpty) {
  const SlowRuns none = slow_runs({5, 6, 7}, 10);
  EXPECT_DOUBLE_EQ(none.time_share, 0.0);
  EXPECT_EQ(none.longest, 0u);
  const SlowRuns empty = slow_runs({}, 10);
  EXPECT_TRUE(std::isnan(empty.time_share));
  EXPECT_EQ(empty.longest, 0u);
}

TEST(SlowRuns, ThresholdIsTenTimesP50AtLeastTenMicroseconds) {
  EXPECT_EQ(slow_threshold_ns(250), 10000u);       // a hot cross-CPU round trip
  EXPECT_EQ(slow_threshold_ns(7000), 70000u);      // a same-CPU one
  EXPECT_EQ(slow_threshold_ns(0), 10000u);
}

TEST(Spread, MedianMinMaxSkippingNaN) {
  const Spread s = spread({3, NAN, 1, 2, 10});
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 10);
  EXPECT_TRUE(std::isnan(spread({NAN}).median));
}

}  // namespace
}  // namespace bench
