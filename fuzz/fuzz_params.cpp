// SPDX-License-Identifier: MIT
//
// fuzz_params.cpp — door_setparam/door_getparam handling (params.h:
// apply_setparam, read_param, inflight_verdict): any sequence of settings
// keeps the parameters consistent, a refused setting changes nothing, and
// the in-flight budget never admits more than its limit.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstring>

#include "fuzz_check.h"
#include "params.h"

using namespace door::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const bool refuse = in.ConsumeBool();
  DoorParams p;
  if (refuse) p.desc_max = 0;
  static const int kParams[] = {0,
                                DOOR_PARAM_DESC_MAX,
                                DOOR_PARAM_DATA_MAX,
                                DOOR_PARAM_DATA_MIN,
                                DOOR_PARAM_CALLS_MAX_NP,
                                DOOR_PARAM_CLIENT_CALLS_MAX_NP,
                                DOOR_PARAM_INFLIGHT_MAX_NP,
                                DOOR_PARAM_CLIENT_INFLIGHT_MAX_NP,
                                DOOR_PARAM_CLIENT_CONNS_MAX_NP,
                                4,
                                -1};
  while (in.remaining_bytes() > 0) {
    int param = in.ConsumeBool() ? in.PickValueInArray(kParams) : in.ConsumeIntegral<int>();
    std::size_t val = in.ConsumeBool() ? in.ConsumeIntegralInRange<std::size_t>(0, 4096)
                                       : in.ConsumeIntegral<std::size_t>();
    DoorParams before = p;
    int e = apply_setparam(p, refuse, param, val);
    if (e) {
      FUZZ_REQUIRE(std::memcmp(&before, &p, sizeof p) == 0, "a refused setting changes nothing");
      FUZZ_REQUIRE(e == EINVAL || e == ERANGE || e == ENOTSUP, "documented errnos");
    } else {
      std::uint64_t got = 0;
      FUZZ_REQUIRE(read_param(p, param, &got) && got == val, "getparam returns what was set");
    }
    FUZZ_REQUIRE(p.data_min <= p.data_max, "DATA_MIN <= DATA_MAX");
    FUZZ_REQUIRE(p.desc_max <= INT_MAX, "DESC_MAX <= INT_MAX");
    FUZZ_REQUIRE(!refuse || p.desc_max == 0, "DOOR_REFUSE_DESC keeps DESC_MAX at 0");
    FUZZ_REQUIRE(p.calls_max >= 1 && p.calls_max <= INT_MAX, "calls_max in range");
    FUZZ_REQUIRE(p.client_calls_max >= 1 && p.client_calls_max <= INT_MAX, "client_calls_max in range");
    FUZZ_REQUIRE(p.client_conns_max >= 1 && p.client_conns_max <= INT_MAX, "client_conns_max in range");

    std::uint64_t bytes = in.ConsumeIntegral<std::uint64_t>();
    std::uint64_t cused = in.ConsumeIntegralInRange<std::uint64_t>(0, p.client_inflight_max);
    std::uint64_t dused = in.ConsumeIntegralInRange<std::uint64_t>(0, p.inflight_max);
    int v = inflight_verdict(bytes, cused, p.client_inflight_max, dused, p.inflight_max);
    if (v == 0)
      FUZZ_REQUIRE(bytes <= p.client_inflight_max - cused && bytes <= p.inflight_max - dused,
                   "admitted bytes fit both budgets");
    if (v == E2BIG) FUZZ_REQUIRE(bytes > p.client_inflight_max || bytes > p.inflight_max, "E2BIG: never fits");
    if (v == EAGAIN) FUZZ_REQUIRE(bytes <= p.client_inflight_max && bytes <= p.inflight_max, "EAGAIN: fits later");
  }
  return 0;
}
