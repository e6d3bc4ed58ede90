/**
 * Group commit, without actors or I/O: how a shard's waiting batches are merged, cut into
 * transactions and settled (a fake commit records what it is given).
 */
import test from 'ava';
import sinon from 'sinon';
import { ShardBatchQueue, type Judged } from '../../../src/actors/ShardBatchQueue.ts';
import { chunksWithinHistory, mergeByTimestamp, type Chunk } from '../../../src/actors/chunks.ts';
import { EngineError } from '../../../src/errors.ts';
import type { BatchControl, InputBatch, InputRecord } from '../../../src/transport/ports.ts';

const rec = (topic: string, offset: number, key: string, timestamp = 0): InputRecord => ({
  topic,
  partition: 3,
  offset: String(offset),
  key: Buffer.from(key),
  value: Buffer.from('{}'),
  headers: {},
  timestamp,
});

/** A batch of `topic` (partition 3) from offset `from`: one record per key, with timestamps if given. */
function batch(topic: string, from: number, keys: string[], timestamps?: number[], nextOffset?: number): InputBatch {
  const records = keys.map((k, i) => rec(topic, from + i, k, timestamps?.[i] ?? 0));
  return { topic, partition: 3, records, nextOffset: String(nextOffset ?? from + keys.length) };
}

const ids = (records: readonly InputRecord[]) => records.map((r) => `${r.topic}@${r.offset}`);
const control: BatchControl = { heartbeat: async () => {} };

/** A queue over a plain serial chain and a recording commit; `gate` holds commits while set. */
function setup(opts: { perUserLimit?: number; maxRecords?: number; committed?: Record<string, number>; commitIntervalMs?: number; clock?: () => number; nextTransaction?: () => Promise<void> } = {}) {
  let chain: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const commits: Chunk[] = [];
  const events: string[] = [];
  let gate: Promise<void> | null = null;
  // One transaction of the judged chunks it is given, recorded as one merged chunk.
  const commit = sinon.stub<[readonly Judged<Chunk>[], BatchControl], Promise<void>>().callsFake(async (judged) => {
    await (gate ?? new Promise((r) => setImmediate(r))); // a commit takes a round trip
    const offsets = new Map<string, Chunk['offsets'][number]>();
    for (const j of judged) for (const o of j.chunk.offsets) offsets.set(o.topic, o);
    const chunk: Chunk = { records: judged.flatMap((j) => j.chunk.records), offsets: [...offsets.values()], completes: judged.flatMap((j) => j.chunk.completes) };
    commits.push(chunk);
    events.push(`commit ${chunk.offsets.map((o) => `${o.topic}:${o.offset}`).join(',')}`);
  });
  const queue = new ShardBatchQueue<Chunk>({
    serial: (work) => {
      const run = chain.then(() => {
        if (stopped) throw new EngineError('UNAVAILABLE', 'stopped');
        return work();
      });
      chain = run.catch(() => undefined);
      return run;
    },
    uncommitted: (b) => {
      const upTo = opts.committed?.[b.topic];
      return upTo === undefined ? b : { ...b, records: b.records.filter((r) => Number(r.offset) >= upTo) };
    },
    judge: async (chunk) => {
      events.push(`judge ${ids(chunk.records).join(',')}`);
      return chunk;
    },
    commit,
    clock: opts.clock ?? (() => 0),
    sleep: async (ms) => void events.push(`sleep ${ms}`),
    commitIntervalMs: opts.commitIntervalMs ?? 0,
    perUserLimit: opts.perUserLimit ?? 50,
    maxRecords: opts.maxRecords ?? 1000,
    ...(opts.nextTransaction ? { nextTransaction: opts.nextTransaction } : {}),
  });
  /** Pushes a batch; its settlement is recorded in `events` in the order it happens. */
  const push = (b: InputBatch): Promise<void> =>
    queue.push(b, control).then(
      () => void events.push(`resolved ${b.topic}`),
      (err: Error) => {
        events.push(`rejected ${b.topic}: ${err.message}`);
        throw err;
      },
    );
  const hold = () => {
    let release!: () => void;
    gate = new Promise<void>((r) => (release = r));
    return () => {
      gate = null;
      release();
    };
  };
  return { queue, commit, commits, events, push, hold, stop: () => (stopped = true) };
}

test('records of several partitions: each partition keeps its order, across them the earliest timestamp goes first', (t) => {
  const merged = mergeByTimestamp([
    batch('login', 0, ['u', 'v', 'u'], [10, 30, 50]),
    batch('payment', 0, ['u', 'u'], [20, 40]),
    batch('transfer', 0, ['u'], [10]),
  ]);
  t.deepEqual(ids(merged), ['login@0', 'transfer@0', 'payment@0', 'login@1', 'payment@1', 'login@2'], 'ties go to the batch that came first');
  // Timestamps out of order within a partition never reorder it.
  const skewed = mergeByTimestamp([batch('login', 0, ['u', 'u'], [50, 10]), batch('payment', 0, ['u'], [20])]);
  t.deepEqual(ids(skewed), ['payment@0', 'login@0', 'login@1']);
});

test('a single batch is split so no user exceeds the history bound in one transaction', (t) => {
  const chunks = chunksWithinHistory([batch('x', 10, ['a', 'a', 'b', 'a', 'b', 'b', 'b'], undefined, 17)], 2);
  t.deepEqual(chunks.map((c) => c.records.map((r) => r.offset)), [['10', '11', '12'], ['13', '14', '15'], ['16']]);
  t.deepEqual(chunks.map((c) => c.offsets), [[{ topic: 'x', partition: 3, offset: '13' }], [{ topic: 'x', partition: 3, offset: '16' }], [{ topic: 'x', partition: 3, offset: '17' }]]);
  t.deepEqual(chunks.map((c) => c.completes), [[], [], [0]]);
});

test('a batch within the bounds stays whole and commits its nextOffset', (t) => {
  const chunks = chunksWithinHistory([batch('x', 0, ['a', 'b'], undefined, 5)], 50);
  t.is(chunks.length, 1);
  t.deepEqual(chunks[0]!.offsets, [{ topic: 'x', partition: 3, offset: '5' }]);
});

test('no transaction holds more than the record limit', (t) => {
  const chunks = chunksWithinHistory([batch('x', 0, ['a', 'b', 'c', 'd', 'e'])], 50, 2);
  t.deepEqual(chunks.map((c) => c.records.length), [2, 2, 1]);
  t.deepEqual(chunks.map((c) => c.offsets.map((o) => o.offset)), [['2'], ['4'], ['5']]);
});

test('batches of several partitions: one chunk commits the offsets of all; a split commits per partition what it holds', (t) => {
  const login = batch('login', 100, ['a', 'b'], [1, 3], 105); // nextOffset past a control record
  const payment = batch('payment', 7, ['a', 'a'], [2, 4]);
  const whole = chunksWithinHistory([login, payment], 50);
  t.is(whole.length, 1);
  t.deepEqual(whole[0]!.offsets, [{ topic: 'login', partition: 3, offset: '105' }, { topic: 'payment', partition: 3, offset: '9' }]);
  t.deepEqual(whole[0]!.completes, [0, 1]);

  // Merged: login@100(a) payment@7(a) login@101(b) payment@8(a): user a's third event opens a second transaction.
  const split = chunksWithinHistory([login, payment], 2);
  t.deepEqual(split.map((c) => ids(c.records)), [['login@100', 'payment@7', 'login@101'], ['payment@8']]);
  t.deepEqual(split[0]!.offsets, [{ topic: 'login', partition: 3, offset: '105' }, { topic: 'payment', partition: 3, offset: '8' }]);
  t.deepEqual(split[0]!.completes, [0]);
  t.deepEqual(split[1]!.offsets, [{ topic: 'payment', partition: 3, offset: '9' }]);
  t.deepEqual(split[1]!.completes, [1]);
});

test('batches waiting together are committed in one transaction with the offsets of every partition', async (t) => {
  const { push, commits, events } = setup();
  await Promise.all([push(batch('login', 0, ['a', 'b'])), push(batch('payment', 5, ['a'])), push(batch('transfer', 9, ['c']))]);
  t.is(commits.length, 1);
  t.deepEqual(commits[0]!.offsets.map((o) => `${o.topic}:${o.offset}`), ['login:2', 'payment:6', 'transfer:10']);
  t.is(commits[0]!.records.length, 4);
  t.deepEqual(events.filter((e) => !e.startsWith('judge')), ['commit login:2,payment:6,transfer:10', 'resolved login', 'resolved payment', 'resolved transfer']);
});

test('batches of one fetch that reach the shard a few promise hops apart share the round', async (t) => {
  const { push, commits } = setup();
  // As from kafkajs: every batch of a fetch is handed over in one turn, each after a few awaits.
  const hops = async (n: number) => {
    for (let i = 0; i < n; i++) await Promise.resolve();
  };
  await Promise.all([push(batch('login', 0, ['a'])), hops(3).then(() => push(batch('payment', 0, ['b']))), hops(6).then(() => push(batch('transfer', 0, ['c'])))]);
  t.is(commits.length, 1);
});

test('batches that arrive while the shard commits wait and go together into the next round', async (t) => {
  const queueOf = setup();
  const { push, commits, hold } = queueOf;
  const release = hold();
  const first = push(batch('login', 0, ['a']));
  const { commit } = queueOf;
  while (!commit.called) await new Promise((r) => setImmediate(r)); // the first round waits in its commit
  const later = [push(batch('login', 1, ['a'])), push(batch('payment', 0, ['b'])), push(batch('transfer', 0, ['c']))];
  release();
  await Promise.all([first, ...later]);
  t.deepEqual(commits.map((c) => c.offsets.map((o) => `${o.topic}:${o.offset}`)), [['login:1'], ['login:2', 'payment:1', 'transfer:1']]);
});

test('over the per-user bound: two transactions, each batch resolved once its last record is committed', async (t) => {
  const { push, commits, events } = setup({ perUserLimit: 2 });
  // Merged: login@0 payment@0 | login@1 payment@1 (user u twice per transaction)
  const login = push(batch('login', 0, ['u', 'u'], [1, 3]));
  const payment = push(batch('payment', 0, ['u', 'u', 'v'], [2, 4, 5]));
  const transfer = push(batch('transfer', 0, ['w'], [0]));
  await Promise.all([login, payment, transfer]);
  t.deepEqual(commits.map((c) => ids(c.records)), [['transfer@0', 'login@0', 'payment@0'], ['login@1', 'payment@1', 'payment@2']]);
  t.deepEqual(events.filter((e) => !e.startsWith('judge')), [
    'commit login:1,payment:1,transfer:1',
    'resolved transfer',
    'commit login:2,payment:3',
    'resolved login',
    'resolved payment',
  ]);
});

test('a transaction that fails for good rejects every batch of the round not committed yet', async (t) => {
  const { push, commit, events } = setup({ perUserLimit: 1 });
  commit.onSecondCall().rejects(new EngineError('FENCED', 'fenced'));
  const results = await Promise.allSettled([push(batch('login', 0, ['u'], [1])), push(batch('payment', 0, ['u', 'v'], [2, 3])), push(batch('transfer', 0, ['w'], [4]))]);
  t.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected']);
  t.deepEqual(events.filter((e) => !e.startsWith('judge')), ['commit login:1', 'resolved login', 'rejected payment: fenced', 'rejected transfer: fenced']);
  // The queue goes on: the source redelivers.
  await push(batch('payment', 0, ['u', 'v'], [2, 3]));
  t.is(events.at(-1), 'resolved payment');
});

test('records committed already are not judged again; a batch with nothing left resolves without a transaction', async (t) => {
  const { push, commits } = setup({ committed: { login: 10, payment: 6 } });
  await Promise.all([push(batch('login', 8, ['a', 'b'])), push(batch('payment', 5, ['a', 'b']))]);
  t.is(commits.length, 1);
  t.deepEqual(ids(commits[0]!.records), ['payment@6']);
  t.deepEqual(commits[0]!.offsets.map((o) => `${o.topic}:${o.offset}`), ['payment:7']);
});

test('batches of one partition waiting together are merged, in order, into one round', async (t) => {
  const { push, commits } = setup();
  await Promise.all([push(batch('login', 0, ['a'])), push(batch('login', 1, ['a'])), push(batch('payment', 0, ['a']))]);
  t.deepEqual(commits.map((c) => c.offsets.map((o) => `${o.topic}:${o.offset}`)), [['login:2', 'payment:1']]);
  t.deepEqual(ids(commits[0]!.records), ['login@0', 'login@1', 'payment@0']);
});

test('many small batches of a partition (a source fetching ahead) are taken in one round, not one per round', async (t) => {
  const { push, events } = setup();
  await Promise.all(Array.from({ length: 20 }, (_, i) => push(batch('login', i, [`u${i}`]))));
  t.is(events.filter((e) => e.startsWith('judge')).length, 1);
});

test('a batch of a partition that starts below the one before it waits for the next round', async (t) => {
  const { push, commits } = setup();
  await Promise.all([push(batch('login', 0, ['a', 'b'])), push(batch('login', 1, ['b', 'c']))]);
  t.deepEqual(commits.map((c) => c.offsets.map((o) => `${o.topic}:${o.offset}`)), [['login:2'], ['login:3']]);
});

test('a stopped shard rejects what waits', async (t) => {
  const { push, stop, commits } = setup();
  stop();
  const results = await Promise.allSettled([push(batch('login', 0, ['a'])), push(batch('payment', 0, ['a']))]);
  t.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  t.is(commits.length, 0);
});

/** Resolves once `events` holds an entry starting with `prefix` (the queue's work announces itself there). */
async function seen(events: string[], prefix: string): Promise<void> {
  while (!events.some((e) => e.startsWith(prefix))) await new Promise((r) => setImmediate(r));
}

test('pipelined: the next round is judged while the previous one commits', async (t) => {
  const { push, hold, events, commits } = setup();
  const release = hold();
  const first = push(batch('login', 0, ['a']));
  await seen(events, 'judge login@0');
  const second = push(batch('login', 1, ['b']));
  await seen(events, 'judge login@1');
  t.is(commits.length, 0, 'judged while the first transaction is still open');
  release();
  await Promise.all([first, second]);
  t.deepEqual(commits.map((c) => ids(c.records)), [['login@0'], ['login@1']]);
});

test('pipelined: chunks judged during a transaction share the next one', async (t) => {
  const { push, hold, events, commits } = setup();
  const release = hold();
  const first = push(batch('login', 0, ['a']));
  await seen(events, 'judge login@0');
  const later = [push(batch('payment', 0, ['b']))];
  await seen(events, 'judge payment@0');
  later.push(push(batch('payment', 1, ['c'])));
  await seen(events, 'judge payment@1');
  release();
  await Promise.all([first, ...later]);
  t.deepEqual(commits.map((c) => ids(c.records)), [['login@0'], ['payment@0', 'payment@1']]);
  t.deepEqual(commits[1]!.offsets, [{ topic: 'payment', partition: 3, offset: '2' }]);
});

test('pipelined: a user never has more events judged and uncommitted than the bound; the next chunk waits for the commit', async (t) => {
  const { push, hold, events, commits } = setup({ perUserLimit: 2 });
  const release = hold();
  const first = push(batch('login', 0, ['u', 'u']));
  await seen(events, 'judge login@0');
  const second = push(batch('login', 2, ['u', 'v']));
  // Give the second round every chance to start judging: it must not, u has 2 uncommitted.
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.false(events.some((e) => e.startsWith('judge login@2')));
  release();
  await Promise.all([first, second]);
  t.deepEqual(events.filter((e) => e.startsWith('judge') || e.startsWith('commit')), ['judge login@0,login@1', 'commit login:2', 'judge login@2,login@3', 'commit login:4']);
  t.is(commits.length, 2);
});

test('pipelined: transactions start at most every commitIntervalMs', async (t) => {
  let now = 1000;
  const { push, events } = setup({ commitIntervalMs: 50, clock: () => now });
  await push(batch('login', 0, ['a']));
  now += 20;
  await push(batch('login', 1, ['a']));
  t.deepEqual(events.filter((e) => e.startsWith('sleep') || e.startsWith('commit')), ['commit login:1', 'sleep 30', 'commit login:2']);
});

test("a shared, paced sink: what is judged until its next transaction begins goes into that one, not only the first chunk", async (t) => {
  const slots: (() => void)[] = [];
  const nextTransaction = () => new Promise<void>((resolve) => slots.push(resolve));
  const { push, events, commits } = setup({ nextTransaction });
  const first = push(batch('login', 0, ['a']));
  await seen(events, 'judge login@0');
  const second = push(batch('payment', 0, ['b']));
  await seen(events, 'judge payment@0');
  t.is(commits.length, 0, 'nothing is handed over before the transaction begins');
  t.is(slots.length, 1, 'the shard waits for one transaction at a time');
  slots.shift()!();
  await Promise.all([first, second]);
  t.deepEqual(commits.map((c) => ids(c.records)), [['login@0', 'payment@0']]);
});

test('pipelined: a transaction that fails for good also gives up what was judged meanwhile; later batches go on', async (t) => {
  const { push, events, commit, commits } = setup();
  commit.onFirstCall().callsFake(async () => {
    await seen(events, 'judge payment@0');
    throw new EngineError('FENCED', 'fenced');
  });
  const results = await Promise.allSettled([
    push(batch('login', 0, ['a'])),
    seen(events, 'judge login@0').then(() => push(batch('payment', 0, ['b']))),
  ]);
  t.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  t.is(commits.length, 0);
  await push(batch('login', 0, ['a']));
  t.deepEqual(commits.map((c) => ids(c.records)), [['login@0']], 'the source delivers them again, and they commit');
});
