/**
 * EmbeddedJournal (LMDB) in temporary directories: the shared contract, then durability of
 * acknowledged writes when the writing process is killed.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { open, type Database } from 'lmdb';
import { EmbeddedJournal } from '../../../src/persistence/EmbeddedJournal.ts';
import { keyPrefix, prefixEnd, seqKey, seqOf } from '../../../src/persistence/embeddedKeys.ts';
import { encodeEnvelope } from '../../../src/persistence/envelope.ts';
import type { JournalEntry } from '../../../src/persistence/JournalStore.ts';
import { runJournalContract } from './journalContract.ts';

const root = mkdtempSync(join(tmpdir(), 'risk-journal-'));
test.after.always(() => rmSync(root, { recursive: true, force: true }));

const dirOf = (ns: string): string => join(root, ns);

/** Raw access to the store's file, as a second LMDB handle (like another process would have). */
async function withRaw<T>(ns: string, db: 'journal-v2' | 'snapshots-v2' | 'decisions', fn: (d: Database<string, Buffer>) => Promise<T> | T): Promise<T> {
  const env = open({ path: join(dirOf(ns), 'journal.mdb'), maxDbs: 10 });
  try {
    return await fn(env.openDB<string, Buffer>(db, { encoding: 'string', keyEncoding: 'binary' }));
  } finally {
    await env.close();
  }
}

runJournalContract('lmdb', async (ns) => new EmbeddedJournal({ dir: dirOf(ns) }), {
  cleanup: async (ns) => rmSync(dirOf(ns), { recursive: true, force: true }),
  writeRawEntry: (ns, key, seq, raw) => withRaw(ns, 'journal-v2', (d) => d.put(seqKey(keyPrefix(key), seq), raw).then(() => undefined)),
  snapshotSeqs: (ns, key) =>
    withRaw(ns, 'snapshots-v2', (d) => [...d.getKeys({ start: keyPrefix(key), end: prefixEnd(keyPrefix(key)) })].map(seqOf)),
});

test('lmdb: every acknowledged write survives the writer being killed (SIGKILL)', async (t) => {
  const dir = dirOf('killed');
  const fixture = fileURLToPath(new URL('./fixtures/embeddedWriter.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  let acked = 0;
  for await (const line of createInterface({ input: child.stdout })) {
    acked = Math.max(acked, Number(line));
    // Killed while it keeps writing, so the kill lands in the middle of some commit.
    if (acked >= 300 && !child.killed) child.kill('SIGKILL');
  }
  const [, signal] = await exited;
  t.is(signal, 'SIGKILL');

  const store = new EmbeddedJournal({ dir });
  t.teardown(() => store.close());
  const seqs = (await store.readAfter('u1', 0)).map((e) => e.sequenceNumber);
  t.true(seqs.length >= acked, `acknowledged ${acked}, found ${seqs.length}`);
  t.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'no gap, no duplicate');
});

/** The two user ids of the report: their keys shared a key range under the first layout. */
const LONG_USER = `user:${'x'.repeat(59)}`;
const TWIN_USER = `${LONG_USER}\u0000\u0014` + '0';

const entry = (key: string, sequenceNumber: number, n: number): JournalEntry => ({ key, sequenceNumber, data: { n }, createdAt: 1_700_000_000_000 + n });

test('lmdb: the reported colliding ids each keep their own journal, and writes keep succeeding', async (t) => {
  const dir = dirOf('collision');
  const store = new EmbeddedJournal({ dir });
  const fence = { shard: 1, epoch: await store.nextEpoch(1) };
  // Interleaved, as the two users' events arrive on one shard.
  await store.append([entry(LONG_USER, 1, 1)], fence);
  await store.append([entry(TWIN_USER, 1, 101)], fence);
  await store.append([entry(LONG_USER, 2, 2), entry(TWIN_USER, 2, 102)], fence);
  await store.saveSnapshot({ key: TWIN_USER, sequenceNumber: 2, data: { twin: true }, createdAt: 5 }, fence);
  await store.append([entry(LONG_USER, 3, 3), entry(TWIN_USER, 3, 103)], fence);
  await store.close();

  const reopened = new EmbeddedJournal({ dir });
  t.teardown(() => reopened.close());
  t.deepEqual((await reopened.readAfter(LONG_USER, 0)).map((e) => e.data), [{ n: 1 }, { n: 2 }, { n: 3 }]);
  t.deepEqual((await reopened.readAfter(TWIN_USER, 0)).map((e) => e.data), [{ n: 103 }]);
  t.is(await reopened.latestSnapshot(LONG_USER), null);
  t.like(await reopened.latestSnapshot(TWIN_USER), { sequenceNumber: 2, data: { twin: true } });
  await reopened.append([entry(LONG_USER, 4, 4), entry(TWIN_USER, 4, 104)], fence);
  t.deepEqual((await reopened.readAfter(LONG_USER, 3)).map((e) => e.sequenceNumber), [4]);
  t.deepEqual((await reopened.readAfter(TWIN_USER, 3)).map((e) => e.sequenceNumber), [4]);
});

test('lmdb: a store written in the first key layout is converted once on open, collisions untangled', async (t) => {
  const dir = dirOf('legacy');
  // Written as release 0.1 wrote it: ordered-binary keys [key, seq] in `journal` and `snapshots`.
  mkdirSync(dir, { recursive: true });
  const old = open({ path: join(dir, 'journal.mdb'), maxDbs: 4 });
  const oldJournal = old.openDB<string, [string, number]>('journal', { encoding: 'string' });
  const oldSnapshots = old.openDB<string, [string, number]>('snapshots', { encoding: 'string' });
  const oldEpochs = old.openDB<number, number>('epochs', {});
  const put = (db: typeof oldJournal, key: string, seq: number, data: unknown) => db.put([key, seq], encodeEnvelope(seq, 1_700_000_000_000 + seq, data));
  await put(oldJournal, 'user:u-1', 1, { n: 1 });
  await put(oldJournal, 'user:u-1', 2, { n: 2 });
  await put(oldSnapshots, 'user:u-2', 5, { state: 'u-2 at 5' });
  await put(oldJournal, 'user:u-2', 6, { n: 6 });
  await put(oldJournal, LONG_USER, 1, { n: 1 });
  await put(oldJournal, TWIN_USER, 1, { n: 101 });
  await put(oldJournal, TWIN_USER, 2, { n: 102 });
  await oldEpochs.put(7, 3);
  await old.close();

  const store = new EmbeddedJournal({ dir });
  t.deepEqual(store.migrated, { moved: { journal: 6, snapshots: 1 }, unreadable: 0 });
  t.deepEqual((await store.readAfter('user:u-1', 0)).map((e) => [e.sequenceNumber, e.data]), [[1, { n: 1 }], [2, { n: 2 }]]);
  t.like(await store.latestSnapshot('user:u-2'), { key: 'user:u-2', sequenceNumber: 5, data: { state: 'u-2 at 5' } });
  t.deepEqual((await store.readAfter('user:u-2', 5)).map((e) => e.sequenceNumber), [6]);
  t.deepEqual((await store.readAfter(LONG_USER, 0)).map((e) => e.data), [{ n: 1 }]);
  t.deepEqual((await store.readAfter(TWIN_USER, 0)).map((e) => e.data), [{ n: 101 }, { n: 102 }]);
  t.is(await store.claimShard({ shard: 7, epoch: 3 }), 3, 'epochs kept');
  // Each head is its own again: the next sequence numbers are accepted.
  const fence = { shard: 7, epoch: await store.nextEpoch(7) };
  await store.append([entry(LONG_USER, 2, 2), entry(TWIN_USER, 3, 103), entry('user:u-2', 7, 7)], fence);
  await store.close();

  const again = new EmbeddedJournal({ dir });
  t.teardown(() => again.close());
  t.is(again.migrated, null, 'converted once');
  t.deepEqual((await again.readAfter(TWIN_USER, 0)).map((e) => e.sequenceNumber), [1, 2, 3]);
  const raw = open({ path: join(dir, 'journal.mdb'), maxDbs: 8 });
  t.teardown(() => raw.close());
  const gone = { create: false } as Parameters<typeof raw.openDB>[1];
  t.is(raw.openDB('journal', gone) as unknown, undefined, 'the old databases are dropped');
  t.is(raw.openDB('snapshots', gone) as unknown, undefined);
});

test('lmdb: the decision index keeps an eventId for the retention; past it, it is not read and is removed at the next open', async (t) => {
  const dir = dirOf('retention');
  let now = 1_800_000_000_000;
  const options = { dir, decisionRetentionMs: 1000, now: () => now };
  const entry = (seq: number, eventId: string): JournalEntry => ({
    key: 'user:u1',
    sequenceNumber: seq,
    data: { v: 1, type: 'accepted', decision: { eventId, userId: 'u1' } },
    createdAt: now,
  });
  const store = new EmbeddedJournal(options);
  const fence = { shard: 1, epoch: await store.nextEpoch(1) };
  await store.append([entry(1, 'old')], fence);
  now += 600;
  await store.append([entry(2, 'new')], fence);
  now += 600;
  t.deepEqual(await store.decisionsOf('old'), []);
  t.deepEqual(await store.decisionsOf('old', 'u1'), []);
  t.deepEqual((await store.decisionsOf('new')).map((d) => d.sequenceNumber), [2]);
  await store.close();

  const reopened = new EmbeddedJournal(options);
  t.teardown(() => reopened.close());
  // The removal runs in a write transaction queued at open; the next one is serialised after it.
  await reopened.nextEpoch(2);
  const raw = await withRaw('retention', 'decisions', (d) => [...d.getKeys({})].length);
  t.is(raw, 1, 'only the index entry of "new" is left');
});
