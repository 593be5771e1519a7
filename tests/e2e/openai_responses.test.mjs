// End-to-end: the official `openai` client's responses.create against /v1/responses, on a remote route
// (an OpenAI-compatible mock upstream, tests/e2e/mock_upstream.mjs): whole and streamed answers, a
// function call round trip, a json_schema format, a stream that breaks mid-way (response.failed, never
// response.completed), what needs stored state refused by name, and one priced ledger row per request.
//
// Run with:  node --test tests/e2e/

import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { useV3LocalClient } from './chat_helpers.mjs';
import { MOCK_PRICES, MOCK_TEXT, MOCK_USAGE, finalLedger, useMockGateway } from './mock_upstream.mjs';

const WEATHER_TOOL = {
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};
const MOCK_COST = (MOCK_USAGE.prompt_tokens * MOCK_PRICES.input + MOCK_USAGE.completion_tokens * MOCK_PRICES.output) / 1e6;

function assertMockUsage(usage) {
  assert.equal(usage.input_tokens, MOCK_USAGE.prompt_tokens);
  assert.equal(usage.input_tokens_details.cached_tokens, MOCK_USAGE.prompt_tokens_details.cached_tokens);
  assert.equal(usage.output_tokens, MOCK_USAGE.completion_tokens);
  assert.equal(usage.total_tokens, MOCK_USAGE.prompt_tokens + MOCK_USAGE.completion_tokens);
  assert.ok(Math.abs(usage.cost - MOCK_COST) < 1e-12);
}

describe('OpenAI Responses on a remote route', () => {
  const mock = useMockGateway({ routing: { resume_streams: false } });
  let client;
  const requestIds = [];
  before(() => {
    client = new OpenAI({ apiKey: mock.key, baseURL: `${mock.url}/v1`, maxRetries: 0 });
  });

  async function create(params) {
    const { data, response } = await client.responses.create(params).withResponse();
    requestIds.push(response.headers.get('x-request-id'));
    return { data, response };
  }

  it('answers a whole response, instructions first and the input after', async () => {
    const { data, response } = await create({ model: 'mock-chat', instructions: 'Be brief.', input: 'Hello there', max_output_tokens: 64 });
    assert.equal(response.headers.get('x-modelgate-route'), 'mockup/mock-chat');
    assert.match(data.id, /^resp_/);
    assert.equal(data.object, 'response');
    assert.equal(data.status, 'completed');
    assert.equal(data.output_text, MOCK_TEXT);
    assert.equal(data.output[0].type, 'message');
    assert.deepEqual(data.output[0].content.map((part) => part.type), ['output_text']);
    assertMockUsage(data.usage);
    const sent = mock.upstream.requests.at(-1).body;
    assert.deepEqual(sent.messages, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }]);
    assert.equal(sent.max_tokens, 64);
  });

  it('streams from response.created through output_text deltas to response.completed', async () => {
    const stream = await client.responses.create({ model: 'mock-chat', input: [{ role: 'user', content: 'Stream it' }], stream: true });
    const types = [];
    let text = '';
    let completed;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    assert.equal(text, MOCK_TEXT);
    assert.deepEqual([...new Set(types)], ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
                                           'response.output_text.delta', 'response.output_text.done', 'response.content_part.done',
                                           'response.output_item.done', 'response.completed']);
    assert.equal(completed.output[0].content[0].text, MOCK_TEXT);
    assertMockUsage(completed.usage);
  });

  it('accumulates the same answer with the SDK\'s stream helper', async () => {
    const stream = client.responses.stream({ model: 'mock-chat', input: 'Helper' });
    const final = await stream.finalResponse();
    assert.equal(final.output_text, MOCK_TEXT);
    assert.equal(final.status, 'completed');
  });

  it('round-trips a function call: function_call, then function_call_output, then the answer', async () => {
    const input = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const { data: first } = await create({ model: 'mock-chat', input, tools: [WEATHER_TOOL], tool_choice: 'required' });
    const call = first.output.find((item) => item.type === 'function_call');
    assert.ok(call, 'a function_call item');
    assert.equal(call.name, 'get_weather');
    assert.equal(call.arguments, '{"city":"Paris"}');
    assert.equal(mock.upstream.requests.at(-1).body.tools[0].function.name, 'get_weather');

    input.push(call, { type: 'function_call_output', call_id: call.call_id, output: 'Sunny, 21 C' });
    const stream = await client.responses.create({ model: 'mock-chat', input, tools: [WEATHER_TOOL], stream: true });
    let text = '';
    for await (const event of stream) if (event.type === 'response.output_text.delta') text += event.delta;
    assert.equal(text, 'The tool said: Sunny, 21 C');
    const sent = mock.upstream.requests.at(-1).body.messages;
    assert.deepEqual(sent.at(-2), { role: 'assistant', content: null, tool_calls: [{ id: call.call_id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] });
    assert.deepEqual(sent.at(-1), { role: 'tool', tool_call_id: call.call_id, content: 'Sunny, 21 C' });
  });

  it('streams a function call as function_call_arguments deltas', async () => {
    const stream = await client.responses.create({ model: 'mock-chat', input: 'Weather?', tools: [WEATHER_TOOL], stream: true });
    let args = '';
    let done;
    for await (const event of stream) {
      if (event.type === 'response.function_call_arguments.delta') args += event.delta;
      if (event.type === 'response.output_item.done') done = event.item;
    }
    assert.equal(args, '{"city":"Paris"}');
    assert.equal(done.type, 'function_call');
    assert.equal(done.arguments, args);
  });

  it('passes a json_schema text format on as the route\'s response_format', async () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false };
    await create({ model: 'mock-chat', input: 'JSON please', text: { format: { type: 'json_schema', name: 'reply', schema, strict: true } } });
    assert.deepEqual(mock.upstream.requests.at(-1).body.response_format, { type: 'json_schema', json_schema: { name: 'reply', schema, strict: true } });
  });

  it('ends a stream that breaks mid-way with response.failed, never response.completed', async () => {
    const stream = await client.responses.create({ model: 'mock-broken', input: 'Break', stream: true });
    const types = [];
    let failed;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.failed') failed = event.response;
    }
    assert.ok(types.includes('response.output_text.delta'));
    assert.equal(types.at(-1), 'response.failed');
    assert.ok(!types.includes('response.completed'));
    assert.equal(failed.status, 'failed');
    assert.ok(failed.error.message.length > 0);
  });

  it('refuses previous_response_id and store: true by name', async () => {
    for (const [field, value] of [['previous_response_id', 'resp_123'], ['store', true]]) {
      await assert.rejects(client.responses.create({ model: 'mock-chat', input: 'Hi', [field]: value }), (error) => {
        assert.ok(error instanceof OpenAI.BadRequestError, `${field}: ${error?.message}`);
        assert.match(error.message, new RegExp(`'${field}' is not supported`));
        return true;
      });
    }
  });

  it('left one priced ledger row per answered request', async () => {
    const { all: rows, of } = await finalLedger(mock, requestIds);
    for (const row of of) {
      assert.equal(row.status, 200);
      assert.equal(row.route, 'mockup/mock-chat');
      assert.ok(Math.abs(row.cost_usd - MOCK_COST) < 1e-12, `cost ${row.cost_usd}`);
      assert.match(row.api_key_id, /^key_/);
    }
    assert.ok(rows.some((row) => row.route === 'mockup/mock-broken' && row.error_code), 'the broken stream\'s row says it failed');
  });
});

describe('OpenAI Responses on the local engine (v3 vocabulary)', () => {
  const local = useV3LocalClient();

  it('holds a json_schema format: the output parses and has what the schema requires', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string', maxLength: 8 }, sunny: { type: 'boolean' } },
                     required: ['city', 'sunny'], additionalProperties: false };
    const stream = local.client.responses.stream({ model: 'tiny-v3', input: 'Weather as JSON', max_output_tokens: 64,
                                             text: { format: { type: 'json_schema', name: 'weather', schema, strict: true } } });
    const final = await stream.finalResponse();
    assert.equal(final.status, 'completed', JSON.stringify(final.incomplete_details));
    const value = JSON.parse(final.output_text);
    assert.equal(typeof value.city, 'string');
    assert.equal(typeof value.sunny, 'boolean');
  });

  it('round-trips a function call made by the engine', async () => {
    const input = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const first = await local.client.responses.create({ model: 'tiny-v3', input, tools: [WEATHER_TOOL], tool_choice: { type: 'function', name: 'get_weather' } });
    const calls = first.output.filter((item) => item.type === 'function_call');
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, 'get_weather');
    assert.equal(typeof JSON.parse(calls[0].arguments).city, 'string');
    input.push(calls[0], { type: 'function_call_output', call_id: calls[0].call_id, output: '{"temperature": 21}' });
    const second = await local.client.responses.create({ model: 'tiny-v3', input, tools: [WEATHER_TOOL], max_output_tokens: 8 });
    assert.ok(['completed', 'incomplete'].includes(second.status));
    assert.ok(second.usage.input_tokens > first.usage.input_tokens, 'the function output is in the prompt');
  });
});
