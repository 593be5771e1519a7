#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on a working copy of its seed corpus, and exits non-zero
# (libFuzzer's own status) on any crash, sanitizer report, leak, timeout or out-of-memory, leaving the
# input that caused it in WORKDIR/artifacts/. ctest runs it with --fresh (the working corpus starts from
# the seeds every time, so a run is reproducible); scripts/fuzz.sh without (the corpus grows run to run).
# The seeds in tests/fuzz/corpus/ are only read, never written.
#
# Usage: run_fuzzer.sh [--fresh] BINARY NAME SECONDS WORKDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fresh=false
if [[ "${1:-}" == "--fresh" ]]; then fresh=true; shift; fi
if (($# != 4)); then
  echo "usage: $0 [--fresh] BINARY NAME SECONDS WORKDIR" >&2
  exit 2
fi
binary=$1 name=$2 seconds=$3 workdir=$4

$fresh && rm -rf "$workdir"
mkdir -p "$workdir/corpus" "$workdir/artifacts"
for seed in "$here/corpus/$name"/*; do
  [[ -e "$workdir/corpus/$(basename "$seed")" ]] || cp "$seed" "$workdir/corpus/"
done

args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$workdir/artifacts/")
if [[ -f "$here/dict/$name.dict" ]]; then args+=(-dict="$here/dict/$name.dict"); fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [[ -z "${ASAN_SYMBOLIZER_PATH:-}" && -x /usr/bin/llvm-symbolizer-14 ]]; then export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14; fi
echo "run_fuzzer: $name for $seconds s on $workdir/corpus (seeds: tests/fuzz/corpus/$name)"
exec "$binary" "${args[@]}" "$workdir/corpus"
