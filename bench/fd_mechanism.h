// SPDX-License-Identifier: MIT
//
// fd_mechanism.h — the common shape of the descriptor mechanisms (pipe,
// AF_UNIX stream/seqpacket, TCP loopback): per channel a client descriptor
// pair and a server descriptor pair made before fork(); the server process
// runs one thread per channel that reads the n-byte request and writes it
// back; the payload travels through the kernel both ways.
#pragma once

#include <cstddef>
#include <vector>

#include "mechanism.h"

namespace bench {

/// Descriptors of one channel. For sockets rd == wr.
struct FdChannel {
  int client_rd = -1, client_wr = -1;
  int server_rd = -1, server_wr = -1;
};

/// Writes all n bytes, at most `max_write` per write() (a seqpacket record
/// cannot exceed the socket buffer). Throws on error.
void write_all(int fd, const char *p, std::size_t n, std::size_t max_write = ~std::size_t(0));
/// Reads exactly n bytes. Throws on error or end of file.
void read_all(int fd, char *p, std::size_t n);

class FdMechanism : public Mechanism {
 public:
  ~FdMechanism() override;
  void start(const ServeConfig &cfg) override;
  std::int64_t server_cpu_ns() const noexcept override { return server_.cpu_ns(); }
  void roundtrip(unsigned ch, const char *req, char *rep, std::size_t n) override;
  void stop() noexcept override;

 protected:
  /// Creates one channel's descriptors (close-on-exec). Throws on failure.
  virtual FdChannel make_channel() = 0;
  /// Largest single write (seqpacket records); unlimited by default.
  virtual std::size_t max_write() const noexcept { return ~std::size_t(0); }

 private:
  std::vector<FdChannel> chans_;
  ServerProcess server_;
};

}  // namespace bench
