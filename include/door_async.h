/* SPDX-License-Identifier: MIT */
/*
 * <door_async.h> — asynchronous door calls over io_uring (libdoor, Linux
 * extension; every name carries the `_np` suffix).
 *
 * Installed only when libdoor was built with liburing >= 2.6: its presence
 * is the feature test. Works on every kernel libdoor supports (>= 6.1):
 * before 6.7, whose io_uring has no futex waits, a libdoor thread waits
 * for the replies and posts the same completions (IORING_OP_MSG_RING).
 *
 * A door_async_t context lets one thread keep many door calls in flight:
 * door_call_async_np() posts a call to the server without waiting and
 * queues an IORING_OP_FUTEX_WAIT on the call's reply word; when the
 * completion shows up, door_async_complete_np() (caller's ring) or
 * door_async_reap_np() (the context's own ring, pollable descriptor)
 * finishes the call exactly as door_call() would have. See
 * door_call_async_np(3) and README.md "Async calls".
 */
#ifndef LINUX_DOORS_DOOR_ASYNC_H
#define LINUX_DOORS_DOOR_ASYNC_H

#include <door.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct io_uring;

/** An asynchronous call context (opaque). Used by one thread at a time. */
typedef struct door_async door_async_t;

/** What a finished asynchronous call reports. */
typedef struct door_async_result {
	uint64_t token;      /**< the token door_call_async_np() returned */
	void *user;          /**< the user pointer given to door_call_async_np() */
	door_arg_t *params;  /**< the params given; the results are in it */
	int error;           /**< 0, or the errno door_call() would have set */
	int resv[3];         /**< reserved, zero */
} door_async_result_t;

/** Every token (and so every io_uring user_data libdoor uses) has this bit. */
#define DOOR_ASYNC_TOKEN_FLAG (1ULL << 63)
/** True if an io_uring CQE's user_data is a libdoor token. */
#define DOOR_ASYNC_IS_TOKEN(user_data) \
	((((uint64_t)(user_data)) & DOOR_ASYNC_TOKEN_FLAG) != 0)

/** Largest `depth` (calls in flight per context). */
#define DOOR_ASYNC_MAX_DEPTH 4096

/**
 * Create a context for up to `depth` calls in flight. `ring` NULL: the
 * context owns a small io_uring and a pollable descriptor
 * (door_async_fd_np); else completions arrive on the caller's `ring`
 * (not SQPOLL), user_data = token. `flags` must be 0.
 */
DOOR_EXPORT door_async_t *door_async_create_np(struct io_uring *ring,
                                               unsigned int depth,
                                               unsigned int flags) DOOR_NOEXCEPT;
/** Cancel every pending call (no slot is leaked) and free the context. */
DOOR_EXPORT int door_async_destroy_np(door_async_t *ax) DOOR_NOEXCEPT;
/**
 * Post a door call without waiting. `params` (and its buffers) must stay
 * valid until the call completes; the arguments are copied before this
 * returns. On success *tokenp (if not NULL) receives the call's token.
 */
DOOR_EXPORT int door_call_async_np(int d, door_arg_t *params,
                                   door_async_t *ax, void *user,
                                   uint64_t *tokenp) DOOR_NOEXCEPT;
/**
 * Hand a CQE (user_data, res) of the caller's ring to the context. Returns
 * 1 when a call finished (*result filled), 0 when none did (a stale
 * completion, or the call's wait was queued again: submit the ring).
 */
DOOR_EXPORT int door_async_complete_np(door_async_t *ax, uint64_t user_data,
                                       int res,
                                       door_async_result_t *result) DOOR_NOEXCEPT;
/** The context's pollable descriptor (own ring only): readable when
 *  door_async_reap_np() has something to collect. */
DOOR_EXPORT int door_async_fd_np(door_async_t *ax) DOOR_NOEXCEPT;
/**
 * Collect up to `max` finished calls (own ring only), waiting up to
 * `timeout_ms` (0: do not wait, -1: until one finishes) for the first.
 * Returns how many were stored in results[].
 */
DOOR_EXPORT int door_async_reap_np(door_async_t *ax,
                                   door_async_result_t *results,
                                   unsigned int max,
                                   int timeout_ms) DOOR_NOEXCEPT;
/**
 * Cancel one pending call: it is withdrawn if no server thread took it,
 * else abandoned; it never completes. *userp (if not NULL) receives its
 * user pointer.
 */
DOOR_EXPORT int door_async_cancel_np(door_async_t *ax, uint64_t token,
                                     void **userp) DOOR_NOEXCEPT;
/** Number of calls pending in the context. */
DOOR_EXPORT int door_async_pending_np(door_async_t *ax) DOOR_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* LINUX_DOORS_DOOR_ASYNC_H */
