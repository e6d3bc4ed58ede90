/**
 * JournalStore.erase on Redis and LMDB: journal, snapshots and the user's decision-index entries
 * go in one step (others' stay); a stale writer that still holds the old head is refused (so a
 * live actor that missed the erasure cannot write its old state back), a fresh one starts at 1;
 * the erasure is announced to every store on the namespace.
 */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { EmbeddedJournal } from '../../../src/persistence/EmbeddedJournal.ts';
import { RedisJournal } from '../../../src/persistence/RedisJournal.ts';
import { SequenceConflictError, type JournalEntry, type JournalStore } from '../../../src/persistence/JournalStore.ts';
import type { DecisionStore } from '../../../src/persistence/decisionIndex.ts';
import { uniqueId } from '../helpers/harness.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const fence = { shard: 0, epoch: 1 };
const accepted = (userId: string, seq: number, eventId: string): JournalEntry => ({
  key: `user:${userId}`,
  sequenceNumber: seq,
  createdAt: Date.now(),
  data: { type: 'accepted', decision: { eventId, userId, decision: 'ALLOW' } },
});

async function contract(t: import('ava').ExecutionContext, store: JournalStore & DecisionStore, other: JournalStore): Promise<void> {
  const heard: string[] = [];
  let heardA: () => void = () => undefined;
  const aHeard = new Promise<void>((resolve) => (heardA = resolve));
  other.onErased!((key) => {
    heard.push(key);
    if (key === 'user:a') heardA();
  });
  // The subscription (Redis) is made in the background: erasures are heard once it is in place.
  for (let i = 0; i < 200 && !heard.includes('user:probe'); i++) await store.erase!('user:probe', 'probe');
  t.true(heard.includes('user:probe'));
  await store.append([accepted('a', 1, 'e1'), accepted('a', 2, 'shared'), accepted('b', 1, 'shared')], fence);
  await store.saveSnapshot({ key: 'user:a', sequenceNumber: 1, data: { n: 1 }, createdAt: 0 }, fence);
  await store.append([accepted('a', 3, 'e3')], fence);

  t.is(await store.erase!('user:a', 'a'), 3);
  t.deepEqual(await store.readAfter('user:a', 0), []);
  t.is(await store.latestSnapshot('user:a'), null);
  t.deepEqual(await store.decisionsOf('e1'), []);
  t.deepEqual(await store.decisionsOf('e3'), []);
  t.deepEqual((await store.decisionsOf('shared')).map((d) => d.userId), ['b'], "the other user's entry of a shared eventId stays");
  t.is((await store.readAfter('user:b', 0)).length, 1);

  const stale = await t.throwsAsync(store.append([accepted('a', 4, 'old')], fence));
  t.true(stale instanceof SequenceConflictError, 'a writer still at the old head is refused');
  await store.append([accepted('a', 1, 'new')], fence);
  t.deepEqual((await store.readAfter('user:a', 0)).map((e) => e.sequenceNumber), [1]);
  t.is(await store.erase!('user:nobody', 'nobody'), 0, 'erasing nothing is fine');
  await aHeard;
  t.true(heard.includes('user:a'), 'the erasure was announced');
}

test.serial('redis: erase', async (t) => {
  const prefix = uniqueId('erase-store');
  const store = await RedisJournal.connect({ url: REDIS_URL, prefix });
  const other = await RedisJournal.connect({ url: REDIS_URL, prefix });
  const admin = createClient({ url: REDIS_URL });
  await admin.connect();
  t.teardown(async () => {
    for await (const keys of admin.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) if (keys.length) await admin.del(keys);
    await Promise.all([store.close(), other.close(), admin.close()]);
  });
  await store.nextEpoch(0);
  await contract(t, store, other);
});

test.serial('embedded: erase', async (t) => {
  const store = new EmbeddedJournal({ dir: mkdtempSync(join(tmpdir(), 'risk-erase-store-')) });
  t.teardown(() => store.close());
  await store.nextEpoch(0);
  await contract(t, store, store);
});
