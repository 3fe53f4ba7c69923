// SPDX-License-Identifier: MIT
//
// stats.cpp — the "ldoor-stats" memfd: created on the first door_create()
// of a process, sealed against resizing, kept open (doorstat finds it in
// /proc/<pid>/fd) and mapped for the life of the process.
#include "stats.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <new>

#include "unique_fd.h"

namespace door::detail {

namespace {

using namespace door::stats;

struct Region {
  std::mutex mu;
  void *base = nullptr;
  int fd = -1;
  std::uint64_t epoch = 1;
  bool failed = false;
};
Region &region() {
  static Region *r = new Region;  // outlives static destructors
  return *r;
}

/// The mapped region, made on first use; null if that failed.
void *mapped(std::uint64_t *epoch) noexcept {
  Region &r = region();
  std::lock_guard g(r.mu);
  if (!r.base && !r.failed) {
    int fd = memfd_create(kStatsMemfdName, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    void *p = MAP_FAILED;
    if (fd >= 0 && ftruncate(fd, kStatsRegionSize) == 0 &&
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0)
      p = mmap(nullptr, kStatsRegionSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      if (fd >= 0) raw_close(fd);
      r.failed = true;  // statistics are optional: doors work without them
    } else {
      auto *h = static_cast<StatsHeader *>(p);
      h->version = kStatsVersion;
      h->header_size = sizeof(StatsHeader);
      h->door_size = sizeof(StatsDoor);
      h->ndoors = kStatsDoors;
#if defined(__x86_64__) || defined(__i386__)
      h->clock = kClockTsc;
#else
      h->clock = kClockNs;
#endif
      h->pid = getpid();
      // Release: a reader that sees the magic sees the fields above.
      std::atomic_ref<std::uint32_t>(h->magic).store(kStatsMagic, std::memory_order_release);
      r.base = p;
      r.fd = fd;
    }
  }
  if (epoch) *epoch = r.epoch;
  return r.base;
}

}  // namespace

DoorStatsEntry::~DoorStatsEntry() {
  if (!e_) return;
  Region &r = region();
  std::lock_guard g(r.mu);
  if (epoch_ == r.epoch) e_->state.store(kDoorFree, std::memory_order_release);
}

void DoorStatsEntry::open(const DoorIdentity &ident) noexcept {
  void *base = mapped(&epoch_);
  if (!base) return;
  for (std::uint32_t i = 0; i < kStatsDoors; i++) {
    StatsDoor *d = stats_door(base, i);
    std::uint32_t expect = kDoorFree;
    if (!d->state.compare_exchange_strong(expect, kDoorClaiming, std::memory_order_acquire)) continue;
    d->seq.fetch_add(1, std::memory_order_relaxed);
    d->id = ident.id;
    d->attributes = ident.attributes;
    d->proc = ident.proc;
    d->cookie = ident.cookie;
    d->pool_threads.store(0, std::memory_order_relaxed);
    d->pool_idle.store(0, std::memory_order_relaxed);
    for (auto &b : d->latency) b.store(0, std::memory_order_relaxed);
    // Release: a reader that acquires Live sees the identity and zeroed
    // counters of THIS door, not those of the entry's previous owner.
    d->state.store(kDoorLive, std::memory_order_release);
    e_ = d;
    return;
  }
}

void DoorStatsEntry::revoked() noexcept {
  if (e_) e_->state.store(kDoorRevoked, std::memory_order_release);
}

std::atomic<std::uint32_t> *stats_public_threads() noexcept {
  void *base = mapped(nullptr);
  return base ? &static_cast<StatsHeader *>(base)->public_threads : nullptr;
}

std::atomic<std::uint32_t> *stats_public_idle() noexcept {
  void *base = mapped(nullptr);
  return base ? &static_cast<StatsHeader *>(base)->public_idle : nullptr;
}

void stats_forget_after_fork() noexcept {
  // Single-threaded fork child. The parent's mapping stays mapped here (the
  // parent's doors, parked in the fork graveyards, still point into it and
  // never serve), but the child's own doors get a fresh region: a new
  // epoch makes the parked entries' destructors leave the parent's alone.
  Region &r = region();
  new (&r.mu) std::mutex;
  if (r.fd >= 0) raw_close(r.fd);
  r.fd = -1;
  r.base = nullptr;
  r.failed = false;
  r.epoch++;
}

}  // namespace door::detail
