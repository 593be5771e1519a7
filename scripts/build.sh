#!/usr/bin/env bash
# Configures (once) and builds one CMake preset: release (default), debug-asan, or fuzz (its build preset
# names only the fuzz targets, so that builds them and the libraries they call, not the whole tree).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
preset=${1:-release}
jobs=${MODELGATE_BUILD_JOBS:-2}
cd "$root"
if [[ ! -f "build/$preset/build.ninja" ]]; then  # also heals a configure that was cut short
  cmake --preset "$preset" >/dev/null
fi
cmake --build --preset "$preset" -j "$jobs"
