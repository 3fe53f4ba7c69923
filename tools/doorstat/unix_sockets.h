// SPDX-License-Identifier: MIT
//
// unix_sockets.h — every AF_UNIX socket of this network namespace, by
// inode, with its bound name and its peer (NETLINK_SOCK_DIAG, as `ss -x`).
// A door's server end is bound to "\0ldoor1:..." (userspace/door_identity.h);
// a door descriptor is a socket whose PEER is such a server end.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace doorstat {

/// One AF_UNIX socket.
struct UnixSocket {
  std::string name;         ///< bound name; abstract names start with '@'
  std::uint32_t peer = 0;   ///< inode of the connected peer (0: none)
  std::uint8_t type = 0;    ///< SOCK_STREAM, SOCK_SEQPACKET...
};

/// Sockets by inode. Empty (and `error` set) if sock_diag is unavailable.
struct UnixSocketTable {
  std::unordered_map<std::uint32_t, UnixSocket> by_inode;
  std::string error;
};

/// Dumps the table (one netlink request).
UnixSocketTable dump_unix_sockets();

/// A door's static identity parsed from a server end's name.
struct DoorName {
  std::uint32_t attributes = 0;
  std::uint64_t id = 0, proc = 0, cookie = 0;
  std::optional<std::uint32_t> reference;  ///< ":<ref>" suffix of a minted reference
};

/// Parses "@ldoor1:<attrs>:<id>:<proc>:<cookie>[:<ref>]"; nullopt otherwise.
std::optional<DoorName> parse_door_name(const std::string &name);

}  // namespace doorstat
