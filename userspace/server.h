// SPDX-License-Identifier: MIT
//
// server.h — the server side of libdoor: doors this process created, the
// connections clients opened to them, and the pools of server threads.
//
// Threading model (illumos' door_calls.c, moved to userspace):
//  * A pool thread is either waiting in its pool for work, or bound to one
//    call slot of one connection. A bound thread sleeps on that slot's `req`
//    futex word, so a caller wakes exactly its partner thread: one FUTEX_WAKE
//    per call, none if the thread is still spinning.
//  * A caller whose slot has no bound thread posts the call anyway and sends
//    NeedServer on its connection socket; the reactor queues that slot in the
//    door's pool and an idle pool thread binds to it. A bound thread that
//    sees no call for a second (idle_sweep.h) unbinds and returns to its pool.
//  * Pools: one public pool per process, one private pool per DOOR_PRIVATE
//    door (door_bind). The creation function (door_server_create) is called
//    with NULL for the first public door, with the door's info for each
//    private door, and on depletion by the thread that took the last idle
//    thread of its pool, before running the procedure.
#pragma once

#include <door.h>
#include <pthread.h>
#include <setjmp.h>
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "arrival_predictor.h"
#include "bulk.h"
#include "door_identity.h"
#include "params.h"
#include "result.h"
#include "shm_layout.h"
#include "spin.h"
#include "stats.h"
#include "unique_fd.h"

namespace door::detail {

struct ServerThread;
struct ServerConn;
struct Pool;

/// A door created by this process.
struct ServerDoor {
  DoorIdentity ident;
  door_server_procedure_t *proc = nullptr;
  void *cookie = nullptr;
  unique_fd server_end;              ///< bound to the door's abstract name
  Pool *pool = nullptr;              ///< public pool, or this door's private pool
  std::unique_ptr<Pool> private_pool;  ///< DOOR_PRIVATE doors own their pool
  std::atomic<bool> revoked{false};
  std::atomic<std::uint64_t> data_min{0};
  std::atomic<std::uint64_t> data_max{SIZE_MAX};
  std::atomic<std::uint64_t> desc_max{0};
  std::atomic<int> active{0};        ///< invocations running now

  // Resource limits (params.h) and what counts against them.
  std::atomic<std::uint64_t> calls_max{kDefaultCallsMax};
  std::atomic<std::uint64_t> client_calls_max{kDefaultClientCallsMax};
  std::atomic<std::uint64_t> inflight_max{kDefaultInflightMax};
  std::atomic<std::uint64_t> client_inflight_max{kDefaultClientInflightMax};
  std::atomic<std::uint64_t> client_conns_max{kDefaultClientConnsMax};
  std::atomic<std::uint64_t> calls{0};     ///< server threads engaged (bound or queued)
  std::atomic<std::uint64_t> inflight{0};  ///< bytes of large arguments mapped

  /// Every parameter at once (door_getparam / door_setparam).
  DoorParams params() const noexcept;
  void set_params(const DoorParams &p) noexcept;

  // Unreferenced notifications (see unref.cpp). References are server
  // ends: the original one plus one per reference minted for passing.
  std::atomic<int> refs{1};                ///< live references
  std::atomic<bool> unref_flag_cleared{false};  ///< DOOR_UNREF queued once: no longer reported
  bool multi_seen = false;                 ///< refs exceeded 1 at some time (mu)
  bool unref_queued = false;               ///< a notification waits for a thread (mu)
  bool unref_deferred = false;             ///< condition met while invocations ran (mu)
  std::uint32_t next_ref = 1;              ///< suffix of the next minted name (mu)

  // door_xcreate(): the door's own thread creation (xcreate.cpp).
  door_xcreate_server_func_t *xcreate_fn = nullptr;
  door_xcreate_thrsetup_func_t *xsetup_fn = nullptr;
  void *xcookie = nullptr;

  std::mutex mu;                               ///< guards conns
  std::vector<std::weak_ptr<ServerConn>> conns;  ///< for revoke / setparam
  DoorStatsEntry stats;                        ///< doorstat(1) counters (stats.h)

  /// Copies the current parameters into every connection's region header.
  void publish_params();
};

/// What one client process holds at one door, shared by its connections
/// (client_calls_max and client_inflight_max count against it).
struct ClientAccount {
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> inflight{0};
};

/// Server-private state of one call slot of one connection.
struct ServerSlot {
  std::atomic<ServerThread *> owner{nullptr};  ///< bound thread, if any
  std::uint32_t last_seen = 0;   ///< last call number handled (owner only)
  std::atomic<int> chan{-1};     ///< slot channel socket, set once by the reactor
  AdaptiveSpin spin;             ///< wait-for-next-call spin (owner only)
  ArrivalPredictor arrivals;     ///< anticipates periodic calls (owner only)
  // Bulk areas (bulk.h), used by the thread handling the slot's call.
  BulkReader arg_bulk;           ///< the client's argument area
  BulkWriter result_bulk;        ///< this slot's result area
};

/// One client process's connection to one door.
struct ServerConn {
  std::shared_ptr<ServerDoor> door;
  unique_fd sock;          ///< control socket (client holds the peer)
  void *region = nullptr;  ///< shared call region (kRegionSize)
  pid_t pid = -1;          ///< client pid (SO_PEERCRED, kernel-verified)
  uid_t euid = 0;
  gid_t egid = 0;
  unique_fd pidfd;         ///< pins the client process (pid-reuse safe)
  std::shared_ptr<ClientAccount> account;  ///< shared by this pid's connections
  std::atomic<bool> dead{false};
  ServerSlot slots[kSlots];

  ~ServerConn();
  SlotHeader *slot(std::uint32_t i) const noexcept { return slot_at(region, i); }
  /// Marks the connection dead and wakes every thread bound to it.
  void kill() noexcept;
};

/// A slot that needs a server thread.
struct WorkItem {
  std::shared_ptr<ServerConn> conn;
  std::uint32_t slot = 0;
  std::shared_ptr<ServerDoor> unref;  ///< set: deliver an unreferenced invocation
  bool reserved = false;  ///< holds one call of the door's and client's budgets
};

/// A pool of server threads: the public one or a DOOR_PRIVATE door's.
struct Pool {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<WorkItem> queue;
  int idle = 0;                    ///< threads waiting for work
  std::weak_ptr<ServerDoor> door;  ///< the private door (empty: public pool)
  bool is_private = false;
  std::vector<ServerThread *> bound;  ///< threads bound to a slot (recall candidates)
  /// doorstat(1) pool counters (stats.h; null: not published).
  std::atomic<std::atomic<std::uint32_t> *> st_threads{nullptr}, st_idle{nullptr};
};

inline constexpr std::uint64_t kCallRunning = 1, kCallCancelling = 2;

/// The server-side state of a pool thread (thread-local).
struct ServerThread {
  sigjmp_buf park;                  ///< door_return lands here
  bool park_ready = false;          ///< park is set (thread is in server_loop)
  pthread_t self{};
  /// (seq << 2) | kCallRunning while an invocation runs, | kCallCancelling
  /// while the reactor cancels it for an aborted client; 0 otherwise.
  std::atomic<std::uint64_t> call_state{0};
  std::atomic<bool> idle_bound{false};  ///< bound and asleep waiting for a call
  std::atomic<bool> recall{false};      ///< its pool has queued work: come back
  std::atomic<std::uint32_t> calls_taken{0};  ///< calls started on the bound slot (idle_sweep.cpp)
  std::uint32_t sweep_calls = 0;        ///< calls_taken at the last idle sweep (sweep's own)
  std::uint32_t sweep_idle = 0;         ///< consecutive sweeps that found it idle (sweep's own)
  Pool *pool = nullptr;             ///< pool served now
  Pool *bind_next = nullptr;        ///< door_bind target, taken at next park
  bool bind_pending = false;
  std::shared_ptr<ServerDoor> bound_door;  ///< door_bind()'s door (keeps pool alive)
  std::shared_ptr<ServerConn> conn; ///< slot this thread is bound to
  std::uint32_t slot = 0;
  /// The binding holds a call budget (WorkItem::reserved). The reactor may
  /// take it from an idle binding for a call of the same client; the next
  /// call on this binding then reserves again (prepare_call).
  std::atomic<bool> reserved{false};
  // Current invocation.
  bool in_call = false;
  bool replied = false;
  bool no_results = false;
  std::uint32_t seq = 0;
  ServerDoor *call_door = nullptr;
  ServerConn *call_conn = nullptr;        ///< caller's connection (door_ucred)
  std::shared_ptr<ServerConn> call_hold;  ///< keeps call_conn alive after door_reply_np unbinds
  std::shared_ptr<ServerDoor> door_hold;  ///< keeps call_door alive during an unref invocation
  std::uint32_t call_slot = 0;
  std::vector<char> argbuf;
  void *arg_map = nullptr;
  std::size_t arg_map_len = 0;
  std::uint64_t inflight = 0;       ///< bytes of arg_map counted against the budgets
  std::vector<door_desc_t> descs;
  std::uint64_t call_t0 = 0;                           ///< stats_ticks() at the claim
  std::atomic<std::uint32_t> *counted_in = nullptr;    ///< pool thread counter it is in (stats.h)
};

/// The calling thread's server state (nullptr when it never served).
ServerThread *current_server_thread() noexcept;

/// door_xcreate()'s per-door thread creation.
struct XCreate {
  door_xcreate_server_func_t *crf;
  door_xcreate_thrsetup_func_t *setup;
  void *crcookie;
  int nthread;
};

/// Creates a door served by this process (`x`: door_xcreate()).
Result<int> create_door(door_server_procedure_t *proc, void *cookie, std::uint32_t attrs,
                        const XCreate *x = nullptr) noexcept;

/// Asks a door_xcreate() door's creation function for one thread; `info`
/// is the door_info_t to pass. Returns crf's answer (1, 0, -1).
int xcreate_one_thread(const std::shared_ptr<ServerDoor> &door, door_info_t *info,
                       std::atomic<int> *started) noexcept;

/// The door with this id if this process created it (else null).
std::shared_ptr<ServerDoor> find_local_door(std::uint64_t id) noexcept;

/// Revokes a door created by this process.
Result<void> revoke_door(int fd, std::uint64_t id) noexcept;

/// Reads Hello records (new connections) from one of the door's server
/// ends; called by the reactor. Returns false when that end's peer is
/// closed everywhere (the reference is gone).
bool accept_hello(const std::shared_ptr<ServerDoor> &door, int server_end) noexcept;

/// A reference of `door` went away (its last descriptor closed anywhere).
void door_reference_closed(const std::shared_ptr<ServerDoor> &door) noexcept;

/// If `fd` is a door created here that tracks references (DOOR_UNREF*),
/// returns a freshly minted reference to pass instead (caller closes it
/// after sending); -1 when `fd` should be passed as it is.
int reference_for_passing(int fd) noexcept;

/// A deferred drop-to-one is delivered once invocations finished.
void unref_after_invocation(const std::shared_ptr<ServerDoor> &door) noexcept;
/// An unref invocation of `door` starts (a later drop may queue another).
void unref_started(ServerDoor &door) noexcept;
/// Attributes of a door as its creator sees them (DOOR_LOCAL, IS_UNREF...).
std::uint32_t local_door_attributes(const ServerDoor &d);

/// Queues slot work or an unref invocation for a thread of `pool`.
void pool_push(Pool *pool, WorkItem w) noexcept;
/// Wakes `t`, asleep bound to a quiet slot, so it returns to its pool
/// (unless a call arrived meanwhile). The caller guarantees t stays bound
/// meanwhile (holds its pool's lock, or the idle sweep's). False when it
/// was already recalled.
bool recall_bound_thread(ServerThread *t) noexcept;

/// Handles one control record on a connection; false = drop the connection.
bool handle_conn_message(const std::shared_ptr<ServerConn> &conn) noexcept;

/// door_return(): never returns on success. Not noexcept: a procedure it
/// runs may end the thread by forced unwinding (pthread_exit, cancel).
int server_return(char *data, std::size_t size, door_desc_t *descs, unsigned ndesc);

/// door_reply_np(): sends the reply, keeps running.
int server_reply_now(char *data, std::size_t size, door_desc_t *descs, unsigned ndesc) noexcept;

/// Makes the calling thread a member of `door`'s private pool (used by
/// threads door_xcreate() starts).
void adopt_pool(const std::shared_ptr<ServerDoor> &door) noexcept;

/// door_bind() / door_unbind().
Result<void> bind_thread(int fd) noexcept;
Result<void> unbind_thread() noexcept;

/// door_server_create().
door_server_func_t *set_server_create(door_server_func_t *f) noexcept;

/// Info for DOOR_QUERY (the door the calling thread is bound to).
Result<door_info_t> bound_door_info() noexcept;

/// Resets all server state in a fork child (the doors stay the parent's).
void server_forget_after_fork() noexcept;

}  // namespace door::detail
