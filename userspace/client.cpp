// SPDX-License-Identifier: MIT
//
// client.cpp — door_call(): connections, slots, the caller's half of the
// futex rendezvous, results and the overflow buffer.
#include "client.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "attachments.h"
#include "caught_signals.h"
#include "futex.h"
#include "handoff.h"
#include "reactor.h"
#include "runtime.h"
#include "scm.h"
#include "server.h"
#include "validate.h"
#include "wire.h"

namespace door::detail {

namespace {

// ---- descriptor table: fd number -> ClientDoor, two levels, lock-free reads.
constexpr int kFdPage = 1024;
constexpr int kFdPages = 4096;  // descriptors below 4M are cached
std::atomic<std::atomic<ClientDoor *> *> g_fd_pages[kFdPages];

std::atomic<ClientDoor *> *fd_entry(int fd, bool create) noexcept {
  if (fd < 0 || fd >= kFdPage * kFdPages) return nullptr;
  auto &page = g_fd_pages[fd / kFdPage];
  std::atomic<ClientDoor *> *p = page.load(std::memory_order_acquire);
  if (!p && create) {
    auto *fresh = new (std::nothrow) std::atomic<ClientDoor *>[kFdPage]();
    if (!fresh) return nullptr;
    if (page.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) {
      p = fresh;
    } else {
      delete[] fresh;
    }
  }
  return p ? &p[fd % kFdPage] : nullptr;
}

struct Registry {
  std::mutex mu;
  std::unordered_map<std::uint64_t, ClientDoor *> doors;
};
Registry &registry() {
  static Registry *r = new Registry;  // outlives static destructors
  return *r;
}

/// Rundown protection for a door's connections. `inflight` counts calls
/// using them; kClosing marks a teardown. Both live in ONE atomic, so a
/// call entering and a teardown starting are totally ordered: either the
/// call sees kClosing (and waits), or the teardown sees the call (and
/// leaves it to the last call out). Connections are only unlinked while
/// kClosing is set and no call is inside, so a call never touches a
/// connection that is being freed.
constexpr int kClosing = 1 << 30;

void maybe_teardown(ClientDoor *d) noexcept {
  std::lock_guard g(d->mu);
  if (d->fdrefs.load() != 0) return;
  int v = d->inflight.fetch_or(kClosing, std::memory_order_acq_rel);
  if ((v & ~kClosing) != 0) {  // calls inside: the last one out retries
    d->inflight.fetch_and(~kClosing, std::memory_order_acq_rel);
    return;
  }
  // Thread-local slot caches name connections: make them all stale.
  d->generation.fetch_add(1, std::memory_order_relaxed);
  ClientConn *c = d->conns.exchange(nullptr);
  while (c) {
    ClientConn *next = c->next;
    reactor_unwatch_client_conn(c, [c] { delete c; });
    c = next;
  }
  d->inflight.fetch_and(~kClosing, std::memory_order_acq_rel);
}

void drop_fdref(ClientDoor *d) noexcept {
  if (d->fdrefs.fetch_sub(1, std::memory_order_acq_rel) == 1) maybe_teardown(d);
}

/// Ends a call's hold on a door's connections (see kClosing).
void inflight_leave(ClientDoor *d) noexcept {
  if (d->inflight.fetch_sub(1, std::memory_order_acq_rel) == 1 && d->fdrefs.load() == 0)
    maybe_teardown(d);
}

/// A call's hold on a door's connections (see kClosing). A posted call
/// that outlives its caller's frame (PostedCall) keeps the hold past the
/// guard: dismiss() hands it over, call_finish() ends it.
struct InflightGuard {
  ClientDoor *d;
  explicit InflightGuard(ClientDoor *door) : d(door) {
    while (d->inflight.fetch_add(1, std::memory_order_acq_rel) & kClosing) {
      d->inflight.fetch_sub(1, std::memory_order_acq_rel);
      sched_yield();  // a teardown runs: it takes microseconds
    }
  }
  ~InflightGuard() {
    if (d) inflight_leave(d);
  }
  void dismiss() noexcept { d = nullptr; }
  InflightGuard(const InflightGuard &) = delete;
  InflightGuard &operator=(const InflightGuard &) = delete;
};

// ---- connection set-up (Hello) ----

Result<ClientConn *> connect_door(int fd, ClientDoor *d) noexcept {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return fail_errno(errno);
  unique_fd mine(sv[0]), theirs(sv[1]);
  MsgHeader hello = make_header(MsgType::Hello);
  int pass[1] = {theirs.get()};
  for (;;) {
    auto r = send_record(fd, &hello, sizeof hello, pass, /*dontwait=*/true);
    if (r) break;
    if (r.error() == std::errc::resource_unavailable_try_again) {
      struct pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 100);
      continue;
    }
    if (r.error() == std::errc::too_many_files_open) return fail(std::errc::too_many_files_open);
    d->gone.store(true);
    return fail(std::errc::bad_file_descriptor);  // server end closed: revoked or dead
  }
  theirs.reset();
  HelloReply rep{};
  auto rec = recv_record(mine.get(), &rep, sizeof rep, false);
  if (!rec) return fail(rec.error());
  if (rec->len == 0) {  // server went away or refused
    d->gone.store(true);
    return fail(std::errc::bad_file_descriptor);
  }
  if (int e = check_hello_reply(rep, rec->len, rec->fds.size())) {
    if (rec->len == sizeof rep && rep.status == EBADF) d->gone.store(true);
    return fail_errno(e);
  }
  int memfd = rec->fds[0].get();
  struct stat st;
  // Sealed against shrinking: a server could otherwise truncate the region
  // under us and make the next access to a slot fault (SIGBUS).
  int seals = fcntl(memfd, F_GET_SEALS);
  if (fstat(memfd, &st) != 0 || static_cast<std::size_t>(st.st_size) != kRegionSize || seals < 0 ||
      !(seals & F_SEAL_SHRINK))
    return fail(std::errc::bad_file_descriptor);
  void *region = mmap(nullptr, kRegionSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  if (region == MAP_FAILED) return fail(std::errc::not_enough_memory);
  auto *h = static_cast<RegionHeader *>(region);
  if (!region_header_ok(*h, d->ident.id)) {
    munmap(region, kRegionSize);
    return fail(std::errc::bad_file_descriptor);
  }
  // A fork child must not inherit the parent's slots (see fork.cpp).
  madvise(region, kRegionSize, MADV_DONTFORK);
  auto *c = new (std::nothrow) ClientConn;
  if (!c) {
    munmap(region, kRegionSize);
    return fail(std::errc::not_enough_memory);
  }
  c->door = d;
  c->sock = std::move(mine);
  c->region = region;
  if (!reactor_watch_client_conn(c)) {
    delete c;
    return fail(std::errc::resource_unavailable_try_again);
  }
  return c;
}

// ---- slots ----

struct SlotRef {
  ClientConn *conn = nullptr;
  std::uint32_t index = 0;
};

struct CallCache {
  ClientDoor *door = nullptr;
  std::uint64_t generation = 0;  ///< door's generation when cached
  ClientConn *conn = nullptr;
  std::uint32_t index = 0;
};
// initial-exec: no __tls_get_addr call on the call path.
__attribute__((tls_model("initial-exec"))) thread_local CallCache t_cache;

bool try_take(ClientConn *c, std::uint32_t i) noexcept {
  ClientSlot &cs = c->slots[i];
  std::uint32_t st = cs.state.load(std::memory_order_relaxed);
  if (st == kSlotFree)
    return cs.state.compare_exchange_strong(st, kSlotBusy, std::memory_order_acquire);
  if (st == kSlotAbandoned) {
    // An interrupted call's slot is reusable once its reply has landed: the
    // server no longer touches it. Its attachments, if any, are discarded
    // by sequence number when the channel is next read.
    std::uint32_t r = c->slot(i)->rsp.load(std::memory_order_acquire);
    if ((r & kSeqMask) == cs.seq.load(std::memory_order_relaxed) && (r & kRspDone))
      return cs.state.compare_exchange_strong(st, kSlotBusy, std::memory_order_acquire);
  }
  return false;
}

Result<SlotRef> acquire_slot(int fd, ClientDoor *d) noexcept {
  CallCache &cc = t_cache;
  std::uint64_t gen = d->generation.load(std::memory_order_relaxed);
  if (cc.door == d && cc.generation == gen && cc.conn && !cc.conn->dead.load(std::memory_order_relaxed) &&
      try_take(cc.conn, cc.index))
    return SlotRef{cc.conn, cc.index};
  for (;;) {
    for (ClientConn *c = d->conns.load(std::memory_order_acquire); c; c = c->next) {
      if (c->dead.load(std::memory_order_relaxed)) continue;
      for (std::uint32_t i = 0; i < kSlots; i++)
        if (try_take(c, i)) {
          cc = CallCache{d, gen, c, i};
          return SlotRef{c, i};
        }
    }
    std::unique_lock g(d->mu);
    if (d->gone.load()) return fail(std::errc::bad_file_descriptor);
    // Another thread may have connected while we waited for the lock.
    ClientConn *head = d->conns.load(std::memory_order_acquire);
    for (ClientConn *c = head; c; c = c->next) {
      if (c->dead.load()) continue;
      for (std::uint32_t i = 0; i < kSlots; i++)
        if (try_take(c, i)) {
          cc = CallCache{d, gen, c, i};
          return SlotRef{c, i};
        }
    }
    auto conn = connect_door(fd, d);
    if (!conn) return fail(conn.error());
    ClientConn *c = *conn;
    c->next = head;
    c->slots[0].state.store(kSlotBusy, std::memory_order_relaxed);
    d->conns.store(c, std::memory_order_release);
    cc = CallCache{d, gen, c, 0};
    return SlotRef{c, 0};
  }
}

void release_slot(SlotRef s) noexcept {
  s.conn->slots[s.index].state.store(kSlotFree, std::memory_order_release);
}

/// Creates the slot's channel: a socketpair whose other end goes to the
/// server, which acknowledges it before any call can rely on it.
Result<void> ensure_channel(ClientConn *c, std::uint32_t i) noexcept {
  ClientSlot &cs = c->slots[i];
  if (cs.chan) return {};
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return fail_errno(errno);
  unique_fd mine(sv[0]), theirs(sv[1]);
  std::lock_guard g(c->ctl_mu);
  SlotMsg m{make_header(MsgType::SlotChannel), i, 0};
  int pass[1] = {theirs.get()};
  if (auto r = send_record(c->sock.get(), &m, sizeof m, pass); !r) return fail(std::errc::bad_file_descriptor);
  theirs.reset();
  SlotMsg ack{};
  auto rec = recv_record(c->sock.get(), &ack, sizeof ack, false);
  if (!rec || rec->len != sizeof ack || !header_ok(ack.h, MsgType::SlotChannelAck) || ack.slot != i)
    return fail(std::errc::bad_file_descriptor);
  cs.chan = std::move(mine);
  return {};
}

/// Publishes call `seq` in slot `s` and makes sure a server thread runs it.
/// False when the server's end of the connection is gone.
bool post_call(ClientConn *c, std::uint32_t i, std::uint32_t seq) noexcept {
  SlotHeader *s = c->slot(i);
  std::uint32_t v = s->req.load(std::memory_order_relaxed);
  // Release: the arguments written into the slot happen-before the server
  // thread's acquire load of the new sequence number.
  while (!s->req.compare_exchange_weak(v, (v & kReqBound) | seq, std::memory_order_release,
                                       std::memory_order_relaxed)) {
  }
  if (!(v & kReqBound)) {
    // No server thread owns this slot: ask the server's reactor for one.
    SlotMsg m{make_header(MsgType::NeedServer), i, seq};
    std::lock_guard g(c->ctl_mu);
    auto r = send_record(c->sock.get(), &m, sizeof m, {});
    return r || (r.error() != std::errc::broken_pipe && r.error() != std::errc::connection_reset);
  }
  if (v & kReqWaiting) {
    // Already paying a syscall: the clock read is noise beside it.
    s->wake_ns.store(now_ns(), std::memory_order_relaxed);
    handoff_announce(SCX_DOOR_CALLING, s->server_token);
    futex_wake(&s->req);
    handoff_clear();
  }
  return true;
}

enum class WaitOutcome { Replied, Withdrawn, Abandoned, ServerDied };

/// The caller gives up waiting for call `seq` (a signal, or an
/// asynchronous call cancelled): the call is taken back if no server
/// thread has claimed it yet (it never runs), else left to finish.
WaitOutcome take_back(SlotHeader *s, std::uint32_t seq) noexcept {
  std::uint32_t r = s->rsp.load(std::memory_order_acquire);
  if ((r & kSeqMask) == seq && (r & kRspDone)) return WaitOutcome::Replied;
  // The claim CAS here and the server's claim CAS decide exactly once
  // whether the call runs (see shm_layout.h).
  std::uint32_t cl = s->claim.load(std::memory_order_acquire);
  while ((cl & kSeqMask) != seq) {
    if (s->claim.compare_exchange_weak(cl, seq | kClaimWithdrawn, std::memory_order_acq_rel))
      return WaitOutcome::Withdrawn;
  }
  return WaitOutcome::Abandoned;
}

/// Waits for the reply to `seq`: adaptive spin when the server runs on
/// another CPU, then a futex sleep. A signal caught since the call began
/// (`signals`: the thread's count then) ends the wait (Solaris semantics,
/// also with SA_RESTART): the call is withdrawn if no server thread
/// claimed it yet, else abandoned.
WaitOutcome wait_reply(ClientConn *c, std::uint32_t i, std::uint32_t seq, std::uint32_t signals) noexcept {
  SlotHeader *s = c->slot(i);
  ClientSlot &cs = c->slots[i];
  auto done = [&](std::uint32_t v) { return (v & kSeqMask) == seq && (v & kRspDone); };
  if (cs.spin.spin(
          static_cast<int>(s->server_cpu), [&] { return done(s->rsp.load(std::memory_order_acquire)); },
          // The server copies the arguments out, and likely as much back.
          copy_time_ns(2 * s->arg_size)))
    return WaitOutcome::Replied;
  // Timed only when a caught signal could otherwise restart the wait
  // unseen (caught_signals.h): the timer costs a tenth of a round trip.
  static const struct timespec kLong{3600, 0};
  const struct timespec *timeout = wait_needs_timer() ? &kLong : nullptr;
  handoff_before_sleep();
  for (;;) {
    std::uint32_t v = s->rsp.load(std::memory_order_acquire);
    if (done(v)) return WaitOutcome::Replied;
    if ((v & kDead) || c->dead.load(std::memory_order_acquire)) return WaitOutcome::ServerDied;
    if (!(v & kRspWaiting)) {
      if (!s->rsp.compare_exchange_weak(v, v | kRspWaiting, std::memory_order_acq_rel)) continue;
      v |= kRspWaiting;
    }
    // A wrapped handler that runs from here on drops kRspWaiting again, so
    // the wait below fails at once or, restarted, ends; the server then
    // sees no waiter to wake, and none is left.
    arm_sleep(&s->rsp, v, v & ~kRspWaiting);
    if (signals_caught() != signals) {
      disarm_sleep();
      return take_back(s, seq);
    }
    int r = futex_wait(&s->rsp, v, timeout);
    disarm_sleep();
    // EINTR also from a handler libdoor did not wrap (raw rt_sigaction).
    if (r == EINTR) return take_back(s, seq);
  }
}

std::size_t page_round(std::size_t n) noexcept {
  std::size_t pg = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return (n + pg - 1) / pg * pg;
}

/// Closes descriptors the caller marked DOOR_RELEASE.
void close_released(const door_desc_t *descs, unsigned n) noexcept {
  for (unsigned k = 0; k < n; k++)
    if ((descs[k].d_attributes & DOOR_RELEASE) && (descs[k].d_attributes & DOOR_DESCRIPTOR))
      close_application_fd(descs[k].d_data.d_desc.d_descriptor);
}

/// Copies (or maps) the reply into the caller's buffers.
Result<void> take_reply(ClientConn *c, std::uint32_t i, std::uint32_t seq, door_arg_t *params) noexcept {
  SlotHeader *s = c->slot(i);
  ClientSlot &cs = c->slots[i];
  int err = s->error;
  std::uint64_t size = s->result_size;
  std::uint32_t ndesc = s->result_ndesc;
  std::uint32_t rflags = s->result_flags;
  std::uint64_t roff = s->result_offset;
  // What the server holds of our argument area (it says so on every bulk
  // call, refusals included); anything else makes the next call resend it.
  if (s->call_flags & kCallArgsInBulk) cs.arg_bulk_confirmed = s->arg_bulk_held;
  if (err != 0) {
    if (rflags & kResultViaChannel) (void)receive_attachments(cs.chan.get(), seq, MapData::No);  // discard
    return fail_errno(result_errno(err));
  }
  Attachments att;
  ReceivedShape shape;
  if (rflags & kResultViaChannel) {
    if (!cs.chan) return fail(std::errc::bad_file_descriptor);
    auto a = receive_attachments(cs.chan.get(), seq, MapData::Lazy);
    if (!a) return fail(a.error() == std::errc::too_many_files_open ? std::errc::too_many_files_open
                                                                    : std::errc::bad_file_descriptor);
    att = std::move(*a);
    shape = ReceivedShape{att.fds.size(), att.data != nullptr, att.data_size, static_cast<bool>(att.bulk)};
  }
  const char *src;
  switch (check_result(ResultFields{size, ndesc, rflags, roff}, &shape)) {
    case ResultSource::Header: src = s->small_result; break;
    case ResultSource::Data: src = slot_data(s) + roff; break;
    case ResultSource::Memfd: src = static_cast<const char *>(att.data); break;
    case ResultSource::Bulk: {
      std::uint32_t gen = s->result_bulk_gen;
      if (att.bulk) {  // the server's new result area: keep it for the slot's next replies
        if (!cs.result_bulk.adopt(att.bulk.get(), gen)) return fail(std::errc::bad_file_descriptor);
        s->result_bulk_held = gen;
      }
      src = cs.result_bulk.view(gen, size);
      if (!src) return fail(std::errc::bad_file_descriptor);
      break;
    }
    default: return fail(std::errc::bad_file_descriptor);
  }
  if (!params) return {};  // door_call(d, NULL): nothing is returned
  std::size_t data_span = ndesc ? (size + sizeof(door_desc_t) - 1) / sizeof(door_desc_t) * sizeof(door_desc_t) : size;
  std::size_t need = data_span + std::size_t(ndesc) * sizeof(door_desc_t);
  char *dest;
  if (need <= params->rsize && (params->rbuf || need == 0)) {
    dest = params->rbuf;
    if (size) std::memmove(dest, src, size);
  } else if (att.memfd && ndesc == 0) {
    // Large result that overflows rbuf: map the sealed memfd itself, private
    // copy-on-write, as the caller's new result buffer. No copy at all.
    std::size_t len = page_round(size);
    void *m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, att.memfd.get(), 0);
    if (m == MAP_FAILED) return fail(std::errc::value_too_large);
    dest = static_cast<char *>(m);
    params->rbuf = dest;
    params->rsize = len;
  } else {
    std::size_t len = page_round(need);
    void *m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return fail(std::errc::value_too_large);  // EOVERFLOW; fds close below
    dest = static_cast<char *>(m);
    std::memcpy(dest, src, size);
    params->rbuf = dest;
    params->rsize = len;
  }
  params->data_ptr = dest;
  params->data_size = size;
  params->desc_num = ndesc;
  params->desc_ptr = reinterpret_cast<door_desc_t *>(dest + data_span);
  for (std::uint32_t k = 0; k < ndesc; k++) {
    door_desc_t dd{};
    int rfd = att.fds[k].release();
    dd.d_attributes = DOOR_DESCRIPTOR;
    dd.d_data.d_desc.d_descriptor = rfd;
    if (auto ident = identify_door_fd(rfd)) {
      dd.d_attributes |= door_attributes_here(rfd, *ident);
      dd.d_data.d_desc.d_id = ident->id;
    }
    std::memcpy(&params->desc_ptr[k], &dd, sizeof dd);
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------

ClientConn::~ClientConn() {
  if (region) munmap(region, kRegionSize);
}

int client_conn_fd(ClientConn *conn) noexcept { return conn->sock.get(); }

void client_conn_lost(ClientConn *c) noexcept {
  c->dead.store(true, std::memory_order_release);
  // Set kDead in every reply word so a caller between its check and its
  // FUTEX_WAIT cannot miss the wake-up (the value it waits on changes).
  for (std::uint32_t i = 0; i < kSlots; i++) {
    SlotHeader *s = c->slot(i);
    s->rsp.fetch_or(kDead, std::memory_order_acq_rel);
    futex_wake(&s->rsp, INT_MAX);
  }
}

Result<ClientDoor *> lookup_door(int fd) noexcept {
  if (auto *e = fd_entry(fd, false))
    if (ClientDoor *d = e->load(std::memory_order_acquire)) return d;
  auto ident = identify_door_fd(fd);
  if (!ident) return fail(std::errc::bad_file_descriptor);
  install_fork_handlers();
  Registry &r = registry();
  std::lock_guard g(r.mu);
  ClientDoor *&slot = r.doors[ident->id];
  if (!slot) {
    slot = new (std::nothrow) ClientDoor;
    if (!slot) return fail(std::errc::not_enough_memory);
    slot->ident = *ident;
  }
  ClientDoor *d = slot;
  if (auto *e = fd_entry(fd, true)) {
    ClientDoor *old = e->exchange(d, std::memory_order_acq_rel);
    if (old != d) {
      d->fdrefs.fetch_add(1, std::memory_order_acq_rel);
      if (old) drop_fdref(old);
    }
  }
  return d;
}

void fd_table_forget(int fd) noexcept {
  auto *e = fd_entry(fd, false);
  if (!e) return;
  if (ClientDoor *old = e->exchange(nullptr, std::memory_order_acq_rel)) drop_fdref(old);
}

std::uint32_t door_attributes_here(int fd, const DoorIdentity &ident) noexcept {
  std::uint32_t a = ident.attributes & DOOR_CREATE_MASK;
  if (auto local = find_local_door(ident.id)) return local_door_attributes(*local);
  if (auto l = door_liveness(fd); l && l->closed) a |= DOOR_REVOKED;
  return a;
}

Result<PostedCall> call_post(int fd, door_arg_t *params, const std::uint32_t *signals_at_start) noexcept {
  auto found = lookup_door(fd);
  if (!found) return fail(found.error());
  ClientDoor *d = *found;
  InflightGuard guard(d);
  if (d->gone.load(std::memory_order_relaxed)) return fail(std::errc::bad_file_descriptor);

  std::size_t size = params ? params->data_size : 0;
  unsigned ndesc = params ? params->desc_num : 0;
  const door_desc_t *descs = params ? params->desc_ptr : nullptr;
  if ((size && !params->data_ptr) || (ndesc && !descs)) return fail(std::errc::bad_address);
  if (ndesc > kMaxDescPerCall) return fail(std::errc::argument_list_too_long);

  auto slot = acquire_slot(fd, d);
  if (!slot) return fail(slot.error());
  ClientConn *c = slot->conn;
  std::uint32_t i = slot->index;
  SlotHeader *s = c->slot(i);
  ClientSlot &cs = c->slots[i];
  RegionHeader *rh = c->header();
  bool released_done = false;
  auto finish_error = [&](std::errc e) {
    if (!released_done && e != std::errc::bad_file_descriptor && e != std::errc::bad_address)
      close_released(descs, ndesc);
    release_slot(*slot);
    return fail(e);
  };

  // Parameter checks the illumos kernel makes before involving a server
  // thread, in its order. The server re-checks (the region is client-
  // writable, so these copies are only a fast path).
  if (rh->revoked.load(std::memory_order_acquire)) {
    d->gone.store(true);
    return finish_error(std::errc::bad_file_descriptor);
  }
  if (size < rh->data_min.load(std::memory_order_relaxed) || size > rh->data_max.load(std::memory_order_relaxed))
    return finish_error(std::errc::no_buffer_space);
  if (ndesc && (d->ident.attributes & DOOR_REFUSE_DESC)) return finish_error(std::errc::not_supported);
  if (ndesc > rh->desc_max.load(std::memory_order_relaxed))
    return finish_error(std::errc::too_many_files_open_in_system);
  std::vector<int> pass_fds;
  for (unsigned k = 0; k < ndesc; k++) {
    door_desc_t dd;
    std::memcpy(&dd, &descs[k], sizeof dd);
    int dfd = dd.d_data.d_desc.d_descriptor;
    if (!(dd.d_attributes & DOOR_DESCRIPTOR) || dfd < 0 || fcntl(dfd, F_GETFD) < 0) {
      // door_call(3C): DOOR_RELEASE descriptors are closed even when the
      // call fails (all errors but EFAULT and EBADF); finish_error does it.
      return finish_error(std::errc::invalid_argument);
    }
    pass_fds.push_back(dfd);
  }

  // Every slot in use has a channel: replies may carry descriptors or
  // large data too. Created once per slot, off the steady-state path.
  if (auto r = ensure_channel(c, i); !r) return finish_error(r.error());
  // A signal caught since door_call began (while connecting, above): the
  // call ends like one no server thread took (illumos: EAGAIN).
  if (signals_at_start && signals_caught() != *signals_at_start)
    return finish_error(std::errc::resource_unavailable_try_again);
  std::uint32_t seq = next_seq(cs.seq.load(std::memory_order_relaxed));
  std::uint32_t flags = params ? 0 : kCallNoResults;
  // Data between a slot and kBulkMax: into the slot's bulk area, which is
  // sent along only until the server confirms it holds this generation.
  const bool bulk = size > kSlotData && size <= kBulkMax;
  int new_bulk = -1;
  if (bulk) {
    if (auto r = cs.arg_bulk.reserve(size); !r) return finish_error(r.error());
    std::memcpy(cs.arg_bulk.data(), params->data_ptr, size);
    s->arg_bulk_gen = cs.arg_bulk.generation();
    flags |= kCallArgsInBulk;
    // Confirmed again only by this call's reply (take_reply).
    if (std::exchange(cs.arg_bulk_confirmed, 0) != cs.arg_bulk.generation()) new_bulk = cs.arg_bulk.fd();
  }
  if (ndesc || size > kBulkMax || new_bulk >= 0) {
    // Doors this process created that count references travel as fresh
    // references (unref.cpp).
    std::vector<unique_fd> minted;
    for (int &fd : pass_fds)
      if (int m = reference_for_passing(fd); m >= 0) {
        minted.emplace_back(m);
        fd = m;
      }
    auto r = send_attachments(cs.chan.get(), seq, size > kBulkMax ? params->data_ptr : nullptr, size, pass_fds,
                              new_bulk);
    if (!r) return finish_error(r.error());
    if (size && size <= kSlotData) std::memcpy(slot_data(s), params->data_ptr, size);
    flags |= kCallViaChannel;
  } else if (bulk) {
    // Already in the bulk area.
  } else if (size <= kSmallArgs) {
    if (size) std::memcpy(s->small_args, params->data_ptr, size);
  } else {
    std::memcpy(slot_data(s), params->data_ptr, size);
  }
  close_released(descs, ndesc);
  released_done = true;
  s->call_flags = flags;
  s->arg_size = size;
  s->arg_ndesc = ndesc;
  s->client_cpu = static_cast<std::uint32_t>(sched_getcpu());
  s->client_token = handoff_self_token();
  cs.seq.store(seq, std::memory_order_relaxed);
  if (!post_call(c, i, seq)) {  // the server is gone: the call never ran
    d->gone.store(true);
    release_slot(*slot);
    return fail(std::errc::bad_file_descriptor);
  }
  guard.dismiss();  // the PostedCall holds the door until call_finish()
  return PostedCall{d, c, i, seq};
}

namespace {

/// Ends a posted call after its wait: results, or the errno of `how`.
/// Frees (or abandons) the slot and ends the call's hold on the door.
Result<void> call_finish(const PostedCall &pc, door_arg_t *params, WaitOutcome how) noexcept {
  ClientDoor *d = pc.door;
  ClientConn *c = pc.conn;
  std::uint32_t i = pc.index, seq = pc.seq;
  SlotRef slot{c, i};
  Result<void> r;
  switch (how) {
    case WaitOutcome::Replied:
      r = take_reply(c, i, seq, params);
      release_slot(slot);
      break;
    case WaitOutcome::Withdrawn:
      release_slot(slot);
      r = fail(std::errc::resource_unavailable_try_again);
      break;
    case WaitOutcome::Abandoned: {
      c->slots[i].state.store(kSlotAbandoned, std::memory_order_release);
      SlotMsg m{make_header(MsgType::Cancel), i, seq};
      {
        std::lock_guard g(c->ctl_mu);
        (void)send_record(c->sock.get(), &m, sizeof m, {}, /*dontwait=*/true);
      }
      r = fail(std::errc::interrupted);
      break;
    }
    case WaitOutcome::ServerDied: {
      // EINTR if a server thread had started the call; a call no thread
      // claimed never ran, and the door is simply gone: EBADF.
      d->gone.store(true);
      bool claimed = (c->slot(i)->claim.load(std::memory_order_acquire) & kSeqMask) == seq;
      release_slot(slot);
      r = fail(claimed ? std::errc::interrupted : std::errc::bad_file_descriptor);
      break;
    }
  }
  inflight_leave(d);
  return r;
}

}  // namespace

Result<void> client_call(int fd, door_arg_t *params) noexcept {
  const std::uint32_t signals = signals_caught();
  auto pc = call_post(fd, params, &signals);
  if (!pc) return fail(pc.error());
  return call_finish(*pc, params, wait_reply(pc->conn, pc->index, pc->seq, signals));
}

std::atomic<std::uint32_t> *call_reply_word(const PostedCall &pc) noexcept { return &pc.conn->slot(pc.index)->rsp; }

ReplyState call_reply_state(const PostedCall &pc, std::uint32_t *wait_value) noexcept {
  SlotHeader *s = pc.conn->slot(pc.index);
  std::uint32_t v = s->rsp.load(std::memory_order_acquire);
  for (;;) {
    if ((v & kSeqMask) == pc.seq && (v & kRspDone)) return ReplyState::Replied;
    if ((v & kDead) || pc.conn->dead.load(std::memory_order_acquire)) return ReplyState::ServerDied;
    // The waiting bit must be in the word before a futex wait on it is
    // armed: the server wakes only when it sees the bit as it publishes
    // (post_reply), and a wait armed on a value that changed in between
    // fails at once (FUTEX_WAIT compares under the futex hash lock).
    if (v & kRspWaiting) break;
    if (s->rsp.compare_exchange_weak(v, v | kRspWaiting, std::memory_order_acq_rel, std::memory_order_acquire)) {
      v |= kRspWaiting;
      break;
    }
  }
  if (wait_value) *wait_value = v;
  return ReplyState::Pending;
}

Result<void> call_collect(const PostedCall &pc, door_arg_t *params) noexcept {
  switch (call_reply_state(pc, nullptr)) {
    case ReplyState::Replied:
      return call_finish(pc, params, WaitOutcome::Replied);
    case ReplyState::ServerDied:
      return call_finish(pc, params, WaitOutcome::ServerDied);
    case ReplyState::Pending:
      break;
  }
  return fail(std::errc::operation_in_progress);
}

void call_abandon(const PostedCall &pc) noexcept {
  SlotHeader *s = pc.conn->slot(pc.index);
  WaitOutcome how = take_back(s, pc.seq);
  if (how == WaitOutcome::Abandoned &&
      ((s->rsp.load(std::memory_order_acquire) & kDead) || pc.conn->dead.load(std::memory_order_acquire)))
    how = WaitOutcome::ServerDied;
  // A reply already in is received and dropped (params == nullptr: its
  // descriptors are closed, nothing is copied).
  (void)call_finish(pc, nullptr, how);
}

Result<DoorParams> client_params(int fd) noexcept {
  auto found = lookup_door(fd);
  if (!found) return fail(found.error());
  ClientDoor *d = *found;
  InflightGuard guard(d);
  auto slot = acquire_slot(fd, d);
  if (!slot) return fail(slot.error());
  RegionHeader *h = slot->conn->header();
  DoorParams p{h->data_min.load(),         h->data_max.load(),     h->desc_max.load(),
               h->calls_max.load(),        h->client_calls_max.load(), h->inflight_max.load(),
               h->client_inflight_max.load(), h->client_conns_max.load()};
  release_slot(*slot);
  return p;
}

void client_forget_after_fork() noexcept {
  // Single-threaded fork child. Every connection belongs to the parent:
  // close our copies of their sockets (so the parent's server still sees
  // the parent alive, and the server sees our copies go), and forget them.
  // Their regions were never mapped here (MADV_DONTFORK). The ClientDoor
  // objects stay (descriptors still map to them) with no connections.
  Registry &r = registry();
  for (auto &kv : r.doors) {
    ClientDoor *d = kv.second;
    new (&d->mu) std::mutex;
    ClientConn *c = d->conns.exchange(nullptr);
    d->forked_away = c;  // parked, never used again (no allocation here)
    while (c) {
      ClientConn *next = c->next;
      raw_close(c->sock.release());
      for (auto &cs : c->slots)
        if (cs.chan) raw_close(cs.chan.release());
      c->region = nullptr;  // not mapped in the child (MADV_DONTFORK)
      c = next;
    }
    d->inflight.store(0);
    d->generation.fetch_add(1);
  }
  t_cache = CallCache{};
}

std::mutex &client_mutex() noexcept { return registry().mu; }

}  // namespace door::detail
