/**
 * GET /cluster on the real Kafka with two engine processes of one group: either instance names
 * both (itself marked), every shard is owned by exactly one of them (the owners agree with each
 * instance's own GET /shards), and once they caught up with the events sent every shard's lag is 0
 * and its committed offsets account for every event.
 */
import test from 'ava';
import { pollUntil, uniqueId } from '../helpers/harness.ts';
import { childConfig, dumpEngineLogs, spawnEngine, type ChildEngine } from '../helpers/child.ts';
import type { ClusterView } from '../../../src/admin/types.ts';

const PARTITIONS = 4;

async function cluster(e: ChildEngine): Promise<ClusterView> {
  const res = await fetch(`${e.adminUrl}/cluster`);
  if (res.status !== 200) throw new Error(`GET /cluster answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as ClusterView;
}

const ownedBy = async (e: ChildEngine): Promise<number[]> =>
  (((await (await fetch(`${e.adminUrl}/shards`)).json()) as { shards: { shard: number }[] }).shards).map((s) => s.shard);

/** Both instances hold shards, and every shard has exactly one owner. */
function settled(v: ClusterView, ids: string[]): boolean {
  const held = v.instances.flatMap((i) => i.shards);
  return (
    v.state === 'Stable' &&
    v.instances.length === 2 &&
    ids.every((id) => v.instances.some((i) => i.instanceId === id && i.shards.length > 0)) &&
    held.length === PARTITIONS &&
    new Set(held).size === PARTITIONS &&
    v.shards.length === PARTITIONS &&
    v.shards.every((s) => s.owner !== null)
  );
}

test('two instances of one group: both named from either, every shard owned once, lag 0 once caught up', async (t) => {
  const id = uniqueId('clusterview');
  const config = childConfig(id);
  const engines: Record<string, ChildEngine> = {};
  t.teardown(() => {
    if (!t.passed) process.stderr.write(`cluster view test engine logs: ${dumpEngineLogs(id, engines).join(' ')}\n`);
    for (const e of Object.values(engines)) e.proc.kill('SIGKILL');
  });
  const ids = [`${id}-a`, `${id}-b`];
  const a = (engines.a = await spawnEngine(id, config, { INSTANCE_ID: ids[0]! }));
  await a.started;
  const b = (engines.b = await spawnEngine(id, config, { INSTANCE_ID: ids[1]! }));
  await b.started;

  const events = Array.from({ length: 40 }, (_, n) => ({
    eventId: `${id}-e${n}`, userId: `${id}-u${n % 10}`, eventType: n % 2 ? 'payment' : 'login', timestamp: Date.now() + n, amount: '1.00', deviceId: 'd-1', country: 'DE',
  }));
  const sent = await fetch(`${a.adminUrl}/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: events.map((e) => JSON.stringify(e)).join('\n') });
  t.is(sent.status, 202, await sent.clone().text());

  // No event announces that the group settled and the instances caught up: polled.
  const caughtUp = (v: ClusterView) =>
    settled(v, ids) && v.shards.every((s) => s.lag === 0) && v.shards.reduce((n, s) => n + Object.values(s.committed).reduce((m, o) => m + Number(o), 0), 0) === events.length;
  const fromA = await pollUntil('a to show both instances, every shard owned once, caught up', () => cluster(a), caughtUp, 120_000, 250);
  const fromB = await pollUntil('b to show the same', () => cluster(b), caughtUp, 30_000, 250);

  t.is(fromA.groupId, id);
  t.deepEqual(fromA.instances.map((i) => [i.instanceId, i.self]), [[ids[0], true], [ids[1], false]]);
  t.deepEqual(fromB.instances.map((i) => [i.instanceId, i.self]), [[ids[0], false], [ids[1], true]]);
  for (const i of fromA.instances) t.true(i.host.length > 0, `${i.instanceId} has a host`);
  t.deepEqual(fromA.shards.map((s) => s.shard), [0, 1, 2, 3]);
  t.deepEqual(fromB.shards.map((s) => s.owner), fromA.shards.map((s) => s.owner), 'both answer the same owners');
  for (const s of fromA.shards) t.deepEqual(Object.keys(s.committed).sort(), [`${id}.login-events`, `${id}.payment-events`, `${id}.transfer-events`]);

  // Each owner, asked itself, owns what the cluster view says it owns.
  const [onA, onB] = [await ownedBy(a), await ownedBy(b)];
  t.deepEqual(fromA.instances[0]!.shards, onA);
  t.deepEqual(fromA.instances[1]!.shards, onB);
  t.deepEqual(fromA.shards.filter((s) => s.owner === ids[0]).map((s) => s.shard), onA);
});
