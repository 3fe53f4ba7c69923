// SPDX-License-Identifier: MIT
//
// stats.h — libdoor's side of the statistics region doorstat(1) reads
// (layout: stats_layout.h). Everything here is off the call path except
// stats_ticks() and DoorStatsEntry::record(): two timestamps and one
// relaxed fetch_add per call served.
#pragma once

#include <atomic>
#include <cstdint>

#include "door_identity.h"
#include "stats_layout.h"

namespace door::detail {

/// A timestamp for latency: TSC ticks on x86 (no vDSO call), else ns.
inline std::uint64_t stats_ticks() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_ia32_rdtsc();
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
#endif
}

/// A door's entry in the region (owned by its ServerDoor). Empty when the
/// region could not be made or all kStatsDoors entries are taken: then
/// nothing is recorded for that door.
class DoorStatsEntry {
 public:
  DoorStatsEntry() noexcept = default;
  /// Frees the entry (the door is gone).
  ~DoorStatsEntry();
  DoorStatsEntry(const DoorStatsEntry &) = delete;
  DoorStatsEntry &operator=(const DoorStatsEntry &) = delete;

  /// Claims an entry for a door just created.
  void open(const DoorIdentity &ident) noexcept;
  /// The door was revoked.
  void revoked() noexcept;
  /// One call served in `ticks`. Relaxed: a counter, ordered with nothing.
  void record(std::uint64_t ticks) noexcept {
    if (e_) e_->latency[stats::latency_bucket(ticks)].fetch_add(1, std::memory_order_relaxed);
  }
  /// Pool counters of a DOOR_PRIVATE door (null without an entry).
  std::atomic<std::uint32_t> *pool_threads() noexcept { return e_ ? &e_->pool_threads : nullptr; }
  std::atomic<std::uint32_t> *pool_idle() noexcept { return e_ ? &e_->pool_idle : nullptr; }

 private:
  stats::StatsDoor *e_ = nullptr;
  std::uint64_t epoch_ = 0;  ///< region epoch it belongs to (a fork child starts a new one)
};

/// The public pool's counters (null if the region cannot be made).
std::atomic<std::uint32_t> *stats_public_threads() noexcept;
std::atomic<std::uint32_t> *stats_public_idle() noexcept;

/// A server thread joins a pool whose thread counter is `pool_counter`
/// (may be null); `counted` remembers where it was counted.
inline void stats_thread_join(std::atomic<std::uint32_t> *&counted, std::atomic<std::uint32_t> *pool_counter) noexcept {
  counted = pool_counter;
  if (counted) counted->fetch_add(1, std::memory_order_relaxed);
}
/// A server thread leaves the pool it was counted in.
inline void stats_thread_leave(std::atomic<std::uint32_t> *&counted) noexcept {
  if (counted) counted->fetch_sub(1, std::memory_order_relaxed);
  counted = nullptr;
}
/// Mirrors a pool's idle count (called under the pool's lock).
inline void stats_set(std::atomic<std::uint32_t> *counter, int value) noexcept {
  if (counter) counter->store(static_cast<std::uint32_t>(value), std::memory_order_relaxed);
}

/// Fork child: the region belongs to the parent; the child makes its own.
void stats_forget_after_fork() noexcept;

}  // namespace door::detail
