// SPDX-License-Identifier: MIT
//
// client.h — the calling side of libdoor.
//
// A process that calls a door opens its own connection to the door's server
// (Hello over the door descriptor, carrying a socketpair end it just made, so
// SO_PEERCRED on it names this process: credentials follow whoever calls,
// also after the descriptor was passed on). The server answers with a sealed
// memfd holding kSlots call slots. A call takes a free slot, writes the
// arguments into it, and rendezvouses with the slot's server thread through
// two futex words. Arguments and results larger than a slot go through the
// slot's reusable bulk areas (bulk.h). Descriptors, data beyond kBulkMax and
// new bulk areas travel on a per-slot socketpair (the "slot channel"),
// created the first time a slot needs one. More concurrent callers than
// slots open another connection.
//
// Finding the door of a descriptor costs no syscall on the call path: a
// table maps descriptor numbers to doors, kept exact by libdoor's close(),
// dup2(), dup3(), close_range() and closefrom() (fd_table.cpp).
#pragma once

#include <door.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "bulk.h"
#include "door_identity.h"
#include "params.h"
#include "result.h"
#include "shm_layout.h"
#include "spin.h"
#include "unique_fd.h"

namespace door::detail {

struct ClientDoor;

/// Client-private state of one slot.
struct ClientSlot {
  /// kFree, kBusy, or kAbandoned (a call left by an interrupted caller is
  /// still running on the server; the slot is reusable once its reply is in).
  std::atomic<std::uint32_t> state{0};
  /// Last call number posted. Written by the owner; read by threads probing
  /// an abandoned slot, hence atomic (relaxed: the state CAS orders reuse).
  std::atomic<std::uint32_t> seq{0};
  unique_fd chan;               ///< slot channel, created on first need
  AdaptiveSpin spin;            ///< reply spin (owner only)
  // Bulk areas (bulk.h), used by the slot's owner only.
  BulkWriter arg_bulk;          ///< this slot's argument area
  std::uint32_t arg_bulk_confirmed = 0;  ///< generation the server said it holds (0: unsure)
  BulkReader result_bulk;       ///< the server's result area
};
inline constexpr std::uint32_t kSlotFree = 0, kSlotBusy = 1, kSlotAbandoned = 2;

/// This process's connection to a door's server.
struct ClientConn {
  ClientDoor *door = nullptr;
  unique_fd sock;
  void *region = nullptr;
  std::atomic<bool> dead{false};
  std::mutex ctl_mu;  ///< serialises request/ack exchanges on `sock`
  ClientSlot slots[kSlots];
  ClientConn *next = nullptr;  ///< immutable once published
  SlotHeader *slot(std::uint32_t i) const noexcept { return slot_at(region, i); }
  RegionHeader *header() const noexcept { return static_cast<RegionHeader *>(region); }
  ~ClientConn();
};

/// A door as known to this process (one per door id, whatever descriptors
/// refer to it). Never freed while the process lives: descriptors map to it
/// lock-free, so it must stay valid for a racing lookup; its connections
/// are torn down when its last descriptor closes.
struct ClientDoor {
  DoorIdentity ident;
  std::mutex mu;                          ///< connection set-up / teardown
  std::atomic<ClientConn *> conns{nullptr};
  std::atomic<int> fdrefs{0};             ///< descriptors mapped to it
  std::atomic<int> inflight{0};           ///< calls using its connections (+ kClosing bit)
  std::atomic<std::uint64_t> generation{0};  ///< bumped when connections are torn down
  std::atomic<bool> gone{false};          ///< revoked or server dead
  ClientConn *forked_away = nullptr;      ///< a fork child's parked parent connections
};

/// A door's call parameters as its server published them.
/// Parameters of a door served by another process (opens a connection).
Result<DoorParams> client_params(int fd) noexcept;

/// door_call().
Result<void> client_call(int fd, door_arg_t *params) noexcept;

/// A call posted to its server and not collected yet: door_call() split in
/// two for asynchronous calls (async_call.cpp). It owns its slot and holds
/// the door's connections (rundown) until call_collect() or call_abandon().
struct PostedCall {
  ClientDoor *door = nullptr;
  ClientConn *conn = nullptr;
  std::uint32_t index = 0;  ///< slot
  std::uint32_t seq = 0;    ///< call number
};

/// Validates and posts a call exactly as door_call() does (same errnos),
/// without waiting for the reply. `params` is only read here. With
/// `signals_at_start` (door_call's caught-signal count when it began,
/// caught_signals.h), a signal caught before the call is published, while
/// a first call connects for instance, fails it with EAGAIN: it never ran.
Result<PostedCall> call_post(int fd, door_arg_t *params, const std::uint32_t *signals_at_start = nullptr) noexcept;

/// Where a posted call stands.
enum class ReplyState { Pending, Replied, ServerDied };

/// The state of `pc`'s reply. When Pending, kRspWaiting is set in the
/// reply word first and *wait_value (if not null) receives the value a
/// futex wait must expect: the server then wakes that word on reply.
ReplyState call_reply_state(const PostedCall &pc, std::uint32_t *wait_value) noexcept;

/// The reply futex word of `pc` (to wait on).
std::atomic<std::uint32_t> *call_reply_word(const PostedCall &pc) noexcept;

/// Finishes `pc` if its reply is in (results into `params`, as door_call)
/// or its server died (EINTR if the call had started, else EBADF); frees
/// the slot. EINPROGRESS, and nothing changes, while it is still pending.
Result<void> call_collect(const PostedCall &pc, door_arg_t *params) noexcept;

/// Gives up on `pc`: a call no server thread claimed is withdrawn (never
/// runs); a running one is abandoned (cancelled unless DOOR_NO_CANCEL, its
/// slot reusable once its reply lands); a reply already in is dropped.
/// No futex wait may remain armed on the reply word (a stale waiter would
/// swallow the single wake-up of the slot's next call).
void call_abandon(const PostedCall &pc) noexcept;

/// The door behind `fd` (slow path fills the table). EBADF if none.
Result<ClientDoor *> lookup_door(int fd) noexcept;

/// Reactor callback: the server of this connection hung up.
void client_conn_lost(ClientConn *conn) noexcept;
/// The connection's control socket (for the reactor).
int client_conn_fd(ClientConn *conn) noexcept;

/// Attributes to report for a door descriptor received or queried here.
std::uint32_t door_attributes_here(int fd, const DoorIdentity &ident) noexcept;

/// Forgets a descriptor (called by the close/dup interposers).
void fd_table_forget(int fd) noexcept;
/// Fork child: drop every connection (they belong to the parent).
void client_forget_after_fork() noexcept;
/// The client registry's lock (taken around fork()).
std::mutex &client_mutex() noexcept;

}  // namespace door::detail
