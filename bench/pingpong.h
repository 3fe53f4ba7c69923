// SPDX-License-Identifier: MIT
//
// pingpong.h — request/reply mechanisms measured by door_bench.
//
// Every mechanism runs a server in a SEPARATE PROCESS (fork) and exposes one
// synchronous round trip to the benchmark driver in the parent: send `n`
// payload bytes, wait for the `n`-byte echo. The shared-memory mechanisms
// copy the payload through a MAP_SHARED|MAP_ANONYMOUS region mapped before
// fork(), both ways (client -> shm -> server buffer -> shm -> client); the
// pipe copies it through the pipes; door_call copies it however libdoor
// does, through the public <door.h> API only.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace bench {

/// A request/reply mechanism with its server in a child process.
class Mechanism {
 public:
  virtual ~Mechanism() = default;

  /// Short name used in tables and JSON ("futex", "door_call", ...).
  virtual const char *name() const noexcept = 0;

  /// One-line description for the report.
  virtual const char *description() const noexcept = 0;

  /// Forks the server process, pinned to `server_cpu` (-1: unpinned), serving
  /// `payload`-byte requests. Throws std::runtime_error on failure.
  virtual void start(int server_cpu, std::size_t payload) = 0;

  /// One round trip: sends req[0, n) and receives n bytes into rep.
  /// Throws std::runtime_error on failure.
  virtual void roundtrip(const char *req, char *rep, std::size_t n) = 0;

  /// Stops and reaps the server process. Never throws.
  virtual void stop() noexcept = 0;
};

/// Futex wake/wait ping-pong on a shared (not PRIVATE) futex, no spinning.
std::unique_ptr<Mechanism> make_futex();
/// Futex ping-pong with a bounded adaptive spin before sleeping; the spin is
/// skipped when the peer runs on the waiter's CPU.
std::unique_ptr<Mechanism> make_futex_spin(unsigned spin_us);
/// eventfd pair for the signalling, payload through shared memory.
std::unique_ptr<Mechanism> make_eventfd();
/// Pipe pair; the payload travels through the pipes.
std::unique_ptr<Mechanism> make_pipe();
/// Both sides busy-poll a shared word (burns two CPUs); yields when the
/// peer shares the CPU, so the same-CPU placement still makes progress.
std::unique_ptr<Mechanism> make_busypoll();
/// door_call() to a door served by a child process (door_bench_door.cpp).
std::unique_ptr<Mechanism> make_door();

/// Pins the calling thread (and the threads it creates later) to `cpu`;
/// cpu < 0 restores the affinity the process started with.
/// Throws std::runtime_error on failure.
void pin_self(int cpu);

/// The CPUs this process may run on at start-up, in ascending order.
const std::vector<int> &allowed_cpus();

}  // namespace bench
