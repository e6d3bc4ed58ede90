/**
 * JournalStore on LMDB, for embedded mode: one environment file `<dir>/journal.mdb` (DATA_DIR)
 * with three databases:
 *   journal-v2    key+seq -> JSON envelope (the same envelope as Redis, see ./envelope.ts)
 *   snapshots-v2  key+seq -> JSON envelope, the newest `keepSnapshots` per key
 *   epochs        shard   -> epoch
 *   decisions     eventId+userId -> decision index value (./decisionIndex.ts), written in the
 *                 append's transaction; older than the retention it is not read and is removed
 *                 when the store opens
 *   rules         rulesVersion -> the rules object of that version (every version is kept)
 *   shadow        [shadow rules version, field] -> count (./shadowCounts.ts), added to in the
 *                 append's transaction
 * key+seq is a binary key (./embeddedKeys.ts) whose ranges never overlap between two keys, for any
 * strings. A store written by the first layout (`journal`, `snapshots`) is converted on open.
 * Checks and writes of a call run in one LMDB write transaction, so they are atomic and
 * serialised with every other writer, in this process or another one on the same file.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase, type Transaction } from 'lmdb';
import { EngineError } from '../errors.ts';
import { keyPrefix, prefixEnd, seqKey, seqOf } from './embeddedKeys.ts';
import { migrateLegacyLayout, type LegacyMigration } from './embeddedLegacyLayout.ts';
import { decodeEntry, encodeEnvelope } from './envelope.ts';
import { DEFAULT_DECISION_RETENTION_MS, indexEntryOf, parseIndexValue, type DecisionStore, type IndexedDecision } from './decisionIndex.ts';
import type { Rules } from '../domain/index.ts';
import { countsOf, shadowIncrementsOf, SINCE, type ShadowCounts, type ShadowCountStore } from './shadowCounts.ts';
import { checkFence, groupByKey } from './journalBatch.ts';
import {
  FencedError,
  SequenceConflictError,
  withKeyErrors,
  type Fence,
  type JournalEntry,
  type JournalStore,
  type Snapshot,
} from './JournalStore.ts';

export interface EmbeddedJournalOptions {
  /** DATA_DIR; default './data'. Created when missing. */
  dir?: string;
  /** Snapshots kept per key; default 2. */
  keepSnapshots?: number;
  /** How long the decision index keeps an eventId (decisions.retentionDays); default 30 days. */
  decisionRetentionMs?: number;
  /** The clock the index's retention is measured with; default Date.now. */
  now?: () => number;
}

/** The decision index key: the eventId length-prefixed (so prefix-free), then the userId. */
function decisionKey(eventId: string, userId: string): Buffer {
  return Buffer.concat([keyPrefix(eventId), Buffer.from(userId, 'utf16le')]);
}

export class EmbeddedJournal implements JournalStore, DecisionStore, ShadowCountStore {
  readonly path: string;
  /** What opening converted from the first key layout; null when there was nothing to convert. */
  readonly migrated: LegacyMigration | null;
  readonly #root: RootDatabase;
  readonly #journal: Database<string, Buffer>;
  readonly #snapshots: Database<string, Buffer>;
  readonly #epochs: Database<number, number>;
  readonly #decisions: Database<string, Buffer>;
  readonly #rules: Database<string, number>;
  readonly #shadow: Database<number, [number, string]>;
  readonly #keep: number;
  readonly #retentionMs: number;
  readonly #now: () => number;
  #closed = false;
  #fencedWrites = 0;
  readonly #erasedListeners = new Set<(key: string) => void>();

  constructor(options: EmbeddedJournalOptions = {}) {
    const dir = options.dir ?? './data';
    this.#keep = options.keepSnapshots ?? 2;
    this.#retentionMs = options.decisionRetentionMs ?? DEFAULT_DECISION_RETENTION_MS;
    this.#now = options.now ?? Date.now;
    if (!Number.isSafeInteger(this.#keep) || this.#keep < 1) throw new RangeError(`keepSnapshots must be >= 1, got ${this.#keep}`);
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, 'journal.mdb');
    this.#root = open({
      path: this.path,
      // epochs, the two databases of each key layout, decisions, rules, and room to spare.
      maxDbs: 10,
      // Reads must see what is committed, not writes still pending in a cache.
      cache: false,
      // A write resolves once its transaction is committed into the file's pages held by the OS:
      // that survives the process being killed, and lmdb-js reopens at the last commit while the
      // machine has not rebooted. The fsync runs after the commit (overlappingSync), so a power
      // loss can lose the last commits, never corrupt the file. noSync stays off for that reason.
      overlappingSync: true,
      noSync: false,
    });
    this.#journal = this.#root.openDB<string, Buffer>('journal-v2', { encoding: 'string', keyEncoding: 'binary' });
    this.#snapshots = this.#root.openDB<string, Buffer>('snapshots-v2', { encoding: 'string', keyEncoding: 'binary' });
    this.#epochs = this.#root.openDB<number, number>('epochs', {});
    this.#decisions = this.#root.openDB<string, Buffer>('decisions', { encoding: 'string', keyEncoding: 'binary' });
    this.#rules = this.#root.openDB<string, number>('rules', { encoding: 'string' });
    this.#shadow = this.#root.openDB<number, [number, string]>('shadow', {});
    try {
      this.migrated = migrateLegacyLayout(this.#root, { journal: this.#journal, snapshots: this.#snapshots });
    } catch (err) {
      void this.#root.close();
      throw err;
    }
    this.#removeExpiredDecisions();
  }

  get fencedWrites(): number {
    return this.#fencedWrites;
  }

  isHealthy(): boolean {
    return !this.#closed;
  }

  async append(entries: readonly JournalEntry[], fence: Fence): Promise<void> {
    this.#assertOpen();
    if (entries.length === 0) return;
    checkFence(fence);
    const groups = [...groupByKey(entries)].map(([key, group]) => ({ key, prefix: keyPrefix(key), group, shadow: shadowIncrementsOf(group) }));
    // An async transaction callback cannot roll back what it wrote (a throw inside leaves the
    // puts in place), so it only writes after its checks passed and reports refusals by value.
    // The texts are made inside it, all before the first put (a throw then writes nothing): made
    // earlier, they wait in the store's write queue behind other shards' transactions and outlive
    // a young-generation GC or two, which copies them.
    const outcome = await this.#root.transaction(() => {
      const current = this.#epoch(fence.shard);
      if (current > fence.epoch) return { fencedAt: current, conflicts: [] };
      const conflicts: { key: string; first: number; head: number }[] = [];
      const writes = [];
      for (const { key, prefix, group, shadow } of groups) {
        const first = group[0]!.sequenceNumber;
        if (!this.#continues(prefix, first)) {
          conflicts.push({ key, first, head: this.#head(prefix) });
          continue;
        }
        writes.push({
          prefix,
          first,
          shadow,
          envelopes: group.map((e) => encodeEnvelope(e.sequenceNumber, e.createdAt, e.data)),
          index: group.map(indexEntryOf).filter((x) => x !== null).map((x) => ({ key: decisionKey(x.eventId, x.userId), value: x.value })),
        });
      }
      for (const { prefix, first, envelopes, index, shadow } of writes) {
        envelopes.forEach((env, i) => void this.#journal.put(seqKey(prefix, first + i), env));
        for (const x of index) void this.#decisions.put(x.key, x.value);
        for (const [version, fields] of shadow) {
          for (const [field, n] of fields) void this.#shadow.put([version, field], (this.#shadow.get([version, field]) ?? 0) + n);
        }
      }
      return { fencedAt: undefined, conflicts };
    });
    const errors = new Map<string, Error>();
    if (outcome.fencedAt !== undefined) {
      this.#fencedWrites++;
      for (const { key } of groups) errors.set(key, new FencedError(fence.shard, fence.epoch, outcome.fencedAt));
    }
    for (const c of outcome.conflicts) errors.set(c.key, new SequenceConflictError(c.key, c.first, c.head));
    if (errors.size > 0) throw withKeyErrors([...errors.values()][0]!, errors);
  }

  async readAfter(key: string, afterSequence: number): Promise<JournalEntry[]> {
    this.#assertOpen();
    return this.#readAfter(key, afterSequence);
  }

  async latestSnapshot(key: string): Promise<Snapshot | null> {
    this.#assertOpen();
    return this.#latestSnapshot(key);
  }

  /** Both reads in one LMDB read transaction: one point in time. */
  async readLatest(key: string): Promise<{ snapshot: Snapshot | null; tail: JournalEntry[] }> {
    this.#assertOpen();
    const transaction = this.#root.useReadTransaction();
    try {
      const snapshot = this.#latestSnapshot(key, transaction);
      return { snapshot, tail: this.#readAfter(key, snapshot?.sequenceNumber ?? 0, transaction) };
    } finally {
      transaction.done();
    }
  }

  #readAfter(key: string, afterSequence: number, transaction?: Transaction): JournalEntry[] {
    const out: JournalEntry[] = [];
    const prefix = keyPrefix(key);
    const from = Math.min(Math.max(0, Math.floor(afterSequence)), Number.MAX_SAFE_INTEGER);
    for (const { key: k, value } of this.#journal.getRange({ start: seqKey(prefix, from), end: prefixEnd(prefix), ...(transaction ? { transaction } : {}) })) {
      if (seqOf(k) <= afterSequence) continue;
      out.push(decodeEntry(key, value));
    }
    return out;
  }

  #latestSnapshot(key: string, transaction?: Transaction): Snapshot | null {
    const prefix = keyPrefix(key);
    for (const { value } of this.#snapshots.getRange({ start: prefixEnd(prefix), end: prefix, reverse: true, limit: 1, ...(transaction ? { transaction } : {}) })) {
      return decodeEntry(key, value);
    }
    return null;
  }

  async saveSnapshot(snapshot: Snapshot, fence: Fence): Promise<void> {
    this.#assertOpen();
    checkFence(fence);
    const { key, sequenceNumber: seq } = snapshot;
    const envelope = encodeEnvelope(seq, snapshot.createdAt, snapshot.data);
    const prefix = keyPrefix(key);
    const refusal = await this.#root.transaction(() => {
      const current = this.#epoch(fence.shard);
      if (current > fence.epoch) return new FencedError(fence.shard, fence.epoch, current);
      const head = this.#head(prefix);
      // A snapshot ahead of the journal would claim events that were never stored.
      if (seq > head) return new SequenceConflictError(key, seq, head);
      void this.#snapshots.put(seqKey(prefix, seq), envelope);
      // Keys are collected before removal: an LMDB cursor must not walk what it deletes.
      const older = [...this.#snapshots.getKeys({ start: prefixEnd(prefix), end: prefix, reverse: true })].slice(this.#keep);
      for (const k of older) void this.#snapshots.remove(k);
      // Up to the OLDEST snapshot kept, not the newest: explaining a decision rebuilds the state
      // just before it from a snapshot at or below it plus the journal after that.
      const kept = [...this.#snapshots.getKeys({ start: prefixEnd(prefix), end: prefix, reverse: true, limit: this.#keep })];
      const upTo = kept.length ? Math.min(seq, seqOf(kept[kept.length - 1]!)) : seq;
      const trimmed = [...this.#journal.getKeys({ start: seqKey(prefix, 0), end: upTo < Number.MAX_SAFE_INTEGER ? seqKey(prefix, upTo + 1) : prefixEnd(prefix) })];
      for (const k of trimmed) void this.#journal.remove(k);
      return undefined;
    });
    if (refusal instanceof FencedError) this.#fencedWrites++;
    if (refusal) throw refusal;
  }

  async decisionsOf(eventId: string, userId?: string): Promise<IndexedDecision[]> {
    this.#assertOpen();
    const fresh = (d: IndexedDecision | null): d is IndexedDecision => d !== null && d.at + this.#retentionMs > this.#now();
    if (userId !== undefined) {
      const value = this.#decisions.get(decisionKey(eventId, userId));
      const found = value === undefined ? null : parseIndexValue(userId, value);
      return fresh(found) ? [found] : [];
    }
    const prefix = keyPrefix(eventId);
    const out: IndexedDecision[] = [];
    for (const { key, value } of this.#decisions.getRange({ start: prefix })) {
      const k = Buffer.from(key.buffer, key.byteOffset, key.length);
      if (k.length < prefix.length || !k.subarray(0, prefix.length).equals(prefix)) break;
      const found = parseIndexValue(k.toString('utf16le', prefix.length), value);
      if (fresh(found)) out.push(found);
    }
    return out;
  }

  async snapshotAtOrBefore(key: string, sequenceNumber: number): Promise<Snapshot | null> {
    this.#assertOpen();
    const prefix = keyPrefix(key);
    const from = Math.min(Math.max(0, Math.floor(sequenceNumber)), Number.MAX_SAFE_INTEGER);
    for (const { value } of this.#snapshots.getRange({ start: seqKey(prefix, from), end: prefix, reverse: true, limit: 1 })) {
      return decodeEntry(key, value);
    }
    return null;
  }

  async saveRulesVersion(rules: Rules): Promise<boolean> {
    this.#assertOpen();
    const text = JSON.stringify(rules);
    return this.#root.transaction(() => {
      if (this.#rules.get(rules.rulesVersion) !== undefined) return false;
      void this.#rules.put(rules.rulesVersion, text);
      return true;
    });
  }

  async rulesVersion(v: number): Promise<Rules | null> {
    this.#assertOpen();
    const text = this.#rules.get(v);
    return text === undefined ? null : (JSON.parse(text) as Rules);
  }

  async startShadowCounts(version: number, since: number): Promise<void> {
    this.#assertOpen();
    await this.#root.transaction(() => {
      for (const k of [...this.#shadow.getKeys({ start: [version], end: [version + 1] })]) void this.#shadow.remove(k);
      void this.#shadow.put([version, SINCE], since);
    });
  }

  async shadowCounts(version: number): Promise<ShadowCounts | null> {
    this.#assertOpen();
    const fields = new Map<string, number>();
    for (const { key, value } of this.#shadow.getRange({ start: [version], end: [version + 1] })) fields.set(key[1], value);
    return countsOf(version, fields);
  }

  async claimShard(fence: Fence): Promise<number> {
    this.#assertOpen();
    checkFence(fence);
    return this.#root.transaction(() => {
      const current = this.#epoch(fence.shard);
      if (fence.epoch <= current) return current;
      void this.#epochs.put(fence.shard, fence.epoch);
      return fence.epoch;
    });
  }

  async nextEpoch(shard: number): Promise<number> {
    this.#assertOpen();
    checkFence({ shard, epoch: 0 });
    return this.#root.transaction(() => {
      const next = this.#epoch(shard) + 1;
      void this.#epochs.put(shard, next);
      return next;
    });
  }

  /**
   * Erasure in one LMDB transaction: the key's journal and snapshots and `userId`'s index entries
   * (found by walking the index: erasure is rare and the embedded index small). Serialised with
   * every append, so a concurrent event either lands before (and is erased) or after (seq 1).
   */
  async erase(key: string, userId: string): Promise<number> {
    this.#assertOpen();
    const prefix = keyPrefix(key);
    const user = Buffer.from(userId, 'utf16le');
    const head = await this.#root.transaction(() => {
      const head = this.#head(prefix);
      // Keys are collected before removal: an LMDB cursor must not walk what it deletes.
      const range = { start: seqKey(prefix, 0), end: prefixEnd(prefix) };
      for (const k of [...this.#journal.getKeys(range)]) void this.#journal.remove(k);
      for (const k of [...this.#snapshots.getKeys(range)]) void this.#snapshots.remove(k);
      const index: Buffer[] = [];
      for (const raw of this.#decisions.getKeys({})) {
        const k = Buffer.from(raw.buffer, raw.byteOffset, raw.length);
        const userAt = 4 + k.readUInt32BE(0) * 2;
        if (k.length - userAt === user.length && k.subarray(userAt).equals(user)) index.push(Buffer.from(k));
      }
      for (const k of index) void this.#decisions.remove(k);
      return head;
    });
    for (const l of this.#erasedListeners) l(key);
    return head;
  }

  /** Erasures through this store (one process holds an embedded DATA_DIR). */
  onErased(listener: (key: string) => void): () => void {
    this.#erasedListeners.add(listener);
    return () => void this.#erasedListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#root.close();
  }

  #epoch(shard: number): number {
    return this.#epochs.get(shard) ?? 0;
  }

  /**
   * Whether `first` is the key's next sequence number (its head + 1). A key's journal is one run
   * of consecutive sequence numbers (appends continue it, snapshots trim its start, erasure takes
   * it whole), so `first - 1` stored and `first` not means exactly that: two point reads, where
   * finding the head opens a cursor (a twentieth of the embedded engine's thread, one per user
   * of every round).
   */
  #continues(prefix: Buffer, first: number): boolean {
    if (first > 1 && this.#journal.doesExist(seqKey(prefix, first - 1))) return !this.#journal.doesExist(seqKey(prefix, first));
    return this.#head(prefix) === first - 1;
  }

  /** The key's last sequence number: newest journal entry, else (journal trimmed) newest snapshot. */
  #head(prefix: Buffer): number {
    const range = { start: prefixEnd(prefix), end: prefix, reverse: true, limit: 1 };
    for (const k of this.#journal.getKeys(range)) return seqOf(k);
    for (const k of this.#snapshots.getKeys(range)) return seqOf(k);
    return 0;
  }

  /** Index entries past the retention, removed in the background (reads skip them meanwhile). */
  #removeExpiredDecisions(): void {
    const cutoff = this.#now() - this.#retentionMs;
    void this.#root
      .transaction(() => {
        const expired: Buffer[] = [];
        for (const { key, value } of this.#decisions.getRange({})) {
          const at = /"at":(\d+)/.exec(value)?.[1];
          if (at !== undefined && Number(at) <= cutoff) expired.push(Buffer.from(key));
        }
        for (const k of expired) void this.#decisions.remove(k);
      })
      .catch(() => undefined);
  }

  #assertOpen(): void {
    if (this.#closed) throw new EngineError('UNAVAILABLE', `embedded journal ${this.path} is closed`);
  }
}
