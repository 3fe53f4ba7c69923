// SPDX-License-Identifier: MIT
//
// stats_layout.h — the per-process statistics region read by doorstat(1).
//
// A process that creates doors publishes one memfd named "ldoor-stats"
// (it shows in /proc/<pid>/fd as "/memfd:ldoor-stats (deleted)"; a reader
// with the same uid, or root, opens it through that link and maps it
// read-only). Shared between libdoor (writer) and tools/doorstat (reader):
// fixed-width types, explicit padding, sizes and offsets pinned below.
// A reader checks magic, version and sizes and refuses anything else.
//
//   [StatsHeader 256][StatsDoor 0]...[StatsDoor kStatsDoors-1]
//
// Writers: a door's entry is claimed with a CAS on `state` (Free ->
// Claiming), filled, then published with a release store (Live); a reader
// acquires `state` before trusting the identity fields, and re-reads `seq`
// around its copy so an entry reused meanwhile is skipped. Counters are
// relaxed atomics written by the door's own server threads: each call adds
// ONE relaxed fetch_add to ONE histogram bucket in the door's entry, and
// takes two timestamps (TSC ticks on x86: no vDSO call, no syscall; the
// reader converts ticks with its own calibration, valid because the TSC is
// shared by every process of the machine — `clock` says which unit).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace door::stats {

inline constexpr std::uint32_t kStatsMagic = 0x5453444cu;  // "LDST"
inline constexpr std::uint32_t kStatsVersion = 1;
inline constexpr std::uint32_t kStatsDoors = 256;          ///< doors tracked per process
inline constexpr std::uint32_t kLatencyBuckets = 48;       ///< bucket b: [2^b, 2^(b+1)) ticks
inline constexpr char kStatsMemfdName[] = "ldoor-stats";

/// Unit of latency ticks.
enum StatsClock : std::uint32_t { kClockNs = 1, kClockTsc = 2 };

/// StatsDoor::state values.
enum DoorState : std::uint32_t { kDoorFree = 0, kDoorClaiming = 1, kDoorLive = 2, kDoorRevoked = 3 };

/// Region header (written once at creation; pool counters later).
struct StatsHeader {
  std::uint32_t magic;
  std::uint32_t version;
  std::uint32_t header_size;   ///< sizeof(StatsHeader)
  std::uint32_t door_size;     ///< sizeof(StatsDoor)
  std::uint32_t ndoors;        ///< kStatsDoors
  std::uint32_t clock;         ///< StatsClock
  std::int32_t pid;            ///< the publishing process (its own pid namespace)
  std::uint32_t pad0;
  alignas(64) std::atomic<std::uint32_t> public_threads;  ///< threads in the public pool
  std::atomic<std::uint32_t> public_idle;                 ///< of them waiting for work
  std::uint8_t pad1[256 - 72];
};

/// One door created by the process. Line 0: identity and its private
/// pool; lines 1..: the latency histogram (calls served = its sum).
struct StatsDoor {
  alignas(64) std::atomic<std::uint32_t> state;  ///< DoorState
  std::atomic<std::uint32_t> seq;                ///< bumped each time the entry is claimed
  std::uint64_t id;                              ///< di_uniquifier
  std::uint32_t attributes;                      ///< creation attributes
  std::uint32_t pad0;
  std::uint64_t proc;                            ///< server procedure (creator's space)
  std::uint64_t cookie;
  std::atomic<std::uint32_t> pool_threads;       ///< DOOR_PRIVATE: threads in its pool
  std::atomic<std::uint32_t> pool_idle;          ///< of them waiting for work
  std::uint8_t pad1[8];
  /// Service time (claim of the call to the reply being published) of
  /// every call served, log2 buckets of `clock` units.
  alignas(64) std::atomic<std::uint64_t> latency[kLatencyBuckets];
};

static_assert(sizeof(StatsHeader) == 256);
static_assert(offsetof(StatsHeader, public_threads) == 64);
static_assert(sizeof(StatsDoor) == 64 + 8 * kLatencyBuckets);
static_assert(offsetof(StatsDoor, pool_threads) == 40);
static_assert(offsetof(StatsDoor, latency) == 64);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

inline constexpr std::size_t kStatsRegionSize = sizeof(StatsHeader) + std::size_t(kStatsDoors) * sizeof(StatsDoor);

/// The entry of door `i` in a mapped region.
inline StatsDoor *stats_door(void *region, std::uint32_t i) noexcept {
  return reinterpret_cast<StatsDoor *>(static_cast<char *>(region) + sizeof(StatsHeader) + i * sizeof(StatsDoor));
}

/// Bucket of a latency of `ticks` (floor(log2), 0 for 0 and 1).
inline std::uint32_t latency_bucket(std::uint64_t ticks) noexcept {
  std::uint32_t b = ticks > 1 ? 63u - static_cast<std::uint32_t>(__builtin_clzll(ticks)) : 0u;
  return b < kLatencyBuckets ? b : kLatencyBuckets - 1;
}

}  // namespace door::stats
