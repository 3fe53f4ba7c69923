// SPDX-License-Identifier: MIT
//
// process_doors.cpp — walking /proc/<pid>/fd for door sockets and the
// statistics memfd.
#include "process_doors.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>

namespace doorstat {

namespace {

/// (fd, link target) of every descriptor of `pid`; false if unreadable.
bool list_fds(pid_t pid, std::vector<std::pair<int, std::string>> &out, std::string &error) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR *d = opendir(dir.c_str());
  if (!d) {
    error = dir + ": " + std::strerror(errno);
    return false;
  }
  while (dirent *e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[256];
    std::string link = dir + "/" + e->d_name;
    ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    out.emplace_back(std::atoi(e->d_name), std::string(target, static_cast<std::size_t>(n)));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return true;
}

/// "socket:[123]" -> 123.
std::uint32_t socket_inode(const std::string &target) {
  if (target.rfind("socket:[", 0) != 0) return 0;
  return static_cast<std::uint32_t>(std::strtoul(target.c_str() + 8, nullptr, 10));
}

bool is_stats_memfd(const std::string &target) {
  return target.rfind(std::string("/memfd:") + door::stats::kStatsMemfdName, 0) == 0;
}

}  // namespace

std::vector<pid_t> all_pids() {
  std::vector<pid_t> pids;
  if (DIR *d = opendir("/proc")) {
    while (dirent *e = readdir(d))
      if (e->d_name[0] >= '1' && e->d_name[0] <= '9') pids.push_back(std::atoi(e->d_name));
    closedir(d);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::unordered_map<std::uint32_t, pid_t> server_end_owners(const UnixSocketTable &sockets) {
  std::unordered_map<std::uint32_t, pid_t> owners;
  for (pid_t pid : all_pids()) {
    std::vector<std::pair<int, std::string>> fds;
    std::string err;
    if (!list_fds(pid, fds, err)) continue;
    for (auto &[fd, target] : fds) {
      std::uint32_t ino = socket_inode(target);
      auto it = ino ? sockets.by_inode.find(ino) : sockets.by_inode.end();
      if (it != sockets.by_inode.end() && parse_door_name(it->second.name)) owners.emplace(ino, pid);
    }
  }
  return owners;
}

ProcessDoors inspect_process(pid_t pid, const UnixSocketTable &sockets,
                             const std::unordered_map<std::uint32_t, pid_t> *owner_of) {
  ProcessDoors p;
  p.pid = pid;
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::getline(comm, p.comm);
  std::vector<std::pair<int, std::string>> fds;
  if (!list_fds(pid, fds, p.error)) return p;
  std::map<std::uint64_t, ServedDoor> served;
  for (auto &[fd, target] : fds) {
    if (is_stats_memfd(target)) {
      p.stats_fd = fd;
      continue;
    }
    std::uint32_t ino = socket_inode(target);
    if (!ino) continue;
    auto it = sockets.by_inode.find(ino);
    if (it == sockets.by_inode.end()) continue;
    if (auto n = parse_door_name(it->second.name)) {  // a server end: served here
      ServedDoor &s = served[n->id];
      s.name = *n;
      s.name.reference.reset();
      s.server_end_fds.push_back(fd);
      continue;
    }
    auto peer = it->second.peer ? sockets.by_inode.find(it->second.peer) : sockets.by_inode.end();
    if (peer == sockets.by_inode.end()) continue;
    if (auto n = parse_door_name(peer->second.name)) {  // a door descriptor
      HeldDoor h;
      h.fd = fd;
      h.name = *n;
      h.name.reference.reset();
      if (owner_of) {
        auto o = owner_of->find(it->second.peer);
        if (o != owner_of->end()) h.server_pid = o->second;
      }
      p.held.push_back(h);
    }
  }
  if (p.stats_fd >= 0) {
    p.stats = read_process_stats(pid, p.stats_fd);
    for (auto &c : p.stats.doors) {
      auto it = served.find(c.id);
      if (it == served.end()) {  // revoked: its server ends are closed
        ServedDoor s;
        s.name.id = c.id;
        s.name.attributes = c.attributes;
        s.name.proc = c.proc;
        s.name.cookie = c.cookie;
        s.revoked = true;
        it = served.emplace(c.id, s).first;
      }
      it->second.stats = c;
      if (c.revoked) it->second.revoked = true;
    }
  }
  for (auto &h : p.held) h.local = served.count(h.name.id) != 0;
  for (auto &kv : served) p.served.push_back(std::move(kv.second));
  return p;
}

}  // namespace doorstat
