// SPDX-License-Identifier: MIT
//
// c_api.cpp — the Solaris <door.h> C API: a thin shim over the C++ core.
// Each function maps the core's Result to -1/errno and nothing more.
#include <door.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "caller_cred.h"
#include "client.h"
#include "door_identity.h"
#include "server.h"

using namespace door::detail;

namespace {

template <class T>
int to_c(const Result<T> &r) noexcept {
  if (r) return 0;
  errno = to_errno(r.error());
  return -1;
}

int set_errno(int e) noexcept {
  errno = e;
  return -1;
}

}  // namespace

extern "C" {

int door_create(door_server_procedure_t *proc, void *cookie, uint_t attributes) noexcept {
  auto r = create_door(proc, cookie, attributes);
  if (!r) return set_errno(to_errno(r.error()));
  return *r;
}

int door_call(int d, door_arg_t *params) noexcept { return to_c(client_call(d, params)); }

int door_return(char *data_ptr, size_t data_size, door_desc_t *desc_ptr, uint_t num_desc) {
  return server_return(data_ptr, data_size, desc_ptr, num_desc);
}

int door_reply_np(char *data_ptr, size_t data_size, door_desc_t *desc_ptr, uint_t num_desc) noexcept {
  int e = server_reply_now(data_ptr, data_size, desc_ptr, num_desc);
  return e ? set_errno(e) : 0;
}

int door_info(int d, struct door_info *info) noexcept {
  if (!info) return set_errno(EFAULT);
  if (d == DOOR_QUERY) {
    auto r = bound_door_info();
    if (!r) return set_errno(to_errno(r.error()));
    *info = *r;
    return 0;
  }
  auto ident = identify_door_fd(d);
  if (!ident) return set_errno(EBADF);
  door_info_t out{};
  out.di_proc = ident->proc;
  out.di_data = ident->cookie;
  out.di_uniquifier = ident->id;
  out.di_attributes = door_attributes_here(d, *ident);
  if (out.di_attributes & DOOR_LOCAL) {
    out.di_target = getpid();
  } else {
    auto l = door_liveness(d);
    out.di_target = l ? l->server_pid : -1;
  }
  *info = out;
  return 0;
}

int door_revoke(int d) noexcept {
  auto ident = identify_door_fd(d);
  if (!ident) return set_errno(EBADF);
  return to_c(revoke_door(d, ident->id));
}

int door_ucred(ucred_t **info) noexcept {
  if (!info) return set_errno(EFAULT);
  ucred_t *uc = *info;
  bool fresh = uc == nullptr;
  if (fresh) {
    uc = static_cast<ucred_t *>(std::calloc(1, ucred_size()));
    if (!uc) return set_errno(ENOMEM);
  }
  auto r = current_caller_ucred(uc);
  if (!r) {
    if (fresh) std::free(uc);  // *info is left unchanged on failure
    return set_errno(to_errno(r.error()));
  }
  *info = uc;
  return 0;
}

int door_cred(door_cred_t *info) noexcept {
  if (!info) return set_errno(EFAULT);
  ucred_t *uc = static_cast<ucred_t *>(std::calloc(1, ucred_size()));
  if (!uc) return set_errno(ENOMEM);
  auto r = current_caller_ucred(uc);
  if (r) {
    door_cred_t c{};
    c.dc_euid = ucred_geteuid(uc);
    c.dc_egid = ucred_getegid(uc);
    c.dc_ruid = ucred_getruid(uc);
    c.dc_rgid = ucred_getrgid(uc);
    c.dc_pid = ucred_getpid(uc);
    *info = c;
  }
  std::free(uc);
  return to_c(r);
}

int door_bind(int d) noexcept { return to_c(bind_thread(d)); }
int door_unbind(void) noexcept { return to_c(unbind_thread()); }

int door_getparam(int d, int param, size_t *out) noexcept {
  auto ident = identify_door_fd(d);
  if (!ident) return set_errno(EBADF);
  if (!out) return set_errno(EFAULT);
  std::uint64_t v;
  if (!read_param(DoorParams{}, param, &v)) return set_errno(EINVAL);
  DoorParams p;
  if (auto local = find_local_door(ident->id)) {
    p = local->params();
  } else {
    auto r = client_params(d);
    if (!r) return set_errno(to_errno(r.error()));
    p = *r;
  }
  read_param(p, param, &v);
  *out = v;
  return 0;
}

int door_setparam(int d, int param, size_t val) noexcept {
  auto ident = identify_door_fd(d);
  if (!ident) return set_errno(EBADF);
  auto door = find_local_door(ident->id);
  if (!door) return set_errno(EPERM);
  if (door->revoked.load()) return set_errno(EBADF);
  DoorParams p = door->params();
  if (int e = apply_setparam(p, (door->ident.attributes & DOOR_REFUSE_DESC) != 0, param, val)) return set_errno(e);
  door->set_params(p);
  door->publish_params();
  return 0;
}

door_server_func_t *door_server_create(door_server_func_t *create_proc) noexcept {
  return set_server_create(create_proc);
}

const char *door_version_np(void) noexcept { return DOOR_VERSION_STRING; }

}  // extern "C"
