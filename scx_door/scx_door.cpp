// SPDX-License-Identifier: GPL-2.0 OR MIT
//
// scx_door.cpp — loader and registration daemon for the scx_door sched_ext
// scheduler (bpf/scx_door.bpf.c; the policy is described there).
//
// What it does:
//   1. opens the BPF skeleton, sets the tunables, reuses the pinned
//      registration map (SCX_DOOR_PIN_TASK_CTX) so threads registered with a
//      previous instance keep their tokens across an unload/reload,
//   2. loads and attaches the struct_ops scheduler,
//   3. serves registrations on SCX_DOOR_SOCK_PATH (mode 0666) in a thread:
//      a door thread sends {intent address} plus a pidfd of itself; we check
//      with SO_PEERCRED that the pidfd names a thread of the connecting
//      process, draw a random token and store {address, token} in the BPF
//      task storage of that thread,
//   4. prints `[scx_door] key: value ...` every --stats SECS,
//   5. on SIGINT/SIGTERM or when the kernel ejects the scheduler, detaches,
//      prints `EXIT: reason (msg)` and exits 0 only for a normal
//      unregistration.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// The interface header first: the skeleton refers to its types.
#include "scx_door_intf.h"
#include "scx_door.skel.h"

namespace {

constexpr const char *kVersion = "0.1.0";

std::atomic<bool> g_stop{false};
bool g_verbose = false;

// Loader-side counters (registrations), reported with the BPF ones.
std::atomic<std::uint64_t> g_registered{0};
std::atomic<std::uint64_t> g_reg_rejected{0};

struct StatDesc {
  int idx;
  const char *key;
  const char *help;
};

// Order of the --stats line. Keys are stable: tests and tools parse them.
constexpr StatDesc kStats[] = {
    {SCX_DOOR_STAT_WAKEUPS, "wakeups", "select_cpu calls (all wake-ups of scx tasks)"},
    {SCX_DOOR_STAT_HANDOFF, "handoffs", "door wake-ups handed the waker's CPU"},
    {SCX_DOOR_STAT_NO_INTENT, "no_intent", "registered waker whose record was idle or invalid"},
    {SCX_DOOR_STAT_READ_FAULT, "read_fault", "registered waker whose record was unreadable"},
    {SCX_DOOR_STAT_TARGET_MISMATCH, "target_mismatch",
     "wakee is a registered door thread but not the intent's target"},
    {SCX_DOOR_STAT_OTHER_WAKEE, "other_wakee",
     "intent set but the wakee is not a door thread (e.g. IRQ-context wake-ups)"},
    {SCX_DOOR_STAT_AFFINITY, "affinity", "waker's CPU not in the wakee's cpumask"},
    {SCX_DOOR_STAT_EXITING, "exiting", "waker was exiting"},
    {SCX_DOOR_STAT_OVERLOADED, "overloaded", "waker's local DSQ already held --local-max tasks"},
    {SCX_DOOR_STAT_FAIRNESS, "fairness",
     "no handoff: tasks waited on the shared DSQ and this CPU ran handoffs for a slice"},
    {SCX_DOOR_STAT_CONTINUE, "continue", "REPLY_CONTINUE wake-ups (normal placement)"},
    {SCX_DOOR_STAT_SAFETY_KICK, "safety_kick",
     "--rendezvous: handoffs rescued by the safety-net timer"},
    {SCX_DOOR_STAT_DIRECT_IDLE, "direct_idle", "non-handoff wake-ups sent to an idle CPU"},
    {SCX_DOOR_STAT_ENQUEUED, "enqueued", "tasks queued on the shared vtime DSQ"},
    {SCX_DOOR_STAT_SWAP_REQUEUE, "swap_requeue",
     "swap mode: wakers preempted by their handoff, requeued behind the wakee"},
    {SCX_DOOR_STAT_CHARGED, "charged", "server run periods charged to the caller they ran for"},
    {SCX_DOOR_STAT_CHARGED_US, "charged_us", "microseconds of server run time charged to callers"},
    {SCX_DOOR_STAT_REGISTERED, "registered", "thread registrations accepted (daemon)"},
    {SCX_DOOR_STAT_REG_REJECTED, "reg_rejected", "thread registrations refused (daemon)"},
};

void on_signal(int) { g_stop.store(true); }

int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (level == LIBBPF_DEBUG && !g_verbose) return 0;
  return vfprintf(stderr, fmt, args);
}

void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_line(const char *fmt, ...) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lk(mu);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fflush(stdout);
}

std::vector<std::uint64_t> read_stats(int map_fd) {
  std::vector<std::uint64_t> tot(SCX_DOOR_NR_STATS, 0);
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return tot;
  std::vector<std::uint64_t> vals(static_cast<std::size_t>(ncpu));
  for (std::uint32_t i = 0; i < SCX_DOOR_NR_STATS; i++) {
    if (bpf_map_lookup_elem(map_fd, &i, vals.data()) == 0)
      for (auto v : vals) tot[i] += v;
  }
  tot[SCX_DOOR_STAT_REGISTERED] = g_registered.load();
  tot[SCX_DOOR_STAT_REG_REJECTED] = g_reg_rejected.load();
  return tot;
}

void print_stats(int map_fd) {
  auto s = read_stats(map_fd);
  std::string line = "[scx_door]";
  for (const auto &d : kStats) line += " " + std::string(d.key) + ": " + std::to_string(s[d.idx]);
  log_line("%s\n", line.c_str());
}

const char *exit_kind_str(int kind) {
  switch (kind) {
    case 0: return "none";
    case 1: return "done";
    case 64: return "unregistered from user space";
    case 65: return "unregistered from BPF";
    case 66: return "unregistered from the kernel";
    case 67: return "disabled by sysrq-S";
    case 68: return "parent exited";
    case 69: return "parent killed";
    case 1024: return "runtime error";
    case 1025: return "scx_bpf_error";
    case 1026: return "runnable task stall";
    default: return "unknown";
  }
}

// ---------------------------------------------------------------- registration

// Root-namespace tid named by a pidfd (fdinfo "Pid:"), or -1.
long pidfd_tid(int pidfd) {
  std::ifstream f("/proc/self/fdinfo/" + std::to_string(pidfd));
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Pid:", 0) == 0) return std::strtol(line.c_str() + 4, nullptr, 10);
  return -1;
}

// Thread-group id of `tid` from /proc, or -1.
long tgid_of(long tid) {
  std::ifstream f("/proc/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Tgid:", 0) == 0) return std::strtol(line.c_str() + 5, nullptr, 10);
  return -1;
}

class Registrar {
 public:
  Registrar(int task_ctx_fd, std::string path, bool partial)
      : map_fd_(task_ctx_fd), path_(std::move(path)), partial_(partial) {}
  ~Registrar() { stop(); }

  int start() {
    lfd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (lfd_ < 0) return -errno;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(sa.sun_path)) return -ENAMETOOLONG;
    std::strcpy(sa.sun_path, path_.c_str());
    struct stat st{};
    if (lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path_.c_str());
    // Bind with a restrictive umask, then open it to everyone: any user may
    // register its own threads (the hint is validated in BPF).
    mode_t old = umask(0177);
    int r = bind(lfd_, reinterpret_cast<sockaddr *>(&sa), sizeof(sa));
    umask(old);
    if (r < 0) return -errno;
    if (chmod(path_.c_str(), 0666) < 0) return -errno;
    if (listen(lfd_, 64) < 0) return -errno;
    efd_ = eventfd(0, EFD_CLOEXEC);
    if (efd_ < 0) return -errno;
    th_ = std::thread([this] { loop(); });
    return 0;
  }

  void stop() {
    if (th_.joinable()) {
      std::uint64_t one = 1;
      (void)!write(efd_, &one, sizeof(one));
      th_.join();
    }
    if (lfd_ >= 0) {
      close(lfd_);
      lfd_ = -1;
      unlink(path_.c_str());
    }
    if (efd_ >= 0) close(efd_), efd_ = -1;
  }

 private:
  void loop() {
    for (;;) {
      pollfd p[2] = {{lfd_, POLLIN, 0}, {efd_, POLLIN, 0}};
      if (poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (p[1].revents) return;
      if (!(p[0].revents & POLLIN)) continue;
      int c = accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      serve(c);
      close(c);
    }
  }

  void reply(int c, int status, std::uint64_t token) {
    scx_door_reg_resp resp{};
    resp.magic = SCX_DOOR_REG_MAGIC;
    resp.version = SCX_DOOR_REG_VERSION;
    resp.status = status;
    resp.flags = partial_ ? SCX_DOOR_REG_F_PARTIAL : 0;
    resp.token = token;
    (void)!send(c, &resp, sizeof(resp), MSG_NOSIGNAL);
    if (status == 0)
      g_registered++;
    else
      g_reg_rejected++;
  }

  void serve(int c) {
    timeval tv{1, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ucred peer{};
    socklen_t plen = sizeof(peer);
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &peer, &plen) < 0) return reply(c, -EPERM, 0);

    scx_door_reg_req req{};
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    iovec iov{&req, sizeof(req)};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);
    ssize_t n = recvmsg(c, &mh, MSG_CMSG_CLOEXEC);
    std::vector<int> fds;
    for (cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
      if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
        std::size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < nfd; i++) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
          fds.push_back(fd);
        }
      }
    }
    struct Closer {
      std::vector<int> &v;
      ~Closer() {
        for (int fd : v) close(fd);
      }
    } closer{fds};

    if (n != static_cast<ssize_t>(sizeof(req)) || req.magic != SCX_DOOR_REG_MAGIC ||
        req.version != SCX_DOOR_REG_VERSION || req.size != sizeof(req))
      return reply(c, -EPROTO, 0);
    if (fds.size() != 1) return reply(c, -EBADF, 0);
    if (req.intent_addr == 0 || (req.intent_addr & 7)) return reply(c, -EINVAL, 0);

    // The pidfd must name a live thread of the connecting process: a client
    // can only register its own threads.
    long tid = pidfd_tid(fds[0]);
    if (tid <= 0) return reply(c, -EBADF, 0);
    if (tgid_of(tid) != peer.pid) {
      if (g_verbose)
        log_line("scx_door: reject: tid %ld is not a thread of pid %d\n", tid, peer.pid);
      return reply(c, -EPERM, 0);
    }

    std::uint64_t token = 0;
    while (token == 0)
      if (getrandom(&token, sizeof(token), 0) != sizeof(token)) return reply(c, -EAGAIN, 0);

    scx_door_task_ctx val{};
    val.intent_addr = req.intent_addr;
    val.token = token;
    val.tgid = static_cast<std::uint32_t>(peer.pid);
    int key = fds[0];
    if (bpf_map_update_elem(map_fd_, &key, &val, BPF_ANY) < 0) return reply(c, -errno, 0);
    if (g_verbose)
      log_line("scx_door: registered tid %ld (pid %d uid %u) intent 0x%llx\n", tid, peer.pid,
               peer.uid, static_cast<unsigned long long>(req.intent_addr));
    reply(c, 0, token);
  }

  int map_fd_;
  std::string path_;
  bool partial_;
  int lfd_ = -1;
  int efd_ = -1;
  std::thread th_;
};

// Reuses the pinned registration map, if compatible. Returns true if reused.
bool reuse_pinned(bpf_map *map, const char *path) {
  int fd = bpf_obj_get(path);
  if (fd < 0) return false;
  int r = bpf_map__reuse_fd(map, fd);
  close(fd);
  if (r < 0) {
    fprintf(stderr, "scx_door: pinned %s is incompatible (%s); replacing it\n", path, strerror(-r));
    unlink(path);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  CLI::App app{
      "scx_door: sched_ext scheduler that hands a door caller's CPU to the server it wakes "
      "(and back on door_return)."};
  double stats_secs = 0;
  bool help_stats = false, version = false, partial = false, no_handoff = false, no_pin = false,
       swap = false, rendezvous = false;
  std::uint64_t slice_us = 5000, bound_us = 250, debug_error_after = 0;
  std::uint32_t local_max = 2, timeout_ms = 5000, debug_stall_pid = 0;
  std::string sock_path = SCX_DOOR_SOCK_PATH;

  app.add_flag("-v,--verbose", g_verbose, "Print libbpf debug messages and registrations");
  app.add_flag("-V,--version", version, "Print the version and exit");
  app.add_option("--stats", stats_secs, "Print a stats line every SECS seconds (0: off)");
  app.add_flag("--help-stats", help_stats, "Describe the stats keys and exit");
  app.add_flag("-p,--partial", partial,
               "Partial mode: only SCHED_EXT threads (registered door threads opt in)");
  app.add_option("-s,--slice-us", slice_us, "Time slice in microseconds");
  app.add_option("-b,--handoff-bound-us", bound_us,
                 "--rendezvous: preempt a waker that has not blocked this long after a handoff");
  app.add_option("--local-max", local_max,
                 "No handoff when the waker's local DSQ holds this many tasks");
  app.add_option("--timeout-ms", timeout_ms, "sched_ext watchdog timeout (max 30000)");
  app.add_flag("--no-handoff", no_handoff, "Disable the door handoff (plain vtime scheduler)");
  CLI::Option *swap_opt =
      app.add_flag("--swap", swap,
                   "Swap handoff (the default): the waker yields its CPU to the wakee at once");
  app.add_flag("--rendezvous", rendezvous,
               "Rendezvous handoff: the waker runs on until it blocks (bounded by a slice "
               "clamp and a safety-net timer, --handoff-bound-us)")
      ->excludes(swap_opt);
  app.add_option("--socket", sock_path, "Registration socket path");
  app.add_flag("--no-pin", no_pin, "Do not pin/reuse the registration map in bpffs");
  app.add_option("--debug-error-after", debug_error_after,
                 "Testing: call scx_bpf_error() after N wake-ups");
  app.add_option("--debug-stall-pid", debug_stall_pid,
                 "Testing: never run the tasks of process PID again, so that the watchdog "
                 "ejects the scheduler (--timeout-ms)");
  CLI11_PARSE(app, argc, argv);

  if (version) {
    printf("scx_door %s (libbpf %s, intf v%u)\n", kVersion, libbpf_version_string(),
           SCX_DOOR_INTF_VERSION);
    return 0;
  }
  if (help_stats) {
    printf("scx_door --stats prints one line per interval, cumulative counts:\n");
    printf("  [scx_door] key: value ...\n");
    for (const auto &d : kStats) printf("  %-16s %s\n", d.key, d.help);
    return 0;
  }
  if (timeout_ms == 0 || timeout_ms > 30000 || slice_us == 0 || bound_us == 0 || local_max == 0) {
    fprintf(stderr, "scx_door: invalid tunable (timeout 1..30000 ms, slice/bound/local-max > 0)\n");
    return 2;
  }

  libbpf_set_print(libbpf_print);
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  scx_door *skel = scx_door__open();
  if (!skel) {
    fprintf(stderr, "scx_door: failed to open BPF object: %s\n", strerror(errno));
    return 1;
  }
  skel->rodata->slice_ns = slice_us * 1000;
  skel->rodata->handoff_bound_ns = bound_us * 1000;
  skel->rodata->local_max = local_max;
  skel->rodata->handoff_enabled = !no_handoff;
  skel->rodata->handoff_swap = !rendezvous;
  skel->rodata->debug_error_after = debug_error_after;
  skel->rodata->debug_stall_tgid = debug_stall_pid;
  skel->struct_ops.door_ops->timeout_ms = timeout_ms;
  if (partial) skel->struct_ops.door_ops->flags |= SCX_DOOR_OPS_SWITCH_PARTIAL;

  bool reused = !no_pin && reuse_pinned(skel->maps.task_ctx, SCX_DOOR_PIN_TASK_CTX);

  int err = scx_door__load(skel);
  if (err) {
    fprintf(stderr, "scx_door: failed to load BPF scheduler: %s\n", strerror(-err));
    scx_door__destroy(skel);
    return 1;
  }
  if (!no_pin && !reused) {
    mkdir(SCX_DOOR_PIN_DIR, 0700);
    int r = bpf_map__pin(skel->maps.task_ctx, SCX_DOOR_PIN_TASK_CTX);
    if (r < 0)
      fprintf(stderr, "scx_door: warning: cannot pin %s (%s): registrations will not survive "
                      "a reload\n", SCX_DOOR_PIN_TASK_CTX, strerror(-r));
  }

  bpf_link *link = bpf_map__attach_struct_ops(skel->maps.door_ops);
  if (!link) {
    int e = errno;
    fprintf(stderr, "scx_door: failed to attach: %s%s\n", strerror(e),
            e == EBUSY || e == EEXIST ? " (another sched_ext scheduler is loaded?)" : "");
    scx_door__destroy(skel);
    return 1;
  }

  Registrar reg(bpf_map__fd(skel->maps.task_ctx), sock_path, partial);
  if (int r = reg.start(); r < 0)
    fprintf(stderr, "scx_door: warning: registration socket %s: %s (no handoffs possible)\n",
            sock_path.c_str(), strerror(-r));

  log_line("scx_door: attached (%s mode, slice %llu us, %s)\n", partial ? "partial" : "full",
           static_cast<unsigned long long>(slice_us),
           no_handoff ? "handoff off"
           : !rendezvous ? "swap handoff"
                         : ("rendezvous handoff, bound " + std::to_string(bound_us) + " us").c_str());

  // Sleep until a signal, the scheduler's exit (ops.exit posts a record to
  // the exit_rb ring buffer, whose fd polls readable) or the next stats
  // line: no periodic wake-ups that would disturb what we schedule (only a
  // 1 s fallback check of the exit record).
  int stats_fd = bpf_map__fd(skel->maps.stats);
  int exit_fd = bpf_map__fd(skel->maps.exit_rb);
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  int sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
  auto next = std::chrono::steady_clock::now();
  const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(stats_secs));
  if (stats_secs > 0) next += period;
  while (!g_stop.load() && __atomic_load_n(&skel->bss->uei.kind, __ATOMIC_ACQUIRE) == 0) {
    int timeout_ms = -1;
    if (stats_secs > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          next - std::chrono::steady_clock::now());
      timeout_ms = static_cast<int>(std::max<long long>(0, left.count()));
    }
    if (timeout_ms < 0 || timeout_ms > 1000) timeout_ms = 1000;
    pollfd p[2] = {{sig_fd, POLLIN, 0}, {exit_fd, POLLIN, 0}};
    int n = poll(p, 2, timeout_ms);
    if (n < 0 && errno != EINTR) break;
    if (n > 0 && (p[0].revents & POLLIN)) {
      signalfd_siginfo si;
      (void)!read(sig_fd, &si, sizeof(si));
      g_stop.store(true);
    }
    if (n > 0 && p[1].revents && __atomic_load_n(&skel->bss->uei.kind, __ATOMIC_ACQUIRE) == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // not expected: no busy loop
    if (stats_secs > 0 && std::chrono::steady_clock::now() >= next) {
      print_stats(stats_fd);
      next += period;
    }
  }
  if (sig_fd >= 0) close(sig_fd);

  reg.stop();
  if (stats_secs > 0) print_stats(stats_fd);
  bpf_link__destroy(link);  // normal unregistration runs ops.exit with kind UNREG

  const auto &u = skel->bss->uei;
  int kind = __atomic_load_n(&u.kind, __ATOMIC_ACQUIRE);
  std::string reason(u.reason, strnlen(u.reason, sizeof(u.reason)));
  std::string msg(u.msg, strnlen(u.msg, sizeof(u.msg)));
  if (reason.empty()) reason = exit_kind_str(kind);
  if (msg.empty())
    log_line("EXIT: %s\n", reason.c_str());
  else
    log_line("EXIT: %s (%s)\n", reason.c_str(), msg.c_str());
  if (g_verbose || (kind != 64 && kind != 1))
    log_line("scx_door: exit kind %d (%s) code %lld\n", kind, exit_kind_str(kind),
             static_cast<long long>(u.exit_code));

  scx_door__destroy(skel);
  return (kind == 64 || kind == 1) ? 0 : 1;
}
