// SPDX-License-Identifier: MIT
//
// Anticipating periodic calls (userspace/arrival_predictor.h): the
// predictor's policy on synthetic arrival times, then door calls paced like
// a periodic client, checked for correct results and for a server that
// survives callers stopping or dying while it anticipates them. Whether a
// call was caught early depends on timers, so no test asserts on it
// (bench/ measures it).
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "arrival_predictor.h"
#include "door_test_util.h"

using door::detail::ArrivalPredictor;
using doortest::ServerProcess;

namespace {

constexpr std::uint64_t kUs = 1000;

/// Feeds `n` arrivals every `period` ns, each late by the next value of
/// `jitter` (cycled), starting at `t0`; returns the last arrival.
std::uint64_t feed(ArrivalPredictor &p, std::uint64_t t0, std::uint64_t period, unsigned n,
                   const std::vector<std::uint64_t> &jitter = {0}) {
  std::uint64_t t = 0;
  for (unsigned k = 0; k < n; k++) {
    t = t0 + k * period + jitter[k % jitter.size()];
    p.arrived(t);
  }
  return t;
}

}  // namespace

TEST(ArrivalPredictor, NoPlanUntilEnoughGapsAreKnown) {
  ArrivalPredictor p;
  ArrivalPredictor::Plan plan;
  // kGaps gaps need kGaps + 1 arrivals.
  feed(p, 1'000'000, 500 * kUs, ArrivalPredictor::kGaps);
  EXPECT_FALSE(p.plan(plan));
  p.arrived(1'000'000 + ArrivalPredictor::kGaps * 500 * kUs);
  EXPECT_TRUE(p.plan(plan));
}

TEST(ArrivalPredictor, RegularCallsGiveAWindowAroundTheNextOne) {
  ArrivalPredictor p;
  std::vector<std::uint64_t> jitter{0, 30 * kUs, 10 * kUs, 50 * kUs, 20 * kUs, 40 * kUs};
  std::uint64_t last = feed(p, 5'000'000, 500 * kUs, 40, jitter);
  ArrivalPredictor::Plan plan;
  ASSERT_TRUE(p.plan(plan));
  // Gaps range over 500 us +- 50 us: the timer is armed before the
  // earliest (trimmed) gap, the spin covers the latest.
  EXPECT_LT(plan.wake_at, last + 460 * kUs);
  EXPECT_GT(plan.wake_at, last + 300 * kUs);
  EXPECT_GE(plan.spin_until, last + 540 * kUs);
  EXPECT_LT(plan.spin_until, last + 700 * kUs);
  EXPECT_LT(plan.wake_at, plan.spin_until);
}

TEST(ArrivalPredictor, ABurstOrALongPauseForgetsThePattern) {
  ArrivalPredictor p;
  ArrivalPredictor::Plan plan;
  std::uint64_t last = feed(p, 1'000'000, 200 * kUs, 30);
  ASSERT_TRUE(p.plan(plan));
  p.arrived(0);  // a call found without waiting
  EXPECT_FALSE(p.plan(plan));
  last = feed(p, last + 1'000'000, 200 * kUs, 30);
  ASSERT_TRUE(p.plan(plan));
  p.arrived(last + ArrivalPredictor::kMaxPeriodNs + 1);  // slower than anticipating is worth
  EXPECT_FALSE(p.plan(plan));
}

TEST(ArrivalPredictor, TimeGoingBackwardsForgetsThePattern) {
  // A forged or stale caller stamp must not produce a huge gap.
  ArrivalPredictor p;
  ArrivalPredictor::Plan plan;
  std::uint64_t last = feed(p, 1'000'000, 300 * kUs, 30);
  ASSERT_TRUE(p.plan(plan));
  p.arrived(last - 1);
  EXPECT_FALSE(p.plan(plan));
  p.arrived(last - 1);  // equal to the previous arrival
  EXPECT_FALSE(p.plan(plan));
}

TEST(ArrivalPredictor, IrregularCallsAreNotAnticipated) {
  ArrivalPredictor p;
  ArrivalPredictor::Plan plan;
  std::mt19937_64 rng(3);
  std::uint64_t t = 1'000'000;
  for (int k = 0; k < 200; k++) {
    t += 50 * kUs + rng() % (2000 * kUs);  // 50 us .. 2 ms apart
    p.arrived(t);
  }
  EXPECT_FALSE(p.plan(plan));
}

TEST(ArrivalPredictor, OneOutlierDoesNotStopAnticipation) {
  ArrivalPredictor p;
  ArrivalPredictor::Plan plan;
  std::uint64_t last = feed(p, 1'000'000, 500 * kUs, 30);
  p.arrived(last + 1500 * kUs);  // one late call
  last += 1500 * kUs;
  p.arrived(last + 100 * kUs);  // and the early one after it
  EXPECT_TRUE(p.plan(plan));
}

TEST(ArrivalPredictor, NeverPlansToSpinMoreThanHalfTheShortestGap) {
  // Whatever the arrivals, an accepted plan's spin (from the earliest
  // due time to its end) is at most half the shortest gap kept.
  std::mt19937_64 rng(11);
  int accepted = 0;
  for (int trial = 0; trial < 2000; trial++) {
    ArrivalPredictor p;
    std::uint64_t period = (20 + rng() % 2000) * kUs, spread = rng() % (period / 2 + 1), t = 1'000'000;
    std::vector<std::uint64_t> gaps;
    for (unsigned k = 0; k <= ArrivalPredictor::kGaps; k++) {
      std::uint64_t g = period + rng() % (spread + 1);
      if (k) gaps.push_back(g);
      t += g;
      p.arrived(t);
    }
    ArrivalPredictor::Plan plan;
    if (!p.plan(plan)) continue;
    accepted++;
    std::sort(gaps.begin(), gaps.end());
    std::uint64_t min_gap = gaps[ArrivalPredictor::kTrim];
    EXPECT_LE(2 * (plan.spin_until - (t + min_gap)), min_gap) << "period " << period << " spread " << spread;
    EXPECT_LE(plan.wake_at, t + min_gap);
    EXPECT_GE(plan.wake_at, t + min_gap / 2);
  }
  EXPECT_GT(accepted, 100);  // the property was checked on plenty of plans
}

TEST(ArrivalPredictor, LeadFollowsTimerLateness) {
  ArrivalPredictor p;
  EXPECT_EQ(p.lead_ns(), ArrivalPredictor::kInitialLeadNs);
  p.timer_late(80 * kUs);  // up at once
  EXPECT_EQ(p.lead_ns(), 80 * kUs);
  p.timer_late(0);  // down slowly
  EXPECT_EQ(p.lead_ns(), 70 * kUs);
  for (int k = 0; k < 200; k++) p.timer_late(5 * kUs);
  EXPECT_LE(p.lead_ns(), 6 * kUs);
  EXPECT_GE(p.lead_ns(), 5 * kUs);
  p.timer_late(10'000'000'000ull);  // absurd lateness is capped
  EXPECT_EQ(p.lead_ns(), ArrivalPredictor::kMaxLeadNs);
}

TEST(ArrivalPredictor, ACallThatBeatsTheTimerRaisesTheLead) {
  ArrivalPredictor p;
  p.timer_late(10 * kUs);
  p.call_beat_timer(1'000'000 + 40 * kUs, 1'000'000);  // came 40 us after the wake-up asked for
  EXPECT_GE(p.lead_ns(), 40 * kUs);
  std::uint64_t lead = p.lead_ns();
  p.call_beat_timer(1'000'000 - 40 * kUs, 1'000'000);  // came early: a short gap, not a late timer
  EXPECT_EQ(p.lead_ns(), lead);
  // The plan never arms the timer more than half the shortest gap early.
  p.call_beat_timer(10'000'000'000ull, 0);
  std::uint64_t last = feed(p, 1'000'000, 400 * kUs, 30);
  ArrivalPredictor::Plan plan;
  ASSERT_TRUE(p.plan(plan));
  EXPECT_GE(plan.wake_at, last + 200 * kUs);
}

// ---- paced door calls --------------------------------------------------

namespace {

/// Sleeps until `deadline` (CLOCK_MONOTONIC ns).
void sleep_until(std::uint64_t deadline) {
  const struct timespec ts{static_cast<time_t>(deadline / 1000000000u), static_cast<long>(deadline % 1000000000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

std::uint64_t mono_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

/// `n` calls, one every `period_ns`, each checked; the number answered
/// correctly.
int paced_calls(int d, unsigned n, std::uint64_t period_ns, const std::string &tag) {
  int good = 0;
  std::uint64_t next = mono_ns() + period_ns;
  for (unsigned k = 0; k < n; k++, next += period_ns) {
    sleep_until(next);
    std::string m = tag + std::to_string(k);
    good += doortest::call_str(d, m) == m;
  }
  return good;
}

bool alive(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) == 0; }

/// The CPUs this process may use.
std::vector<int> allowed_cpus() {
  cpu_set_t set;
  std::vector<int> v;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; c++)
      if (CPU_ISSET(c, &set)) v.push_back(c);
  return v;
}

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

/// An echo server pinned to one CPU and this test (the caller) to another,
/// where there are two: the server anticipates only a caller on another
/// CPU. Restores the caller's affinity when done.
class PinnedEcho {
 public:
  PinnedEcho()
      : cpus_(allowed_cpus()), srv_([this] {
          if (cpus_.size() >= 2) pin_to(cpus_.back());
          return std::vector<int>{door_create(doortest::echo_proc, nullptr, 0)};
        }) {
    if (cpus_.size() >= 2) pin_to(cpus_.front());
  }
  ~PinnedEcho() {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cpus_) CPU_SET(c, &set);
    sched_setaffinity(0, sizeof set, &set);
  }
  int door() const { return srv_.door(); }
  pid_t pid() const { return srv_.pid(); }

 private:
  std::vector<int> cpus_;
  ServerProcess srv_;
};

}  // namespace

TEST(Anticipation, PeriodicCallsAreAnsweredExactly) {
  // Long enough for the server to learn the period and anticipate the
  // rest, at two rates.
  PinnedEcho srv;
  EXPECT_EQ(paced_calls(srv.door(), 60, 1'000'000, "ms-"), 60);
  EXPECT_EQ(paced_calls(srv.door(), 60, 300'000, "fast-"), 60);
}

TEST(Anticipation, ACallerThatStopsAndComesBackIsAnswered) {
  // The anticipated call never comes: the server's spin ends and it
  // sleeps; a call much later, and a burst, are still answered.
  PinnedEcho srv;
  ASSERT_EQ(paced_calls(srv.door(), 40, 500'000, "a-"), 40);
  usleep(50'000);
  EXPECT_EQ(doortest::call_str(srv.door(), "later"), "later");
  for (int k = 0; k < 100; k++) ASSERT_EQ(doortest::call_str(srv.door(), "burst"), "burst");
  EXPECT_EQ(paced_calls(srv.door(), 40, 700'000, "b-"), 40);
}

TEST(Anticipation, ACallerKilledBetweenPeriodicCallsLeavesTheServerServing) {
  // A client killed while the server thread anticipates its next call:
  // the thread must notice the connection die and leave, and the door
  // keep serving others.
  PinnedEcho srv;
  int d = srv.door();
  for (int round = 0; round < 3; round++) {
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    pid_t c = fork();
    if (c == 0) {
      close(ready[0]);
      alarm(30);
      if (paced_calls(d, 40, 400'000, "victim-") != 40) _exit(2);
      char b = 1;
      if (write(ready[1], &b, 1) != 1) _exit(3);
      for (;;) paced_calls(d, 1000, 400'000, "more-");
    }
    close(ready[1]);
    char b;
    ASSERT_EQ(read(ready[0], &b, 1), 1);
    close(ready[0]);
    usleep(static_cast<useconds_t>(100 + round * 130));  // somewhere in a gap
    kill(c, SIGKILL);
    int st;
    waitpid(c, &st, 0);
    ASSERT_TRUE(WIFSIGNALED(st)) << "client failed early, status " << st;
    EXPECT_EQ(paced_calls(d, 20, 300'000, "other-"), 20);
  }
  EXPECT_TRUE(alive(srv.pid()));
}
