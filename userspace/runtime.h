// SPDX-License-Identifier: MIT
//
// runtime.h — process-wide plumbing: the real close(), fork handling.
#pragma once

namespace door::detail {

/// Closes an application descriptor the way the application's close()
/// would: forgets it in the descriptor table first.
void close_application_fd(int fd) noexcept;

/// The definition of libc function `name` that libdoor's interposer of the
/// same name forwards to (dlsym RTLD_NEXT).
void *next_symbol(const char *name) noexcept;

/// Installs the pthread_atfork handlers (idempotent).
void install_fork_handlers() noexcept;

}  // namespace door::detail
