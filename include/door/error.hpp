// SPDX-License-Identifier: MIT
//
// door/error.hpp — the error model of the C++ doors API: every fallible
// operation returns door::Result<T>, a tl::expected carrying a
// std::error_code in std::generic_category() (the errno the C function of
// the same name sets, as listed in its man page). errno_code() is the one
// place an errno becomes an error code.
//
// tl::expected comes from Debian's libexpected-dev (header-only); it is a
// dependency of these headers only, never of libdoor.so.
#pragma once

#include <tl/expected.hpp>

#include <cerrno>
#include <system_error>

namespace door {

/// The result of a fallible operation: a T, or the errno-valued error code
/// (std::generic_category) explaining why there is none.
template <class T>
using Result = tl::expected<T, std::error_code>;

/// The error code for errno value `e` (default: the current errno), in
/// std::generic_category(), so it compares equal to std::errc values:
/// `errno_code(EBADF) == std::errc::bad_file_descriptor`.
[[nodiscard]] inline std::error_code errno_code(int e = errno) noexcept {
  return std::error_code(e, std::generic_category());
}

/// The failed Result for errno value `e` (default: the current errno).
[[nodiscard]] inline tl::unexpected<std::error_code> unexpected_errno(int e = errno) noexcept {
  return tl::unexpected<std::error_code>(errno_code(e));
}

}  // namespace door
