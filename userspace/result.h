// SPDX-License-Identifier: MIT
//
// result.h — the error model of the C++ core: every fallible operation
// returns Result<T> (tl::expected) carrying a std::errc; the C API maps it
// to -1/errno with to_errno() and nothing else.
#pragma once

#include <tl/expected.hpp>

#include <cerrno>
#include <system_error>

namespace door::detail {

template <class T>
using Result = tl::expected<T, std::errc>;

/// An error value for Result<T>.
inline tl::unexpected<std::errc> fail(std::errc e) noexcept { return tl::unexpected<std::errc>(e); }

/// An error value from an errno number.
inline tl::unexpected<std::errc> fail_errno(int e) noexcept {
  return tl::unexpected<std::errc>(static_cast<std::errc>(e));
}

/// errno for a std::errc (they share values on Linux).
inline int to_errno(std::errc e) noexcept { return static_cast<int>(e); }

}  // namespace door::detail
