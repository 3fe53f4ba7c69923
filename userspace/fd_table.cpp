// SPDX-License-Identifier: MIT
//
// fd_table.cpp — keeps the descriptor->door table exact.
//
// door_call() finds the door of a descriptor number without a syscall, so
// libdoor must see every descriptor number that stops naming a door. It
// interposes the libc entry points that retire or replace descriptors —
// close, dup2, dup3, close_range, closefrom — forgets the number, then calls
// the real function (found with dlsym(RTLD_NEXT)). A descriptor closed
// behind libc's back (a raw syscall) is the documented limit: libdoor would
// keep using the door the number named before (README, "Descriptors").
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>

#include "client.h"
#include "runtime.h"
#include "unique_fd.h"

namespace door::detail {

namespace {

/// The next definition of `name` after libdoor's.
template <class Fn>
Fn real(const char *name) noexcept {
  return reinterpret_cast<Fn>(next_symbol(name));
}

using close_fn = int (*)(int);
using dup2_fn = int (*)(int, int);
using dup3_fn = int (*)(int, int, int);
using close_range_fn = int (*)(unsigned, unsigned, int);
using closefrom_fn = void (*)(int);

close_fn real_close() noexcept {
  static std::atomic<close_fn> f{nullptr};
  close_fn p = f.load(std::memory_order_acquire);
  if (!p) {
    p = real<close_fn>("close");
    f.store(p, std::memory_order_release);
  }
  return p;
}

void forget_range(unsigned first, unsigned last) noexcept {
  // The table only covers 4M descriptors; bound the walk to that.
  if (last > (1u << 22)) last = 1u << 22;
  for (unsigned fd = first; fd <= last && fd < (1u << 22); fd++) fd_table_forget(static_cast<int>(fd));
}

}  // namespace

void *next_symbol(const char *name) noexcept {
  // Not a sanitizer's __interceptor_<name>: TSan's close interceptor finds
  // its "real" close with RTLD_NEXT from libtsan, which is libdoor's, and
  // the two would call each other forever. raw_close() makes TSan see
  // libdoor's internal closes another way.
  return dlsym(RTLD_NEXT, name);
}

#if defined(__SANITIZE_THREAD__)
#define DOOR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DOOR_TSAN 1
#endif
#endif

void raw_close(int fd) noexcept {
#ifdef DOOR_TSAN
  // ThreadSanitizer builds only: close through the first close() in lookup
  // order, TSan's interceptor, which records that the number is free and
  // then calls libdoor's close() (its REAL(close)), which reaches libc's.
  // Otherwise TSan never sees libdoor's internal closes, and any later use
  // of the reused number (socketpair, dup, pwrite, epoll_ctl, recvmsg)
  // reads as a race with the descriptor's previous owner.
  static const close_fn tsan_close = reinterpret_cast<close_fn>(dlsym(RTLD_DEFAULT, "close"));
  if (tsan_close) {
    tsan_close(fd);
    return;
  }
#endif
  if (close_fn c = real_close()) {
    c(fd);
  } else {
    syscall(SYS_close, fd);
  }
}

void close_application_fd(int fd) noexcept {
  fd_table_forget(fd);
  raw_close(fd);
  fd_table_forget(fd);
}

}  // namespace door::detail

using namespace door::detail;

extern "C" {

__attribute__((visibility("default"))) int close(int fd) {
  fd_table_forget(fd);
  close_fn c = real_close();
  int r = c ? c(fd) : static_cast<int>(syscall(SYS_close, fd));
  int saved = errno;
  fd_table_forget(fd);  // a racing door lookup may have re-added it
  errno = saved;
  return r;
}

__attribute__((visibility("default"))) int dup2(int oldfd, int newfd) {
  static dup2_fn f = real<dup2_fn>("dup2");
  if (oldfd != newfd) fd_table_forget(newfd);
  int r = f ? f(oldfd, newfd) : static_cast<int>(syscall(SYS_dup2, oldfd, newfd));
  int saved = errno;
  if (oldfd != newfd) fd_table_forget(newfd);
  errno = saved;
  return r;
}

__attribute__((visibility("default"))) int dup3(int oldfd, int newfd, int flags) {
  static dup3_fn f = real<dup3_fn>("dup3");
  fd_table_forget(newfd);
  int r = f ? f(oldfd, newfd, flags) : static_cast<int>(syscall(SYS_dup3, oldfd, newfd, flags));
  int saved = errno;
  fd_table_forget(newfd);
  errno = saved;
  return r;
}

__attribute__((visibility("default"))) int close_range(unsigned first, unsigned last, int flags) {
  static close_range_fn f = real<close_range_fn>("close_range");
  int r = f ? f(first, last, flags) : static_cast<int>(syscall(SYS_close_range, first, last, flags));
  int saved = errno;
  // CLOSE_RANGE_CLOEXEC only marks descriptors; they still name doors.
  if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC)) forget_range(first, last);
  errno = saved;
  return r;
}

__attribute__((visibility("default"))) void closefrom(int lowfd) {
  static closefrom_fn f = real<closefrom_fn>("closefrom");
  if (lowfd < 0) lowfd = 0;
  if (f) {
    f(lowfd);
  } else {
    syscall(SYS_close_range, static_cast<unsigned>(lowfd), ~0u, 0);
  }
  forget_range(static_cast<unsigned>(lowfd), UINT_MAX);
}

}  // extern "C"
