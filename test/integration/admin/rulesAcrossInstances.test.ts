/**
 * Two instances of one deployment (same group, same topics, same store): a rules change made
 * through PUT /rules on A is applied by B within seconds and shows in decisions made on B's
 * shards, which carry the new rulesVersion.
 */
import test from 'ava';
import type { Kafka } from 'kafkajs';
import { kafkaClient, parseValues, produceEvents, readUntil, testSettings, uniqueId, type TestEvent } from '../helpers/harness.ts';
import { rulesWhere, startInstance, until, type Instance } from './instance.ts';

interface DecisionRecord {
  eventId: string;
  userId: string;
  decision: string;
  riskScore: number;
  rulesVersion: number;
  shard: number;
}

async function decisionsFor(kafka: Kafka, topic: string, eventIds: string[]): Promise<Map<string, DecisionRecord>> {
  const wanted = new Set(eventIds);
  const has = (rs: DecisionRecord[]) => new Set(rs.filter((d) => wanted.has(d.eventId)).map((d) => d.eventId)).size === wanted.size;
  const records = await readUntil(kafka, topic, (rs) => has(parseValues<DecisionRecord>(rs)));
  return new Map(parseValues<DecisionRecord>(records).filter((d) => wanted.has(d.eventId)).map((d) => [d.eventId, d]));
}

/** A user id of this test that lands on `shard`. */
function userOn(instance: Instance, prefix: string, shard: number): string {
  for (let n = 0; ; n++) if (instance.engine.shardOf(`${prefix}-${n}`) === shard) return `${prefix}-${n}`;
}

test('a rules change made on instance A shows in decisions made on instance B', async (t) => {
  const id = uniqueId('rules2');
  const a = await startInstance(testSettings(id, { INSTANCE_ID: `${id}-a` }));
  t.teardown(() => a.stop());
  const b = await startInstance(testSettings(id, { INSTANCE_ID: `${id}-b` }));
  t.teardown(() => b.stop());
  const partitions = a.settings.kafka.partitions;
  // No event announces that the group settled: both own shards, each shard exactly once.
  await until('the shards to be split between A and B', () => {
    const [sa, sb] = [a.engine.ownedShards(), b.engine.ownedShards()];
    return sa.length > 0 && sb.length > 0 && sa.length + sb.length === partitions && sa.every((s) => !sb.includes(s));
  });
  const shardOfB = b.engine.ownedShards()[0]!;
  const shardOfA = a.engine.ownedShards()[0]!;
  const onB = userOn(b, `${id}-b`, shardOfB);
  const onA = userOn(a, `${id}-a`, shardOfA);

  const kafka = kafkaClient();
  const topics = a.settings.kafka.topics;
  const login = (userId: string, n: number): TestEvent => ({ eventId: `${userId}-e${n}`, userId, eventType: 'login', timestamp: Date.now() + n, deviceId: 'd-1', country: 'DE' });

  // Under the file rules (version 1) a plain login is allowed.
  const before = [login(onB, 1), login(onA, 1)];
  await produceEvents(kafka, () => topics.inputs[0]!, before);
  const first = await decisionsFor(kafka, topics.decisions, before.map((e) => e.eventId));
  for (const d of first.values()) t.like(d, { decision: 'ALLOW', rulesVersion: 1 });
  t.is(first.get(`${onB}-e1`)!.shard, shardOfB);

  // On A: every score above 0.001 (every score: the bias alone gives sigmoid(-4) = 0.018) is now a BLOCK.
  const rules = (await (await fetch(`${a.adminUrl}/rules`)).json()) as Record<string, unknown>;
  const appliedOnB = rulesWhere(b.holder, (r) => r.rulesVersion === 2, 10_000);
  const put = await fetch(`${a.adminUrl}/rules`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...rules, thresholds: { block: 0.001, challenge: 0.0005 } }),
  });
  t.is(put.status, 200);
  t.like(await put.json(), { rulesVersion: 2, thresholds: { block: 0.001, challenge: 0.0005 } });
  // B follows the rules topic: applied there within seconds, without any call to B.
  t.like(await appliedOnB, { rulesVersion: 2, thresholds: { block: 0.001, challenge: 0.0005 } });
  t.like(await (await fetch(`${b.adminUrl}/rules`)).json(), { rulesVersion: 2 });
  t.deepEqual(b.engine.ownedShards().includes(shardOfB), true);

  const after = [login(onB, 2), login(onA, 2)];
  await produceEvents(kafka, () => topics.inputs[0]!, after);
  const second = await decisionsFor(kafka, topics.decisions, after.map((e) => e.eventId));
  const madeOnB = second.get(`${onB}-e2`)!;
  t.like(madeOnB, { decision: 'BLOCK', rulesVersion: 2, shard: shardOfB });
  t.true(madeOnB.riskScore > 0.001);
  t.like(second.get(`${onA}-e2`)!, { decision: 'BLOCK', rulesVersion: 2, shard: shardOfA });
});
