// SPDX-License-Identifier: MIT
//
// ucred.cpp — ucred_t and its accessors; door_ucred()'s data source.
//
// Where credentials come from: each connection's socket was created by the
// client process itself (socketpair) and handed to the server, so
// SO_PEERCRED on it names that process; the kernel filled it in, a client
// cannot forge it. SO_PEERPIDFD (or pidfd_open at connect) pins that exact
// process. door_ucred() then reads the process' CURRENT real, effective and
// saved ids and groups from /proc/<pid>/status and checks, after reading,
// that the pidfd still refers to a live process, so a recycled pid can
// never lend its credentials. If the caller already exited, the connect-
// time SO_PEERCRED values (effective ids) are reported.
#include <fcntl.h>
#include <poll.h>
#include <ucred.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "caller_cred.h"
#include "server.h"

/// The ucred_t layout (opaque to applications).
struct ucred_s {
  std::uint32_t magic;
  pid_t pid;
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  int ngroups;
  gid_t groups[1024];  // ucred_size() covers this maximum; more are dropped
};

namespace door::detail {

namespace {

constexpr std::uint32_t kUcredMagic = 0x55435244u;  // "UCRD"

bool read_status(pid_t pid, ucred_t *uc) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  FILE *f = std::fopen(path, "re");
  if (!f) return false;
  char line[4096];
  bool uid = false, gid = false;
  uc->ngroups = 0;
  while (std::fgets(line, sizeof line, f)) {
    unsigned a, b, c;
    if (std::sscanf(line, "Uid:\t%u\t%u\t%u", &a, &b, &c) == 3) {
      uc->ruid = a, uc->euid = b, uc->suid = c, uid = true;
    } else if (std::sscanf(line, "Gid:\t%u\t%u\t%u", &a, &b, &c) == 3) {
      uc->rgid = a, uc->egid = b, uc->sgid = c, gid = true;
    } else if (std::strncmp(line, "Groups:", 7) == 0) {
      char *p = line + 7, *end;
      for (;;) {
        unsigned long g = std::strtoul(p, &end, 10);
        if (end == p) break;
        if (uc->ngroups < 1024) uc->groups[uc->ngroups++] = static_cast<gid_t>(g);
        p = end;
      }
    }
  }
  std::fclose(f);
  return uid && gid;
}

bool pidfd_alive(int pidfd) noexcept {
  if (pidfd < 0) return true;  // no pidfd (old kernel): cannot tell, trust /proc
  struct pollfd p{pidfd, POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

}  // namespace

Result<void> current_caller_ucred(ucred_t *uc) noexcept {
  ServerThread *t = current_server_thread();
  if (!t || !t->in_call || !t->call_conn) return fail(std::errc::invalid_argument);
  ServerConn &c = *t->call_conn;
  ucred_t tmp{};
  tmp.magic = kUcredMagic;
  tmp.pid = c.pid;
  if (!(read_status(c.pid, &tmp) && pidfd_alive(c.pidfd.get()))) {
    tmp.ruid = tmp.euid = tmp.suid = c.euid;
    tmp.rgid = tmp.egid = tmp.sgid = c.egid;
    tmp.ngroups = 0;
  }
  std::memcpy(uc, &tmp, offsetof(ucred_t, groups) + sizeof(gid_t) * static_cast<std::size_t>(tmp.ngroups));
  return {};
}

}  // namespace door::detail

using door::detail::kUcredMagic;

namespace {
bool valid(const ucred_t *uc) {
  if (uc && uc->magic == door::detail::kUcredMagic) return true;
  errno = EINVAL;
  return false;
}
}  // namespace

extern "C" {

ucred_t *ucred_get(pid_t pid) noexcept {
  if (pid == P_MYID) pid = getpid();
  auto *uc = static_cast<ucred_t *>(std::calloc(1, sizeof(ucred_t)));
  if (!uc) {
    errno = ENOMEM;
    return nullptr;
  }
  uc->magic = kUcredMagic;
  uc->pid = pid;
  if (!door::detail::read_status(pid, uc)) {
    std::free(uc);
    errno = ESRCH;
    return nullptr;
  }
  return uc;
}

void ucred_free(ucred_t *uc) noexcept { std::free(uc); }
uid_t ucred_geteuid(const ucred_t *uc) noexcept { return valid(uc) ? uc->euid : static_cast<uid_t>(-1); }
uid_t ucred_getruid(const ucred_t *uc) noexcept { return valid(uc) ? uc->ruid : static_cast<uid_t>(-1); }
uid_t ucred_getsuid(const ucred_t *uc) noexcept { return valid(uc) ? uc->suid : static_cast<uid_t>(-1); }
gid_t ucred_getegid(const ucred_t *uc) noexcept { return valid(uc) ? uc->egid : static_cast<gid_t>(-1); }
gid_t ucred_getrgid(const ucred_t *uc) noexcept { return valid(uc) ? uc->rgid : static_cast<gid_t>(-1); }
gid_t ucred_getsgid(const ucred_t *uc) noexcept { return valid(uc) ? uc->sgid : static_cast<gid_t>(-1); }
pid_t ucred_getpid(const ucred_t *uc) noexcept { return valid(uc) ? uc->pid : -1; }
int ucred_getgroups(const ucred_t *uc, const gid_t **groups) noexcept {
  if (!valid(uc)) return -1;
  if (groups) *groups = uc->groups;
  return uc->ngroups;
}
size_t ucred_size(void) noexcept { return sizeof(ucred_t); }
int ucred_getzoneid(const ucred_t *) noexcept {
  errno = EINVAL;  // Linux has no zones
  return -1;
}
int ucred_getprojid(const ucred_t *) noexcept {
  errno = EINVAL;  // Linux has no projects
  return -1;
}

}  // extern "C"
