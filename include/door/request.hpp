// SPDX-License-Identifier: MIT
//
// door/request.hpp — door::Request, one invocation as a handler of a
// door::Door sees it: the argument bytes, the passed descriptors (owned:
// those the handler does not take are closed when it returns), the
// caller's credentials, and the reply the handler sets.
#pragma once

#include <door.h>

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include <door/credentials.hpp>
#include <door/descriptor.hpp>
#include <door/error.hpp>
#include <door/reply.hpp>

namespace door {

/// One invocation of a door, handed to its handler. Valid only during the
/// handler call; not copyable or movable.
class Request {
 public:
  /// Wraps the arguments libdoor passed to the server procedure; takes
  /// ownership of the descriptors in `dp`.
  Request(char *argp, std::size_t size, door_desc_t *dp, uint_t ndesc) noexcept
      : unref_(argp == static_cast<char *>(DOOR_UNREF_DATA)),
        data_(unref_ ? nullptr : reinterpret_cast<const std::byte *>(argp)),
        size_(unref_ ? 0 : size),
        dp_(dp),
        ndesc_(dp ? ndesc : 0) {}
  /// Closes every passed descriptor the handler did not take.
  ~Request() {
    for (std::size_t k = 0; k < ndesc_; k++) (void)take_descriptor(k);
  }
  Request(const Request &) = delete;
  Request &operator=(const Request &) = delete;

  /// The argument bytes (empty for an unreferenced invocation).
  [[nodiscard]] std::span<const std::byte> data() const noexcept { return {data_, size_}; }
  /// The argument bytes as characters.
  [[nodiscard]] std::string_view text() const noexcept {
    return {reinterpret_cast<const char *>(data_), size_};
  }
  /// True for the unreferenced invocation of a DOOR_UNREF/DOOR_UNREF_MULTI
  /// door (no caller, no arguments; the reply is ignored).
  [[nodiscard]] bool unreferenced() const noexcept { return unref_; }

  /// How many descriptors the caller passed.
  [[nodiscard]] std::size_t descriptor_count() const noexcept { return ndesc_; }
  /// The raw entry of passed descriptor `i` (attributes, door id); once
  /// taken, its DOOR_DESCRIPTOR bit is clear and its descriptor -1.
  [[nodiscard]] const door_desc_t &descriptor(std::size_t i) const noexcept { return dp_[i]; }
  /// Takes ownership of passed descriptor `i` (empty if already taken or
  /// out of range).
  [[nodiscard]] Fd take_descriptor(std::size_t i) noexcept {
    if (i >= ndesc_ || !(dp_[i].d_attributes & DOOR_DESCRIPTOR)) return Fd();
    dp_[i].d_attributes &= ~DOOR_DESCRIPTOR;
    return Fd(std::exchange(dp_[i].d_data.d_desc.d_descriptor, -1));
  }

  /// The caller's credentials (door_ucred(3)).
  [[nodiscard]] Result<Credentials> credentials() const noexcept { return caller_credentials(); }

  /// Sets the reply sent when the handler returns (replacing any earlier).
  void reply(Reply r) noexcept { reply_ = std::move(r); }
  /// Sets a reply carrying a copy of `data`. Throws std::bad_alloc.
  void reply(std::span<const std::byte> data) { reply_ = Reply(data); }
  /// Sets a reply carrying a copy of `text`. Throws std::bad_alloc.
  void reply(std::string_view text) { reply_ = Reply(text); }
  /// The reply set so far (empty by default).
  [[nodiscard]] Reply &pending_reply() noexcept { return reply_; }

 private:
  bool unref_;
  const std::byte *data_;
  std::size_t size_;
  door_desc_t *dp_;
  std::size_t ndesc_;
  Reply reply_;
};

}  // namespace door
