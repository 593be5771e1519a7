// End-to-end: a provider of the `anthropic` dialect, a mock that speaks Anthropic's Messages API
// (tests/e2e/mock_upstream.mjs, its events as Anthropic's reference gives them), as a route for both
// official SDKs: the `openai` client's chat completions whole, streamed and through a tool round trip,
// and the `@anthropic-ai/sdk` client's messages with the route's cache counts; the key in x-api-key with
// anthropic-version; a stream that breaks; one priced ledger row per request.
//
// Run with:  node --test tests/e2e/

import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

import { registerSecret } from './gateway_process.mjs';
import { ANTHROPIC_USAGE, MOCK_PRICES, MOCK_TEXT, finalLedger, useMockGateway } from './mock_upstream.mjs';

const UPSTREAM_KEY = 'sk-ant-mock-0123456789';
const PROMPT_TOKENS = ANTHROPIC_USAGE.input_tokens + ANTHROPIC_USAGE.cache_read_input_tokens + ANTHROPIC_USAGE.cache_creation_input_tokens;
const COST = (PROMPT_TOKENS * MOCK_PRICES.input + ANTHROPIC_USAGE.output_tokens * MOCK_PRICES.output) / 1e6;
const WEATHER_TOOL = {
  type: 'function',
  function: { name: 'get_weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};

describe('An Anthropic-native upstream as a route', () => {
  const mock = useMockGateway({ providers: { claude: { dialect: 'anthropic', api_key: UPSTREAM_KEY } }, routing: { resume_streams: false } },
                              ['mock-chat', 'mock-broken'], 'claude');
  let openai;
  let anthropic;
  const requestIds = [];

  before(() => {
    registerSecret(UPSTREAM_KEY);  // the suite checks that no log and no client-facing error carries it
    openai = new OpenAI({ apiKey: mock.key, baseURL: `${mock.url}/v1`, maxRetries: 0 });
    anthropic = new Anthropic({ apiKey: mock.key, baseURL: mock.url, maxRetries: 0 });
  });

  const sent = () => mock.upstream.requests.at(-1);

  it('answers an OpenAI chat completion, the request in Anthropic\'s words and its key in x-api-key', async () => {
    const { data, response } = await openai.chat.completions.create({
      model: 'mock-chat', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }], stop: ['###'],
    }).withResponse();
    requestIds.push(response.headers.get('x-request-id'));
    assert.equal(response.headers.get('x-modelgate-route'), 'claude/mock-chat');
    assert.equal(data.choices[0].message.content, MOCK_TEXT);
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.equal(data.usage.prompt_tokens, PROMPT_TOKENS);
    assert.equal(data.usage.prompt_tokens_details.cached_tokens, ANTHROPIC_USAGE.cache_read_input_tokens);
    assert.equal(data.usage.completion_tokens, ANTHROPIC_USAGE.output_tokens);
    const { path, headers, body } = sent();
    assert.equal(path, '/v1/messages');
    assert.equal(headers['x-api-key'], UPSTREAM_KEY);
    assert.equal(headers['anthropic-version'], '2023-06-01');
    assert.equal(headers.authorization, undefined);
    assert.deepEqual(body, { model: 'mock-chat', system: 'Be brief.', max_tokens: 4096, stop_sequences: ['###'],
                             messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello there' }] }] });
  });

  it('streams the route\'s text deltas as chat chunks, with its usage', async () => {
    const { data: stream, response } = await openai.chat.completions.create({
      model: 'mock-chat', messages: [{ role: 'user', content: 'Stream it' }], stream: true, stream_options: { include_usage: true },
    }).withResponse();
    requestIds.push(response.headers.get('x-request-id'));
    let text = '';
    let usage;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      usage = chunk.usage ?? usage;
    }
    assert.equal(text, MOCK_TEXT);
    assert.equal(usage.prompt_tokens, PROMPT_TOKENS);
    assert.equal(sent().body.stream, true);
  });

  it('round-trips a tool: tool_use out as a tool call, the result back as a tool_result block', async () => {
    const messages = [{ role: 'user', content: 'Weather in Paris?' }];
    const first = await openai.chat.completions.create({ model: 'mock-chat', messages, tools: [WEATHER_TOOL], stream: true });
    const chunks = [];
    for await (const chunk of first) chunks.push(chunk);
    const fragments = chunks.flatMap((chunk) => chunk.choices[0]?.delta?.tool_calls ?? []);
    assert.equal(fragments[0].id, 'toolu_mock_1');
    assert.equal(fragments[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(fragments.map((f) => f.function.arguments ?? '').join('')), { city: 'Paris' });
    assert.equal(chunks.find((chunk) => chunk.choices[0]?.finish_reason)?.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(sent().body.tools, [{ name: 'get_weather', description: 'The weather in a city', input_schema: WEATHER_TOOL.function.parameters }]);
    messages.push({ role: 'assistant', content: null,
                    tool_calls: [{ id: 'toolu_mock_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] });
    messages.push({ role: 'tool', tool_call_id: 'toolu_mock_1', content: 'Sunny, 21 C' });
    const second = await openai.chat.completions.create({ model: 'mock-chat', messages, tools: [WEATHER_TOOL] });
    assert.equal(second.choices[0].message.content, 'The tool said: Sunny, 21 C');
    assert.deepEqual(sent().body.messages.slice(1), [
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_mock_1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_mock_1', content: [{ type: 'text', text: 'Sunny, 21 C' }] }] },
    ]);
  });

  it('gives the Anthropic SDK the route\'s cache counts', async () => {
    const { data: message, response } = await anthropic.messages.create({ model: 'mock-chat', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] })
      .withResponse();
    requestIds.push(response.headers.get('x-request-id'));
    assert.equal(message.content[0].text, MOCK_TEXT);
    assert.equal(message.stop_reason, 'end_turn');
    assert.equal(message.usage.input_tokens, ANTHROPIC_USAGE.input_tokens);
    assert.equal(message.usage.cache_read_input_tokens, ANTHROPIC_USAGE.cache_read_input_tokens);
    assert.equal(message.usage.cache_creation_input_tokens, ANTHROPIC_USAGE.cache_creation_input_tokens);
    assert.equal(message.usage.output_tokens, ANTHROPIC_USAGE.output_tokens);
    assert.equal(sent().body.max_tokens, 64);
  });

  it('turns a route\'s stream that breaks into an error, not a truncated success', async () => {
    const stream = await openai.chat.completions.create({ model: 'mock-broken', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    await assert.rejects(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    });
    assert.equal(text, 'Half an answer');
  });

  it('left one priced ledger row per answered request', async () => {
    const { all: rows, of } = await finalLedger(mock, requestIds);
    for (const row of of) {
      assert.equal(row.route, 'claude/mock-chat');
      assert.equal(row.prompt_tokens, PROMPT_TOKENS);
      assert.ok(Math.abs(row.cost_usd - COST) < 1e-12, `cost ${row.cost_usd}`);
    }
    assert.ok(rows.some((row) => row.route === 'claude/mock-broken' && row.error_code), 'the broken stream\'s row says it failed');
  });
});
