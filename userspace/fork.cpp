// SPDX-License-Identifier: MIT
//
// fork.cpp — doors across fork().
//
// Invariant: a fork child owns none of the parent's doors, connections or
// threads. The prepare handler takes libdoor's registry locks so the child
// gets consistent maps; the child then closes its copies of every internal
// socket (so liveness seen by peers stays exact: the parent's server still
// notices when the PARENT dies) and forgets the objects. Call regions are
// MADV_DONTFORK, so the child never even maps the parent's slots. Door
// descriptors the child inherited stay doors: its first call opens its own
// connection, with its own credentials, and reaches the parent's door.
// The child handler allocates nothing: the parent's objects move into
// graveyards the prepare handler allocated (they stay reachable, so leak
// checkers stay quiet, and are never touched again).
#include <pthread.h>

#include <atomic>
#include <mutex>

#include "client.h"
#include "reactor.h"
#include "runtime.h"
#include "server.h"

namespace door::detail {

std::mutex &server_mutex() noexcept;
void server_prepare_fork() noexcept;
void server_parent_after_fork() noexcept;
void attach_prepare_fork() noexcept;
void attach_parent_after_fork() noexcept;
void attach_forget_after_fork() noexcept;

namespace {

void prepare() {
  // Everything the child handler needs is allocated here, in the parent:
  // the child must not allocate (an allocator that is not fork-safe may be
  // locked by a thread that does not exist there).
  server_prepare_fork();
  reactor_prepare_fork();
  attach_prepare_fork();
  client_mutex().lock();
  server_mutex().lock();
  reactor_mutex().lock();
}

void parent() {
  reactor_mutex().unlock();
  server_mutex().unlock();
  client_mutex().unlock();
  server_parent_after_fork();
  reactor_parent_after_fork();
  attach_parent_after_fork();
}

void child() {
  // Single-threaded here; the locks are re-created, not unlocked, since
  // their owner thread does not exist in the child.
  new (&reactor_mutex()) std::mutex;
  new (&client_mutex()) std::mutex;
  reactor_forget_after_fork();
  client_forget_after_fork();
  server_forget_after_fork();
  attach_forget_after_fork();
  stats_forget_after_fork();
}

}  // namespace

void install_fork_handlers() noexcept {
  static std::atomic<bool> installed{false};
  bool expected = false;
  if (installed.compare_exchange_strong(expected, true)) pthread_atfork(prepare, parent, child);
}

}  // namespace door::detail
