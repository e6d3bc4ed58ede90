/**
 * Supervision outcomes with injected faults (sinon), no I/O: a ShardSupervisor over real nact
 * user actors, an in-memory journal, a recording sink and a recording clock for backoff delays.
 */
import test from 'ava';
import sinon from 'sinon';
import nact from 'nact';
import { ShardSupervisor } from '../../../src/actors/ShardSupervisor.ts';
import type { ShardUsers } from '../../../src/actors/ShardUsers.ts';
import { EngineError, errorCode } from '../../../src/errors.ts';
import { domainConfigOf, loadSettings } from '../../../src/config/settings.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import { NO_FAULTS, type Faults } from '../../../src/app/faults.ts';
import { silentLogger } from '../../../src/log.ts';
import { backoffDelay, DEPENDENCY_BACKOFF, USER_ACTOR_POLICY } from '../../../src/supervision/policy.ts';
import type { SupervisionDeps } from '../../../src/supervision/onCrash.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import type { ConsumedOffset, InputBatch, InputRecord, OutputRecord } from '../../../src/transport/ports.ts';
import { shardOf } from '../../../src/domain/shardOf.ts';
import { MemoryJournal } from '../helpers/MemoryJournal.ts';
import { indexEntryOf, parseIndexValue, type DecisionStore, type IndexedDecision } from '../../../src/persistence/decisionIndex.ts';
import type { Fence, JournalEntry } from '../../../src/persistence/JournalStore.ts';

/** A MemoryJournal with the decision index the real stores write with each append. */
class IndexedMemoryJournal extends MemoryJournal implements Pick<DecisionStore, 'decisionsOf'> {
  readonly index = new Map<string, string>();

  override async append(entries: readonly JournalEntry[], fence: Fence): Promise<void> {
    await super.append(entries, fence);
    for (const e of entries) {
      const x = indexEntryOf(e);
      if (x) this.index.set(`${x.eventId}\u0000${x.userId}`, x.value);
    }
  }

  async decisionsOf(eventId: string, userId?: string): Promise<IndexedDecision[]> {
    const value = this.index.get(`${eventId}\u0000${userId}`);
    const found = value === undefined ? null : parseIndexValue(userId!, value);
    return found ? [found] : [];
  }
}

const RANDOM = 0.5;

function setup(opts: { faults?: Partial<Faults>; eventTimeoutMs?: number; committed?: Record<string, string>; actorBudget?: number; history?: number; historyEvents?: number; partitions?: number; store?: MemoryJournal } = {}) {
  const store = opts.store ?? new MemoryJournal();
  const system = nact.start();
  const settings = loadSettings({ CONFIG_FILE: 'config/test.json' });
  settings.actors.eventTimeoutMs = opts.eventTimeoutMs ?? 5000;
  // One partition by default, so that every user of these batches (all of partition 0) is where murmur2 puts it.
  settings.kafka.partitions = opts.partitions ?? 1;
  if (opts.history) settings.domain.history.decisions = opts.history;
  if (opts.historyEvents) settings.domain.history.events = opts.historyEvents;
  const commits: { records: OutputRecord[]; offsets: unknown[] }[] = [];
  // The sink: records what it commits; tests make it fail with sinon's onCall().
  const commit = sinon.stub<[readonly OutputRecord[], readonly ConsumedOffset[]], Promise<void>>().callsFake(async (records, offsets) => {
    commits.push({ records: [...records], offsets: [...offsets] });
  });
  const metrics = new Metrics({ liveActors: () => 0, ownedShards: () => 1, dependencies: () => ({}), alertsBuffered: () => 0, fencedWrites: () => 0 });
  const sleeps: number[] = [];
  const verdicts: string[] = [];
  const supervision: SupervisionDeps = {
    log: silentLogger,
    clock: () => 1_700_000_000_000,
    random: () => RANDOM,
    // The recording clock: delays are asserted, not waited for.
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    onVerdict: (policy, verdict, code) => verdicts.push(`${policy.name}:${verdict.action}:${code}`),
  };
  const onFatal = sinon.spy();
  const sup = new ShardSupervisor(system as nact.Ref<unknown>, {
    shard: 0,
    partitions: settings.kafka.partitions,
    domain: domainConfigOf(settings),
    epoch: 1,
    settings,
    sink: { commit, close: async () => {} },
    alerts: { publish: sinon.stub().resolves(), close: async () => {}, isConnected: () => true },
    store,
    rules: RulesHolder.fromFile(settings.rulesFile).current,
    supervision,
    metrics,
    log: silentLogger,
    actorBudget: () => opts.actorBudget ?? 1000,
    onFatal,
    faults: { ...NO_FAULTS, ...opts.faults },
    committed: opts.committed ?? {},
  });
  const stop = async () => {
    await sup.stop().catch(() => undefined);
    nact.stop(system);
  };
  /** A counter's value for the given labels. */
  const counted = async (counter: { get(): Promise<{ values: { labels: object; value: number }[] }> }, labels: object = {}) =>
    (await counter.get()).values.find((v) => JSON.stringify(v.labels) === JSON.stringify(labels))?.value ?? 0;
  return { sup, store, commits, commit, metrics, counted, sleeps, verdicts, onFatal, stop, settings };
}

/** A batch of partition 0 of `<type>-events`; `at` is the event's time (record timestamp and payload). */
function batch(events: { eventId: string; userId: string; amount?: string; at?: number }[], from = 0, eventType = 'payment'): InputBatch {
  const topic = `${eventType}-events`;
  const records: InputRecord[] = events.map(({ at, ...e }, i) => ({
    topic,
    partition: 0,
    offset: String(from + i),
    key: Buffer.from(e.userId),
    value: Buffer.from(JSON.stringify({ eventType, timestamp: 1_700_000_000_000 + (at ?? i), ...(eventType === 'login' ? {} : { amount: e.amount ?? '1.00' }), ...e })),
    headers: {},
    timestamp: 1_700_000_000_000 + (at ?? 0),
  }));
  return { topic, partition: 0, records, nextOffset: String(from + events.length) };
}

const control = { heartbeat: async () => {} };
const eventIds = (records: OutputRecord[], topic: string) => records.filter((r) => r.topic === topic).map((r) => JSON.parse(r.value).eventId ?? JSON.parse(JSON.parse(r.value).value).eventId);

test('a throwing domain function: restarted with backoff, then quarantined as POISON; state unchanged', async (t) => {
  const { sup, store, commits, sleeps, verdicts, stop, settings } = setup({
    faults: { beforeDecide: (e) => { if (e.eventId === 'e-2') throw new Error('boom'); } },
  });
  t.teardown(stop);
  await sup.processBatch(batch([{ eventId: 'e-1', userId: 'u' }, { eventId: 'e-2', userId: 'u' }, { eventId: 'e-3', userId: 'u' }]), control);

  t.is(commits.length, 1, 'one transaction for the batch');
  const { records, offsets } = commits[0]!;
  t.deepEqual(eventIds(records, settings.kafka.topics.decisions), ['e-1', 'e-3']);
  const dlq = records.filter((r) => r.topic === settings.kafka.topics.dlq).map((r) => JSON.parse(r.value));
  t.is(dlq.length, 1);
  t.is(dlq[0].error.code, 'POISON');
  t.regex(dlq[0].error.message, /boom/);
  t.deepEqual(offsets, [{ topic: 'payment-events', partition: 0, offset: '3' }]);
  t.deepEqual(verdicts, ['user-actor:restart:POISON', 'user-actor:restart:POISON', 'user-actor:restart:POISON']);
  t.deepEqual(sleeps, [1, 2, 3].map((a) => backoffDelay(USER_ACTOR_POLICY.backoff, a, RANDOM)));
  t.is(store.journals.get('user:u')?.length, 2, 'only the two good events are journaled');
});

test('a failing journal: the batch waits with dependency backoff and commits once it is back', async (t) => {
  const { sup, store, commits, sleeps, verdicts, stop, settings } = setup();
  t.teardown(stop);
  const append = sinon.stub(store, 'append');
  append.onCall(0).rejects(new Error('connection lost'));
  append.onCall(1).rejects(new Error('connection lost'));
  append.callThrough();

  await sup.processBatch(batch([{ eventId: 'e-1', userId: 'u' }, { eventId: 'e-2', userId: 'v' }]), control);

  t.is(commits.length, 1, 'nothing is committed while the journal fails');
  t.deepEqual(eventIds(commits[0]!.records, settings.kafka.topics.decisions).sort(), ['e-1', 'e-2']);
  t.true(verdicts.includes('user-actor:restart:UNAVAILABLE'));
  const dependencyDelays = [1, 2].map((a) => backoffDelay(DEPENDENCY_BACKOFF, a, RANDOM));
  t.true(dependencyDelays.every((d) => sleeps.includes(d)), `sleeps ${JSON.stringify(sleeps)} include ${JSON.stringify(dependencyDelays)}`);
  t.is(store.journals.get('user:u')?.length, 1);
  t.is(store.journals.get('user:v')?.length, 1);
});

test('a hanging journal: the unresponsive actor is stopped, a fresh one recovers and the batch commits', async (t) => {
  const { sup, store, commits, verdicts, stop, settings } = setup({ eventTimeoutMs: 300 });
  t.teardown(stop);
  const append = sinon.stub(store, 'append');
  append.onCall(0).returns(new Promise<void>(() => {})); // never answers
  append.callThrough();

  const done = sup.processBatch(batch([{ eventId: 'e-1', userId: 'u' }]), control);
  await done; // the 300 ms ask deadline is the only real wait in this file

  t.true(verdicts.includes('user-actor:stop:TIMEOUT'));
  t.is(commits.length, 1);
  t.deepEqual(eventIds(commits[0]!.records, settings.kafka.topics.decisions), ['e-1']);
  t.is(store.journals.get('user:u')?.length, 1, 'journaled once, by the fresh incarnation');
});

test('a user actor past its restart limit escalates; the shard restarts by dropping its actors', async (t) => {
  const { sup, verdicts, stop, onFatal } = setup({
    faults: { beforeDecide: (e) => { if (e.eventId.startsWith('bad')) throw new Error('always'); } },
  });
  t.teardown(stop);
  // 4 poison events x 3 attempts = 12 failures > 10 restarts within the window.
  await sup.processBatch(batch(['bad-1', 'bad-2', 'bad-3', 'bad-4', 'ok'].map((eventId) => ({ eventId, userId: 'u' }))), control).catch(() => undefined);
  t.true(verdicts.includes('user-actor:escalate:POISON'), verdicts.join(','));
  t.true(verdicts.includes('shard-supervisor:restart:POISON'), verdicts.join(','));
  t.false(onFatal.called);
});

test('records below the offset a previous owner committed are skipped, the rest is judged', async (t) => {
  const { sup, commits, stop, settings } = setup({ committed: { 'payment-events': '2' } });
  t.teardown(stop);
  await sup.processBatch(batch([{ eventId: 'e-0', userId: 'u' }, { eventId: 'e-1', userId: 'u' }, { eventId: 'e-2', userId: 'u' }]), control);
  t.is(commits.length, 1);
  t.deepEqual(eventIds(commits[0]!.records, settings.kafka.topics.decisions), ['e-2']);
  await sup.processBatch(batch([{ eventId: 'e-3', userId: 'u' }], 3), control);
  t.deepEqual(eventIds(commits[1]!.records, settings.kafka.topics.decisions), ['e-3'], 'past the committed offset every record counts');
  // A re-fetch of committed records (kafkajs after a failed later chunk) judges nothing again.
  await sup.processBatch(batch([{ eventId: 'e-2', userId: 'u' }, { eventId: 'e-3', userId: 'u' }, { eventId: 'e-4', userId: 'u' }], 2), control);
  t.deepEqual(eventIds(commits[2]!.records, settings.kafka.topics.decisions), ['e-4']);
});

test('passivation: past the actor budget the least recently used actors snapshot and stop; they come back from the store', async (t) => {
  const { sup, store, commits, stop, settings } = setup({ actorBudget: 1 });
  t.teardown(stop);
  await sup.processBatch(batch([{ eventId: 'a-1', userId: 'a' }, { eventId: 'b-1', userId: 'b' }, { eventId: 'c-1', userId: 'c' }]), control);
  t.is(sup.liveActors, 3);
  await sup.tick();
  t.is(sup.liveActors, 1, 'only the most recently used actor stays');
  t.deepEqual([...store.snapshots.keys()].sort(), ['user:a', 'user:b'], 'the passivated actors were snapshotted');
  t.is(store.journals.get('user:a')?.length, 0, 'the journal is trimmed up to the snapshot');

  await sup.processBatch(batch([{ eventId: 'a-2', userId: 'a', amount: '2.00' }], 3), control);
  t.deepEqual(eventIds(commits[1]!.records, settings.kafka.topics.decisions), ['a-2']);
  const view = await sup.view('a');
  t.is(view?.profile.eventCount, 2, 'the user came back with its state');
  t.is(view?.profile.totalPaymentAmount, '3.0000');
});

test('group commit: batches of the three topics waiting together are judged in timestamp order and committed in one transaction', async (t) => {
  const judged: string[] = [];
  const { sup, commits, metrics, counted, stop, settings } = setup({ faults: { beforeDecide: (e) => void judged.push(e.eventId) } });
  t.teardown(stop);
  await Promise.all([
    sup.processBatch(batch([{ eventId: 'l-1', userId: 'u', at: 1 }, { eventId: 'l-4', userId: 'u', at: 4 }], 10, 'login'), control),
    sup.processBatch(batch([{ eventId: 'p-2', userId: 'u', at: 2 }, { eventId: 'p-5', userId: 'u', at: 5 }], 20, 'payment'), control),
    sup.processBatch(batch([{ eventId: 't-3', userId: 'u', at: 3 }, { eventId: 'x-1', userId: 'x', at: 1 }], 30, 'transfer'), control),
  ]);

  t.is(commits.length, 1, 'one transaction for the three batches');
  t.deepEqual(commits[0]!.offsets, [
    { topic: 'login-events', partition: 0, offset: '12' },
    { topic: 'payment-events', partition: 0, offset: '22' },
    { topic: 'transfer-events', partition: 0, offset: '32' },
  ]);
  t.deepEqual(judged.filter((id) => id !== 'x-1'), ['l-1', 'p-2', 't-3', 'l-4', 'p-5'], "a user's events go to its actor in timestamp order");
  // x-1 is older than t-3 but comes after it in its partition: partition order wins.
  t.deepEqual(eventIds(commits[0]!.records, settings.kafka.topics.decisions), ['l-1', 'p-2', 't-3', 'x-1', 'l-4', 'p-5']);
  t.is(await counted(metrics.transactions, { kind: 'input' }), 1);
  t.is(await counted(metrics.eventsConsumed, { topic: 'login-events' }), 2);
  t.is(await counted(metrics.eventsConsumed, { topic: 'transfer-events' }), 2);

  // The committed offset moved for every topic: a re-fetch judges only what is new.
  await Promise.all([
    sup.processBatch(batch([{ eventId: 'l-4', userId: 'u', at: 4 }, { eventId: 'l-6', userId: 'u', at: 6 }], 11, 'login'), control),
    sup.processBatch(batch([{ eventId: 't-3', userId: 'u', at: 3 }], 30, 'transfer'), control),
  ]);
  t.is(commits.length, 2);
  t.deepEqual(eventIds(commits[1]!.records, settings.kafka.topics.decisions), ['l-6']);
  t.deepEqual(commits[1]!.offsets, [{ topic: 'login-events', partition: 0, offset: '13' }]);
  t.is(await counted(metrics.transactions, { kind: 'input' }), 2);
});

test('group commit over the per-user history bound: two transactions, each batch resolved once its last event is committed', async (t) => {
  const { sup, commits, metrics, counted, stop, settings } = setup({ history: 2 });
  t.teardown(stop);
  const resolvedAfter: Record<string, number> = {};
  const track = (name: string, p: Promise<void>) => p.then(() => void (resolvedAfter[name] = commits.length));
  await Promise.all([
    track('login', sup.processBatch(batch([{ eventId: 'l-1', userId: 'u', at: 1 }, { eventId: 'l-3', userId: 'u', at: 3 }], 0, 'login'), control)),
    track('payment', sup.processBatch(batch([{ eventId: 'p-2', userId: 'u', at: 2 }, { eventId: 'p-4', userId: 'u', at: 4 }, { eventId: 'p-5', userId: 'v', at: 5 }], 0, 'payment'), control)),
    track('transfer', sup.processBatch(batch([{ eventId: 't-0', userId: 'w', at: 0 }], 0, 'transfer'), control)),
  ]);
  t.is(commits.length, 2);
  t.deepEqual(eventIds(commits[0]!.records, settings.kafka.topics.decisions), ['t-0', 'l-1', 'p-2']);
  t.deepEqual(commits[0]!.offsets, [
    { topic: 'login-events', partition: 0, offset: '1' },
    { topic: 'payment-events', partition: 0, offset: '1' },
    { topic: 'transfer-events', partition: 0, offset: '1' },
  ]);
  t.deepEqual(eventIds(commits[1]!.records, settings.kafka.topics.decisions), ['l-3', 'p-4', 'p-5']);
  t.deepEqual(commits[1]!.offsets, [
    { topic: 'login-events', partition: 0, offset: '2' },
    { topic: 'payment-events', partition: 0, offset: '3' },
  ]);
  t.deepEqual(resolvedAfter, { transfer: 1, login: 2, payment: 2 });
  t.is(await counted(metrics.transactions, { kind: 'input' }), 2);
});

test('with a decision index, a user is not held to its history per transaction, and redelivered events whose decisions left the history get them from the index', async (t) => {
  const store = new IndexedMemoryJournal();
  const first = setup({ history: 2, historyEvents: 2, store });
  first.commit.rejects(new EngineError('FENCED', 'a newer owner'));
  const events = [1, 2, 3, 4, 5].map((i) => ({ eventId: `p-${i}`, userId: 'u', at: i }));
  await t.throwsAsync(first.sup.processBatch(batch(events), control));
  await first.stop();
  t.is(first.commit.callCount, 1, 'one transaction for the five events of one user, not one per history of two');
  const attempted = first.commit.firstCall.args[0].filter((r) => r.topic === first.settings.kafka.topics.decisions).map((r) => r.value);
  t.is(attempted.length, 5);
  const head = () => store.journals.get('user:u')?.at(-1)?.sequenceNumber ?? store.snapshots.get('user:u')?.sequenceNumber;
  t.is(head(), 5, 'journaled, then the commit failed: the crash between the two');

  const next = setup({ history: 2, historyEvents: 2, store });
  t.teardown(next.stop);
  await next.sup.processBatch(batch(events), control);
  const emitted = next.commits.flatMap((c) => c.records.filter((r) => r.topic === next.settings.kafka.topics.decisions).map((r) => r.value));
  t.deepEqual(emitted, attempted, 'every redelivered event emits its first decision, byte for byte: 2 from the history, 3 from the index');
  t.is(head(), 5, 'nothing journaled twice');
});

test('a redelivered record that was a duplicate of an eventId the first time gets no decision from the index either', async (t) => {
  const store = new IndexedMemoryJournal();
  const first = setup({ history: 2, historyEvents: 2, store });
  first.commit.rejects(new EngineError('FENCED', 'a newer owner'));
  // Offsets 0..4: p-1, p-1 again (a duplicate: no decision), p-2, p-3, p-4.
  const events = ['p-1', 'p-1', 'p-2', 'p-3', 'p-4'].map((eventId, i) => ({ eventId, userId: 'u', at: i + 1 }));
  await t.throwsAsync(first.sup.processBatch(batch(events), control));
  await first.stop();
  const attempted = first.commit.firstCall.args[0].filter((r) => r.topic === first.settings.kafka.topics.decisions).map((r) => r.value);
  t.deepEqual(attempted.map((v) => JSON.parse(v).eventId), ['p-1', 'p-2', 'p-3', 'p-4']);

  const next = setup({ history: 2, historyEvents: 2, store });
  t.teardown(next.stop);
  await next.sup.processBatch(batch(events), control);
  const emitted = next.commits.flatMap((c) => c.records.filter((r) => r.topic === next.settings.kafka.topics.decisions).map((r) => r.value));
  t.deepEqual(emitted, attempted, 'one decision per decided record, none for the duplicate record');
});

test('a failed transaction is retried with dependency backoff and commits once', async (t) => {
  const { sup, commits, commit, metrics, counted, sleeps, stop, settings } = setup();
  t.teardown(stop);
  commit.onFirstCall().rejects(new EngineError('UNAVAILABLE', 'transaction failed: broker gone'));
  await Promise.all([
    sup.processBatch(batch([{ eventId: 'l-1', userId: 'u', at: 1 }], 0, 'login'), control),
    sup.processBatch(batch([{ eventId: 'p-2', userId: 'u', at: 2 }], 0, 'payment'), control),
  ]);
  t.is(commit.callCount, 2);
  t.is(commits.length, 1);
  t.deepEqual(eventIds(commits[0]!.records, settings.kafka.topics.decisions), ['l-1', 'p-2'], 'the retry re-emits the stored decisions, once each');
  t.is(commits[0]!.offsets.length, 2);
  t.deepEqual(sleeps, [backoffDelay(DEPENDENCY_BACKOFF, 1, RANDOM)]);
  t.is(await counted(metrics.batchRetries, { code: 'UNAVAILABLE' }), 1);
  t.is(await counted(metrics.transactions, { kind: 'input' }), 1);
});

test('a fenced transaction rejects every waiting batch at once, without retrying', async (t) => {
  const { sup, commit, sleeps, stop } = setup();
  t.teardown(stop);
  commit.rejects(new EngineError('FENCED', 'producer fenced by a newer owner'));
  const results = await Promise.allSettled([
    sup.processBatch(batch([{ eventId: 'l-1', userId: 'u' }], 0, 'login'), control),
    sup.processBatch(batch([{ eventId: 'p-1', userId: 'v' }], 0, 'payment'), control),
    sup.processBatch(batch([{ eventId: 't-1', userId: 'w' }], 0, 'transfer'), control),
  ]);
  t.deepEqual(results.map((r) => (r.status === 'rejected' ? errorCode(r.reason) : 'fulfilled')), ['FENCED', 'FENCED', 'FENCED']);
  t.is(commit.callCount, 1, 'one transaction, not retried');
  t.deepEqual(sleeps, []);
});

/** A pipelined source's control that records pauses, resumes and seeks. */
function pipelinedControl(log: string[]) {
  return {
    heartbeat: async () => {},
    pipelined: {
      pause: () => {
        log.push('pause');
        return () => void log.push('resume');
      },
      seek: (offset: string) => void log.push(`seek ${offset}`),
    },
  };
}

test('pipelined: records taken and delivered again (kafkajs back at the committed offset after a rebalance) are not judged twice', async (t) => {
  const { sup, commits, stop, settings } = setup();
  t.teardown(stop);
  const log: string[] = [];
  const first = sup.processBatch(batch([{ eventId: 'e-1', userId: 'u' }, { eventId: 'e-2', userId: 'v' }]), pipelinedControl(log));
  // Delivered again from offset 0 before the first commit, with one more record.
  const again = sup.processBatch(batch([{ eventId: 'e-1', userId: 'u' }, { eventId: 'e-2', userId: 'v' }, { eventId: 'e-3', userId: 'w' }]), pipelinedControl(log));
  await Promise.all([first, again]);
  const decided = commits.flatMap((c) => eventIds(c.records, settings.kafka.topics.decisions));
  t.deepEqual(decided, ['e-1', 'e-2', 'e-3'], 'one decision each');
  t.deepEqual(commits.at(-1)!.offsets, [{ topic: 'payment-events', partition: 0, offset: '3' }]);
});

test('pipelined: past its backlog bound a shard pauses the partition, and resumes it once the commits caught up', async (t) => {
  const { sup, stop, settings } = setup();
  t.teardown(stop);
  const log: string[] = [];
  const users = Array.from({ length: 4001 }, (_, i) => ({ eventId: `e-${i}`, userId: `u-${i % 500}` }));
  const done = sup.processBatch(batch(users), pipelinedControl(log));
  t.deepEqual(log, ['pause'], 'paused as soon as it took more than it may hold');
  await done;
  t.deepEqual(log, ['pause', 'resume']);
});

test('pipelined: a paused partition resumes after the commit that left the backlog at half its bound, not a commit later', async (t) => {
  const { sup, stop, commits } = setup();
  t.teardown(stop);
  let resumedAfterCommits = -1;
  const control = {
    heartbeat: async () => {},
    pipelined: { pause: () => () => void (resumedAfterCommits = commits.length), seek: () => {} },
  };
  // 4,001 records (bound 4,000) in transactions of 1,000: the third commit leaves 1,001 (at most
  // 2,000). Counted with its own 1,000 records it looked like 2,001, and the resume waited for
  // the fourth; with a bound below two transactions it never came (the partition stayed paused).
  const users = Array.from({ length: 4001 }, (_, i) => ({ eventId: `e-${i}`, userId: `u-${i % 500}` }));
  await sup.processBatch(batch(users), control);
  t.is(commits.length, 5);
  t.is(resumedAfterCommits, 3);
});

test('pipelined: a shard fetches its partitions again from the committed offsets when asked (after a failure for good)', async (t) => {
  const { sup, stop } = setup({ committed: { 'payment-events': '5' } });
  t.teardown(stop);
  const log: string[] = [];
  await sup.processBatch(batch([{ eventId: 'e-5', userId: 'u' }, { eventId: 'e-6', userId: 'u' }], 5), pipelinedControl(log));
  sup.seekToCommitted();
  t.deepEqual(log, ['seek 7']);
});

test('records are validated with the shard\'s clock and partition count: a wrong partition, a missing key, a far-future time are dead letters', async (t) => {
  const { sup, commits, stop, settings } = setup({ partitions: 4 });
  t.teardown(stop);
  const onShard0 = ['u', 'v', 'w', 'x', 'y', 'z', 'a', 'b', 'c'].filter((u) => shardOf(u, 4) === 0);
  const elsewhere = ['u', 'v', 'w', 'x', 'y', 'z', 'a', 'b', 'c'].find((u) => shardOf(u, 4) !== 0)!;
  const [mine, other] = onShard0;
  const input = batch([
    { eventId: 'ok', userId: mine! },
    { eventId: 'wrong-partition', userId: elsewhere },
    { eventId: 'no-key', userId: other! },
    { eventId: 'future', userId: mine!, at: settings.domain.maxClockSkewMs + 1 },
  ]);
  const records = input.records.map((r) => (JSON.parse(r.value!.toString()).eventId === 'no-key' ? { ...r, key: null } : r));
  await sup.processBatch({ ...input, records }, control);

  const { records: out } = commits[0]!;
  t.deepEqual(eventIds(out, settings.kafka.topics.decisions), ['ok']);
  const dlq = out.filter((r) => r.topic === settings.kafka.topics.dlq).map((r) => JSON.parse(r.value));
  t.deepEqual(
    dlq.map((d) => [JSON.parse(d.value).eventId, d.error.code]),
    [['wrong-partition', 'KEY_MISMATCH'], ['no-key', 'KEY_MISMATCH'], ['future', 'SCHEMA']],
  );
});

test('a user that does not answer fails the round; the users that did answer are recovered from the store, so the retry journals their events', async (t) => {
  const { sup, store, commits, stop, settings } = setup();
  t.teardown(stop);
  // `ask` is the shard's one way to its actors: the first message to `slow` gets no answer in time.
  const users = (sup as unknown as { users: ShardUsers }).users;
  const ask = sinon.stub(users, 'ask').callThrough();
  const slowRef = () => users.get('slow')?.ref;
  let timedOut = false;
  ask.callsFake(async (ref: unknown, ...rest: unknown[]) => {
    if (!timedOut && ref === slowRef()) {
      timedOut = true;
      throw new EngineError('TIMEOUT', 'user actor did not answer within 300 ms');
    }
    return (ask.wrappedMethod as (...args: unknown[]) => Promise<unknown>).call(users, ref, ...rest);
  });
  await sup.processBatch(batch([{ eventId: 'e-1', userId: 'fast' }, { eventId: 'e-2', userId: 'slow' }]), control);

  t.deepEqual(commits.flatMap((c) => eventIds(c.records, settings.kafka.topics.decisions)).sort(), ['e-1', 'e-2']);
  t.is(store.journals.get('user:fast')?.length, 1, "the answering user's event is journaled, not taken for a redelivery");
  t.is(store.journals.get('user:slow')?.length, 1);
});

test('a stop lets the running round finish and refuses the rounds queued behind it: they are not judged for nothing', async (t) => {
  const { sup, store, stop } = setup();
  t.teardown(stop);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let entered!: () => void;
  const inFirstAppend = new Promise<void>((resolve) => (entered = resolve));
  const append = store.append.bind(store);
  const appending = sinon.stub(store, 'append').callsFake(async (entries, fence) => {
    if (appending.callCount === 1) {
      entered();
      await released;
    }
    return append(entries, fence);
  });
  const first = sup.processBatch(batch([{ eventId: 'p-1', userId: 'u' }], 0, 'payment'), control);
  await inFirstAppend;
  const second = sup.processBatch(batch([{ eventId: 'l-2', userId: 'v' }], 0, 'login'), control);
  const stopped = sup.stop();
  release();
  await first;
  t.is(errorCode(await t.throwsAsync(second)), 'UNAVAILABLE');
  await stopped;
  t.is(appending.callCount, 1, 'the queued round journaled nothing');
  t.false(JSON.stringify([...store.journals.values()]).includes('l-2'));
});

test('a stop after a newer owner claimed the shard writes no snapshot and restarts no actor', async (t) => {
  const { sup, store, verdicts, stop } = setup();
  t.teardown(stop);
  await sup.processBatch(batch([{ eventId: 'p-1', userId: 'u' }, { eventId: 'p-2', userId: 'v' }]), control);
  store.epochs.set(0, 2);
  const saving = sinon.spy(store, 'saveSnapshot');
  await sup.stop();
  t.is(saving.callCount, 0);
  t.deepEqual(verdicts, []);
});

test('a stop of a shard still held snapshots its live users', async (t) => {
  const { sup, store, stop } = setup();
  t.teardown(stop);
  await sup.processBatch(batch([{ eventId: 'p-1', userId: 'u' }, { eventId: 'p-2', userId: 'v' }]), control);
  const saving = sinon.spy(store, 'saveSnapshot');
  await sup.stop();
  t.is(saving.callCount, 2);
});

test('every record taken is observed in risk_fetch_lag_seconds: the shard clock less the record timestamp; a record delivered again is not', async (t) => {
  const { sup, metrics, stop } = setup();
  t.teardown(stop);
  const observed = async () => {
    const { values } = await metrics.fetchLag.get();
    const of = (name: string) => values.find((v) => v.metricName === name)?.value ?? 0;
    return { count: of('risk_fetch_lag_seconds_count'), sum: of('risk_fetch_lag_seconds_sum'), within10ms: values.find((v) => v.metricName === 'risk_fetch_lag_seconds_bucket' && v.labels.le === 0.01)?.value };
  };
  // The clock is 1_700_000_000_000: records 30 and 3 ms older than it.
  const twoEvents = batch([{ eventId: 'e-0', userId: 'u', at: -30 }, { eventId: 'e-1', userId: 'u', at: -3 }]);
  await sup.processBatch(twoEvents, control);
  const first = await observed();
  t.is(first.count, 2);
  t.is(Math.round(first.sum * 1000), 33);
  t.is(first.within10ms, 1);
  await sup.processBatch(twoEvents, control);
  t.is((await observed()).count, 2, 'records skipped as committed are not taken again');
});
