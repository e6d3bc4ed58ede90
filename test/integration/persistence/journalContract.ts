/**
 * The JournalStore contract, run against every implementation (RedisJournal.test.ts,
 * EmbeddedJournal.test.ts). Each test gets a fresh namespace (a Redis prefix, an LMDB directory);
 * `makeStore(ns)` opens a store on it, and calling it again opens a second store on the same data,
 * which is how the tests reopen a store or run two writers (two instances).
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import {
  FencedError,
  keyErrorsOf,
  SequenceConflictError,
  type Fence,
  type JournalEntry,
  type JournalStore,
} from '../../../src/persistence/JournalStore.ts';
import type { DecisionStore } from '../../../src/persistence/decisionIndex.ts';

export interface ContractHooks {
  /** Removes everything the namespace left behind; runs after the test's stores are closed. */
  cleanup(ns: string): Promise<void>;
  /** Stores `raw` as the journal entry `seq` of `key`, bypassing the store (old versions, corruption). */
  writeRawEntry(ns: string, key: string, seq: number, raw: string): Promise<void>;
  /** The sequence numbers of the snapshots kept for `key`, ascending. */
  snapshotSeqs(ns: string, key: string): Promise<number[]>;
}

type MakeStore = (ns: string) => Promise<JournalStore>;

const entries = (key: string, from: number, to: number, data = (seq: number): unknown => ({ n: seq })): JournalEntry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ key, sequenceNumber: from + i, data: data(from + i), createdAt: 1_700_000_000_000 + from + i }));

const seqs = (list: readonly JournalEntry[]): number[] => list.map((e) => e.sequenceNumber);

export function runJournalContract(name: string, makeStore: MakeStore, hooks: ContractHooks): void {
  /** A namespace for one test, and an opener whose stores are closed (then the data removed) after it. */
  function setup(t: ExecutionContext) {
    const ns = `c${randomBytes(5).toString('hex')}`;
    t.teardown(() => hooks.cleanup(ns)); // ava runs teardowns last-registered first: after the closes
    const open = async (): Promise<JournalStore> => {
      const store = await makeStore(ns);
      t.teardown(() => store.close());
      return store;
    };
    return { ns, open };
  }

  /** A fence this test owns: a fresh epoch of a shard number no other test uses. */
  async function ownFence(store: JournalStore): Promise<Fence> {
    const shard = randomBytes(3).readUIntBE(0, 3);
    return { shard, epoch: await store.nextEpoch(shard) };
  }

  test(`${name}: appends and reads back in sequence order, after any position`, async (t) => {
    const store = await setup(t).open();
    const fence = await ownFence(store);
    await store.append(entries('u1', 1, 3, (n) => ({ n, text: 'é€😀', nested: { list: [1, null, true] } })), fence);
    await store.append(entries('u1', 4, 5), fence);
    const all = await store.readAfter('u1', 0);
    t.deepEqual(seqs(all), [1, 2, 3, 4, 5]);
    t.deepEqual(all[0], { key: 'u1', sequenceNumber: 1, data: { n: 1, text: 'é€😀', nested: { list: [1, null, true] } }, createdAt: 1_700_000_000_001 });
    t.deepEqual(seqs(await store.readAfter('u1', 3)), [4, 5]);
    t.deepEqual(await store.readAfter('u1', 5), []);
    t.deepEqual(await store.readAfter('nobody', 0), []);
    t.is(await store.latestSnapshot('nobody'), null);
    await store.append([], fence); // nothing to do, and no error
  });

  test(`${name}: refuses gaps, duplicates and non-contiguous batches, writing nothing`, async (t) => {
    const store = await setup(t).open();
    const fence = await ownFence(store);
    const gapOnEmpty = await t.throwsAsync(store.append(entries('u1', 2, 2), fence), { instanceOf: SequenceConflictError });
    t.is(gapOnEmpty?.head, 0);
    await store.append(entries('u1', 1, 2), fence);
    const gap = await t.throwsAsync(store.append(entries('u1', 4, 5), fence), { instanceOf: SequenceConflictError });
    t.like(gap, { key: 'u1', sequenceNumber: 4, head: 2, code: 'SEQUENCE_CONFLICT' });
    await t.throwsAsync(store.append(entries('u1', 2, 3), fence), { instanceOf: SequenceConflictError });
    await t.throwsAsync(store.append([...entries('u1', 3, 3), ...entries('u1', 5, 5)], fence), { instanceOf: SequenceConflictError });
    t.deepEqual(seqs(await store.readAfter('u1', 0)), [1, 2]);
  });

  test(`${name}: of two writers racing for the same sequence numbers exactly one wins`, async (t) => {
    const { open } = setup(t);
    const [a, b] = [await open(), await open()];
    const fence = await ownFence(a);
    const results = await Promise.allSettled([
      a.append(entries('u1', 1, 3, () => 'from a'), fence),
      b.append(entries('u1', 1, 3, () => 'from b'), fence),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    t.is(won.length, 1);
    t.is(lost.length, 1);
    t.true(lost[0]!.reason instanceof SequenceConflictError);
    const stored = await a.readAfter('u1', 0);
    t.deepEqual(seqs(stored), [1, 2, 3]);
    t.is(new Set(stored.map((e) => e.data)).size, 1, 'all three entries come from the same writer');
  });

  test(`${name}: a newer epoch fences the older writer, for appends and snapshots`, async (t) => {
    const { open } = setup(t);
    const [old, next] = [await open(), await open()];
    const oldFence = await ownFence(old);
    await old.append(entries('u1', 1, 2), oldFence);
    const newEpoch = await next.nextEpoch(oldFence.shard);
    t.true(newEpoch > oldFence.epoch);
    const newFence = { shard: oldFence.shard, epoch: newEpoch };

    const refused = await t.throwsAsync(old.append(entries('u1', 3, 3), oldFence), { instanceOf: FencedError });
    t.like(refused, { code: 'FENCED', shard: oldFence.shard, writerEpoch: oldFence.epoch, currentEpoch: newEpoch });
    t.is(old.fencedWrites, 1);
    await t.throwsAsync(old.saveSnapshot({ key: 'u1', sequenceNumber: 2, data: {}, createdAt: 1 }, oldFence), { instanceOf: FencedError });
    t.is(old.fencedWrites, 2);
    t.is(next.fencedWrites, 0);
    t.is(await old.latestSnapshot('u1'), null);

    await next.append(entries('u1', 3, 3), newFence);
    t.deepEqual(seqs(await next.readAfter('u1', 0)), [1, 2, 3]);
    // Fencing is per shard: the old writer still owns its other shards.
    const otherShard = { shard: oldFence.shard + 1, epoch: oldFence.epoch };
    await old.append(entries('u2', 1, 1), otherShard);
  });

  test(`${name}: a writer's next append sees what another writer appended to the key since`, async (t) => {
    const { open } = setup(t);
    const [a, b] = [await open(), await open()];
    const fence = await ownFence(a);
    await a.append(entries('u1', 1, 2), fence);
    await b.append(entries('u1', 3, 3, () => 'from b'), fence);
    // a last wrote u1 at 2: 3 is taken by b now, so a's 3 is refused and 4 continues.
    const refused = await t.throwsAsync(a.append(entries('u1', 3, 3, () => 'from a'), fence), { instanceOf: SequenceConflictError });
    t.like(refused, { key: 'u1', sequenceNumber: 3, head: 3 });
    await a.append(entries('u1', 4, 4), fence);
    await a.append(entries('u2', 1, 1), fence);
    await b.append(entries('u2', 2, 2), fence);
    await a.append(entries('u2', 3, 3), fence);
    t.deepEqual((await a.readAfter('u1', 0)).map((e) => e.data), [{ n: 1 }, { n: 2 }, 'from b', { n: 4 }]);
    t.deepEqual(seqs(await b.readAfter('u2', 0)), [1, 2, 3]);
  });

  test(`${name}: claimShard only moves an epoch forward; nextEpoch goes past every claim`, async (t) => {
    const store = await setup(t).open();
    const { shard, epoch } = await ownFence(store);
    t.is(await store.claimShard({ shard, epoch: epoch + 10 }), epoch + 10);
    t.is(await store.claimShard({ shard, epoch: epoch + 5 }), epoch + 10, 'an older claim does not lower the epoch');
    t.is(await store.nextEpoch(shard), epoch + 11);
    await t.throwsAsync(store.append(entries('u1', 1, 1), { shard, epoch: epoch + 10 }), { instanceOf: FencedError });
    await store.append(entries('u1', 1, 1), { shard, epoch: epoch + 11 });
    // A writer whose epoch is ahead of the stored one is not fenced (it claimed nothing older).
    await store.append(entries('u1', 2, 2), { shard, epoch: epoch + 50 });
  });

  test(`${name}: readLatest gives the newest snapshot and the entries after it, in one call`, async (t) => {
    const { open } = setup(t);
    const store = await open();
    t.truthy(store.readLatest, 'both stores read snapshot and tail at one point in time');
    t.deepEqual(await store.readLatest!('nobody'), { snapshot: null, tail: [] });
    const fence = await ownFence(store);
    await store.append(entries('u1', 1, 5), fence);
    t.deepEqual(await store.readLatest!('u1'), { snapshot: null, tail: entries('u1', 1, 5) });
    await store.saveSnapshot({ key: 'u1', sequenceNumber: 3, data: { upTo: 3 }, createdAt: 5 }, fence);
    t.deepEqual(await store.readLatest!('u1'), { snapshot: { key: 'u1', sequenceNumber: 3, data: { upTo: 3 }, createdAt: 5 }, tail: entries('u1', 4, 5) });
    await store.saveSnapshot({ key: 'u1', sequenceNumber: 5, data: { upTo: 5 }, createdAt: 6 }, fence);
    t.deepEqual(await store.readLatest!('u1'), { snapshot: { key: 'u1', sequenceNumber: 5, data: { upTo: 5 }, createdAt: 6 }, tail: [] });
  });

  test(`${name}: snapshots keep the newest K, trim the journal, and the tail reads on from them`, async (t) => {
    const { ns, open } = setup(t);
    const store = await open();
    const fence = await ownFence(store);
    await store.append(entries('u1', 1, 10), fence);
    const snap = (seq: number) => store.saveSnapshot({ key: 'u1', sequenceNumber: seq, data: { upTo: seq }, createdAt: 5 }, fence);
    await snap(4);
    t.deepEqual(seqs(await store.readAfter('u1', 0)), [5, 6, 7, 8, 9, 10], 'entries <= 4 trimmed');
    await snap(7);
    t.deepEqual(await store.latestSnapshot('u1'), { key: 'u1', sequenceNumber: 7, data: { upTo: 7 }, createdAt: 5 });
    t.deepEqual(seqs(await store.readAfter('u1', 7)), [8, 9, 10]);
    t.deepEqual(seqs(await store.readAfter('u1', 0)), [5, 6, 7, 8, 9, 10], 'trimmed up to the oldest snapshot kept (4), not the newest');
    await snap(10);
    t.deepEqual(await hooks.snapshotSeqs(ns, 'u1'), [7, 10], 'keeps the newest 2');
    t.deepEqual(seqs(await store.readAfter('u1', 0)), [8, 9, 10], 'the journal reaches back to the oldest snapshot kept (7)');
    t.deepEqual(await store.readAfter('u1', 10), []);
    await t.throwsAsync(store.append(entries('u1', 1, 1), fence), { instanceOf: SequenceConflictError });
    await store.append(entries('u1', 11, 12), fence);
    t.deepEqual(seqs(await store.readAfter('u1', 10)), [11, 12]);
    await snap(10); // the same position again replaces, not duplicates
    t.deepEqual(await hooks.snapshotSeqs(ns, 'u1'), [7, 10]);
  });

  test(`${name}: a snapshot ahead of the journal is refused`, async (t) => {
    const store = await setup(t).open();
    const fence = await ownFence(store);
    await store.append(entries('u1', 1, 3), fence);
    const err = await t.throwsAsync(store.saveSnapshot({ key: 'u1', sequenceNumber: 4, data: {}, createdAt: 1 }, fence), {
      instanceOf: SequenceConflictError,
    });
    t.is(err?.head, 3);
    t.is(await store.latestSnapshot('u1'), null);
    t.deepEqual(seqs(await store.readAfter('u1', 0)), [1, 2, 3]);
  });

  test(`${name}: everything survives closing and reopening the store`, async (t) => {
    const { open } = setup(t);
    const first = await open();
    const fence = await ownFence(first);
    await first.append(entries('u1', 1, 5), fence);
    await first.saveSnapshot({ key: 'u1', sequenceNumber: 3, data: { upTo: 3 }, createdAt: 9 }, fence);
    await first.close();
    t.false(first.isHealthy());

    const reopened = await open();
    t.true(reopened.isHealthy());
    t.deepEqual(seqs(await reopened.readAfter('u1', 3)), [4, 5]);
    t.deepEqual(await reopened.latestSnapshot('u1'), { key: 'u1', sequenceNumber: 3, data: { upTo: 3 }, createdAt: 9 });
    const epoch = await reopened.nextEpoch(fence.shard);
    t.is(epoch, fence.epoch + 1, 'the epoch was kept');
    await reopened.append(entries('u1', 6, 6), { shard: fence.shard, epoch });
  });

  test(`${name}: one append writes many keys; a refused key does not stop the others`, async (t) => {
    const store = await setup(t).open();
    const fence = await ownFence(store);
    const keys = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    // Interleaved on purpose: the store groups by key and keeps each key's order.
    const batch = [1, 2, 3].flatMap((seq) => keys.map((key) => ({ key, sequenceNumber: seq, data: { key, seq }, createdAt: seq })));
    await store.append(batch, fence);
    for (const key of [keys[0]!, keys[99]!, keys[199]!]) {
      t.deepEqual((await store.readAfter(key, 0)).map((e) => e.data), [1, 2, 3].map((seq) => ({ key, seq })));
    }

    const mixed = [...entries('user-0', 4, 4), ...entries('user-1', 9, 9), ...entries('fresh', 1, 2)];
    const err = await t.throwsAsync(store.append(mixed, fence), { instanceOf: SequenceConflictError });
    t.deepEqual([...(keyErrorsOf(err)?.keys() ?? [])], ['user-1'], 'only the refused key is reported');
    t.deepEqual(seqs(await store.readAfter('user-0', 3)), [4]);
    t.deepEqual(seqs(await store.readAfter('fresh', 0)), [1, 2]);
    t.deepEqual(seqs(await store.readAfter('user-1', 3)), []);
  });

  test(`${name}: a fenced batch refuses every key and counts once`, async (t) => {
    const store = await setup(t).open();
    const fence = await ownFence(store);
    await store.nextEpoch(fence.shard);
    const err = await t.throwsAsync(store.append([...entries('a', 1, 1), ...entries('b', 1, 1)], fence), { instanceOf: FencedError });
    t.deepEqual([...(keyErrorsOf(err)?.keys() ?? [])].sort(), ['a', 'b']);
    t.is(store.fencedWrites, 1);
    t.deepEqual(await store.readAfter('a', 0), []);
  });

  test(`${name}: reads v1 envelopes as stored by v1, refuses unknown versions`, async (t) => {
    const { ns, open } = setup(t);
    const store = await open();
    // The exact bytes a v1 writer stores; if this stops reading, stored journals stop reading.
    await hooks.writeRawEntry(ns, 'u1', 1, '{"v":1,"seq":1,"at":1700000000000,"data":{"type":"login","ok":true}}');
    t.deepEqual(await store.readAfter('u1', 0), [{ key: 'u1', sequenceNumber: 1, data: { type: 'login', ok: true }, createdAt: 1_700_000_000_000 }]);
    await store.append(entries('u1', 2, 2), await ownFence(store));
    t.deepEqual(seqs(await store.readAfter('u1', 0)), [1, 2]);

    await hooks.writeRawEntry(ns, 'u2', 1, '{"v":99,"seq":1,"at":1,"data":{}}');
    await t.throwsAsync(store.readAfter('u2', 0), { message: /unknown schema version 99/ });
  });

  /** Journaled now: the index keeps entries for the retention (30 days by default) from when they were journaled. */
  const NOW = Date.now();
  /** A journal entry that accepted event `eventId` of `userId` (the part of it the index reads). */
  const accepted = (userId: string, seq: number, eventId: string): JournalEntry => ({
    key: `user:${userId}`,
    sequenceNumber: seq,
    data: { v: 1, type: 'accepted', decision: { eventId, userId, decision: 'ALLOW', riskScore: 0.1, rulesVersion: 1 } },
    createdAt: NOW + seq,
  });

  test(`${name}: the decision index is written with the journal entries, per user of an eventId`, async (t) => {
    const store = (await setup(t).open()) as JournalStore & DecisionStore;
    const fence = await ownFence(store);
    await store.append([accepted('u1', 1, 'e-1'), { ...accepted('u1', 2, 'x'), data: { v: 1, type: 'windowsEmitted', at: 1, windowStarts: [] } }, accepted('u1', 3, 'e-2'), accepted('u2', 1, 'e-1')], fence);
    const one = await store.decisionsOf('e-2');
    t.deepEqual(one, [{ userId: 'u1', sequenceNumber: 3, at: NOW + 3, decision: { eventId: 'e-2', userId: 'u1', decision: 'ALLOW', riskScore: 0.1, rulesVersion: 1 } }]);
    t.deepEqual((await store.decisionsOf('e-1')).map((d) => [d.userId, d.sequenceNumber]).sort(), [['u1', 1], ['u2', 1]]);
    t.deepEqual((await store.decisionsOf('e-1', 'u2')).map((d) => d.sequenceNumber), [1]);
    t.deepEqual(await store.decisionsOf('e-1', 'u3'), []);
    t.deepEqual(await store.decisionsOf('x'), [], 'only accepted events are indexed');
    t.deepEqual(await store.decisionsOf('nothing'), []);
  });

  test(`${name}: entries that are refused leave no index entry`, async (t) => {
    const store = (await setup(t).open()) as JournalStore & DecisionStore;
    const fence = await ownFence(store);
    await store.append([accepted('u1', 1, 'e-1')], fence);
    await t.throwsAsync(store.append([accepted('u1', 5, 'gap'), accepted('u2', 1, 'ok')], fence), { instanceOf: SequenceConflictError });
    t.deepEqual(await store.decisionsOf('gap'), []);
    t.deepEqual((await store.decisionsOf('ok')).map((d) => d.userId), ['u2']);
    await store.nextEpoch(fence.shard);
    await t.throwsAsync(store.append([accepted('u1', 2, 'fenced')], fence), { instanceOf: FencedError });
    t.deepEqual(await store.decisionsOf('fenced'), []);
  });

  test(`${name}: the newest snapshot at or below a sequence number`, async (t) => {
    const store = (await setup(t).open()) as JournalStore & DecisionStore;
    const fence = await ownFence(store);
    await store.append(entries('u1', 1, 10), fence);
    t.is(await store.snapshotAtOrBefore('u1', 10), null);
    await store.saveSnapshot({ key: 'u1', sequenceNumber: 4, data: { upTo: 4 }, createdAt: 4 }, fence);
    await store.saveSnapshot({ key: 'u1', sequenceNumber: 8, data: { upTo: 8 }, createdAt: 8 }, fence);
    t.is(await store.snapshotAtOrBefore('u1', 3), null);
    t.is((await store.snapshotAtOrBefore('u1', 4))?.sequenceNumber, 4);
    t.deepEqual(await store.snapshotAtOrBefore('u1', 7), { key: 'u1', sequenceNumber: 4, data: { upTo: 4 }, createdAt: 4 });
    t.is((await store.snapshotAtOrBefore('u1', 100))?.sequenceNumber, 8);
    t.is(await store.snapshotAtOrBefore('other', 100), null);
  });

  test(`${name}: every rules version is kept; the first content of a version stays`, async (t) => {
    const store = (await setup(t).open()) as JournalStore & DecisionStore;
    const rules = (v: number, bias: number) => ({ rulesVersion: v, modelVersion: 'm', thresholds: { block: 0.9, challenge: 0.7 }, weights: {}, bias, hardRules: [] });
    t.true(await store.saveRulesVersion(rules(1, 0)));
    t.true(await store.saveRulesVersion(rules(2, 1)));
    t.false(await store.saveRulesVersion(rules(1, 5)));
    t.deepEqual(await store.rulesVersion(1), rules(1, 0));
    t.deepEqual(await store.rulesVersion(2), rules(2, 1));
    t.is(await store.rulesVersion(3), null);
  });

  test(`${name}: refuses data that cannot be stored as JSON, writing nothing`, async (t) => {
    const store = await setup(t).open();
    const fence = await ownFence(store);
    await t.throwsAsync(store.append([...entries('ok', 1, 1), { key: 'bad', sequenceNumber: 1, data: undefined, createdAt: 1 }], fence), {
      instanceOf: TypeError,
    });
    t.deepEqual(await store.readAfter('ok', 0), []);
  });
}
