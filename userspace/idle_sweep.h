// SPDX-License-Identifier: MIT
//
// idle_sweep.h — returns bound server threads that sit idle to their pool.
//
// A server thread bound to a call slot sleeps in an untimed FUTEX_WAIT on
// the slot's `req` word: a timed wait would arm and cancel an hrtimer on
// every call (measured: a tenth of a same-CPU round trip). Instead, while
// any thread is bound, the reactor sweeps the bound threads every
// kIdleSweepNs; a thread found asleep with no call taken since, at three
// sweeps in a row, is recalled (recall_bound_thread): it unbinds unless a
// call arrived meanwhile. A slot whose caller went quiet thus frees its
// thread after 1 to 1.5 s, with no per-call cost and no timer at all while
// nothing is bound.
#pragma once

#include <cstdint>

namespace door::detail {

struct ServerThread;

/// Sweep period; a thread is recalled after 2 idle periods on top of the
/// one in which it went to sleep.
inline constexpr std::uint64_t kIdleSweepNs = 500ull * 1000 * 1000;

/// `t` just bound to a slot (t->conn is set).
void idle_sweep_add(ServerThread *t) noexcept;
/// `t` is about to drop its binding; the sweep no longer touches it.
void idle_sweep_remove(ServerThread *t) noexcept;

/// Fork handlers (called from server.cpp's).
void idle_sweep_prepare_fork() noexcept;
void idle_sweep_parent_after_fork() noexcept;
void idle_sweep_forget_after_fork() noexcept;

}  // namespace door::detail
