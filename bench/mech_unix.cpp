// SPDX-License-Identifier: MIT
//
// mech_unix.cpp — AF_UNIX socketpairs, SOCK_STREAM and SOCK_SEQPACKET. A
// seqpacket record must fit the socket's send buffer, so the payload goes as
// records of at most 64 KiB (and is read back record by record).
#include <sys/socket.h>

#include "fd_mechanism.h"
#include "proc.h"

namespace bench {
namespace {

class UnixMechanism final : public FdMechanism {
 public:
  explicit UnixMechanism(int type) : type_(type) {}
  const char *name() const noexcept override {
    return type_ == SOCK_STREAM ? "unix_stream" : "unix_seqpacket";
  }
  const char *description() const noexcept override {
    return type_ == SOCK_STREAM ? "AF_UNIX SOCK_STREAM socketpair; payload written/read through it"
                                : "AF_UNIX SOCK_SEQPACKET socketpair; payload as records of <= 64 KiB";
  }

 protected:
  FdChannel make_channel() override {
    int sv[2];
    if (socketpair(AF_UNIX, type_ | SOCK_CLOEXEC, 0, sv) != 0) fail("socketpair");
    return {sv[0], sv[0], sv[1], sv[1]};
  }
  std::size_t max_write() const noexcept override {
    return type_ == SOCK_SEQPACKET ? 64 * 1024 : ~std::size_t(0);
  }

 private:
  int type_;
};

}  // namespace

std::unique_ptr<Mechanism> make_unix_stream() { return std::make_unique<UnixMechanism>(SOCK_STREAM); }
std::unique_ptr<Mechanism> make_unix_seqpacket() { return std::make_unique<UnixMechanism>(SOCK_SEQPACKET); }

}  // namespace bench
