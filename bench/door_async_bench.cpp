// SPDX-License-Identifier: MIT
//
// door_async_bench — asynchronous door calls (door_call_async_np) against
// the blocking door_call(), between two processes, 8-byte echo calls.
//
// Modes, each run --repeats times (the report shows the median of the
// repeats' p50 and calls/s):
//   blocking         one thread, door_call() back to back
//   blocking xN      N threads, each door_call() back to back (throughput
//                    a thread-per-call program gets)
//   async ring  d=1  one call in flight, the caller's io_uring
//                    (io_uring_submit_and_wait + door_async_complete_np)
//   async poll  d=1  one call in flight, the context's own ring, collected
//                    with door_async_reap_np (its pollable descriptor mode)
//   async ring  d=N  N calls in flight from ONE thread, caller's ring
//   async poll  d=N  N calls in flight from ONE thread, own ring
// Latency is per call, from posting to its completion being collected.
// Unpinned by default, as real programs run; --cpu / --server-cpu pin.
#include <door.h>
#include <door_async.h>
#include <liburing.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <fmt/format.h>
#include <string>
#include <thread>
#include <vector>

#include "door_test_util.h"

namespace {

std::uint64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

[[noreturn]] void die(const std::string &what) {
  fmt::print(stderr, "door_async_bench: {}: {}\n", what, std::strerror(errno));
  std::exit(1);
}

void echo(void *, char *argp, size_t n, door_desc_t *, uint_t) { door_return(argp, n, nullptr, 0); }

/// The echo door's server, in its own process (pinned to `cpu` if >= 0).
doortest::ServerProcess serve(int cpu) {
  return doortest::ServerProcess([cpu] {
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      sched_setaffinity(0, sizeof set, &set);
    }
    return std::vector<int>{door_create(echo, nullptr, 0)};
  });
}

/// One measurement: per-call latencies and the wall time of the batch.
struct Sample {
  std::vector<std::uint64_t> lat;
  std::uint64_t wall_ns = 0;
  double p50_us() {
    std::sort(lat.begin(), lat.end());
    return lat.empty() ? 0 : double(lat[lat.size() / 2]) / 1000.0;
  }
  double rate() const { return wall_ns ? double(lat.size()) * 1e9 / double(wall_ns) : 0; }
};

/// One call's buffers.
struct Slot {
  char arg[8] = {'p', 'i', 'n', 'g', 'p', 'o', 'n', 'g'};
  char rbuf[64];
  door_arg_t a{};
  std::uint64_t t0 = 0;
  void reset() { a = door_arg_t{arg, sizeof arg, nullptr, 0, rbuf, sizeof rbuf}; }
};

void check(const door_async_result_t &r) {
  if (r.error != 0 || r.params->data_size != 8) {
    errno = r.error;
    die("asynchronous call failed");
  }
}

Sample blocking(int door, unsigned iters, unsigned threads) {
  Sample s;
  std::vector<std::vector<std::uint64_t>> per(threads);
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; t++)
    ts.emplace_back([&, t] {
      Slot sl;
      per[t].reserve(iters);
      while (!go.load()) std::this_thread::yield();
      for (unsigned k = 0; k < iters; k++) {
        sl.reset();
        std::uint64_t t0 = now_ns();
        if (door_call(door, &sl.a) != 0) die("door_call");
        per[t].push_back(now_ns() - t0);
      }
    });
  std::uint64_t t0 = now_ns();
  go = true;
  for (auto &t : ts) t.join();
  s.wall_ns = now_ns() - t0;
  for (auto &p : per) s.lat.insert(s.lat.end(), p.begin(), p.end());
  return s;
}

/// `iters` calls with `depth` in flight from this thread. `own`: the
/// context's ring and door_async_reap_np; else a ring of ours.
Sample async_calls(int door, unsigned iters, unsigned depth, bool own) {
  io_uring ring{};
  if (!own && io_uring_queue_init(std::max(depth, 8u) * 2, &ring, 0) != 0) die("io_uring_queue_init");
  door_async_t *ax = door_async_create_np(own ? nullptr : &ring, depth, 0);
  if (!ax) die("door_async_create_np");
  std::vector<Slot> slots(depth);
  std::vector<Slot *> free_slots;
  for (auto &sl : slots) free_slots.push_back(&sl);
  Sample s;
  s.lat.reserve(iters);
  unsigned posted = 0;
  std::vector<door_async_result_t> done(depth);
  auto finish = [&](const door_async_result_t &r) {
    check(r);
    auto *sl = static_cast<Slot *>(r.user);
    s.lat.push_back(now_ns() - sl->t0);
    free_slots.push_back(sl);
  };
  std::uint64_t t0 = now_ns();
  while (s.lat.size() < iters) {
    while (posted < iters && !free_slots.empty()) {
      Slot *sl = free_slots.back();
      free_slots.pop_back();
      sl->reset();
      sl->t0 = now_ns();
      if (door_call_async_np(door, &sl->a, ax, sl, nullptr) != 0) die("door_call_async_np");
      posted++;
    }
    if (own) {
      int n = door_async_reap_np(ax, done.data(), depth, -1);
      if (n < 0) die("door_async_reap_np");
      for (int k = 0; k < n; k++) finish(done[k]);
    } else {
      io_uring_cqe *cqe;
      if (io_uring_submit_and_wait(&ring, 1) < 0) die("io_uring_submit_and_wait");
      unsigned head, seen = 0;
      io_uring_for_each_cqe(&ring, head, cqe) {
        seen++;
        door_async_result_t r;
        if (door_async_complete_np(ax, cqe->user_data, cqe->res, &r) == 1) finish(r);
      }
      io_uring_cq_advance(&ring, seen);
    }
  }
  s.wall_ns = now_ns() - t0;
  door_async_destroy_np(ax);
  if (!own) io_uring_queue_exit(&ring);
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char **argv) {
  CLI::App app{"door_async_bench: asynchronous door calls vs blocking door_call()"};
  unsigned iters = 20000, repeats = 5, depth = 16;
  int cpu = -1, server_cpu = -1;
  bool quick = false;
  app.add_option("--iters", iters, "calls per measurement")->check(CLI::PositiveNumber);
  app.add_option("--repeats", repeats, "measurements per mode (median reported)")->check(CLI::PositiveNumber);
  app.add_option("--depth", depth, "calls in flight for the 'd=N' modes (and threads for 'blocking xN')")
      ->check(CLI::Range(2u, unsigned(DOOR_ASYNC_MAX_DEPTH)));
  app.add_option("--cpu", cpu, "pin the client (and the server, unless --server-cpu) to this CPU (default: unpinned)");
  app.add_option("--server-cpu", server_cpu, "pin the server to this CPU");
  app.add_flag("--quick", quick, "2000 calls, 3 repeats");
  CLI11_PARSE(app, argc, argv);
  if (quick) iters = 2000, repeats = 3;
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
  }
  if (server_cpu < 0) server_cpu = cpu;
  auto srv = serve(server_cpu);
  if (srv.door() < 0) die("starting the server");
  struct Mode {
    std::string name;
    std::function<Sample()> run;
    std::vector<double> p50, rate;
  };
  std::vector<Mode> modes;
  modes.push_back({"blocking", [&] { return blocking(srv.door(), iters, 1); }, {}, {}});
  modes.push_back({fmt::format("blocking x{} threads", depth), [&] { return blocking(srv.door(), iters / depth + 1, depth); }, {}, {}});
  modes.push_back({"async ring  d=1", [&] { return async_calls(srv.door(), iters, 1, false); }, {}, {}});
  modes.push_back({"async poll  d=1", [&] { return async_calls(srv.door(), iters, 1, true); }, {}, {}});
  modes.push_back({fmt::format("async ring  d={}", depth), [&] { return async_calls(srv.door(), iters, depth, false); }, {}, {}});
  modes.push_back({fmt::format("async poll  d={}", depth), [&] { return async_calls(srv.door(), iters, depth, true); }, {}, {}});
  for (auto &m : modes) (void)m.run();  // warm-up: connections, slots, server threads
  // Interleaved repeats: a disturbance on the machine hits every mode alike.
  for (unsigned r = 0; r < repeats; r++)
    for (auto &m : modes) {
      Sample s = m.run();
      m.rate.push_back(s.rate());
      m.p50.push_back(s.p50_us());
    }
  fmt::print("door_async_bench: 8 B echo calls, {} calls x {} repeats, {} CPUs online, {}\n", iters, repeats,
             sysconf(_SC_NPROCESSORS_ONLN),
             cpu >= 0 ? fmt::format("client on CPU {}, server on CPU {}", cpu, server_cpu) : std::string("unpinned"));
  fmt::print("{:<24} {:>12} {:>14} {:>10}\n", "mode", "p50 (us)", "calls/s", "vs blocking");
  double base = median(modes[0].rate);
  for (auto &m : modes) {
    double rate = median(m.rate);
    fmt::print("{:<24} {:>12.2f} {:>14.0f} {:>9.2f}x\n", m.name, median(m.p50), rate, base > 0 ? rate / base : 0);
  }
  return 0;
}
