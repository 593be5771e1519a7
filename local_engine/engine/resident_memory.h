// How much of this process's memory is resident, from /proc/self/statm: what `modelgate bench` reports
// after a load, and what the tests hold the loader to (weights are used in place from the map, so
// loading must not make them resident, let alone copy them).
#pragma once

#include <cstdint>

namespace mg::engine {

// Resident bytes (anonymous and file-backed pages mapped in); 0 where /proc is not available.
std::uint64_t resident_bytes();

}  // namespace mg::engine
