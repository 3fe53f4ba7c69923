/* SPDX-License-Identifier: MIT */
/*
 * <door.h> — the Solaris/illumos doors API for Linux (libdoor).
 *
 * Source-compatible with illumos' <door.h> + <sys/door.h>: the same types,
 * constants (with the illumos numeric values), structures and prototypes, so
 * programs written for illumos compile unchanged. Linux-only extensions carry
 * an `_np` suffix. Semantics and every deliberate difference from illumos are
 * documented in README.md and doc/man/doors.7.
 */
#ifndef LINUX_DOORS_DOOR_H
#define LINUX_DOORS_DOOR_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <ucred.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DOOR_EXPORT __attribute__((visibility("default")))
#else
#define DOOR_EXPORT
#endif

#ifdef __cplusplus
#define DOOR_NOEXCEPT noexcept
#else
#define DOOR_NOEXCEPT
#endif

/* ---- Scalar types (illumos <sys/door.h>) ---- */

/** Procedure or cookie carried as a 64-bit integer (32/64-bit neutral). */
typedef unsigned long long door_ptr_t;
/** System-wide door number (see di_uniquifier). */
typedef unsigned long long door_id_t;
/** Attribute bit set. */
typedef unsigned int door_attr_t;

/* ---- Attributes (illumos values) ---- */
#define DOOR_UNREF        0x01   /**< deliver one unreferenced invocation */
#define DOOR_PRIVATE      0x02   /**< door has its own server thread pool */
#define DOOR_LOCAL        0x04   /**< door was created by this process */
#define DOOR_REVOKED      0x08   /**< door has been revoked */
#define DOOR_UNREF_MULTI  0x10   /**< like DOOR_UNREF, repeatedly */
#define DOOR_IS_UNREF     0x20   /**< only one reference exists now */
#define DOOR_REFUSE_DESC  0x40   /**< calls carrying descriptors are refused */
#define DOOR_NO_CANCEL    0x80   /**< client abort does not cancel the server */
#define DOOR_NO_DEPLETION_CB 0x100 /**< door_xcreate only */
#define DOOR_PRIVCREATE   0x200  /**< set internally by door_xcreate */
#define DOOR_DEPLETION_CB 0x400  /**< in door_info_t given to a depletion cb */

/* Descriptor-passing attributes (door_desc_t.d_attributes). */
#define DOOR_DESCRIPTOR   0x10000 /**< entry carries a file descriptor */
#define DOOR_HANDLE       0x20000 /**< kernel-only on illumos; never set */
#define DOOR_RELEASE      0x40000 /**< close the sender's descriptor */

/* Kernel-internal on illumos; reserved here so nothing reuses the bits. */
#define DOOR_DELAY        0x80000
#define DOOR_UNREF_ACTIVE 0x100000

/* Linux doors extension (door_create, door_xcreate): the procedure reads
 * its arguments where the client wrote them, in shared memory, instead of
 * in a private copy. Saves one copy of the arguments per call, which is
 * most of the cost of large calls, but the client can change them while
 * the procedure runs, and the memory may be read-only: validate copies,
 * never the originals, and do not write through argp. */
#define DOOR_ARGS_IN_PLACE_NP 0x1000000

#define DOOR_CREATE_MASK (DOOR_UNREF | DOOR_PRIVATE | DOOR_UNREF_MULTI | \
                          DOOR_REFUSE_DESC | DOOR_NO_CANCEL | \
                          DOOR_NO_DEPLETION_CB | DOOR_PRIVCREATE | \
                          DOOR_ARGS_IN_PLACE_NP)
#define DOOR_ATTR_MASK (DOOR_CREATE_MASK | DOOR_LOCAL | DOOR_REVOKED | \
                        DOOR_IS_UNREF)

#define DOOR_INVAL (-1)                 /**< an invalid door descriptor */
#define DOOR_UNREF_DATA ((void *)1)     /**< argp of an unref invocation */
#define DOOR_QUERY (-2)                 /**< door_info: the bound door */

#define DOOR_PARAM_DESC_MAX 1  /**< max descriptors per call */
#define DOOR_PARAM_DATA_MAX 2  /**< max argument bytes per call */
#define DOOR_PARAM_DATA_MIN 3  /**< min argument bytes per call */
/* Linux extensions: resource limits (door_getparam/door_setparam; see
 * door_setparam(3) and the README's "Hardening" section for defaults). */
#define DOOR_PARAM_CALLS_MAX_NP 0x1001        /**< concurrent calls, whole door (EAGAIN) */
#define DOOR_PARAM_CLIENT_CALLS_MAX_NP 0x1002 /**< concurrent calls per client process (EAGAIN) */
#define DOOR_PARAM_INFLIGHT_MAX_NP 0x1003     /**< bytes of large arguments in flight, whole door */
#define DOOR_PARAM_CLIENT_INFLIGHT_MAX_NP 0x1004 /**< same, per client process */
#define DOOR_PARAM_CLIENT_CONNS_MAX_NP 0x1005 /**< connections (64 call slots each) per client process */

/* ---- Structures ---- */

/** One passed descriptor (or door). illumos packs it to 4 bytes on amd64. */
#pragma pack(push, 4)
typedef struct door_desc {
	door_attr_t d_attributes;
	union {
		struct {
			int d_descriptor;
			door_id_t d_id;
		} d_desc;
		int d_resv[5];
	} d_data;
} door_desc_t;

/** Door information, as returned by door_info(). */
typedef struct door_info {
	pid_t di_target;          /**< server pid, -1 once the server died */
	door_ptr_t di_proc;       /**< server procedure */
	door_ptr_t di_data;       /**< cookie */
	door_attr_t di_attributes;
	door_id_t di_uniquifier;  /**< unique door id */
	int di_resv[4];
} door_info_t;
#pragma pack(pop)

/** Obsolete credential structure (door_cred). */
typedef struct door_cred {
	uid_t dc_euid;
	gid_t dc_egid;
	uid_t dc_ruid;
	gid_t dc_rgid;
	pid_t dc_pid;
	int dc_resv[4];
} door_cred_t;

/** In/out arguments of door_call(). */
typedef struct door_arg {
	char *data_ptr;        /**< argument / result data */
	size_t data_size;
	door_desc_t *desc_ptr; /**< argument / result descriptors */
	unsigned int desc_num;
	char *rbuf;            /**< result buffer */
	size_t rsize;
} door_arg_t;

#if !defined(_UINT_T_DECLARED) && !defined(__uint_t_defined)
/* Solaris' uint_t, used in every server procedure signature. */
typedef unsigned int uint_t;
#define _UINT_T_DECLARED
#define __uint_t_defined
#endif

/** Server procedure type. */
typedef void door_server_procedure_t(void *cookie, char *argp,
                                     size_t arg_size, door_desc_t *dp,
                                     uint_t n_desc);
/** Thread creation function type (door_server_create). */
typedef void door_server_func_t(door_info_t *);
/** door_xcreate creation function type. */
typedef int door_xcreate_server_func_t(door_info_t *, void *(*)(void *),
                                       void *, void *);
/** door_xcreate per-thread setup function type. */
typedef void door_xcreate_thrsetup_func_t(void *);

/* ---- Functions (exact illumos prototypes) ---- */

/** Create a door served by this process; returns a close-on-exec fd. */
DOOR_EXPORT int door_create(door_server_procedure_t *, void *cookie,
                            uint_t attributes) DOOR_NOEXCEPT;
/** Invoke a door; params may be NULL (no arguments, no results). */
DOOR_EXPORT int door_call(int d, door_arg_t *params) DOOR_NOEXCEPT;
/**
 * Return results to the caller and park for the next call. Not noexcept:
 * the procedures it runs may end the thread (pthread_exit, cancellation),
 * which unwinds through it, as through any glibc cancellation point.
 */
DOOR_EXPORT int door_return(char *data_ptr, size_t data_size,
                            door_desc_t *desc_ptr, uint_t num_desc);
/** Describe a door (or DOOR_QUERY: the door this thread is bound to). */
DOOR_EXPORT int door_info(int d, struct door_info *info) DOOR_NOEXCEPT;
/** Revoke a door created by this process and close d. */
DOOR_EXPORT int door_revoke(int d) DOOR_NOEXCEPT;
/** Credentials of the current invocation's caller (obsolete form). */
DOOR_EXPORT int door_cred(door_cred_t *info) DOOR_NOEXCEPT;
/** Credentials of the current invocation's caller. */
DOOR_EXPORT int door_ucred(ucred_t **info) DOOR_NOEXCEPT;
/** Bind the calling thread to a DOOR_PRIVATE door's pool. */
DOOR_EXPORT int door_bind(int d) DOOR_NOEXCEPT;
/** Undo door_bind(). */
DOOR_EXPORT int door_unbind(void) DOOR_NOEXCEPT;
/** Read a door parameter. */
DOOR_EXPORT int door_getparam(int d, int param, size_t *out) DOOR_NOEXCEPT;
/** Set a door parameter (creator only). */
DOOR_EXPORT int door_setparam(int d, int param, size_t val) DOOR_NOEXCEPT;
/** Install the server thread creation function; returns the old one. */
DOOR_EXPORT door_server_func_t *door_server_create(
	door_server_func_t *create_proc) DOOR_NOEXCEPT;

/**
 * Create a private door whose server threads are created by `crf` (illumos
 * extension): `nthread` threads are created and bound before it returns.
 */
DOOR_EXPORT int door_xcreate(door_server_procedure_t *, void *cookie,
                             uint_t attributes,
                             door_xcreate_server_func_t *crf,
                             door_xcreate_thrsetup_func_t *setupf,
                             void *crcookie, int nthread) DOOR_NOEXCEPT;

/* ---- Linux extensions ---- */

/**
 * Send results to the caller now and keep running (Linux extension). The
 * thread stays inside the procedure; its later door_return() ignores the
 * arguments (there is no caller left) and parks it for the next call.
 */
DOOR_EXPORT int door_reply_np(char *data_ptr, size_t data_size,
                              door_desc_t *desc_ptr,
                              uint_t num_desc) DOOR_NOEXCEPT;

/** Library version, as "major.minor.patch". */
DOOR_EXPORT const char *door_version_np(void) DOOR_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* LINUX_DOORS_DOOR_H */
