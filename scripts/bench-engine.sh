#!/usr/bin/env bash
# The local engine against llama.cpp on the same GGUF file and thread count, side by side: installs what
# is missing (llama.cpp comes as the node-llama-cpp npm package's prebuilt CPU binaries), builds the
# release preset, then alternates `modelgate bench --json` and tests/local_engine/llama_cpp/llama_cpp_bench.mjs
# for ROUNDS rounds (each engine going first in turn), and prints each run and the ratios of the means.
#
#   scripts/bench-engine.sh MODEL.gguf [THREADS] [PP] [TG] [ROUNDS]
#   e.g. build/release/modelgate synth-model --shape mistral-7b --type Q4_0 --out /tmp/mistral-7b-q4_0.gguf
#        scripts/bench-engine.sh /tmp/mistral-7b-q4_0.gguf 2
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
model=${1:?usage: scripts/bench-engine.sh MODEL.gguf [THREADS] [PP] [TG] [ROUNDS]}
threads=${2:-$(nproc)}
pp=${3:-512}
tg=${4:-128}
rounds=${5:-2}

"$root/scripts/install-deps.sh" --with-node >&2
"$root/scripts/build.sh" release >&2
modelgate="$root/build/release/modelgate"
reference="$root/tests/local_engine/llama_cpp/llama_cpp_bench.mjs"

results=$(mktemp)
trap 'rm -f "$results"' EXIT
run_modelgate() {
  echo "round $round/$rounds: modelgate" >&2
  echo "{\"engine\": \"modelgate\", \"run\": $("$modelgate" bench --model "$model" --threads "$threads" --pp "$pp" --tg "$tg" --repetitions 3 --json)}" >>"$results"
}
run_llama_cpp() {
  echo "round $round/$rounds: llama.cpp" >&2
  echo "{\"engine\": \"llama.cpp\", \"run\": $(node "$reference" --model "$model" --threads "$threads" --pp "$pp" --tg "$tg" --repetitions 3)}" >>"$results"
}
# The engines take turns going first, so that neither always meets the machine in the state the other left.
for ((round = 1; round <= rounds; round++)); do
  if ((round % 2 == 1)); then run_modelgate; run_llama_cpp; else run_llama_cpp; run_modelgate; fi
done

node - "$results" "$model" <<'JS'
const [resultsPath, model] = process.argv.slice(2);
const runs = require("fs").readFileSync(resultsPath, "utf8").trim().split("\n").map((line) => JSON.parse(line));
const mean = (engine, key) => {
  const values = runs.filter((r) => r.engine === engine).map((r) => r.run[key]);
  return values.reduce((a, b) => a + b, 0) / values.length;
};
console.log(`model: ${model}`);
for (const r of runs) console.log(`${r.engine.padEnd(10)} pp${r.run.pp} ${r.run.pp_tok_s.toFixed(2).padStart(9)} t/s   tg${r.run.tg} ${r.run.tg_tok_s.toFixed(2).padStart(8)} t/s`);
const mg = runs.find((r) => r.engine === "modelgate").run;
const ref = runs.find((r) => r.engine === "llama.cpp").run;
console.log(`llama.cpp: ${JSON.stringify(ref.llama_cpp)}; threads ${mg.threads}; modelgate kernels: ${mg.kernels}`);
console.log(`ratio modelgate / llama.cpp: pp ${(mean("modelgate", "pp_tok_s") / mean("llama.cpp", "pp_tok_s")).toFixed(2)}x, tg ${(mean("modelgate", "tg_tok_s") / mean("llama.cpp", "tg_tok_s")).toFixed(2)}x`);
console.log(`memory bandwidth ${mg.bandwidth_gb_s.toFixed(1)} GB/s; tg bound ${mg.tg_bandwidth_bound_tok_s.toFixed(2)} t/s; modelgate tg at ${mg.tg_bandwidth_bound_pct.toFixed(1)}% of it, llama.cpp at ${(100 * mean("llama.cpp", "tg_tok_s") / mg.tg_bandwidth_bound_tok_s).toFixed(1)}%`);
JS
