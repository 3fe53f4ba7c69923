// SPDX-License-Identifier: MIT
//
// handoff.h — libdoor's hook for the scx_door scheduler.
//
// Every door thread owns one scx_door_intent record in its own memory (TLS).
// On the call path libdoor stores {state, target} there immediately before
// the FUTEX_WAKE that starts a call or returns a reply: plain stores, no
// syscall. When scx_door is loaded and this thread is registered with it, the
// scheduler reads the record in ops.select_cpu() (which runs in the waker's
// context) and places the wakee on the waker's CPU. With no scheduler loaded
// the stores are skipped (one relaxed load of `handoff_active`).
//
// Tokens: each registered thread gets a token from the registration module
// (sched_register.cpp). The caller publishes its token in the call slot, the
// server thread publishes its own; the partner's token becomes `target`.
#pragma once

#include <atomic>
#include <cstdint>

#include "../bpf/scx_door_intf.h"

namespace door::detail {

/// Per-thread handoff state; the intent record must not cross a page.
struct alignas(64) ThreadHandoff {
  scx_door_intent intent{};
  /// g_handoff_epoch when registration was last tried for this thread (0:
  /// never): a thread registers again once scx_door has been (re)started.
  std::uint32_t epoch = 0;
};

/// True while scx_door is loaded and accepted this process' registration.
extern std::atomic<bool> g_handoff_active;
/// Bumped (never 0) when this process finds a newly started scx_door
/// (handoff_before_sleep): every thread's registration is then out of date.
extern std::atomic<std::uint32_t> g_handoff_epoch;

/// This thread's handoff record.
ThreadHandoff &thread_handoff() noexcept;

/// Registers the calling thread with scx_door if it is loaded (once per
/// thread and scx_door start, off the call path). Never fails: without the
/// scheduler it leaves the record unregistered and libdoor works exactly as
/// before.
void handoff_register_thread() noexcept;

/// True when this thread has not tried to register since scx_door last
/// started (one TLS and one relaxed load).
inline bool handoff_stale() noexcept;

/// True while the scx_door instance this process registered with is still
/// the loaded scheduler: not unloaded, ejected, killed or restarted (sysfs;
/// slow). False also marks that instance gone.
bool scx_door_still_loaded() noexcept;
/// True when an scx_door instance this process has not tried yet is loaded
/// (sysfs; slow).
bool scx_door_newly_loaded() noexcept;

/// A door thread is about to sleep in FUTEX_WAIT (sched_watch.cpp): the one
/// place libdoor checks that scx_door is as it believes, with no timer and
/// nothing on the call path proper.
void handoff_before_sleep() noexcept;

inline bool handoff_stale() noexcept {
  return thread_handoff().epoch != g_handoff_epoch.load(std::memory_order_relaxed);
}

/// This thread's token (0 when unregistered); published in call slots.
inline std::uint64_t handoff_self_token() noexcept {
  if (handoff_stale()) handoff_register_thread();
  return thread_handoff().intent.self;
}

/// Declares "I am about to wake `target` and then block (or not)".
inline void handoff_announce(std::uint32_t state, std::uint64_t target) noexcept {
  if (!g_handoff_active.load(std::memory_order_relaxed)) return;
  ThreadHandoff &h = thread_handoff();
  if (h.intent.self == 0 || target == 0) return;
  // Plain stores: the reader is the BPF program running on this CPU in this
  // thread's context (select_cpu during our own FUTEX_WAKE), so program
  // order is all that is needed; the signal fence stops compiler reordering
  // past the syscall.
  h.intent.target = target;
  h.intent.state = state;
  h.intent.seq++;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

/// Clears the intent once the wake-up has been issued.
inline void handoff_clear() noexcept {
  if (!g_handoff_active.load(std::memory_order_relaxed)) return;
  ThreadHandoff &h = thread_handoff();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  h.intent.state = SCX_DOOR_IDLE;
}

}  // namespace door::detail
