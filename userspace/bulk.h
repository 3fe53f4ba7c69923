// SPDX-License-Identifier: MIT
//
// bulk.h — reusable per-slot memory for data larger than a slot.
//
// Arguments and results of kSlotData < size <= kBulkMax bytes travel in a
// "bulk area": a memfd the WRITER of that direction owns (the client for
// arguments, the server for results), sized once, sealed against shrinking
// and growing (so the reader's mapping can never SIGBUS) and kept for the
// slot's next calls. The reader maps it read-only once, when the writer
// first sends it on the slot channel; afterwards a large call moves no
// descriptor and makes no system call at all, exactly like a small one.
//
// The writer can still change a bulk area while the reader looks at it,
// so the server copies arguments out of it before the procedure runs (the
// same rule as for the slot's data area); results are only the client's
// own business.
//
// Each area has a generation number, chosen by its writer and never 0. The
// slot header says which generation holds a call's data and which one the
// reader has mapped, so an area is sent again whenever the writer cannot be
// sure that its peer has it (after an interrupted call, for instance).
// Larger data keeps the one-shot sealed memfd of attachments.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "result.h"
#include "shm_layout.h"
#include "unique_fd.h"

namespace door::detail {

/// The writer's side of a bulk area.
class BulkWriter {
 public:
  BulkWriter() = default;
  BulkWriter(const BulkWriter &) = delete;
  BulkWriter &operator=(const BulkWriter &) = delete;
  ~BulkWriter();

  /// Makes room for `need` (<= kBulkMax) bytes: keeps the current area if
  /// it is large enough, else replaces it (new generation).
  Result<void> reserve(std::size_t need) noexcept;

  char *data() const noexcept { return static_cast<char *>(map_); }
  std::size_t size() const noexcept { return len_; }
  std::uint32_t generation() const noexcept { return gen_; }
  int fd() const noexcept { return fd_.get(); }

 private:
  unique_fd fd_;
  void *map_ = nullptr;
  std::size_t len_ = 0;
  std::uint32_t gen_ = 0;
};

/// The reader's side: a read-only mapping of the peer's current area.
class BulkReader {
 public:
  BulkReader() = default;
  BulkReader(const BulkReader &) = delete;
  BulkReader &operator=(const BulkReader &) = delete;
  ~BulkReader();

  /// Replaces the mapping with `fd`'s area as generation `gen`. Refuses
  /// (EBADF) an fd that is not a memfd sealed against shrinking and
  /// growing, whose size is not a page multiple in (0, kBulkMax], or a
  /// generation of 0; the old mapping stays then.
  Result<void> adopt(int fd, std::uint32_t gen) noexcept;

  /// The first `size` bytes of generation `gen`, or null if this reader
  /// does not hold that generation or it is smaller.
  const char *view(std::uint32_t gen, std::uint64_t size) const noexcept {
    return gen != 0 && gen == gen_ && size <= len_ ? static_cast<const char *>(map_) : nullptr;
  }
  std::uint32_t generation() const noexcept { return gen_; }

 private:
  void *map_ = nullptr;
  std::size_t len_ = 0;
  std::uint32_t gen_ = 0;
};

}  // namespace door::detail
