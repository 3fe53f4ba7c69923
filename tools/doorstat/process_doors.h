// SPDX-License-Identifier: MIT
//
// process_doors.h — the doors one process serves and holds, found from
// /proc/<pid>/fd alone (door sockets by inode, see unix_sockets.h), plus
// what its libdoor publishes in the statistics region (stats_reader.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stats_reader.h"
#include "unix_sockets.h"

namespace doorstat {

/// A door the process created (it holds one or more server ends).
struct ServedDoor {
  DoorName name;                     ///< identity (reference suffix dropped)
  std::vector<int> server_end_fds;   ///< its server ends: 1 + minted references
  std::optional<DoorCounters> stats; ///< from the statistics region
  bool revoked = false;              ///< no server end left (stats only)
};

/// A door descriptor the process holds.
struct HeldDoor {
  int fd = -1;
  DoorName name;
  pid_t server_pid = -1;  ///< the process holding the server end (-1: unknown/gone)
  bool local = false;     ///< served by this process itself
};

/// Everything doorstat reports about one process.
struct ProcessDoors {
  pid_t pid = -1;
  std::string comm;
  std::vector<ServedDoor> served;
  std::vector<HeldDoor> held;
  int stats_fd = -1;   ///< the "ldoor-stats" memfd (-1: none)
  ProcessStats stats;  ///< its contents
  std::string error;   ///< why the process could not be inspected
  bool has_doors() const { return !served.empty() || !held.empty() || stats_fd >= 0; }
};

/// Inspects `pid`. `sockets` is this namespace's socket table;
/// `owner_of` maps a server end's inode to its process (for held doors).
ProcessDoors inspect_process(pid_t pid, const UnixSocketTable &sockets,
                             const std::unordered_map<std::uint32_t, pid_t> *owner_of);

/// Every pid in /proc.
std::vector<pid_t> all_pids();

/// Inode of every door server end, with the pid holding it (all processes).
std::unordered_map<std::uint32_t, pid_t> server_end_owners(const UnixSocketTable &sockets);

}  // namespace doorstat
