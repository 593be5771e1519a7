// llama.cpp's speed on a GGUF file, through node-llama-cpp's prebuilt CPU binaries: prompt processing
// (pp: the prompt in one batch) and token generation (tg: greedy tokens one at a time from an empty
// context, logits computed for each), in tokens/s averaged over repetitions, as llama-bench measures them. The reference that
// `modelgate bench` is compared with (scripts/bench-engine.sh runs both side by side).
//
// usage: node llama_cpp_bench.mjs --model FILE.gguf [--threads N] [--pp 512] [--tg 128] [--repetitions 3]
// prints one JSON object: {llama_cpp, threads, pp, pp_tok_s, pp_stddev, tg, tg_tok_s, tg_stddev}
import {getLlama} from "node-llama-cpp";
import {cpus} from "node:os";

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith("--") ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []));
const threads = Number(args.threads ?? cpus().length);
const pp = Number(args.pp ?? 512);
const tg = Number(args.tg ?? 128);
const repetitions = Number(args.repetitions ?? 3);

const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath: args.model, useMmap: true});
// Ordinary text's tokens, repeated to length: valid ids for any vocabulary.
const text = model.tokenize("The quick brown fox jumps over the lazy dog, and then it runs away. ");
const tokens = (count) => Array.from({length: count}, (_, i) => text[i % text.length]);

function summary(rates) {
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  const variance = rates.length > 1 ? rates.reduce((a, r) => a + (r - mean) ** 2, 0) / (rates.length - 1) : 0;
  return [mean, Math.sqrt(variance)];
}

async function measure(count, generation) {
  const rates = [];
  for (let rep = 0; rep < repetitions; rep++) {
    const context = await model.createContext({contextSize: Math.max(pp, tg) + 64, batchSize: Math.max(pp, 1), threads});
    const sequence = context.getSequence();
    const input = tokens(count);
    const start = process.hrtime.bigint();
    if (generation) {
      // Each step computes the logits and picks the next token, as llama-bench's tg does (evaluating
      // without generating would skip the output projection, a large share of a token's work).
      let generated = 0;
      for await (const token of sequence.evaluate(input.slice(0, 1), {temperature: 0})) {
        if (++generated >= count) break;
      }
    } else {
      await sequence.evaluateWithoutGeneratingNewTokens(input);
    }
    rates.push(count / (Number(process.hrtime.bigint() - start) / 1e9));
    await context.dispose();
  }
  return summary(rates);
}

await measure(1, true);  // warm up
const [ppRate, ppStddev] = pp > 0 ? await measure(pp, false) : [0, 0];
const [tgRate, tgStddev] = tg > 0 ? await measure(tg, true) : [0, 0];
process.stdout.write(JSON.stringify({llama_cpp: llama.llamaCppRelease, threads, pp, pp_tok_s: ppRate, pp_stddev: ppStddev, tg, tg_tok_s: tgRate, tg_stddev: tgStddev}) + "\n");
await model.dispose();
await llama.dispose();
