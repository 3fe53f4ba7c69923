// SPDX-License-Identifier: MIT
//
// fuzz_control.cpp — control records on door and connection sockets
// (validate.h: hello_ok, classify_conn_msg, check_hello_reply,
// region_header_ok), as raw bytes a peer sends. Whatever is accepted names
// a real slot and the expected layout.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstring>
#include <new>

#include "fuzz_check.h"
#include "validate.h"

using namespace door::detail;

namespace {
template <class T>
T take(FuzzedDataProvider &in, std::size_t &len) {
  T v{};
  len = in.ConsumeIntegralInRange<std::size_t>(0, sizeof(T) + 8);
  auto raw = in.ConsumeBytes<std::uint8_t>(sizeof(T));
  if (!raw.empty()) std::memcpy(&v, raw.data(), raw.size());
  return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  std::size_t len;
  auto nfds = [&] { return in.ConsumeIntegralInRange<std::size_t>(0, 4); };

  MsgHeader h = take<MsgHeader>(in, len);
  std::size_t n = nfds();
  if (hello_ok(h, len, n))
    FUZZ_REQUIRE(len == sizeof h && n == 1 && h.magic == kWireMagic && h.type == MsgType::Hello,
                 "a Hello carries one socket");

  SlotMsg m = take<SlotMsg>(in, len);
  n = nfds();
  ConnAction a = classify_conn_msg(m, len, n);
  if (a == ConnAction::Closed) FUZZ_REQUIRE(len == 0, "only an empty record closes");
  if (a == ConnAction::NeedServer || a == ConnAction::SlotChannel || a == ConnAction::Cancel) {
    FUZZ_REQUIRE(len == sizeof m && m.h.magic == kWireMagic && m.h.version == kWireVersion, "well-formed");
    FUZZ_REQUIRE(m.slot < kSlots, "names a real slot");
  }
  if (a == ConnAction::NeedServer) FUZZ_REQUIRE(n == 0, "NeedServer carries no descriptor");
  if (a == ConnAction::SlotChannel) FUZZ_REQUIRE(n == 1, "SlotChannel carries one socket");

  HelloReply rep = take<HelloReply>(in, len);
  n = nfds();
  int e = check_hello_reply(rep, len, n);
  FUZZ_REQUIRE(e >= 0 && e < 4096, "an errno in range");
  if (e == 0)
    FUZZ_REQUIRE(len == sizeof rep && n == 1 && rep.nslots == kSlots && rep.region_size == kRegionSize,
                 "an accepted region has the expected layout");

  alignas(RegionHeader) unsigned char buf[sizeof(RegionHeader)] = {};
  auto raw = in.ConsumeBytes<std::uint8_t>(sizeof buf);
  if (!raw.empty()) std::memcpy(buf, raw.data(), raw.size());
  std::uint64_t id = in.ConsumeIntegral<std::uint64_t>();
  auto *rh = std::launder(reinterpret_cast<RegionHeader *>(buf));
  if (region_header_ok(*rh, id))
    FUZZ_REQUIRE(rh->magic == kRegionMagic && rh->nslots == kSlots && rh->region_size == kRegionSize &&
                     rh->door_id == id,
                 "an accepted region header matches");
  return 0;
}
