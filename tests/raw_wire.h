// SPDX-License-Identifier: MIT
//
// raw_wire.h — records with descriptors on AF_UNIX sockets, for tests that
// speak libdoor's wire protocol by hand (test_hostile, test_hostile_server).
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

namespace doortest {

/// Sends one record of `len` bytes with up to 8 descriptors, without blocking.
inline bool send_rec(int sock, const void *buf, size_t len, const std::vector<int> &fds) {
  struct iovec io{const_cast<void *>(buf), len};
  alignas(struct cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 8)];
  struct msghdr m{};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  if (!fds.empty()) {
    m.msg_control = ctl;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(h), fds.data(), sizeof(int) * fds.size());
  }
  return sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT) == static_cast<ssize_t>(len);
}

/// Receives one record (waits up to `timeout_ms`); its first descriptor, if
/// any, lands in *fd_out (when not null). -1 when nothing came.
inline int recv_rec(int sock, void *buf, size_t len, int *fd_out, int timeout_ms = 2000) {
  struct pollfd p{sock, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return -1;
  struct iovec io{buf, len};
  alignas(struct cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 8)];
  struct msghdr m{};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  if (fd_out) {
    *fd_out = -1;
    if (struct cmsghdr *h = CMSG_FIRSTHDR(&m); n >= 0 && h && h->cmsg_type == SCM_RIGHTS)
      std::memcpy(fd_out, CMSG_DATA(h), sizeof(int));
  }
  return static_cast<int>(n);
}

}  // namespace doortest
