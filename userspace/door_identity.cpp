// SPDX-License-Identifier: MIT
//
// door_identity.cpp — recognise door descriptors by their peer's name.
#include "door_identity.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "unique_fd.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace door::detail {

namespace {
constexpr char kPrefix[] = "ldoor1:";
}

std::string door_socket_name(const DoorIdentity &d) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s%08" PRIx32 ":%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64, kPrefix,
                d.attributes, d.id, d.proc, d.cookie);
  return buf;
}

Result<DoorIdentity> identify_door_fd(int fd) noexcept {
  if (fd < 0) return fail(std::errc::bad_file_descriptor);
  int type = 0;
  socklen_t tl = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_SEQPACKET)
    return fail(std::errc::bad_file_descriptor);
  struct sockaddr_un a{};
  socklen_t al = sizeof a;
  if (getpeername(fd, reinterpret_cast<struct sockaddr *>(&a), &al) != 0 || a.sun_family != AF_UNIX)
    return fail(std::errc::bad_file_descriptor);
  std::size_t pathlen = al - offsetof(struct sockaddr_un, sun_path);
  if (pathlen < 2 || a.sun_path[0] != '\0') return fail(std::errc::bad_file_descriptor);
  std::string name(a.sun_path + 1, pathlen - 1);
  if (name.compare(0, sizeof kPrefix - 1, kPrefix) != 0) return fail(std::errc::bad_file_descriptor);
  DoorIdentity d;
  unsigned attrs = 0;
  unsigned long long id = 0, proc = 0, cookie = 0;
  int used = 0;
  // "<attrs>:<id>:<proc>:<cookie>", optionally ":<reference>" (unref.cpp).
  const char *fields = name.c_str() + sizeof kPrefix - 1;
  std::size_t rest = name.size() - (sizeof kPrefix - 1);
  if (std::sscanf(fields, "%8x:%16llx:%16llx:%16llx%n", &attrs, &id, &proc, &cookie, &used) != 4)
    return fail(std::errc::bad_file_descriptor);
  if (static_cast<std::size_t>(used) != rest) {
    unsigned ref = 0;
    int more = 0;
    if (fields[used] != ':' || std::sscanf(fields + used, ":%x%n", &ref, &more) != 1 ||
        static_cast<std::size_t>(used + more) != rest)
      return fail(std::errc::bad_file_descriptor);
  }
  d.attributes = attrs;
  d.id = id;
  d.proc = proc;
  d.cookie = cookie;
  return d;
}

Result<DoorLiveness> door_liveness(int fd) noexcept {
  DoorLiveness l;
  struct ucred uc{};
  socklen_t ul = sizeof uc;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) != 0) return fail_errno(errno);
  struct pollfd p{fd, POLLRDHUP, 0};
  if (poll(&p, 1, 0) < 0) return fail_errno(errno);
  l.closed = (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
  l.server_pid = uc.pid;
  if (!l.closed) return l;
  // The server end is closed: revoked (server alive) or the server exited.
  // SO_PEERPIDFD (Linux 6.5+) pins the exact process, immune to pid reuse.
  int pfd = -1;
  socklen_t pl = sizeof pfd;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pfd, &pl) == 0 && pfd >= 0) {
    unique_fd pidfd(pfd);
    struct pollfd pp{pidfd.get(), POLLIN, 0};
    if (poll(&pp, 1, 0) >= 0 && (pp.revents & (POLLIN | POLLHUP))) l.server_pid = -1;
    return l;
  }
  if (errno == ESRCH) {  // the peer process is already gone
    l.server_pid = -1;
    return l;
  }
  if (uc.pid <= 0 || (kill(uc.pid, 0) != 0 && errno == ESRCH)) l.server_pid = -1;
  return l;
}

}  // namespace door::detail
