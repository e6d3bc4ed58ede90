/** An in-memory JournalStore for unit tests (fault injection wraps its methods with sinon). */
import { FencedError, SequenceConflictError, type Fence, type JournalEntry, type JournalStore, type Snapshot } from '../../../src/persistence/JournalStore.ts';

export class MemoryJournal implements JournalStore {
  readonly journals = new Map<string, JournalEntry[]>();
  readonly snapshots = new Map<string, Snapshot>();
  readonly epochs = new Map<number, number>();
  fencedWrites = 0;

  private check(fence: Fence): void {
    const current = this.epochs.get(fence.shard) ?? 0;
    if (fence.epoch < current) {
      this.fencedWrites++;
      throw new FencedError(fence.shard, fence.epoch, current);
    }
  }

  private head(key: string): number {
    return this.journals.get(key)?.at(-1)?.sequenceNumber ?? this.snapshots.get(key)?.sequenceNumber ?? 0;
  }

  async append(entries: readonly JournalEntry[], fence: Fence): Promise<void> {
    this.check(fence);
    for (const e of entries) {
      if (e.sequenceNumber !== this.head(e.key) + 1) throw new SequenceConflictError(e.key, e.sequenceNumber, this.head(e.key));
      this.journals.set(e.key, [...(this.journals.get(e.key) ?? []), structuredClone(e)]);
    }
  }

  async readAfter(key: string, afterSequence: number): Promise<JournalEntry[]> {
    return (this.journals.get(key) ?? []).filter((e) => e.sequenceNumber > afterSequence).map((e) => structuredClone(e));
  }

  async latestSnapshot(key: string): Promise<Snapshot | null> {
    const s = this.snapshots.get(key);
    return s ? structuredClone(s) : null;
  }

  async saveSnapshot(snapshot: Snapshot, fence: Fence): Promise<void> {
    this.check(fence);
    this.snapshots.set(snapshot.key, structuredClone(snapshot));
    this.journals.set(snapshot.key, (this.journals.get(snapshot.key) ?? []).filter((e) => e.sequenceNumber > snapshot.sequenceNumber));
  }

  async claimShard(fence: Fence): Promise<number> {
    const now = Math.max(this.epochs.get(fence.shard) ?? 0, fence.epoch);
    this.epochs.set(fence.shard, now);
    return now;
  }

  async nextEpoch(shard: number): Promise<number> {
    const next = (this.epochs.get(shard) ?? 0) + 1;
    this.epochs.set(shard, next);
    return next;
  }

  isHealthy(): boolean {
    return true;
  }

  async close(): Promise<void> {}
}
