// End-to-end test of the live dashboard: a real gateway with an admin key, real traffic from the
// official `openai` client, then GET /dashboard in Debian's headless chromium (driven by
// playwright-core) with the key in the URL fragment. The page must render the route table and the
// charts from /dashboard/data without a single console error or warning; a full-page screenshot
// lands in $MODELGATE_ARTIFACTS_DIR (or the temp dir) as dashboard.png for a human to look at.
//
// Run alone with:  MODELGATE_BIN=build/release/modelgate node --test tests/e2e/dashboard.test.mjs
// Needs /usr/bin/chromium and node_modules/playwright-core: scripts/install-deps.sh --with-node.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

import { cleanupGateway, startGateway } from './gateway_process.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DASHBOARD_HTML = path.resolve(HERE, '../../gateway/dashboard/dashboard.html');
const CHROMIUM = '/usr/bin/chromium';
const INSTALL_HINT = 'run scripts/install-deps.sh --with-node to install it';
const ADMIN_KEY = 'mgadmin-' + randomBytes(12).toString('hex');
const RENDER_TIMEOUT_MS = 10_000;

// Traffic sent before the page loads, so every chart has something to draw.
const ECHO_REQUESTS = 24;
const ECHO_STREAMS = 12;
const ERROR_REQUESTS = 4;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** playwright-core's chromium launcher, or a failure that says how to install what is missing. */
async function chromiumLauncher() {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: the dashboard test needs Debian's chromium; ${INSTALL_HINT}`);
  try {
    return (await import('playwright-core')).chromium;
  } catch (err) {
    assert.fail(`playwright-core could not be loaded (${err.message}); ${INSTALL_HINT}`);
  }
}

/** Sends echo requests (plain and streamed) and requests to the failing 'error' model, concurrently. */
async function sendTraffic(client) {
  const messages = [{ role: 'user', content: 'hello dashboard' }];
  const plain = Array.from({ length: ECHO_REQUESTS }, () =>
    client.chat.completions.create({ model: 'echo', messages }),
  );
  const streamed = Array.from({ length: ECHO_STREAMS }, async () => {
    const stream = await client.chat.completions.create({
      model: 'echo', messages, stream: true, stream_options: { include_usage: true },
    });
    for await (const chunk of stream) void chunk;  // drain: the request only concludes at [DONE]
  });
  const failing = Array.from({ length: ERROR_REQUESTS }, async () => {
    const err = await client.chat.completions.create({ model: 'error', messages }).then(
      () => assert.fail("model 'error' answered; expected a 503"),
      (e) => e,
    );
    assert.ok(err instanceof OpenAI.APIError, `expected an APIError, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 503);
  });
  await Promise.all([...plain, ...streamed, ...failing]);
}

/** Collects console errors and warnings and uncaught page errors, as text. */
function collectPageProblems(page) {
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      problems.push(`console.${message.type()}: ${message.text()}`);
    }
  });
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  return problems;
}

/** Where the screenshot goes: $MODELGATE_ARTIFACTS_DIR (created if need be) or the temp dir. */
async function screenshotPath() {
  const dir = process.env.MODELGATE_ARTIFACTS_DIR || tmpdir();
  await mkdir(dir, { recursive: true });
  return path.join(dir, 'dashboard.png');
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

describe('live dashboard', () => {
  let gateway;
  let base;

  before(async () => {
    gateway = await startGateway({ fake_provider: { enabled: true }, admin_key: ADMIN_KEY });
    base = `http://127.0.0.1:${gateway.port}`;
    const client = new OpenAI({ apiKey: 'unused', baseURL: `${base}/v1`, maxRetries: 0, timeout: 10_000 });
    await sendTraffic(client);
  });

  after(async () => {
    await cleanupGateway(gateway);
  });

  it('GET /dashboard serves the page byte for byte, without needing the admin key', async () => {
    const response = await fetch(`${base}/dashboard`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /^text\/html/);
    const served = Buffer.from(await response.arrayBuffer());
    const source = await readFile(DASHBOARD_HTML);
    assert.ok(
      served.equals(source),
      `GET /dashboard (${served.length} bytes) differs from gateway/dashboard/dashboard.html ` +
        `(${source.length} bytes): the binary embeds the page at build time, so rebuild it`,
    );
  });

  it('GET /dashboard/data answers 401 with an OpenAI error object without the admin key', async () => {
    for (const headers of [{}, { Authorization: 'Bearer not-the-admin-key' }]) {
      const response = await fetch(`${base}/dashboard/data`, { headers });
      assert.equal(response.status, 401, `with headers ${JSON.stringify(headers)}`);
      const body = await response.json();
      assert.equal(typeof body.error?.message, 'string', `401 body: ${JSON.stringify(body)}`);
    }
    const authorized = await fetch(`${base}/dashboard/data`, { headers: { Authorization: `Bearer ${ADMIN_KEY}` } });
    assert.equal(authorized.status, 200);
    const data = await authorized.json();
    assert.ok(data.routes.some((r) => r.route === 'fake/echo'), 'the data lists the fake/echo route');
  });

  it('renders the routes and charts from live traffic in headless chromium with no console errors', async (t) => {
    const chromium = await chromiumLauncher();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Tests may run as root, where chromium's sandbox refuses to start; containers have a small /dev/shm.
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 2 });
      const problems = collectPageProblems(page);
      await page.goto(`${base}/dashboard#key=${ADMIN_KEY}`);

      const echoRow = page.locator('#routes tbody tr[data-route="fake/echo"]');
      await echoRow.waitFor({ timeout: RENDER_TIMEOUT_MS });
      await page.waitForFunction(
        () => Number(document.querySelector('[data-chart="traffic"]')?.getAttribute('data-points')) > 0,
        null,
        { timeout: RENDER_TIMEOUT_MS },
      );

      // The fake provider charges 1 USD per million prompt tokens and 2 USD per million completion tokens.
      assert.equal(await echoRow.locator('td[data-col="usd-in"]').textContent(), '$1.00');
      assert.equal(await echoRow.locator('td[data-col="usd-out"]').textContent(), '$2.00');
      assert.ok(!page.url().includes(ADMIN_KEY), `the key left the address bar: ${page.url()}`);
      assert.equal(await page.locator('#error').isVisible(), false, 'no error banner');

      const file = await screenshotPath();
      await page.screenshot({ path: file, fullPage: true });
      t.diagnostic(`dashboard screenshot: ${file}`);
      assert.deepEqual(problems, [], 'no console errors or warnings, no uncaught exceptions');
    } finally {
      await browser.close();
    }
  });
});
