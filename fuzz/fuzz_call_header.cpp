// SPDX-License-Identifier: MIT
//
// fuzz_call_header.cpp — a call's slot header and attachments as a hostile
// client writes them (validate.h: check_call, args_in_header,
// check_call_attachments) against any door parameters. An accepted call
// must never let the server read outside the slot or past its limits.
#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_check.h"
#include "validate.h"

using namespace door::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  CallFields c{in.ConsumeIntegral<std::uint32_t>(), in.ConsumeIntegral<std::uint64_t>(),
               in.ConsumeIntegral<std::uint32_t>()};
  CallPolicy p;
  p.revoked = in.ConsumeBool();
  p.refuse_desc = in.ConsumeBool();
  p.data_min = in.ConsumeIntegral<std::uint64_t>();
  p.data_max = in.ConsumeIntegral<std::uint64_t>();
  p.desc_max = in.ConsumeIntegralInRange<std::uint64_t>(0, INT_MAX);
  ReceivedShape r{in.ConsumeIntegralInRange<std::size_t>(0, 2 * kMaxDescPerCall), in.ConsumeBool(),
                  in.ConsumeIntegral<std::uint64_t>(), in.ConsumeBool()};

  int e = check_call(c, p);
  if (e) {
    FUZZ_REQUIRE(e == EBADF || e == ENOBUFS || e == E2BIG || e == ENOTSUP || e == ENFILE || e == EINVAL,
                 "check_call returns only documented errnos");
    return 0;
  }
  FUZZ_REQUIRE(!p.revoked, "a revoked door runs no call");
  FUZZ_REQUIRE(c.size >= p.data_min && c.size <= p.data_max, "DATA_MIN/DATA_MAX enforced");
  FUZZ_REQUIRE(c.ndesc <= kMaxDescPerCall && c.ndesc <= p.desc_max, "DESC_MAX enforced");
  FUZZ_REQUIRE(!(c.ndesc && p.refuse_desc), "DOOR_REFUSE_DESC enforced");
  const bool bulk = (c.flags & kCallArgsInBulk) != 0;
  if (bulk) FUZZ_REQUIRE(c.size > kSlotData && c.size <= kBulkMax, "bulk arguments are bulk-sized");
  if (!(c.flags & kCallViaChannel))
    FUZZ_REQUIRE((c.size <= kSlotData || bulk) && c.ndesc == 0, "inline arguments fit the slot or bulk area");
  if (args_in_header(c)) FUZZ_REQUIRE(c.size <= kSmallArgs, "header arguments fit small_args");
  if (!(c.flags & kCallViaChannel)) return 0;

  int a = check_call_attachments(c, r);
  FUZZ_REQUIRE(a == 0 || a == EINVAL, "attachment errors are EINVAL");
  if (a) return 0;
  FUZZ_REQUIRE(r.nfds == c.ndesc, "descriptor count matches the header");
  if (bulk)
    FUZZ_REQUIRE(!r.has_data, "bulk arguments come with no one-shot memfd");
  else if (r.has_data)
    FUZZ_REQUIRE(c.size > kSlotData && r.data_size == c.size && !r.has_bulk, "memfd size is the header's size");
  else
    FUZZ_REQUIRE(c.size <= kSlotData && !r.has_bulk, "without memfd the arguments fit the slot");
  return 0;
}
