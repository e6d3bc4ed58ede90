/**
 * Retention of the embedded log: records older than `maxAgeMs`, then the oldest records while the
 * records take more than `maxBytes`, are removed, but only below every consumer group's committed
 * offset of their partition: a record some group has not committed stays, however old. The log
 * keeps its heads apart from the records, so offsets go on from where they were after any trim.
 * Runs go on a timer and early, once an eighth of `maxBytes` was appended since the last one.
 */
import type { Database, RootDatabase } from 'lmdb';
import type { Logger } from '../../log.ts';
import { pagesBytes, recordsOf, timeOf, type GroupKey, type RecordKey, type StoredRecord, type StoredValue } from './logRecords.ts';

export interface LogRetention {
  maxAgeMs: number;
  maxBytes: number;
}

export interface TrimReport {
  /** Records removed by this run. */
  removed: number;
  /** Bytes the records take afterwards (LMDB pages of the records database). */
  bytes: number;
  /** Still above `maxBytes`: everything left is uncommitted by some group (or newer than the rest). */
  overLimit: boolean;
}

/** The log's databases that retention reads and trims. */
export interface RetainedStores {
  root: RootDatabase;
  records: Database<StoredValue, RecordKey>;
  offsets: Database<number, GroupKey>;
  topics: Database<number, string>;
}

export interface LogTrimmerOptions {
  /** How often a run starts by itself. */
  intervalMs: number;
  now: () => number;
  logger?: Logger;
}

/** Records removed per write transaction, so that a large trim never holds the writer long. */
const TRIM_CHUNK = 2000;
/** Records removed from one partition before the oldest partition is looked for again. */
const BYTES_STEP = 64;
const END = Number.MAX_SAFE_INTEGER;
type PartitionFloor = [topic: string, partition: number, floor: number];

export function checkRetention({ maxAgeMs, maxBytes }: LogRetention): void {
  if (!(maxAgeMs > 0) || !(maxBytes > 0)) throw new RangeError(`retention bounds must be positive, got maxAgeMs=${maxAgeMs} maxBytes=${maxBytes}`);
}

export class LogTrimmer {
  readonly #stores: RetainedStores;
  readonly #retention: LogRetention;
  /** Consumer group -> topics it reads (the log's registrations), for groups that may not have committed anything yet. */
  readonly #consumers: ReadonlyMap<string, ReadonlySet<string>>;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  readonly #timer: NodeJS.Timeout;
  #trimming: Promise<TrimReport> | null = null;
  #appendedSinceTrim = 0;
  #reportedOverLimit = false;
  #closed = false;

  /** `retention` is checked by the caller (checkRetention), before it opens anything. */
  constructor(stores: RetainedStores, retention: LogRetention, consumers: ReadonlyMap<string, ReadonlySet<string>>, options: LogTrimmerOptions) {
    this.#stores = stores;
    this.#retention = retention;
    this.#consumers = consumers;
    this.#now = options.now;
    this.#logger = options.logger;
    this.#timer = setInterval(() => this.#trimInBackground(), options.intervalMs);
    this.#timer.unref();
  }

  /**
   * Applies retention now (the background runs call this too) and resolves with what it did.
   * Runs are serialised; a call while one runs starts a fresh one after it, which sees the
   * commits made meanwhile.
   */
  trim(): Promise<TrimReport> {
    const previous = this.#trimming?.catch(() => undefined) ?? Promise.resolve();
    const run = previous.then(() => this.#trimAll(this.#retention));
    this.#trimming = run;
    const settled = () => {
      if (this.#trimming === run) this.#trimming = null;
    };
    run.then(settled, settled);
    return run;
  }

  /** Bytes of record values just committed: a run starts early once they pass an eighth of the bound. */
  appended(bytes: number): void {
    this.#appendedSinceTrim += bytes;
    if (this.#appendedSinceTrim > this.#retention.maxBytes / 8) this.#trimInBackground();
  }

  /** No more runs; resolves once the one in progress (if any) is over. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#trimming?.catch(() => undefined);
  }

  #trimInBackground(): void {
    if (this.#closed || this.#trimming) return;
    this.#appendedSinceTrim = 0;
    this.trim().then(
      (report) => {
        if (report.overLimit && !this.#reportedOverLimit) {
          this.#logger?.warn({ bytes: report.bytes, maxBytes: this.#retention.maxBytes }, 'embedded log above its byte retention: the rest is not committed by every consumer group yet');
        }
        this.#reportedOverLimit = report.overLimit;
      },
      (err: unknown) => {
        if (!this.#closed) this.#logger?.error({ err }, 'trimming the embedded log failed; the next run tries again');
      },
    );
  }

  /** Age first, then bytes, in write transactions of at most TRIM_CHUNK removals each. */
  async #trimAll(retention: LogRetention): Promise<TrimReport> {
    let removed = 0;
    for (;;) {
      if (this.#closed) return { removed, bytes: 0, overLimit: false };
      const cutoff = this.#now() - retention.maxAgeMs;
      const chunk = await this.#stores.root.transaction(() => this.#trimChunk(cutoff, retention.maxBytes));
      removed += chunk.removed;
      if (chunk.removed < TRIM_CHUNK || this.#closed) return { removed, bytes: chunk.bytes, overLimit: chunk.bytes > retention.maxBytes };
    }
  }

  /** Runs inside a write transaction: floors and sizes are those of the state it writes. */
  #trimChunk(cutoff: number, maxBytes: number): { removed: number; bytes: number } {
    const floors = this.#floors();
    let removed = 0;
    for (const [topic, partition, floor] of floors) {
      if (removed >= TRIM_CHUNK) break;
      // Appends stamp records in offset order, so a partition's expired records come first.
      removed += this.#trimPartition(topic, partition, floor, TRIM_CHUNK - removed, (value) => timeOf(value) < cutoff);
    }
    let bytes = pagesBytes(this.#stores.records.getStats());
    while (bytes > maxBytes && removed < TRIM_CHUNK) {
      const oldest = this.#oldestTrimmable(floors);
      if (!oldest) break;
      const [topic, partition, floor] = oldest;
      const step = this.#trimPartition(topic, partition, floor, Math.min(BYTES_STEP, TRIM_CHUNK - removed), () => true);
      if (step === 0) break;
      removed += step;
      bytes = pagesBytes(this.#stores.records.getStats());
    }
    return { removed, bytes };
  }

  /**
   * Removes up to `budget` of the partition's first records below `floor`, while `expired` holds
   * for the value they are in; returns how many. A run cut by the floor or the budget keeps its
   * rest, stored again under its first remaining offset: what stays is exactly what a log of
   * single records would keep.
   */
  #trimPartition(topic: string, partition: number, floor: number, budget: number, expired: (value: StoredValue) => boolean): number {
    // Keys are collected before removal: an LMDB cursor must not walk what it deletes.
    const cut: { key: RecordKey; run: StoredRecord[]; n: number }[] = [];
    let removed = 0;
    for (const { key, value } of this.#stores.records.getRange({ start: [topic, partition, 0], end: [topic, partition, floor] })) {
      if (removed >= budget || !expired(value)) break;
      const run = recordsOf(value);
      const n = Math.min(run.length, floor - key[2], budget - removed);
      cut.push({ key, run, n });
      removed += n;
    }
    for (const { key, run, n } of cut) {
      void this.#stores.records.remove(key);
      const rest = run.slice(n);
      if (rest.length > 0) void this.#stores.records.put([topic, partition, key[2] + n], rest.length === 1 ? rest[0]! : rest);
    }
    return removed;
  }

  /** The partition whose first record below its floor is the oldest of all; null when none has one. */
  #oldestTrimmable(floors: readonly PartitionFloor[]): PartitionFloor | null {
    let oldest: PartitionFloor | null = null;
    let oldestAt = Infinity;
    for (const entry of floors) {
      const [topic, partition, floor] = entry;
      for (const { value } of this.#stores.records.getRange({ start: [topic, partition, 0], end: [topic, partition, floor], limit: 1 })) {
        const at = timeOf(value);
        if (at < oldestAt) [oldest, oldestAt] = [entry, at];
      }
    }
    return oldest;
  }

  /**
   * Every partition with the offset that retention stays below: the lowest committed offset of
   * the groups reading its topic (0 for a group that committed nothing there yet), or the end of
   * the partition when no group reads it (output topics: only the bounds apply).
   */
  #floors(): PartitionFloor[] {
    const readers = new Map<string, Set<string>>();
    const addReader = (topic: string, group: string) => readers.set(topic, (readers.get(topic) ?? new Set()).add(group));
    for (const [group, topics] of this.#consumers) for (const topic of topics) addReader(topic, group);
    const committed = new Map<string, number>();
    for (const { key, value } of this.#stores.offsets.getRange()) {
      const [group, topic, partition] = key;
      addReader(topic, group);
      committed.set(`${group}\u0000${topic}\u0000${partition}`, value);
    }
    const out: PartitionFloor[] = [];
    for (const { key: topic, value: partitions } of this.#stores.topics.getRange()) {
      for (let partition = 0; partition < partitions; partition++) {
        let floor = END;
        for (const group of readers.get(topic) ?? []) floor = Math.min(floor, committed.get(`${group}\u0000${topic}\u0000${partition}`) ?? 0);
        if (floor > 0) out.push([topic, partition, floor]);
      }
    }
    return out;
  }

}
