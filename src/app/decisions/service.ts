/**
 * Decisions for callers in the payment path (CONTRACT §7), behind the admin routes of
 * src/admin/routes/decisions.ts:
 *  - decide: produce the event as POST /events does and wait for its committed decision, which
 *    the decisions feed (./feed.ts) delivers by userId and eventId; any instance answers, whoever
 *    owns the user's shard. A retry of an event already journaled answers its decision from the
 *    index, marked duplicate, and produces nothing.
 *  - lookup: the decision index of the store.
 *  - explain: ./explain.ts.
 */
import type { Decision, DomainConfig, Rules } from '../../domain/index.ts';
import type { Explanation } from '../../domain/explain.ts';
import { EngineError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { isDecisionStore, type DecisionStore, type IndexedDecision } from '../../persistence/decisionIndex.ts';
import type { JournalStore } from '../../persistence/JournalStore.ts';
import type { IngestSink, OutputRecord } from '../../transport/ports.ts';
import { explainIndexed } from './explain.ts';
import type { DecisionFeed, DecisionRecord } from '../../transport/ports.ts';
import { DecisionWaiters } from './waiters.ts';

/** Callers waiting at once per instance; more are refused with 503 rather than queued. */
export const MAX_DECISION_WAITERS = 10_000;

export type DecideResult = { status: 'decided'; decision: Decision; duplicate: boolean } | { status: 'pending'; eventId: string };

export interface DecisionServiceDeps {
  store: JournalStore;
  ingest: IngestSink;
  feed: DecisionFeed;
  domain: DomainConfig;
  rules: () => Rules;
  log: Logger;
  maxWaiters?: number;
}

export class DecisionService {
  readonly waiters: DecisionWaiters;
  readonly #store: (JournalStore & DecisionStore) | null;
  #ready: Promise<void> | null = null;
  #unsubscribe: (() => void) | null = null;

  constructor(private readonly deps: DecisionServiceDeps) {
    this.waiters = new DecisionWaiters(deps.maxWaiters ?? MAX_DECISION_WAITERS);
    this.#store = isDecisionStore(deps.store) ? (deps.store as JournalStore & DecisionStore) : null;
  }

  /** Starts following the decisions (not awaited by start-up: decide waits for it within its own timeout). */
  start(): Promise<void> {
    if (this.#ready) return this.#ready;
    this.#unsubscribe = this.deps.feed.onRecord(
      (r) => this.#resolve(r),
      () => this.waiting,
    );
    this.#ready = this.deps.feed.start();
    this.#ready.catch((err: unknown) => this.deps.log.error({ err }, 'the decisions follower did not start'));
    return this.#ready;
  }

  /**
   * Decision records that a shard of this instance has just committed: their callers are answered
   * at once, a fetch of the decisions feed sooner. The feed brings them too (and those of the
   * other instances' shards); a caller answered already is not answered twice.
   */
  committed(decisions: readonly OutputRecord[]): void {
    for (const d of decisions) if (d.key !== null) this.#resolve({ userId: d.key, value: d.value });
  }

  /** Whether a caller waits here (committed decisions are looked at only then). */
  get waiting(): boolean {
    return this.waiters.size > 0;
  }

  #resolve(r: DecisionRecord): void {
    if (!this.waiters.waitsFor(r.userId)) return;
    let decision: Decision;
    try {
      decision = JSON.parse(typeof r.value === 'string' ? r.value : r.value.toString('utf8')) as Decision;
    } catch (err) {
      this.deps.log.warn({ err }, 'a decision record is not JSON');
      return;
    }
    this.waiters.resolve(decision);
  }

  /**
   * `record` is the event as POST /events would produce it (validated); resolves with its
   * committed decision, or pending when it is not committed within `timeoutMs`.
   */
  async decide(record: OutputRecord, event: { userId: string; eventId: string }, timeoutMs: number): Promise<DecideResult> {
    const started = Date.now();
    const store = this.store();
    // Registered before anything else: a decision committed from now on reaches it.
    const waiting = this.waiters.wait(event.userId, event.eventId, timeoutMs);
    try {
      const [known] = await store.decisionsOf(event.eventId, event.userId);
      if (known) {
        waiting.cancel();
        return { status: 'decided', decision: known.decision, duplicate: true };
      }
      const ready = this.start();
      await Promise.race([ready, waiting.decision]);
      if (!waiting.retry) await this.deps.ingest.send([record]);
      const decision = await waiting.decision;
      if (decision) return { status: 'decided', decision, duplicate: waiting.retry };
      this.deps.log.debug({ eventId: event.eventId, waitedMs: Date.now() - started }, 'decide: not committed in time');
      return { status: 'pending', eventId: event.eventId };
    } catch (err) {
      waiting.cancel();
      throw err;
    }
  }

  /** The decision journaled for `eventId` (of `userId` when given). */
  async lookup(eventId: string, userId?: string): Promise<IndexedDecision> {
    const found = await this.store().decisionsOf(eventId, userId);
    if (found.length === 0) throw new EngineError('NOT_FOUND', `no decision is known for event ${eventId}${userId === undefined ? '' : ` of user ${userId}`}`);
    if (found.length > 1) throw new EngineError('BAD_REQUEST', `event id ${eventId} was sent by ${found.length} users: give ?userId=`);
    return found[0]!;
  }

  async explain(eventId: string, userId?: string): Promise<Explanation> {
    return explainIndexed(this.store(), await this.lookup(eventId, userId), this.deps.domain, this.deps.rules);
  }

  /** The rules of version `v`: the kept copy, else the rules in force when they are that version. */
  async rulesVersion(v: number): Promise<Rules | null> {
    const kept = await this.store().rulesVersion(v);
    if (kept) return kept;
    const current = this.deps.rules();
    return current.rulesVersion === v ? current : null;
  }

  async close(): Promise<void> {
    this.#unsubscribe?.();
    this.waiters.clear();
  }

  private store(): JournalStore & DecisionStore {
    if (!this.#store) throw new EngineError('UNAVAILABLE', 'this store keeps no decision index');
    return this.#store;
  }
}
