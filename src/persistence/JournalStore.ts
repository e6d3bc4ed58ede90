/**
 * The journal-store port: an append-only, per-entity journal with snapshots and per-shard
 * fencing. `RedisJournal` (Redis) and `EmbeddedJournal` (LMDB) implement it; both pass the
 * shared contract suite in test/integration/persistence/.
 *
 * Sequence numbers are per persistence key, start at 1 and have no gaps. Every write carries
 * the writer's fence (shard + epoch); a write whose epoch is lower than the shard's current epoch
 * is refused atomically with `FencedError`, so a zombie owner can never write stale state.
 */

/** Bumped when the stored envelope changes shape; readers upcast older versions. */
export const STORE_SCHEMA_VERSION = 1;

export interface Fence {
  shard: number;
  epoch: number;
}

export interface JournalEntry {
  key: string;
  sequenceNumber: number;
  /** JSON-serialisable payload (a domain journal event). */
  data: unknown;
  createdAt: number;
}

export interface Snapshot {
  key: string;
  sequenceNumber: number;
  /** JSON-serialisable state. */
  data: unknown;
  createdAt: number;
}

export interface JournalStore {
  /**
   * Appends entries (ascending, contiguous sequence numbers) for one or more keys in one
   * atomic-per-key, pipelined round trip. Refuses with `FencedError` when the fence's epoch is
   * older than the shard's, and with `SequenceConflictError` when a sequence number already exists.
   */
  append(entries: readonly JournalEntry[], fence: Fence): Promise<void>;
  /** Entries of `key` with sequenceNumber > afterSequence, ascending. */
  readAfter(key: string, afterSequence: number): Promise<JournalEntry[]>;
  latestSnapshot(key: string): Promise<Snapshot | null>;
  /**
   * The newest snapshot of `key` and the entries after it, read at one point in time (no snapshot
   * can trim the tail between the two reads) and in one round trip. Optional: replayState reads
   * them apart, and checks, without it.
   */
  readLatest?(key: string): Promise<{ snapshot: Snapshot | null; tail: JournalEntry[] }>;
  /** Stores the snapshot, keeps the newest `keepSnapshots`, trims journal entries <= its sequence. */
  saveSnapshot(snapshot: Snapshot, fence: Fence): Promise<void>;
  /** Makes `fence.epoch` the shard's epoch if it is newer; returns the shard's epoch after the call. */
  claimShard(fence: Fence): Promise<number>;
  /** A new epoch strictly greater than any claimed so far for the shard, claimed atomically. */
  nextEpoch(shard: number): Promise<number>;
  /** How many writes this store refused for a stale epoch (since the store was created). */
  readonly fencedWrites: number;
  /** True while the backing store answers. */
  isHealthy(): boolean;
  close(): Promise<void>;
  /**
   * Erasure (CONTRACT §8): deletes the journal and snapshots of `key` and `userId`'s decision-index
   * entries in one atomic step, and tells every instance (`onErased`). Not fenced: any instance may
   * erase; an owner's live actor still ahead of the store is refused at its next write (its
   * sequence number no longer follows the emptied journal) and recovers from the empty store.
   * Resolves with the head that was erased (0 when nothing was stored).
   */
  erase?(key: string, userId: string): Promise<number>;
  /** Calls `listener` with the persistence key of every erasure (this process's and, on a shared store, other instances'); returns the unsubscribe. */
  onErased?(listener: (key: string) => void): () => void;
}

export class FencedError extends Error {
  readonly code = 'FENCED';
  constructor(readonly shard: number, readonly writerEpoch: number, readonly currentEpoch: number) {
    super(`shard ${shard}: write with epoch ${writerEpoch} refused, the shard is held at epoch ${currentEpoch}`);
    this.name = 'FencedError';
  }
}

/** Resolves while `fence.epoch` is still the shard's newest epoch; rejects with FencedError once a newer one is claimed. */
export async function assertEpochHeld(store: Pick<JournalStore, 'claimShard'>, fence: Fence): Promise<void> {
  const held = await store.claimShard(fence);
  if (held > fence.epoch) throw new FencedError(fence.shard, fence.epoch, held);
}

export class SequenceConflictError extends Error {
  readonly code = 'SEQUENCE_CONFLICT';
  /**
   * `head`, when known, is the key's last stored sequence number: the write was neither the next
   * one (a gap, or one that already exists) nor, for a snapshot, one at or below the head.
   */
  constructor(readonly key: string, readonly sequenceNumber: number, readonly head?: number) {
    super(
      head === undefined
        ? `${key}: sequence number ${sequenceNumber} already exists`
        : `${key}: sequence number ${sequenceNumber} does not fit the journal, whose head is ${head}`,
    );
    this.name = 'SequenceConflictError';
  }
}

/*
 * A multi-key append is atomic per key, not per batch: some keys may be written while others are
 * refused. The rejection is the first key's error (so `instanceof FencedError` still works) and
 * carries, through this registry, the error of every key that was NOT written. A rejection without
 * it (invalid input, a connection lost before sending) means no key is known to be written.
 */
const keyErrors = new WeakMap<object, ReadonlyMap<string, Error>>();

export function withKeyErrors<E extends Error>(err: E, errors: ReadonlyMap<string, Error>): E {
  keyErrors.set(err, errors);
  return err;
}

/** The per-key errors of a rejected `append`; keys absent from the map were written. */
export function keyErrorsOf(err: unknown): ReadonlyMap<string, Error> | undefined {
  return typeof err === 'object' && err !== null ? keyErrors.get(err) : undefined;
}
