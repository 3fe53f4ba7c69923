// SPDX-License-Identifier: MIT
//
// unique_fd.h — owning file descriptor (closes on destruction).
#pragma once

#include <unistd.h>

#include <utility>

namespace door::detail {

/// Closes the raw descriptor with the real close(2) (bypassing libdoor's
/// close interposer, which only needs to see application closes; in TSan
/// builds it goes through TSan's interceptor, see fd_table.cpp).
void raw_close(int fd) noexcept;

/// Move-only owner of one file descriptor.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd &&o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd &operator=(unique_fd &&o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd &) = delete;
  unique_fd &operator=(const unique_fd &) = delete;
  ~unique_fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) raw_close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace door::detail
