// End-to-end: the official `openai` client's embeddings.create against /v1/embeddings, routed to an
// OpenAI-compatible mock upstream (tests/e2e/mock_upstream.mjs): a string, a batch, token arrays, the
// SDK's default (base64 on the wire, floats to the caller), explicit base64 and float, `dimensions`,
// fallback past an embedding route that fails, a chat model refused, one ledger row per request priced
// by its input tokens; and the local engine, which serves no embeddings, refusing with a 400.
//
// Run with:  node --test tests/e2e/

import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { useV3LocalClient } from './chat_helpers.mjs';
import { MOCK_PRICES, finalLedger, mockEmbedding, useMockGateway } from './mock_upstream.mjs';

const TOKENS_PER_INPUT = 3;  // what mock-embed reports

function float32s(base64) {
  const bytes = Buffer.from(base64, 'base64');
  return Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
}

describe('OpenAI embeddings on a remote route', () => {
  const mock = useMockGateway({}, ['mock-chat', 'mock-embed', 'mock-embed-down']);
  let client;
  const answered = [];  // {id, inputs} of each answered request
  before(() => {
    client = new OpenAI({ apiKey: mock.key, baseURL: `${mock.url}/v1`, maxRetries: 0 });
  });

  async function embed(params, inputs) {
    const { data, response } = await client.embeddings.create(params).withResponse();
    answered.push({ id: response.headers.get('x-request-id'), inputs });
    return { data, response, sent: mock.upstream.requests.at(-1) };
  }

  it('embeds a string as floats', async () => {
    const { data, response, sent } = await embed({ model: 'mock-embed', input: 'The food was delicious', encoding_format: 'float' }, 1);
    assert.equal(response.headers.get('x-modelgate-route'), 'mockup/mock-embed');
    assert.equal(data.object, 'list');
    assert.equal(data.model, 'mock-embed');
    assert.deepEqual(data.data, [{ object: 'embedding', index: 0, embedding: mockEmbedding(0) }]);
    assert.equal(data.usage.prompt_tokens, TOKENS_PER_INPUT);
    assert.equal(data.usage.total_tokens, TOKENS_PER_INPUT);
    assert.equal(sent.path, '/v1/embeddings');
    assert.deepEqual(sent.body, { model: 'mock-embed', input: 'The food was delicious', encoding_format: 'float' });
  });

  it('embeds a batch in order: the SDK asks for base64 by default and hands back floats', async () => {
    const inputs = ['first', 'second', 'third'];
    const { data, sent } = await embed({ model: 'mock-embed', input: inputs }, 3);
    assert.equal(sent.body.encoding_format, 'base64');
    assert.deepEqual(sent.body.input, inputs);
    assert.deepEqual(data.data.map((item) => item.index), [0, 1, 2]);
    data.data.forEach((item, i) => assert.deepEqual(Array.from(item.embedding), mockEmbedding(i)));
    assert.equal(data.usage.prompt_tokens, 3 * TOKENS_PER_INPUT);
  });

  it('answers base64 when asked: little-endian float32, as OpenAI encodes it', async () => {
    const { data } = await embed({ model: 'mock-embed', input: ['a', 'b'], encoding_format: 'base64' }, 2);
    for (const item of data.data) {
      assert.equal(typeof item.embedding, 'string');
      assert.deepEqual(float32s(item.embedding), mockEmbedding(item.index));
    }
  });

  it('takes token arrays, and passes dimensions to the route', async () => {
    const { data, sent } = await embed({ model: 'mock-embed', input: [[1, 2, 3], [4, 5]], dimensions: 2, encoding_format: 'float' }, 2);
    assert.deepEqual(sent.body.input, [[1, 2, 3], [4, 5]]);
    assert.equal(sent.body.dimensions, 2);
    assert.deepEqual(data.data.map((item) => item.embedding), [mockEmbedding(0, 2), mockEmbedding(1, 2)]);
  });

  it('falls back past an embedding route that fails', async () => {
    const { data, response } = await embed({ model: 'mock-embed-down', models: ['mock-embed'], input: 'fall back', encoding_format: 'float' }, 1);
    assert.equal(response.headers.get('x-modelgate-route'), 'mockup/mock-embed');
    assert.deepEqual(data.data[0].embedding, mockEmbedding(0));
  });

  it('refuses a chat model, saying it serves no embeddings', async () => {
    await assert.rejects(client.embeddings.create({ model: 'mock-chat', input: 'hi' }), (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError, error?.message);
      assert.equal(error.code, 'model_kind_mismatch');
      assert.match(error.message, /'mock-chat' is a chat model and serves no embeddings/);
      return true;
    });
  });

  it('left one ledger row per answered request, priced by its input tokens', async () => {
    const { all: rows, of } = await finalLedger(mock, answered.map(({ id }) => id));
    for (const [i, row] of of.entries()) {
      const { inputs } = answered[i];
      assert.equal(row.status, 200);
      assert.equal(row.route, 'mockup/mock-embed');
      assert.equal(row.prompt_tokens, inputs * TOKENS_PER_INPUT);
      assert.equal(row.completion_tokens, 0);
      assert.ok(Math.abs(row.cost_usd - (inputs * TOKENS_PER_INPUT * MOCK_PRICES.input) / 1e6) < 1e-15, `cost ${row.cost_usd}`);
      assert.match(row.api_key_id, /^key_/);
    }
    const fallback = rows.find((row) => JSON.parse(row.routes_tried).some((attempt) => attempt.route === 'mockup/mock-embed-down'));
    assert.ok(fallback, 'the fallback\'s row lists the route that failed');
    const attempts = JSON.parse(fallback.routes_tried);
    assert.equal(attempts[0].outcome, 'transient', fallback.routes_tried);
    assert.deepEqual(attempts.at(-1), { ...attempts.at(-1), route: 'mockup/mock-embed', outcome: 'ok' });
    assert.equal(rows.filter((row) => row.status === 400).length, 1, 'the refused chat model has its row');
  });
});

describe('OpenAI embeddings on the local engine', () => {
  const local = useV3LocalClient();

  it('refuses with a 400: the engine serves no embeddings', async () => {
    await assert.rejects(local.client.embeddings.create({ model: 'tiny-v3', input: 'hi' }), (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError, error?.message);
      assert.match(error.message, /'tiny-v3' is a chat model and serves no embeddings/);
      return true;
    });
  });
});
