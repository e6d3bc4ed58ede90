/**
 * The engine's handling of shard ownership, over fakes (no I/O): two engines share one in-memory
 * store, as two instances share Redis, and are handed shards as a consumer group would.
 */
import test from 'ava';
import { Engine } from '../../../src/app/Engine.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import { systemSupervisionDeps } from '../../../src/app/supervisionDeps.ts';
import { loadSettings } from '../../../src/config/settings.ts';
import { silentLogger } from '../../../src/log.ts';
import type { EventSource, InputBatch, OutputRecord, ShardListener } from '../../../src/transport/ports.ts';
import { MemoryJournal } from '../helpers/MemoryJournal.ts';

function instance(store: MemoryJournal) {
  const settings = loadSettings({ CONFIG_FILE: 'config/test.json' });
  settings.kafka.partitions = 1;
  const holder = RulesHolder.fromFile(settings.rulesFile);
  const committed: OutputRecord[] = [];
  const source: EventSource = {
    start: async (_listener: ShardListener) => {},
    stop: async () => {},
    openSink: async () => ({
      commit: async (records) => {
        committed.push(...records);
      },
      close: async () => {},
    }),
    committedOffsets: async () => ({}),
    positions: async () => [],
    generation: 1,
    memberId: 'm',
    isConnected: () => true,
  };
  const parts = {
    source,
    store,
    alerts: { publish: async () => {}, close: async () => {}, isConnected: () => true },
    ingest: { send: async () => {}, close: async () => {} },
    partitions: 1,
    rules: { current: holder.current, publish: async () => {}, update: async () => holder.current(), start: async () => {}, close: async () => {} },
    close: async () => {},
  };
  const engine = new Engine(settings, parts, holder.current, (metrics) => systemSupervisionDeps(silentLogger, metrics), silentLogger);
  return { engine, committed };
}

/** One payment of user `u` at `offset` of partition 0 of `payment-events`. */
function payment(eventId: string, offset: number): InputBatch {
  const value = { eventId, userId: 'u', eventType: 'payment', timestamp: 1_700_000_000_000 + offset, amount: '10.00' };
  return {
    topic: 'payment-events',
    partition: 0,
    records: [{ topic: 'payment-events', partition: 0, offset: String(offset), key: Buffer.from('u'), value: Buffer.from(JSON.stringify(value)), headers: {}, timestamp: value.timestamp }],
    nextOffset: String(offset + 1),
  };
}

const control = { heartbeat: async () => {} };

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
