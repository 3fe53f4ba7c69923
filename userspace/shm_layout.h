// SPDX-License-Identifier: MIT
//
// shm_layout.h — the shared-memory call region of one client connection.
//
// One region per (client process, door) connection: a memfd created and
// sealed against shrinking by the SERVER (so a client can never truncate it
// under the server and make it fault), mapped by both sides. It holds a
// header and kSlots call slots; each slot carries one call at a time.
//
//   [RegionHeader 4096][Slot 0: SlotHeader 256 | data kSlotData]...[Slot 63]
//
// Everything the client can write is untrusted: the server reads each field
// once into a local and validates it before use.
//
// Futex words and the call protocol (seq = 27-bit call number, never 0):
//   req   client->server. seq of the latest posted call | kReqBound (a server
//         thread owns the slot) | kReqWaiting (that thread sleeps on req) |
//         kDead (server side saw the client die).
//   claim server-owned line. seq|kClaimRunning when a server thread takes a
//         call; the client writes seq|kClaimWithdrawn to take back a call no
//         thread has claimed yet (door_call then fails with EAGAIN). The two
//         CASes decide exactly once whether a call runs.
//   rsp   server->client. seq|kRspDone when the reply is in the slot |
//         kRspWaiting (the caller sleeps on rsp) | kDead (client side saw
//         the server die).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace door::detail {

inline constexpr std::uint32_t kRegionMagic = 0x52444f4cu;  // "LODR"
inline constexpr std::uint32_t kRegionVersion = 2;  // 2: bulk areas
inline constexpr std::uint32_t kSlots = 64;
inline constexpr std::uint32_t kSlotData = 128 * 1024;
inline constexpr std::size_t kRegionHeaderSize = 4096;
inline constexpr std::size_t kSlotHeaderSize = 256;
inline constexpr std::size_t kSlotStride = kSlotHeaderSize + kSlotData;
inline constexpr std::size_t kRegionSize = kRegionHeaderSize + kSlots * kSlotStride;
/// Data of kSlotData < size <= kBulkMax bytes goes through the slot's
/// reusable bulk areas (bulk.h); larger data in a one-shot sealed memfd
/// (attachments.h). Bounds what each slot keeps mapped on both sides.
inline constexpr std::size_t kBulkMax = 4u << 20;

inline constexpr std::uint32_t kSeqMask = (1u << 27) - 1;
inline constexpr std::uint32_t kDead = 1u << 29;
inline constexpr std::uint32_t kReqBound = 1u << 30;
inline constexpr std::uint32_t kReqWaiting = 1u << 31;
inline constexpr std::uint32_t kRspDone = 1u << 28;
inline constexpr std::uint32_t kRspWaiting = 1u << 31;
inline constexpr std::uint32_t kClaimRunning = 1u << 28;
inline constexpr std::uint32_t kClaimWithdrawn = 1u << 29;

/// Next call number after `s` (27 bits, skipping 0 so a fresh slot is idle).
inline constexpr std::uint32_t next_seq(std::uint32_t s) noexcept {
  std::uint32_t n = (s + 1) & kSeqMask;
  return n == 0 ? 1 : n;
}

// Call flags (SlotHeader::call_flags, client-written).
inline constexpr std::uint32_t kCallNoResults = 1u << 0;  ///< door_call(d, NULL)
inline constexpr std::uint32_t kCallViaChannel = 1u << 1; ///< fds/large data on the slot channel
inline constexpr std::uint32_t kCallArgsInBulk = 1u << 2; ///< arguments in bulk area arg_bulk_gen
// Result flags (SlotHeader::result_flags, server-written).
inline constexpr std::uint32_t kResultViaChannel = 1u << 0;
inline constexpr std::uint32_t kResultInBulk = 1u << 1;  ///< results in bulk area result_bulk_gen

/// Region header: written by the server at creation; `revoked` and the
/// parameter copies are updated by the server later. Informational for the
/// client — the server re-checks everything it enforces.
struct RegionHeader {
  std::uint32_t magic;
  std::uint32_t version;
  std::uint32_t header_size;
  std::uint32_t slot_header_size;
  std::uint32_t nslots;
  std::uint32_t slot_data;
  std::uint64_t region_size;
  std::uint64_t door_id;
  std::uint32_t door_attributes;
  std::atomic<std::uint32_t> revoked;
  std::atomic<std::uint64_t> data_min;
  std::atomic<std::uint64_t> data_max;
  std::atomic<std::uint64_t> desc_max;
  // Resource limits (params.h), appended in the header's spare space.
  std::atomic<std::uint64_t> calls_max;
  std::atomic<std::uint64_t> client_calls_max;
  std::atomic<std::uint64_t> inflight_max;
  std::atomic<std::uint64_t> client_inflight_max;
  std::atomic<std::uint64_t> client_conns_max;
};

/// One call slot's header; the data area follows it.
struct SlotHeader {
  // Cache line 0: client-written.
  alignas(64) std::atomic<std::uint32_t> req;
  std::uint32_t call_flags;
  std::uint64_t arg_size;
  std::uint32_t arg_ndesc;
  std::uint32_t client_cpu;
  std::uint64_t client_token;  ///< scheduler handoff token of the caller
  char small_args[32];         ///< arguments of <= kSmallArgs bytes ride here
  // Cache line 1: server-written, read by the client after rsp says done.
  alignas(64) std::atomic<std::uint32_t> rsp;
  std::int32_t error;          ///< errno for the caller, 0 on success
  std::uint64_t result_size;
  std::uint32_t result_ndesc;
  std::uint32_t result_flags;
  std::uint64_t server_token;  ///< scheduler handoff token of the server thread
  std::uint32_t server_cpu;
  std::uint32_t result_offset; ///< where inline results start (kResultInHeader: small_result)
  char small_result[24];       ///< results of <= kSmallResult bytes ride here
  // Cache line 2: claim word, touched by the client only on interruption;
  // then the server's bulk-area words (bulk.h), written for large calls only.
  alignas(64) std::atomic<std::uint32_t> claim;
  std::uint32_t arg_bulk_held;     ///< generation of the client's arg area the server has mapped
  std::uint32_t result_bulk_gen;   ///< generation of the server's area holding the results
  // Cache line 3: the client's bulk-area words, written for large calls
  // only, and the time of its last wake-up of the server (slow path only).
  alignas(64) std::uint32_t arg_bulk_gen;  ///< generation of the client's area holding the arguments
  std::uint32_t result_bulk_held;  ///< generation of the server's result area the client has mapped
  /// CLOCK_MONOTONIC ns at which the caller posted a call it had to wake
  /// the server thread for: the call's arrival time, for the server's
  /// arrival predictor (arrival_predictor.h). Untrusted, like all of it.
  std::atomic<std::uint64_t> wake_ns;
};

static_assert(sizeof(RegionHeader) <= kRegionHeaderSize);
static_assert(sizeof(SlotHeader) <= kSlotHeaderSize);
static_assert(offsetof(SlotHeader, req) == 0);
static_assert(offsetof(SlotHeader, rsp) == 64);
static_assert(offsetof(SlotHeader, claim) == 128);
static_assert(offsetof(SlotHeader, arg_bulk_gen) == 192);
static_assert(offsetof(SlotHeader, small_args) + sizeof(SlotHeader::small_args) == 64);
static_assert(offsetof(SlotHeader, small_result) + sizeof(SlotHeader::small_result) == 128);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

/// Payloads this small travel inside the cache line that carries their
/// futex word (req for arguments, rsp for results): a small call moves two
/// cache lines between CPUs instead of four.
inline constexpr std::uint32_t kSmallArgs = 32;
inline constexpr std::uint32_t kSmallResult = 24;
inline constexpr std::uint32_t kResultInHeader = 0xffffffffu;

/// Inline results that fit in the upper half of the data area go there, so
/// arguments (lower half, client-written) and results (server-written) never
/// share cache lines: each line crosses between CPUs once per call instead
/// of bouncing twice.
inline constexpr std::uint32_t kResultHalf = kSlotData / 2;
inline constexpr std::uint32_t result_offset_for(std::uint64_t size) noexcept {
  return size <= kResultHalf ? kResultHalf : 0;
}

inline SlotHeader *slot_at(void *region, std::uint32_t i) noexcept {
  return reinterpret_cast<SlotHeader *>(static_cast<char *>(region) + kRegionHeaderSize +
                                        std::size_t(i) * kSlotStride);
}
inline char *slot_data(SlotHeader *s) noexcept {
  return reinterpret_cast<char *>(s) + kSlotHeaderSize;
}

}  // namespace door::detail
