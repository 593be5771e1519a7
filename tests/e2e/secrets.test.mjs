// Secrets stay secret: an admin key, client API keys, and two upstream keys (one from the environment,
// one from the config file) are all in play, against a hostile upstream that quotes the key it was sent
// in its errors, whole and mid-stream. No answer to a client carries an upstream's key, and neither the
// gateway's log, its access log nor its ledger holds any of the secrets. (The suite's last test greps
// every log of every gateway the suite started for every secret its tests configured.)

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import OpenAI from 'openai';

import { MODELGATE_BIN, cleanupGateway, registerSecret, startGateway, stopGateway } from './gateway_process.mjs';

const secret = (prefix) => `${prefix}-${randomBytes(16).toString('hex')}`;
const ADMIN_KEY = secret('admin');
const ENV_UPSTREAM_KEY = secret('sk-env');
const CONFIG_UPSTREAM_KEY = secret('sk-config');
const CSV_HEADER = 'model,provider,upstream_model,usd_per_mtok_input,usd_per_mtok_output,context_length,quantization,' +
                   'published_ttft_ms,published_throughput_tok_s,supports_tools,supports_json,enabled,base_url,api_key_env';

/** An OpenAI-compatible upstream that quotes the Authorization header it got in its errors. */
function startHostileUpstream(seenKeys) {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const auth = req.headers.authorization || '';
      seenKeys.add(auth.replace(/^Bearer /, ''));
      const model = JSON.parse(body).model;
      if (model === 'fine') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 1, model, choices: [
          { index: 0, message: { role: 'assistant', content: 'fine' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }));
      }
      if (model === 'leaky-stream') {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model,
                                             choices: [{ index: 0, delta: { role: 'assistant', content: 'partial' }, finish_reason: null }] })}\n\n`);
        return res.end(`data: ${JSON.stringify({ error: { message: `key ${auth} was rejected mid-stream` } })}\n\n`);
      }
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${auth}`, type: 'invalid_request_error' } }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function ledgerText(db) {
  return execFileSync('/usr/bin/python3', ['-c',
    'import sqlite3, sys; print(repr(sqlite3.connect(sys.argv[1]).execute("select * from usage_ledger").fetchall()))', db], { encoding: 'utf8' });
}

describe('secrets in the logs', () => {
  let upstream;
  let gateway;
  let clientKey;
  const seenKeys = new Set();
  const answers = [];

  before(async () => {
    upstream = await startHostileUpstream(seenKeys);
    const base = `http://127.0.0.1:${upstream.address().port}/v1`;
    process.env.HOSTILE_UPSTREAM_KEY = ENV_UPSTREAM_KEY;  // the gateway inherits it
    registerSecret(ENV_UPSTREAM_KEY);
    const prepare = async ({ dir, db }) => {
      const rows = [CSV_HEADER];
      for (const model of ['leaky', 'leaky-stream', 'fine']) {
        rows.push(`${model},hostile-env,${model},0.1,0.1,8192,,,,false,false,true,${base},HOSTILE_UPSTREAM_KEY`);
        rows.push(`${model},hostile-config,${model},0.2,0.2,8192,,,,false,false,true,${base},`);
      }
      await writeFile(path.join(dir, 'routes.csv'), rows.join('\n') + '\n');
      execFileSync(MODELGATE_BIN, ['catalogue', '--db', db, 'import', path.join(dir, 'routes.csv')]);
    };
    gateway = await startGateway({
      admin_key: ADMIN_KEY,
      providers: { 'hostile-config': { api_key: CONFIG_UPSTREAM_KEY } },
      routing: { retries_per_route: 0, backoff_initial_ms: 5, backoff_max_ms: 10 },
      local: { enabled: false },
    }, { beforeStart: prepare });
    const created = await fetch(`http://127.0.0.1:${gateway.port}/admin/keys`, {
      method: 'POST', headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' }, body: '{"name":"tester"}' });
    assert.equal(created.status, 201);
    clientKey = (await created.json()).key;
    registerSecret(clientKey);
  });

  after(async () => {
    if (gateway) await stopGateway(gateway);
    await cleanupGateway(gateway);
    upstream?.close();
  });

  it('answers clients without an upstream key in any error', async () => {
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${gateway.port}/v1`, apiKey: clientKey, maxRetries: 0 });
    const fine = await client.chat.completions.create({ model: 'fine', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(fine.choices[0].message.content, 'fine');
    for (let i = 0; i < 3; ++i) {
      const failed = await client.chat.completions.create({ model: 'leaky', messages: [{ role: 'user', content: 'hi' }] })
        .then(() => assert.fail('an upstream that refuses every key cannot answer'), (error) => error);
      answers.push(JSON.stringify(failed.error ?? failed.message));
      assert.match(answers.at(-1), /\[redacted\]/);
    }
    const stream = await client.chat.completions.create({ model: 'leaky-stream', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const streamed = await (async () => {
      try { for await (const chunk of stream) answers.push(JSON.stringify(chunk)); } catch (error) { return error; }
      return null;
    })();
    assert.ok(streamed, 'the in-band error ends the stream');
    answers.push(String(streamed.message), JSON.stringify(streamed.error ?? ''));
    const wrongKey = new OpenAI({ baseURL: `http://127.0.0.1:${gateway.port}/v1`, apiKey: ADMIN_KEY, maxRetries: 0 });
    const refused = await wrongKey.chat.completions.create({ model: 'fine', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
    assert.equal(refused.status, 401);
    answers.push(JSON.stringify(refused.error));
    for (const answer of answers) {
      for (const key of [ENV_UPSTREAM_KEY, CONFIG_UPSTREAM_KEY, ADMIN_KEY]) assert.ok(!answer.includes(key), `an answer quotes a secret: ${answer}`);
    }
    assert.ok(seenKeys.has(ENV_UPSTREAM_KEY) && seenKeys.has(CONFIG_UPSTREAM_KEY), 'both upstream keys were sent upstream');
  });

  it('leaves no secret in the log, the access log or the ledger', async () => {
    await stopGateway(gateway);  // flushes the ledger and the access log
    const accessLog = await readFile(gateway.accessLog, 'utf8');
    const requests = accessLog.split('\n').filter((line) => line.includes('"event":"request"'));
    assert.ok(requests.length >= 6, `one access log line per request; got ${requests.length}`);
    assert.ok(requests.some((line) => line.includes('"status":401')));
    const places = { log: gateway.stderr, 'access log': accessLog, ledger: ledgerText(gateway.db) };
    assert.ok(places.log.includes('listening on'), 'the log was captured');
    for (const [where, text] of Object.entries(places)) {
      for (const key of [ADMIN_KEY, ENV_UPSTREAM_KEY, CONFIG_UPSTREAM_KEY, clientKey]) {
        assert.ok(!text.includes(key), `the ${where} holds the secret ${key.slice(0, 8)}...`);
      }
    }
  });
});
