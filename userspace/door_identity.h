// SPDX-License-Identifier: MIT
//
// door_identity.h — how a file descriptor is recognised as a door.
//
// A door descriptor is one end of an AF_UNIX SOCK_SEQPACKET socketpair; the
// creating process keeps the other end (the "server end"), bound to an
// abstract name that carries the door's static identity:
//     "\0ldoor1:<attrs>:<id>:<proc>:<cookie>"   (hex fields)
// Such a bound socketpair end cannot be connect()ed to, so the name grants
// nothing: only holders of the descriptor can talk to the door. The kernel
// keeps the name visible through getpeername() even after the server end is
// closed, and SO_PEERCRED on the door descriptor names the creating process
// (translated into the caller's pid namespace). So any holder can describe
// the door (door_info) without a round trip, and dup(), fork inheritance,
// SCM_RIGHTS and DOOR_DESCRIPTOR passing all keep it a door.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "result.h"

namespace door::detail {

/// Static identity of a door, parsed from its server end's name.
struct DoorIdentity {
  std::uint64_t id = 0;          ///< di_uniquifier (random, 64-bit)
  std::uint32_t attributes = 0;  ///< creation attributes
  std::uint64_t proc = 0;        ///< server procedure address (creator's space)
  std::uint64_t cookie = 0;      ///< cookie (creator's space)
};

/// Abstract socket name for a door (without the leading NUL).
std::string door_socket_name(const DoorIdentity &ident);

/// Recognises `fd` as a door descriptor. EBADF when it is not one.
Result<DoorIdentity> identify_door_fd(int fd) noexcept;

/// Live state of the door behind `fd`, as seen from this process.
struct DoorLiveness {
  pid_t server_pid = -1;  ///< -1 when the server process has exited
  bool closed = false;    ///< server end shut down: revoked or server gone
};

/// Queries the server pid and whether the door's server end is closed.
Result<DoorLiveness> door_liveness(int fd) noexcept;

}  // namespace door::detail
