// The `modelgate` command line as a user meets it: start on embedded defaults, health and model list,
// --help on every subcommand, usage errors, and clean start-up failures.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

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

  for (const args of [['--help'], ['help'], ['serve', '--help']]) {
    it(`${args.join(' ')} prints usage and exits 0`, () => {
      const result = run(args);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /^Usage: modelgate/);
    });
  }

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
});
