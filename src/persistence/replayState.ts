/** Read-only reconstruction of an entity's state from a JournalStore: snapshot, then the tail. */
import { EngineError } from '../errors.ts';
import type { JournalEntry, JournalStore } from './JournalStore.ts';

const ATTEMPTS = 3;

/**
 * Used for users owned by another instance, whose owner may snapshot (and trim the journal)
 * between our two reads: the tail then no longer starts right after the snapshot we hold. That
 * gap is detected and the read retried; it needs no lock and writes nothing.
 */
export async function replayState<S>(
  store: JournalStore,
  key: string,
  initial: S,
  upcastSnapshot: (data: unknown) => S,
  applyEntry: (state: S, data: unknown, entry: JournalEntry) => S | Promise<S>,
): Promise<S> {
  for (let attempt = 1; ; attempt++) {
    const snapshot = await store.latestSnapshot(key);
    const from = snapshot?.sequenceNumber ?? 0;
    const tail = await store.readAfter(key, from);
    const gapAt = tail.findIndex((e, i) => e.sequenceNumber !== from + i + 1);
    // An empty tail cannot show a gap: a snapshot that landed between the two reads and trimmed
    // the whole tail is only seen by asking for the newest snapshot again.
    if (tail.length === 0 && ((await store.latestSnapshot(key))?.sequenceNumber ?? 0) > from) {
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
