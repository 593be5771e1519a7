// A restart under load: a second modelgate starts on the same port with --reuse-port (SO_REUSEPORT) and
// the same database, the first gets SIGTERM and finishes its streams. Clients (the official openai client,
// keep-alive connections, streaming and not) see no failed request, and the ledger has one row for each.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import OpenAI from 'openai';

import { cleanupGateway, startGateway, stopGateway } from './gateway_process.mjs';

const CONFIG = {
  reuse_port: true,
  fake_provider: { enabled: true, slow_first_token_ms: 150, slow_between_tokens_ms: 40 },
  local: { enabled: false },
};
const WORKERS = 8;        // the openai client: keep-alive connections, streaming and not
const FRESH_WORKERS = 16;  // a new connection for every request: these land in the listeners' accept queues
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts what happens below the SDK: attempts that failed without an HTTP answer (the SDK retries those). */
function countingFetch(stats) {
  return async (...args) => {
    stats.attempts += 1;
    try {
      return await fetch(...args);
    } catch (error) {
      stats.connectionErrors += 1;
      throw error;
    }
  };
}

async function oneRequest(client, worker, index) {
  const text = `worker ${worker} request ${index}`;
  if (index % 2 === 0) {
    const answer = await client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: text }] });
    assert.equal(answer.choices[0].message.content, `You said: ${text}`);
    return;
  }
  // Streams from the slow model last ~0.4 s, so some are always in flight when the old gateway drains.
  const stream = await client.chat.completions.create({ model: 'slow', stream: true, messages: [{ role: 'user', content: text }] });
  let content = '';
  for await (const chunk of stream) content += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(content, `You said: ${text}`, 'the whole stream arrived');
}

/** One request on a connection of its own (no keep-alive agent); resolves with the HTTP status. */
function freshConnectionRequest(port, text) {
  const body = JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: text }] });
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', agent: false,
                                   headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
                                 (response) => {
                                   let answer = '';
                                   response.on('data', (chunk) => { answer += chunk; });
                                   response.on('end', () => resolve({ status: response.statusCode, answer }));
                                 });
    request.on('error', reject);
    request.end(body);
  });
}

function ledgerRowCount(db) {
  return Number(execFileSync('sqlite3', [db, 'SELECT COUNT(*) FROM usage_ledger']).toString().trim());
}

function accessLogLines(gateway) {
  return readFileSync(gateway.accessLog, 'utf8').split('\n').filter(Boolean).length;
}

test('a restart on a shared port fails no request and loses no ledger row', { timeout: 60_000 }, async () => {
  const old = await startGateway(CONFIG);
  let next;
  try {
    const stats = { attempts: 0, connectionErrors: 0, completed: 0, failures: [] };
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${old.port}/v1`, apiKey: 'unused', fetch: countingFetch(stats) });
    let running = true;
    const workers = Array.from({ length: WORKERS }, async (_, worker) => {
      for (let index = 0; running; index += 1) {
        try {
          await oneRequest(client, worker, index);
          stats.completed += 1;
        } catch (error) {
          stats.failures.push(`${worker}/${index}: ${error.message}`);
        }
      }
    });
    const freshWorkers = Array.from({ length: FRESH_WORKERS }, async (_, worker) => {
      for (let index = 0; running; index += 1) {
        try {
          stats.attempts += 1;
          const { status, answer } = await freshConnectionRequest(old.port, `fresh ${worker}/${index}`);
          assert.equal(status, 200, answer);
          stats.completed += 1;
        } catch (error) {
          stats.failures.push(`fresh ${worker}/${index}: ${error.message}`);
        }
      }
    });

    await sleep(800);
    next = await startGateway(CONFIG, { port: old.port, db: old.db });
    await sleep(300);  // both listen: the newer one takes the new connections
    const completedBeforeStop = stats.completed;
    const exit = await stopGateway(old);
    assert.deepEqual(exit, { code: 0, signal: null }, `the old gateway drained and exited cleanly:\n${old.stderr}`);
    await sleep(800);  // the new one alone
    running = false;
    await Promise.all([...workers, ...freshWorkers]);

    console.log(`restart: ${stats.completed} requests (${completedBeforeStop} before SIGTERM), ` +
                `${stats.attempts} HTTP attempts, ${stats.connectionErrors} connection errors retried by the client`);
    assert.deepEqual(stats.failures, [], 'no request failed');
    assert.ok(stats.completed > completedBeforeStop, 'requests kept completing through the restart');
    assert.ok(accessLogLines(old) > 0 && accessLogLines(next) > 0, 'both gateways answered');

    assert.deepEqual(await stopGateway(next), { code: 0, signal: null });
    // A row for each request each gateway answered; none lost in the hand-over.
    assert.equal(ledgerRowCount(old.db), accessLogLines(old) + accessLogLines(next));
    assert.equal(ledgerRowCount(old.db), stats.attempts - stats.connectionErrors);
  } finally {
    await cleanupGateway(next);
    await cleanupGateway(old);
  }
});
