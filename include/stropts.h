/* SPDX-License-Identifier: MIT */
/*
 * <stropts.h> — where illumos programs find fattach() and fdetach().
 *
 * glibc dropped <stropts.h> (2.30) with its always-failing STREAMS stubs;
 * Linux doors ships this one with the two functions doors need. There is no
 * STREAMS on Linux: only fattach/fdetach are provided.
 */
#ifndef LINUX_DOORS_STROPTS_H
#define LINUX_DOORS_STROPTS_H

#ifdef __cplusplus
extern "C" {
#define STROPTS_NOEXCEPT noexcept
#else
#define STROPTS_NOEXCEPT
#endif

/** Attach door `fildes` to the file `path`: open(path) then yields the door. */
__attribute__((visibility("default"))) int fattach(int fildes, const char *path) STROPTS_NOEXCEPT;
/** Undo fattach(): `path` names its file again. */
__attribute__((visibility("default"))) int fdetach(const char *path) STROPTS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* LINUX_DOORS_STROPTS_H */
