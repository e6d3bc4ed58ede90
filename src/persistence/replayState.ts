/** Read-only reconstruction of an entity's state from a JournalStore: snapshot, then the tail. */
import { EngineError } from '../errors.ts';
import type { JournalEntry, JournalStore } from './JournalStore.ts';

const ATTEMPTS = 3;

/**
 * The owner may snapshot (and trim the journal) between two reads of a store that cannot read
 * both at once: the tail then no longer starts right after the snapshot we hold. That gap is
 * detected and the read retried; it needs no lock and writes nothing.
 */
export async function replayState<S>(
  store: JournalStore,
  key: string,
  initial: S,
  upcastSnapshot: (data: unknown) => S,
  applyEntry: (state: S, data: unknown, entry: JournalEntry) => S | Promise<S>,
): Promise<S> {
  for (let attempt = 1; ; attempt++) {
    // A store that reads both at one point in time does it in one call; otherwise they are read
    // apart, and what a snapshot may have moved meanwhile is checked below.
    const read = store.readLatest ? await store.readLatest(key) : null;
    const snapshot = read ? read.snapshot : await store.latestSnapshot(key);
    const from = snapshot?.sequenceNumber ?? 0;
    const tail = read ? read.tail : await store.readAfter(key, from);
    const gapAt = tail.findIndex((e, i) => e.sequenceNumber !== from + i + 1);
    // An empty tail cannot show a gap: a snapshot that landed between the two reads and trimmed
    // the whole tail is only seen by asking for the newest snapshot again.
    if (!read && tail.length === 0 && ((await store.latestSnapshot(key))?.sequenceNumber ?? 0) > from) {
      if (attempt < ATTEMPTS) continue;
      throw new EngineError('UNAVAILABLE', `${key}: snapshots keep moving under the read`);
    }
    if (gapAt >= 0) {
      if (attempt < ATTEMPTS) continue;
      throw new EngineError('UNAVAILABLE', `${key}: journal keeps moving under the read (entry ${tail[gapAt]!.sequenceNumber} after ${from + gapAt})`);
    }
    let state = snapshot ? upcastSnapshot(snapshot.data) : initial;
    for (const entry of tail) state = await applyEntry(state, entry.data, entry);
    return state;
  }
}
