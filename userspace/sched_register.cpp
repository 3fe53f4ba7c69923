// SPDX-License-Identifier: MIT
//
// sched_register.cpp — libdoor's side of the scx_door registration.
//
// A door thread registers itself with the scx_door daemon once (off the call
// path): it sends the address of its TLS intent record plus a pidfd of itself
// over the daemon's UNIX socket and gets a token back. From then on libdoor
// only does plain stores into the record (handoff.h); the BPF scheduler reads
// it in ops.select_cpu().
//
// Without scx_door (not loaded, another sched_ext scheduler, no socket, an
// old kernel, a sandbox that forbids the syscalls) registration just does
// not happen: g_handoff_active stays false, handoff_announce() is one relaxed
// load, and nothing ever fails. Registration never changes errno.
//
// Only libc; no libbpf: clients never call bpf().
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "handoff.h"

namespace door::detail {

std::atomic<bool> g_handoff_active{false};
std::atomic<std::uint32_t> g_handoff_epoch{1};

ThreadHandoff &thread_handoff() noexcept {
  // initial-exec: read on every call, must not go through __tls_get_addr.
  __attribute__((tls_model("initial-exec"))) thread_local ThreadHandoff h;
  return h;
}

namespace {

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL  // include/uapi/linux/pidfd.h (6.9+)
#endif

class ErrnoGuard {
 public:
  ErrnoGuard() noexcept : saved_(errno) {}
  ~ErrnoGuard() { errno = saved_; }
  ErrnoGuard(const ErrnoGuard &) = delete;
  ErrnoGuard &operator=(const ErrnoGuard &) = delete;

 private:
  int saved_;
};

class Fd {
 public:
  explicit Fd(int fd) noexcept : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// Reads a small sysfs file; true if its first line equals `want`.
bool file_is(const char *path, const char *want) noexcept {
  Fd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return false;
  char buf[64];
  ssize_t n = read(fd.get(), buf, sizeof(buf) - 1);
  if (n <= 0) return false;
  buf[n] = '\0';
  if (char *nl = std::strchr(buf, '\n')) *nl = '\0';
  return std::strcmp(buf, want) == 0;
}

// scx_door is the loaded sched_ext scheduler and its socket exists.
bool scx_door_loaded() noexcept {
  if (access(SCX_DOOR_SOCK_PATH, F_OK) != 0) return false;
  return file_is("/sys/kernel/sched_ext/state", "enabled") &&
         file_is("/sys/kernel/sched_ext/root/ops", SCX_DOOR_OPS_NAME);
}

// How many times a sched_ext scheduler has been enabled since boot (0 where
// the kernel does not say): tells one scx_door instance from the next, even
// across a restart quicker than any check.
std::uint64_t scx_enable_seq() noexcept {
  Fd fd(open("/sys/kernel/sched_ext/enable_seq", O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return 0;
  char buf[32];
  ssize_t n = read(fd.get(), buf, sizeof(buf) - 1);
  if (n <= 0) return 0;
  buf[n] = '\0';
  return std::strtoull(buf, nullptr, 10);
}

// enable_seq of the scx_door instance this process last registered with
// (or tried to): a different one is a new instance. kGone once the watch
// saw that instance go (where the kernel has no enable_seq, every instance
// reads 0, so only this tells the next one from the last).
constexpr std::uint64_t kGone = ~std::uint64_t{0};
std::atomic<std::uint64_t> g_seen_seq{kGone};

// fork(): the child's only thread is a new task the scheduler does not know;
// forget the parent's registration so the child can register itself.
void reset_after_fork() noexcept {
  ThreadHandoff &h = thread_handoff();
  h.intent = scx_door_intent{};
  h.epoch = 0;
}

// One request/response with the daemon. Returns the token (0 on failure)
// and the response flags.
std::uint64_t request_token(const scx_door_intent *rec, std::uint32_t *flags) noexcept {
  int tid = static_cast<int>(syscall(SYS_gettid));
  Fd pidfd(static_cast<int>(syscall(SYS_pidfd_open, tid, PIDFD_THREAD)));
  if (pidfd.get() < 0) return 0;

  Fd s(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return 0;
  timeval tv{1, 0};
  setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  static_assert(sizeof(SCX_DOOR_SOCK_PATH) <= sizeof(sa.sun_path));
  std::memcpy(sa.sun_path, SCX_DOOR_SOCK_PATH, sizeof(SCX_DOOR_SOCK_PATH));
  if (connect(s.get(), reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) < 0) return 0;

  scx_door_reg_req req{};
  req.magic = SCX_DOOR_REG_MAGIC;
  req.version = SCX_DOOR_REG_VERSION;
  req.size = sizeof(req);
  req.tid = tid;
  req.intent_addr = reinterpret_cast<std::uintptr_t>(rec);

  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{&req, sizeof(req)};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof(cbuf);
  cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  int fd = pidfd.get();
  std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  if (sendmsg(s.get(), &mh, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(req))) return 0;

  scx_door_reg_resp resp{};
  if (recv(s.get(), &resp, sizeof(resp), 0) != static_cast<ssize_t>(sizeof(resp))) return 0;
  if (resp.magic != SCX_DOOR_REG_MAGIC || resp.version != SCX_DOOR_REG_VERSION ||
      resp.status != 0)
    return 0;
  *flags = resp.flags;
  return resp.token;
}

// Partial mode: only SCHED_EXT tasks are scheduled by scx_door. Unprivileged
// threads may switch themselves between normal policies.
bool opt_into_sched_ext() noexcept {
  struct {
    std::uint32_t size, sched_policy;
    std::uint64_t sched_flags;
    std::int32_t sched_nice;
    std::uint32_t sched_priority;
    std::uint64_t sched_runtime, sched_deadline, sched_period;
  } attr{};
  attr.size = sizeof(attr);
  attr.sched_policy = SCX_DOOR_SCHED_EXT;
  attr.sched_nice = static_cast<std::int32_t>(getpriority(PRIO_PROCESS, 0));
  return syscall(SYS_sched_setattr, 0, &attr, 0) == 0;
}

}  // namespace

void handoff_register_thread() noexcept {
  ThreadHandoff &h = thread_handoff();
  const std::uint32_t epoch = g_handoff_epoch.load(std::memory_order_relaxed);
  if (h.epoch == epoch) return;
  h.epoch = epoch;

  static std::once_flag atfork_once;
  std::call_once(atfork_once, [] { pthread_atfork(nullptr, nullptr, reset_after_fork); });

  ErrnoGuard keep_errno;
  // Again (after a restart): a stale token is useless, clear it first.
  h.intent.magic = 0;
  h.intent.self = 0;
  if (!scx_door_loaded()) return;
  // This instance was tried: if registering with it fails, later checks do
  // not retry it (scx_door_newly_loaded).
  g_seen_seq.store(scx_enable_seq(), std::memory_order_relaxed);

  std::uint32_t flags = 0;
  std::uint64_t token = request_token(&h.intent, &flags);
  if (token == 0) return;
  if ((flags & SCX_DOOR_REG_F_PARTIAL) && !opt_into_sched_ext()) return;

  h.intent.state = SCX_DOOR_IDLE;
  h.intent.target = 0;
  h.intent.self = token;
  h.intent.magic = SCX_DOOR_INTENT_MAGIC;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  g_handoff_active.store(true, std::memory_order_relaxed);
}

bool scx_door_still_loaded() noexcept {
  // State and enable_seq name the instance; the socket and ops were
  // checked when registering with it.
  if (file_is("/sys/kernel/sched_ext/state", "enabled") &&
      scx_enable_seq() == g_seen_seq.load(std::memory_order_relaxed))
    return true;
  g_seen_seq.store(kGone, std::memory_order_relaxed);
  return false;
}

bool scx_door_newly_loaded() noexcept {
  // No socket (no scx_door on this machine, most often): one failed access().
  return scx_door_loaded() && scx_enable_seq() != g_seen_seq.load(std::memory_order_relaxed);
}

}  // namespace door::detail
