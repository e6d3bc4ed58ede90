/**
 * The operator console in a real browser (Debian's Chromium, headless, driven by playwright-core;
 * scripts/browser.sh installs it) against an embedded engine with ADMIN_TOKEN: the token prompt,
 * a BLOCK in the live feed within 2 s of its event, the user's profile, events and decisions with
 * reasons, the cluster (instances, every shard with its owner) and rules views. Screenshots go to test-artifacts/console/.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { chromium, type Page } from 'playwright-core';
import { freePort } from '../helpers/child.ts';
import { CLI } from '../helpers/cliCommand.ts';

const TOKEN = 'console-test-token-0123456789';
const SHOTS = 'test-artifacts/console';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

async function startEmbedded() {
  const port = await freePort();
  const env: Record<string, string | undefined> = { ...process.env, DATA_DIR: mkdtempSync(join(tmpdir(), 'risk-console-')), ADMIN_PORT: String(port), ADMIN_TOKEN: TOKEN, INSTANCE_ID: 'console-test', LOG_LEVEL: 'info' };
  delete env.KAFKA_BROKERS;
  delete env.CONFIG_FILE;
  const proc = spawn(process.execPath, [...CLI, 'start'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: string[] = [];
  const started = new Promise<void>((resolve, reject) => {
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      lines.push(line);
      if (line.includes('"msg":"risk-engine started"')) resolve();
    });
    proc.on('exit', (code) => reject(new Error(`engine exited ${code} before it started:\n${lines.slice(-20).join('\n')}`)));
  });
  await started;
  const exited = new Promise<number | null>((resolve) => proc.on('exit', resolve));
  return { url: `http://127.0.0.1:${port}`, stop: async () => { proc.kill('SIGTERM'); return exited; } };
}

async function send(url: string, events: Record<string, unknown>[]): Promise<void> {
  const res = await fetch(`${url}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${TOKEN}` },
    body: events.map((e) => JSON.stringify(e)).join('\n'),
  });
  if (res.status !== 202) throw new Error(`POST /events answered ${res.status}: ${await res.text()}`);
  const answer = (await res.json()) as { rejected: number; results: unknown[] };
  if (answer.rejected) throw new Error(`events rejected: ${JSON.stringify(answer.results)}`);
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

test('console: token prompt, live BLOCK within 2 s, user with decisions and reasons, cluster and rules', async (t) => {
  mkdirSync(SHOTS, { recursive: true });
  const engine = await startEmbedded();
  t.teardown(async () => void (await engine.stop()));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const requests: { url: string; authorization: string | undefined }[] = [];
  page.on('request', (r) => requests.push({ url: r.url(), authorization: r.headers().authorization }));
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  const userId = `u-console-${randomUUID().slice(0, 8)}`;
  const now = Date.now();
  await send(engine.url, [
    { eventId: `${userId}-1`, userId, eventType: 'login', timestamp: now - 60_000, deviceId: 'd-1', country: 'DE' },
    { eventId: `${userId}-2`, userId, eventType: 'payment', timestamp: now - 30_000, amount: '42.50', deviceId: 'd-1', country: 'DE' },
  ]);

  // The token prompt: a wrong token is refused, the right one opens the console.
  await page.goto(`${engine.url}/`);
  const tokenField = page.getByLabel('admin token');
  await tokenField.waitFor({ timeout: 10_000 });
  await shot(page, '1-token-prompt');
  await tokenField.fill('wrong-token-0123456789');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('That token was refused.').waitFor({ timeout: 5000 });
  await tokenField.fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: /^Live/ }).waitFor({ timeout: 5000 });
  t.is(await page.getByTestId('instance').textContent(), 'console-test');

  // Live feed: a BLOCK appears within 2 s of sending its event.
  await page.getByRole('button', { name: /^Live/ }).click();
  await page.getByTestId('feed-status').getByText('live').waitFor({ timeout: 10_000 });
  const blockId = `${userId}-3`;
  const sentAt = Date.now();
  await send(engine.url, [{ eventId: blockId, userId, eventType: 'transfer', timestamp: Date.now(), amount: '25000', deviceId: 'd-1', country: 'DE' }]);
  const item = page.getByTestId('feed').locator('li', { hasText: blockId });
  await item.waitFor({ timeout: 2000 });
  const shownAfter = Date.now() - sentAt;
  t.true(shownAfter <= 2000, `shown after ${shownAfter} ms`);
  t.regex((await item.textContent()) ?? '', /BLOCK/);
  t.regex((await item.textContent()) ?? '', /HARD_RULE:big-transfer/);
  await shot(page, '2-live-feed');

  // The user: from the feed's link, and by search.
  await item.getByRole('button', { name: userId }).click();
  const decisions = page.getByTestId('decisions');
  await decisions.getByText(blockId).waitFor({ timeout: 5000 });
  await page.getByRole('searchbox').or(page.getByLabel('user id')).fill(userId);
  await page.getByRole('button', { name: 'Search' }).click();
  await decisions.getByText(blockId).waitFor({ timeout: 5000 });
  const table = (await decisions.textContent()) ?? '';
  t.regex(table, /BLOCK/);
  t.regex(table, /HARD_RULE:big-transfer/);
  t.regex(table, /hard rule big-transfer forces BLOCK/);
  t.regex(table, new RegExp(`${userId}-2`), 'the earlier payment and its decision');
  t.regex((await page.getByTestId('profile').textContent()) ?? '', /events3 \(login 1, payment 1, transfer 1/);
  t.regex((await page.getByTestId('events').textContent()) ?? '', /42\.5000/);
  await shot(page, '3-user');

  await page.getByRole('button', { name: 'Cluster' }).click();
  await page.getByTestId('shards').getByText('console-test').waitFor({ timeout: 5000 });
  await page.getByTestId('readiness').getByText('ready').waitFor({ timeout: 5000 });
  // The cluster from GET /cluster: embedded, this one instance (marked) owns every shard.
  await page.getByTestId('instances').getByText('this console').waitFor({ timeout: 5000 });
  t.regex((await page.getByTestId('instances').locator('tbody tr').first().textContent()) ?? '', /^console-test this console/);
  const shardRows = page.getByTestId('cluster-shards').locator('tbody tr');
  await shardRows.first().waitFor({ timeout: 5000 });
  const owners = await shardRows.locator('td:nth-child(2)').allTextContents();
  const shardIds = await shardRows.locator('td:nth-child(1)').allTextContents();
  t.true(owners.length > 0);
  t.deepEqual(owners, owners.map(() => 'console-test'), 'every shard has its owner');
  t.deepEqual(shardIds, owners.map((_, i) => String(i)), 'every shard, in order');
  await shot(page, '4-cluster');
  await page.getByRole('button', { name: 'Rules' }).click();
  await page.getByTestId('rules').getByText('big-transfer').waitFor({ timeout: 5000 });
  await shot(page, '5-rules');

  // A phone.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole('button', { name: 'Users' }).click();
  await decisions.getByText(blockId).waitFor({ timeout: 5000 });
  await shot(page, '6-user-phone');
  await page.getByRole('button', { name: /^Live/ }).click();
  await shot(page, '7-live-phone');

  // Every asset from the engine itself; the token only ever in a header.
  t.deepEqual(requests.filter((r) => !r.url.startsWith(engine.url)), []);
  t.deepEqual(requests.filter((r) => r.url.includes(TOKEN)), []);
  const stream = requests.find((r) => r.url.includes('/decisions/stream'));
  t.is(stream?.authorization, `Bearer ${TOKEN}`);
  t.deepEqual(pageErrors, []);
});
