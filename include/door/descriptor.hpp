// SPDX-License-Identifier: MIT
//
// door/descriptor.hpp — door::Fd, the owner of one file descriptor (a door
// or anything else passed through a door), and door::pass(), which builds
// the door_desc_t that hands a descriptor to door_call()/door_return().
#pragma once

#include <door.h>
#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include <door/error.hpp>

namespace door {

/// Owns one file descriptor and closes it when destroyed (unique_fd). Move-
/// only. Closing goes through close(), which libdoor interposes to keep its
/// table of door descriptors exact.
class Fd {
 public:
  /// An empty owner (get() == -1).
  Fd() noexcept = default;
  /// Takes ownership of `fd` (-1: empty).
  explicit Fd(int fd) noexcept : fd_(fd) {}
  /// Closes the descriptor, if any.
  ~Fd() { reset(); }
  /// Takes over `other`'s descriptor; `other` becomes empty.
  Fd(Fd &&other) noexcept : fd_(other.release()) {}
  /// Closes ours, then takes over `other`'s descriptor.
  Fd &operator=(Fd &&other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;

  /// The descriptor number (-1 when empty); ownership is kept.
  [[nodiscard]] int get() const noexcept { return fd_; }
  /// True when a descriptor is owned.
  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// Gives up ownership and returns the descriptor (-1 when empty).
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the owned descriptor, if any, and takes ownership of `fd`.
  void reset(int fd = -1) noexcept {
    int old = std::exchange(fd_, fd);
    if (old >= 0) ::close(old);
  }
  /// A close-on-exec duplicate (F_DUPFD_CLOEXEC); errors as fcntl(2).
  [[nodiscard]] Result<Fd> duplicate() const noexcept {
    int d = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
    if (d < 0) return unexpected_errno();
    return Fd(d);
  }

 private:
  int fd_ = -1;
};

/// The door_desc_t that passes descriptor `fd` in a call or reply; the
/// sender keeps its descriptor.
[[nodiscard]] inline door_desc_t pass(int fd) noexcept {
  door_desc_t d{};
  d.d_attributes = DOOR_DESCRIPTOR;
  d.d_data.d_desc.d_descriptor = fd;
  return d;
}

/// The door_desc_t that passes `fd` and closes it in the sender once it is
/// sent (DOOR_RELEASE); the Fd gives up ownership to libdoor.
[[nodiscard]] inline door_desc_t pass_and_close(Fd &&fd) noexcept {
  door_desc_t d = pass(fd.release());
  d.d_attributes |= DOOR_RELEASE;
  return d;
}

}  // namespace door
