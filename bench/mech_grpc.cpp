// SPDX-License-Identifier: MIT
//
// mech_grpc.cpp — gRPC (Debian's libgrpc++) unary Echo call over a unix
// socket (unix:/tmp/...), synchronous server and stub. The server is one
// process with gRPC's own thread pool; each channel is its own
// grpc::Channel, created in the process that calls (gRPC state must not be
// inherited across fork, so the server is forked before any gRPC call here).
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <stdexcept>
#include <string>

#include "echo.grpc.pb.h"
#include "mechanism.h"
#include "proc.h"

namespace bench {
namespace {

class EchoService final : public doorbench::Echo::Service {
  grpc::Status Echo(grpc::ServerContext *, const doorbench::Payload *req, doorbench::Payload *rep) override {
    rep->set_data(req->data());
    return grpc::Status::OK;
  }
};

class GrpcMechanism final : public Mechanism {
 public:
  ~GrpcMechanism() override { stop(); }
  const char *name() const noexcept override { return "grpc"; }
  const char *description() const noexcept override {
    return "gRPC unary Echo over a unix socket (sync server and stub, libgrpc++ from Debian)";
  }

  void start(const ServeConfig &cfg) override {
    stop();
    path_ = "/tmp/door-bench-grpc-" + std::to_string(getpid()) + ".sock";
    unlink(path_.c_str());
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) fail("pipe2");
    const std::string addr = "unix:" + path_;
    server_ = ServerProcess::fork(cfg.server_cpu, [&] {
      close(ready[0]);
      EchoService svc;
      grpc::ServerBuilder b;
      b.AddListeningPort(addr, grpc::InsecureServerCredentials());
      b.RegisterService(&svc);
      b.SetMaxReceiveMessageSize(64 << 20);
      b.SetMaxSendMessageSize(64 << 20);
      std::unique_ptr<grpc::Server> server = b.BuildAndStart();
      const char ok = server ? 1 : 0;
      (void)!write(ready[1], &ok, 1);
      if (server) server->Wait();
    });
    close(ready[1]);
    char ok = 0;
    const ssize_t r = read(ready[0], &ok, 1);
    close(ready[0]);
    if (r != 1 || !ok) throw std::runtime_error("grpc server did not start on " + addr);
  }

  std::int64_t server_cpu_ns() const noexcept override { return server_.cpu_ns(); }

  void attach(unsigned ch) override {
    if (stubs_.count(ch)) return;
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetMaxSendMessageSize(64 << 20);
    // A distinct argument per channel keeps gRPC from sharing one
    // subchannel (one connection) between them.
    args.SetInt("door_bench.channel", int(ch));
    stubs_[ch] = doorbench::Echo::NewStub(
        grpc::CreateCustomChannel("unix:" + path_, grpc::InsecureChannelCredentials(), args));
  }

  void roundtrip(unsigned ch, const char *req, char *rep, std::size_t n) override {
    attach(ch);
    doorbench::Payload q, a;
    q.set_data(req, n);
    grpc::ClientContext ctx;
    const grpc::Status st = stubs_[ch]->Echo(&ctx, q, &a);
    if (!st.ok()) throw std::runtime_error("grpc Echo: " + st.error_message());
    if (a.data().size() != n) throw std::runtime_error("grpc Echo: wrong reply size");
    std::memcpy(rep, a.data().data(), n);
  }

  void stop() noexcept override {
    stubs_.clear();
    server_.kill();
    if (!path_.empty()) unlink(path_.c_str());
  }

 private:
  std::string path_;
  std::map<unsigned, std::unique_ptr<doorbench::Echo::Stub>> stubs_;
  ServerProcess server_;
};

}  // namespace

std::unique_ptr<Mechanism> make_grpc() { return std::make_unique<GrpcMechanism>(); }

}  // namespace bench
