// The fuzz targets' assertion: an invariant that does not hold prints what and where, then aborts, which
// libFuzzer reports as a crash (and saves the input that caused it). Unlike assert() it stays on in every
// build type.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                        \
  do {                                                                                               \
    if (!(condition)) {                                                                              \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #condition);         \
      std::abort();                                                                                  \
    }                                                                                                \
  } while (false)
