/**
 * An Engine over fakes (no I/O) for unit tests: an in-memory store (shared between engines as two
 * instances share Redis), an event source whose lag and membership the test sets, shard sinks the
 * test can make fail, and a clock the test moves.
 */
import { Engine } from '../../../src/app/Engine.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import { systemSupervisionDeps } from '../../../src/app/supervisionDeps.ts';
import { loadSettings } from '../../../src/config/settings.ts';
import { silentLogger } from '../../../src/log.ts';
import type { ConsumedOffset, EventSource, InputBatch, OutputRecord, ShardListener, ShardPosition } from '../../../src/transport/ports.ts';
import { MemoryJournal } from '../helpers/MemoryJournal.ts';

export const T0 = 1_700_000_000_000;

export interface FakeEngine {
  engine: Engine;
  store: MemoryJournal;
  /** Lag per shard as the source reports it (absent: 0). */
  lag: Map<number, number | null>;
  /** What a shard sink's commit does; by default it records. */
  commit: (records: readonly OutputRecord[], offsets: readonly ConsumedOffset[]) => Promise<void>;
  committed: OutputRecord[];
  clock: { now: number };
  /** Replaces positions() (e.g. one that never answers). */
  positions?: (shards: readonly number[]) => Promise<ShardPosition[]>;
  stopAll(): Promise<void>;
}

export function fakeEngine(options: { store?: MemoryJournal; stuckAfterMs?: number; partitions?: number } = {}): FakeEngine {
  const settings = loadSettings({ CONFIG_FILE: 'config/test.json', LOG_LEVEL: 'silent' });
  settings.kafka.partitions = options.partitions ?? 1;
  settings.readiness.stuckAfterMs = options.stuckAfterMs ?? 30_000;
  const holder = RulesHolder.fromFile(settings.rulesFile);
  const store = options.store ?? new MemoryJournal();
  const fake = {
    store,
    lag: new Map<number, number | null>(),
    committed: [] as OutputRecord[],
    clock: { now: T0 },
  } as FakeEngine;
  fake.commit = async (records) => {
    fake.committed.push(...records);
  };
  const source: EventSource = {
    start: async (_listener: ShardListener) => {},
    stop: async () => {},
    openSink: async () => ({ commit: (records, offsets) => fake.commit(records, offsets), close: async () => {} }),
    committedOffsets: async () => ({}),
    positions: (shards) => fake.positions?.(shards) ?? Promise.resolve(shards.map((shard) => ({ shard, committed: {}, lag: fake.lag.get(shard) ?? 0 }))),
    generation: 1,
    memberId: 'm',
    isConnected: () => true,
  };
  const parts = {
    source,
    store,
    alerts: { publish: async () => {}, close: async () => {}, isConnected: () => true },
    ingest: { send: async () => {}, close: async () => {} },
    partitions: settings.kafka.partitions,
    rules: { current: holder.current, publish: async () => {}, update: async () => holder.current(), start: async () => {}, close: async () => {} },
    close: async () => {},
  };
  fake.engine = new Engine(
    settings,
    parts,
    holder.current,
    (metrics) => ({ ...systemSupervisionDeps(silentLogger, metrics), clock: () => fake.clock.now, sleep: async () => {} }),
    silentLogger,
  );
  fake.stopAll = () => fake.engine.onRevoked(fake.engine.ownedShards());
  return fake;
}

/** One payment of user `u` at `offset` of partition 0 of `payment-events`. */
export function payment(eventId: string, offset: number, userId = 'u'): InputBatch {
  const value = { eventId, userId, eventType: 'payment', timestamp: T0 + offset, amount: '10.00' };
  return {
    topic: 'payment-events',
    partition: 0,
    records: [{ topic: 'payment-events', partition: 0, offset: String(offset), key: Buffer.from(userId), value: Buffer.from(JSON.stringify(value)), headers: {}, timestamp: value.timestamp }],
    nextOffset: String(offset + 1),
  };
}

export const control = { heartbeat: async () => {} };
