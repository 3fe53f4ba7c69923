// SPDX-License-Identifier: MIT
//
// scm.cpp — record I/O with descriptor passing.
#include "scm.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "wire.h"

namespace door::detail {

Result<void> send_record(int sock, const void *buf, std::size_t len, std::span<const int> fds,
                         bool dontwait) noexcept {
  if (fds.size() > kFdsPerRecord) return fail(std::errc::argument_list_too_long);
  struct iovec iov{const_cast<void *>(buf), len};
  alignas(struct cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * kFdsPerRecord)];
  struct msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (!fds.empty()) {
    std::memset(ctl, 0, sizeof ctl);
    mh.msg_control = ctl;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  int flags = MSG_NOSIGNAL | (dontwait ? MSG_DONTWAIT : 0);
  for (;;) {
    ssize_t n = sendmsg(sock, &mh, flags);
    if (n >= 0) return {};
    if (errno == EINTR) continue;
    return fail_errno(errno);
  }
}

Result<Received> recv_record(int sock, void *buf, std::size_t len, bool dontwait) noexcept {
  struct iovec iov{buf, len};
  alignas(struct cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * (kFdsPerRecord + 8))];
  struct msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof ctl;
  int flags = MSG_CMSG_CLOEXEC | (dontwait ? MSG_DONTWAIT : 0);
  ssize_t n;
  for (;;) {
    n = recvmsg(sock, &mh, flags);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    return fail_errno(errno);
  }
  Received r;
  r.len = static_cast<std::size_t>(n);
  r.truncated = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < k; i++) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      r.fds.emplace_back(fd);
    }
  }
  return r;
}

}  // namespace door::detail
