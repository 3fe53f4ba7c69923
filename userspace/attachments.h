// SPDX-License-Identifier: MIT
//
// attachments.h — what travels on a slot channel instead of the slot: the
// descriptors of a call or reply, and data too large for the slot.
//
// Large data goes in a memfd that the sender fills, page-rounds (zero tail)
// and seals against writing, shrinking and growing before sending. The
// receiver checks the seals, so the bytes it maps can neither change under
// it (no time-of-check/time-of-use window for a hostile peer) nor vanish
// (no SIGBUS): it can use them in place, without copying. Data up to
// kBulkMax uses the slot's reusable bulk areas instead (bulk.h); a new
// area travels here once.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <vector>

#include "result.h"
#include "unique_fd.h"

namespace door::detail {

/// Attachments received for one call or reply.
struct Attachments {
  unique_fd memfd;                 ///< sealed data, if any
  void *data = nullptr;            ///< read-only mapping of memfd
  std::size_t map_len = 0;
  std::uint64_t data_size = 0;
  std::vector<unique_fd> fds;      ///< descriptors, in order
  unique_fd bulk;                  ///< the sender's new bulk area (bulk.h), unchecked

  Attachments() = default;
  Attachments(Attachments &&o) noexcept;
  Attachments &operator=(Attachments &&o) noexcept;
  ~Attachments();
};

/// Sends `data` (may be null: no large data) and `fds` for call `seq`,
/// or with `bulk_fd` >= 0 (and no data) the sender's new bulk area.
Result<void> send_attachments(int chan, std::uint32_t seq, const void *data, std::size_t size,
                              std::span<const int> fds, int bulk_fd = -1) noexcept;

/// How receive_attachments maps a data memfd.
enum class MapData {
  No,        ///< checked, not mapped: a refused call's data is drained untouched
  Lazy,      ///< pages fault in as read: a caller maps what a server sent, so
             ///< a sealed sparse memfd claiming gigabytes costs it nothing
  Populate,  ///< faulted in at once: a server maps arguments it has admitted
};

/// Receives the attachments of call `seq` without blocking; records of
/// older calls (interrupted ones) are discarded. EMFILE when this process
/// could not take all descriptors; EBADF on anything malformed.
Result<Attachments> receive_attachments(int chan, std::uint32_t seq, MapData map) noexcept;

}  // namespace door::detail
