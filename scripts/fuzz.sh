#!/usr/bin/env bash
# Fuzzes for longer than the test suite's minute per target: builds the fuzz preset, then runs one target
# (or every one in turn) for SECONDS each. The corpus each target grows is kept in
# build/fuzz/fuzz-runs/TARGET/corpus/ and used again by the next run; an input that crashes lands in
# build/fuzz/fuzz-runs/TARGET/artifacts/ (replay it: build/fuzz/tests/fuzz/mg_fuzz_TARGET FILE).
#
# Usage: scripts/fuzz.sh [TARGET|all] [SECONDS]   (defaults: all, 600)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
wanted=${1:-all}
seconds=${2:-600}

targets=()
for source in "$root"/tests/fuzz/*_fuzzer.cpp; do
  name=$(basename "$source" _fuzzer.cpp)
  if [[ "$wanted" == all || "$wanted" == "$name" ]]; then targets+=("$name"); fi
done
if ((${#targets[@]} == 0)); then
  echo "fuzz.sh: no target '$wanted'; the targets are: $(cd "$root/tests/fuzz" && ls *_fuzzer.cpp | sed 's/_fuzzer.cpp//' | tr '\n' ' ')" >&2
  exit 2
fi

"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" fuzz
for name in "${targets[@]}"; do
  echo "=== fuzz $name: $seconds s"
  bash "$root/tests/fuzz/run_fuzzer.sh" "$root/build/fuzz/tests/fuzz/mg_fuzz_$name" "$name" "$seconds" "$root/build/fuzz/fuzz-runs/$name"
done
