import test from 'ava';
import sinon from 'sinon';
import type { JournalEntry, JournalStore, Snapshot } from '../../../src/persistence/JournalStore.ts';
import { replayState } from '../../../src/persistence/replayState.ts';

const entry = (n: number): JournalEntry => ({ key: 'k', sequenceNumber: n, data: n, createdAt: n });
const snapshot = (n: number, total: number): Snapshot => ({ key: 'k', sequenceNumber: n, data: { total }, createdAt: 0 });

function store(reads: Array<[Snapshot | null, JournalEntry[]]>) {
  const latestSnapshot = sinon.stub();
  const readAfter = sinon.stub();
  reads.forEach(([s, tail], i) => {
    latestSnapshot.onCall(i).resolves(s);
    readAfter.onCall(i).resolves(tail);
  });
  return { store: { latestSnapshot, readAfter } as unknown as JournalStore, latestSnapshot, readAfter };
}

const sum = (s: { total: number }, data: unknown) => ({ total: s.total + (data as number) });
const upcast = (d: unknown) => d as { total: number };

test('folds the tail over the snapshot', async (t) => {
  const { store: s, readAfter } = store([[snapshot(4, 10), [entry(5), entry(6)]]]);
  t.deepEqual(await replayState(s, 'k', { total: 0 }, upcast, sum), { total: 21 });
  t.deepEqual(readAfter.firstCall.args, ['k', 4]);
});

test('without a snapshot, folds the whole journal over the initial state', async (t) => {
  const { store: s } = store([[null, [entry(1), entry(2)]]]);
  t.deepEqual(await replayState(s, 'k', { total: 100 }, upcast, sum), { total: 103 });
});

test('a tail that does not follow the snapshot (trimmed meanwhile) is read again', async (t) => {
  const { store: s, latestSnapshot } = store([
    [snapshot(4, 10), [entry(8)]], // another instance snapshotted at 7 between our two reads
    [snapshot(7, 28), [entry(8)]],
  ]);
  t.deepEqual(await replayState(s, 'k', { total: 0 }, upcast, sum), { total: 36 });
  t.is(latestSnapshot.callCount, 2);
});

test('gives up with UNAVAILABLE when the journal keeps moving', async (t) => {
  const moving: [Snapshot | null, JournalEntry[]] = [snapshot(1, 1), [entry(3)]];
  const { store: s } = store([moving, moving, moving]);
  await t.throwsAsync(replayState(s, 'k', { total: 0 }, upcast, sum), { code: 'UNAVAILABLE' });
});

test('a snapshot that lands between the two reads and trims the whole tail is seen, and the read is done again', async (t) => {
  const latestSnapshot = sinon.stub();
  const readAfter = sinon.stub().resolves([]);
  // Snapshot 53 is the newest when first read; another instance then snapshots at 55, which trims
  // entries 54 and 55 before our journal read: the tail comes back empty.
  latestSnapshot.onCall(0).resolves(snapshot(53, 53));
  latestSnapshot.resolves(snapshot(55, 55));
  const s = { latestSnapshot, readAfter } as unknown as JournalStore;
  t.deepEqual(await replayState(s, 'k', { total: 0 }, upcast, sum), { total: 55 });
});

test('a store that reads snapshot and tail at one point in time is read once, in one call', async (t) => {
  const readLatest = sinon.stub().resolves({ snapshot: snapshot(4, 10), tail: [entry(5)] });
  const { store: s, latestSnapshot, readAfter } = store([]);
  (s as { readLatest?: unknown }).readLatest = readLatest;
  t.deepEqual(await replayState(s, 'k', { total: 0 }, upcast, sum), { total: 15 });
  t.is(readLatest.callCount, 1);
  t.is(latestSnapshot.callCount + readAfter.callCount, 0, 'no second look: nothing can move between the reads');
});
