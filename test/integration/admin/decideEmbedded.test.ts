/**
 * POST /decide, GET /decisions/:eventId(/explain), GET /rules/versions/:v and the decide/explain
 * commands on an embedded engine run as a user runs it (`risk-engine start`, no KAFKA_BROKERS).
 */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnEngine } from '../helpers/child.ts';
import { runCli } from './instance.ts';

type Json = Record<string, unknown>;

async function call(url: string, method = 'GET', body?: unknown): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(url, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as Json, headers: res.headers };
}

test('embedded: decide answers the committed decision once, a retry the same with duplicate, explain reproduces decisions before and after a rules change', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-decide-'));
  const engine = await spawnEngine('embedded', '', { KAFKA_BROKERS: '', DATA_DIR: dataDir, CONFIG_FILE: '' });
  t.teardown(() => engine.proc.kill('SIGKILL'));
  await engine.started;
  const url = engine.adminUrl;
  const now = Date.now();
  const event = (n: number, over: Json = {}): Json => ({ eventId: `p-${n}`, userId: 'payer-1', eventType: 'payment', timestamp: now + n * 1000, amount: '12.50', deviceId: 'd-1', country: 'DE', ...over });

  const first = await call(`${url}/decide?timeoutMs=10000`, 'POST', event(1));
  t.is(first.status, 200);
  t.like(first.body, { eventId: 'p-1', userId: 'payer-1', eventType: 'payment', decision: 'ALLOW', rulesVersion: 1, duplicate: false });

  const retry = await call(`${url}/decide`, 'POST', event(1));
  t.is(retry.status, 200);
  t.deepEqual(retry.body, { ...first.body, duplicate: true }, 'the same decision, marked duplicate');
  const user = (await call(`${url}/users/payer-1`)).body as { profile: { eventCount: number }; decisions: { eventId: string }[] };
  t.is(user.profile.eventCount, 1, 'the retry changed nothing');
  t.deepEqual(user.decisions.map((d) => d.eventId), ['p-1'], 'one decision');

  const { duplicate: _d, ...decision } = first.body;
  const stored = await call(`${url}/decisions/p-1`);
  t.is(stored.status, 200);
  t.deepEqual(stored.body, decision);
  t.deepEqual((await call(`${url}/decisions/p-1?userId=payer-1`)).body, decision);
  t.is((await call(`${url}/decisions/nope`)).status, 404);
  t.is((await call(`${url}/decisions/p-1?userId=someone-else`)).status, 404);

  // Bad input: the dead-letter code and field; a timeout out of range.
  const bad = await call(`${url}/decide`, 'POST', { ...event(2), amount: '-5' });
  t.is(bad.status, 400);
  t.like(bad.body, { error: { code: 'SCHEMA' } });
  t.regex(String((bad.body.error as Json).message), /^amount/);
  t.is((await call(`${url}/decide?timeoutMs=0`, 'POST', event(2))).status, 400);
  t.is((await call(`${url}/decide?timeoutMs=30001`, 'POST', event(2))).status, 400);
  t.is((await call(`${url}/decide?timeoutMs=abc`, 'POST', event(2))).status, 400);

  // Decisions under version 1, then a rules change, then under version 2.
  for (let n = 2; n <= 6; n++) t.is((await call(`${url}/decide?timeoutMs=10000`, 'POST', event(n, { amount: String(n * 40), deviceId: n % 2 ? 'd-1' : 'd-2' }))).status, 200);
  const rules = (await call(`${url}/rules`)).body;
  const put = await call(`${url}/rules`, 'PUT', { ...rules, bias: -1, thresholds: { block: 0.95, challenge: 0.3 } });
  t.is(put.status, 200);
  for (let n = 7; n <= 11; n++) {
    const after = await call(`${url}/decide?timeoutMs=10000`, 'POST', event(n, { amount: String(n * 40) }));
    t.like(after.body, { rulesVersion: 2 });
  }
  for (let n = 1; n <= 11; n++) {
    const x = await call(`${url}/decisions/p-${n}/explain`);
    t.is(x.status, 200, `explain p-${n}`);
    t.like(x.body, { reproduced: true, rulesVersion: n <= 6 ? 1 : 2, stateBefore: { sequenceNumber: n - 1 } }, `p-${n}`);
    t.deepEqual((x.body.decision as Json).eventId, `p-${n}`);
  }
  t.like((await call(`${url}/rules/versions/1`)).body, { rulesVersion: 1, bias: rules.bias });
  t.like((await call(`${url}/rules/versions/2`)).body, { rulesVersion: 2, bias: -1 });
  t.is((await call(`${url}/rules/versions/3`)).status, 404);

  // The commands.
  const decided = await runCli(['decide', '--url', url, '--timeout-ms', '10000', '--event-id', 'cli-1', '--user-id', 'payer-2', '--type', 'transfer', '--amount', '25000']);
  t.is(decided.code, 0, decided.stderr);
  t.like(JSON.parse(decided.stdout), { eventId: 'cli-1', userId: 'payer-2', decision: 'BLOCK' });
  const explained = await runCli(['explain', 'cli-1', '--url', url]);
  t.is(explained.code, 0, explained.stderr);
  t.regex(explained.stdout, /decision BLOCK/);
  t.regex(explained.stdout, /reproduced/);
  t.regex(explained.stdout, /feature\s+value\s+weight\s+contribution/);
  t.is((await runCli(['explain', 'unknown-event', '--url', url])).code, 1);

  engine.proc.kill('SIGTERM');
  t.is((await engine.exited).code, 0);
});
