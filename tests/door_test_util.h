// SPDX-License-Identifier: MIT
//
// door_test_util.h — helpers shared by the test suites: a door server in
// a separate process, descriptor passing, a timeout for anything that could
// hang.
#pragma once

#include <dirent.h>
#include <door.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace doortest {

/// Sends one descriptor over a UNIX socket.
inline bool send_fd(int sock, int fd) {
  char c = 'x';
  struct iovec io{&c, 1};
  alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(int))] = {};  // padding too (memcheck)
  struct msghdr m{};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  m.msg_control = buf;
  m.msg_controllen = sizeof buf;
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(h), &fd, sizeof fd);
  return sendmsg(sock, &m, MSG_NOSIGNAL) == 1;
}

/// Receives one descriptor (-1 on failure).
inline int recv_fd(int sock) {
  char c;
  struct iovec io{&c, 1};
  alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(int))];
  struct msghdr m{};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  m.msg_control = buf;
  m.msg_controllen = sizeof buf;
  if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1) return -1;
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  if (!h || h->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  std::memcpy(&fd, CMSG_DATA(h), sizeof fd);
  return fd;
}

/// A door server in a child process. `setup` runs in the child and returns
/// the door descriptors to hand to the parent; the child then parks (its
/// door threads serve) until it is killed.
class ServerProcess {
 public:
  ServerProcess(std::function<std::vector<int>()> setup, size_t count = 1) {
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(sp[0]);
      std::vector<int> fds = setup();
      for (int fd : fds) send_fd(sp[1], fd);
      for (;;) pause();
    }
    close(sp[1]);
    while (doors_.size() < count) {
      int fd = recv_fd(sp[0]);
      if (fd < 0) break;
      doors_.push_back(fd);
    }
    close(sp[0]);
  }
  ~ServerProcess() { kill_now(); }
  ServerProcess(const ServerProcess &) = delete;
  ServerProcess &operator=(const ServerProcess &) = delete;

  pid_t pid() const { return pid_; }
  int door(size_t i = 0) const { return i < doors_.size() ? doors_[i] : -1; }
  /// Kills the server and reaps it.
  void kill_now() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  std::vector<int> doors_;
};

/// Starts a detached thread running startf(arg), as a door_xcreate(3)
/// creation function must: 1 on success, -1 on failure.
inline int start_detached(void *(*startf)(void *), void *arg) {
  pthread_t th;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  int r = pthread_create(&th, &a, startf, arg);
  pthread_attr_destroy(&a);
  return r == 0 ? 1 : -1;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DOOR_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DOOR_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define DOOR_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DOOR_TEST_TSAN 1
#endif
#endif
#ifdef DOOR_TEST_SANITIZED
/// What a sanitizer runtime holds on purpose, added to the RSS and
/// mapping bounds of leak checks. Measured in the ASan soak: each thread's
/// use-after-return fake stack (on by default with clang 19) fills as the
/// thread runs, about 1.7 MiB per server thread, and the quarantine keeps
/// freed blocks; with detect_stack_use_after_return=0 the server's RSS
/// stays as flat as unsanitized. Sanitizer allocators also map regions as
/// they go. Unsanitized runs keep the tight bounds; LeakSanitizer and
/// valgrind check the heap itself.
inline constexpr long kSanitizerRssSlackKb = 256 * 1024;
inline constexpr int kSanitizerMapsSlack = 64;
#else
inline constexpr long kSanitizerRssSlackKb = 0;
inline constexpr int kSanitizerMapsSlack = 0;
#endif

/// Holds calls inside a server until the test has seen what it waits for
/// (every call it started entered or came back refused, say), so "these
/// calls overlap" never rests on a sleep being long enough: valgrind and
/// the sanitizers start threads slowly. Shared memory made at start-up,
/// before any fork: servers, clients and the test all see one gate.
struct CallGate {
  std::atomic<int> entered{0};   // calls held (or let through) by gate_hold
  std::atomic<int> returned{0};  // calls the test counted back
  std::atomic<int> open{0};
};
inline CallGate *const g_gate = [] {
  void *p = mmap(nullptr, sizeof(CallGate), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return new (p) CallGate;
}();

/// Closes the gate and zeroes its counts (before starting the server).
inline void gate_reset() {
  g_gate->entered = 0;
  g_gate->returned = 0;
  g_gate->open = 0;
}

/// Server side: counts the call in, then waits (at most 2 minutes) for
/// the test to open the gate.
inline void gate_hold() {
  g_gate->entered++;
  for (int i = 0; i < 120000 && !g_gate->open.load(); i++) usleep(1000);
}

/// Test side: waits (at most 2 minutes) until `settled(entered, returned)`.
template <class Pred>
bool gate_wait_until(Pred settled) {
  for (int i = 0; i < 120000; i++) {
    if (settled(g_gate->entered.load(), g_gate->returned.load())) return true;
    usleep(1000);
  }
  return false;
}

/// Whether a mapping starting at `start` is TSan's shadow or meta shadow
/// (x86-64 layout: shadow 0x0100'0000'0000-0x2000'0000'0000, meta
/// 0x3000'0000'0000-0x4000'0000'0000). TSan splits those into a new
/// mapping each time it resets the shadow of freed memory: 150 more after
/// a 12,800-call soak with no new thread. They say nothing about the
/// library, so mapping counts leave them out.
inline bool is_sanitizer_shadow(unsigned long long start) {
#ifdef DOOR_TEST_TSAN
  return (start >= 0x010000000000ULL && start < 0x200000000000ULL) ||
         (start >= 0x300000000000ULL && start < 0x400000000000ULL);
#else
  (void)start;
  return false;
#endif
}

/// What a process holds: open descriptors, threads, mappings, resident
/// memory. Leaks of connections, regions or server threads show here.
struct ProcCounts {
  int fds = -1;
  int threads = -1;
  int maps = -1;
  long rss_kb = -1;
};

/// The calling process' ProcCounts, from /proc/self.
inline ProcCounts self_counts() {
  ProcCounts c;
  auto entries = [](const char *path) {
    int n = 0;
    if (DIR *d = opendir(path)) {
      while (struct dirent *e = readdir(d))
        if (e->d_name[0] != '.') n++;
      closedir(d);
    }
    return n;
  };
  c.fds = entries("/proc/self/fd") - 1;  // minus the one opendir holds
  c.threads = entries("/proc/self/task");
  c.maps = 0;
  if (FILE *f = std::fopen("/proc/self/maps", "r")) {
    char line[512];
    while (std::fgets(line, sizeof line, f)) {
      if (!std::strchr(line, '\n')) continue;  // a long path's first part; its end ends the line
      if (!is_sanitizer_shadow(std::strtoull(line, nullptr, 16))) c.maps++;
    }
    std::fclose(f);
  }
  if (FILE *f = std::fopen("/proc/self/statm", "r")) {
    long size = 0, resident = 0;
    if (std::fscanf(f, "%ld %ld", &size, &resident) == 2) c.rss_kb = resident * (sysconf(_SC_PAGESIZE) / 1024);
    std::fclose(f);
  }
  return c;
}

/// Asks a server whose procedure answers "counts" with its ProcCounts
/// (see counts_or_echo_proc).
inline ProcCounts server_counts(int d) {
  ProcCounts c;
  char rbuf[sizeof c];
  door_arg_t a{const_cast<char *>("counts"), 6, nullptr, 0, rbuf, sizeof rbuf};
  if (door_call(d, &a) == 0 && a.data_size == sizeof c) std::memcpy(&c, a.data_ptr, sizeof c);
  return c;
}

/// This process' open descriptors and what they are, one per line.
inline std::string self_fd_list() {
  std::string out;
  if (DIR *d = opendir("/proc/self/fd")) {
    while (struct dirent *e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      char target[256] = {};
      std::string path = std::string("/proc/self/fd/") + e->d_name;
      (void)!readlink(path.c_str(), target, sizeof target - 1);
      out += std::string(e->d_name) + " -> " + target + "\n";
    }
    closedir(d);
  }
  return out;
}

/// Answers "counts" with the server's ProcCounts and "fdlist" with
/// self_fd_list() (for failure messages); echoes anything else.
inline void counts_or_echo_proc(void *, char *argp, size_t n, door_desc_t *, uint_t) {
  if (n == 6 && std::memcmp(argp, "counts", 6) == 0) {
    ProcCounts c = self_counts();
    door_return(reinterpret_cast<char *>(&c), sizeof c, nullptr, 0);
  }
  if (n == 6 && std::memcmp(argp, "fdlist", 6) == 0) {
    std::string l = self_fd_list();
    door_return(l.data(), l.size(), nullptr, 0);
  }
  door_return(argp, n, nullptr, 0);
}

/// The server's descriptor list (see counts_or_echo_proc).
inline std::string server_fd_list(int d) {
  char rbuf[64];
  door_arg_t a{const_cast<char *>("fdlist"), 6, nullptr, 0, rbuf, sizeof rbuf};
  if (door_call(d, &a) != 0) return "?";
  std::string r(a.data_ptr, a.data_size);
  if (a.rbuf != rbuf) munmap(a.rbuf, a.rsize);
  return r;
}

/// An echo procedure: returns its arguments.
inline void echo_proc(void *, char *argp, size_t n, door_desc_t *, uint_t) { door_return(argp, n, nullptr, 0); }

/// A fresh directory from the mkdtemp(3) template `tmpl`; aborts with the
/// reason when it cannot be made (e.g. no /var/tmp): nothing can go on.
inline std::string temp_dir(std::string tmpl) {
  if (!mkdtemp(tmpl.data())) {
    fprintf(stderr, "mkdtemp(%s): %s\n", tmpl.c_str(), strerror(errno));
    abort();
  }
  return tmpl;
}

/// Raises the soft RLIMIT_NOFILE to at least `n`, and the hard one where
/// allowed (root): Debian's defaults are 1024 soft, 4096 hard, too few for
/// a test that passes 1024 descriptors. Fork children inherit it.
inline bool ensure_nofile(rlim_t n) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  if (rl.rlim_cur >= n) return true;
  if (rl.rlim_max < n) rl.rlim_max = n;  // fails without CAP_SYS_RESOURCE
  rl.rlim_cur = n;
  return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/// Calls `d` with `msg`, returns the reply as a string (or "ERR:<errno>").
inline std::string call_str(int d, const std::string &msg) {
  char rbuf[256];
  door_arg_t a{const_cast<char *>(msg.data()), msg.size(), nullptr, 0, rbuf, sizeof rbuf};
  if (door_call(d, &a) != 0) return "ERR:" + std::to_string(errno);
  std::string r(a.data_ptr, a.data_size);
  if (a.rbuf != rbuf) munmap(a.rbuf, a.rsize);
  return r;
}

}  // namespace doortest
