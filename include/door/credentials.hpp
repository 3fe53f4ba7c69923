// SPDX-License-Identifier: MIT
//
// door/credentials.hpp — who is calling: door::caller_credentials() wraps
// door_ucred(3) and returns the calling process' ids, groups and pid as a
// value. The kernel vouches for them (see doors(7), "Credentials").
#pragma once

#include <door.h>
#include <ucred.h>

#include <new>
#include <vector>

#include <door/error.hpp>

namespace door {

/// The credentials of the process that made the current invocation.
struct Credentials {
  pid_t pid = -1;           ///< the caller's process id (in our pid namespace)
  uid_t uid = uid_t(-1);    ///< real user id
  uid_t euid = uid_t(-1);   ///< effective user id
  uid_t suid = uid_t(-1);   ///< saved user id
  gid_t gid = gid_t(-1);    ///< real group id
  gid_t egid = gid_t(-1);   ///< effective group id
  gid_t sgid = gid_t(-1);   ///< saved group id
  std::vector<gid_t> groups;  ///< supplementary groups (at most 1024)
};

/// The credentials of the caller of the invocation the calling thread is
/// running (door_ucred(3)). Errors: EINVAL outside an invocation, ENOMEM.
[[nodiscard]] inline Result<Credentials> caller_credentials() noexcept {
  ucred_t *uc = nullptr;
  if (door_ucred(&uc) != 0) return unexpected_errno();
  Credentials c;
  c.pid = ucred_getpid(uc);
  c.uid = ucred_getruid(uc);
  c.euid = ucred_geteuid(uc);
  c.suid = ucred_getsuid(uc);
  c.gid = ucred_getrgid(uc);
  c.egid = ucred_getegid(uc);
  c.sgid = ucred_getsgid(uc);
  const gid_t *g = nullptr;
  int n = ucred_getgroups(uc, &g);
  try {
    if (n > 0) c.groups.assign(g, g + n);
  } catch (const std::bad_alloc &) {
    ucred_free(uc);
    return unexpected_errno(ENOMEM);
  }
  ucred_free(uc);
  return c;
}

}  // namespace door
