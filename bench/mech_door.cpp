// SPDX-License-Identifier: MIT
//
// mech_door.cpp — the door_call() mechanism of door_bench, written against
// the public C API of <door.h> only, with libdoor's default settings; and
// door_call_inplace, the same with the opt-in DOOR_ARGS_IN_PLACE_NP door
// attribute (the procedure reads its arguments in shared memory: one copy
// fewer), shown beside the memcpy baseline for large payloads.
//
// The SERVER process must be the one that calls door_create(), so: create a
// socketpair, fork; the child pins itself (before door_create(), so the
// server threads libdoor starts inherit the affinity), creates a door whose
// procedure echoes the argument with door_return(argp, arg_size, NULL, 0),
// and sends the door descriptor to the parent with SCM_RIGHTS. The child's
// main thread then blocks on the socket until the parent closes its end;
// libdoor's own threads serve the calls. Concurrent callers are client
// processes forked after start(): each inherits the door descriptor and
// libdoor gives each process its own connection, as for any door client.
#include <door.h>
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "mechanism.h"
#include "proc.h"

namespace bench {
namespace {

[[noreturn]] void fail_errno(const std::string &what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

extern "C" void echo_procedure(void *, char *argp, size_t arg_size, door_desc_t *, uint_t) {
  door_return(argp, arg_size, nullptr, 0);
}

/// Sends `fd` (or, when fd < 0, the errno `err`) over the socket.
void send_door(int sock, int fd, int err) {
  msghdr msg{};
  iovec iov{&err, sizeof err};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = ctl;
    msg.msg_controllen = sizeof ctl;
    cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

/// Receives the door descriptor; throws with the child's errno on failure.
int recv_door(int sock) {
  int err = 0;
  msghdr msg{};
  iovec iov{&err, sizeof err};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  ssize_t r;
  while ((r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (r < 0) fail_errno("recvmsg(door fd)", errno);
  if (r == 0) throw std::runtime_error("door server exited before sending its door");
  for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  }
  fail_errno("door server: door_create", err ? err : EPROTO);
}

class DoorMechanism final : public Mechanism {
 public:
  explicit DoorMechanism(door_attr_t attributes) : attributes_(attributes) {}
  ~DoorMechanism() override { stop(); }
  const char *name() const noexcept override { return in_place() ? "door_call_inplace" : "door_call"; }
  const char *description() const noexcept override {
    return in_place() ? "door_call() as door_call, to a door created with the opt-in DOOR_ARGS_IN_PLACE_NP "
                        "(the procedure reads the arguments where the client wrote them: one copy fewer, "
                        "but the client can change them during the call)"
                      : "door_call() to a door created by the server process (libdoor threads echo via "
                        "door_return)";
  }
  Role role() const noexcept override { return in_place() ? Role::Variant : Role::Blocking; }

  void start(const ServeConfig &cfg) override {
    const int server_cpu = cfg.server_cpu;
    const door_attr_t attributes = attributes_;
    stop();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      fail_errno("socketpair", errno);
    try {
      server_ = ServerProcess::fork(server_cpu, [&] {
        close(sv[0]);
        const int d = door_create(echo_procedure, nullptr, attributes);
        send_door(sv[1], d, d < 0 ? errno : 0);
        if (d < 0) _exit(1);
        // Park until the parent closes its end; libdoor's threads serve.
        char c;
        ssize_t r;
        do {
          r = read(sv[1], &c, 1);
        } while (r > 0 || (r < 0 && errno == EINTR));
      });
    } catch (...) {
      close(sv[0]);
      close(sv[1]);
      throw;
    }
    close(sv[1]);
    sock_ = sv[0];
    door_ = recv_door(sock_);
  }

  std::int64_t server_cpu_ns() const noexcept override { return server_.cpu_ns(); }

  void roundtrip(unsigned, const char *req, char *rep, std::size_t n) override {
    door_arg_t a;
    a.data_ptr = const_cast<char *>(req);
    a.data_size = n;
    a.desc_ptr = nullptr;
    a.desc_num = 0;
    a.rbuf = rep;
    a.rsize = n;
    if (door_call(door_, &a) != 0) fail_errno("door_call", errno);
    if (a.data_ptr != rep) {
      // Results did not fit: libdoor mapped a new buffer (illumos semantics).
      std::memcpy(rep, a.data_ptr, a.data_size < n ? a.data_size : n);
      munmap(a.rbuf, a.rsize);
    }
    if (a.data_size != n)
      throw std::runtime_error("door_call returned " + std::to_string(a.data_size) +
                               " bytes, expected " + std::to_string(n));
  }

  void stop() noexcept override {
    if (door_ >= 0) close(door_);
    door_ = -1;
    if (sock_ >= 0) close(sock_);
    sock_ = -1;
    // The child exits when it sees end of file; give it a moment, then insist.
    server_.stop(std::chrono::seconds(1));
  }

 private:
  bool in_place() const noexcept { return attributes_ & DOOR_ARGS_IN_PLACE_NP; }

  door_attr_t attributes_;
  ServerProcess server_;
  int sock_ = -1;
  int door_ = -1;
};

}  // namespace

std::unique_ptr<Mechanism> make_door() { return std::make_unique<DoorMechanism>(0); }
std::unique_ptr<Mechanism> make_door_in_place() {
  return std::make_unique<DoorMechanism>(DOOR_ARGS_IN_PLACE_NP);
}

}  // namespace bench
