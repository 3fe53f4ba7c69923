// SPDX-License-Identifier: MIT
//
// params.h — a door's parameters (door_setparam / door_getparam) and its
// resource limits, with the setparam rules as a pure function.
//
// Limits (Linux extensions, DOOR_PARAM_*_NP in <door.h>):
//  * calls_max / client_calls_max: invocations of the door running or
//    waiting for a server thread, in all and per client process. A call
//    beyond either fails with EAGAIN without running. This bounds the
//    server threads one client (or all) can make the pool grow to.
//  * inflight_max / client_inflight_max: bytes of arguments larger than a
//    call slot (mapped from the client's memfd) held by running
//    invocations, in all and per client. A call that can never fit (larger
//    than the limit by itself) fails with E2BIG; one that does not fit now
//    fails with EAGAIN.
//  * client_conns_max: connections one client process may open to the
//    door (each maps a region of kSlots call slots in both processes). A
//    connection beyond it is refused: the call that needed it fails with
//    EAGAIN.
#pragma once

#include <door.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>

namespace door::detail {

inline constexpr std::uint64_t kDefaultCallsMax = 1024;
inline constexpr std::uint64_t kDefaultClientCallsMax = 256;
inline constexpr std::uint64_t kDefaultInflightMax = 1ull << 30;        // 1 GiB
inline constexpr std::uint64_t kDefaultClientInflightMax = 256ull << 20; // 256 MiB
inline constexpr std::uint64_t kDefaultClientConnsMax = 256;  // 16384 concurrent calls

/// A snapshot of every settable parameter of one door.
struct DoorParams {
  std::uint64_t data_min = 0;
  std::uint64_t data_max = SIZE_MAX;
  std::uint64_t desc_max = INT_MAX;
  std::uint64_t calls_max = kDefaultCallsMax;
  std::uint64_t client_calls_max = kDefaultClientCallsMax;
  std::uint64_t inflight_max = kDefaultInflightMax;
  std::uint64_t client_inflight_max = kDefaultClientInflightMax;
  std::uint64_t client_conns_max = kDefaultClientConnsMax;
};

/// door_setparam's checks, in the illumos kernel's order for its own
/// parameters (door_setparam in door_sys.c), applied to `p`. Returns 0 or
/// the errno; `p` is unchanged on error.
inline int apply_setparam(DoorParams &p, bool refuse_desc, int param, std::size_t val) noexcept {
  switch (param) {
    case DOOR_PARAM_DESC_MAX:
      if (val > INT_MAX) return ERANGE;
      if (refuse_desc && val != 0) return ENOTSUP;
      p.desc_max = val;
      return 0;
    case DOOR_PARAM_DATA_MIN:
      if (val > p.data_max) return EINVAL;
      p.data_min = val;
      return 0;
    case DOOR_PARAM_DATA_MAX:
      if (val < p.data_min) return EINVAL;
      p.data_max = val;
      return 0;
    case DOOR_PARAM_CALLS_MAX_NP:
    case DOOR_PARAM_CLIENT_CALLS_MAX_NP:
      // At least one call must be possible; counts are 32-bit.
      if (val < 1 || val > INT_MAX) return ERANGE;
      (param == DOOR_PARAM_CALLS_MAX_NP ? p.calls_max : p.client_calls_max) = val;
      return 0;
    case DOOR_PARAM_INFLIGHT_MAX_NP:
      p.inflight_max = val;
      return 0;
    case DOOR_PARAM_CLIENT_INFLIGHT_MAX_NP:
      p.client_inflight_max = val;
      return 0;
    case DOOR_PARAM_CLIENT_CONNS_MAX_NP:
      // At least one connection must be possible.
      if (val < 1 || val > INT_MAX) return ERANGE;
      p.client_conns_max = val;
      return 0;
    default:
      return EINVAL;
  }
}

/// door_getparam: the value of `param`, false for an unknown one.
inline bool read_param(const DoorParams &p, int param, std::uint64_t *out) noexcept {
  switch (param) {
    case DOOR_PARAM_DESC_MAX: *out = p.desc_max; return true;
    case DOOR_PARAM_DATA_MAX: *out = p.data_max; return true;
    case DOOR_PARAM_DATA_MIN: *out = p.data_min; return true;
    case DOOR_PARAM_CALLS_MAX_NP: *out = p.calls_max; return true;
    case DOOR_PARAM_CLIENT_CALLS_MAX_NP: *out = p.client_calls_max; return true;
    case DOOR_PARAM_INFLIGHT_MAX_NP: *out = p.inflight_max; return true;
    case DOOR_PARAM_CLIENT_INFLIGHT_MAX_NP: *out = p.client_inflight_max; return true;
    case DOOR_PARAM_CLIENT_CONNS_MAX_NP: *out = p.client_conns_max; return true;
    default: return false;
  }
}

/// Admission of `bytes` of large arguments against a per-client and a
/// per-door budget: 0, E2BIG (can never fit), or EAGAIN (not now).
inline int inflight_verdict(std::uint64_t bytes, std::uint64_t client_used, std::uint64_t client_max,
                            std::uint64_t door_used, std::uint64_t door_max) noexcept {
  if (bytes > client_max || bytes > door_max) return E2BIG;
  if (client_used > client_max - bytes || door_used > door_max - bytes) return EAGAIN;
  return 0;
}

}  // namespace door::detail
