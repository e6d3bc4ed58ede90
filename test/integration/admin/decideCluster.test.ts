/**
 * POST /decide on the real services with two engine processes of one group: the instance that
 * does not own the user's shard answers the committed decision (the same record a read_committed
 * consumer of the decisions topic sees); a retry answers the same decision, marked duplicate, and
 * the topic holds one decision for the event; explain reproduces decisions made before and after
 * a PUT /rules.
 */
import test from 'ava';
import { kafkaClient, parseValues, pollUntil, readToEnd, readUntil, uniqueId } from '../helpers/harness.ts';
import { childConfig, dumpEngineLogs, spawnEngine, type ChildEngine } from '../helpers/child.ts';
import { shardOf } from '../../../src/transport/shardOf.ts';

type Json = Record<string, unknown>;

async function call(url: string, method = 'GET', body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as Json };
}

const owned = async (e: ChildEngine): Promise<number[]> => ((await call(`${e.adminUrl}/shards`)).body.shards as { shard: number }[]).map((s) => s.shard);

test('decide on the instance that does not own the user: the committed decision, once; explain across a rules change', async (t) => {
  const id = uniqueId('decide');
  const config = childConfig(id);
  const partitions = 4;
  const engines: Record<string, ChildEngine> = {};
  t.teardown(() => {
    if (!t.passed) process.stderr.write(`decide test engine logs: ${dumpEngineLogs(id, engines).join(' ')}\n`);
    for (const e of Object.values(engines)) e.proc.kill('SIGKILL');
  });
  const a = (engines.a = await spawnEngine(id, config, { INSTANCE_ID: `${id}-a` }));
  await a.started;
  const b = (engines.b = await spawnEngine(id, config, { INSTANCE_ID: `${id}-b` }));
  await b.started;
  // No event announces that the group settled: both own shards, each shard exactly once.
  const [onA, onB] = await pollUntil(
    'the shards to be split between a and b',
    async () => [await owned(a), await owned(b)] as const,
    ([sa, sb]) => sa.length > 0 && sb.length > 0 && sa.length + sb.length === partitions && sa.every((s) => !sb.includes(s)),
    90_000,
    200,
  );
  let user = '';
  for (let n = 0; !user; n++) if (onB.includes(shardOf(`${id}-u${n}`, partitions))) user = `${id}-u${n}`;
  t.false(onA.includes(shardOf(user, partitions)), 'a does not own the user');

  const now = Date.now();
  const event = (n: number, over: Json = {}): Json => ({ eventId: `${id}-e${n}`, userId: user, eventType: 'payment', timestamp: now + n * 1000, amount: String(10 * n), deviceId: 'd-1', country: 'DE', ...over });

  const first = await call(`${a.adminUrl}/decide?timeoutMs=30000`, 'POST', event(1));
  t.is(first.status, 200, JSON.stringify(first.body));
  const { duplicate, ...decision } = first.body;
  t.false(duplicate);
  t.like(decision, { eventId: `${id}-e1`, userId: user, shard: shardOf(user, partitions), rulesVersion: 1 });

  const kafka = kafkaClient();
  const decisionsTopic = `${id}.risk-decisions`;
  const seen = parseValues<Json>(await readUntil(kafka, decisionsTopic, (rs) => parseValues<Json>(rs).some((d) => d.eventId === `${id}-e1`)));
  t.deepEqual(seen.find((d) => d.eventId === `${id}-e1`), decision, 'what a read_committed consumer sees');

  for (const e of [a, b]) {
    const retry = await call(`${e.adminUrl}/decide?timeoutMs=30000`, 'POST', event(1));
    t.is(retry.status, 200);
    t.deepEqual(retry.body, { ...decision, duplicate: true });
  }
  t.deepEqual((await call(`${b.adminUrl}/decisions/${id}-e1`)).body, decision);

  t.is((await call(`${a.adminUrl}/decide?timeoutMs=30000`, 'POST', event(2))).status, 200);
  const rules = (await call(`${a.adminUrl}/rules`)).body;
  t.is((await call(`${a.adminUrl}/rules`, 'PUT', { ...rules, bias: -1.5 })).status, 200);
  await pollUntil('b to apply version 2', async () => (await call(`${b.adminUrl}/rules`)).body.rulesVersion, (v) => v === 2, 30_000, 100);
  const third = await call(`${a.adminUrl}/decide?timeoutMs=30000`, 'POST', event(3));
  t.like(third.body, { rulesVersion: 2, duplicate: false });

  for (const [n, version] of [[1, 1], [2, 1], [3, 2]] as const) {
    const x = await call(`${a.adminUrl}/decisions/${id}-e${n}/explain`);
    t.is(x.status, 200, JSON.stringify(x.body));
    t.like(x.body, { reproduced: true, rulesVersion: version, stateBefore: { sequenceNumber: n - 1 } });
  }

  const all = parseValues<Json>(await readToEnd(kafka, decisionsTopic));
  t.is(all.filter((d) => d.eventId === `${id}-e1`).length, 1, 'one decision record for the event and its retries');
  t.is(all.length, 3);
});
