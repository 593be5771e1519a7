// Starting and stopping a real `modelgate serve` process for the end-to-end tests.
// The binary is $MODELGATE_BIN, or ../../build/release/modelgate relative to this file.

import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const MODELGATE_BIN =
  process.env.MODELGATE_BIN || path.resolve(HERE, '../../build/release/modelgate');

const STARTUP_TIMEOUT_MS = 10_000;

// Under ctest every gateway's log and access log go to the suite's log folder, and the secrets the tests
// configure are listed there; the suite's last test greps every log for every secret.
const LOG_DIR = process.env.MODELGATE_TEST_LOG_DIR || '';
let gatewaysStarted = 0;

/** Lists `secret` for the suite's last test (tests/support/logs_carry_no_secrets.py). */
export function registerSecret(secret) {
  if (!LOG_DIR || !secret) return;
  mkdirSync(LOG_DIR, { recursive: true });
  appendFileSync(path.join(LOG_DIR, 'secrets.txt'), `${secret}\n`);
}

/** Where this gateway's access log goes: the suite's folder under ctest, else the gateway's own directory. */
function accessLogPath(dir) {
  if (!LOG_DIR) return path.join(dir, 'access.log');
  mkdirSync(LOG_DIR, { recursive: true });
  return path.join(LOG_DIR, `e2e-${process.pid}-${gatewaysStarted}.access.log`);
}

function registerConfiguredSecrets(config) {
  registerSecret(config.admin_key);
  for (const provider of Object.values(config.providers || {})) registerSecret(provider.api_key);
}
const SHUTDOWN_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------
// Gateway process helpers
// ---------------------------------------------------------------------------

/**
 * Starts `modelgate serve` on an ephemeral port (of `listen`, 127.0.0.1 by
 * default) with a fresh database in a temporary directory, with `config` (if
 * given; or a function of {dir, db} returning it) as its --config file, after
 * `beforeStart({dir, db})`. `port` and `db` (an existing database) let a second gateway share the first's,
 * as a restart does.
 * Resolves once the "listening" line has appeared on stderr.
 */
export async function startGateway(config = null, { beforeStart, listen = '127.0.0.1', port = 0, db: sharedDb } = {}) {
  if (!existsSync(MODELGATE_BIN)) {
    throw new Error(
      `modelgate binary not found at ${MODELGATE_BIN}; build it or set MODELGATE_BIN`,
    );
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'modelgate-e2e-'));
  const db = sharedDb || path.join(dir, 'e2e.db');
  // A chance to prepare the directory and the database (say, a catalogue import) before the start.
  if (beforeStart) await beforeStart({ dir, db });
  const args = ['serve', '--listen', `${listen}:${port}`, '--db', db];
  if (typeof config === 'function') config = config({ dir, db });  // a config that names files in `dir`
  config = { access_log: accessLogPath(dir), ...(config || {}) };
  registerConfiguredSecrets(config);
  const configPath = path.join(dir, 'config.json');
  await writeFile(configPath, JSON.stringify(config));
  args.push('--config', configPath);
  const startedAt = performance.now();
  const child = spawn(MODELGATE_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });

  const gateway = { child, dir, db, port: undefined, stderr: '', exited: undefined, startupMs: undefined,
                    accessLog: config.access_log, number: gatewaysStarted++ };
  gateway.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text) => {
    gateway.stderr += text;
  });

  try {
    gateway.port = await waitForListeningPort(gateway);
    gateway.startupMs = performance.now() - startedAt;
  } catch (err) {
    await cleanupGateway(gateway);
    throw err;
  }
  return gateway;
}

/** Waits for the "listening on" line on stderr and returns the port it names. */
function waitForListeningPort(gateway) {
  const { child } = gateway;
  return new Promise((resolve, reject) => {
    const listening = /modelgate listening on http:\/\/[^ ]+:(\d+) \(/;
    const done = (fn, value) => {
      clearTimeout(timer);
      child.stderr.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      fn(value);
    };
    const onData = () => {
      const match = listening.exec(gateway.stderr);
      if (match) done(resolve, Number(match[1]));
    };
    const onExit = (code, signal) =>
      done(
        reject,
        new Error(
          `modelgate exited during startup (code ${code}, signal ${signal}); stderr:\n${gateway.stderr}`,
        ),
      );
    const onError = (err) => done(reject, new Error(`could not spawn ${MODELGATE_BIN}: ${err.message}`));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done(
        reject,
        new Error(
          `modelgate did not log "modelgate listening on http://HOST:PORT (" within ` +
            `${STARTUP_TIMEOUT_MS} ms; stderr so far:\n${gateway.stderr}`,
        ),
      );
    }, STARTUP_TIMEOUT_MS);
    child.stderr.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/** Resolves with {code, signal} once the process exits, or null after timeoutMs. */
function waitForExit(gateway, timeoutMs) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  return Promise.race([gateway.exited, timeout]).finally(() => clearTimeout(timer));
}

export function isRunning(gateway) {
  const { child } = gateway;
  // pid is undefined when the spawn itself failed.
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** Sends SIGTERM and waits (bounded) for the process to exit. */
export async function stopGateway(gateway) {
  gateway.child.kill('SIGTERM');
  return waitForExit(gateway, SHUTDOWN_TIMEOUT_MS);
}

/** Last-resort cleanup: make sure no process is left behind, remove the temp dir. */
export async function cleanupGateway(gateway) {
  if (!gateway) return;
  if (isRunning(gateway)) {
    gateway.child.kill('SIGKILL');
    await waitForExit(gateway, SHUTDOWN_TIMEOUT_MS);
  }
  if (LOG_DIR) await writeFile(path.join(LOG_DIR, `e2e-${process.pid}-${gateway.number}.log`), gateway.stderr);
  await rm(gateway.dir, { recursive: true, force: true });
}

