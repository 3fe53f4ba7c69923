// SPDX-License-Identifier: MIT
//
// attach.cpp — fattach()/fdetach(): doors in the file-system name space.
//
// fattach(door, path) marks `path` with the extended attribute
// "user.ldoor.attach" = "<listener>\n<token>": the abstract name of this
// process' attach listener (one SEQPACKET socket, served by the reactor) and
// a random token for this attachment. libdoor interposes open() and its
// relatives: when an open() succeeds on a file carrying the attribute, it
// connects to the listener and presents the descriptor it just opened; the
// server checks that descriptor really is the attached file (same device
// and inode) and answers with a door descriptor, which open() returns in
// place of the file. So the kernel's own open() permission check on the
// path decides who may obtain the door — knowing the listener's name (it is
// visible in /proc/net/unix) grants nothing without an open descriptor of
// the file. fdetach() removes the attribute: the path names the file again;
// descriptors opened while attached stay doors.
//
// Limits (README): only processes linked with libdoor see doors through
// open(); the file system must support user.* extended attributes (ext4,
// xfs, btrfs; tmpfs from Linux 6.6); an attachment whose server exited is
// ignored by open() (the file opens as a file) and may be re-attached.
#include <door.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stropts.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "door_identity.h"
#include "fork_graveyard.h"
#include "reactor.h"
#include "runtime.h"
#include "scm.h"
#include "server.h"
#include "unique_fd.h"

namespace door::detail {

namespace {

constexpr char kXattr[] = "user.ldoor.attach";
constexpr std::uint32_t kAttachMagic = 0x41545443u;  // "ATTC"

struct AttachRequest {
  std::uint32_t magic;
  std::uint32_t pad;
  std::uint64_t token;
};
struct AttachReply {
  std::uint32_t magic;
  std::int32_t status;
};

struct Attachment {
  dev_t dev;
  ino_t ino;
  unique_fd door;  ///< our own copy: the application may close its descriptor
};

struct AttachState {
  std::mutex mu;
  pid_t pid = 0;
  unique_fd listener;
  std::string name;  ///< abstract name of the listener
  std::unordered_map<std::uint64_t, Attachment> by_token;
};
AttachState &attach_state() {
  static AttachState *s = new AttachState;
  return *s;
}

sockaddr_un abstract_addr(const std::string &name, socklen_t &len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path + 1, name.data(), std::min(name.size(), sizeof a.sun_path - 1));
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return a;
}

/// Answers one request on an accepted connection (runs on the reactor).
bool serve_request(int conn) {
  AttachRequest rq{};
  auto rec = recv_record(conn, &rq, sizeof rq, /*dontwait=*/true);
  if (!rec && rec.error() == std::errc::resource_unavailable_try_again) return true;  // not yet
  AttachReply rep{kAttachMagic, ENOENT};
  int door = -1;
  if (rec && rec->len == sizeof rq && rq.magic == kAttachMagic && rec->fds.size() == 1) {
    struct stat st;
    AttachState &s = attach_state();
    std::lock_guard g(s.mu);
    auto it = s.by_token.find(rq.token);
    if (it != s.by_token.end() && fstat(rec->fds[0].get(), &st) == 0 && st.st_dev == it->second.dev &&
        st.st_ino == it->second.ino) {
      rep.status = 0;
      door = it->second.door.get();
      // Each open() of an attached path is a reference of its own for
      // DOOR_UNREF doors (unref.cpp), as on illumos.
      unique_fd minted(reference_for_passing(door));
      int fds[1] = {minted ? minted.get() : door};
      (void)send_record(conn, &rep, sizeof rep, fds, /*dontwait=*/true);
    }
  }
  if (door < 0) (void)send_record(conn, &rep, sizeof rep, {}, /*dontwait=*/true);
  return false;  // one request per connection
}

bool accept_requests(int listener) {
  for (;;) {
    int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) return true;
    // The request may not have arrived yet: wait for it on the reactor,
    // never blocking it. The watch owns the socket and closes it when done.
    auto *owned = new unique_fd(c);
    if (!reactor_watch_fd(c, owned, [owned] {
          bool more = serve_request(owned->get());
          if (!more) reactor_post([owned] { delete owned; });
          return more;
        }))
      delete owned;
  }
}

/// Creates this process' attach listener once (per process: fork-aware).
Result<void> ensure_listener(AttachState &s) {
  if (s.listener && s.pid == getpid()) return {};
  std::uint64_t r[2];
  if (getrandom(r, sizeof r, 0) != sizeof r) return fail(std::errc::resource_unavailable_try_again);
  char name[80];
  std::snprintf(name, sizeof name, "ldoorfs:%d:%016" PRIx64 "%016" PRIx64, static_cast<int>(getpid()), r[0], r[1]);
  unique_fd l(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!l) return fail_errno(errno);
  socklen_t len;
  sockaddr_un a = abstract_addr(name, len);
  if (bind(l.get(), reinterpret_cast<sockaddr *>(&a), len) != 0 || listen(l.get(), 128) != 0)
    return fail_errno(errno);
  int fd = l.get();
  if (!reactor_watch_fd(fd, &s, [fd] { return accept_requests(fd); }))
    return fail(std::errc::resource_unavailable_try_again);
  s.listener = std::move(l);
  s.name = name;
  s.pid = getpid();
  return {};
}

/// Parses an attribute value into listener name and token.
bool parse_value(const char *v, std::size_t n, std::string &name, std::uint64_t &token) {
  std::string s(v, n);
  auto nl = s.find('\n');
  if (nl == std::string::npos || s.compare(0, 8, "ldoorfs:") != 0) return false;
  name = s.substr(0, nl);
  return std::sscanf(s.c_str() + nl + 1, "%" SCNx64, &token) == 1;
}

/// Whether an attachment's server still listens.
bool listener_alive(const std::string &name) {
  unique_fd c(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  socklen_t len;
  sockaddr_un a = abstract_addr(name, len);
  return c && connect(c.get(), reinterpret_cast<sockaddr *>(&a), len) == 0;
}

/// Checks illumos' ownership rules for fattach/fdetach on `path`.
int check_owner(const char *path, struct stat &st) {
  if (stat(path, &st) != 0) return errno;
  if (geteuid() != 0 && st.st_uid != geteuid()) return EPERM;
  if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) != 0) return EACCES;
  return 0;
}

/// If `fd` is an open attached file, returns a door descriptor for it.
int translate_open(int fd, int flags) {
  if (fd < 0 || (flags & O_PATH)) return fd;
  int saved = errno;
  char v[160];
  ssize_t n = fgetxattr(fd, kXattr, v, sizeof v);
  if (n <= 0) {
    errno = saved;
    return fd;
  }
  std::string name;
  std::uint64_t token;
  int door = -1;
  if (parse_value(v, static_cast<std::size_t>(n), name, token)) {
    unique_fd c(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    socklen_t len;
    sockaddr_un a = abstract_addr(name, len);
    AttachRequest rq{kAttachMagic, 0, token};
    int pass[1] = {fd};
    if (c && connect(c.get(), reinterpret_cast<sockaddr *>(&a), len) == 0 &&
        send_record(c.get(), &rq, sizeof rq, pass)) {
      struct pollfd p{c.get(), POLLIN, 0};
      AttachReply rep{};
      if (poll(&p, 1, 5000) == 1) {
        auto rec = recv_record(c.get(), &rep, sizeof rep, false);
        if (rec && rec->len == sizeof rep && rep.magic == kAttachMagic && rep.status == 0 && rec->fds.size() == 1 &&
            identify_door_fd(rec->fds[0].get()))
          door = rec->fds[0].release();
      }
    }
  }
  if (door < 0) {  // stale or foreign attribute: the path names the file
    errno = saved;
    return fd;
  }
  // Same descriptor number as the file had; close-on-exec as requested.
  if (dup3(door, fd, (flags & O_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
    raw_close(door);
    errno = saved;
    return fd;
  }
  raw_close(door);
  errno = saved;
  return fd;
}

template <class Fn>
Fn next(const char *name) {
  return reinterpret_cast<Fn>(next_symbol(name));
}

mode_t mode_arg(int flags, va_list ap) {
  return (flags & (O_CREAT | O_TMPFILE)) ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

}  // namespace

namespace {
/// The parent's attachments, as parked by a fork child (fork_graveyard.h).
struct AttachGrave {
  std::unordered_map<std::uint64_t, Attachment> by_token;
};
ForkGraveyard<AttachGrave> g_attach_grave;
}  // namespace

void attach_prepare_fork() noexcept { g_attach_grave.prepare(); }
void attach_parent_after_fork() noexcept { g_attach_grave.parent(); }

void attach_forget_after_fork() noexcept {
  // Fork child, no allocation: the attachments are the parent's.
  AttachState &s = attach_state();
  new (&s.mu) std::mutex;
  (void)s.listener.release();  // closed with the reactor's watches
  s.name.clear();
  s.pid = 0;
  for (auto &kv : s.by_token) raw_close(kv.second.door.release());
  if (AttachGrave *grave = g_attach_grave.child()) s.by_token.swap(grave->by_token);
}

}  // namespace door::detail

using namespace door::detail;

extern "C" {

int fattach(int fildes, const char *path) noexcept {
  if (fcntl(fildes, F_GETFD) < 0) {
    errno = EBADF;
    return -1;
  }
  auto ident = identify_door_fd(fildes);
  if (!ident) {
    errno = EINVAL;  // not a door
    return -1;
  }
  if (!path) {
    errno = EFAULT;
    return -1;
  }
  struct stat st;
  if (int e = check_owner(path, st)) {
    errno = e;
    return -1;
  }
  install_fork_handlers();
  char old[160];
  ssize_t n = getxattr(path, kXattr, old, sizeof old);
  std::string oname;
  std::uint64_t otoken;
  if (n > 0 && parse_value(old, static_cast<std::size_t>(n), oname, otoken) && listener_alive(oname)) {
    errno = EBUSY;  // something is attached already
    return -1;
  }
  AttachState &s = attach_state();
  std::lock_guard g(s.mu);
  if (auto r = ensure_listener(s); !r) {
    errno = to_errno(r.error());
    return -1;
  }
  std::uint64_t token;
  if (getrandom(&token, sizeof token, 0) != sizeof token) {
    errno = EAGAIN;
    return -1;
  }
  unique_fd copy(fcntl(fildes, F_DUPFD_CLOEXEC, 0));
  if (!copy) return -1;
  char value[160];
  int len = std::snprintf(value, sizeof value, "%s\n%016" PRIx64, s.name.c_str(), token);
  if (setxattr(path, kXattr, value, static_cast<std::size_t>(len), 0) != 0) {
    if (errno == ENOTSUP || errno == EOPNOTSUPP) errno = EINVAL;  // no user xattrs here
    return -1;
  }
  s.by_token[token] = Attachment{st.st_dev, st.st_ino, std::move(copy)};
  return 0;
}

int fdetach(const char *path) noexcept {
  if (!path) {
    errno = EFAULT;
    return -1;
  }
  struct stat st;
  if (stat(path, &st) != 0) return -1;
  char v[160];
  ssize_t n = getxattr(path, kXattr, v, sizeof v);
  std::string name;
  std::uint64_t token;
  if (n <= 0 || !parse_value(v, static_cast<std::size_t>(n), name, token)) {
    errno = EINVAL;  // nothing attached
    return -1;
  }
  if (int e = check_owner(path, st)) {
    errno = e;
    return -1;
  }
  if (removexattr(path, kXattr) != 0) return -1;
  AttachState &s = attach_state();
  std::lock_guard g(s.mu);
  if (name == s.name) s.by_token.erase(token);
  return 0;
}

// ---- open() and relatives: an attached path opens as its door ----

__attribute__((visibility("default"))) int open(const char *path, int flags, ...) {
  static auto f = next<int (*)(const char *, int, ...)>("open");
  va_list ap;
  va_start(ap, flags);
  mode_t m = mode_arg(flags, ap);
  va_end(ap);
  return translate_open(f(path, flags, m), flags);
}

__attribute__((visibility("default"))) int open64(const char *path, int flags, ...) {
  static auto f = next<int (*)(const char *, int, ...)>("open64");
  va_list ap;
  va_start(ap, flags);
  mode_t m = mode_arg(flags, ap);
  va_end(ap);
  return translate_open(f(path, flags, m), flags);
}

__attribute__((visibility("default"))) int openat(int dirfd, const char *path, int flags, ...) {
  static auto f = next<int (*)(int, const char *, int, ...)>("openat");
  va_list ap;
  va_start(ap, flags);
  mode_t m = mode_arg(flags, ap);
  va_end(ap);
  return translate_open(f(dirfd, path, flags, m), flags);
}

__attribute__((visibility("default"))) int openat64(int dirfd, const char *path, int flags, ...) {
  static auto f = next<int (*)(int, const char *, int, ...)>("openat64");
  va_list ap;
  va_start(ap, flags);
  mode_t m = mode_arg(flags, ap);
  va_end(ap);
  return translate_open(f(dirfd, path, flags, m), flags);
}

// _FORTIFY_SOURCE builds call these instead of open()/open64().
__attribute__((visibility("default"))) int __open_2(const char *path, int flags) {
  static auto f = next<int (*)(const char *, int)>("__open_2");
  return translate_open(f(path, flags), flags);
}

__attribute__((visibility("default"))) int __open64_2(const char *path, int flags) {
  static auto f = next<int (*)(const char *, int)>("__open64_2");
  return translate_open(f(path, flags), flags);
}

}  // extern "C"
