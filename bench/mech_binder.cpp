// SPDX-License-Identifier: MIT
//
// mech_binder.cpp — Android binder through the raw ioctl protocol of
// /dev/binder (no libbinder): the server process becomes the context
// manager (BINDER_SET_CONTEXT_MGR) and runs one looper thread per channel;
// a client sends BC_TRANSACTION to handle 0 and blocks in BINDER_WRITE_READ
// until BR_REPLY; the server answers each BR_TRANSACTION with BC_REPLY of
// the same bytes, then BC_FREE_BUFFER. The driver copies the payload once
// per direction, straight into the receiver's binder mapping.
//
// /dev/binder exists only where binder_linux is loaded: on the host this
// mechanism reports itself unavailable and runs in the VM section.
#include <fcntl.h>
#include <linux/android/binder.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "mechanism.h"
#include "proc.h"

namespace bench {
namespace {

constexpr const char *kDevice = "/dev/binder";
// The driver caps a process' transaction buffer at 4 MiB.
constexpr std::size_t kMapSize = 4u << 20;
constexpr std::uint32_t kEchoCode = 1;

/// One process' (one thread's) view of the driver.
class BinderFd {
 public:
  BinderFd() {
    fd_ = open(kDevice, O_RDWR | O_CLOEXEC);
    if (fd_ < 0) fail(std::string("open ") + kDevice);
    binder_version v{};
    if (ioctl(fd_, BINDER_VERSION, &v) != 0) fail("BINDER_VERSION");
    if (v.protocol_version != BINDER_CURRENT_PROTOCOL_VERSION)
      throw std::runtime_error("binder protocol version " + std::to_string(v.protocol_version));
    map_ = mmap(nullptr, kMapSize, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (map_ == MAP_FAILED) fail("mmap /dev/binder");
  }
  ~BinderFd() {
    if (map_ != MAP_FAILED) munmap(map_, kMapSize);
    if (fd_ >= 0) close(fd_);
  }
  BinderFd(const BinderFd &) = delete;
  BinderFd &operator=(const BinderFd &) = delete;
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  void *map_ = MAP_FAILED;
};

/// Appends a command word and its argument to a write buffer.
template <class T>
void put(std::vector<char> &w, std::uint32_t cmd, const T &arg) {
  const std::size_t at = w.size();
  w.resize(at + sizeof cmd + sizeof arg);
  std::memcpy(w.data() + at, &cmd, sizeof cmd);
  std::memcpy(w.data() + at + sizeof cmd, &arg, sizeof arg);
}

/// One BINDER_WRITE_READ: writes `w` (then clears it), reads into `r`;
/// returns the number of bytes read.
std::size_t write_read(int fd, std::vector<char> &w, std::vector<char> &r) {
  binder_write_read bwr{};
  bwr.write_size = w.size();
  bwr.write_buffer = reinterpret_cast<binder_uintptr_t>(w.data());
  bwr.read_size = r.size();
  bwr.read_buffer = reinterpret_cast<binder_uintptr_t>(r.data());
  for (;;) {
    if (ioctl(fd, BINDER_WRITE_READ, &bwr) == 0) break;
    if (errno != EINTR) fail("BINDER_WRITE_READ");
    // Retry what was not consumed yet.
    bwr.write_buffer += bwr.write_consumed;
    bwr.write_size -= bwr.write_consumed;
    bwr.write_consumed = 0;
  }
  w.clear();
  return std::size_t(bwr.read_consumed);
}

/// Walks the returned commands; calls on_tr(cmd, tr) for BR_TRANSACTION /
/// BR_REPLY and throws on failures.
template <class F>
void parse(const std::vector<char> &r, std::size_t n, F &&on_tr) {
  std::size_t at = 0;
  while (at + sizeof(std::uint32_t) <= n) {
    std::uint32_t cmd;
    std::memcpy(&cmd, r.data() + at, sizeof cmd);
    at += sizeof cmd;
    const std::size_t sz = _IOC_SIZE(cmd);
    if (at + sz > n) throw std::runtime_error("binder: truncated return command");
    switch (cmd) {
      case BR_TRANSACTION:
      case BR_REPLY: {
        binder_transaction_data tr;
        std::memcpy(&tr, r.data() + at, sizeof tr);
        on_tr(cmd, tr);
        break;
      }
      case BR_DEAD_REPLY: throw std::runtime_error("binder: BR_DEAD_REPLY (server gone)");
      case BR_FAILED_REPLY: throw std::runtime_error("binder: BR_FAILED_REPLY");
      case BR_ERROR: throw std::runtime_error("binder: BR_ERROR");
      default: break;  // BR_NOOP, BR_TRANSACTION_COMPLETE, BR_SPAWN_LOOPER, ...
    }
    at += sz;
  }
}

/// The server's looper: answers every BR_TRANSACTION with the same bytes.
void serve(int fd) {
  std::vector<char> w, r(256);
  const std::uint32_t enter = BC_ENTER_LOOPER;
  w.resize(sizeof enter);
  std::memcpy(w.data(), &enter, sizeof enter);
  for (;;) {
    const std::size_t n = write_read(fd, w, r);
    parse(r, n, [&](std::uint32_t cmd, const binder_transaction_data &tr) {
      if (cmd != BR_TRANSACTION) return;
      binder_transaction_data rep{};
      rep.code = tr.code;
      rep.data_size = tr.data_size;
      rep.data.ptr.buffer = tr.data.ptr.buffer;  // reply straight from the received buffer
      put(w, BC_REPLY, rep);
      // Freed after BC_REPLY: the driver processes commands in order and
      // has copied the reply by then.
      put(w, BC_FREE_BUFFER, static_cast<binder_uintptr_t>(tr.data.ptr.buffer));
    });
  }
}

class BinderMechanism final : public Mechanism {
 public:
  ~BinderMechanism() override { stop(); }
  const char *name() const noexcept override { return "binder"; }
  const char *description() const noexcept override {
    return "Android binder, raw ioctl protocol: BC_TRANSACTION to the context manager (handle 0), BC_REPLY";
  }
  std::string unavailable() const override {
    return access(kDevice, R_OK | W_OK) == 0 ? "" : "no /dev/binder here (binder_linux is loaded in the VM section)";
  }

  void start(const ServeConfig &cfg) override {
    stop();
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) fail("pipe2");
    const unsigned channels = cfg.channels;
    server_ = ServerProcess::fork(cfg.server_cpu, [&] {
      close(ready[0]);
      BinderFd b;
      const std::uint32_t zero = 0;
      ioctl(b.fd(), BINDER_SET_MAX_THREADS, &zero);  // we run our own loopers
      // The previous server's context manager is released by deferred
      // kernel work after its exit: retry EBUSY for a while.
      int err = 0;
      for (int i = 0; i < 400; ++i) {
        if (ioctl(b.fd(), BINDER_SET_CONTEXT_MGR, 0) == 0) {
          err = 0;
          break;
        }
        err = errno;
        if (err != EBUSY) break;
        const timespec ts{0, 5 * 1000 * 1000};
        nanosleep(&ts, nullptr);
      }
      (void)!write(ready[1], &err, sizeof err);
      if (err) return;
      run_per_channel(channels, [&](unsigned) { serve(b.fd()); });
    });
    close(ready[1]);
    int err = -1;
    const ssize_t r = read(ready[0], &err, sizeof err);
    close(ready[0]);
    if (r != sizeof err) throw std::runtime_error("binder server died before it was ready");
    if (err) {
      errno = err;
      fail("BINDER_SET_CONTEXT_MGR");
    }
  }

  std::int64_t server_cpu_ns() const noexcept override { return server_.cpu_ns(); }

  void attach(unsigned ch) override {
    if (!clients_.count(ch)) clients_.emplace(ch, std::make_unique<Client>());
  }

  void roundtrip(unsigned ch, const char *req, char *rep, std::size_t n) override {
    attach(ch);
    Client &c = *clients_[ch];
    binder_transaction_data tr{};
    tr.target.handle = 0;
    tr.code = kEchoCode;
    tr.data_size = n;
    tr.data.ptr.buffer = reinterpret_cast<binder_uintptr_t>(req);
    // The previous reply's buffer is freed with this call, as libbinder does.
    if (c.pending_free) put(c.w, BC_FREE_BUFFER, c.pending_free);
    c.pending_free = 0;
    put(c.w, BC_TRANSACTION, tr);
    bool got = false;
    while (!got) {
      const std::size_t k = write_read(c.b.fd(), c.w, c.r);
      parse(c.r, k, [&](std::uint32_t cmd, const binder_transaction_data &t) {
        if (cmd != BR_REPLY) return;
        if (t.data_size != n) throw std::runtime_error("binder: reply of " + std::to_string(t.data_size) + " bytes");
        std::memcpy(rep, reinterpret_cast<const void *>(t.data.ptr.buffer), n);
        c.pending_free = t.data.ptr.buffer;
        got = true;
      });
    }
  }

  void stop() noexcept override {
    clients_.clear();
    server_.kill();
  }

 private:
  struct Client {
    BinderFd b;
    std::vector<char> w, r = std::vector<char>(256);
    binder_uintptr_t pending_free = 0;
  };
  std::map<unsigned, std::unique_ptr<Client>> clients_;
  ServerProcess server_;
};

}  // namespace

std::unique_ptr<Mechanism> make_binder() { return std::make_unique<BinderMechanism>(); }

}  // namespace bench
