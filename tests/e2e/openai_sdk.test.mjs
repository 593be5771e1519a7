// End-to-end test: drive a real modelgate process with the official `openai`
// npm client over loopback HTTP, using the built-in fake provider.
//
// Run with:  node --test tests/e2e/
// The gateway binary is taken from $MODELGATE_BIN, falling back to
// ../../build/release/modelgate relative to this file.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { assembleToolCalls } from './chat_helpers.mjs';
import { cleanupGateway, isRunning, startGateway, stopGateway } from './gateway_process.mjs';

const GATEWAY_CONFIG = {
  fake_provider: { enabled: true, slow_first_token_ms: 300, slow_between_tokens_ms: 10 },
  stream_keepalive_interval_ms: 100,
};

// Fake provider pricing: 1 USD per million prompt tokens, 2 USD per million
// completion tokens.
const USD_PER_PROMPT_TOKEN = 1.0 / 1e6;
const USD_PER_COMPLETION_TOKEN = 2.0 / 1e6;

// ---------------------------------------------------------------------------
// Small assertion helpers
// ---------------------------------------------------------------------------

/** The fake provider's prompt token count: whitespace-separated words over all messages. */
function countWords(...texts) {
  return texts.join(' ').split(/\s+/).filter(Boolean).length;
}

function assertUsage(usage, { prompt, completion }) {
  assert.ok(usage, 'response carries usage');
  assert.equal(usage.prompt_tokens, prompt, 'usage.prompt_tokens');
  assert.equal(usage.completion_tokens, completion, 'usage.completion_tokens');
  assert.equal(usage.total_tokens, prompt + completion, 'usage.total_tokens');
  const expectedCost = prompt * USD_PER_PROMPT_TOKEN + completion * USD_PER_COMPLETION_TOKEN;
  assert.equal(typeof usage.cost, 'number', 'usage.cost is a number');
  assert.ok(
    Math.abs(usage.cost - expectedCost) < 1e-12,
    `usage.cost: expected ${expectedCost}, got ${usage.cost}`,
  );
}

/** Asserts that `promise` rejects with an instance of `ErrorClass` and returns the error. */
async function expectRejection(promise, ErrorClass) {
  try {
    await promise;
  } catch (err) {
    assert.ok(
      err instanceof ErrorClass,
      `expected ${ErrorClass.name}, got ${err?.constructor?.name}: ${err?.message}`,
    );
    return err;
  }
  assert.fail(`expected the request to fail with ${ErrorClass.name}, but it succeeded`);
}

/** Drains an SDK chat stream, returning the chunks and the concatenated content. */
async function collectStream(stream) {
  const chunks = [];
  let text = '';
  for await (const chunk of stream) {
    chunks.push(chunk);
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  return { chunks, text };
}

/** Returns the finish_reason of the last chunk that still has a choice. */
function finalFinishReason(chunks) {
  const withChoices = chunks.filter((c) => c.choices.length > 0);
  return withChoices.at(-1)?.choices[0].finish_reason;
}

/**
 * A fetch wrapper handed to the SDK that keeps a copy of every raw response
 * body, so a test can look at the bytes on the wire (e.g. SSE comments) that
 * the SDK itself discards.
 */
function recordingFetch() {
  const bodies = [];
  const fetchFn = async (url, init) => {
    const response = await fetch(url, init);
    if (!response.body) return response;
    const [forSdk, forRecord] = response.body.tee();
    bodies.push(new Response(forRecord).text());
    return new Response(forSdk, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
  return { fetch: fetchFn, bodies };
}

const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { input: { type: 'string' } } },
  },
};

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

describe('modelgate driven by the official openai SDK', () => {
  let gateway;
  let client;
  let baseURL;

  before(async () => {
    gateway = await startGateway(GATEWAY_CONFIG);
    baseURL = `http://127.0.0.1:${gateway.port}/v1`;
    client = new OpenAI({ apiKey: 'test-key', baseURL, maxRetries: 0, timeout: 10_000 });
  });

  after(async () => {
    await cleanupGateway(gateway);
  });

  it('non-streaming chat completion: content, usage, cost and headers', async () => {
    const system = 'You are a terse test assistant.';
    const user = 'hello gateway';
    const { data, response } = await client.chat.completions
      .create(
        {
          model: 'echo',
          messages: [
            { role: 'system', content: system },
            { role: 'user', content: user },
          ],
        },
        { headers: { 'x-request-id': 'e2e-req-0001' } },
      )
      .withResponse();

    assert.equal(data.object, 'chat.completion');
    assert.equal(data.model, 'echo');
    assert.equal(data.choices.length, 1);
    const [choice] = data.choices;
    assert.equal(choice.message.role, 'assistant');
    assert.equal(choice.message.content, 'You said: hello gateway');
    assert.equal(choice.finish_reason, 'stop');
    // "You ", "said: ", "hello ", "gateway"
    // 6 words of system prompt + 2 words of user message.
    assertUsage(data.usage, { prompt: countWords(system, user), completion: 4 });
    assert.equal(data.usage.prompt_tokens, 8);

    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-modelgate-route'), 'fake/echo');
    assert.equal(response.headers.get('x-request-id'), 'e2e-req-0001');
  });

  it('streaming chat completion with stream_options.include_usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: 'streaming works' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const { chunks, text } = await collectStream(stream);

    assert.equal(text, 'You said: streaming works');
    for (const chunk of chunks) assert.equal(chunk.object, 'chat.completion.chunk');

    // The usage chunk comes last, with no choices; no other chunk carries usage.
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assertUsage(last.usage, { prompt: 2, completion: 4 });
    for (const chunk of chunks.slice(0, -1)) {
      assert.ok(chunk.usage == null, 'only the final chunk carries usage');
      assert.equal(chunk.choices.length, 1);
    }

    // Exactly one finish_reason, "stop", on the last chunk that has choices.
    assert.equal(finalFinishReason(chunks), 'stop');
    const finishReasons = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason));
    assert.deepEqual(finishReasons.filter((r) => r != null), ['stop']);
  });

  it('streaming from the slow model: keep-alive comments are sent and ignored by the SDK', async () => {
    const recorder = recordingFetch();
    const recordingClient = new OpenAI({
      apiKey: 'test-key',
      baseURL,
      maxRetries: 0,
      timeout: 10_000,
      fetch: recorder.fetch,
    });

    const started = Date.now();
    const stream = await recordingClient.chat.completions.create({
      model: 'slow',
      messages: [{ role: 'user', content: 'patience is a virtue' }],
      stream: true,
    });
    const { chunks, text } = await collectStream(stream);
    const elapsedMs = Date.now() - started;

    assert.equal(text, 'You said: patience is a virtue');
    assert.equal(finalFinishReason(chunks), 'stop');
    assert.ok(elapsedMs >= 300, `slow model should take >= 300 ms, took ${elapsedMs} ms`);

    assert.equal(recorder.bodies.length, 1);
    const raw = await recorder.bodies[0];
    const firstComment = raw.indexOf(': keep-alive');
    const firstData = raw.indexOf('data: ');
    assert.ok(firstComment >= 0, `expected an SSE keep-alive comment in:\n${raw}`);
    assert.ok(firstComment < firstData, 'keep-alive comment precedes the first data event');
    assert.ok(raw.trimEnd().endsWith('data: [DONE]'), 'stream ends with data: [DONE]');
  });

  it('tool-call round trip, non-streaming', async () => {
    const question = 'What is the weather in Paris today?';
    const first = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: question }],
      tools: [WEATHER_TOOL],
    });

    const [choice] = first.choices;
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.role, 'assistant');
    assert.equal(choice.message.tool_calls.length, 1);
    const [call] = choice.message.tool_calls;
    assert.equal(call.id, 'call_fake_0');
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { input: question });

    const second = await client.chat.completions.create({
      model: 'echo',
      messages: [
        { role: 'user', content: question },
        { role: 'assistant', content: choice.message.content, tool_calls: choice.message.tool_calls },
        { role: 'tool', tool_call_id: call.id, content: 'sunny' },
      ],
      tools: [WEATHER_TOOL],
    });
    assert.equal(second.choices[0].message.content, 'Tool call_fake_0 returned: sunny');
    assert.equal(second.choices[0].finish_reason, 'stop');
    assert.equal(second.choices[0].message.tool_calls ?? undefined, undefined);
  });

  it('tool-call round trip, streaming (tool calls assembled from deltas)', async () => {
    const question = 'Will it rain in Oslo?';
    const firstStream = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: question }],
      tools: [WEATHER_TOOL],
      stream: true,
    });
    const first = await collectStream(firstStream);

    assert.equal(first.text, '', 'a tool-calling turn streams no content');
    assert.equal(finalFinishReason(first.chunks), 'tool_calls');
    const calls = assembleToolCalls(first.chunks);
    assert.equal(calls.length, 1);
    const [call] = calls;
    assert.equal(call.id, 'call_fake_0');
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { input: question });

    const secondStream = await client.chat.completions.create({
      model: 'echo',
      messages: [
        { role: 'user', content: question },
        { role: 'assistant', content: null, tool_calls: calls },
        { role: 'tool', tool_call_id: call.id, content: 'sunny' },
      ],
      tools: [WEATHER_TOOL],
      stream: true,
    });
    const second = await collectStream(secondStream);
    assert.equal(second.text, 'Tool call_fake_0 returned: sunny');
    assert.equal(finalFinishReason(second.chunks), 'stop');
    assert.deepEqual(assembleToolCalls(second.chunks), []);
  });

  it('tool_choice forces a specific tool', async () => {
    const otherTool = {
      type: 'function',
      function: {
        name: 'get_time',
        parameters: { type: 'object', properties: { input: { type: 'string' } } },
      },
    };
    const completion = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: 'what time is it' }],
      tools: [WEATHER_TOOL, otherTool],
      tool_choice: { type: 'function', function: { name: 'get_time' } },
    });
    const [choice] = completion.choices;
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.tool_calls.length, 1);
    assert.equal(choice.message.tool_calls[0].function.name, 'get_time');
    assert.deepEqual(JSON.parse(choice.message.tool_calls[0].function.arguments), {
      input: 'what time is it',
    });
  });

  it('unknown model surfaces as openai.NotFoundError', async () => {
    const err = await expectRejection(
      client.chat.completions.create({
        model: 'no-such-model',
        messages: [{ role: 'user', content: 'hi' }],
      }),
      OpenAI.NotFoundError,
    );
    assert.equal(err.status, 404);
    assert.equal(err.code, 'model_not_found');
    assert.equal(err.error.code, 'model_not_found');
    assert.equal(err.type, 'invalid_request_error');
    assert.match(err.message, /no-such-model/);
  });

  it('out-of-range parameter surfaces as openai.BadRequestError', async () => {
    const err = await expectRejection(
      client.chat.completions.create({
        model: 'echo',
        messages: [{ role: 'user', content: 'hi' }],
        temperature: 5,
      }),
      OpenAI.BadRequestError,
    );
    assert.equal(err.status, 400);
    assert.equal(err.param, 'temperature');
    assert.equal(err.error.param, 'temperature');
    assert.equal(err.type, 'invalid_request_error');
  });

  it('provider failure before the first token surfaces as a 503 APIError (not retried)', async () => {
    const err = await expectRejection(
      client.chat.completions.create({
        model: 'error',
        messages: [{ role: 'user', content: 'hi' }],
      }),
      OpenAI.APIError,
    );
    assert.ok(err instanceof OpenAI.InternalServerError, 'a 5xx maps to InternalServerError');
    assert.equal(err.status, 503);
    assert.match(err.error.message, /^every route failed/);
    const retryAfter = err.headers.get('retry-after');
    assert.ok(retryAfter, '503 carries a Retry-After header');
    assert.ok(Number(retryAfter) > 0, `Retry-After is a positive number of seconds: ${retryAfter}`);
    assert.equal(err.headers.get('x-modelgate-route'), 'fake/error');
  });

  it('mid-stream provider failure makes the SDK iteration throw an APIError', async () => {
    const stream = await client.chat.completions.create({
      model: 'flaky',
      messages: [{ role: 'user', content: 'this will break' }],
      stream: true,
    });
    let text = '';
    let chunkCount = 0;
    const err = await expectRejection(
      (async () => {
        for await (const chunk of stream) {
          chunkCount += 1;
          text += chunk.choices[0]?.delta?.content ?? '';
        }
      })(),
      OpenAI.APIError,
    );
    assert.ok('You said: '.startsWith(text), `text before the error was ${JSON.stringify(text)}`);
    assert.equal(text, 'You said: ', 'both tokens arrive before the failure');
    assert.equal(chunkCount, 2);
    assert.equal(err.error?.code, 'upstream_error');
    assert.match(err.message, /mid-stream/);
  });

  it('legacy /v1/completions echoes the prompt', async () => {
    const completion = await client.completions.create({ model: 'echo', prompt: 'legacy prompt' });
    assert.equal(completion.object, 'text_completion');
    assert.equal(completion.choices[0].text, 'You wrote: legacy prompt');
    assert.equal(completion.choices[0].finish_reason, 'stop');
    // "You ", "wrote: ", "legacy ", "prompt"
    assertUsage(completion.usage, { prompt: 2, completion: 4 });
  });

  it('models.list() lists the fake models with pricing', async () => {
    const models = [];
    for await (const model of client.models.list()) models.push(model);

    const ids = models.map((m) => m.id);
    for (const id of ['echo', 'slow', 'error', 'flaky']) {
      assert.ok(ids.includes(id), `models.list() includes "${id}" (got ${ids.join(', ')})`);
    }
    for (const model of models) {
      assert.equal(model.object, 'model');
      assert.ok(model.pricing, `model ${model.id} has pricing`);
      assert.ok(Number.isFinite(Number(model.pricing.prompt)), `${model.id} pricing.prompt`);
      assert.ok(Number.isFinite(Number(model.pricing.completion)), `${model.id} pricing.completion`);
      assert.ok(Array.isArray(model.routes) && model.routes.length > 0, `${model.id} has routes`);
    }
    const echo = models.find((m) => m.id === 'echo');
    assert.equal(Number(echo.pricing.prompt), USD_PER_PROMPT_TOKEN);
    assert.equal(Number(echo.pricing.completion), USD_PER_COMPLETION_TOKEN);
    assert.ok(echo.routes.some((r) => r.route === 'fake/echo'));
  });

  // Runs last (node:test runs the tests of a suite in order).
  it('shuts down with exit code 0 on SIGTERM', async () => {
    assert.ok(isRunning(gateway), 'gateway still running before shutdown');
    const result = await stopGateway(gateway);
    assert.ok(
      result !== null,
      `modelgate did not exit in time after SIGTERM; stderr:\n${gateway.stderr}`,
    );
    assert.deepEqual(result, { code: 0, signal: null }, `stderr:\n${gateway.stderr}`);
  });
});
