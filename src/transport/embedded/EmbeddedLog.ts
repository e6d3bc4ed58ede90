/**
 * The embedded stand-in for Kafka: a durable, partitioned, append-only log in one LMDB environment
 * (`<DATA_DIR>/log`), with four databases:
 *   records  [topic, partition, offset] -> { k: key, v: value, h: headers, t: timestamp }
 *   heads    [topic, partition]         -> next offset to assign (kept apart from the records so
 *                                          that trimming old records, later, cannot reuse offsets)
 *   offsets  [group, topic, partition]  -> committed offset (the next one to read)
 *   topics   topic                      -> partition count, fixed at creation like Kafka's
 * Every write runs in an LMDB child transaction: records, heads and offsets of one call commit
 * together or not at all (a throw rolls all of it back), which is what a Kafka transaction gives.
 * Keys are partitioned with `shardOf`, exactly as Kafka's default partitioner does.
 */
import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { EngineError } from '../../errors.ts';
import type { ConsumedOffset, InputRecord, OutputRecord } from '../ports.ts';
import { shardOf } from '../shardOf.ts';

export interface EmbeddedLogOptions {
  /** Directory of the LMDB environment, created when missing; the engine passes `${DATA_DIR}/log`. */
  dir: string;
  /** Partition count of a topic created on its first append (output topics). */
  partitions: number;
}

/** Where an appended record landed. */
export interface LogPosition {
  topic: string;
  partition: number;
  offset: string;
}

export interface AppendNotice {
  topic: string;
  partition: number;
  /** The partition's end offset after the append (one past its last record). */
  endOffset: string;
}

interface StoredRecord {
  k: string | null;
  v: string;
  h?: Record<string, string>;
  t: number;
}

type RecordKey = [topic: string, partition: number, offset: number];
type PartitionKey = [topic: string, partition: number];
type GroupKey = [group: string, topic: string, partition: number];

export class EmbeddedLog {
  readonly dir: string;
  readonly #root: RootDatabase;
  readonly #records: Database<StoredRecord, RecordKey>;
  readonly #heads: Database<number, PartitionKey>;
  readonly #offsets: Database<number, GroupKey>;
  readonly #topics: Database<number, string>;
  readonly #defaultPartitions: number;
  readonly #listeners = new Set<(notice: AppendNotice) => void>();
  readonly #closeWaiters = new Set<() => void>();
  readonly #roundRobin = new Map<string, number>();
  #closed = false;

  constructor(options: EmbeddedLogOptions) {
    checkPartitionCount(options.partitions);
    this.dir = options.dir;
    this.#defaultPartitions = options.partitions;
    mkdirSync(options.dir, { recursive: true });
    // Same durability as the embedded journal: a commit survives the process being killed; the
    // fsync follows the commit (overlappingSync), so a power loss may lose the newest commits
    // but never corrupts the file. The cache stays off: child transactions need that.
    this.#root = open({ path: options.dir, maxDbs: 4, cache: false, overlappingSync: true, noSync: false });
    this.#records = this.#root.openDB<StoredRecord, RecordKey>('records', {});
    this.#heads = this.#root.openDB<number, PartitionKey>('heads', {});
    this.#offsets = this.#root.openDB<number, GroupKey>('offsets', {});
    this.#topics = this.#root.openDB<number, string>('topics', {});
  }

  /**
   * Creates the topic with `partitions` when missing. An existing topic keeps its count, and a
   * different one is refused: records already placed by `shardOf(key, n)` would land on other shards.
   */
  ensureTopic(topic: string, partitions: number): void {
    this.#assertOpen();
    checkPartitionCount(partitions);
    const stored = this.#root.transactionSync(() => {
      const current = this.#topics.get(topic);
      if (current === undefined) void this.#topics.put(topic, partitions);
      return current ?? partitions;
    });
    if (stored !== partitions) {
      throw new EngineError('TOPOLOGY', `topic ${topic} in ${this.dir} has ${stored} partitions, not ${partitions}; use the same partition count or another DATA_DIR`);
    }
  }

  partitionsOf(topic: string): number {
    this.#assertOpen();
    return this.#topics.get(topic) ?? this.#defaultPartitions;
  }

  /** Appends records durably, each to partition `shardOf(key)` (keyless: round robin). */
  append(records: readonly OutputRecord[]): Promise<LogPosition[]> {
    return this.#write(records, [], null);
  }

  /** Appends `records` and stores `offsets` as `group`'s committed offsets, in one transaction. */
  commit(records: readonly OutputRecord[], offsets: readonly ConsumedOffset[], group: string): Promise<LogPosition[]> {
    return this.#write(records, offsets, group);
  }

  /** Up to `maxRecords` records of one partition from `fromOffset` on, in offset order. */
  read(topic: string, partition: number, fromOffset: string, maxRecords: number): InputRecord[] {
    this.#assertOpen();
    const from = parseOffset(fromOffset);
    const out: InputRecord[] = [];
    const range = this.#records.getRange({ start: [topic, partition, from], end: [topic, partition, Number.MAX_SAFE_INTEGER], limit: maxRecords });
    for (const { key, value: r } of range) {
      out.push({
        topic,
        partition,
        offset: String(key[2]),
        key: r.k === null ? null : Buffer.from(r.k, 'utf8'),
        value: Buffer.from(r.v, 'utf8'),
        headers: { ...r.h },
        timestamp: r.t,
      });
    }
    return out;
  }

  /** One past the partition's last record (Kafka's high watermark). */
  endOffset(topic: string, partition: number): string {
    this.#assertOpen();
    return String(this.#heads.get([topic, partition]) ?? 0);
  }

  /** The partition's first retained record (Kafka's low watermark); the end offset when empty. */
  startOffset(topic: string, partition: number): string {
    this.#assertOpen();
    for (const k of this.#records.getKeys({ start: [topic, partition, 0], end: [topic, partition, Number.MAX_SAFE_INTEGER], limit: 1 })) return String(k[2]);
    return this.endOffset(topic, partition);
  }

  /** `group`'s committed offset of the partition, or null when it never committed one. */
  committed(group: string, topic: string, partition: number): string | null {
    this.#assertOpen();
    const at = this.#offsets.get([group, topic, partition]);
    return at === undefined ? null : String(at);
  }

  /** Called after every committed append, once per partition it touched; returns the unsubscribe. */
  onAppend(listener: (notice: AppendNotice) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /**
   * Resolves once the partition's end offset is beyond `offset`, or the signal aborts, or the
   * log closes: readers wait for the append itself instead of polling.
   */
  waitForAppend(topic: string, partition: number, offset: string, signal?: AbortSignal): Promise<void> {
    const target = parseOffset(offset);
    if (this.#closed || signal?.aborted || Number(this.endOffset(topic, partition)) > target) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        unsubscribe();
        this.#closeWaiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const unsubscribe = this.onAppend((n) => {
        if (n.topic === topic && n.partition === partition && Number(n.endOffset) > target) done();
      });
      this.#closeWaiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // No reader is left waiting for an append that can no longer come.
    for (const wake of [...this.#closeWaiters]) wake();
    this.#listeners.clear();
    await this.#root.close();
  }

  async #write(records: readonly OutputRecord[], offsets: readonly ConsumedOffset[], group: string | null): Promise<LogPosition[]> {
    this.#assertOpen();
    if (records.length === 0 && offsets.length === 0) return [];
    const placed = records.map((r) => ({ record: r, partition: this.#partitionFor(r) }));
    const committedOffsets = offsets.map((o) => ({ key: [group ?? '', o.topic, o.partition] as GroupKey, at: parseOffset(o.offset) }));
    const now = Date.now();
    const { positions, ends } = await this.#root.childTransaction(() => {
      const ends = new Map<string, AppendNotice>();
      const positions: LogPosition[] = [];
      for (const { key, at } of committedOffsets) void this.#offsets.put(key, at);
      for (const { record: r, partition } of placed) {
        if (this.#topics.get(r.topic) === undefined) void this.#topics.put(r.topic, this.partitionsOf(r.topic));
        const offset = this.#heads.get([r.topic, partition]) ?? 0;
        const stored: StoredRecord = { k: r.key, v: r.value, t: now };
        if (r.headers && Object.keys(r.headers).length > 0) stored.h = r.headers;
        void this.#records.put([r.topic, partition, offset], stored);
        void this.#heads.put([r.topic, partition], offset + 1);
        positions.push({ topic: r.topic, partition, offset: String(offset) });
        ends.set(`${r.topic}\u0000${partition}`, { topic: r.topic, partition, endOffset: String(offset + 1) });
      }
      return { positions, ends: [...ends.values()] };
    });
    for (const notice of ends) {
      for (const listener of [...this.#listeners]) {
        try {
          listener(notice);
        } catch {
          // The write is committed: a failing listener must not make its caller believe otherwise.
        }
      }
    }
    return positions;
  }

  #partitionFor(r: OutputRecord): number {
    if (typeof r.topic !== 'string' || r.topic === '') throw new RangeError('a record needs a topic');
    const partitions = this.partitionsOf(r.topic);
    if (r.key !== null) return shardOf(r.key, partitions);
    const next = this.#roundRobin.get(r.topic) ?? 0;
    this.#roundRobin.set(r.topic, (next + 1) % partitions);
    return next;
  }

  #assertOpen(): void {
    if (this.#closed) throw new EngineError('UNAVAILABLE', `embedded log ${this.dir} is closed`);
  }
}

/** Offsets are strings of non-negative integers, as in Kafka. */
function parseOffset(offset: string): number {
  if (!/^\d{1,16}$/.test(offset) || !Number.isSafeInteger(Number(offset))) throw new RangeError(`not an offset: ${JSON.stringify(offset)}`);
  return Number(offset);
}

function checkPartitionCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`partition count must be a positive integer, got ${n}`);
}
