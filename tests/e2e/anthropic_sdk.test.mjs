// End-to-end: Anthropic's official SDK (@anthropic-ai/sdk) against /v1/messages. Its requests reach a
// remote route (an OpenAI-compatible mock upstream, tests/e2e/mock_upstream.mjs) and the local engine
// on a synthetic v3-vocabulary model: whole and streamed answers, a tool round trip, a stream that
// breaks mid-way (an error event, never a clean-looking end), the key in x-api-key, Anthropic's error
// shape, count_tokens, and one priced ledger row per request.
//
// Run with:  node --test tests/e2e/

import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';

import { useV3LocalClient } from './chat_helpers.mjs';
import { MOCK_PRICES, MOCK_TEXT, MOCK_USAGE, finalLedger, useMockGateway } from './mock_upstream.mjs';

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'] },
};

const MOCK_COST = (MOCK_USAGE.prompt_tokens * MOCK_PRICES.input + MOCK_USAGE.completion_tokens * MOCK_PRICES.output) / 1e6;

function assertMockUsage(usage) {
  const cached = MOCK_USAGE.prompt_tokens_details.cached_tokens;
  assert.equal(usage.input_tokens, MOCK_USAGE.prompt_tokens - cached, 'input_tokens leaves out the cached tokens');
  assert.equal(usage.cache_read_input_tokens, cached);
  assert.equal(usage.output_tokens, MOCK_USAGE.completion_tokens);
}

describe('Anthropic Messages on a remote route', () => {
  const mock = useMockGateway({ routing: { backoff_initial_ms: 10, backoff_max_ms: 20, resume_streams: false } });
  let client;
  const requestIds = [];
  before(() => {
    client = new Anthropic({ apiKey: mock.key, baseURL: mock.url, maxRetries: 0 });
  });

  async function create(params) {
    const { data, response } = await client.messages.create(params).withResponse();
    requestIds.push(response.headers.get('x-request-id'));
    return { message: data, response };
  }

  it('answers a whole message, with the system prompt sent on as the first message', async () => {
    const { message, response } = await create({
      model: 'mock-chat', max_tokens: 64, system: [{ type: 'text', text: 'Be brief.' }],
      messages: [{ role: 'user', content: 'Hello there' }], stop_sequences: ['###'], temperature: 0.5, metadata: { user_id: 'u-42' },
    });
    assert.equal(response.headers.get('x-modelgate-route'), 'mockup/mock-chat');
    assert.match(message.id, /^msg_/);
    assert.equal(message.type, 'message');
    assert.equal(message.role, 'assistant');
    assert.equal(message.model, 'mock-chat');
    assert.deepEqual(message.content, [{ type: 'text', text: MOCK_TEXT }]);
    assert.equal(message.stop_reason, 'end_turn');
    assert.equal(message.stop_sequence, null);
    assertMockUsage(message.usage);
    const sent = mock.upstream.requests.at(-1).body;
    assert.deepEqual(sent.messages, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }]);
    assert.deepEqual(sent.stop, ['###']);
    assert.equal(sent.max_tokens, 64);
    assert.equal(sent.user, 'u-42');
  });

  it('streams Anthropic\'s exact event sequence', async () => {
    const stream = client.messages.stream({ model: 'mock-chat', max_tokens: 64, messages: [{ role: 'user', content: 'Stream it' }] });
    const types = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'content_block_delta') text += event.delta.text;
    }
    const final = await stream.finalMessage();
    requestIds.push((await stream.withResponse()).response.headers.get('x-request-id'));
    assert.equal(text, MOCK_TEXT);
    assert.deepEqual([...new Set(types)], ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.equal(final.stop_reason, 'end_turn');
    assert.deepEqual(final.content, [{ type: 'text', text: MOCK_TEXT, citations: undefined }].map(({ citations, ...block }) => block));
    assertMockUsage(final.usage);
  });

  it('round-trips a tool: tool_use, then tool_result, then the answer', async () => {
    const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const { message: first } = await create({ model: 'mock-chat', max_tokens: 64, tools: [WEATHER_TOOL], tool_choice: { type: 'any' }, messages });
    assert.equal(first.stop_reason, 'tool_use');
    const use = first.content.find((block) => block.type === 'tool_use');
    assert.equal(use.name, 'get_weather');
    assert.deepEqual(use.input, { city: 'Paris' });
    assert.equal(mock.upstream.requests.at(-1).body.tool_choice, 'required');
    assert.deepEqual(mock.upstream.requests.at(-1).body.tools[0].function.parameters, WEATHER_TOOL.input_schema);

    messages.push({ role: 'assistant', content: first.content });
    messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'Sunny, 21 C' }] });
    const stream = client.messages.stream({ model: 'mock-chat', max_tokens: 64, tools: [WEATHER_TOOL], messages });
    const second = await stream.finalMessage();
    requestIds.push((await stream.withResponse()).response.headers.get('x-request-id'));
    assert.deepEqual(second.content.map((block) => block.type), ['text']);
    assert.equal(second.content[0].text, 'The tool said: Sunny, 21 C');
    const sent = mock.upstream.requests.at(-1).body.messages;
    assert.deepEqual(sent.at(-2).tool_calls, [{ id: use.id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
    assert.deepEqual(sent.at(-1), { role: 'tool', tool_call_id: use.id, content: 'Sunny, 21 C' });
  });

  it('streams a tool call as a tool_use block with input_json_delta', async () => {
    const stream = client.messages.stream({ model: 'mock-chat', max_tokens: 64, tools: [WEATHER_TOOL],
                                           messages: [{ role: 'user', content: 'Weather?' }] });
    const deltas = [];
    for await (const event of stream) if (event.type === 'content_block_delta') deltas.push(event.delta.type);
    const final = await stream.finalMessage();
    requestIds.push((await stream.withResponse()).response.headers.get('x-request-id'));
    assert.deepEqual([...new Set(deltas)], ['input_json_delta']);
    assert.equal(final.stop_reason, 'tool_use');
    assert.deepEqual(final.content[0].input, { city: 'Paris' });
  });

  it('turns an upstream that breaks mid-stream into an error event, not a truncated success', async () => {
    const stream = client.messages.stream({ model: 'mock-broken', max_tokens: 64, messages: [{ role: 'user', content: 'Break' }] });
    let text = '';
    stream.on('text', (delta) => { text += delta; });
    await assert.rejects(stream.finalMessage(), (error) => {
      assert.ok(error instanceof Anthropic.APIError, `an APIError, got ${error?.constructor?.name}: ${error?.message}`);
      assert.equal(error.error?.type, 'error');
      assert.match(error.error.error.type, /api_error|overloaded_error/);
      return true;
    });
    requestIds.push((await stream.withResponse()).response.headers.get('x-request-id'));
    assert.equal(text, 'Half an answer');
  });

  it('answers errors in Anthropic\'s shape: a bad key, a missing max_tokens, an unknown model', async () => {
    const stranger = new Anthropic({ apiKey: 'mgk_nobody', baseURL: mock.url, maxRetries: 0 });
    await assert.rejects(stranger.messages.create({ model: 'mock-chat', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }), (error) => {
      assert.ok(error instanceof Anthropic.AuthenticationError);
      assert.equal(error.error.type, 'error');
      assert.equal(error.error.error.type, 'authentication_error');
      return true;
    });
    await assert.rejects(client.messages.create({ model: 'mock-chat', messages: [{ role: 'user', content: 'Hi' }] }), (error) => {
      assert.ok(error instanceof Anthropic.BadRequestError);
      assert.equal(error.error.error.type, 'invalid_request_error');
      assert.match(error.error.error.message, /'max_tokens' is required/);
      return true;
    });
    await assert.rejects(client.messages.create({ model: 'no-such-model', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }), (error) => {
      assert.ok(error instanceof Anthropic.NotFoundError);
      assert.equal(error.error.error.type, 'not_found_error');
      return true;
    });
  });

  it('counts tokens, saying that a remote route\'s count is an estimate', async () => {
    const counted = await client.messages.countTokens({ model: 'mock-chat', messages: [{ role: 'user', content: 'Count these words please' }] });
    assert.ok(counted.input_tokens > 0);
    assert.equal(counted.estimated, true);
  });

  it('left one ledger row per request, priced from the upstream\'s usage', async () => {
    const { all: rows, of } = await finalLedger(mock, requestIds);
    assert.equal(rows.length, requestIds.length + 3, 'and one for each of the three refused requests');
    const answered = of.filter((row) => row.status === 200 && !row.error_code);
    assert.equal(answered.length, requestIds.length - 1);
    for (const row of answered) {
      assert.equal(row.route, 'mockup/mock-chat');
      assert.ok(Math.abs(row.cost_usd - MOCK_COST) < 1e-12, `cost ${row.cost_usd}, expected ${MOCK_COST}`);
      assert.match(row.api_key_id, /^key_/);
    }
    assert.ok(of.at(-1).error_code, 'the broken stream\'s row says it failed');
  });
});

describe('Anthropic Messages on the local engine (v3 vocabulary)', () => {
  const local = useV3LocalClient((url) => new Anthropic({ apiKey: 'unused', baseURL: url, maxRetries: 0 }));

  it('answers whole and streamed, with exact usage and an exact token count', async () => {
    const messages = [{ role: 'user', content: 'Hello there' }];
    const whole = await local.client.messages.create({ model: 'tiny-v3', max_tokens: 6, messages });
    assert.equal(whole.model, 'tiny-v3');
    assert.ok(['end_turn', 'max_tokens'].includes(whole.stop_reason));
    assert.ok(whole.usage.output_tokens > 0 && whole.usage.output_tokens <= 6);
    const counted = await local.client.messages.countTokens({ model: 'tiny-v3', messages });
    assert.equal(counted.estimated, false);
    assert.equal(counted.input_tokens, whole.usage.input_tokens + whole.usage.cache_read_input_tokens);

    const stream = local.client.messages.stream({ model: 'tiny-v3', max_tokens: 6, messages });
    let text = '';
    stream.on('text', (delta) => { text += delta; });
    const final = await stream.finalMessage();
    assert.equal(final.content.filter((block) => block.type === 'text').map((block) => block.text).join(''), text);
    assert.ok(final.usage.output_tokens > 0 && final.usage.output_tokens <= 6);
  });

  it('round-trips a tool: the engine\'s call as a tool_use block, then the result back', async () => {
    const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const first = await local.client.messages.create({ model: 'tiny-v3', max_tokens: 64, tools: [WEATHER_TOOL], tool_choice: { type: 'tool', name: 'get_weather' }, messages });
    assert.equal(first.stop_reason, 'tool_use');
    const uses = first.content.filter((block) => block.type === 'tool_use');
    assert.equal(uses.length, 1);
    assert.equal(uses[0].name, 'get_weather');
    assert.match(uses[0].id, /^[a-zA-Z0-9]{9}$/, 'a v3 call id');
    assert.equal(typeof uses[0].input.city, 'string');

    messages.push({ role: 'assistant', content: first.content });
    messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: uses[0].id, content: '{"temperature": 21}' }] });
    const stream = local.client.messages.stream({ model: 'tiny-v3', max_tokens: 8, tools: [WEATHER_TOOL], messages });
    const second = await stream.finalMessage();
    assert.ok(['end_turn', 'max_tokens', 'tool_use'].includes(second.stop_reason));
    const prompt = (usage) => usage.input_tokens + usage.cache_read_input_tokens;
    assert.ok(prompt(second.usage) > prompt(first.usage), 'the tool result is in the prompt');
  });
});
