// SPDX-License-Identifier: MIT
//
// async_c_api.cpp — the C API of <door_async.h>: a thin shim over
// AsyncContext (async.h). Each function maps a Result to -1/errno.
#include <door_async.h>

#include <cerrno>

#include "async.h"

using namespace door::detail;

namespace {

AsyncContext *ctx(door_async_t *ax) noexcept { return static_cast<AsyncContext *>(ax); }

int set_errno(std::errc e) noexcept {
  errno = to_errno(e);
  return -1;
}

}  // namespace

extern "C" {

door_async_t *door_async_create_np(struct io_uring *ring, unsigned int depth, unsigned int flags) noexcept {
  auto r = AsyncContext::create(ring, depth, flags);
  if (!r) {
    errno = to_errno(r.error());
    return nullptr;
  }
  return *r;
}

int door_async_destroy_np(door_async_t *ax) noexcept {
  if (!ax) return set_errno(std::errc::invalid_argument);
  delete ctx(ax);
  return 0;
}

int door_call_async_np(int d, door_arg_t *params, door_async_t *ax, void *user, uint64_t *tokenp) noexcept {
  if (!ax) return set_errno(std::errc::invalid_argument);
  auto r = ctx(ax)->call(d, params, user);
  if (!r) return set_errno(r.error());
  if (tokenp) *tokenp = *r;
  return 0;
}

int door_async_complete_np(door_async_t *ax, uint64_t user_data, int res, door_async_result_t *result) noexcept {
  if (!ax || !result) return set_errno(std::errc::invalid_argument);
  auto r = ctx(ax)->complete(user_data, res, result);
  if (!r) return set_errno(r.error());
  return *r ? 1 : 0;
}

int door_async_fd_np(door_async_t *ax) noexcept {
  if (!ax) return set_errno(std::errc::invalid_argument);
  auto r = ctx(ax)->fd();
  if (!r) return set_errno(r.error());
  return *r;
}

int door_async_reap_np(door_async_t *ax, door_async_result_t *results, unsigned int max, int timeout_ms) noexcept {
  if (!ax) return set_errno(std::errc::invalid_argument);
  auto r = ctx(ax)->reap(results, max, timeout_ms);
  if (!r) return set_errno(r.error());
  return static_cast<int>(*r);
}

int door_async_cancel_np(door_async_t *ax, uint64_t token, void **userp) noexcept {
  if (!ax) return set_errno(std::errc::invalid_argument);
  auto r = ctx(ax)->cancel(token);
  if (!r) return set_errno(r.error());
  if (userp) *userp = *r;
  return 0;
}

int door_async_pending_np(door_async_t *ax) noexcept {
  if (!ax) return set_errno(std::errc::invalid_argument);
  return static_cast<int>(ctx(ax)->pending());
}

}  // extern "C"
