// SPDX-License-Identifier: MIT
//
// mechanism.h — the request/reply mechanisms measured by door_bench, behind
// one interface.
//
// Every mechanism runs its server in a SEPARATE PROCESS and exposes one
// synchronous round trip to a client: send `n` payload bytes, wait for the
// `n`-byte echo. A server serves `channels` independent callers (one
// channel each, usually one server thread per channel), so the same object
// measures single-caller latency and multi-caller throughput. Client code
// may run in processes forked after start(): attach(ch) is called once in
// the process that will use channel ch, before its first round trip, for
// state that cannot be inherited across fork (io_uring rings, gRPC
// channels, binder descriptors).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server_process.h"

namespace bench {

/// How a mechanism is read in the report.
enum class Role {
  Blocking,  ///< a usable blocking request/reply mechanism (door_call competes with these)
  Floor,     ///< busy-poll: the latency floor, burns CPUs
  Baseline,  ///< shm_memcpy: what copying the payload through shared memory costs
  Variant,   ///< door_call with a non-default, opt-in setting (not a competitor)
};

/// What start() is asked to serve.
struct ServeConfig {
  int server_cpu = -1;        ///< -1: unpinned
  std::size_t payload = 8;    ///< bytes per request and per reply
  unsigned channels = 1;      ///< concurrent callers to serve
};

/// A request/reply mechanism with its server in a child process.
class Mechanism {
 public:
  virtual ~Mechanism() = default;

  /// Short name used in tables, CSV and JSON ("futex", "door_call", ...).
  virtual const char *name() const noexcept = 0;
  /// One-line description for the report.
  virtual const char *description() const noexcept = 0;
  /// How the report classifies it.
  virtual Role role() const noexcept { return Role::Blocking; }
  /// Empty if the mechanism can run here, else why not (shown as "skipped").
  virtual std::string unavailable() const { return {}; }

  /// Forks the server process (pinned to cfg.server_cpu). Throws
  /// std::runtime_error on failure.
  virtual void start(const ServeConfig &cfg) = 0;
  /// CPU time of the server process so far, ns (ServerProcess::cpu_ns);
  /// -1 before start() or if it cannot be read.
  virtual std::int64_t server_cpu_ns() const noexcept = 0;
  /// Prepares channel `ch` in the calling process (see the file comment).
  virtual void attach(unsigned ch) { (void)ch; }
  /// One round trip on channel `ch`: sends req[0, n), receives n bytes into
  /// rep. Throws std::runtime_error on failure.
  virtual void roundtrip(unsigned ch, const char *req, char *rep, std::size_t n) = 0;
  /// Stops and reaps the server process. Never throws.
  virtual void stop() noexcept = 0;
};

// Factories, one per mechanism file (mech_*.cpp).
std::unique_ptr<Mechanism> make_futex();
std::unique_ptr<Mechanism> make_futex_spin(unsigned spin_us);
std::unique_ptr<Mechanism> make_eventfd();
std::unique_ptr<Mechanism> make_busypoll();
std::unique_ptr<Mechanism> make_shm_memcpy();
std::unique_ptr<Mechanism> make_pipe();
std::unique_ptr<Mechanism> make_unix_stream();
std::unique_ptr<Mechanism> make_unix_seqpacket();
std::unique_ptr<Mechanism> make_tcp();
std::unique_ptr<Mechanism> make_mqueue();
std::unique_ptr<Mechanism> make_uring();
std::unique_ptr<Mechanism> make_grpc();
std::unique_ptr<Mechanism> make_binder();
std::unique_ptr<Mechanism> make_door();
std::unique_ptr<Mechanism> make_door_in_place();

/// Every mechanism this binary was built with, in report order.
std::vector<std::unique_ptr<Mechanism>> all_mechanisms(unsigned spin_us);

}  // namespace bench
