// SPDX-License-Identifier: MIT
//
// arrival_predictor.h — anticipating periodic calls on a slot.
//
// A client that calls at a steady rate (an audio period, a control loop, a
// poller) leaves its server thread asleep between calls, and every call
// then pays a cross-CPU wake-up: 35-100 us on a virtual machine, a few us on
// bare metal. Spinning through the whole gap would hide it at the cost of a
// CPU. The server instead learns the gap between calls and, once the gaps
// are regular, sleeps with a timer set to wake it shortly before the next
// call is due and spins only across the window where it may arrive.
//
// The policy, all per slot and owned by its bound thread:
//  * the last kGaps arrival gaps must all be known (no back-to-back bursts,
//    none longer than kMaxPeriodNs); the kTrim shortest and longest are
//    set aside as outliers;
//  * the timer is set `lead` early (at most half the shortest gap), `lead`
//    being the timer lateness seen: a jump up to any larger lateness, a
//    slow decay towards smaller ones, and at least the delay of a call that
//    arrived after the time asked for but before the timer woke the thread;
//  * the spin runs from the shortest gap seen to the longest plus a quarter
//    of their difference; a plan whose spin would last more than half the
//    shortest gap is refused, so anticipating spins less than half the time
//    (and the spin yields every 20 us to any task waiting for the CPU).
// Nothing here reads a clock or makes a syscall: the server passes times in.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace door::detail {

/// DOOR_ANTICIPATE=0 turns anticipation off (spinning stays as DOOR_SPIN_NS
/// says). Read once per process.
inline bool anticipation_enabled() noexcept {
  static const bool on = [] {
    const char *e = std::getenv("DOOR_ANTICIPATE");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on;
}

class ArrivalPredictor {
 public:
  static constexpr unsigned kGaps = 16;
  static constexpr unsigned kTrim = 2;  ///< gaps ignored at either end
  static constexpr std::uint64_t kMaxPeriodNs = 20'000'000;   ///< slower than 50 Hz: just sleep
  static constexpr std::uint64_t kInitialLeadNs = 20'000;
  static constexpr std::uint64_t kMaxLeadNs = 1'000'000;
  static constexpr std::uint64_t kSlackNs = 2'000;            ///< added to the spin window's end

  struct Plan {
    std::uint64_t wake_at;     ///< when to arm the timer for (already early by `lead`)
    std::uint64_t spin_until;  ///< when to give up spinning
  };

  /// A call arrived at `t_ns`; 0 means "during a burst" (the server found
  /// it without waiting, so no time was taken), which breaks the pattern.
  void arrived(std::uint64_t t_ns) noexcept {
    if (t_ns == 0 || last_ == 0 || t_ns <= last_ || t_ns - last_ > kMaxPeriodNs) {
      count_ = 0;
    } else {
      gaps_[count_ % kGaps] = t_ns - last_;
      count_++;
    }
    last_ = t_ns;
  }

  /// The plan for the next call, or false when calls are not regular
  /// enough to be worth anticipating.
  bool plan(Plan &p) const noexcept {
    if (count_ < kGaps) return false;
    // Trimmed: an outlier (a caller woken late or preempted) costs a miss,
    // not kGaps calls without anticipation. Replaying traces of a caller
    // paced at 500 us on this project's VM host, two trimmed at either end
    // of 16 caught 66% of calls, against 54% untrimmed over 8.
    std::uint64_t g[kGaps];
    std::copy(gaps_, gaps_ + kGaps, g);
    std::sort(g, g + kGaps);
    std::uint64_t min_gap = g[kTrim], max_gap = g[kGaps - 1 - kTrim], window = max_gap - min_gap;
    std::uint64_t due = last_ + min_gap;  // the earliest the next call came so far
    p.wake_at = due - std::min(lead_, min_gap / 2);
    p.spin_until = last_ + max_gap + window / 4 + kSlackNs;
    // The timer fires about `lead` late, so the spin starts near `due`.
    return 2 * (p.spin_until - due) <= min_gap;
  }

  /// A timed wake-up came `late_ns` after the time asked for.
  void timer_late(std::uint64_t late_ns) noexcept {
    late_ns = std::min(late_ns, kMaxLeadNs);
    lead_ = late_ns >= lead_ ? late_ns : lead_ - (lead_ - late_ns) / 8;
  }

  /// A call arrived at `arrival_ns` while the thread still slept on a
  /// timer asked for `wake_at`: when that was past the wake-up time, the
  /// timer is at least that late. (An earlier call only means a shorter
  /// gap, which arrived() records.)
  void call_beat_timer(std::uint64_t arrival_ns, std::uint64_t wake_at) noexcept {
    if (arrival_ns > wake_at) lead_ = std::min(std::max(lead_, arrival_ns - wake_at + kSlackNs), kMaxLeadNs);
  }

  std::uint64_t last_arrival() const noexcept { return last_; }
  std::uint64_t lead_ns() const noexcept { return lead_; }

 private:
  std::uint64_t gaps_[kGaps]{};
  std::uint64_t last_ = 0;
  std::uint64_t lead_ = kInitialLeadNs;
  unsigned count_ = 0;
};

}  // namespace door::detail
