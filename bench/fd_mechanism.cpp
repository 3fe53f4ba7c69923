// SPDX-License-Identifier: MIT
//
// fd_mechanism.cpp — echo over descriptors, shared by pipe, AF_UNIX and TCP
// (see fd_mechanism.h).
#include "fd_mechanism.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "proc.h"

namespace bench {

void write_all(int fd, const char *p, std::size_t n, std::size_t max_write) {
  while (n) {
    const ssize_t w = write(fd, p, std::min(n, max_write));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    p += w;
    n -= std::size_t(w);
  }
}

void read_all(int fd, char *p, std::size_t n) {
  while (n) {
    const ssize_t r = read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("read");
    }
    if (r == 0) {
      errno = EPIPE;
      fail("read (peer gone)");
    }
    p += r;
    n -= std::size_t(r);
  }
}

FdMechanism::~FdMechanism() { stop(); }

void FdMechanism::start(const ServeConfig &cfg) {
  stop();
  for (unsigned i = 0; i < cfg.channels; ++i) chans_.push_back(make_channel());
  const std::size_t payload = cfg.payload, chunk = max_write();
  server_ = ServerProcess::fork(cfg.server_cpu, [this, payload, chunk] {
    run_per_channel(unsigned(chans_.size()), [&](unsigned i) {
      std::vector<char> local(payload ? payload : 1);
      for (;;) {
        read_all(chans_[i].server_rd, local.data(), payload);
        write_all(chans_[i].server_wr, local.data(), payload, chunk);
      }
    });
  });
  // The client keeps only its ends, so a dead server reads as end of file.
  std::set<int> server_fds;
  for (FdChannel &c : chans_) {
    server_fds.insert(c.server_rd);
    server_fds.insert(c.server_wr);
    c.server_rd = c.server_wr = -1;
  }
  for (int fd : server_fds) close(fd);
}

void FdMechanism::roundtrip(unsigned ch, const char *req, char *rep, std::size_t n) {
  write_all(chans_[ch].client_wr, req, n, max_write());
  read_all(chans_[ch].client_rd, rep, n);
}

void FdMechanism::stop() noexcept {
  server_.kill();
  std::set<int> fds;
  for (const FdChannel &c : chans_)
    for (int fd : {c.client_rd, c.client_wr, c.server_rd, c.server_wr})
      if (fd >= 0) fds.insert(fd);
  for (int fd : fds) close(fd);
  chans_.clear();
}

}  // namespace bench
