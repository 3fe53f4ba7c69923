// SPDX-License-Identifier: MIT
//
// unix_sockets.cpp — the sock_diag dump behind unix_sockets.h.
#include "unix_sockets.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

namespace doorstat {

UnixSocketTable dump_unix_sockets() {
  UnixSocketTable t;
  int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) {
    t.error = std::string("sock_diag: ") + std::strerror(errno);
    return t;
  }
  struct {
    nlmsghdr nh;
    unix_diag_req req;
  } msg{};
  msg.nh.nlmsg_len = sizeof msg;
  msg.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.req.sdiag_family = AF_UNIX;
  msg.req.udiag_states = ~0u;
  msg.req.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER;
  if (send(nl, &msg, sizeof msg, 0) != static_cast<ssize_t>(sizeof msg)) {
    t.error = std::string("sock_diag request: ") + std::strerror(errno);
    close(nl);
    return t;
  }
  std::vector<char> buf(1 << 16);
  for (bool done = false; !done;) {
    ssize_t n = recv(nl, buf.data(), buf.size(), 0);
    if (n <= 0) {
      t.error = std::string("sock_diag reply: ") + std::strerror(errno);
      break;
    }
    for (auto *h = reinterpret_cast<nlmsghdr *>(buf.data()); NLMSG_OK(h, static_cast<unsigned>(n));
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        done = true;
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto *e = static_cast<nlmsgerr *>(NLMSG_DATA(h));
        t.error = std::string("sock_diag: ") + std::strerror(-e->error);
        done = true;
        break;
      }
      auto *m = static_cast<unix_diag_msg *>(NLMSG_DATA(h));
      UnixSocket s;
      s.type = m->udiag_type;
      int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
      for (auto *a = reinterpret_cast<rtattr *>(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == UNIX_DIAG_NAME) {
          const char *p = static_cast<const char *>(RTA_DATA(a));
          std::size_t l = RTA_PAYLOAD(a);
          s.name = (l > 0 && p[0] == '\0') ? "@" + std::string(p + 1, l - 1) : std::string(p, strnlen(p, l));
        } else if (a->rta_type == UNIX_DIAG_PEER) {
          std::memcpy(&s.peer, RTA_DATA(a), sizeof s.peer);
        }
      }
      t.by_inode.emplace(m->udiag_ino, std::move(s));
    }
  }
  close(nl);
  return t;
}

std::optional<DoorName> parse_door_name(const std::string &name) {
  static constexpr char kPrefix[] = "@ldoor1:";
  if (name.compare(0, sizeof kPrefix - 1, kPrefix) != 0) return std::nullopt;
  DoorName d;
  unsigned attrs = 0, ref = 0;
  unsigned long long id = 0, proc = 0, cookie = 0;
  int used = 0, used_ref = 0;
  const char *f = name.c_str() + sizeof kPrefix - 1;
  if (std::sscanf(f, "%8x:%16llx:%16llx:%16llx%n", &attrs, &id, &proc, &cookie, &used) != 4) return std::nullopt;
  if (f[used] == ':') {
    if (std::sscanf(f + used, ":%x%n", &ref, &used_ref) != 1) return std::nullopt;
    d.reference = ref;
    used += used_ref;
  }
  if (f[used] != '\0') return std::nullopt;
  d.attributes = attrs;
  d.id = id;
  d.proc = proc;
  d.cookie = cookie;
  return d;
}

}  // namespace doorstat
