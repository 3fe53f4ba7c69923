// SPDX-License-Identifier: MIT
//
// report.h — doorstat's output: a text table (default) or JSON (-j),
// for one process in detail or a one-line summary per process.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "process_doors.h"

namespace doorstat {

/// Calls served per door id at the previous refresh (for calls/s in -w).
struct Previous {
  std::map<std::uint64_t, std::uint64_t> calls;
  double seconds = 0;  ///< time since then (0: no previous refresh)
};

/// "DOOR_PRIVATE|DOOR_UNREF" style names of an attribute set.
std::vector<std::string> attribute_names(std::uint32_t attributes);

/// One process in detail, as JSON.
nlohmann::ordered_json process_json(const ProcessDoors &p, const Previous &prev);
/// One process in detail, as text.
std::string process_text(const ProcessDoors &p, const Previous &prev);
/// Summary of several processes, as text (one line each).
std::string summary_text(const std::vector<ProcessDoors> &ps);
/// Summary of several processes, as JSON.
nlohmann::ordered_json summary_json(const std::vector<ProcessDoors> &ps);
/// Calls served per door of `p` (to become the next Previous).
std::map<std::uint64_t, std::uint64_t> calls_by_door(const ProcessDoors &p);

}  // namespace doorstat
