// SPDX-License-Identifier: MIT
//
// mech_mqueue.cpp — POSIX message queues, a request and a reply queue per
// channel. A message is at most /proc/sys/fs/mqueue/msgsize_max bytes (8 KiB
// by default; the bench does not raise system limits), so bigger payloads
// travel as a train of messages of that size, as an application would have
// to send them.
#include <fcntl.h>
#include <mqueue.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "mechanism.h"
#include "proc.h"

namespace bench {
namespace {

long read_limit(const char *path, long fallback) {
  std::ifstream f(path);
  long v = 0;
  return (f >> v) && v > 0 ? v : fallback;
}

class MqueueMechanism final : public Mechanism {
 public:
  ~MqueueMechanism() override { stop(); }
  const char *name() const noexcept override { return "mqueue"; }
  const char *description() const noexcept override {
    return "POSIX message queues (request queue + reply queue); payloads above msgsize_max as several messages";
  }

  void start(const ServeConfig &cfg) override {
    stop();
    msgsize_ = std::max<std::size_t>(
        1, std::min<std::size_t>(cfg.payload, std::size_t(read_limit("/proc/sys/fs/mqueue/msgsize_max", 8192))));
    mq_attr attr{};
    // Two messages in flight let the sender of a long train run ahead by one.
    attr.mq_maxmsg = std::min(2L, read_limit("/proc/sys/fs/mqueue/msg_max", 10));
    attr.mq_msgsize = long(msgsize_);
    for (unsigned i = 0; i < cfg.channels; ++i) {
      mqd_t q[2];
      for (int d = 0; d < 2; ++d) {
        const std::string nm = "/door-bench-" + std::to_string(getpid()) + "-" + std::to_string(i) + "-" +
                               std::to_string(d);
        q[d] = mq_open(nm.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
        if (q[d] == mqd_t(-1)) fail("mq_open " + nm);
        mq_unlink(nm.c_str());  // the descriptors (inherited by fork) keep it alive
        qs_.push_back(q[d]);
      }
    }
    const std::size_t payload = cfg.payload;
    server_ = ServerProcess::fork(cfg.server_cpu, [this, payload] {
      run_per_channel(unsigned(qs_.size() / 2), [&](unsigned i) {
        std::vector<char> local(payload ? payload : 1), bounce(msgsize_);
        for (;;) {
          recv(qs_[2 * i], local.data(), payload, bounce.data());
          send(qs_[2 * i + 1], local.data(), payload);
        }
      });
    });
  }

  std::int64_t server_cpu_ns() const noexcept override { return server_.cpu_ns(); }

  void attach(unsigned) override { bounce_.resize(msgsize_); }

  void roundtrip(unsigned ch, const char *req, char *rep, std::size_t n) override {
    if (bounce_.size() < msgsize_) bounce_.resize(msgsize_);
    send(qs_[2 * ch], req, n);
    recv(qs_[2 * ch + 1], rep, n, bounce_.data());
  }

  void stop() noexcept override {
    server_.kill();
    for (mqd_t q : qs_) mq_close(q);
    qs_.clear();
  }

 private:
  void send(mqd_t q, const char *p, std::size_t n) {
    do {
      const std::size_t k = std::min(n, msgsize_);
      while (mq_send(q, p, k, 0) != 0)
        if (errno != EINTR) fail("mq_send");
      p += k;
      n -= k;
    } while (n);
  }
  // mq_receive needs a buffer of at least msgsize: the tail goes via bounce.
  void recv(mqd_t q, char *p, std::size_t n, char *bounce) {
    do {
      char *dst = n >= msgsize_ ? p : bounce;
      ssize_t r;
      while ((r = mq_receive(q, dst, msgsize_, nullptr)) < 0)
        if (errno != EINTR) fail("mq_receive");
      const std::size_t k = std::min(n, std::size_t(r));
      if (dst == bounce) std::memcpy(p, bounce, k);
      p += k;
      n -= k;
    } while (n);
  }

  std::size_t msgsize_ = 1;
  std::vector<mqd_t> qs_;  // [2i] requests, [2i+1] replies of channel i
  std::vector<char> bounce_;
  ServerProcess server_;
};

}  // namespace

std::unique_ptr<Mechanism> make_mqueue() { return std::make_unique<MqueueMechanism>(); }

}  // namespace bench
