// Helpers that more than one end-to-end test file needs: reading chat answers, and a gateway whose local
// engine runs a model with Mistral's v3 vocabulary (tool calls).

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { after, before } from 'node:test';
import OpenAI from 'openai';

import { MODELGATE_BIN, cleanupGateway, startGateway, stopGateway } from './gateway_process.mjs';

export const V3_VOCAB = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'local_engine', 'data', 'mistral_tokenizer',
                                  'mistral_instruct_tokenizer_240323.model.v3');

/** Starts a gateway whose local route serves 'tiny-v3': a synthetic tiny Mistral with the v3 vocabulary. */
export function startV3LocalGateway() {
  const prepare = async ({ dir }) => {
    execFileSync(MODELGATE_BIN, ['synth-model', '--shape', 'tiny-mistral', '--type', 'Q8_0', '--vocab', V3_VOCAB, '--out', path.join(dir, 'v3.gguf')]);
  };
  return startGateway(({ dir }) => ({ local: { model: path.join(dir, 'v3.gguf'), model_id: 'tiny-v3', threads: 1 } }), { beforeStart: prepare });
}

/** In a describe(): a v3 local gateway (startV3LocalGateway) for its tests, and a client of it made by
 *  `makeClient(url)` (an `openai` one by default), read as `.client` once the tests run. */
export function useV3LocalClient(makeClient = (url) => new OpenAI({ apiKey: 'unused', baseURL: `${url}/v1`, maxRetries: 0 })) {
  const local = {};
  before(async () => {
    local.gateway = await startV3LocalGateway();
    local.client = makeClient(`http://127.0.0.1:${local.gateway.port}`);
  });
  after(async () => {
    if (local.gateway) await stopGateway(local.gateway);
    await cleanupGateway(local.gateway);
  });
  return local;
}

/** Rebuilds complete tool calls from streamed deltas, keyed by their index. */
export function assembleToolCalls(chunks) {
  const calls = [];
  for (const chunk of chunks) {
    for (const fragment of chunk.choices[0]?.delta?.tool_calls ?? []) {
      const call = (calls[fragment.index] ??= {
        id: undefined,
        type: 'function',
        function: { name: '', arguments: '' },
      });
      if (fragment.id) call.id = fragment.id;
      if (fragment.type) call.type = fragment.type;
      if (fragment.function?.name) call.function.name += fragment.function.name;
      if (fragment.function?.arguments) call.function.arguments += fragment.function.arguments;
    }
  }
  return calls;
}
