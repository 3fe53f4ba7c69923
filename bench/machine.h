// SPDX-License-Identifier: MIT
//
// machine.h — what the report says about the machine a run was taken on:
// CPU model, kernel, CPU frequency governor, idle driver/governor,
// virtualisation, load, the active sched_ext scheduler.
#pragma once

#include <nlohmann/json.hpp>

namespace bench {

/// Reads /proc and /sys; fields that cannot be read say "n/a".
nlohmann::ordered_json describe_machine();

}  // namespace bench
