// SPDX-License-Identifier: MIT
//
// bulk.cpp — reusable per-slot bulk areas (see bulk.h).
#include "bulk.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>

#include "validate.h"

namespace door::detail {

namespace {

constexpr int kBulkSeals = F_SEAL_SHRINK | F_SEAL_GROW;

std::size_t page_size() noexcept { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

/// Maps `len` bytes of `fd`. Fork children do not inherit bulk mappings,
/// like the call regions they belong to.
void *map_area(int fd, std::size_t len, int prot) noexcept {
  void *m = mmap(nullptr, len, prot, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return nullptr;
  madvise(m, len, MADV_DONTFORK);
  return m;
}

}  // namespace

BulkWriter::~BulkWriter() {
  if (map_) munmap(map_, len_);
}

Result<void> BulkWriter::reserve(std::size_t need) noexcept {
  if (need > kBulkMax) return fail(std::errc::value_too_large);
  if (map_ && need <= len_) return {};
  // Powers of two: a slot whose calls grow regrows a few times at most.
  std::size_t len = std::bit_ceil(need);
  if (len < page_size()) len = page_size();
  unique_fd fd(memfd_create("door-bulk", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return fail_errno(errno);
  if (ftruncate(fd.get(), static_cast<off_t>(len)) != 0) return fail_errno(errno);
  if (fcntl(fd.get(), F_ADD_SEALS, kBulkSeals | F_SEAL_SEAL) != 0) return fail_errno(errno);
  void *m = map_area(fd.get(), len, PROT_READ | PROT_WRITE);
  if (!m) return fail(std::errc::not_enough_memory);
  if (map_) munmap(map_, len_);
  fd_ = std::move(fd);
  map_ = m;
  len_ = len;
  gen_ = gen_ + 1 == 0 ? 1 : gen_ + 1;
  return {};
}

BulkReader::~BulkReader() {
  if (map_) munmap(map_, len_);
}

Result<void> BulkReader::adopt(int fd, std::uint32_t gen) noexcept {
  struct stat st;
  int seals = fcntl(fd, F_GET_SEALS);
  if (gen == 0 || fstat(fd, &st) != 0 ||
      !bulk_area_ok(seals, static_cast<std::uint64_t>(st.st_size), page_size()))
    return fail(std::errc::bad_file_descriptor);
  std::size_t len = static_cast<std::size_t>(st.st_size);
  // Not populated: only the bytes of each call are touched (a sparse area
  // costs the reader nothing).
  void *m = map_area(fd, len, PROT_READ);
  if (!m) return fail(std::errc::not_enough_memory);
  if (map_) munmap(map_, len_);
  map_ = m;
  len_ = len;
  gen_ = gen;
  return {};
}

}  // namespace door::detail
