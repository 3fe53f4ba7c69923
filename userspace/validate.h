// SPDX-License-Identifier: MIT
//
// validate.h — every check libdoor applies to bytes a peer controls, as
// pure functions: no sockets, no shared memory, no globals. The server and
// client call them on values they have already copied out of shared memory
// or received on a socket; the fuzz targets in fuzz/ call them directly.
//
// Each function is inline and branch-for-branch what the call path did
// before it was factored out, so the hot path compiles to the same code.
#pragma once

#include <fcntl.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>

#include "shm_layout.h"
#include "wire.h"

namespace door::detail {

// ---- slot header of a call (client-written, server-checked) ---------------

/// The fields of a SlotHeader that describe a call, read once by the server.
struct CallFields {
  std::uint32_t flags = 0;
  std::uint64_t size = 0;
  std::uint32_t ndesc = 0;
};

/// Door parameters the call is checked against (door_setparam and state).
struct CallPolicy {
  bool revoked = false;
  bool refuse_desc = false;
  std::uint64_t data_min = 0;
  std::uint64_t data_max = SIZE_MAX;
  std::uint64_t desc_max = INT_MAX;
};

/// Checks a call before anything is received for it, in the illumos
/// kernel's order. Returns 0 or the errno for the caller.
inline int check_call(const CallFields &c, const CallPolicy &p) noexcept {
  if (p.revoked) return EBADF;
  if (c.size < p.data_min || c.size > p.data_max) return ENOBUFS;
  if (c.ndesc > kMaxDescPerCall) return E2BIG;
  if (c.ndesc && p.refuse_desc) return ENOTSUP;
  if (c.ndesc > p.desc_max) return ENFILE;
  // Bulk areas carry exactly the sizes between a slot and kBulkMax.
  const bool bulk = (c.flags & kCallArgsInBulk) != 0;
  if (bulk && (c.size <= kSlotData || c.size > kBulkMax)) return EINVAL;
  // Without a channel there is no descriptor and no large-data memfd.
  if (!(c.flags & kCallViaChannel) && (c.ndesc != 0 || (c.size > kSlotData && !bulk))) return EINVAL;
  return 0;
}

/// Where a call's inline arguments are: the header line or the data area.
inline bool args_in_header(const CallFields &c) noexcept {
  return c.size <= kSmallArgs && !(c.flags & kCallViaChannel);
}

/// What arrived on the slot channel for a call that said kCallViaChannel.
struct ReceivedShape {
  std::size_t nfds = 0;        ///< descriptors, memfd excluded
  bool has_data = false;       ///< a sealed memfd with the arguments
  std::uint64_t data_size = 0; ///< its size as the channel header says
  bool has_bulk = false;       ///< the sender's new bulk area (bulk.h)
};

/// Checks the attachments against the slot header. 0 or EINVAL.
inline int check_call_attachments(const CallFields &c, const ReceivedShape &r) noexcept {
  if (r.nfds != c.ndesc) return EINVAL;
  if (c.flags & kCallArgsInBulk) return r.has_data ? EINVAL : 0;
  if (r.has_bulk) return EINVAL;
  if (r.has_data) {
    if (c.size <= kSlotData || r.data_size != c.size) return EINVAL;
  } else if (c.size > kSlotData) {
    return EINVAL;
  }
  return 0;
}

// ---- results (server-written, client-checked) -----------------------------

/// The fields of a SlotHeader that describe a reply, read once by the caller.
struct ResultFields {
  std::uint64_t size = 0;
  std::uint32_t ndesc = 0;
  std::uint32_t flags = 0;
  std::uint64_t offset = 0;
};

/// [offset, offset + size) lies inside a slot's data area (no wrap-around
/// for any 64-bit offset).
inline bool within_slot(std::uint64_t offset, std::uint64_t size) noexcept {
  return offset <= kSlotData && size <= kSlotData - offset;
}

/// Where inline results lie in the slot.
enum class ResultSource { Header, Data, Memfd, Bulk, Bad };

/// Checks a reply; `attachments` describes what the channel delivered when
/// flags say kResultViaChannel (ignored otherwise). For Data, the results
/// are [offset, offset + size) of the slot's data area.
inline ResultSource check_result(const ResultFields &r, const ReceivedShape *attachments) noexcept {
  if (r.flags & kResultInBulk) {  // the caller then checks the area's generation and size
    if (r.size <= kSlotData || r.size > kBulkMax) return ResultSource::Bad;
    if (r.flags & kResultViaChannel) {
      if (!attachments || attachments->has_data || attachments->nfds != r.ndesc) return ResultSource::Bad;
    } else if (r.ndesc != 0) {
      return ResultSource::Bad;
    }
    return ResultSource::Bulk;
  }
  if (r.flags & kResultViaChannel) {
    if (attachments && attachments->has_bulk) return ResultSource::Bad;
    if (!attachments) return ResultSource::Bad;
    ResultSource src;
    if (attachments->has_data) {
      if (attachments->data_size != r.size) return ResultSource::Bad;
      src = ResultSource::Memfd;
    } else {
      if (!within_slot(r.offset, r.size)) return ResultSource::Bad;
      src = ResultSource::Data;
    }
    if (attachments->nfds != r.ndesc) return ResultSource::Bad;
    return src;
  }
  if (r.offset == kResultInHeader) {
    if (r.size > kSmallResult || r.ndesc != 0) return ResultSource::Bad;
    return ResultSource::Header;
  }
  if (!within_slot(r.offset, r.size) || r.ndesc != 0) return ResultSource::Bad;
  return ResultSource::Data;
}

/// The errno a reply's error field stands for (anything out of range: EINVAL).
inline int result_errno(std::int32_t err) noexcept { return err > 0 && err < 4096 ? err : EINVAL; }

// ---- control records --------------------------------------------------------

/// A record on a door's server end is a Hello carrying exactly one
/// descriptor (the connection socket); anything else is dropped.
inline bool hello_ok(const MsgHeader &h, std::size_t len, std::size_t nfds) noexcept {
  return len == sizeof h && header_ok(h, MsgType::Hello) && nfds == 1;
}

/// What the server does with one record on a connection socket.
enum class ConnAction { Closed, Drop, NeedServer, SlotChannel, Cancel };

/// Classifies a record read from a connection socket (`len` bytes into `m`,
/// `nfds` descriptors). Drop means: close the connection.
inline ConnAction classify_conn_msg(const SlotMsg &m, std::size_t len, std::size_t nfds) noexcept {
  if (len == 0) return ConnAction::Closed;
  if (len != sizeof m || m.h.magic != kWireMagic || m.h.version != kWireVersion || m.slot >= kSlots)
    return ConnAction::Drop;
  switch (m.h.type) {
    case MsgType::NeedServer:
      return nfds == 0 ? ConnAction::NeedServer : ConnAction::Drop;
    case MsgType::SlotChannel:
      return nfds == 1 ? ConnAction::SlotChannel : ConnAction::Drop;
    case MsgType::Cancel:
      return ConnAction::Cancel;
    default:
      return ConnAction::Drop;
  }
}

/// Checks the server's HelloReply on the client side: 0 (use the region
/// memfd), the server's errno, or EBADF for anything malformed.
inline int check_hello_reply(const HelloReply &rep, std::size_t len, std::size_t nfds) noexcept {
  if (len != sizeof rep || !header_ok(rep.h, MsgType::HelloReply)) return EBADF;
  if (rep.status != 0) return rep.status > 0 && rep.status < 4096 ? rep.status : EBADF;
  if (nfds != 1 || rep.nslots != kSlots || rep.region_size != kRegionSize) return EBADF;
  return 0;
}

/// Checks the header a server wrote at the start of a region it sent.
inline bool region_header_ok(const RegionHeader &h, std::uint64_t door_id) noexcept {
  return h.magic == kRegionMagic && h.version == kRegionVersion && h.nslots == kSlots &&
         h.region_size == kRegionSize && h.door_id == door_id;
}

// ---- slot channel records ----------------------------------------------------

/// Reassembles one call's (or reply's) attachments from channel records:
/// feed() each record's header bytes and descriptor count in order.
class ChannelParser {
 public:
  enum class Step {
    More,     ///< record taken; more records follow
    Done,     ///< all records of the call are in
    Stale,    ///< an older call's record: discard it and feed the next
    Bad,      ///< malformed: EBADF
    Truncated ///< descriptors did not fit in this process: EMFILE
  };

  explicit ChannelParser(std::uint32_t seq) noexcept : seq_(seq) {}

  /// One record of `len` bytes starting with `h`, with `nfds` descriptors;
  /// `truncated` when the kernel cut the record or its descriptors.
  Step feed(const ChannelHeader &h, std::size_t len, std::size_t nfds, bool truncated) noexcept {
    if (!started_) {
      if (++stale_ > kMaxStale) return Step::Bad;
      if (len != sizeof h || h.magic != kWireMagic) return Step::Bad;
      if (h.seq != seq_) return Step::Stale;  // an interrupted call's leftovers
      if (h.total_fds > kMaxDescPerCall + 1 || h.has_memfd > kHasBulk || (h.has_memfd && h.total_fds == 0))
        return Step::Bad;
      if (truncated) return Step::Truncated;
      first_ = h;
      started_ = true;
    } else {
      if (len != sizeof h || h.magic != kWireMagic || h.seq != seq_ || h.total_fds != first_.total_fds)
        return Step::Bad;
      if (truncated) return Step::Truncated;
    }
    got_ += nfds;
    if (got_ < first_.total_fds) return Step::More;
    return got_ == first_.total_fds ? Step::Done : Step::Bad;
  }

  /// The first record (valid once feed() returned More or Done).
  const ChannelHeader &first() const noexcept { return first_; }
  /// Descriptors taken so far.
  std::size_t fds() const noexcept { return got_; }

  /// Stale records skipped before the call's own are refused beyond this.
  static constexpr int kMaxStale = 1025;

 private:
  std::uint32_t seq_;
  bool started_ = false;
  int stale_ = 0;
  std::size_t got_ = 0;
  ChannelHeader first_{};
};

/// A large-data memfd is usable when it is sealed against writing,
/// shrinking and growing and is exactly the page-rounded data size.
inline bool memfd_ok(int seals, int required_seals, std::uint64_t st_size, std::uint64_t data_size,
                     std::uint64_t page) noexcept {
  if (seals < 0 || (seals & required_seals) != required_seals) return false;
  if (data_size > UINT64_MAX - page) return false;
  return st_size == (data_size + page - 1) / page * page;
}

/// A peer's bulk area (bulk.h) is usable when it cannot shrink or grow
/// (no SIGBUS for its reader, no mapping beyond what was checked) and its
/// size is a page multiple in (0, kBulkMax]. Writes stay allowed: readers
/// copy what they must not see change.
inline bool bulk_area_ok(int seals, std::uint64_t st_size, std::uint64_t page) noexcept {
  constexpr int kRequired = F_SEAL_SHRINK | F_SEAL_GROW;
  if (seals < 0 || (seals & kRequired) != kRequired) return false;
  return st_size > 0 && st_size <= kBulkMax && page != 0 && st_size % page == 0;
}

}  // namespace door::detail
