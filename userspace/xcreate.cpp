// SPDX-License-Identifier: MIT
//
// xcreate.cpp — door_xcreate(): a private door with its own thread
// creation function (illumos extension).
//
// The door's creation function crf(info, startf, startfarg, crcookie) must
// start a thread running startf(startfarg) and return 1, or return 0
// (declined) / -1 (failed). startf binds the new thread to the door's
// private pool, runs the per-thread setup function with crcookie, and parks
// it with door_return(). door_xcreate() asks for `nthread` threads up front
// and waits until all are bound; later, on depletion, crf is asked again
// (with DOOR_DEPLETION_CB in the info) unless DOOR_NO_DEPLETION_CB is set.
#include <door.h>

#include <cerrno>

#include "server.h"

namespace door::detail {

namespace {

struct StartArg {
  std::shared_ptr<ServerDoor> door;
  std::atomic<int> *started;  ///< door_xcreate() waits on it (may be null)
};

void *xcreate_start(void *p) {
  auto *arg = static_cast<StartArg *>(p);
  std::shared_ptr<ServerDoor> door = std::move(arg->door);
  std::atomic<int> *started = arg->started;
  delete arg;
  if (door->xsetup_fn) door->xsetup_fn(door->xcookie);
  adopt_pool(door);
  if (started) started->fetch_add(1, std::memory_order_release);
  door.reset();  // the thread's binding keeps its own reference
  door_return(nullptr, 0, nullptr, 0);
  return nullptr;
}

}  // namespace

int xcreate_one_thread(const std::shared_ptr<ServerDoor> &door, door_info_t *info,
                       std::atomic<int> *started) noexcept {
  auto *arg = new (std::nothrow) StartArg{door, started};
  if (!arg) return -1;
  int r = door->xcreate_fn(info, xcreate_start, arg, door->xcookie);
  if (r != 1) delete arg;  // no thread will run startf
  return r;
}

}  // namespace door::detail

extern "C" int door_xcreate(door_server_procedure_t *proc, void *cookie, uint_t attributes,
                            door_xcreate_server_func_t *crf, door_xcreate_thrsetup_func_t *setupf,
                            void *crcookie, int nthread) noexcept {
  door::detail::XCreate x{crf, setupf, crcookie, nthread};
  auto r = door::detail::create_door(proc, cookie, attributes, &x);
  if (!r) {
    errno = door::detail::to_errno(r.error());
    return -1;
  }
  return *r;
}
