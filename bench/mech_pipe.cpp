// SPDX-License-Identifier: MIT
//
// mech_pipe.cpp — two pipes per channel (request, reply); the payload is
// written and read through them.
#include <fcntl.h>
#include <unistd.h>

#include "fd_mechanism.h"
#include "proc.h"

namespace bench {
namespace {

class PipeMechanism final : public FdMechanism {
 public:
  const char *name() const noexcept override { return "pipe"; }
  const char *description() const noexcept override {
    return "two pipes; the payload is written/read through them";
  }

 protected:
  FdChannel make_channel() override {
    int req[2], rep[2];
    if (pipe2(req, O_CLOEXEC) != 0) fail("pipe2");
    if (pipe2(rep, O_CLOEXEC) != 0) {
      close(req[0]);
      close(req[1]);
      fail("pipe2");
    }
    return {rep[0], req[1], req[0], rep[1]};
  }
};

}  // namespace

std::unique_ptr<Mechanism> make_pipe() { return std::make_unique<PipeMechanism>(); }

}  // namespace bench
