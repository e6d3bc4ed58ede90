/**
 * The engine's handling of shard ownership, over fakes (no I/O): two engines share one in-memory
 * store, as two instances share Redis, and are handed shards as a consumer group would.
 */
import test from 'ava';
import { MemoryJournal } from '../helpers/MemoryJournal.ts';
import { control, fakeEngine, payment } from './engineFakes.ts';

const instance = (store: MemoryJournal) => fakeEngine({ store });

test('a shard kept across a rebalance after another owner had it meanwhile is reopened: its users show that owner\'s events', async (t) => {
  const store = new MemoryJournal();
  const a = instance(store);
  const b = instance(store);
  t.teardown(async () => {
    await a.engine.onRevoked(a.engine.ownedShards());
    await b.engine.onRevoked(b.engine.ownedShards());
  });

  await a.engine.onAssigned([0]);
  await a.engine.onBatch(0, payment('e-1', 0), control);
  t.is((await a.engine.userState('u'))?.profile.eventCount, 1);

  // A generation that `a` missed (its sync failed, it rejoined): `b` owned shard 0 and moved on.
  await b.engine.onAssigned([0]);
  await b.engine.onBatch(0, payment('e-2', 1), control);
  await b.engine.onRevoked([0]);

  // `a` is given shard 0 again, as if it had held it all along.
  await a.engine.onAssigned([0]);
  const state = await a.engine.userState('u');
  t.is(state?.profile.eventCount, 2, 'the state includes the event the other owner handled');
  t.deepEqual(state?.recentEvents.map((e) => e.eventId), ['e-1', 'e-2']);

  await a.engine.onBatch(0, payment('e-3', 2), control);
  t.is((await a.engine.userState('u'))?.profile.eventCount, 3, 'and the shard takes events again, not fenced');
  t.deepEqual(a.committed.map((r) => JSON.parse(r.value).eventId), ['e-1', 'e-3']);
});

test('a shard kept across a rebalance that nobody else opened keeps its epoch and live actors', async (t) => {
  const store = new MemoryJournal();
  const a = instance(store);
  t.teardown(() => a.engine.onRevoked(a.engine.ownedShards()));
  await a.engine.onAssigned([0]);
  await a.engine.onBatch(0, payment('e-1', 0), control);
  const before = await a.engine.liveShard(0);

  await a.engine.onAssigned([0]);
  t.is(await a.engine.liveShard(0), before, 'the same shard supervisor');
  t.is(store.epochs.get(0), 1);
  t.is((await a.engine.userState('u'))?.source, 'actor');
});

test('listeners of committed decisions get the decision records of each commit, after it committed, and only while active', async (t) => {
  const a = instance(new MemoryJournal());
  t.teardown(() => a.stopAll());
  const seen: string[][] = [];
  let active = true;
  a.engine.onDecisionsCommitted((decisions) => seen.push(decisions.map((r) => `${r.topic}:${JSON.parse(r.value).eventId}`)), () => active);
  const commit = a.commit;
  let failures = 1;
  a.commit = async (records, offsets) => {
    if (failures-- > 0) throw new Error('the broker is away');
    return commit(records, offsets);
  };
  await a.engine.onAssigned([0]);
  await a.engine.onBatch(0, payment('e-1', 0), control);
  t.deepEqual(seen, [['risk-decisions:e-1']], 'once, for the attempt that committed; no other topic');
  active = false;
  await a.engine.onBatch(0, payment('e-2', 1), control);
  t.is(seen.length, 1, 'not while inactive');
  t.deepEqual(a.committed.filter((r) => r.topic === 'risk-decisions').map((r) => JSON.parse(r.value).eventId), ['e-1', 'e-2']);
});

test('a listener of committed decisions that throws does not fail the commit', async (t) => {
  const a = instance(new MemoryJournal());
  t.teardown(() => a.stopAll());
  a.engine.onDecisionsCommitted(() => {
    throw new Error('a bug in a listener');
  });
  await a.engine.onAssigned([0]);
  await a.engine.onBatch(0, payment('e-1', 0), control);
  t.deepEqual(a.committed.filter((r) => r.topic === 'risk-decisions').map((r) => JSON.parse(r.value).eventId), ['e-1'], 'committed once, not retried');
});
