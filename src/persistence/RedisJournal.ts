/**
 * JournalStore on Redis (node-redis). Layout, all under `${prefix}:` (STATE_PREFIX):
 *   j:{key}            sorted set, score = sequence number, member = JSON envelope (v, seq, at, data)
 *   s:{key}            sorted set of the newest `keepSnapshots` snapshots, same shape
 *   shard:<n>:epoch    integer, the shard's fencing epoch
 *   d:{eventId}        hash userId -> decision index value (./decisionIndex.ts), expiring after
 *                      the retention; written by the append script with the journal entries
 *   rules:v:<n>        the rules object of version n (every version is kept)
 *   shadow:<n>         hash of the counts of shadow rules version n (./shadowCounts.ts), added
 *                      to by the append script with the journal entries
 *   erased             pub/sub channel: the persistence key of every erasure (erase())
 * Every check-and-write is one Lua script (./redisScripts.ts), sent as EVALSHA. The connection,
 * its deadline and health are ./redisConnection.ts's.
 */
import { EngineError } from '../errors.ts';
import { decodeEntry, encodeEnvelope } from './envelope.ts';
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
import { CONFLICT, FENCED, type RoundAppend, type ScriptReply } from './redisScripts.ts';
import { RedisConnection, type JournalClient, type RedisConnectionOptions } from './redisConnection.ts';
import { DEFAULT_DECISION_RETENTION_MS, indexEntryOf, parseIndexValue, type DecisionStore, type IndexedDecision } from './decisionIndex.ts';
import type { Rules } from '../domain/index.ts';
import { countsOf, shadowIncrementsOf, SINCE, type ShadowCounts, type ShadowCountStore } from './shadowCounts.ts';

export interface RedisJournalOptions extends RedisConnectionOptions {
  /** STATE_PREFIX; default 'risk'. */
  prefix?: string;
  /** Snapshots kept per key; default 2. */
  keepSnapshots?: number;
  /** How long the decision index keeps an eventId (decisions.retentionDays); default 30 days. */
  decisionRetentionMs?: number;
}

/** Moved to ./redisConnection.ts; re-exported for the callers that knew it here. */
export { redisConnection } from './redisConnection.ts';

/** The Redis keys of a prefix; exported for tools and tests that read or write the layout. */
export function redisKeys(prefix: string) {
  return {
    journal: (key: string) => `${prefix}:j:{${key}}`,
    snapshots: (key: string) => `${prefix}:s:{${key}}`,
    epoch: (shard: number) => `${prefix}:shard:${shard}:epoch`,
    decision: (eventId: string) => `${prefix}:d:{${eventId}}`,
    rules: (version: number) => `${prefix}:rules:v:${version}`,
    shadow: (version: number) => `${prefix}:shadow:${version}`,
    erasedChannel: `${prefix}:erased`,
    /** SCAN pattern of every decision-index key (the prefix is letters, digits, _ . -: no glob characters). */
    decisionPattern: `${prefix}:d:*`,
  };
}

export class RedisJournal implements JournalStore, DecisionStore, ShadowCountStore {
  /** Creates the store and waits until Redis answered once. */
  static async connect(options: RedisJournalOptions): Promise<RedisJournal> {
    const journal = new RedisJournal(options);
    await journal.start();
    return journal;
  }

  readonly keys: ReturnType<typeof redisKeys>;
  readonly #conn: RedisConnection;
  readonly #client: JournalClient;
  readonly #keep: number;
  readonly #indexTtlSeconds: number;
  #fencedWrites = 0;
  readonly #erasedListeners = new Set<(key: string) => void>();
  #subscriber: Promise<JournalClient | null> | undefined;

  constructor(options: RedisJournalOptions) {
    this.keys = redisKeys(options.prefix ?? 'risk');
    this.#keep = options.keepSnapshots ?? 2;
    this.#indexTtlSeconds = Math.max(1, Math.ceil((options.decisionRetentionMs ?? DEFAULT_DECISION_RETENTION_MS) / 1000));
    if (!Number.isSafeInteger(this.#keep) || this.#keep < 1) throw new RangeError(`keepSnapshots must be >= 1, got ${this.#keep}`);
    this.#conn = new RedisConnection(options);
    this.#client = this.#conn.client;
  }

  /**
   * Starts connecting; resolves once Redis answered (and the scripts are loaded), or when the
   * store is closed first. While Redis is down the client keeps retrying and the store is usable:
   * its calls fail fast and `isHealthy()` is false.
   */
  start(): Promise<void> {
    return this.#conn.start();
  }

  get fencedWrites(): number {
    return this.#fencedWrites;
  }

  isHealthy(): boolean {
    return this.#conn.isHealthy();
  }

  /** Calls `listener` on every change of `isHealthy()`; returns the unsubscribe function. */
  onHealthChange(listener: (healthy: boolean) => void): () => void {
    return this.#conn.onHealthChange(listener);
  }

  async append(entries: readonly JournalEntry[], fence: Fence): Promise<void> {
    if (entries.length === 0) return;
    checkFence(fence);
    const { heads, sent } = this.#sendRound(entries, fence);
    const reply = await sent;
    const fencedAt = reply.length === 2 && reply[0] === FENCED ? reply[1]! : null;
    const errors = new Map<string, Error>();
    heads.forEach(({ key, first }, i) => {
      const err = this.#refusal(fencedAt === null ? [reply[2 * i]!, reply[2 * i + 1]!] : [FENCED, fencedAt], fence, key, first);
      if (err) errors.set(key, err);
    });
    if (errors.size === 0) return;
    const errs = [...errors.values()];
    if (errs.some((e) => e instanceof FencedError)) this.#fencedWrites++;
    throw withKeyErrors(errs.find((e) => e instanceof FencedError) ?? errs[0]!, errors);
  }

  /**
   * Encodes and sends a round; what the caller keeps while Redis answers is each user's key and
   * first sequence number. The round's texts are in the command's buffer by then: held across the
   * wait as well, they would outlive a young-generation GC or two, which copies them.
   */
  #sendRound(entries: readonly JournalEntry[], fence: Fence): { heads: { key: string; first: number }[]; sent: Promise<number[]> } {
    // Everything is validated and encoded before the first command: bad input writes nothing.
    const heads: { key: string; first: number }[] = [];
    const round: RoundAppend[] = [];
    for (const [key, group] of groupByKey(entries)) {
      const first = group[0]!.sequenceNumber;
      heads.push({ key, first });
      round.push({
        journalKey: this.keys.journal(key),
        snapshotsKey: this.keys.snapshots(key),
        first,
        envelopes: group.map((e) => encodeEnvelope(e.sequenceNumber, e.createdAt, e.data)),
        index: this.#indexArgs(group),
        shadow: this.#shadowArgs(group),
      });
    }
    // One script for the whole round: one epoch check, then every user's head check and write.
    // A call that fails (Redis down, the deadline) wrote all of the round or none: it fails whole.
    const sent = this.#conn.deadline('append', this.#client.journalAppendRound(this.keys.epoch(fence.shard), fence.epoch, this.#indexTtlSeconds, round));
    return { heads, sent };
  }

  async readAfter(key: string, afterSequence: number): Promise<JournalEntry[]> {
    const members = await this.#conn.deadline('readAfter', this.#client.zRange(this.keys.journal(key), `(${afterSequence}`, '+inf', { BY: 'SCORE' }));
    return members.map((m) => decodeEntry(key, m));
  }

  async latestSnapshot(key: string): Promise<Snapshot | null> {
    const [newest] = await this.#conn.deadline('latestSnapshot', this.#client.zRange(this.keys.snapshots(key), -1, -1));
    return newest === undefined ? null : decodeEntry(key, newest);
  }

  /** One script: the newest snapshot and the journal after it, atomically. */
  async readLatest(key: string): Promise<{ snapshot: Snapshot | null; tail: JournalEntry[] }> {
    const reply = await this.#conn.deadline('readLatest', this.#client.journalReadLatest([this.keys.journal(key), this.keys.snapshots(key)]));
    const snapshot = reply[0];
    return { snapshot: snapshot ? decodeEntry(key, snapshot) : null, tail: (reply.slice(1) as string[]).map((m) => decodeEntry(key, m)) };
  }

  async saveSnapshot(snapshot: Snapshot, fence: Fence): Promise<void> {
    checkFence(fence);
    const { key, sequenceNumber: seq } = snapshot;
    const envelope = encodeEnvelope(seq, snapshot.createdAt, snapshot.data);
    const reply = await this.#conn.deadline(
      'saveSnapshot',
      this.#client.journalSnapshot(this.#scriptKeys(key, fence.shard), fence.epoch, seq, envelope, this.#keep),
    );
    const err = this.#refusal(reply, fence, key, seq);
    if (err instanceof FencedError) this.#fencedWrites++;
    if (err) throw err;
  }

  async decisionsOf(eventId: string, userId?: string): Promise<IndexedDecision[]> {
    const key = this.keys.decision(eventId);
    if (userId !== undefined) {
      const value = await this.#conn.deadline('decisionsOf', this.#client.hGet(key, userId));
      const found = value === null || value === undefined ? null : parseIndexValue(userId, value);
      return found ? [found] : [];
    }
    const all = await this.#conn.deadline('decisionsOf', this.#client.hGetAll(key));
    return Object.entries(all)
      .map(([user, value]) => parseIndexValue(user, value))
      .filter((d): d is IndexedDecision => d !== null);
  }

  async snapshotAtOrBefore(key: string, sequenceNumber: number): Promise<Snapshot | null> {
    const [found] = await this.#conn.deadline(
      'snapshotAtOrBefore',
      this.#client.zRange(this.keys.snapshots(key), sequenceNumber, '-inf', { BY: 'SCORE', REV: true, LIMIT: { offset: 0, count: 1 } }),
    );
    return found === undefined ? null : decodeEntry(key, found);
  }

  async saveRulesVersion(rules: Rules): Promise<boolean> {
    const reply = await this.#conn.deadline('saveRulesVersion', this.#client.set(this.keys.rules(rules.rulesVersion), JSON.stringify(rules), { condition: 'NX' }));
    return reply === 'OK';
  }

  async rulesVersion(v: number): Promise<Rules | null> {
    const value = await this.#conn.deadline('rulesVersion', this.#client.get(this.keys.rules(v)));
    return value === null || value === undefined ? null : (JSON.parse(value) as Rules);
  }

  async claimShard(fence: Fence): Promise<number> {
    checkFence(fence);
    return this.#conn.deadline('claimShard', this.#client.journalClaim(this.keys.epoch(fence.shard), fence.epoch));
  }

  async nextEpoch(shard: number): Promise<number> {
    checkFence({ shard, epoch: 0 });
    return this.#conn.deadline('nextEpoch', this.#client.incr(this.keys.epoch(shard)));
  }

  /**
   * Erasure in one script (journal, snapshots, the user's decision-index fields, the notice on
   * `erased`). The index keys are found first, outside the script: the fields of the user among
   * all index keys (SCAN: erasure is rare, the index may be large, and a script must not block
   * Redis that long), plus those of the entries still in the journal, read up to a head the script
   * checks. An index entry whose journal entry was written after the SCAN passed its key and
   * trimmed by two snapshots before the journal was read escapes it (it expires with the retention).
   */
  async erase(key: string, userId: string): Promise<number> {
    const swept = new Set<string>();
    for await (const batch of this.#client.scanIterator({ MATCH: this.keys.decisionPattern, COUNT: 1000 })) {
      const keys = batch as unknown as string[];
      const has = await this.#conn.deadline('erase', Promise.all(keys.map((k) => this.#client.hExists(k, userId))));
      keys.forEach((k, i) => {
        if (Number(has[i])) swept.add(k);
      });
    }
    for (let attempt = 1; ; attempt++) {
      const entries = await this.readAfter(key, 0);
      const head = entries.at(-1)?.sequenceNumber ?? (await this.latestSnapshot(key))?.sequenceNumber ?? 0;
      const indexKeys = new Set(swept);
      for (const e of entries) {
        const x = indexEntryOf(e);
        if (x && x.userId === userId) indexKeys.add(this.keys.decision(x.eventId));
      }
      const [status, value] = (await this.#conn.deadline(
        'erase',
        this.#client.journalErase([this.keys.journal(key), this.keys.snapshots(key)], head, userId, this.keys.erasedChannel, key, [...indexKeys]),
      )) as unknown as ScriptReply;
      if (status !== CONFLICT) return value;
      // The owner wrote meanwhile: read its new entries and try again.
      if (attempt >= 10) throw new EngineError('UNAVAILABLE', "an erasure kept meeting new writes of the user; try again");
    }
  }

  /** Erasures of every instance on this Redis, through its pub/sub channel (a connection of its own, opened on first use). */
  onErased(listener: (key: string) => void): () => void {
    this.#erasedListeners.add(listener);
    this.#subscriber ??= this.#subscribe();
    return () => this.#erasedListeners.delete(listener);
  }

  #subscribe(): Promise<JournalClient | null> {
    return this.#conn.subscribe(this.keys.erasedChannel, (message: string) => {
      for (const l of this.#erasedListeners) l(message);
    });
  }

  close(): Promise<void> {
    return this.#conn.close();
  }

  /** The decision-index (key, userId, value) triples of a key's entries, as the append script takes them. */
  #indexArgs(entries: readonly JournalEntry[]): string[] {
    const args: string[] = [];
    for (const e of entries) {
      const indexed = indexEntryOf(e);
      if (indexed) args.push(this.keys.decision(indexed.eventId), indexed.userId, indexed.value);
    }
    return args;
  }

  /** The shadow-rule counts of a key's entries as (hash key, field, increment) triples, as the append script takes them. */
  #shadowArgs(entries: readonly JournalEntry[]): string[] {
    const args: string[] = [];
    for (const [version, fields] of shadowIncrementsOf(entries)) {
      for (const [field, n] of fields) args.push(this.keys.shadow(version), field, String(n));
    }
    return args;
  }

  async startShadowCounts(version: number, since: number): Promise<void> {
    const key = this.keys.shadow(version);
    await this.#conn.deadline('startShadowCounts', this.#client.multi().del(key).hSet(key, SINCE, String(since)).exec());
  }

  async shadowCounts(version: number): Promise<ShadowCounts | null> {
    const fields = await this.#conn.deadline('shadowCounts', this.#client.hGetAll(this.keys.shadow(version)));
    return countsOf(version, new Map(Object.entries(fields)));
  }

  #scriptKeys(key: string, shard: number): [string, string, string] {
    return [this.keys.epoch(shard), this.keys.journal(key), this.keys.snapshots(key)];
  }

  // node-redis's reply typing widens the script's [status, value] tuple to number[].
  #refusal(reply: readonly number[], fence: Fence, key: string, seq: number): Error | undefined {
    const [status, value] = reply as ScriptReply;
    if (status === FENCED) return new FencedError(fence.shard, fence.epoch, value);
    if (status === CONFLICT) return new SequenceConflictError(key, seq, value);
    return undefined;
  }
}
