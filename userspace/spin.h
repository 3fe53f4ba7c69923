// SPDX-License-Identifier: MIT
//
// spin.h — bounded adaptive spinning before a futex sleep.
//
// Waking a sleeping thread on another CPU costs tens of microseconds here
// (an idle vCPU must be kicked through the hypervisor); a peer that answers
// within a few microseconds is caught far cheaper by spinning. The policy:
//  * never spin when the peer last ran on this CPU (it cannot make progress
//    while we spin: measured 10x worse) or with only one usable CPU;
//  * with scx_door loaded, the peer is handed this CPU when we block, so
//    spinning would only delay it: spin only once the peer has run on
//    another CPU kApartBeforeSpin waits in a row — the handoff is not
//    happening (the two are pinned apart, or the scheduler declines it),
//    and without spinning every call would pay two cross-CPU wake-ups;
//  * spin up to the current budget; a hit sets the budget to twice the wait
//    it took (so it tracks the peer's real response time), a miss halves
//    it, down to kFloorNs; every 16th wait re-probes with the full cap so a
//    peer that became fast again is noticed. The first ~1 us spins without
//    reading the clock (hits there keep the budget).
// DOOR_SPIN_NS sets the cap (default 50 us; 0 disables spinning). A wait
// that includes copying large data raises the cap by the copy's expected
// time (copy_time_ns): a 1 MiB call keeps both sides spinning through the
// peer's copies instead of paying a cross-CPU wake-up per direction.
// Longer gaps between calls are covered by anticipation on the server side
// (arrival_predictor.h), which sleeps first and spins only near the call.
#pragma once

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "futex.h"
#include "handoff.h"

namespace door::detail {

/// Spin cap in ns (DOOR_SPIN_NS, default 50 us: waking a sleeping peer on
/// another vCPU was measured at 35-55 us here, so any shorter wait is
/// cheaper spun).
inline std::uint32_t spin_cap_ns() noexcept {
  static const std::uint32_t cap = [] {
    const char *e = std::getenv("DOOR_SPIN_NS");
    return e ? static_cast<std::uint32_t>(std::strtoul(e, nullptr, 10)) : 50000u;
  }();
  return cap;
}

/// Online CPUs (spinning needs a second one for the peer). Not this
/// thread's affinity: a caller pinned to one CPU still gains by spinning
/// while its server runs on another.
inline long online_cpus() noexcept {
  static const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n;
}

/// Expected time for the peer to copy `bytes` (at 8 bytes per ns, slower
/// than memcpy here even across CPUs): added to the spin cap of a wait
/// that covers such copies.
inline std::uint64_t copy_time_ns(std::uint64_t bytes) noexcept { return bytes / 8; }

/// Per-waiter adaptive budget (owned by one thread at a time).
struct AdaptiveSpin {
  static constexpr std::uint32_t kFloorNs = 1000;
  static constexpr int kClocklessSpins = 32;  ///< about 1 us of PAUSEs
  static constexpr std::uint32_t kApartBeforeSpin = 4;
  std::uint32_t budget_ns = 0;  ///< 0: not yet initialised (starts at the cap)
  std::uint32_t waits = 0;
  std::uint32_t apart = 0;      ///< consecutive waits with the peer on another CPU (capped)

  /// True when scx_door's handoff is not keeping the peer on this CPU (or
  /// scx_door is not loaded): spinning for it may pay.
  bool handoff_absent() const noexcept {
    return apart >= kApartBeforeSpin || !g_handoff_active.load(std::memory_order_relaxed);
  }

  /// Spins until `ready()` or the budget runs out; true on success.
  /// `copy_ns`: the peer's expected copying time in this wait (copy_time_ns).
  /// `hit_ns`, if given, receives the clock time of a hit, or 0 for a hit
  /// before the clock was first read (the wait was too short to time).
  template <class Ready>
  bool spin(int peer_cpu, Ready ready, std::uint64_t copy_ns = 0, std::uint64_t *hit_ns = nullptr) noexcept {
    std::uint32_t cap = spin_cap_ns();
    if (cap == 0 || online_cpus() < 2) return false;
    if (peer_cpu == sched_getcpu()) {
      apart = 0;
      return false;
    }
    if (apart < kApartBeforeSpin) {
      apart++;
      if (g_handoff_active.load(std::memory_order_relaxed) && apart < kApartBeforeSpin) return false;
    }
    cap = static_cast<std::uint32_t>(std::min<std::uint64_t>(cap + copy_ns, UINT32_MAX / 2));
    if (budget_ns == 0) budget_ns = cap;
    std::uint32_t budget = (++waits % 16 == 0) ? cap : std::min(budget_ns, cap);
    // First phase without the clock: a hot peer answers within a few
    // hundred ns, and each clock read costs about 30 ns here (four per
    // round trip were half the gap to the busy-poll floor). A hit here
    // leaves the budget as it is.
    for (int k = 0; k < kClocklessSpins; k++) {
      if (ready()) {
        if (hit_ns) *hit_ns = 0;
        return true;
      }
      cpu_relax();
    }
    std::uint64_t t0 = now_ns(), t = t0;
    do {
      for (int k = 0; k < 64; k++) {
        if (ready()) {
          std::uint64_t hit = now_ns(), took = hit - t0;
          if (hit_ns) *hit_ns = hit;
          budget_ns = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(2 * took, kFloorNs, cap));
          return true;
        }
        cpu_relax();
      }
      t = now_ns();
    } while (t - t0 < budget);
    budget_ns = std::max(kFloorNs, budget_ns / 2);
    return false;
  }
};

/// Spins until `ready()` or the clock passes `deadline_ns`; the clock
/// time of the hit, or 0 when the deadline passed first. Yields the CPU
/// every kYieldEveryNs: a task waiting for this CPU — possibly the very
/// caller being waited for, moved here since its last call — runs instead
/// of queueing behind the spin (measured without it: six unpinned periodic
/// callers on two CPUs, p99 x2 and the server's CPU x2-6).
template <class Ready>
std::uint64_t spin_until(std::uint64_t deadline_ns, Ready ready) noexcept {
  constexpr std::uint64_t kYieldEveryNs = 20000;
  std::uint64_t next_yield = now_ns() + kYieldEveryNs;
  for (;;) {
    for (int k = 0; k < 64; k++) {
      if (ready()) return now_ns();
      cpu_relax();
    }
    std::uint64_t t = now_ns();
    if (t >= deadline_ns) return 0;
    if (t >= next_yield) {
      sched_yield();
      next_yield = t + kYieldEveryNs;
    }
  }
}

}  // namespace door::detail
