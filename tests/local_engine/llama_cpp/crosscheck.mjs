// Runs llama.cpp (through node-llama-cpp's prebuilt CPU binaries) on a GGUF file: the tokenization of
// each test string and the greedy continuation of a prompt, for the engine's cross-check test.
//
// usage: node crosscheck.mjs MODEL.gguf PROMPT_IDS(comma-separated) STEPS STRINGS.json
// prints one JSON object: {"llama_cpp": {...release}, "tokens": [[ids] per string], "greedy": [ids]}
import {readFileSync} from "node:fs";
import {getLlama} from "node-llama-cpp";

const [modelPath, promptText, stepsText, stringsPath] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});

const strings = JSON.parse(readFileSync(stringsPath, "utf8"));
const tokens = strings.map((text) => Array.from(model.tokenize(text, false)));

const context = await model.createContext({contextSize: 256, batchSize: 256, threads: 1});
const sequence = context.getSequence();
const greedy = [];
const prompt = promptText.split(",").map(Number);
for await (const token of sequence.evaluate(prompt, {temperature: 0})) {
  greedy.push(token);
  if (greedy.length >= Number(stepsText)) break;
}
process.stdout.write(JSON.stringify({llama_cpp: llama.llamaCppRelease, build: llama.buildType, tokens, greedy}));
await context.dispose();
await model.dispose();
await llama.dispose();
