// End-to-end: the local engine as the last route. Every remote route of the model points at an address
// that refuses connections, so the official `openai` client's requests (whole and streamed) are answered
// by the built-in engine on a tiny synthetic model; the route header names it and the ledger holds one
// row per request, with the refused routes among those tried.
//
// Run with:  node --test tests/e2e/

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import OpenAI from 'openai';

import { assembleToolCalls, startV3LocalGateway } from './chat_helpers.mjs';
import { MODELGATE_BIN, cleanupGateway, startGateway, stopGateway } from './gateway_process.mjs';
import { ledgerRows } from './mock_upstream.mjs';

const MODEL = 'tiny-local';
const LOCAL_ROUTE = `local/${MODEL}`;

/** A loopback port nothing listens on: connections to it are refused. */
async function refusingPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the local engine behind the gateway', () => {
  let gateway;
  let client;

  before(async () => {
    const prepare = async ({ dir, db }) => {
      execFileSync(MODELGATE_BIN, ['synth-model', '--shape', 'tiny-mistral', '--type', 'Q8_0', '--out', path.join(dir, 'tiny.gguf')]);
      const csv = ['model,provider,upstream_model,usd_per_mtok_input,usd_per_mtok_output,context_length,quantization,' +
                   'published_ttft_ms,published_throughput_tok_s,supports_tools,supports_json,enabled,base_url,api_key_env'];
      for (const provider of ['down-a', 'down-b']) {
        csv.push(`${MODEL},${provider},${MODEL},0.1,0.1,512,,,,false,false,true,http://127.0.0.1:${await refusingPort()}/v1,`);
      }
      await writeFile(path.join(dir, 'routes.csv'), csv.join('\n') + '\n');
      execFileSync(MODELGATE_BIN, ['catalogue', '--db', db, 'import', path.join(dir, 'routes.csv')]);
    };
    const config = ({ dir }) => ({
      local: { model: path.join(dir, 'tiny.gguf'), model_id: MODEL, threads: 1 },
      routing: { backoff_initial_ms: 10, backoff_max_ms: 20 },
    });
    gateway = await startGateway(config, { beforeStart: prepare });
    client = new OpenAI({ baseURL: `http://127.0.0.1:${gateway.port}/v1`, apiKey: 'unused', maxRetries: 0 });
  });

  after(async () => {
    if (gateway) await stopGateway(gateway);
    await cleanupGateway(gateway);
  });

  it('lists the local route beside the remote ones', async () => {
    const models = await client.models.list();
    const entry = models.data.find((model) => model.id === MODEL);
    assert.ok(entry, `model ${MODEL} is listed`);
    assert.deepEqual(entry.routes.map((route) => route.route).sort(), ['down-a/tiny-local', 'down-b/tiny-local', LOCAL_ROUTE]);
  });

  it('answers a whole chat completion when every remote route refuses connections', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 8, seed: 1 })
      .withResponse();
    assert.equal(response.headers.get('x-modelgate-route'), LOCAL_ROUTE);
    assert.equal(data.provider, 'local');
    assert.equal(data.choices[0].message.role, 'assistant');
    assert.equal(typeof data.choices[0].message.content, 'string');
    assert.ok(['stop', 'length'].includes(data.choices[0].finish_reason));
    assert.ok(data.usage.prompt_tokens > 0 && data.usage.completion_tokens > 0 && data.usage.completion_tokens <= 8);
  });

  it('streams a chat completion from the local engine with usage at the end', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'Stream, please' }], max_tokens: 6, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    assert.equal(response.headers.get('x-modelgate-route'), LOCAL_ROUTE);
    let usage;
    let finish;
    let deltas = 0;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      if (chunk.choices[0]?.delta?.content !== undefined) deltas += 1;
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.ok(deltas > 0, 'text came in deltas');
    assert.ok(['stop', 'length'].includes(finish));
    assert.ok(usage && usage.completion_tokens > 0 && usage.completion_tokens <= 6);
  });

  it('left one ledger row per request, answered locally after the refused routes', async () => {
    await stopGateway(gateway);  // flushes the ledger
    const rows = ledgerRows(gateway.db);
    assert.equal(rows.length, 2, JSON.stringify(rows));
    for (const row of rows) {
      assert.equal(row.route, LOCAL_ROUTE);
      assert.equal(row.status, 200);
      assert.ok(row.prompt_tokens > 0 && row.completion_tokens > 0);
      const attempts = JSON.parse(row.routes_tried);
      assert.ok(attempts.at(-1).route === LOCAL_ROUTE && attempts.at(-1).outcome === 'ok', row.routes_tried);
      for (const attempt of attempts.slice(0, -1)) {
        assert.ok(attempt.route.startsWith('down-') && attempt.outcome === 'transient', row.routes_tried);
      }
    }
    const first = JSON.parse(rows[0].routes_tried);
    assert.ok(first.length > 1, `the refused routes were tried first: ${rows[0].routes_tried}`);
  });
});

// Tool calls offline: a tiny model with Mistral's v3 vocabulary (so the v3 chat template, with
// [AVAILABLE_TOOLS], [TOOL_CALLS] and [TOOL_RESULTS]). Random weights say nonsense, but a forced call is
// [TOOL_CALLS] and a call list constrained to the tools, so its OpenAI structure is always sound.
describe('tool calls on the local engine', () => {
  const TOOLS = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'The weather in a city',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['celsius', 'fahrenheit'] } },
          required: ['city', 'unit'],
        },
      },
    },
    { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string', maxLength: 6 } } } } },
  ];
  const NAMES = TOOLS.map((tool) => tool.function.name);
  let gateway;
  let client;

  before(async () => {
    gateway = await startV3LocalGateway();
    client = new OpenAI({ baseURL: `http://127.0.0.1:${gateway.port}/v1`, apiKey: 'unused', maxRetries: 0 });
  });

  after(async () => {
    if (gateway) await stopGateway(gateway);
    await cleanupGateway(gateway);
  });

  function assertWellFormedCall(call) {
    assert.match(call.id, /^[a-zA-Z0-9]{9}$/, 'a v3 call id');
    assert.equal(call.type, 'function');
    assert.ok(NAMES.includes(call.function.name), call.function.name);
    const args = JSON.parse(call.function.arguments);
    assert.equal(typeof args, 'object');
    if (call.function.name === 'get_weather') {
      assert.equal(typeof args.city, 'string');
      assert.ok(['celsius', 'fahrenheit'].includes(args.unit), call.function.arguments);
    }
  }

  it('answers tool_choice "required" with OpenAI tool_calls, then takes the results back', async () => {
    const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const first = await client.chat.completions.create({ model: 'tiny-v3', messages, tools: TOOLS, tool_choice: 'required', seed: 4 });
    const choice = first.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    assert.ok(choice.message.tool_calls.length >= 1);
    choice.message.tool_calls.forEach(assertWellFormedCall);

    messages.push(choice.message);
    for (const call of choice.message.tool_calls) messages.push({ role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' });
    const second = await client.chat.completions.create({ model: 'tiny-v3', messages, tools: TOOLS, max_tokens: 8, seed: 5 });
    const answer = second.choices[0];
    assert.ok(['stop', 'length', 'tool_calls'].includes(answer.finish_reason));
    if (answer.finish_reason === 'tool_calls') answer.message.tool_calls.forEach(assertWellFormedCall);
    else assert.equal(typeof answer.message.content, 'string');
    assert.ok(second.usage.prompt_tokens > first.usage.prompt_tokens, 'the tool results are in the prompt');
  });

  it('streams a call to the function tool_choice names, its id and name in the first fragment', async () => {
    const stream = await client.chat.completions.create({
      model: 'tiny-v3',
      messages: [{ role: 'user', content: 'Time in Tokyo?' }],
      tools: TOOLS,
      tool_choice: { type: 'function', function: { name: 'get_time' } },
      stream: true,
      seed: 6,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const calls = assembleToolCalls(chunks);
    assert.equal(calls.length, 1);
    assertWellFormedCall(calls[0]);
    assert.equal(calls[0].function.name, 'get_time');
    assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason).at(-1).choices[0].finish_reason, 'tool_calls');
  });
});

describe('modelgate serve without a model', () => {
  it('serves the synthetic demo model and says so in its log and in /v1/models', async () => {
    const gateway = await startGateway();
    try {
      assert.match(gateway.stderr, /no --local-model given: the local route serves 'modelgate-demo', a tiny synthetic demo model with random weights/);
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${gateway.port}/v1`, apiKey: 'unused', maxRetries: 0 });
      const demo = (await client.models.list()).data.find((model) => model.id === 'modelgate-demo');
      assert.ok(demo, 'modelgate-demo is listed');
      assert.equal(demo.routes[0].route, 'local/modelgate-demo');
      assert.match(demo.routes[0].description, /random weights: its answers are noise/);
      const answer = await client.chat.completions.create({ model: 'modelgate-demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 });
      assert.equal(answer.provider, 'local');
    } finally {
      await stopGateway(gateway);
      await cleanupGateway(gateway);
    }
  });
});
