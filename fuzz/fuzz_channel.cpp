// SPDX-License-Identifier: MIT
//
// fuzz_channel.cpp — the slot-channel descriptor protocol (validate.h:
// ChannelParser, memfd_ok): a stream of records a hostile peer sends for
// one call. The parser must end (bounded records), never take more
// descriptors than announced, and accept a memfd only if it is sealed and
// exactly the page-rounded data size.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstring>

#include "fuzz_check.h"
#include "validate.h"

using namespace door::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::uint32_t seq = in.ConsumeIntegral<std::uint32_t>();
  ChannelParser parser(seq);
  std::size_t records = 0;
  ChannelParser::Step step = ChannelParser::Step::Stale;  // nothing fed yet
  while (in.remaining_bytes() > 0) {
    ChannelHeader h{};
    // The record's bytes: usually a header, sometimes shorter or longer.
    std::size_t len = in.ConsumeBool() ? sizeof h : in.ConsumeIntegralInRange<std::size_t>(0, 64);
    if (in.ConsumeBool()) {  // a plausible header, fields mutated
      h = ChannelHeader{kWireMagic, in.ConsumeBool() ? seq : in.ConsumeIntegral<std::uint32_t>(),
                        in.ConsumeIntegralInRange<std::uint32_t>(0, kMaxDescPerCall + 3),
                        in.ConsumeIntegralInRange<std::uint32_t>(0, 2), in.ConsumeIntegral<std::uint64_t>()};
    } else {
      auto raw = in.ConsumeBytes<std::uint8_t>(sizeof h);
      if (!raw.empty()) std::memcpy(&h, raw.data(), raw.size());
    }
    std::size_t nfds = in.ConsumeIntegralInRange<std::size_t>(0, kFdsPerRecord);
    bool truncated = in.ConsumeIntegralInRange<int>(0, 15) == 0;
    step = parser.feed(h, len, nfds, truncated);
    records++;
    FUZZ_REQUIRE(records <= static_cast<std::size_t>(ChannelParser::kMaxStale) + kMaxDescPerCall + 2,
                 "a call's records are bounded");
    if (step == ChannelParser::Step::Stale || step == ChannelParser::Step::More) continue;
    break;
  }
  if (step == ChannelParser::Step::Done) {
    const ChannelHeader &f = parser.first();
    FUZZ_REQUIRE(f.magic == kWireMagic && f.seq == seq, "only this call's records are taken");
    FUZZ_REQUIRE(parser.fds() == f.total_fds, "exactly the announced descriptors");
    FUZZ_REQUIRE(f.total_fds <= kMaxDescPerCall + 1, "at most 1024 descriptors and a memfd");
    FUZZ_REQUIRE(f.has_memfd <= kHasBulk && (!f.has_memfd || f.total_fds >= 1), "a memfd is a descriptor");
  }
  if (step == ChannelParser::Step::More) FUZZ_REQUIRE(parser.fds() < parser.first().total_fds, "More means missing");

  // The large-data memfd check, on the rest of the input.
  FuzzedDataProvider m(data, size);
  int seals = m.ConsumeIntegral<int>();
  int required = 0x8 | 0x2 | 0x4;  // F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW
  std::uint64_t st_size = m.ConsumeIntegral<std::uint64_t>();
  std::uint64_t data_size = m.ConsumeIntegral<std::uint64_t>();
  std::uint64_t page = 4096;
  if (memfd_ok(seals, required, st_size, data_size, page)) {
    FUZZ_REQUIRE((seals & required) == required, "accepted memfds are sealed");
    FUZZ_REQUIRE(st_size >= data_size && st_size - data_size < page && st_size % page == 0,
                 "the mapping covers the data and no more than a page beyond");
  }
  int bseals = m.ConsumeIntegral<int>();
  std::uint64_t bsize = m.ConsumeIntegral<std::uint64_t>();
  if (bulk_area_ok(bseals, bsize, page)) {
    FUZZ_REQUIRE((bseals & (0x2 | 0x4)) == (0x2 | 0x4), "bulk areas cannot shrink or grow");
    FUZZ_REQUIRE(bsize > 0 && bsize <= kBulkMax && bsize % page == 0, "bulk areas are bounded page multiples");
  }
  return 0;
}
