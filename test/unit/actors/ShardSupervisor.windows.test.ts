/**
 * The idle timer as the shard drives it (ShardSupervisor.tick over real nact user actors, an
 * in-memory journal, a stubbed sink, a clock the test moves): windows close by event time, and
 * idle-closed aggregates are committed at least once, through failed commits and restarts.
 */
import test from 'ava';
import sinon from 'sinon';
import nact from 'nact';
import { ShardSupervisor } from '../../../src/actors/ShardSupervisor.ts';
import { EngineError } from '../../../src/errors.ts';
import { domainConfigOf, loadSettings } from '../../../src/config/settings.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import { NO_FAULTS, type Faults } from '../../../src/app/faults.ts';
import type { WindowAggregate } from '../../../src/domain/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import type { ConsumedOffset, InputBatch, OutputRecord } from '../../../src/transport/ports.ts';
import { MemoryJournal } from '../helpers/MemoryJournal.ts';

/** The start of a 5-minute window. */
const T = 1_700_000_100_000;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
/** How often the shard's housekeeping runs with the default settings. */
const TICK = 10 * SECOND;

interface Shard {
  sup: ShardSupervisor;
  commit: sinon.SinonStub<[readonly OutputRecord[], readonly ConsumedOffset[]], Promise<void>>;
  stop(): Promise<void>;
}

/** One incarnation of shard 0 (epoch `epoch`) over `store`; every commit it makes goes to `committed`. */
function openShard(store: MemoryJournal, clock: { now: number }, committed: OutputRecord[], epoch = 1, faults: Partial<Faults> = {}): Shard {
  const system = nact.start();
  const settings = loadSettings({ CONFIG_FILE: 'config/test.json' });
  settings.kafka.partitions = 1;
  const commit = sinon.stub<[readonly OutputRecord[], readonly ConsumedOffset[]], Promise<void>>().callsFake(async (records) => {
    committed.push(...records);
  });
  const sup = new ShardSupervisor(system as nact.Ref<unknown>, {
    shard: 0,
    partitions: settings.kafka.partitions,
    domain: domainConfigOf(settings),
    epoch,
    settings,
    sink: { commit, close: async () => {} },
    alerts: { publish: sinon.stub().resolves(), close: async () => {}, isConnected: () => true },
    store,
    rules: RulesHolder.fromFile(settings.rulesFile).current,
    supervision: { log: silentLogger, clock: () => clock.now, random: () => 0.5, sleep: async () => {} },
    metrics: new Metrics({ liveActors: () => 0, ownedShards: () => 1, dependencies: () => ({}), alertsBuffered: () => 0, fencedWrites: () => 0 }),
    log: silentLogger,
    actorBudget: () => 1000,
    onFatal: () => {},
    faults: { ...NO_FAULTS, ...faults },
    committed: {},
  });
  return {
    sup,
    commit,
    stop: async () => {
      await sup.stop().catch(() => undefined);
      nact.stop(system);
    },
  };
}

/** One payment of user `u` at the clock's time (event time = record time = now), at `offset` of payment-events. */
function payment(eventId: string, at: number, offset: number): InputBatch {
  const value = { eventId, userId: 'u', eventType: 'payment', timestamp: at, amount: '10' };
  return {
    topic: 'payment-events',
    partition: 0,
    records: [{ topic: 'payment-events', partition: 0, offset: String(offset), key: Buffer.from('u'), value: Buffer.from(JSON.stringify(value)), headers: {}, timestamp: at }],
    nextOffset: String(offset + 1),
  };
}

const control = { heartbeat: async () => {} };
const aggregatesIn = (records: readonly OutputRecord[]): WindowAggregate[] => records.filter((r) => r.topic === 'risk-aggregates').map((r) => JSON.parse(r.value) as WindowAggregate);
const journalTypes = (store: MemoryJournal) => (store.journals.get('user:u') ?? []).map((e) => (e.data as { type: string }).type);

test('events 90 s apart within one window, with the idle timer ticking between them, all land in its one aggregate', async (t) => {
  const clock = { now: T };
  const store = new MemoryJournal();
  const committed: OutputRecord[] = [];
  const shard = openShard(store, clock, committed);
  t.teardown(shard.stop);
  const times = [0, 90, 180, 270].map((s) => T + s * SECOND);
  for (; clock.now <= T + 7 * MINUTE; clock.now += TICK) {
    const i = times.indexOf(clock.now);
    if (i >= 0) await shard.sup.processBatch(payment(`e-${i}`, clock.now, i), control);
    await shard.sup.tick();
  }
  t.deepEqual(
    aggregatesIn(committed).map((a) => ({ windowStart: a.windowStart, eventCount: a.eventCount, firstEventTime: a.firstEventTime, lastEventTime: a.lastEventTime })),
    [{ windowStart: T, eventCount: 4, firstEventTime: times[0], lastEventTime: times[3] }],
  );
  t.is((await shard.sup.view('u'))?.lateEvents, 0);
});

test('an idle-closed aggregate whose commit fails is committed by the next tick, once confirmed no more', async (t) => {
  const clock = { now: T };
  const store = new MemoryJournal();
  const committed: OutputRecord[] = [];
  const shard = openShard(store, clock, committed);
  t.teardown(shard.stop);
  await shard.sup.processBatch(payment('e-1', clock.now, 0), control);
  shard.commit.onCall(1).rejects(new EngineError('UNAVAILABLE', 'transaction failed: broker gone'));

  clock.now = T + 6 * MINUTE;
  await t.throwsAsync(shard.sup.tick(), { message: /broker gone/ });
  t.deepEqual(aggregatesIn(committed), []);
  t.deepEqual(journalTypes(store), ['accepted', 'windowsClosed'], 'closed and journaled, but not confirmed');

  clock.now += TICK;
  await shard.sup.tick();
  t.like(aggregatesIn(committed), [{ userId: 'u', windowStart: T, eventCount: 1 }]);
  t.is(aggregatesIn(committed).length, 1);
  t.deepEqual(journalTypes(store), ['accepted', 'windowsClosed', 'windowsEmitted']);

  clock.now += TICK;
  await shard.sup.tick();
  t.is(shard.commit.callCount, 3, 'nothing left to commit');
});

test('a shard restarted between journaling an idle close and committing it commits the aggregate after recovery', async (t) => {
  const clock = { now: T };
  const store = new MemoryJournal();
  const committed: OutputRecord[] = [];
  const first = openShard(store, clock, committed);
  t.teardown(first.stop);
  await first.sup.processBatch(payment('e-1', clock.now, 0), control);
  // The process dies inside the commit: nothing is committed, nothing is confirmed, no snapshot.
  let die!: (err: Error) => void;
  const inCommit = new Promise<void>((reached) => {
    first.commit.onCall(1).callsFake(() => {
      reached();
      return new Promise<void>((_, reject) => (die = reject));
    });
  });
  clock.now = T + 6 * MINUTE;
  const dying = first.sup.tick().catch(() => undefined);
  await inCommit;
  // Teardowns run last first: the old shard can stop once its commit gave up.
  t.teardown(async () => {
    die(new Error('the old process is gone'));
    await dying;
  });
  t.deepEqual(journalTypes(store), ['accepted', 'windowsClosed']);

  // A new owner: the user's actor recovers on its next event, and the next tick emits what was pending.
  const second = openShard(store, clock, committed, 2);
  t.teardown(second.stop);
  clock.now = T + 20 * MINUTE;
  await second.sup.processBatch(payment('e-2', clock.now, 1), control);
  await second.sup.tick();
  t.like(aggregatesIn(committed), [{ userId: 'u', windowStart: T, eventCount: 1, firstEventTime: T }]);
  t.deepEqual(journalTypes(store), ['accepted', 'windowsClosed', 'accepted', 'windowsEmitted']);
});

test('a user actor restarted between the commit and its confirmation emits the same aggregate again, then confirms it', async (t) => {
  const clock = { now: T };
  const store = new MemoryJournal();
  const committed: OutputRecord[] = [];
  let failPersist = false;
  const shard = openShard(store, clock, committed, 1, {
    beforePersist: () => {
      if (failPersist) {
        failPersist = false;
        throw new Error('journal connection lost');
      }
    },
  });
  t.teardown(shard.stop);
  await shard.sup.processBatch(payment('e-1', clock.now, 0), control);
  // The confirmation's journal write fails: the actor is restarted from the store.
  shard.commit.onCall(1).callsFake(async (records) => {
    committed.push(...records);
    failPersist = true;
  });
  clock.now = T + 6 * MINUTE;
  await t.throwsAsync(shard.sup.tick());
  clock.now += TICK;
  await shard.sup.tick();
  const aggregates = aggregatesIn(committed);
  t.is(aggregates.length, 2, 'emitted again');
  t.deepEqual(aggregates[1], aggregates[0], 'the same aggregate: consumers dedupe by (userId, windowStart)');
  t.deepEqual(journalTypes(store), ['accepted', 'windowsClosed', 'windowsEmitted']);
});
