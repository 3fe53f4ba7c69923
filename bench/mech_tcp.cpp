// SPDX-License-Identifier: MIT
//
// mech_tcp.cpp — TCP over loopback (127.0.0.1), TCP_NODELAY on both ends.
// Each channel is connected before fork(): the client connects to a
// listener on an ephemeral port and the same process accepts (the handshake
// completes in the backlog), so a channel is a connected pair like a
// socketpair and the server process inherits its end.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "fd_mechanism.h"
#include "proc.h"

namespace bench {
namespace {

class TcpMechanism final : public FdMechanism {
 public:
  const char *name() const noexcept override { return "tcp"; }
  const char *description() const noexcept override {
    return "TCP loopback connection (127.0.0.1, TCP_NODELAY); payload written/read through it";
  }

 protected:
  FdChannel make_channel() override {
    const int lst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lst < 0) fail("socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int cli = -1, srv = -1;
    if (bind(lst, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 || listen(lst, 1) != 0 ||
        getsockname(lst, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
      close(lst);
      fail("tcp listen");
    }
    cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cli < 0 || connect(cli, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
        (srv = accept4(lst, nullptr, nullptr, SOCK_CLOEXEC)) < 0) {
      const int e = errno;
      if (cli >= 0) close(cli);
      close(lst);
      errno = e;
      fail("tcp connect/accept");
    }
    close(lst);
    const int one = 1;
    setsockopt(cli, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(srv, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return {cli, cli, srv, srv};
  }
};

}  // namespace

std::unique_ptr<Mechanism> make_tcp() { return std::make_unique<TcpMechanism>(); }

}  // namespace bench
