// SPDX-License-Identifier: MIT
//
// caller_cred.h — credentials of the process behind the current call.
#pragma once

#include <ucred.h>

#include "result.h"

namespace door::detail {

/// Fills `out` for the caller of the calling thread's current invocation.
/// EINVAL outside an invocation.
Result<void> current_caller_ucred(ucred_t *out) noexcept;

}  // namespace door::detail
