#!/usr/bin/env bash
# Installs everything, builds the release and debug-asan presets, and runs the whole test suite on both:
# unit, in-process server and hostile-input tests, and the end-to-end tests with the openai npm client.
# Then the fuzz preset: each libFuzzer target for 45 s (tests/fuzz/README.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
presets=${MODELGATE_TEST_PRESETS:-"release debug-asan fuzz"}
"$root/scripts/install-deps.sh" --with-node
for preset in $presets; do
  echo "=== $preset: build"
  "$root/scripts/build.sh" "$preset"
  echo "=== $preset: test"
  (cd "$root" && ctest --preset "$preset" -j 2)
done
