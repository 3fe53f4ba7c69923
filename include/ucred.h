/* SPDX-License-Identifier: MIT */
/*
 * <ucred.h> — illumos user credentials (ucred_t) for Linux doors.
 *
 * A ucred_t obtained from door_ucred() describes the process that made the
 * current door invocation. Its contents are kernel-verified (see README:
 * "Credentials"). Getters return -1 / NULL with errno EINVAL when the
 * credential lacks the item, as on illumos.
 */
#ifndef LINUX_DOORS_UCRED_H
#define LINUX_DOORS_UCRED_H

#include <sys/types.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define UCRED_EXPORT __attribute__((visibility("default")))
#else
#define UCRED_EXPORT
#endif
#ifdef __cplusplus
#define UCRED_NOEXCEPT noexcept
#else
#define UCRED_NOEXCEPT
#endif

/** Opaque user credential. */
typedef struct ucred_s ucred_t;

/** Credential of process pid (P_MYID, -1, for the caller itself). */
UCRED_EXPORT ucred_t *ucred_get(pid_t pid) UCRED_NOEXCEPT;
/** Free a credential from ucred_get() or door_ucred(). */
UCRED_EXPORT void ucred_free(ucred_t *uc) UCRED_NOEXCEPT;
UCRED_EXPORT uid_t ucred_geteuid(const ucred_t *uc) UCRED_NOEXCEPT;
UCRED_EXPORT uid_t ucred_getruid(const ucred_t *uc) UCRED_NOEXCEPT;
UCRED_EXPORT uid_t ucred_getsuid(const ucred_t *uc) UCRED_NOEXCEPT;
UCRED_EXPORT gid_t ucred_getegid(const ucred_t *uc) UCRED_NOEXCEPT;
UCRED_EXPORT gid_t ucred_getrgid(const ucred_t *uc) UCRED_NOEXCEPT;
UCRED_EXPORT gid_t ucred_getsgid(const ucred_t *uc) UCRED_NOEXCEPT;
/** Supplementary groups; returns their number and sets *groups. */
UCRED_EXPORT int ucred_getgroups(const ucred_t *uc,
                                 const gid_t **groups) UCRED_NOEXCEPT;
UCRED_EXPORT pid_t ucred_getpid(const ucred_t *uc) UCRED_NOEXCEPT;
/** Size in bytes of a ucred_t (for callers that preallocate). */
UCRED_EXPORT size_t ucred_size(void) UCRED_NOEXCEPT;
/** No zones on Linux: always -1 / EINVAL. */
UCRED_EXPORT int ucred_getzoneid(const ucred_t *uc) UCRED_NOEXCEPT;
/** No projects on Linux: always -1 / EINVAL. */
UCRED_EXPORT int ucred_getprojid(const ucred_t *uc) UCRED_NOEXCEPT;

#ifndef P_MYID
#define P_MYID (-1)
#endif

#ifdef __cplusplus
}
#endif

#endif /* LINUX_DOORS_UCRED_H */
