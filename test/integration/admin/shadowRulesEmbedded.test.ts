/**
 * Shadow rules on an embedded engine run as a user runs it (`risk-engine start`, no
 * KAFKA_BROKERS): the counts are kept in LMDB with the journal. The report equals a count over the
 * committed decisions that POST /decide answered; DELETE stops the shadow; the counts outlive a
 * restart (readable by version).
 */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnEngine } from '../helpers/child.ts';
import { generate } from '../helpers/workload.ts';

type Json = Record<string, any>;

async function call(url: string, method = 'GET', body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as Json };
}

/** POST /decide for every event, a few at a time; the committed decisions, in event order. */
async function decideAll(url: string, events: readonly object[]): Promise<Json[]> {
  const out: Json[] = new Array(events.length);
  let next = 0;
  const worker = async () => {
    while (next < events.length) {
      const i = next++;
      const res = await call(`${url}/decide?timeoutMs=20000`, 'POST', events[i]);
      if (res.status !== 200) throw new Error(`POST /decide answered ${res.status}: ${JSON.stringify(res.body)}`);
      out[i] = res.body;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return out;
}

test('embedded: the shadow report (LMDB) equals the count over the committed decisions; DELETE stops it; counts outlive a restart', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-shadow-'));
  const env = { KAFKA_BROKERS: '', DATA_DIR: dataDir, CONFIG_FILE: '' };
  const engine = await spawnEngine('embedded', '', env);
  t.teardown(() => engine.proc.kill('SIGKILL'));
  await engine.started;
  const url = engine.adminUrl;

  const live = (await call(`${url}/rules`)).body;
  const put = await call(`${url}/rules/shadow`, 'PUT', { ...live, bias: -1.2, thresholds: { block: 0.45, challenge: 0.25 } });
  t.is(put.status, 200);
  const shadowVersion = put.body.rulesVersion as number;

  const { events } = generate('emb', 15, 240, 21);
  const decided = await decideAll(url, events);
  t.true(decided.every((d) => d.shadow?.rulesVersion === shadowVersion && d.rulesVersion === live.rulesVersion));
  const disagreements: Record<string, number> = {};
  let agree = 0;
  for (const d of decided) {
    if (d.decision === d.shadow.decision) agree++;
    else disagreements[`${d.decision}->${d.shadow.decision}`] = (disagreements[`${d.decision}->${d.shadow.decision}`] ?? 0) + 1;
  }
  t.true(Object.keys(disagreements).length > 0, 'a workload with disagreements');
  // A client retry is answered from the stored decision: not decided, not counted again.
  const retry = await call(`${url}/decide?timeoutMs=20000`, 'POST', events[0]);
  t.like(retry.body, { duplicate: true, shadow: decided[0]!.shadow });

  const report = await call(`${url}/rules/shadow/report`);
  t.is(report.status, 200);
  t.like(report.body, { shadowVersion, events: events.length, agree });
  t.deepEqual(report.body.disagreements, disagreements);
  // A stored decision carries the shadow as the record did.
  t.deepEqual((await call(`${url}/decisions/${decided[5]!.eventId}`)).body, (({ duplicate: _d, ...d }) => d)(decided[5]!));

  t.is((await call(`${url}/rules/shadow`, 'DELETE')).status, 200);
  t.is((await call(`${url}/rules/shadow`)).status, 404);
  const after = await decideAll(url, generate('emb-after', 5, 20, 22).events);
  t.true(after.every((d) => !('shadow' in d)), 'no shadow after DELETE');

  engine.proc.kill('SIGTERM');
  t.is((await engine.exited).code, 0);
  const again = await spawnEngine('embedded', '', env);
  t.teardown(() => again.proc.kill('SIGKILL'));
  await again.started;
  const kept = await call(`${again.adminUrl}/rules/shadow/report?version=${shadowVersion}`);
  t.is(kept.status, 200);
  t.like(kept.body, { shadowVersion, events: events.length, agree });
  t.deepEqual(kept.body.disagreements, disagreements);
});
