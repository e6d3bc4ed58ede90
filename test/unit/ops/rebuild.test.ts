import test from 'ava';
import { evolve, initialState, toUserView, upcastJournal, upcastState, type UserState } from '../../../src/domain/index.ts';
import { persistenceKey } from '../../../src/actors/recoverUser.ts';
import { runRebuild } from '../../../src/ops/rebuild.ts';
import { replayState } from '../../../src/persistence/replayState.ts';
import { config, defaultRules, T0 } from '../domain/helpers.ts';
import { MemoryJournal } from '../helpers/MemoryJournal.ts';
import { MemoryHistory } from './history.ts';

const INPUTS = ['login-events', 'payment-events', 'transfer-events'];
const NOW = T0 + 86_400_000;

function workload(h: MemoryHistory): void {
  for (let i = 0; i < 25; i++) {
    const userId = `u${i % 4}`;
    if (i % 3 === 0) h.event('login-events', { eventId: `l${i}`, userId, eventType: 'login', timestamp: T0 + i * 1000, deviceId: 'd1', country: 'FR' });
    else h.event('payment-events', { eventId: `p${i}`, userId, eventType: 'payment', timestamp: T0 + i * 1000, amount: `${i}.25`, deviceId: 'd1', country: 'FR' });
  }
  h.event('payment-events', { eventId: 'p1', userId: 'u1', eventType: 'payment', timestamp: T0 + 30_000, amount: '1.00' }); // the same eventId again: a duplicate
  h.append('login-events', 0, 'u0', '{"eventId":', T0 + 31_000); // a dead letter
}

test('rebuild journals every accepted event in the store, snapshots where the live engine would, and ends at the spans\' ends', async (t) => {
  const partitions = 2;
  const h = new MemoryHistory(partitions);
  workload(h);
  const store = new MemoryJournal();
  const result = await runRebuild({ history: h, inputs: INPUTS, store, domain: config, rules: defaultRules, snapshotEvery: 3, now: NOW, flushEvery: 4 });
  t.is(result.records, 27);
  t.is(result.accepted, 25);
  t.is(result.duplicates, 1);
  t.is(result.rejected, 1);
  t.is(result.users, 4);
  t.is(result.journalEntries, 25);
  // Every input partition, at its end.
  const ends = result.offsets.map((o) => `${o.topic}/${o.partition}:${o.offset}`).sort();
  const want = INPUTS.flatMap((topic) => Array.from({ length: partitions }, (_, p) => `${topic}/${p}:${h.topics.get(topic)?.[p]?.length ?? 0}`)).sort();
  t.deepEqual(ends, want);
  // One epoch taken per shard with records.
  t.deepEqual([...store.epochs.keys()].sort(), [...new Set(result.offsets.filter((o) => o.offset !== '0').map((o) => o.partition))].sort());

  // The stored state, recovered as an engine recovers it, is the state the counts say.
  for (let u = 0; u < 4; u++) {
    const userId = `u${u}`;
    const key = persistenceKey(userId);
    const recovered = await replayState<UserState>(store, key, initialState(userId), upcastState, (s, data) => evolve(s, upcastJournal(data), config));
    const view = toUserView(recovered, config.history, config.defaultCurrency);
    const mine = Array.from({ length: 25 }, (_, i) => i).filter((i) => i % 4 === u);
    t.is(view.profile.eventCount, mine.length, userId);
    t.is(view.profile.loginCount, mine.filter((i) => i % 3 === 0).length, userId);
    const snap = await store.latestSnapshot(key);
    t.is(snap?.sequenceNumber, Math.floor(mine.length / 3) * 3 || undefined, userId);
  }
});

test('a rebuild that cannot write stops with the store\'s error (the caller then commits no offsets)', async (t) => {
  const h = new MemoryHistory(1);
  workload(h);
  const store = new MemoryJournal();
  store.append = async () => {
    throw new Error('store down');
  };
  await t.throwsAsync(runRebuild({ history: h, inputs: INPUTS, store, domain: config, rules: defaultRules, snapshotEvery: 100, now: NOW }), { message: 'store down' });
});

test('with the live decisions, rebuild folds each shard in the live judging order: the states equal the live engine\'s', async (t) => {
  const partitions = 2;
  const h = new MemoryHistory(partitions);
  // One user's logins and payments on two topics, all within minutes: velocity features count what came before.
  const events = Array.from({ length: 12 }, (_, i) =>
    i % 2
      ? { eventId: `p${i}`, userId: 'erin', eventType: 'payment', timestamp: T0 + i * 5_000, amount: '9.5000', deviceId: `d${i % 3}`, country: 'FR' }
      : { eventId: `l${i}`, userId: 'erin', eventType: 'login', timestamp: T0 + i * 5_000, deviceId: `d${i % 3}`, country: 'FR' },
  );
  events.forEach((e) => h.event(`${e.eventType}-events`, e));
  // The live engine judged the payments first (one topic's batch came first in a round of a backlog).
  const liveOrder = [...events.filter((e) => e.eventType === 'payment'), ...events.filter((e) => e.eventType === 'login')];
  const rebuild = async (withLive: boolean) => {
    const store = new MemoryJournal();
    const source = new MemoryHistory(partitions);
    source.topics.clear();
    for (const [topic, parts] of h.topics) source.topics.set(topic, parts);
    // The live engine's states: the same fold over one partition holding the events in the live order.
    const liveStore = new MemoryJournal();
    const liveHistory = new MemoryHistory(partitions);
    liveOrder.forEach((e) => liveHistory.event('login-events', e));
    await runRebuild({ history: liveHistory, inputs: ['login-events'], store: liveStore, domain: config, rules: defaultRules, snapshotEvery: 1000, now: NOW });
    const key = persistenceKey('erin');
    const liveState = await replayState<UserState>(liveStore, key, initialState('erin'), upcastState, (s, data) => evolve(s, upcastJournal(data), config));
    const liveDecisions = toUserView(liveState, config.history, config.defaultCurrency).decisions;
    if (withLive) liveDecisions.forEach((d, i) => source.decision('risk-decisions', d as never, NOW + i));
    await runRebuild({ history: source, inputs: INPUTS, store, domain: config, rules: defaultRules, snapshotEvery: 1000, now: NOW, ...(withLive ? { decisionsTopic: 'risk-decisions' } : {}) });
    const rebuilt = await replayState<UserState>(store, key, initialState('erin'), upcastState, (s, data) => evolve(s, upcastJournal(data), config));
    const scores = (decisions: { eventId: string; riskScore: number }[]) => Object.fromEntries(decisions.map((d) => [d.eventId, d.riskScore]));
    return { live: scores(liveDecisions), rebuilt: scores(toUserView(rebuilt, config.history, config.defaultCurrency).decisions) };
  };
  const following = await rebuild(true);
  t.deepEqual(following.rebuilt, following.live);
  const merged = await rebuild(false);
  t.notDeepEqual(merged.rebuilt, merged.live, 'without the live order the scores differ (precondition)');
});
