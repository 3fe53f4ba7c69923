// SPDX-License-Identifier: MIT
//
// attachments.cpp — sealed memfds and descriptor lists on slot channels.
#include "attachments.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "scm.h"
#include "validate.h"
#include "wire.h"

namespace door::detail {

namespace {

constexpr int kRequiredSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

std::size_t page_round(std::size_t n) noexcept {
  std::size_t pg = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return (n + pg - 1) / pg * pg;
}

Result<unique_fd> make_sealed_memfd(const void *data, std::size_t size) noexcept {
  unique_fd fd(memfd_create("door-data", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return fail_errno(errno);
  if (ftruncate(fd.get(), static_cast<off_t>(page_round(size))) != 0) return fail_errno(errno);
  const char *p = static_cast<const char *>(data);
  std::size_t off = 0;
  while (off < size) {
    ssize_t n = pwrite(fd.get(), p + off, size - off, static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno);
    }
    off += static_cast<std::size_t>(n);
  }
  if (fcntl(fd.get(), F_ADD_SEALS, kRequiredSeals | F_SEAL_SEAL) != 0) return fail_errno(errno);
  return fd;
}

}  // namespace

Attachments::Attachments(Attachments &&o) noexcept
    : memfd(std::move(o.memfd)),
      data(std::exchange(o.data, nullptr)),
      map_len(std::exchange(o.map_len, 0)),
      data_size(o.data_size),
      fds(std::move(o.fds)),
      bulk(std::move(o.bulk)) {}

Attachments &Attachments::operator=(Attachments &&o) noexcept {
  if (this != &o) {
    if (data) munmap(data, map_len);
    memfd = std::move(o.memfd);
    data = std::exchange(o.data, nullptr);
    map_len = std::exchange(o.map_len, 0);
    data_size = o.data_size;
    fds = std::move(o.fds);
    bulk = std::move(o.bulk);
  }
  return *this;
}

Attachments::~Attachments() {
  if (data) munmap(data, map_len);
}

Result<void> send_attachments(int chan, std::uint32_t seq, const void *data, std::size_t size,
                              std::span<const int> fds, int bulk_fd) noexcept {
  std::vector<int> all;
  unique_fd memfd;
  std::uint32_t has = 0;
  if (data) {
    auto m = make_sealed_memfd(data, size);
    if (!m) return fail(m.error());
    memfd = std::move(*m);
    all.push_back(memfd.get());
    has = kHasData;
  } else if (bulk_fd >= 0) {
    all.push_back(bulk_fd);
    has = kHasBulk;
  }
  all.insert(all.end(), fds.begin(), fds.end());
  ChannelHeader h{kWireMagic, seq, static_cast<std::uint32_t>(all.size()), has,
                  has ? static_cast<std::uint64_t>(size) : 0};
  std::size_t off = 0;
  do {
    std::size_t n = std::min<std::size_t>(kFdsPerRecord, all.size() - off);
    if (auto r = send_record(chan, &h, sizeof h, std::span<const int>(all.data() + off, n)); !r)
      return fail(r.error());
    off += n;
  } while (off < all.size());
  return {};
}

Result<Attachments> receive_attachments(int chan, std::uint32_t seq, MapData map) noexcept {
  Attachments a;
  ChannelParser parser(seq);
  for (;;) {
    ChannelHeader h{};
    auto rec = recv_record(chan, &h, sizeof h, /*dontwait=*/true);
    if (!rec) return fail(std::errc::bad_file_descriptor);
    ChannelParser::Step step = parser.feed(h, rec->len, rec->fds.size(), rec->truncated);
    if (step == ChannelParser::Step::Stale) continue;  // received descriptors close here
    if (step == ChannelParser::Step::Bad) return fail(std::errc::bad_file_descriptor);
    if (step == ChannelParser::Step::Truncated) return fail(std::errc::too_many_files_open);
    for (auto &f : rec->fds) a.fds.push_back(std::move(f));
    if (step == ChannelParser::Step::Done) break;
  }
  const ChannelHeader &first = parser.first();
  if (first.has_memfd == kHasBulk) {  // checked by BulkReader::adopt
    a.bulk = std::move(a.fds.front());
    a.fds.erase(a.fds.begin());
  } else if (first.has_memfd) {
    a.memfd = std::move(a.fds.front());
    a.fds.erase(a.fds.begin());
    a.data_size = first.data_size;
    int seals = fcntl(a.memfd.get(), F_GET_SEALS);
    struct stat st;
    if (seals < 0 || fstat(a.memfd.get(), &st) != 0 ||
        !memfd_ok(seals, kRequiredSeals, static_cast<std::uint64_t>(st.st_size), first.data_size,
                  static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE))))
      return fail(std::errc::bad_file_descriptor);
    a.map_len = page_round(first.data_size);
    if (a.map_len && map != MapData::No) {
      int flags = MAP_SHARED | (map == MapData::Populate ? MAP_POPULATE : 0);
      void *m = mmap(nullptr, a.map_len, PROT_READ, flags, a.memfd.get(), 0);
      if (m == MAP_FAILED) return fail(std::errc::not_enough_memory);
      a.data = m;
    }
  }
  return a;
}

}  // namespace door::detail
