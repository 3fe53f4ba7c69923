// SPDX-License-Identifier: MIT
//
// fuzz_result.cpp — a reply's slot header as a hostile server writes it
// (validate.h: check_result, result_errno). The caller must never copy
// from outside the slot, and never report an errno out of range.
#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_check.h"
#include "validate.h"

using namespace door::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  ResultFields r{in.ConsumeIntegral<std::uint64_t>(), in.ConsumeIntegral<std::uint32_t>(),
                 in.ConsumeIntegral<std::uint32_t>(), in.ConsumeBool() ? kResultInHeader : in.ConsumeIntegral<std::uint64_t>()};
  ReceivedShape shape{in.ConsumeIntegralInRange<std::size_t>(0, 2048), in.ConsumeBool(),
                      in.ConsumeIntegral<std::uint64_t>(), in.ConsumeBool()};
  const ReceivedShape *att = in.ConsumeBool() ? &shape : nullptr;
  switch (check_result(r, att)) {
    case ResultSource::Header:
      FUZZ_REQUIRE(r.size <= kSmallResult && r.ndesc == 0, "header results fit small_result");
      break;
    case ResultSource::Data:
      FUZZ_REQUIRE(r.offset <= kSlotData && r.size <= kSlotData && r.offset + r.size <= kSlotData,
                   "slot results lie inside the data area");
      if (r.flags & kResultViaChannel)
        FUZZ_REQUIRE(att && att->nfds == r.ndesc && !att->has_data && !att->has_bulk, "descriptor count matches");
      else
        FUZZ_REQUIRE(r.ndesc == 0, "no descriptors without the channel");
      break;
    case ResultSource::Memfd:
      FUZZ_REQUIRE(att && att->has_data && !att->has_bulk && att->data_size == r.size && att->nfds == r.ndesc,
                   "memfd results are exactly the announced size");
      break;
    case ResultSource::Bulk:
      FUZZ_REQUIRE(r.size > kSlotData && r.size <= kBulkMax, "bulk results are bulk-sized");
      if (r.flags & kResultViaChannel)
        FUZZ_REQUIRE(att && att->nfds == r.ndesc && !att->has_data, "descriptor count matches");
      else
        FUZZ_REQUIRE(r.ndesc == 0, "no descriptors without the channel");
      break;
    case ResultSource::Bad:
      break;
  }
  int e = result_errno(in.ConsumeIntegral<std::int32_t>());
  FUZZ_REQUIRE(e > 0 && e < 4096, "errno in range");
  return 0;
}
