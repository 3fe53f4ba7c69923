// SPDX-License-Identifier: MIT
//
// shm_channels.h — the shared-memory layout of the mechanisms that pass the
// payload through memory mapped before fork() (mech_shm.cpp,
// mech_uring.cpp): per channel a Header (the signalling words), then the
// request buffer, then the reply buffer, each 64-byte aligned.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>

#include "proc.h"

namespace bench {

template <class Header>
class ShmChannels {
 public:
  ShmChannels() = default;
  ShmChannels(const ShmChannels &) = delete;
  ShmChannels &operator=(const ShmChannels &) = delete;
  ~ShmChannels() { unmap(); }

  /// Maps n channels for `payload`-byte messages, headers default-constructed.
  void map(unsigned n, std::size_t payload) {
    unmap();
    n_ = n;
    buf_ = round64(payload);
    stride_ = round64(sizeof(Header)) + 2 * buf_;
    void *p = mmap(nullptr, stride_ * n_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail("mmap");
    base_ = static_cast<char *>(p);
    for (unsigned i = 0; i < n_; ++i) new (header(i)) Header;
  }
  void unmap() noexcept {
    if (base_) munmap(base_, stride_ * n_);
    base_ = nullptr;
  }

  unsigned size() const noexcept { return base_ ? n_ : 0; }
  Header *header(unsigned i) const { return reinterpret_cast<Header *>(base_ + std::size_t(i) * stride_); }
  char *req(unsigned i) const { return base_ + std::size_t(i) * stride_ + round64(sizeof(Header)); }
  char *rep(unsigned i) const { return req(i) + buf_; }

 private:
  static constexpr std::size_t round64(std::size_t n) { return (n + 63) & ~std::size_t(63); }
  char *base_ = nullptr;
  unsigned n_ = 0;
  std::size_t buf_ = 0, stride_ = 0;
};

}  // namespace bench
