/** Input checks shared by the stores, done before anything is written. */
import { SequenceConflictError, type Fence, type JournalEntry } from './JournalStore.ts';

/** The entries of each key, in order; throws when a key's entries are not ascending and contiguous. */
export function groupByKey(entries: readonly JournalEntry[]): Map<string, JournalEntry[]> {
  const groups = new Map<string, JournalEntry[]>();
  for (const e of entries) {
    if (!Number.isSafeInteger(e.sequenceNumber) || e.sequenceNumber < 1) {
      throw new RangeError(`${e.key}: sequence number ${e.sequenceNumber} is not a positive integer`);
    }
    const group = groups.get(e.key);
    if (!group) {
      groups.set(e.key, [e]);
      continue;
    }
    const prev = group[group.length - 1]!.sequenceNumber;
    if (e.sequenceNumber !== prev + 1) throw new SequenceConflictError(e.key, e.sequenceNumber, prev);
    group.push(e);
  }
  return groups;
}

export function checkFence(fence: Fence): void {
  if (!Number.isSafeInteger(fence.shard) || fence.shard < 0 || !Number.isSafeInteger(fence.epoch) || fence.epoch < 0) {
    throw new RangeError(`bad fence ${JSON.stringify(fence)}`);
  }
}
