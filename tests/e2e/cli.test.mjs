// The `modelgate` command line as a user meets it: start on embedded defaults, health and model list,
// --help on every subcommand, usage errors, clean start-up failures, and the local engine's
// synth-model and generate.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { cleanupGateway, MODELGATE_BIN, startGateway, stopGateway } from './gateway_process.mjs';

function run(args) {
  return spawnSync(MODELGATE_BIN, args, { encoding: 'utf8', timeout: 10_000 });
}

describe('modelgate CLI', () => {
  it('serve on defaults starts in under 1 s and answers /health, /ready and /v1/models', async () => {
    const gateway = await startGateway();
    try {
      assert.ok(gateway.startupMs < 1000, `started in ${gateway.startupMs.toFixed(0)} ms`);
      const base = `http://127.0.0.1:${gateway.port}`;
      const health = await fetch(`${base}/health`);
      assert.equal(health.status, 200);
      assert.equal((await health.json()).status, 'ok');
      assert.equal((await fetch(`${base}/ready`)).status, 200);
      const models = await fetch(`${base}/v1/models`);
      assert.equal(models.status, 200);
      assert.match(models.headers.get('content-type'), /^application\/json/);
      const list = await models.json();
      assert.equal(list.object, 'list');
      assert.ok(Array.isArray(list.data));
      assert.deepEqual(await stopGateway(gateway), { code: 0, signal: null });
    } finally {
      await cleanupGateway(gateway);
    }
  });

  for (const args of [['--help'], ['help'], ['serve', '--help'], ['synth-model', '--help'], ['generate', '--help'], ['bench', '--help'],
                     ['keys', '--help'], ['usage', '--help']]) {
    it(`${args.join(' ')} prints usage and exits 0`, () => {
      const result = run(args);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /^Usage: modelgate/);
    });
  }

  it('without API keys it serves loopback openly and warns when it listens beyond it', async () => {
    const local = await startGateway();
    const open = await startGateway(null, { listen: '0.0.0.0' });
    try {
      assert.match(local.stderr, /info no API keys yet: serving 127\.0\.0\.1 without authentication/);
      assert.match(open.stderr, /warn no API keys yet and listening on 0\.0\.0\.0: anyone who can reach it may use the gateway/);
      const answer = await fetch(`http://127.0.0.1:${open.port}/v1/models`);
      assert.equal(answer.status, 200);
    } finally {
      await stopGateway(local);
      await stopGateway(open);
      await cleanupGateway(local);
      await cleanupGateway(open);
    }
  });

  it('keys create, list and revoke, and usage, print readable tables', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'modelgate-keys-'));
    const db = path.join(dir, 'keys.db');
    try {
      const created = run(['keys', '--db', db, 'create', '--name', 'team-a', '--budget-day', '2.5', '--rpm', '60', '--models', 'echo,slow']);
      assert.equal(created.status, 0, created.stderr);
      const [line, key] = created.stdout.trim().split('\n');
      const id = line.match(/^created (key_[0-9a-f]{12}) \(team-a\)$/)[1];
      assert.match(key, new RegExp(`^mgk_${id.slice(4)}_[0-9a-f]{48}$`));
      assert.match(created.stderr, /only its SHA-256 is stored/);
      const listed = run(['keys', '--db', db, 'list']);
      assert.equal(listed.status, 0, listed.stderr);
      const [header, row] = listed.stdout.split('\n');
      assert.match(header, /^ID +NAME +CREATED \(UTC\) +STATE +TODAY \$ \/ BUDGET/);
      assert.match(row, new RegExp(`^${id} +team-a +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d +active +0 / 2\\.5 +0 / - +0 / - +60 +- +echo,slow$`));
      assert.ok(!listed.stdout.includes(key), 'the list never shows a key');
      assert.equal(run(['keys', '--db', db, 'revoke', id]).status, 0);
      assert.match(run(['keys', '--db', db, 'list']).stdout, new RegExp(`${id} +team-a +\\S+ \\S+ +revoked`));
      assert.equal(run(['keys', '--db', db, 'revoke', id]).status, 1);
      const badRate = run(['keys', '--db', db, 'create', '--rpm', '0']);
      assert.equal(badRate.status, 2);
      assert.match(badRate.stderr, /--rpm: 'requests_per_minute' must be/);
      const usage = run(['usage', '--db', db, '--group-by', 'day']);
      assert.equal(usage.status, 0, usage.stderr);
      assert.match(usage.stdout, /^DAY \(UTC\) +REQUESTS +FAILED +PROMPT TOK +COMPLETION TOK +COST \$ +AVG TTFT ms +AVG DURATION ms\n0 requests, \$0\n$/);
      assert.equal(run(['usage', '--db', db, '--group-by', 'week']).status, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('version prints the version', () => {
    const result = run(['version']);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /^modelgate \d+\.\d+\.\d+/);
  });

  it('unknown subcommands and options are usage errors (exit 2) that say what was wrong', () => {
    const subcommand = run(['frobnicate']);
    assert.equal(subcommand.status, 2);
    assert.match(subcommand.stderr, /unknown subcommand 'frobnicate'/);
    const option = run(['serve', '--listen']);
    assert.equal(option.status, 2);
    assert.match(option.stderr, /option --listen needs a value/);
    const threads = run(['serve', '--threads', '0']);
    assert.equal(threads.status, 2);
    assert.match(threads.stderr, /--threads must be a whole number from 1 to 1024; got '0'/);
  });

  it('a bad config file or an unusable database stops start-up with a clear error (exit 1 or 2)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'modelgate-cli-'));
    try {
      const config = run(['serve', '--config', path.join(dir, 'missing.json')]);
      assert.equal(config.status, 2);
      assert.match(config.stderr, /cannot read config file/);
      const db = run(['serve', '--listen', '127.0.0.1:0', '--db', path.join(dir, 'no', 'such', 'dir', 'x.db')]);
      assert.equal(db.status, 1);
      assert.match(db.stderr, /cannot open database/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('synth-model writes a model that generate runs, raw and in the chat template, the same twice with a seed', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'modelgate-engine-'));
    const vocab = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'local_engine', 'data', 'mistral_tokenizer', 'tokenizer.model.v1');
    const model = path.join(dir, 'tiny.gguf');
    try {
      const synth = run(['synth-model', '--shape', 'tiny-mistral', '--type', 'Q8_0', '--vocab', vocab, '--out', model]);
      assert.equal(synth.status, 0, synth.stderr);
      assert.match(synth.stdout, /wrote .*tiny\.gguf: tiny-mistral, Q8_0/);
      const generate = (...extra) => run(['generate', '--model', model, '--prompt', 'Hello there', '--max-tokens', '12', '--seed', '3', ...extra]);
      const first = generate();
      assert.equal(first.status, 0, first.stderr);
      assert.ok(first.stdout.trim().length > 0);
      assert.equal(generate().stdout, first.stdout);
      assert.match(first.stderr, /generated: 12 tokens in .* tokens\/s\); finish: length/);
      const chat = generate('--chat', '--system', 'Answer briefly.');
      assert.equal(chat.status, 0, chat.stderr);
      assert.match(chat.stderr, /chat template: Mistral v1/);
      const bench = run(['bench', '--model', model, '--threads', '2', '--pp', '16', '--tg', '4', '--repetitions', '1', '--json']);
      assert.equal(bench.status, 0, bench.stderr);
      const figures = JSON.parse(bench.stdout);
      assert.equal(figures.threads, 2);
      assert.ok(figures.pp_tok_s > 0 && figures.tg_tok_s > 0 && figures.model_bytes > 0 && figures.bandwidth_gb_s > 0, bench.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('generate refuses a file that is not a model, saying why (exit 1)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'modelgate-engine-'));
    try {
      const junk = path.join(dir, 'junk.gguf');
      writeFileSync(junk, 'definitely not a model');
      const result = run(['generate', '--model', junk, '--prompt', 'x']);
      assert.equal(result.status, 1);
      assert.match(result.stderr, /not a GGUF file/);
      const missing = run(['generate', '--prompt', 'x']);
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /--model is required/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
