// SPDX-License-Identifier: MIT
//
// stats_reader.cpp — mapping and validating the statistics region.
#include "stats_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

namespace doorstat {

using namespace door::stats;

namespace {

std::uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

}  // namespace

std::uint64_t DoorCounters::calls() const {
  std::uint64_t n = 0;
  for (auto c : latency) n += c;
  return n;
}

double DoorCounters::percentile_us(double q, double tpu) const {
  std::uint64_t total = calls();
  if (total == 0) return 0;
  double rank = q * double(total);
  double seen = 0;
  for (std::uint32_t b = 0; b < kLatencyBuckets; b++) {
    if (latency[b] == 0) continue;
    if (seen + double(latency[b]) >= rank) {
      double lo = b == 0 ? 0 : double(1ull << b), width = b == 0 ? 2 : lo;
      double frac = (rank - seen) / double(latency[b]);
      return (lo + frac * width) / tpu;
    }
    seen += double(latency[b]);
  }
  return double(1ull << kLatencyBuckets) / tpu;
}

double ticks_per_us(std::uint32_t clock) {
  if (clock != kClockTsc) return 1000.0;  // ns
#if defined(__x86_64__) || defined(__i386__)
  static const double tpu = [] {
    std::uint64_t t0 = mono_ns(), c0 = __builtin_ia32_rdtsc();
    timespec nap{0, 20 * 1000 * 1000};
    nanosleep(&nap, nullptr);
    std::uint64_t t1 = mono_ns(), c1 = __builtin_ia32_rdtsc();
    return double(c1 - c0) / (double(t1 - t0) / 1000.0);
  }();
  return tpu;
#else
  return 1000.0;
#endif
}

ProcessStats read_process_stats(pid_t pid, int fd) {
  ProcessStats ps;
  std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  int f = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f < 0) {
    ps.error = path + ": " + std::strerror(errno);
    return ps;
  }
  struct stat st;
  void *p = MAP_FAILED;
  if (fstat(f, &st) == 0 && static_cast<std::size_t>(st.st_size) == kStatsRegionSize)
    p = mmap(nullptr, kStatsRegionSize, PROT_READ, MAP_SHARED, f, 0);
  close(f);
  if (p == MAP_FAILED) {
    ps.error = "statistics region of an unknown size (another libdoor version?)";
    return ps;
  }
  auto *h = static_cast<const StatsHeader *>(p);
  std::uint32_t magic = std::atomic_ref<const std::uint32_t>(h->magic).load(std::memory_order_acquire);
  if (magic != kStatsMagic || h->version != kStatsVersion || h->header_size != sizeof(StatsHeader) ||
      h->door_size != sizeof(StatsDoor) || h->ndoors != kStatsDoors) {
    ps.error = "statistics region with an unknown layout (another libdoor version?)";
    munmap(p, kStatsRegionSize);
    return ps;
  }
  ps.available = true;
  ps.ticks_per_us = ticks_per_us(h->clock);
  ps.public_threads = h->public_threads.load(std::memory_order_relaxed);
  ps.public_idle = h->public_idle.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < kStatsDoors; i++) {
    auto *d = stats_door(const_cast<void *>(p), i);
    // Acquire pairs with the writer's release of Live/Revoked; seq read
    // before and after the copy detects an entry reused meanwhile.
    std::uint32_t state = d->state.load(std::memory_order_acquire);
    if (state != kDoorLive && state != kDoorRevoked) continue;
    std::uint32_t seq = d->seq.load(std::memory_order_acquire);
    DoorCounters c;
    c.id = d->id;
    c.attributes = d->attributes;
    c.proc = d->proc;
    c.cookie = d->cookie;
    c.revoked = state == kDoorRevoked;
    c.pool_threads = d->pool_threads.load(std::memory_order_relaxed);
    c.pool_idle = d->pool_idle.load(std::memory_order_relaxed);
    for (std::uint32_t b = 0; b < kLatencyBuckets; b++) c.latency[b] = d->latency[b].load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (d->seq.load(std::memory_order_relaxed) != seq) continue;
    ps.doors.push_back(c);
  }
  munmap(p, kStatsRegionSize);
  return ps;
}

}  // namespace doorstat
