// SPDX-License-Identifier: MIT
//
// door/reply.hpp — door::Reply, the results of one door invocation: bytes
// plus descriptors, owned. The client gets one from Door::call(); a server
// handler builds one (or fills Request::reply()) to answer.
//
// Storage is whichever door_call() produced: a private copy, or, for
// results larger than the offered result buffer, the mapping door_call()
// made (a sealed memfd mapped copy-on-write for data over 128 KiB, an
// anonymous mapping otherwise), which the Reply munmap()s when destroyed.
#pragma once

#include <door.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <string_view>
#include <utility>

#include <door/descriptor.hpp>
#include <door/error.hpp>

namespace door {

class Reply;

namespace impl {
Result<Reply> adopt_call_results(door_arg_t &a, std::byte *scratch, std::byte *heap, std::size_t heap_size) noexcept;
}  // namespace impl

/// The results of a door invocation: data bytes and owned descriptors.
/// Move-only; destroying it frees (or unmaps) the data and closes every
/// descriptor still owned.
class Reply {
 public:
  /// No data, no descriptors.
  Reply() noexcept = default;
  /// A reply carrying a copy of `data` (server side). Throws
  /// std::bad_alloc, like any allocation inside a handler.
  explicit Reply(std::span<const std::byte> data) { assign(data.data(), data.size()); }
  /// A reply carrying a copy of the characters of `text` (no terminator).
  explicit Reply(std::string_view text) { assign(reinterpret_cast<const std::byte *>(text.data()), text.size()); }
  /// Frees the data and closes the descriptors still owned.
  ~Reply() { clear(); }
  /// Takes over `other`'s data and descriptors; `other` becomes empty.
  Reply(Reply &&other) noexcept { steal(other); }
  /// Releases ours, then takes over `other`'s data and descriptors.
  Reply &operator=(Reply &&other) noexcept {
    if (this != &other) {
      clear();
      steal(other);
    }
    return *this;
  }
  Reply(const Reply &) = delete;
  Reply &operator=(const Reply &) = delete;

  /// The result bytes; valid as long as this Reply.
  [[nodiscard]] std::span<const std::byte> data() const noexcept { return {data_, size_}; }
  /// The result bytes as characters.
  [[nodiscard]] std::string_view text() const noexcept {
    return {reinterpret_cast<const char *>(data_), size_};
  }
  /// The descriptors, owned by the Reply; move one out to keep it.
  [[nodiscard]] std::span<Fd> descriptors() noexcept { return {fds_, nfds_}; }
  /// The descriptors (read-only view).
  [[nodiscard]] std::span<const Fd> descriptors() const noexcept { return {fds_, nfds_}; }
  /// True when the data lives in a mapping door_call() made because it did
  /// not fit the result buffer (it is munmap()ed with the Reply).
  [[nodiscard]] bool mapped() const noexcept { return storage_ == Storage::Mapped; }

  /// Appends a descriptor to send with this reply (server side): the Reply
  /// owns it, and libdoor closes it once it is sent (DOOR_RELEASE). Throws
  /// std::bad_alloc.
  Reply &add_descriptor(Fd fd) {
    auto *grown = new Fd[nfds_ + 1];
    for (std::size_t k = 0; k < nfds_; k++) grown[k] = std::move(fds_[k]);
    grown[nfds_] = std::move(fd);
    delete[] fds_;
    fds_ = grown;
    nfds_++;
    return *this;
  }

 private:
  friend Result<Reply> impl::adopt_call_results(door_arg_t &, std::byte *, std::byte *, std::size_t) noexcept;

  enum class Storage : unsigned char { None, Heap, Mapped };

  void assign(const std::byte *p, std::size_t n) {
    if (n == 0) return;
    base_ = static_cast<std::byte *>(::operator new(n));
    std::memcpy(base_, p, n);
    cap_ = n;
    storage_ = Storage::Heap;
    data_ = base_;
    size_ = n;
  }
  void clear() noexcept {
    if (storage_ == Storage::Heap) ::operator delete(base_);
    if (storage_ == Storage::Mapped) ::munmap(base_, cap_);
    delete[] fds_;  // each Fd closes its descriptor
    base_ = nullptr;
    cap_ = 0;
    storage_ = Storage::None;
    data_ = nullptr;
    size_ = 0;
    fds_ = nullptr;
    nfds_ = 0;
  }
  void steal(Reply &o) noexcept {
    base_ = std::exchange(o.base_, nullptr);
    cap_ = std::exchange(o.cap_, 0);
    storage_ = std::exchange(o.storage_, Storage::None);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    fds_ = std::exchange(o.fds_, nullptr);
    nfds_ = std::exchange(o.nfds_, 0);
  }

  std::byte *base_ = nullptr;  ///< start of the storage (heap block or mapping)
  std::size_t cap_ = 0;        ///< its size (the mapping length for munmap)
  Storage storage_ = Storage::None;
  const std::byte *data_ = nullptr;  ///< the result bytes, inside the storage
  std::size_t size_ = 0;
  Fd *fds_ = nullptr;  ///< owned descriptors (new[]), nfds_ of them
  std::size_t nfds_ = 0;
};

namespace impl {

/// Turns the results door_call() left in `a` into a Reply. `scratch` was
/// the offered result buffer if not null (its results are copied out, it
/// is reused by the next call), else `heap` (operator new, heap_size
/// bytes) was, and it is adopted or freed. A result buffer door_call()
/// mapped instead is adopted. Descriptors become owned Fds. On ENOMEM
/// every received descriptor is closed.
inline Result<Reply> adopt_call_results(door_arg_t &a, std::byte *scratch, std::byte *heap,
                                        std::size_t heap_size) noexcept {
  auto *rbuf = reinterpret_cast<std::byte *>(a.rbuf);
  bool in_scratch = scratch && rbuf == scratch;
  bool in_heap = heap && rbuf == heap;
  Reply r;
  // Descriptors first: they must be owned (closed on any failure below).
  if (a.desc_num) {
    r.fds_ = new (std::nothrow) Fd[a.desc_num];
    if (!r.fds_) {
      for (unsigned k = 0; k < a.desc_num; k++) ::close(a.desc_ptr[k].d_data.d_desc.d_descriptor);
      if (!in_scratch && !in_heap) ::munmap(a.rbuf, a.rsize);
      ::operator delete(heap);
      return unexpected_errno(ENOMEM);
    }
    r.nfds_ = a.desc_num;
    for (unsigned k = 0; k < a.desc_num; k++) {
      door_desc_t d;
      std::memcpy(&d, &a.desc_ptr[k], sizeof d);  // packed(4) in the buffer
      if (d.d_attributes & DOOR_DESCRIPTOR) r.fds_[k].reset(d.d_data.d_desc.d_descriptor);
    }
  }
  if (in_scratch) {
    ::operator delete(heap);
    if (a.data_size) {
      void *p = ::operator new(a.data_size, std::nothrow);
      if (!p) return unexpected_errno(ENOMEM);  // r closes the descriptors
      std::memcpy(p, a.data_ptr, a.data_size);
      r.base_ = static_cast<std::byte *>(p);
      r.cap_ = a.data_size;
      r.storage_ = Reply::Storage::Heap;
      r.data_ = r.base_;
      r.size_ = a.data_size;
    }
  } else if (in_heap) {
    r.base_ = heap;
    r.cap_ = heap_size;
    r.storage_ = Reply::Storage::Heap;
    r.data_ = reinterpret_cast<const std::byte *>(a.data_ptr);
    r.size_ = a.data_size;
  } else {
    ::operator delete(heap);
    r.base_ = rbuf;
    r.cap_ = a.rsize;
    r.storage_ = Reply::Storage::Mapped;
    r.data_ = reinterpret_cast<const std::byte *>(a.data_ptr);
    r.size_ = a.data_size;
  }
  return r;
}

}  // namespace impl

}  // namespace door
