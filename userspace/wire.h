// SPDX-License-Identifier: MIT
//
// wire.h — control messages on door sockets (all SOCK_SEQPACKET records).
//
//   door fd  (client) -> server end   : Hello + [connection socket]
//   connection socket, client->server : NeedServer, SlotChannel + [socket], Cancel
//   connection socket, server->client : HelloReply + [region memfd], SlotChannelAck
//   slot channel, both ways           : ChannelHeader + [memfd] + [descriptors]
//
// The server treats every record as hostile: wrong size, magic, version or
// type closes the connection.
#pragma once

#include <cstdint>

namespace door::detail {

inline constexpr std::uint32_t kWireMagic = 0x444f4f52u;  // "DOOR"
inline constexpr std::uint16_t kWireVersion = 1;

enum class MsgType : std::uint16_t {
  Hello = 1,
  HelloReply = 2,
  NeedServer = 3,
  SlotChannel = 4,
  SlotChannelAck = 5,
  Cancel = 6,
};

struct MsgHeader {
  std::uint32_t magic;
  std::uint16_t version;
  MsgType type;
};

/// Server's answer to Hello: status 0 and the region memfd, or an errno.
struct HelloReply {
  MsgHeader h;
  std::int32_t status;
  std::uint32_t nslots;
  std::uint64_t region_size;
};

/// Requests that name one slot (NeedServer, SlotChannel, Ack, Cancel).
struct SlotMsg {
  MsgHeader h;
  std::uint32_t slot;
  std::uint32_t seq;
};

/// Slot-channel record: the first record of a call's (or reply's)
/// attachments says how many descriptors follow in total; SCM_RIGHTS carries
/// at most kFdsPerRecord, so long lists continue in further records.
struct ChannelHeader {
  std::uint32_t magic;
  std::uint32_t seq;        ///< call number the attachments belong to
  std::uint32_t total_fds;  ///< descriptors across all records (memfd included)
  std::uint32_t has_memfd;  ///< kHasData or kHasBulk: what the first descriptor is
  std::uint64_t data_size;
};
/// ChannelHeader::has_memfd: the first descriptor is a one-shot sealed
/// memfd with the data (attachments.h), or the sender's new bulk area for
/// the slot (bulk.h; the data is in it).
inline constexpr std::uint32_t kHasData = 1, kHasBulk = 2;

inline constexpr unsigned kFdsPerRecord = 250;  // SCM_MAX_FD is 253
inline constexpr unsigned kMaxDescPerCall = 1024;  // illumos door_max_desc

inline MsgHeader make_header(MsgType t) noexcept { return MsgHeader{kWireMagic, kWireVersion, t}; }
inline bool header_ok(const MsgHeader &h, MsgType t) noexcept {
  return h.magic == kWireMagic && h.version == kWireVersion && h.type == t;
}

}  // namespace door::detail
