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
 * Every check-and-write is one Lua script (./redisScripts.ts), sent as EVALSHA.
 *
 * Connection policy: the client reconnects by itself, and while it is not connected commands fail
 * at once (`disableOfflineQueue`) so a batch fails instead of waiting for Redis to come back.
 * A Redis that is connected but stopped answering is bounded by `commandTimeoutMs`, enforced here:
 * node-redis 6.3's own command timeout stops applying once a command is written to the socket.
 * Such a timeout marks the store unhealthy until Redis answers again.
 */
import { readFileSync } from 'node:fs';
import { createClient } from 'redis';
import { redactUrl } from '../config/connections.ts';
import { ConfigError, EngineError } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import { decodeEnvelope, encodeEnvelope } from './envelope.ts';
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
import { CONFLICT, FENCED, scripts, type ScriptReply } from './redisScripts.ts';
import { DEFAULT_DECISION_RETENTION_MS, indexEntryOf, parseIndexValue, type DecisionStore, type IndexedDecision } from './decisionIndex.ts';
import type { Rules } from '../domain/index.ts';
import { countsOf, shadowIncrementsOf, SINCE, type ShadowCounts, type ShadowCountStore } from './shadowCounts.ts';

export interface RedisJournalOptions {
  /** redis:// or rediss:// (TLS); may carry user and password, which `username`/`password` override. */
  url: string;
  /** ACL user (REDIS_USERNAME). */
  username?: string | undefined;
  /** ACL or requirepass password (REDIS_PASSWORD). */
  password?: string | undefined;
  /** PEM file of the CA of a rediss:// server (REDIS_TLS_CA_FILE); default: the system CAs. */
  tlsCaFile?: string | undefined;
  /** STATE_PREFIX; default 'risk'. */
  prefix?: string;
  /** Snapshots kept per key; default 2. */
  keepSnapshots?: number;
  /** How long the decision index keeps an eventId (decisions.retentionDays); default 30 days. */
  decisionRetentionMs?: number;
  /** A command without an answer after this long fails; default 5000. */
  commandTimeoutMs?: number;
  /** Longest pause between reconnection attempts; default 2000. */
  maxReconnectDelayMs?: number;
  logger?: Logger;
}

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

/**
 * The URL without its credentials, and the credentials apart (the options win over the URL's):
 * node-redis then never holds a URL with a password that an error could echo.
 */
export function redisConnection(o: Pick<RedisJournalOptions, 'url' | 'username' | 'password'>): { url: string; username?: string; password?: string } {
  const u = new URL(o.url);
  const username = o.username ?? (u.username ? decodeURIComponent(u.username) : undefined);
  const password = o.password ?? (u.password ? decodeURIComponent(u.password) : undefined);
  u.username = '';
  u.password = '';
  return { url: u.toString(), ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
}

/** Redis refused the credentials (or wants some): WRONGPASS, NOAUTH, or a pre-6 "invalid password". */
const isAuthError = (err: Error): boolean => /^(WRONGPASS|NOAUTH)\b|invalid password|AUTH .*without any password/i.test(err.message);

function createJournalClient(o: RedisJournalOptions) {
  const maxDelay = o.maxReconnectDelayMs ?? 2000;
  return createClient({
    ...redisConnection(o),
    scripts,
    disableOfflineQueue: true,
    // RedisJournal enforces commandTimeoutMs itself; node-redis's own per-command timer (an
    // AbortSignal per command, 5 s by default) only costs time on the hot path.
    commandOptions: { timeout: 0 },
    socket: {
      connectTimeout: 2000,
      ...(o.tlsCaFile !== undefined ? { tls: true as const, ca: readFileSync(o.tlsCaFile, 'utf8') } : {}),
      // Exponential with jitter, so many instances do not reconnect in lockstep; never gives up.
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, maxDelay) * (0.5 + Math.random() / 2),
    },
  });
}

type JournalClient = ReturnType<typeof createJournalClient>;

export class RedisJournal implements JournalStore, DecisionStore, ShadowCountStore {
  /** Creates the store and waits until Redis answered once. */
  static async connect(options: RedisJournalOptions): Promise<RedisJournal> {
    const journal = new RedisJournal(options);
    await journal.start();
    return journal;
  }

  readonly keys: ReturnType<typeof redisKeys>;
  readonly #url: string;
  readonly #client: JournalClient;
  readonly #keep: number;
  readonly #timeoutMs: number;
  readonly #indexTtlSeconds: number;
  readonly #log: Logger;
  readonly #healthListeners = new Set<(healthy: boolean) => void>();
  #healthy = false;
  #connected = false;
  /** A command timed out and Redis has not answered anything since. */
  #stalled = false;
  #closed = false;
  #fencedWrites = 0;
  readonly #erasedListeners = new Set<(key: string) => void>();
  #subscriber: Promise<JournalClient | null> | undefined;
  #scriptsLoaded: Promise<void> = Promise.resolve();
  /** Set while start() waits: how an authentication error reaches it. */
  #refusedAuth: ((err: Error) => void) | undefined;

  constructor(options: RedisJournalOptions) {
    this.keys = redisKeys(options.prefix ?? 'risk');
    this.#keep = options.keepSnapshots ?? 2;
    this.#timeoutMs = options.commandTimeoutMs ?? 5000;
    this.#indexTtlSeconds = Math.max(1, Math.ceil((options.decisionRetentionMs ?? DEFAULT_DECISION_RETENTION_MS) / 1000));
    if (!Number.isSafeInteger(this.#keep) || this.#keep < 1) throw new RangeError(`keepSnapshots must be >= 1, got ${this.#keep}`);
    this.#log = options.logger ?? silentLogger;
    this.#url = redactUrl(options.url);
    this.#client = createJournalClient(options);
    this.#client
      .on('ready', () => {
        // A restarted Redis has an empty script cache: load now, so the first batch does not pay
        // a NOSCRIPT answer and a second round trip per script call.
        this.#scriptsLoaded = this.#loadScripts();
        this.#stalled = false;
        this.#setConnected(true);
      })
      .on('error', (err: Error) => this.#setConnected(false, err))
      .on('reconnecting', () => this.#setConnected(false))
      .on('end', () => this.#setConnected(false));
  }

  /**
   * Starts connecting; resolves once Redis answered (and the scripts are loaded), or when the
   * store is closed first. While Redis is down the client keeps retrying and the store is usable:
   * its calls fail fast and `isHealthy()` is false.
   */
  async start(): Promise<void> {
    // node-redis retries a refused AUTH for ever (connect() never settles): refused credentials
    // at start are a bad setting, reported once (exit 2), not a Redis that is down.
    let refuse: (err: Error) => void = () => undefined;
    const refused = new Promise<never>((_, reject) => (refuse = reject));
    this.#refusedAuth = refuse;
    const onError = (err: Error) => {
      if (isAuthError(err)) refuse(err);
    };
    this.#client.on('error', onError);
    try {
      await Promise.race([this.#client.connect(), refused]);
      await Promise.race([this.#scriptsLoaded, refused]);
    } catch (err) {
      if (err instanceof Error && isAuthError(err)) {
        this.#closed = true;
        this.#client.destroy();
        throw new ConfigError('REDIS_USERNAME/REDIS_PASSWORD', `expects credentials that Redis at ${this.#url} accepts (${err.message})`);
      }
      if (!this.#closed) throw err;
    } finally {
      this.#refusedAuth = undefined;
      this.#client.off('error', onError);
    }
  }

  get fencedWrites(): number {
    return this.#fencedWrites;
  }

  isHealthy(): boolean {
    return this.#healthy;
  }

  /** Calls `listener` on every change of `isHealthy()`; returns the unsubscribe function. */
  onHealthChange(listener: (healthy: boolean) => void): () => void {
    this.#healthListeners.add(listener);
    return () => this.#healthListeners.delete(listener);
  }

  async append(entries: readonly JournalEntry[], fence: Fence): Promise<void> {
    if (entries.length === 0) return;
    checkFence(fence);
    // Everything is validated and encoded before the first command: bad input writes nothing.
    const calls = [...groupByKey(entries)].map(([key, group]) => ({
      key,
      first: group[0]!.sequenceNumber,
      envelopes: group.map((e) => encodeEnvelope(e.sequenceNumber, e.createdAt, e.data)),
      index: this.#indexArgs(group),
      shadow: this.#shadowArgs(group),
    }));
    // One script for the whole round: one epoch check, then every user's head check and write.
    const round = calls.map((c) => ({ journalKey: this.keys.journal(c.key), snapshotsKey: this.keys.snapshots(c.key), first: c.first, envelopes: c.envelopes, index: c.index, shadow: c.shadow }));
    // A call that fails (Redis down, the deadline) wrote all of the round or none: it fails whole.
    const reply = await this.#deadline('append', this.#client.journalAppendRound(this.keys.epoch(fence.shard), fence.epoch, this.#indexTtlSeconds, round));
    const fencedAt = reply.length === 2 && reply[0] === FENCED ? reply[1]! : null;
    const errors = new Map<string, Error>();
    calls.forEach(({ key, first }, i) => {
      const err = this.#refusal(fencedAt === null ? [reply[2 * i]!, reply[2 * i + 1]!] : [FENCED, fencedAt], fence, key, first);
      if (err) errors.set(key, err);
    });
    if (errors.size === 0) return;
    const errs = [...errors.values()];
    if (errs.some((e) => e instanceof FencedError)) this.#fencedWrites++;
    throw withKeyErrors(errs.find((e) => e instanceof FencedError) ?? errs[0]!, errors);
  }

  async readAfter(key: string, afterSequence: number): Promise<JournalEntry[]> {
    const members = await this.#deadline('readAfter', this.#client.zRange(this.keys.journal(key), `(${afterSequence}`, '+inf', { BY: 'SCORE' }));
    return members.map((m) => {
      const e = decodeEnvelope(m);
      return { key, sequenceNumber: e.seq, data: e.data, createdAt: e.at };
    });
  }

  async latestSnapshot(key: string): Promise<Snapshot | null> {
    const [newest] = await this.#deadline('latestSnapshot', this.#client.zRange(this.keys.snapshots(key), -1, -1));
    if (newest === undefined) return null;
    const e = decodeEnvelope(newest);
    return { key, sequenceNumber: e.seq, data: e.data, createdAt: e.at };
  }

  async saveSnapshot(snapshot: Snapshot, fence: Fence): Promise<void> {
    checkFence(fence);
    const { key, sequenceNumber: seq } = snapshot;
    const envelope = encodeEnvelope(seq, snapshot.createdAt, snapshot.data);
    const reply = await this.#deadline(
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
      const value = await this.#deadline('decisionsOf', this.#client.hGet(key, userId));
      const found = value === null || value === undefined ? null : parseIndexValue(userId, value);
      return found ? [found] : [];
    }
    const all = await this.#deadline('decisionsOf', this.#client.hGetAll(key));
    return Object.entries(all)
      .map(([user, value]) => parseIndexValue(user, value))
      .filter((d): d is IndexedDecision => d !== null);
  }

  async snapshotAtOrBefore(key: string, sequenceNumber: number): Promise<Snapshot | null> {
    const [found] = await this.#deadline(
      'snapshotAtOrBefore',
      this.#client.zRange(this.keys.snapshots(key), sequenceNumber, '-inf', { BY: 'SCORE', REV: true, LIMIT: { offset: 0, count: 1 } }),
    );
    if (found === undefined) return null;
    const e = decodeEnvelope(found);
    return { key, sequenceNumber: e.seq, data: e.data, createdAt: e.at };
  }

  async saveRulesVersion(rules: Rules): Promise<boolean> {
    const reply = await this.#deadline('saveRulesVersion', this.#client.set(this.keys.rules(rules.rulesVersion), JSON.stringify(rules), { condition: 'NX' }));
    return reply === 'OK';
  }

  async rulesVersion(v: number): Promise<Rules | null> {
    const value = await this.#deadline('rulesVersion', this.#client.get(this.keys.rules(v)));
    return value === null || value === undefined ? null : (JSON.parse(value) as Rules);
  }

  async claimShard(fence: Fence): Promise<number> {
    checkFence(fence);
    return this.#deadline('claimShard', this.#client.journalClaim(this.keys.epoch(fence.shard), fence.epoch));
  }

  async nextEpoch(shard: number): Promise<number> {
    checkFence({ shard, epoch: 0 });
    return this.#deadline('nextEpoch', this.#client.incr(this.keys.epoch(shard)));
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
      const has = await this.#deadline('erase', Promise.all(keys.map((k) => this.#client.hExists(k, userId))));
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
      const [status, value] = (await this.#deadline(
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
    const sub = this.#client.duplicate();
    sub.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'redis journal: erasure subscription'));
    return sub
      .connect()
      .then(async () => {
        await sub.subscribe(this.keys.erasedChannel, (message: string) => {
          for (const l of this.#erasedListeners) l(message);
        });
        return sub as JournalClient;
      })
      .catch((err: unknown) => {
        this.#log.warn({ err: toError(err).message }, 'redis journal: could not subscribe to erasures');
        sub.destroy();
        return null;
      });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const sub = await this.#subscriber;
    if (sub?.isOpen) sub.destroy();
    // A graceful close waits for the answers of commands in flight; without a connection there
    // is nothing to wait for, and close() would wait for the reconnection that may never come.
    if (this.#client.isReady) await this.#client.close();
    else if (this.#client.isOpen) this.#client.destroy();
    this.#setConnected(false);
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
    await this.#deadline('startShadowCounts', this.#client.multi().del(key).hSet(key, SINCE, String(since)).exec());
  }

  async shadowCounts(version: number): Promise<ShadowCounts | null> {
    const fields = await this.#deadline('shadowCounts', this.#client.hGetAll(this.keys.shadow(version)));
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

  async #loadScripts(): Promise<void> {
    try {
      await Promise.all(Object.values(scripts).map((s) => this.#client.scriptLoad(s.SCRIPT)));
    } catch (err) {
      // A server that wants a password and got none answers NOAUTH here first: start() reports it.
      if (err instanceof Error && isAuthError(err)) this.#refusedAuth?.(err);
      // Not fatal: EVALSHA falls back to EVAL on NOSCRIPT.
      else this.#log.warn({ err }, 'redis journal: could not preload the scripts');
    }
  }

  /**
   * Fails `work` after `commandTimeoutMs`. Its answer may still come (and its write land) later:
   * a timed-out write is of unknown outcome, like any write whose answer was lost.
   */
  async #deadline<T>(what: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#stalled = true;
        this.#updateHealth();
        reject(new EngineError('TIMEOUT', `redis journal: ${what} got no answer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
    });
    // A late answer to a timed-out command is the sign that Redis is back.
    work.then(() => this.#answered(), () => undefined);
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  #answered(): void {
    if (!this.#stalled) return;
    this.#stalled = false;
    this.#updateHealth();
  }

  #setConnected(connected: boolean, err?: Error): void {
    if (connected === this.#connected) return;
    this.#connected = connected;
    if (connected) this.#log.info('redis journal: connected');
    else if (!this.#closed) this.#log.warn({ err: err?.message }, 'redis journal: connection lost, reconnecting');
    this.#updateHealth();
  }

  #updateHealth(): void {
    const healthy = this.#connected && !this.#stalled && !this.#closed;
    if (healthy === this.#healthy) return;
    this.#healthy = healthy;
    for (const listener of this.#healthListeners) listener(healthy);
  }
}

const toError = (reason: unknown): Error => (reason instanceof Error ? reason : new Error(String(reason)));
