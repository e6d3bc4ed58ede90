/**
 * The embedded stand-in for Kafka: a durable, partitioned, append-only log in one LMDB environment
 * (`<DATA_DIR>/log`), with four databases:
 *   records  [topic, partition, offset] -> { k: key, v: value, h: headers, t: timestamp }, or a run:
 *                                          the records one write put on the partition, from that
 *                                          offset on, as an array (one LMDB put per partition and
 *                                          write rather than one per record: the puts were a tenth
 *                                          of the embedded engine's thread)
 *   heads    [topic, partition]         -> next offset to assign (kept apart from the records so
 *                                          that trimming old records, later, cannot reuse offsets)
 *   offsets  [group, topic, partition]  -> committed offset (the next one to read)
 *   topics   topic                      -> partition count, fixed at creation like Kafka's
 * Every write runs in an LMDB child transaction: records, heads and offsets of one call commit
 * together or not at all (a throw rolls all of it back), which is what a Kafka transaction gives.
 * Keys are partitioned with `shardOf`, exactly as Kafka's default partitioner does.
 *
 * Keys use lmdb's ordered-binary encoding, which is injective only for strings without control
 * characters or lone surrogates (it escapes low characters, writes 64+ characters as raw UTF-8 and
 * separates parts with NUL): topic names and group ids are checked for that (`checkName`).
 *
 * Retention (`retention`, ./logRetention.ts) removes old records below every consumer group's
 * committed offset; heads are kept apart from the records, so offsets go on after any trim.
 */
import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { EngineError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { ConsumedOffset, InputRecord, OutputRecord } from '../ports.ts';
import { pagesBytes, recordsOf, type GroupKey, type PartitionKey, type RecordKey, type StoredRecord, type StoredValue } from './logRecords.ts';
import { checkRetention, LogTrimmer, type LogRetention, type TrimReport } from './logRetention.ts';

export type { LogRetention, TrimReport } from './logRetention.ts';
import { shardOf } from '../shardOf.ts';

export interface EmbeddedLogOptions {
  /** Directory of the LMDB environment, created when missing; the engine passes `${DATA_DIR}/log`. */
  dir: string;
  /** Partition count of a topic created on its first append (output topics). */
  partitions: number;
  /** Bounds of what the log keeps (settings `embedded.retention`); unbounded when absent. */
  retention?: LogRetention;
  /** How often retention runs in the background; default 60 s. Appends also start it early. */
  trimIntervalMs?: number;
  /** Clock of record timestamps and of retention; default Date.now. */
  now?: () => number;
  /** Where background trims report; silent when absent. */
  logger?: Logger;
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

export class EmbeddedLog {
  readonly dir: string;
  readonly #root: RootDatabase;
  readonly #records: Database<StoredValue, RecordKey>;
  readonly #heads: Database<number, PartitionKey>;
  readonly #offsets: Database<number, GroupKey>;
  readonly #topics: Database<number, string>;
  readonly #defaultPartitions: number;
  readonly #listeners = new Set<(notice: AppendNotice) => void>();
  readonly #closeWaiters = new Set<() => void>();
  readonly #roundRobin = new Map<string, number>();
  readonly #now: () => number;
  /** Consumer group -> topics it reads, for groups that may not have committed anything yet. */
  readonly #consumers = new Map<string, Set<string>>();
  readonly #checkedNames = new Set<string>();
  readonly #trimmer: LogTrimmer | null;
  #closed = false;

  constructor(options: EmbeddedLogOptions) {
    checkPartitionCount(options.partitions);
    if (options.retention) checkRetention(options.retention);
    this.dir = options.dir;
    this.#defaultPartitions = options.partitions;
    this.#now = options.now ?? Date.now;
    mkdirSync(options.dir, { recursive: true });
    // Same durability as the embedded journal: a commit survives the process being killed; the
    // fsync follows the commit (overlappingSync), so a power loss may lose the newest commits
    // but never corrupts the file. The cache stays off: child transactions need that.
    this.#root = open({ path: options.dir, maxDbs: 4, cache: false, overlappingSync: true, noSync: false });
    this.#records = this.#root.openDB<StoredValue, RecordKey>('records', {});
    this.#heads = this.#root.openDB<number, PartitionKey>('heads', {});
    this.#offsets = this.#root.openDB<number, GroupKey>('offsets', {});
    this.#topics = this.#root.openDB<number, string>('topics', {});
    const stores = { root: this.#root, records: this.#records, offsets: this.#offsets, topics: this.#topics };
    this.#trimmer = options.retention
      ? new LogTrimmer(stores, options.retention, this.#consumers, { intervalMs: options.trimIntervalMs ?? 60_000, now: this.#now, ...(options.logger ? { logger: options.logger } : {}) })
      : null;
  }

  /**
   * Declares `group` a consumer of `topics`: retention keeps every record of theirs that the
   * group has not committed, from the first record on while it has committed nothing.
   */
  registerConsumer(group: string, topics: readonly string[]): void {
    checkName('group id', group, this.#checkedNames);
    for (const topic of topics) checkName('topic', topic, this.#checkedNames);
    const known = this.#consumers.get(group) ?? new Set<string>();
    for (const topic of topics) known.add(topic);
    this.#consumers.set(group, known);
  }

  /** Bytes the records take: LMDB pages of the records database (its file space is reused, not returned). */
  retainedBytes(): number {
    this.#assertOpen();
    return pagesBytes(this.#records.getStats());
  }

  /** Applies retention now (./logRetention.ts) and resolves with what it did; nothing without retention. */
  trim(): Promise<TrimReport> {
    this.#assertOpen();
    return this.#trimmer?.trim() ?? Promise.resolve({ removed: 0, bytes: this.retainedBytes(), overLimit: false });
  }

  /**
   * Creates the topic with `partitions` when missing. An existing topic keeps its count, and a
   * different one is refused: records already placed by `shardOf(key, n)` would land on other shards.
   */
  ensureTopic(topic: string, partitions: number): void {
    this.#assertOpen();
    checkPartitionCount(partitions);
    checkName('topic', topic, this.#checkedNames);
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
    if (maxRecords <= 0) return out;
    // The run that holds `from` may start before it.
    let first = from;
    for (const { key, value } of this.#records.getRange({ start: [topic, partition, from], end: [topic, partition], reverse: true, limit: 1 })) {
      if (key[2] + recordsOf(value).length > from) first = key[2];
    }
    for (const { key, value } of this.#records.getRange({ start: [topic, partition, first], end: [topic, partition, Number.MAX_SAFE_INTEGER] })) {
      const run = recordsOf(value);
      for (let i = Math.max(0, from - key[2]); i < run.length; i++) {
        const r = run[i]!;
        out.push({
          topic,
          partition,
          offset: String(key[2] + i),
          key: r.k === null ? null : Buffer.from(r.k, 'utf8'),
          value: Buffer.from(r.v, 'utf8'),
          headers: { ...r.h },
          timestamp: r.t,
        });
        if (out.length >= maxRecords) return out;
      }
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
    await this.#trimmer?.close();
    await this.#root.close();
  }

  async #write(records: readonly OutputRecord[], offsets: readonly ConsumedOffset[], group: string | null): Promise<LogPosition[]> {
    this.#assertOpen();
    if (records.length === 0 && offsets.length === 0) return [];
    const placed = records.map((r) => ({ record: r, partition: this.#partitionFor(r) }));
    if (offsets.length > 0) checkName('group id', group ?? '', this.#checkedNames);
    const committedOffsets = offsets.map((o) => ({ key: [group ?? '', o.topic, o.partition] as GroupKey, at: parseOffset(o.offset) }));
    const now = this.#now();
    const { positions, ends } = await this.#root.childTransaction(() => {
      // Per partition written, its next offset (read once, stored once) and its run of records (one put).
      const ends = new Map<string, { topic: string; partition: number; next: number; first: number; run: StoredRecord[] }>();
      const positions: LogPosition[] = [];
      for (const { key, at } of committedOffsets) void this.#offsets.put(key, at);
      for (const { record: r, partition } of placed) {
        const at = `${r.topic}\u0000${partition}`;
        let end = ends.get(at);
        if (!end) {
          if (this.#topics.get(r.topic) === undefined) void this.#topics.put(r.topic, this.partitionsOf(r.topic));
          const next = this.#heads.get([r.topic, partition]) ?? 0;
          ends.set(at, (end = { topic: r.topic, partition, next, first: next, run: [] }));
        }
        const offset = end.next++;
        const stored: StoredRecord = { k: r.key, v: r.value, t: now };
        if (r.headers && Object.keys(r.headers).length > 0) stored.h = r.headers;
        end.run.push(stored);
        positions.push({ topic: r.topic, partition, offset: String(offset) });
      }
      for (const end of ends.values()) {
        void this.#records.put([end.topic, end.partition, end.first], end.run.length === 1 ? end.run[0]! : end.run);
        void this.#heads.put([end.topic, end.partition], end.next);
      }
      return { positions, ends: [...ends.values()].map(({ topic, partition, next }): AppendNotice => ({ topic, partition, endOffset: String(next) })) };
    });
    if (this.#trimmer) {
      let bytes = 0;
      for (const { record } of placed) bytes += record.value.length;
      this.#trimmer.appended(bytes);
    }
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
    checkName('topic', r.topic, this.#checkedNames);
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

/**
 * Topic names and group ids become parts of ordered-binary keys, which are only unambiguous for
 * strings without control characters (NUL separates parts) and lone surrogates (written as U+FFFD).
 * Topics are Kafka names already; a group id comes from KAFKA_GROUP_ID.
 */
export function isLogName(name: string): boolean {
  return name !== '' && !UNSAFE_IN_KEYS.test(name);
}

const UNSAFE_IN_KEYS = /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkName(what: 'topic' | 'group id', name: string, checked: Set<string>): void {
  if (checked.has(name)) return;
  if (!isLogName(name)) {
    throw new EngineError('CONFIG', `the embedded log takes no ${what} ${JSON.stringify(name)}: it must be non-empty, without control characters or lone surrogates`);
  }
  checked.add(name);
}

function checkPartitionCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`partition count must be a positive integer, got ${n}`);
}
