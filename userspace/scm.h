// SPDX-License-Identifier: MIT
//
// scm.h — sendmsg/recvmsg with SCM_RIGHTS on AF_UNIX SEQPACKET sockets.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "result.h"
#include "unique_fd.h"

namespace door::detail {

/// Sends one record with up to kFdsPerRecord descriptors. Never raises
/// SIGPIPE. `dontwait` makes it non-blocking.
Result<void> send_record(int sock, const void *buf, std::size_t len, std::span<const int> fds,
                         bool dontwait = false) noexcept;

/// What recv_record got.
struct Received {
  std::size_t len = 0;          ///< bytes of the record (0: peer closed)
  bool truncated = false;       ///< record or descriptors did not fit
  std::vector<unique_fd> fds;   ///< received descriptors (close-on-exec)
};

/// Receives one record; descriptors arrive close-on-exec.
Result<Received> recv_record(int sock, void *buf, std::size_t len, bool dontwait) noexcept;

}  // namespace door::detail
