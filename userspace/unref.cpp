// SPDX-License-Identifier: MIT
//
// unref.cpp — DOOR_UNREF / DOOR_UNREF_MULTI: what counts as a reference on
// Linux, and how the drop to one is seen.
//
// Linux shows a process only the LAST close of an open file description,
// never the close of one of several descriptors sharing it (dup, fork,
// SCM_RIGHTS all share). So for a door created with DOOR_UNREF or
// DOOR_UNREF_MULTI libdoor makes each reference its own socketpair:
//   * the descriptor door_create() returned, with everything that shares
//     its description (its dups, fork copies, raw SCM_RIGHTS copies), is
//     reference 0 — "the one" the server keeps;
//   * every time the creating process hands the door out through libdoor —
//     as a DOOR_DESCRIPTOR in door_call() arguments or door_return()
//     results, or to an open() of a path it fattach()ed — a NEW reference
//     is minted: a socketpair whose server end is bound to the door's name
//     plus a reference suffix. The receiver's copies of it (dups, forks,
//     passes onward) share that reference.
// When every descriptor of a reference is closed, anywhere (including by
// process exit), the kernel hangs up its server end and the reactor counts
// the reference gone. When the count drops to one, after having been
// higher, the notification is queued (DOOR_UNREF: once ever; DOOR_UNREF_
// MULTI: once per drop, never twice before one has run), delayed while
// invocations are active, and delivered by a thread of the door's pool
// with argp == DOOR_UNREF_DATA. DOOR_IS_UNREF in door_info() is exact for
// these doors in the creating process. Doors without DOOR_UNREF* do not
// pay for minting and never report DOOR_IS_UNREF.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "reactor.h"
#include "runtime.h"
#include "server.h"

namespace door::detail {

namespace {

bool tracks_refs(const ServerDoor &d) noexcept {
  return (d.ident.attributes & (DOOR_UNREF | DOOR_UNREF_MULTI)) != 0;
}

/// Queues the notification if the door just became unreferenced.
/// Called with door->mu held.
void maybe_queue_unref_locked(const std::shared_ptr<ServerDoor> &door) noexcept {
  if (!tracks_refs(*door) || door->revoked.load() || !door->multi_seen) return;
  if (door->refs.load() != 1 || door->unref_queued) return;
  if ((door->ident.attributes & DOOR_UNREF) && door->unref_flag_cleared.load()) return;  // once ever
  if (door->active.load() > 0) {  // delayed until invocations finish
    door->unref_deferred = true;
    return;
  }
  door->unref_deferred = false;
  door->unref_queued = true;
  if (door->ident.attributes & DOOR_UNREF) door->unref_flag_cleared.store(true);
  WorkItem w;
  w.unref = door;
  pool_push(door->pool, std::move(w));
}

/// Reactor callback for a minted reference's server end.
bool serve_minted_end(const std::shared_ptr<ServerDoor> &door, int fd) {
  if (accept_hello(door, fd)) return true;
  door_reference_closed(door);
  // Close only after the reactor removed the watch (no fd-number reuse
  // confusion in the epoll set): post it behind the removal.
  reactor_post([fd] { raw_close(fd); });
  return false;
}

Result<int> mint_reference(const std::shared_ptr<ServerDoor> &door) noexcept {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return fail_errno(errno);
  std::uint32_t n;
  {
    std::lock_guard g(door->mu);
    n = door->next_ref++;
  }
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, ":%" PRIx32, n);
  std::string name = door_socket_name(door->ident) + suffix;
  struct sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path + 1, name.data(), name.size());
  socklen_t al = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + name.size());
  if (bind(sv[0], reinterpret_cast<struct sockaddr *>(&a), al) != 0) {
    int e = errno;
    raw_close(sv[0]);
    raw_close(sv[1]);
    return fail_errno(e);
  }
  fcntl(sv[0], F_SETFL, O_NONBLOCK);
  {
    std::lock_guard g(door->mu);
    door->refs.fetch_add(1);
    door->multi_seen = true;
  }
  int end = sv[0];
  auto *key = new char;  // unique watch key, freed with the watch's closure
  if (!reactor_watch_fd(end, key, [door, end, key] {
        bool keep = serve_minted_end(door, end);
        if (!keep) reactor_post([key] { delete key; });
        return keep;
      })) {
    delete key;
    raw_close(sv[0]);
    raw_close(sv[1]);
    std::lock_guard g(door->mu);
    door->refs.fetch_sub(1);
    return fail(std::errc::resource_unavailable_try_again);
  }
  return sv[1];
}

}  // namespace

void door_reference_closed(const std::shared_ptr<ServerDoor> &door) noexcept {
  std::lock_guard g(door->mu);
  if (door->refs.fetch_sub(1) <= 0) door->refs.store(0);
  maybe_queue_unref_locked(door);
}

int reference_for_passing(int fd) noexcept {
  auto ident = identify_door_fd(fd);
  if (!ident) return -1;
  auto door = find_local_door(ident->id);
  if (!door || !tracks_refs(*door) || door->revoked.load()) return -1;
  auto r = mint_reference(door);
  return r ? *r : -1;
}

/// Called when an invocation of `door` ends: a drop to one that happened
/// while it ran is delivered now.
void unref_after_invocation(const std::shared_ptr<ServerDoor> &door) noexcept {
  std::lock_guard g(door->mu);
  if (door->unref_deferred && door->active.load() == 0) maybe_queue_unref_locked(door);
}

/// An unref invocation starts running: a later drop may queue another.
void unref_started(ServerDoor &door) noexcept {
  std::lock_guard g(door.mu);
  door.unref_queued = false;
}

}  // namespace door::detail
