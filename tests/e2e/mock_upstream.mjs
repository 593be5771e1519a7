// An upstream on loopback for the end-to-end tests of the gateway's other client APIs (Anthropic
// Messages, OpenAI Responses, embeddings): whatever API the client spoke, the gateway calls this with
// OpenAI's chat completions and embeddings, or, for a provider of the `anthropic` dialect, with
// Anthropic's Messages API (POST /v1/messages), over real HTTP. It records what it was sent.
//
// Models:
//   mock-chat    answers "Hello from the mock upstream" (5 tokens), or calls the first tool when tools
//                are given and the last message is not a tool result, or repeats a tool result;
//   mock-broken  streams one chunk of text, then drops the connection;
//   mock-embed   (embeddings) one vector of 4 numbers per input (the first `dimensions` of them when
//                asked), 3 prompt tokens per input, as numbers or base64 as asked;
//   mock-embed-down  (embeddings) answers 503.
// On /v1/messages (Anthropic's API, its events as its reference gives them), any model answers as
// mock-chat does, with ANTHROPIC_USAGE; mock-broken streams one text delta, then drops the connection.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';

import { after, before } from 'node:test';

import { MODELGATE_BIN, cleanupGateway, registerSecret, startGateway, stopGateway } from './gateway_process.mjs';

export const MOCK_USAGE = { prompt_tokens: 11, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 4 } };
export const MOCK_TEXT = 'Hello from the mock upstream';
export const MOCK_PRICES = { input: 1.0, output: 2.0 };  // USD per million tokens, in the catalogue below
export const ANTHROPIC_USAGE = { input_tokens: 7, cache_read_input_tokens: 4, cache_creation_input_tokens: 2, output_tokens: 5 };

function chatAnswer(request) {
  const last = request.messages.at(-1);
  if (last.role === 'tool') return { text: `The tool said: ${last.content}`, finish: 'stop' };
  if (request.tools?.length && request.tool_choice !== 'none') {
    return { call: { id: 'call_mock_1', name: request.tools[0].function.name, arguments: '{"city":"Paris"}' }, finish: 'tool_calls' };
  }
  return { text: MOCK_TEXT, finish: 'stop' };
}

// The same answers in Anthropic's words: a tool_result block is repeated, tools are called.
function anthropicAnswer(request) {
  const result = request.messages.at(-1).content.find?.((block) => block.type === 'tool_result');
  if (result) return { text: `The tool said: ${result.content.map((block) => block.text).join('')}`, finish: 'end_turn' };
  if (request.tools?.length && request.tool_choice?.type !== 'none') {
    return { call: { id: 'toolu_mock_1', name: request.tools[0].name, input: { city: 'Paris' } }, finish: 'tool_use' };
  }
  return { text: MOCK_TEXT, finish: 'end_turn' };
}

function anthropicEvent(res, type, fields) {
  res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`);
}

function anthropicMessages(res, request) {
  const answer = anthropicAnswer(request);
  const message = { id: 'msg_mock', type: 'message', role: 'assistant', model: request.model };
  const block = answer.call ? { type: 'tool_use', ...answer.call } : { type: 'text', text: answer.text };
  if (!request.stream) {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    return res.end(JSON.stringify({ ...message, content: [block], stop_reason: answer.finish, stop_sequence: null, usage: ANTHROPIC_USAGE }));
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  const { output_tokens: outputTokens, ...inputUsage } = ANTHROPIC_USAGE;
  anthropicEvent(res, 'message_start', { message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { ...inputUsage, output_tokens: 1 } } });
  anthropicEvent(res, 'content_block_start', { index: 0, content_block: answer.call ? { ...block, input: {} } : { type: 'text', text: '' } });
  anthropicEvent(res, 'ping', {});
  if (request.model === 'mock-broken') {
    anthropicEvent(res, 'content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Half an answer' } });
    return setTimeout(() => res.socket.destroy(), 50);
  }
  const pieces = answer.call ? ['{"city":', ' "Paris"}'] : answer.text.split(/(?= )/);
  for (const piece of pieces) {
    const delta = answer.call ? { type: 'input_json_delta', partial_json: piece } : { type: 'text_delta', text: piece };
    anthropicEvent(res, 'content_block_delta', { index: 0, delta });
  }
  anthropicEvent(res, 'content_block_stop', { index: 0 });
  anthropicEvent(res, 'message_delta', { delta: { stop_reason: answer.finish, stop_sequence: null }, usage: { output_tokens: outputTokens } });
  anthropicEvent(res, 'message_stop', {});
  return res.end();
}

function chunk(model, delta, finish = null, extra = {}) {
  return `data: ${JSON.stringify({ id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1, model,
                                   choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
}

function streamAnswer(res, request, answer) {
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  const { model } = request;
  if (answer.call) {
    const { id, name, arguments: args } = answer.call;
    res.write(chunk(model, { role: 'assistant', tool_calls: [{ index: 0, id, type: 'function', function: { name, arguments: '' } }] }));
    res.write(chunk(model, { tool_calls: [{ index: 0, function: { arguments: args.slice(0, 8) } }] }));
    res.write(chunk(model, { tool_calls: [{ index: 0, function: { arguments: args.slice(8) } }] }));
  } else {
    const words = answer.text.split(/(?= )/);
    words.forEach((word, i) => res.write(chunk(model, i === 0 ? { role: 'assistant', content: word } : { content: word })));
  }
  res.write(chunk(model, {}, answer.finish));
  res.write(`data: ${JSON.stringify({ id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1, model, choices: [], usage: MOCK_USAGE })}\n\n`);
  res.end('data: [DONE]\n\n');
}

function wholeAnswer(res, request, answer) {
  const message = answer.call
    ? { role: 'assistant', content: null, tool_calls: [{ id: answer.call.id, type: 'function', function: { name: answer.call.name, arguments: answer.call.arguments } }] }
    : { role: 'assistant', content: answer.text };
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ id: 'chatcmpl-mock', object: 'chat.completion', created: 1, model: request.model,
                           choices: [{ index: 0, message, finish_reason: answer.finish }], usage: MOCK_USAGE }));
}

/** The vector mock-embed answers for the input at `index`. */
export function mockEmbedding(index, dimensions = 4) {
  return [0.5, -0.25, 0.125 * (index + 1), 1].slice(0, dimensions);
}

function embeddings(res, request) {
  if (request.model === 'mock-embed-down') {
    res.writeHead(503, { 'Content-Type': 'application/json' });
    return res.end(JSON.stringify({ error: { message: 'embedding model overloaded', type: 'server_error' } }));
  }
  const single = typeof request.input === 'string' || typeof request.input[0] === 'number';
  const inputs = single ? [request.input] : request.input;
  const encode = (vector) => request.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
  const data = inputs.map((_, i) => ({ object: 'embedding', index: i, embedding: encode(mockEmbedding(i, request.dimensions)) }));
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ object: 'list', model: request.model, data, usage: { prompt_tokens: 3 * inputs.length, total_tokens: 3 * inputs.length } }));
}

/** Starts the mock; resolves with {server, port, requests} once it listens. */
export async function startMockUpstream() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (data) => { body += data; });
    req.on('end', () => {
      const request = JSON.parse(body);
      requests.push({ path: req.url, headers: req.headers, body: request });
      if (req.url.endsWith('/embeddings')) return embeddings(res, request);
      if (req.url.endsWith('/messages')) return anthropicMessages(res, request);
      if (request.model === 'mock-broken') {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.write(chunk(request.model, { role: 'assistant', content: 'Half an answer' }));
        return setTimeout(() => res.socket.destroy(), 50);
      }
      const answer = chatAnswer(request);
      return request.stream ? streamAnswer(res, request, answer) : wholeAnswer(res, request, answer);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: server.address().port, requests };
}

const CSV_HEADER = 'model,provider,upstream_model,usd_per_mtok_input,usd_per_mtok_output,context_length,quantization,' +
                   'published_ttft_ms,published_throughput_tok_s,supports_tools,supports_json,enabled,base_url,api_key_env,kind';

/** Imports routes to the mock (provider `provider`) for `models` into the gateway's database; mock-embed* are embedding models. */
export async function importMockRoutes({ dir, db }, port, models = ['mock-chat', 'mock-broken'], provider = 'mockup') {
  const rows = models.map((model) => {
    const kind = model.startsWith('mock-embed') ? 'embedding' : 'chat';
    return `${model},${provider},${model},${MOCK_PRICES.input},${MOCK_PRICES.output},32768,,,,true,true,true,http://127.0.0.1:${port}/v1,,${kind}`;
  });
  await writeFile(path.join(dir, 'mock-routes.csv'), [CSV_HEADER, ...rows].join('\n') + '\n');
  execFileSync(MODELGATE_BIN, ['catalogue', '--db', db, 'import', path.join(dir, 'mock-routes.csv')]);
}

/** Creates a client key in the gateway's database; returns the key. */
export function createClientKey(db, name = 'e2e') {
  const created = execFileSync(MODELGATE_BIN, ['keys', '--db', db, 'create', '--name', name], { encoding: 'utf8' });
  return created.trim().split('\n')[1];
}

/** Stops the mock's gateway, which flushes its ledger; returns every ledger row (`all`) and the rows of
 *  `requestIds` in their order (`of`), asserting that each has one. */
export async function finalLedger(mock, requestIds) {
  await stopGateway(mock.gateway);
  const all = ledgerRows(mock.gateway.db);
  const byId = new Map(all.map((row) => [row.request_id, row]));
  const of = requestIds.map((id) => {
    assert.ok(byId.has(id), `a row for ${id}`);
    return byId.get(id);
  });
  return { all, of };
}

/** The ledger's rows (these columns of each), read with Python's sqlite3 (Debian's python3, which the engine's oracles need too). */
export function ledgerRows(db, columns = ['request_id', 'route', 'status', 'prompt_tokens', 'completion_tokens', 'cost_usd', 'error_code', 'api_key_id',
                                          'routes_tried']) {
  const script = `
import json, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("select ${columns.join(', ')} from usage_ledger order by rowid").fetchall()
print(json.dumps([dict(zip(${JSON.stringify(columns)}, r)) for r in rows]))`;
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, db], { encoding: 'utf8' }));
}

/** In a describe(): the mock upstream, and a gateway started with `config` whose routes to the mock serve
 *  `models` and whose database holds a client key, for its tests. Read `.upstream`, `.gateway`, `.key` and
 *  `.url` (the gateway's) once the tests run. */
export function useMockGateway(config, models, provider) {
  const mock = {};
  before(async () => {
    mock.upstream = await startMockUpstream();
    mock.gateway = await startGateway(config, {
      beforeStart: async (paths) => {
        await importMockRoutes(paths, mock.upstream.port, models, provider);
        mock.key = createClientKey(paths.db);
        registerSecret(mock.key);
      },
    });
    mock.url = `http://127.0.0.1:${mock.gateway.port}`;
  });
  after(async () => {
    if (mock.gateway) await stopGateway(mock.gateway);
    await cleanupGateway(mock.gateway);
    mock.upstream?.server.close();
  });
  return mock;
}
