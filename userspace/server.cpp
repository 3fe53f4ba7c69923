// SPDX-License-Identifier: MIT
//
// server.cpp — doors, connections, pools, and the server thread's life:
// bind to a slot, wait for a call, run the procedure, door_return, park.
#include "server.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <exception>
#include <unordered_map>
#include <unordered_set>

#include "attachments.h"
#include "client.h"
#include "fork_graveyard.h"
#include "futex.h"
#include "handoff.h"
#include "idle_sweep.h"
#include "reactor.h"
#include "runtime.h"
#include "scm.h"
#include "validate.h"
#include "wire.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace door::detail {

namespace {

void default_server_create(door_info_t *dip) noexcept;

struct Globals {
  std::mutex mu;  ///< guards doors, revoked, started_pid
  std::unordered_map<std::uint64_t, std::shared_ptr<ServerDoor>> doors;
  std::unordered_set<std::uint64_t> revoked;  ///< ids of doors revoked here
  pid_t public_started_pid = 0;               ///< creation fn called for NULL
  Pool *public_pool = new Pool;
  std::atomic<door_server_func_t *> create_fn{default_server_create};
};
Globals &globals() {
  static Globals *g = new Globals;  // threads outlive static destruction
  return *g;
}

__attribute__((tls_model("initial-exec"))) thread_local ServerThread *t_server = nullptr;

/// Every ServerThread, so that their state stays reachable from a global
/// (not only from thread-local storage, which a fork child does not have).
std::mutex g_threads_mu;
std::vector<ServerThread *> *g_threads = new std::vector<ServerThread *>;

ServerThread *self_thread() {
  if (!t_server) {
    // Allocated and listed under g_threads_mu, which the fork prepare
    // handler holds across fork(): a fork child sees every ServerThread in
    // g_threads, never one that so far only another thread's TLS names
    // (a child has no such thread; its leak checker would see a leak).
    std::lock_guard g(g_threads_mu);
    auto *t = new ServerThread;
    t->pool = globals().public_pool;
    g_threads->push_back(t);
    t_server = t;
  }
  return t_server;
}

void forget_thread(ServerThread *t) {
  stats_thread_leave(t->counted_in);
  {
    std::lock_guard g(g_threads_mu);
    std::erase(*g_threads, t);
  }
  delete t;
}

/// Attributes of a door as its creator sees them.
std::uint32_t attributes_of_local(const ServerDoor &d) {
  std::uint32_t a = (d.ident.attributes & DOOR_CREATE_MASK) | DOOR_LOCAL;
  if (d.revoked.load()) a |= DOOR_REVOKED;
  if (d.unref_flag_cleared.load()) a &= ~DOOR_UNREF;  // only one per door
  if ((d.ident.attributes & (DOOR_UNREF | DOOR_UNREF_MULTI)) && d.refs.load() <= 1) a |= DOOR_IS_UNREF;
  return a;
}

door_info_t info_of(const ServerDoor &d) {
  door_info_t i{};
  i.di_target = getpid();
  i.di_proc = d.ident.proc;
  i.di_data = d.ident.cookie;
  i.di_attributes = attributes_of_local(d);
  i.di_uniquifier = d.ident.id;
  return i;
}

/// Calls the creation function for `pool` (NULL info for the public pool).
void call_create_fn(Pool *pool) {
  door_server_func_t *f = globals().create_fn.load();
  if (!pool->is_private) {
    f(nullptr);
    return;
  }
  if (auto d = pool->door.lock()) {
    door_info_t i = info_of(*d);
    if (d->xcreate_fn) {  // door_xcreate(): the door's own function
      if (d->ident.attributes & DOOR_NO_DEPLETION_CB) return;
      i.di_attributes |= DOOR_DEPLETION_CB;
      (void)xcreate_one_thread(d, &i, nullptr);
      return;
    }
    f(&i);
  }
}

// ---- pool threads -------------------------------------------------------

[[noreturn]] void server_loop(ServerThread *t);

void *pool_thread_main(void *arg) {
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, nullptr);
  if (arg) {  // default creation for a private door: bind to its pool
    ServerThread *t = self_thread();
    t->pool = static_cast<Pool *>(arg);
    t->bound_door = t->pool->door.lock();
  }
  door_return(nullptr, 0, nullptr, 0);
  return nullptr;
}

void default_server_create(door_info_t *dip) noexcept {
  Pool *target = nullptr;
  if (dip && (dip->di_attributes & DOOR_PRIVATE)) {
    auto d = find_local_door(dip->di_uniquifier);
    if (!d) return;
    target = d->pool;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t th;
  if (pthread_create(&th, &attr, pool_thread_main, target) == 0) pthread_setname_np(th, "door-server");
  pthread_attr_destroy(&attr);
}

/// Posts an error reply for call `seq` in slot `s`.
void publish_error(SlotHeader *s, std::uint32_t seq, int err) noexcept {
  s->error = err;
  s->result_size = 0;
  s->result_ndesc = 0;
  s->result_flags = 0;
  std::uint32_t old = s->rsp.exchange(seq | kRspDone, std::memory_order_release);
  if (old & kRspWaiting) futex_wake(&s->rsp);
}

bool claim_call(SlotHeader *s, std::uint32_t seq) noexcept;

/// Takes one from `used` unless it reached `max` (exact: a CAS loop, so
/// racing reservations never overshoot and never refuse spuriously).
bool take_one(std::atomic<std::uint64_t> &used, std::uint64_t max) noexcept {
  std::uint64_t v = used.load(std::memory_order_relaxed);
  do {
    if (v >= max) return false;
  } while (!used.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_relaxed));
  return true;
}

/// Reserves a server thread for a call of `conn`'s client against the
/// door's calls_max and the client's client_calls_max (params.h).
bool reserve_call(ServerConn &conn) noexcept {
  ServerDoor &d = *conn.door;
  if (!take_one(d.calls, d.calls_max.load(std::memory_order_relaxed))) return false;
  if (!take_one(conn.account->calls, d.client_calls_max.load(std::memory_order_relaxed))) {
    d.calls.fetch_sub(1, std::memory_order_acq_rel);
    return false;
  }
  return true;
}

void release_call(ServerConn &conn) noexcept {
  conn.account->calls.fetch_sub(1, std::memory_order_acq_rel);
  conn.door->calls.fetch_sub(1, std::memory_order_acq_rel);
}

/// Answers the pending call of a queued slot with `err`, as if a server
/// thread had taken it (door revoked, or a limit reached). The item is
/// dropped: its call budget goes back.
void fail_unserved(WorkItem &w, int err) noexcept {
  if (w.reserved) release_call(*w.conn);
  w.reserved = false;
  ServerSlot &ss = w.conn->slots[w.slot];
  static ServerThread sentinel;  // marks the slot owned while we answer
  ServerThread *expected = nullptr;
  if (!ss.owner.compare_exchange_strong(expected, &sentinel, std::memory_order_acq_rel)) return;
  SlotHeader *s = w.conn->slot(w.slot);
  std::uint32_t seq = s->req.load(std::memory_order_acquire) & kSeqMask;
  if (seq != ss.last_seen && seq != 0) {
    ss.last_seen = seq;
    if (claim_call(s, seq)) publish_error(s, seq, err);
  }
  ss.owner.store(nullptr, std::memory_order_release);
}

/// Claims call `seq` against a withdrawal by the caller (see shm_layout.h).
bool claim_call(SlotHeader *s, std::uint32_t seq) noexcept {
  std::uint32_t c = s->claim.load(std::memory_order_acquire);
  while ((c & kSeqMask) != seq) {
    if (s->claim.compare_exchange_weak(c, seq | kClaimRunning, std::memory_order_acq_rel)) return true;
  }
  return false;  // withdrawn by the caller: it got EAGAIN, do not run it
}

void schedule_slot(const std::shared_ptr<ServerConn> &conn, std::uint32_t i) noexcept;
bool take_idle_reservation(Pool *p, const ClientAccount *account) noexcept;

void unbind(ServerThread *t) noexcept {
  if (!t->conn) return;
  {
    std::lock_guard g(t->pool->mu);
    std::erase(t->pool->bound, t);
  }
  idle_sweep_remove(t);  // before the binding goes: the sweep may touch t->conn
  std::shared_ptr<ServerConn> c = std::move(t->conn);
  if (t->reserved.exchange(false, std::memory_order_acq_rel)) release_call(*c);
  std::uint32_t i = t->slot;
  ServerSlot &ss = c->slots[i];
  std::uint32_t last = ss.last_seen;
  ss.owner.store(nullptr, std::memory_order_seq_cst);
  t->recall.store(false);
  // A caller that posted after kReqBound was cleared but before the owner
  // was released had its NeedServer dropped by the reactor (the slot still
  // looked owned): queue that call ourselves. A duplicate is harmless.
  std::uint32_t seq = c->slot(i)->req.load(std::memory_order_seq_cst) & kSeqMask;
  if (seq != last && seq != 0 && !c->dead.load()) schedule_slot(c, i);
}

/// Leaves the slot for good (the thread is ending): clears kReqBound so the
/// caller's next call asks the reactor for another thread.
void release_slot_binding(ServerThread *t) noexcept {
  if (!t->conn) return;
  SlotHeader *s = t->conn->slot(t->slot);
  s->req.fetch_and(~(kReqBound | kReqWaiting), std::memory_order_acq_rel);
  // A call posted just before the bit cleared saw kReqBound and sent no
  // NeedServer: unbind() queues the slot for another thread.
  unbind(t);
}

/// Gives up the slot if no call is pending; false when one arrived.
bool try_unbind(ServerThread *t, std::uint32_t v) noexcept {
  SlotHeader *s = t->conn->slot(t->slot);
  if ((v & kSeqMask) != t->conn->slots[t->slot].last_seen) return false;
  if (!s->req.compare_exchange_strong(v, v & ~(kReqBound | kReqWaiting), std::memory_order_acq_rel))
    return false;
  unbind(t);
  return true;
}

bool bind(ServerThread *t, WorkItem &w) noexcept {
  ServerSlot &ss = w.conn->slots[w.slot];
  ServerThread *expected = nullptr;
  if (!ss.owner.compare_exchange_strong(expected, t, std::memory_order_acq_rel)) return false;
  if (w.conn->dead.load()) {
    ss.owner.store(nullptr);
    return false;
  }
  t->reserved.store(std::exchange(w.reserved, false), std::memory_order_release);
  t->conn = std::move(w.conn);
  t->slot = w.slot;
  {
    std::lock_guard g(t->pool->mu);
    t->pool->bound.push_back(t);
  }
  idle_sweep_add(t);
  SlotHeader *s = t->conn->slot(t->slot);
  s->server_token = handoff_self_token();
  s->req.fetch_or(kReqBound, std::memory_order_acq_rel);
  return true;
}

enum class Work { None, Bound, Unref };

/// Waits in the pool for work: a slot to serve (binds to it) or an
/// unreferenced notification to deliver (t->door_hold).
Work take_work(ServerThread *t) noexcept {
  Pool *p = t->pool;
  WorkItem w;
  bool depleted;
  {
    std::unique_lock lk(p->mu);
    while (p->queue.empty()) {
      stats_set(p->st_idle.load(std::memory_order_relaxed), ++p->idle);
      p->cv.wait(lk);
      stats_set(p->st_idle.load(std::memory_order_relaxed), --p->idle);
    }
    w = std::move(p->queue.front());
    p->queue.pop_front();
    depleted = p->idle == 0;
  }
  Work kind;
  if (w.unref) {
    t->door_hold = std::move(w.unref);
    kind = Work::Unref;
  } else {
    if (!bind(t, w)) {
      if (w.reserved) release_call(*w.conn);  // a duplicate, or a dead client
      return Work::None;
    }
    kind = Work::Bound;
  }
  // illumos: the thread that takes the last available server thread calls
  // the creation function before running the procedure.
  if (depleted) call_create_fn(p);
  return kind;
}

/// Waits on the bound slot for the next call. Returns its seq, or 0 when
/// the thread left the slot (recalled when idle, dead client).
/// True when this thread may spin for its slot's caller: spinning is on,
/// the caller last ran on another CPU, and scx_door is not handing the CPU
/// over instead (spin.h).
bool may_spin(const SlotHeader *s, const ServerSlot &ss) noexcept {
  return spin_cap_ns() != 0 && online_cpus() >= 2 && ss.spin.handoff_absent() &&
         static_cast<int>(s->client_cpu) != sched_getcpu();
}

/// How a wait for the next call ended.
enum class Anticipation { None, Woken, Caught };

/// Sleeps until shortly before the predicted next call, then spins across
/// the window where it may arrive (arrival_predictor.h). `v` is req as last
/// read; `caught_ns` receives the time a call was seen while spinning.
Anticipation anticipate(ServerThread *t, SlotHeader *s, ServerSlot &ss, std::uint32_t v,
                        std::uint64_t &caught_ns) noexcept {
  ArrivalPredictor::Plan plan;
  if (!ss.arrivals.plan(plan)) return Anticipation::None;
  std::uint64_t now = now_ns();
  if (now >= plan.spin_until) return Anticipation::None;
  // Any change but the waiters bit: a call, or the connection dying.
  const std::uint32_t idle = v & ~kReqWaiting;
  auto changed = [&] { return (s->req.load(std::memory_order_acquire) & ~kReqWaiting) != idle; };
  if (plan.wake_at > now) {
    if (!(v & kReqWaiting)) {
      if (!s->req.compare_exchange_strong(v, v | kReqWaiting, std::memory_order_acq_rel)) return Anticipation::Woken;
      v |= kReqWaiting;
    }
    std::uint64_t d = plan.wake_at - now;
    const struct timespec ts{static_cast<time_t>(d / 1000000000u), static_cast<long>(d % 1000000000u)};
    handoff_before_sleep();
    t->idle_bound.store(true);
    int r = t->recall.load() ? 0 : futex_wait(&s->req, v, &ts);
    t->idle_bound.store(false);
    if (r != ETIMEDOUT) {
      // The caller stamped its call (the waiters bit was set); a forged
      // stamp from the future is ignored.
      if (std::uint64_t a = s->wake_ns.load(std::memory_order_relaxed); changed() && a <= now_ns())
        ss.arrivals.call_beat_timer(a, plan.wake_at);
      return Anticipation::Woken;
    }
    now = now_ns();
    ss.arrivals.timer_late(now - plan.wake_at);
    // Awake and about to spin: callers need not wake this thread. A call
    // posted meanwhile fails this CAS and is found by the spin below.
    s->req.compare_exchange_strong(v, idle, std::memory_order_acq_rel);
  }
  caught_ns = spin_until(plan.spin_until, [&] { return changed() || t->recall.load(std::memory_order_relaxed); });
  return caught_ns ? Anticipation::Caught : Anticipation::None;
}

std::uint32_t wait_for_call(ServerThread *t) noexcept {
  ServerConn *conn = t->conn.get();
  SlotHeader *s = conn->slot(t->slot);
  ServerSlot &ss = conn->slots[t->slot];
  bool spun = false, anticipated = false, slept = false;
  std::uint64_t seen_ns = 0;  // when a spin saw the call (0: no time taken)
  for (;;) {
    std::uint32_t v = s->req.load(std::memory_order_acquire);
    if (conn->dead.load(std::memory_order_acquire) || (v & kDead)) {
      unbind(t);
      return 0;
    }
    std::uint32_t seq = v & kSeqMask;
    if (seq != ss.last_seen && seq != 0) {
      ss.last_seen = seq;
      if (claim_call(s, seq)) {
        // Owner-only counter: a plain load and store, read by the sweep.
        t->calls_taken.store(t->calls_taken.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        if (slept) {
          // Woken by the caller, who stamped the call (a stale or forged
          // stamp falls outside (last arrival, now] and is replaced).
          std::uint64_t now = now_ns(), w = s->wake_ns.load(std::memory_order_relaxed);
          seen_ns = (w > ss.arrivals.last_arrival() && w <= now) ? w : now;
        }
        ss.arrivals.arrived(seen_ns);
        return seq;
      }
      continue;  // withdrawn: wait for the next one
    }
    // Recalled (the pool has work and no idle thread, or the idle sweep
    // found this slot quiet): leave it; its caller's next call asks for a
    // thread again.
    if (t->recall.exchange(false) && try_unbind(t, v)) return 0;
    if (!spun) {
      spun = true;
      // A hot server answers cross-CPU calls without any syscall.
      if (ss.spin.spin(
              static_cast<int>(s->client_cpu),
              [&] { return (s->req.load(std::memory_order_acquire) & kSeqMask) != ss.last_seen; },
              // The caller copies our results out and, likely, arguments
              // of the last call's size in.
              copy_time_ns(s->result_size + s->arg_size), &seen_ns))
        continue;
    }
    if (!anticipated && anticipation_enabled() && may_spin(s, ss)) {
      anticipated = true;
      switch (anticipate(t, s, ss, v, seen_ns)) {
        case Anticipation::Caught: continue;
        case Anticipation::Woken: slept = true; continue;
        case Anticipation::None: break;
      }
    }
    handoff_before_sleep();
    if (!(v & kReqWaiting)) {
      if (!s->req.compare_exchange_weak(v, v | kReqWaiting, std::memory_order_acq_rel)) continue;
      v |= kReqWaiting;
    }
    // Untimed: a timed wait arms an hrtimer per call (a tenth of a
    // same-CPU round trip); the idle sweep recalls a quiet thread instead.
    t->idle_bound.store(true);
    if (!t->recall.load()) futex_wait(&s->req, v, nullptr);  // EINTR: re-evaluate
    t->idle_bound.store(false);
    slept = true;
  }
}

/// Result of preparing an invocation.
struct Prepared {
  bool run = false;  ///< false: an error reply was already posted
  door_server_procedure_t *proc = nullptr;
  void *cookie = nullptr;
  char *argp = nullptr;
  std::size_t size = 0;
  door_desc_t *dp = nullptr;
  unsigned ndesc = 0;
};

bool counts_active(const ServerDoor &d) noexcept {
  // Only unref delivery needs to know whether invocations are running.
  return (d.ident.attributes & (DOOR_UNREF | DOOR_UNREF_MULTI)) != 0;
}

/// Marks the invocation running (pairs with finish_call_state).
void start_call_state(ServerThread *t, std::uint32_t seq) noexcept {
  t->call_state.store((std::uint64_t(seq) << 2) | kCallRunning, std::memory_order_release);
}

/// Ends the running state; waits out a cancellation the reactor is issuing
/// for this very invocation (a few instructions), so that a cancel can
/// never hit the thread's next invocation.
void finish_call_state(ServerThread *t) noexcept {
  std::uint64_t v = t->call_state.load(std::memory_order_acquire);
  for (;;) {
    if (v & kCallCancelling) {
      cpu_relax();
      v = t->call_state.load(std::memory_order_acquire);
      continue;
    }
    if (t->call_state.compare_exchange_weak(v, 0, std::memory_order_acq_rel)) return;
  }
}

void end_call(ServerThread *t) noexcept {
  finish_call_state(t);
  if (t->arg_map) munmap(t->arg_map, t->arg_map_len);
  t->arg_map = nullptr;
  t->arg_map_len = 0;
  if (t->inflight) {  // a large call's bytes go back to the budgets
    t->call_conn->account->inflight.fetch_sub(t->inflight, std::memory_order_acq_rel);
    t->call_door->inflight.fetch_sub(t->inflight, std::memory_order_acq_rel);
    t->inflight = 0;
  }
  t->descs.clear();
  if (ServerDoor *d = t->call_door; d && counts_active(*d)) {
    if (d->active.fetch_sub(1) == 1) {
      std::shared_ptr<ServerDoor> sp = t->door_hold ? t->door_hold : t->call_conn ? t->call_conn->door : nullptr;
      if (sp) unref_after_invocation(sp);
    }
  }
  t->door_hold.reset();
  t->call_door = nullptr;
  t->call_conn = nullptr;
  t->call_hold.reset();
  t->in_call = false;
}

/// Admits `bytes` of large arguments of `conn`'s client: 0, E2BIG (over a
/// limit by itself) or EAGAIN (the budgets are taken by running calls).
int reserve_inflight(ServerConn &conn, std::uint64_t bytes) noexcept {
  ServerDoor &d = *conn.door;
  ClientAccount &a = *conn.account;
  std::uint64_t cmax = d.client_inflight_max.load(std::memory_order_relaxed);
  std::uint64_t dmax = d.inflight_max.load(std::memory_order_relaxed);
  // Add first, then judge what was there before us: racing calls never
  // overshoot a limit together (one of them sees the other's bytes).
  std::uint64_t cused = a.inflight.fetch_add(bytes, std::memory_order_acq_rel);
  std::uint64_t dused = d.inflight.fetch_add(bytes, std::memory_order_acq_rel);
  if (int e = inflight_verdict(bytes, cused, cmax, dused, dmax)) {
    a.inflight.fetch_sub(bytes, std::memory_order_acq_rel);
    d.inflight.fetch_sub(bytes, std::memory_order_acq_rel);
    return e;
  }
  return 0;
}

/// Reads and validates call `seq` (client-written memory is hostile: every
/// field is read once, then checked) and sets up the invocation.
Prepared prepare_call(ServerThread *t, std::uint32_t seq) noexcept {
  ServerConn *conn = t->conn.get();
  ServerDoor *door = conn->door.get();
  SlotHeader *s = conn->slot(t->slot);
  std::uint32_t flags = s->call_flags;
  std::uint64_t size = s->arg_size;
  std::uint32_t ndesc = s->arg_ndesc;
  const std::uint32_t bulk_gen = (flags & kCallArgsInBulk) ? s->arg_bulk_gen : 0;
  std::atomic_thread_fence(std::memory_order_acquire);
  t->in_call = true;
  t->replied = false;
  t->seq = seq;
  t->no_results = (flags & kCallNoResults) != 0;
  // Raw pointers: the binding (t->conn) keeps the connection and door
  // alive; door_reply_np moves that reference to call_hold before it
  // unbinds. No reference-count traffic per call.
  t->call_door = door;
  t->call_conn = conn;
  t->call_slot = t->slot;
  if (counts_active(*door)) door->active.fetch_add(1);
  start_call_state(t, seq);
  Prepared p;
  auto reject = [&](int err) {
    if (flags & kCallViaChannel) {
      int chan = conn->slots[t->slot].chan.load();
      if (chan >= 0) (void)receive_attachments(chan, seq, MapData::No);  // drop them
    }
    publish_error(s, seq, err);
    end_call(t);
    return p;
  };
  const CallFields cf{flags, size, ndesc};
  if (int e = check_call(cf, CallPolicy{door->revoked.load(), (door->ident.attributes & DOOR_REFUSE_DESC) != 0,
                                        door->data_min.load(), door->data_max.load(), door->desc_max.load()}))
    return reject(e);
  // The binding's call budget was handed to another call of this client
  // while the thread sat idle (take_idle_reservation): take a new one. If
  // the reactor gave the old one back meanwhile, keep one of the two.
  if (!t->reserved.load(std::memory_order_seq_cst)) {
    if (!reserve_call(*conn)) return reject(EAGAIN);
    if (t->reserved.exchange(true, std::memory_order_seq_cst)) release_call(*conn);
  }
  // Small arguments ride in the header line (see kSmallArgs) unless they
  // came with descriptors on the channel.
  const char *inline_src = args_in_header(cf) ? s->small_args : slot_data(s);
  ServerSlot &ss = conn->slots[t->slot];
  if (size > kSlotData) {
    // Large arguments are copied or mapped below: admit their bytes
    // against the client's and the door's budgets first (params.h).
    if (int e = reserve_inflight(*conn, size)) return reject(e);
    t->inflight = size;
  }
  if (flags & kCallViaChannel) {
    int chan = ss.chan.load();
    if (chan < 0) return reject(EINVAL);
    auto a = receive_attachments(chan, seq, MapData::Populate);
    if (!a) return reject(a.error() == std::errc::too_many_files_open ? EMFILE : EINVAL);
    if (int e = check_call_attachments(
            cf, ReceivedShape{a->fds.size(), a->data != nullptr, a->data_size, static_cast<bool>(a->bulk)}))
      return reject(e);
    if (a->bulk && !ss.arg_bulk.adopt(a->bulk.get(), bulk_gen)) return reject(EINVAL);
    if (a->data) {
      // Sealed and read-only: used in place, no copy (see attachments.h).
      t->arg_map = std::exchange(a->data, nullptr);
      t->arg_map_len = a->map_len;
      p.argp = static_cast<char *>(t->arg_map);
    }
    t->descs.resize(ndesc);
    for (std::uint32_t k = 0; k < ndesc; k++) {
      door_desc_t dd{};
      int fd = a->fds[k].release();
      dd.d_attributes = DOOR_DESCRIPTOR;
      dd.d_data.d_desc.d_descriptor = fd;
      if (auto ident = identify_door_fd(fd)) {
        dd.d_attributes |= door_attributes_here(fd, *ident);
        dd.d_data.d_desc.d_id = ident->id;
      }
      t->descs[k] = dd;
    }
  }
  if (flags & kCallArgsInBulk) {
    inline_src = ss.arg_bulk.view(bulk_gen, size);
    if (!inline_src) return reject(EINVAL);  // an area we were never sent
    s->arg_bulk_held = bulk_gen;
  }
  if (!p.argp && size) {
    if (door->ident.attributes & DOOR_ARGS_IN_PLACE_NP) {
      // The door's creator accepted arguments that can change under it
      // (door.h): they stay in the client's slot or bulk area. Sealed
      // against shrinking, so reading them can never fault.
      p.argp = const_cast<char *>(inline_src);
    } else {
      // The procedure gets a private copy: the client could rewrite the
      // slot (or its bulk area) while the procedure runs.
      if (t->argbuf.size() < size) t->argbuf.resize(size);
      std::memcpy(t->argbuf.data(), inline_src, size);
      p.argp = t->argbuf.data();
    }
  }
  p.run = true;
  p.proc = door->proc;
  p.cookie = door->cookie;
  p.size = size;
  p.ndesc = ndesc;
  p.dp = ndesc ? t->descs.data() : nullptr;
  return p;
}

/// Sets up an unreferenced invocation: argp == DOOR_UNREF_DATA, no caller
/// (door_ucred fails with EINVAL), nothing to reply.
Prepared prepare_unref(ServerThread *t) noexcept {
  ServerDoor *door = t->door_hold.get();
  unref_started(*door);
  t->in_call = true;
  t->replied = true;
  t->no_results = true;
  t->seq = 0;
  t->call_door = door;
  t->call_conn = nullptr;
  door->active.fetch_add(1);  // unref doors always count (counts_active)
  start_call_state(t, 0);
  Prepared p;
  p.run = true;
  p.proc = door->proc;
  p.cookie = door->cookie;
  p.argp = static_cast<char *>(DOOR_UNREF_DATA);
  return p;
}

/// Sends results for the current invocation (door_return / door_reply_np).
int post_reply(ServerThread *t, char *data, std::size_t size, door_desc_t *descs, unsigned ndesc,
               bool will_block) noexcept {
  if ((size && !data) || (ndesc && !descs)) return EFAULT;
  if (t->no_results && (size || ndesc)) return E2BIG;
  if (ndesc > kMaxDescPerCall) return E2BIG;
  std::vector<int> fds;
  fds.reserve(ndesc);
  for (unsigned k = 0; k < ndesc; k++) {
    door_desc_t dd;
    std::memcpy(&dd, &descs[k], sizeof dd);
    int fd = dd.d_data.d_desc.d_descriptor;
    if (!(dd.d_attributes & DOOR_DESCRIPTOR) || fd < 0 || fcntl(fd, F_GETFD) < 0) return EINVAL;
    fds.push_back(fd);
  }
  auto close_released = [&] {
    for (unsigned k = 0; k < ndesc; k++)
      if (descs[k].d_attributes & DOOR_RELEASE) close_application_fd(descs[k].d_data.d_desc.d_descriptor);
  };
  ServerConn *conn = t->call_conn;
  if (!conn || conn->dead.load()) {  // the caller is gone: discard
    close_released();
    t->replied = true;
    return 0;
  }
  SlotHeader *s = conn->slot(t->call_slot);
  ServerSlot &ss = conn->slots[t->call_slot];
  std::uint32_t rflags = 0;
  // Results between a slot and kBulkMax: into the slot's result area, sent
  // along whenever the caller does not say it holds this generation. If no
  // area can be made, the one-shot memfd below carries them.
  int new_bulk = -1;
  if (size > kSlotData && size <= kBulkMax && ss.result_bulk.reserve(size)) {
    std::memcpy(ss.result_bulk.data(), data, size);
    std::uint32_t gen = ss.result_bulk.generation();
    s->result_bulk_gen = gen;
    rflags = kResultInBulk;
    if (s->result_bulk_held != gen) new_bulk = ss.result_bulk.fd();
  }
  const bool one_shot = size > kSlotData && !(rflags & kResultInBulk);
  if (ndesc || one_shot || new_bulk >= 0) {
    int chan = ss.chan.load();
    if (chan < 0) return EINVAL;  // the caller never set up a channel
    // Doors of ours that count references travel as fresh references.
    std::vector<unique_fd> minted;
    for (int &fd : fds)
      if (int m = reference_for_passing(fd); m >= 0) {
        minted.emplace_back(m);
        fd = m;
      }
    auto r = send_attachments(chan, t->seq, one_shot ? data : nullptr, size, fds, new_bulk);
    if (!r && (r.error() == std::errc::broken_pipe || r.error() == std::errc::connection_reset)) {
      // The caller died before the reactor marked its connection dead:
      // discard the reply as for a dead caller (DOOR_RELEASE descriptors
      // are closed, door_return succeeds), instead of failing with EINVAL
      // and leaving the released descriptors open.
      close_released();
      t->replied = true;
      return 0;
    }
    if (!r) return r.error() == std::errc::too_many_files_open ? EMFILE : EINVAL;
    rflags |= kResultViaChannel;
  }
  std::uint32_t off;
  if (size <= kSmallResult && !rflags) {
    off = kResultInHeader;
    if (size) std::memcpy(s->small_result, data, size);
  } else {
    off = result_offset_for(size);
    if (size && size <= kSlotData) std::memmove(slot_data(s) + off, data, size);
  }
  s->result_offset = off;
  s->error = 0;
  s->result_size = size;
  s->result_ndesc = ndesc;
  s->result_flags = rflags;
  s->server_cpu = static_cast<std::uint32_t>(sched_getcpu());
  close_released();
  t->call_door->stats.record(stats_ticks() - t->call_t0);
  // scx_door was (re)started: register with it and tell the caller the new
  // token, which its next call's wake-up names.
  if (handoff_stale()) s->server_token = handoff_self_token();
  handoff_announce(will_block ? SCX_DOOR_REPLY_BLOCK : SCX_DOOR_REPLY_CONTINUE, s->client_token);
  // Release: the results written above happen-before the caller's acquire.
  std::uint32_t old = s->rsp.exchange(t->seq | kRspDone, std::memory_order_release);
  if (old & kRspWaiting) futex_wake(&s->rsp);
  handoff_clear();
  t->replied = true;
  return 0;
}

/// Runs when a procedure returns instead of calling door_return (or the
/// thread exits / is cancelled inside it): the caller gets EINTR, as on
/// illumos, and the thread leaves its slot.
struct ProcedureExitGuard {
  ServerThread *t;
  ~ProcedureExitGuard() {
    if (t->in_call && !t->replied) {
      if (ServerConn *c = t->call_conn; c && !c->dead.load())
        publish_error(c->slot(t->call_slot), t->seq, EINTR);
    }
    if (t->in_call) end_call(t);
    release_slot_binding(t);
    if (std::uncaught_exceptions() > 0) {  // pthread_exit / cancellation
      t_server = nullptr;
      forget_thread(t);
    }
  }
};

[[noreturn]] void server_loop(ServerThread *t) {
  t->self = pthread_self();
  handoff_register_thread();
  stats_thread_join(t->counted_in, t->pool->st_threads.load(std::memory_order_relaxed));
  // door_return() lands here with siglongjmp, discarding the procedure's
  // frames: each invocation starts on the same stack depth, so a thread can
  // serve any number of calls without its stack growing (illumos resets the
  // stack pointer in the kernel to the same effect). Everything that must
  // survive the jump lives in *t, not in locals.
  sigsetjmp(t->park, 0);
  t->park_ready = true;
  for (;;) {
    if (t->bind_pending) {
      t->bind_pending = false;
      unbind(t);
      t->pool = t->bind_next;
      stats_thread_leave(t->counted_in);
      stats_thread_join(t->counted_in, t->pool->st_threads.load(std::memory_order_relaxed));
    }
    Prepared p;
    if (!t->conn) {
      Work w = take_work(t);
      if (w == Work::None) continue;
      if (w == Work::Unref) p = prepare_unref(t);
    }
    if (!p.run) {
      std::uint32_t seq = wait_for_call(t);
      if (!seq) continue;
      t->call_t0 = stats_ticks();
      p = prepare_call(t, seq);
      if (!p.run) continue;
    }
    {
      ProcedureExitGuard guard{t};
      p.proc(p.cookie, p.argp, p.size, p.dp, p.ndesc);
    }
    // The procedure returned without door_return(): illumos' trampoline
    // ends the thread here. The guard already failed the call with EINTR.
    t_server = nullptr;
    forget_thread(t);
    pthread_exit(nullptr);
  }
}

// ---- connections ----------------------------------------------------------

/// Copies the door's parameters into a region header (informational for
/// the client: door_getparam; the server enforces its own copy).
void write_params(RegionHeader *h, const ServerDoor &door) noexcept {
  DoorParams p = door.params();
  h->data_min.store(p.data_min);
  h->data_max.store(p.data_max);
  h->desc_max.store(p.desc_max);
  h->calls_max.store(p.calls_max);
  h->client_calls_max.store(p.client_calls_max);
  h->inflight_max.store(p.inflight_max);
  h->client_inflight_max.store(p.client_inflight_max);
  h->client_conns_max.store(p.client_conns_max);
}

Result<void *> make_region(const ServerDoor &door, unique_fd &memfd) noexcept {
  memfd.reset(memfd_create("door-region", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!memfd) return fail_errno(errno);
  if (ftruncate(memfd.get(), kRegionSize) != 0) return fail_errno(errno);
  // The client can write the region but never resize it: no SIGBUS here.
  if (fcntl(memfd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    return fail_errno(errno);
  void *r = mmap(nullptr, kRegionSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd.get(), 0);
  if (r == MAP_FAILED) return fail_errno(errno);
  madvise(r, kRegionSize, MADV_DONTFORK);
  auto *h = static_cast<RegionHeader *>(r);
  h->magic = kRegionMagic;
  h->version = kRegionVersion;
  h->header_size = kRegionHeaderSize;
  h->slot_header_size = kSlotHeaderSize;
  h->nslots = kSlots;
  h->slot_data = kSlotData;
  h->region_size = kRegionSize;
  h->door_id = door.ident.id;
  h->door_attributes = door.ident.attributes;
  h->revoked.store(door.revoked.load() ? 1 : 0);
  write_params(h, door);
  return r;
}

void reply_hello(int sock, int status, int memfd) noexcept {
  HelloReply rep{make_header(MsgType::HelloReply), status, kSlots, kRegionSize};
  int fds[1] = {memfd};
  (void)send_record(sock, &rep, sizeof rep, status == 0 ? std::span<const int>(fds, 1) : std::span<const int>(),
                    /*dontwait=*/true);
}

void new_connection(const std::shared_ptr<ServerDoor> &door, unique_fd sock) noexcept {
  int type = 0;
  socklen_t tl = sizeof type;
  struct ucred uc{};
  socklen_t ul = sizeof uc;
  if (getsockopt(sock.get(), SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_SEQPACKET ||
      getsockopt(sock.get(), SOL_SOCKET, SO_PEERCRED, &uc, &ul) != 0)
    return;  // not what a libdoor client sends: drop it
  if (door->revoked.load()) return reply_hello(sock.get(), EBADF, -1);
  // One account per client process: its connections share the limits.
  std::shared_ptr<ClientAccount> account;
  {
    std::lock_guard g(door->mu);
    std::size_t same = 0;
    std::erase_if(door->conns, [](auto &w) { return w.expired(); });
    for (auto &w : door->conns)
      if (auto c = w.lock(); c && c->pid == uc.pid && !c->dead.load()) {
        same++;
        account = c->account;
      }
    if (same >= door->client_conns_max.load(std::memory_order_relaxed)) return reply_hello(sock.get(), EAGAIN, -1);
  }
  if (!account) account = std::make_shared<ClientAccount>();
  auto conn = std::make_shared<ServerConn>();
  conn->account = std::move(account);
  conn->door = door;
  conn->pid = uc.pid;
  conn->euid = uc.uid;
  conn->egid = uc.gid;
  int pfd = -1;
  socklen_t pl = sizeof pfd;
  if (getsockopt(sock.get(), SOL_SOCKET, SO_PEERPIDFD, &pfd, &pl) == 0 && pfd >= 0)
    conn->pidfd.reset(pfd);
  else
    conn->pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, uc.pid, 0)));
  unique_fd memfd;
  auto region = make_region(*door, memfd);
  if (!region) return reply_hello(sock.get(), EAGAIN, -1);
  conn->region = *region;
  conn->sock = std::move(sock);
  reply_hello(conn->sock.get(), 0, memfd.get());
  {
    std::lock_guard g(door->mu);
    door->conns.push_back(conn);
  }
  reactor_watch_server_conn(conn);
}

/// Queues slot `i` of `conn` for a thread of the door's pool.
void schedule_slot(const std::shared_ptr<ServerConn> &conn, std::uint32_t i) noexcept {
  if (conn->dead.load() || conn->slots[i].owner.load()) return;
  WorkItem w;
  w.conn = conn;
  w.slot = i;
  if (!reserve_call(*conn) && !take_idle_reservation(conn->door->pool, conn->account.get())) {
    // Over calls_max or client_calls_max with no idle binding of this
    // client to take over: the call fails with EAGAIN and never runs.
    fail_unserved(w, EAGAIN);
    return;
  }
  w.reserved = true;
  pool_push(conn->door->pool, std::move(w));
}

bool take_idle_reservation(Pool *p, const ClientAccount *account) noexcept {
  std::lock_guard g(p->mu);
  // A thread of this client that sits bound to a quiet slot holds a call
  // budget it does not use: take the budget over for the new call and send
  // the thread back to its pool. The exchange on `reserved` decides once
  // who owns the budget: if a call reaches that thread first, it reserves
  // anew in prepare_call (or fails with EAGAIN at the limit), so the count
  // never exceeds the limit. As in pool_push: a thread in `bound` cannot
  // unbind while we hold the pool lock.
  //
  // Taking it races with the thread waking for a call on its own slot.
  // The thread clears idle_bound, then loads `reserved`; we exchange
  // `reserved`, then load idle_bound again — all seq_cst (Dekker): if the
  // thread read `reserved` as still set, our second load sees it busy and
  // we give the budget back; whoever then finds `reserved` already set
  // (the thread re-reserved, or we gave back) releases its extra one.
  for (ServerThread *t : p->bound) {
    if (t->conn->account.get() != account || !t->idle_bound.load(std::memory_order_seq_cst)) continue;
    if (!t->reserved.exchange(false, std::memory_order_seq_cst)) continue;
    if (!t->idle_bound.load(std::memory_order_seq_cst)) {
      if (t->reserved.exchange(true, std::memory_order_seq_cst)) release_call(*t->conn);
      continue;
    }
    (void)recall_bound_thread(t);  // false: already on its way back
    return true;
  }
  return false;
}

void cancel_call(const std::shared_ptr<ServerConn> &conn, std::uint32_t i, std::uint32_t seq) noexcept {
  if (conn->door->ident.attributes & DOOR_NO_CANCEL) return;
  ServerThread *t = conn->slots[i].owner.load();
  if (!t) return;
  // Only the very invocation the client abandoned is cancelled: moving its
  // state word to "cancelling" holds the thread's end_call off until the
  // cancel request is issued.
  std::uint64_t running = (std::uint64_t(seq) << 2) | kCallRunning;
  if (!t->call_state.compare_exchange_strong(running, (std::uint64_t(seq) << 2) | kCallCancelling,
                                             std::memory_order_acq_rel))
    return;
  if (t->call_conn == conn.get()) pthread_cancel(t->self);
  t->call_state.store(running, std::memory_order_release);
}

}  // namespace

// ---------------------------------------------------------------------------

void pool_push(Pool *p, WorkItem w) noexcept {
  std::lock_guard g(p->mu);
  p->queue.push_back(std::move(w));
  if (p->idle > 0) {
    p->cv.notify_one();
    return;
  }
  // No idle thread: recall one that sits bound to a quiet slot, so a
  // fixed-size pool (a declining creation function, door_xcreate with
  // DOOR_NO_DEPLETION_CB) serves the queue at once instead of after the
  // bound thread's idle timeout. Threads in `bound` cannot unbind while we
  // hold the pool lock, so their slot stays valid here.
  for (ServerThread *t : p->bound)
    if (t->idle_bound.load() && recall_bound_thread(t)) break;
}

bool recall_bound_thread(ServerThread *t) noexcept {
  if (t->recall.exchange(true)) return false;
  // Changing the word (dropping kReqWaiting) makes a FUTEX_WAIT that is
  // about to start return at once: no lost wake-up between the thread's
  // recall check and its sleep.
  SlotHeader *sh = t->conn->slot(t->slot);
  sh->req.fetch_and(~kReqWaiting, std::memory_order_acq_rel);
  futex_wake(&sh->req);
  return true;
}

ServerConn::~ServerConn() {
  for (auto &s : slots) {
    int c = s.chan.exchange(-1);
    if (c >= 0) raw_close(c);
  }
  if (region) munmap(region, kRegionSize);
}

void ServerConn::kill() noexcept {
  dead.store(true, std::memory_order_release);
  for (std::uint32_t i = 0; i < kSlots; i++) {
    SlotHeader *s = slot(i);
    s->req.fetch_or(kDead, std::memory_order_acq_rel);
    futex_wake(&s->req, INT_MAX);
  }
}

void ServerDoor::publish_params() {
  std::lock_guard g(mu);
  for (auto &w : conns)
    if (auto c = w.lock()) {
      auto *h = static_cast<RegionHeader *>(c->region);
      write_params(h, *this);
      h->revoked.store(revoked.load() ? 1 : 0, std::memory_order_release);
    }
}

DoorParams ServerDoor::params() const noexcept {
  return DoorParams{data_min.load(),         data_max.load(),     desc_max.load(),
                    calls_max.load(),        client_calls_max.load(), inflight_max.load(),
                    client_inflight_max.load(), client_conns_max.load()};
}

void ServerDoor::set_params(const DoorParams &p) noexcept {
  data_min.store(p.data_min);
  data_max.store(p.data_max);
  desc_max.store(p.desc_max);
  calls_max.store(p.calls_max);
  client_calls_max.store(p.client_calls_max);
  inflight_max.store(p.inflight_max);
  client_inflight_max.store(p.client_inflight_max);
  client_conns_max.store(p.client_conns_max);
}

ServerThread *current_server_thread() noexcept { return t_server; }

std::uint32_t local_door_attributes(const ServerDoor &d) { return attributes_of_local(d); }

std::shared_ptr<ServerDoor> find_local_door(std::uint64_t id) noexcept {
  Globals &g = globals();
  std::lock_guard lk(g.mu);
  auto it = g.doors.find(id);
  return it == g.doors.end() ? nullptr : it->second;
}

Result<int> create_door(door_server_procedure_t *proc, void *cookie, std::uint32_t attrs,
                        const XCreate *x) noexcept {
  constexpr std::uint32_t allowed = DOOR_UNREF | DOOR_PRIVATE | DOOR_UNREF_MULTI |
                                    DOOR_REFUSE_DESC | DOOR_NO_CANCEL | DOOR_ARGS_IN_PLACE_NP;
  constexpr std::uint32_t xallowed = DOOR_UNREF | DOOR_UNREF_MULTI | DOOR_REFUSE_DESC |
                                     DOOR_NO_CANCEL | DOOR_NO_DEPLETION_CB | DOOR_ARGS_IN_PLACE_NP;
  if (x) {
    if (!x->crf || x->nthread < 1 || (attrs & ~xallowed)) return fail(std::errc::invalid_argument);
    attrs |= DOOR_PRIVATE | DOOR_PRIVCREATE;
  } else if (attrs & ~allowed) {
    return fail(std::errc::invalid_argument);
  }
  if ((attrs & DOOR_UNREF) && (attrs & DOOR_UNREF_MULTI)) return fail(std::errc::invalid_argument);
  install_fork_handlers();
  auto door = std::make_shared<ServerDoor>();
  door->proc = proc;
  door->cookie = cookie;
  door->ident.attributes = attrs;
  door->ident.proc = reinterpret_cast<std::uintptr_t>(proc);
  door->ident.cookie = reinterpret_cast<std::uintptr_t>(cookie);
  if (getrandom(&door->ident.id, sizeof door->ident.id, 0) != sizeof door->ident.id)
    return fail(std::errc::resource_unavailable_try_again);
  door->desc_max.store((attrs & DOOR_REFUSE_DESC) ? 0 : INT_MAX);
  if (x) {
    door->xcreate_fn = x->crf;
    door->xsetup_fn = x->setup;
    door->xcookie = x->crcookie;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return fail_errno(errno);
  door->server_end.reset(sv[0]);
  unique_fd client_end(sv[1]);
  std::string name = door_socket_name(door->ident);
  struct sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path + 1, name.data(), name.size());
  socklen_t al = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + name.size());
  if (bind(door->server_end.get(), reinterpret_cast<struct sockaddr *>(&a), al) != 0) return fail_errno(errno);
  // The server end is read by the reactor only when it has records.
  fcntl(door->server_end.get(), F_SETFL, O_NONBLOCK);
  Globals &g = globals();
  bool call_public = false;
  if (attrs & DOOR_PRIVATE) {
    door->private_pool = std::make_unique<Pool>();
    door->private_pool->is_private = true;
    door->private_pool->door = door;
    door->pool = door->private_pool.get();
  } else {
    door->pool = g.public_pool;
  }
  door->stats.open(door->ident);
  if (attrs & DOOR_PRIVATE) {
    door->pool->st_threads.store(door->stats.pool_threads());
    door->pool->st_idle.store(door->stats.pool_idle());
  }
  if (!g.public_pool->st_threads.load()) {
    g.public_pool->st_idle.store(stats_public_idle());
    g.public_pool->st_threads.store(stats_public_threads());
  }
  {
    std::lock_guard lk(g.mu);
    g.doors[door->ident.id] = door;
    if (!(attrs & DOOR_PRIVATE) && g.public_started_pid != getpid()) {
      g.public_started_pid = getpid();
      call_public = true;
    }
  }
  if (!reactor_watch_door(door)) {
    std::lock_guard lk(g.mu);
    g.doors.erase(door->ident.id);
    return fail(std::errc::resource_unavailable_try_again);
  }
  // illumos calls the creation function inside door_create: with NULL for
  // the process' first public door, with the door's info for a private one.
  if (call_public) call_create_fn(g.public_pool);
  if (x) {
    // door_xcreate(): nthread threads are created and bound before the
    // door is returned; it fails if any cannot be.
    std::atomic<int> started{0};
    door_info_t i = info_of(*door);
    for (int k = 0; k < x->nthread; k++) {
      if (xcreate_one_thread(door, &i, &started) != 1) {
        (void)revoke_door(client_end.release(), door->ident.id);
        return fail(std::errc::resource_unavailable_try_again);
      }
    }
    while (started.load(std::memory_order_acquire) < x->nthread) usleep(200);
  } else if (attrs & DOOR_PRIVATE) {
    call_create_fn(door->pool);
  }
  return client_end.release();
}

Result<void> revoke_door(int fd, std::uint64_t id) noexcept {
  auto door = find_local_door(id);
  if (!door) return fail(std::errc::operation_not_permitted);
  door->revoked.store(true);
  door->stats.revoked();
  door->publish_params();
  // New Hellos fail at once; holders see the hang-up (door_info: REVOKED).
  shutdown(door->server_end.get(), SHUT_RDWR);
  reactor_unwatch_door(door.get());
  {
    Globals &g = globals();
    std::lock_guard lk(g.mu);
    g.revoked.insert(id);
  }
  // Callers still waiting for a server thread fail with EBADF now, even if
  // no thread will ever come (all busy, or the creation function declined).
  std::vector<WorkItem> waiting;
  {
    std::lock_guard g(door->pool->mu);
    auto &q = door->pool->queue;
    for (auto it = q.begin(); it != q.end();) {
      if (it->conn && it->conn->door == door) {
        waiting.push_back(std::move(*it));
        it = q.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto &w : waiting) fail_unserved(w, EBADF);
  // Unref notifications still queued for a revoked door are dropped.
  {
    std::lock_guard g(door->pool->mu);
    std::erase_if(door->pool->queue, [&](const WorkItem &w) { return w.unref == door; });
  }
  close_application_fd(fd);
  return {};
}

bool accept_hello(const std::shared_ptr<ServerDoor> &door, int server_end) noexcept {
  for (int n = 0; n < 64; n++) {
    MsgHeader h{};
    auto rec = recv_record(server_end, &h, sizeof h, /*dontwait=*/true);
    if (!rec) return rec.error() == std::errc::resource_unavailable_try_again;
    if (rec->len == 0 && rec->fds.empty()) {
      // EOF (every descriptor of this reference is closed) or an empty
      // record from a client: only a hang-up ends the reference.
      struct pollfd p{server_end, POLLIN | POLLRDHUP, 0};
      if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP))) return false;
      continue;
    }
    if (!hello_ok(h, rec->len, rec->fds.size())) continue;
    new_connection(door, std::move(rec->fds[0]));
  }
  return true;
}

bool handle_conn_message(const std::shared_ptr<ServerConn> &conn) noexcept {
  for (int n = 0; n < 64; n++) {
    SlotMsg m{};
    auto rec = recv_record(conn->sock.get(), &m, sizeof m, /*dontwait=*/true);
    if (!rec) return rec.error() == std::errc::resource_unavailable_try_again;
    switch (classify_conn_msg(m, rec->len, rec->fds.size())) {
      case ConnAction::Closed:  // client closed the connection
      case ConnAction::Drop:
        return false;
      case ConnAction::NeedServer:
        schedule_slot(conn, m.slot);
        break;
      case ConnAction::SlotChannel: {
        int type = 0;
        socklen_t tl = sizeof type;
        if (getsockopt(rec->fds[0].get(), SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_SEQPACKET)
          return false;
        // Set once: replacing a channel under a thread reading it would let
        // a client race descriptor numbers in the server.
        int expected = -1;
        if (!conn->slots[m.slot].chan.compare_exchange_strong(expected, rec->fds[0].get())) return false;
        rec->fds[0].release();
        SlotMsg ack{make_header(MsgType::SlotChannelAck), m.slot, 0};
        if (!send_record(conn->sock.get(), &ack, sizeof ack, {}, /*dontwait=*/true)) return false;
        break;
      }
      case ConnAction::Cancel:
        cancel_call(conn, m.slot, m.seq);
        break;
    }
  }
  return true;
}

int server_return(char *data, std::size_t size, door_desc_t *descs, unsigned ndesc) {
  ServerThread *t = self_thread();
  if (t->in_call) {
    if (!t->replied) {
      if (int e = post_reply(t, data, size, descs, ndesc, /*will_block=*/true)) {
        errno = e;
        return -1;
      }
    }
    end_call(t);
  }
  if (t->park_ready) siglongjmp(t->park, 1);
  server_loop(t);
}

int server_reply_now(char *data, std::size_t size, door_desc_t *descs, unsigned ndesc) noexcept {
  ServerThread *t = current_server_thread();
  if (!t || !t->in_call) return EINVAL;
  if (t->replied) return EINVAL;
  if (int e = post_reply(t, data, size, descs, ndesc, /*will_block=*/false)) return e;
  // Leave the slot so the caller's next call gets another thread instead of
  // waiting for this one to finish its post-reply work.
  if (t->conn) {
    std::shared_ptr<ServerConn> hold = t->conn;  // keeps call_conn valid
    std::uint32_t v = t->conn->slot(t->slot)->req.load(std::memory_order_acquire);
    if (try_unbind(t, v)) t->call_hold = std::move(hold);
  }
  return 0;
}

Result<void> bind_thread(int fd) noexcept {
  auto ident = identify_door_fd(fd);
  if (!ident) return fail(std::errc::bad_file_descriptor);
  auto door = find_local_door(ident->id);
  if (!door || !(door->ident.attributes & DOOR_PRIVATE)) return fail(std::errc::invalid_argument);
  ServerThread *t = self_thread();
  t->bind_next = door->pool;
  t->bind_pending = true;
  t->bound_door = door;
  if (!t->park_ready) {  // not serving yet: takes effect when it parks
    t->pool = door->pool;
    t->bind_pending = false;
  }
  return {};
}

void adopt_pool(const std::shared_ptr<ServerDoor> &door) noexcept {
  ServerThread *t = self_thread();
  t->pool = door->pool;
  t->bound_door = door;
  t->bind_pending = false;
}

Result<void> unbind_thread() noexcept {
  ServerThread *t = current_server_thread();
  if (!t || !t->bound_door) return fail(std::errc::bad_file_descriptor);
  t->bound_door.reset();
  t->bind_next = globals().public_pool;
  t->bind_pending = true;
  if (!t->park_ready) {
    t->pool = t->bind_next;
    t->bind_pending = false;
  }
  return {};
}

door_server_func_t *set_server_create(door_server_func_t *f) noexcept {
  return globals().create_fn.exchange(f ? f : default_server_create);
}

Result<door_info_t> bound_door_info() noexcept {
  ServerThread *t = current_server_thread();
  if (!t || !t->bound_door) return fail(std::errc::bad_file_descriptor);
  return info_of(*t->bound_door);
}

bool door_revoked_here(std::uint64_t id) noexcept {
  Globals &g = globals();
  std::lock_guard lk(g.mu);
  return g.revoked.count(id) != 0;
}

std::mutex &server_mutex() noexcept { return globals().mu; }

namespace {
/// The parent's server state, as parked by a fork child (fork_graveyard.h).
struct ServerGrave {
  std::unordered_map<std::uint64_t, std::shared_ptr<ServerDoor>> doors;
  std::unordered_set<std::uint64_t> revoked;
  std::unique_ptr<Pool> fresh_pool = std::make_unique<Pool>();
  ServerThread *forking_thread = nullptr;  ///< the forking thread's old state
  /// The parent's public pool, replaced by fresh_pool in the child: kept
  /// here so it stays reachable like the rest (valgrind saw it lost).
  Pool *parent_pool = nullptr;
};
ForkGraveyard<ServerGrave> g_server_grave;
}  // namespace

void server_prepare_fork() noexcept {
  g_server_grave.prepare();
  g_threads_mu.lock();  // the child gets a consistent thread list
  idle_sweep_prepare_fork();
}

void server_parent_after_fork() noexcept {
  idle_sweep_parent_after_fork();
  g_threads_mu.unlock();
  g_server_grave.parent();
}

void server_forget_after_fork() noexcept {
  // Single-threaded fork child, no allocation here. The doors, their
  // connections and pools are the parent's: close our copies of their
  // descriptors (the parent keeps its own) and move them, untouched, into
  // the graveyard the prepare handler made.
  Globals &g = globals();
  new (&g.mu) std::mutex;
  new (&g_threads_mu) std::mutex;  // its owner (the prepare handler's thread) is us, but re-create it
  // Connections' descriptors were closed from the reactor's watch map
  // (reactor_forget_after_fork): door->conns may be mid-edit here.
  for (auto &kv : g.doors) {
    ServerDoor *d = kv.second.get();
    raw_close(d->server_end.release());
    new (&d->mu) std::mutex;
  }
  if (ServerGrave *grave = g_server_grave.child()) {
    g.doors.swap(grave->doors);
    g.revoked.swap(grave->revoked);
    grave->parent_pool = g.public_pool;
    g.public_pool = grave->fresh_pool.release();
    grave->forking_thread = t_server;
  }
  g.public_started_pid = 0;
  idle_sweep_forget_after_fork();
  t_server = nullptr;  // the forking thread serves nothing in the child
}

}  // namespace door::detail
