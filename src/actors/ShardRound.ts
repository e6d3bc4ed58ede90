/**
 * A shard's round: judges a chunk of input records for the shard's users and journals what they
 * decided. Each user's events go to its actor in one message (in judging order), every actor
 * answers once, and the journal entries of all of them are written in one fenced store call
 * before anything is committed. Poison events are retried, then quarantined; users whose state
 * may be ahead of the store are restarted. Also keeps the snapshots a round made due, written
 * once its transaction committed. The shard (ShardSupervisor) owns the lifecycle, the retries
 * and the transaction.
 */
import { parseRecord, sourceKey, type DomainConfig, type Outcome, type UserState } from '../domain/index.ts';
import { EngineError, errorCode, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Fence, JournalEntry, JournalStore } from '../persistence/JournalStore.ts';
import type { DecisionStore } from '../persistence/decisionIndex.ts';
import { POISON_POLICY } from '../supervision/policy.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { endSpan, SpanKind, startConsume, startRound, traceFields, type Traced } from '../telemetry/tracing.ts';
import type { InputRecord } from '../transport/ports.ts';
import { addJudged, addOutcome, deadLetter, emptyJudged, type Judged } from './judged.ts';
import { deadLetterRecord, traceIdOf, type OutputTopics } from './outputRecords.ts';
import type { ShardFaults } from './shardFaults.ts';
import { withDeadline, type ShardUsers } from './ShardUsers.ts';
import { PoisonError, type RoundItem, type UserRound } from './UserActor.ts';
import { persistenceKey } from './recoverUser.ts';

export interface ShardRoundDeps {
  shard: number;
  fence: Fence;
  domain: DomainConfig;
  /** Partitions of the input topics as they are: records are checked against murmur2's. */
  partitions: number;
  topics: OutputTopics;
  users: ShardUsers;
  store: JournalStore;
  /** The decision index of the store, when it keeps one. */
  decisions: Pick<DecisionStore, 'decisionsOf'> | null;
  faults: Pick<ShardFaults, 'beforePersist'>;
  /** Deadline of one journal write. */
  eventTimeoutMs: number;
  snapshotEvery: number;
  clock(): number;
  metrics: Metrics;
  log: Logger;
  /** The shard stopped: users restarted now are not spawned again. */
  isStopped(): boolean;
}

/** A record's outcome, waiting for the round's outputs to be built in input order. */
interface Decided {
  outcome: Outcome;
  rec: InputRecord;
  consume: Traced | null;
}

/** A user's records of one round, their events, and the consume span of each (null without tracing). */
interface UserBatch {
  /** Where each record sits in the transaction: outputs keep the records' order. */
  at: number[];
  records: InputRecord[];
  items: RoundItem[];
  consumes: (Traced | null)[];
}

/** What one user's part of a round gave: its actor's answer (null when every event was poison) and its quarantined events. */
interface UserJudged {
  userId: string;
  batch: UserBatch;
  round: UserRound | null;
  poisoned: { at: number; judged: Judged }[];
}

const without = <T>(items: readonly T[], at: number): T[] => items.filter((_, i) => i !== at);

export class ShardRound {
  private snapshotsDue: UserState[] = [];

  constructor(private readonly deps: ShardRoundDeps) {}

  /**
   * Judges a transaction's records in one pass: each user's events go to its actor in one message
   * (in judging order), every actor answers once, and the journal entries of all of them are
   * written in one fenced store call before anything is committed.
   */
  async judge(records: readonly InputRecord[]): Promise<Judged> {
    const now = this.deps.clock();
    // Per record, in input order: its dead letter, or its user's outcome (outputs keep the records' order).
    const parts = new Array<Judged | Decided | undefined>(records.length);
    const byUser = new Map<string, UserBatch>();
    for (let i = 0; i < records.length; i++) {
      const rec = records[i]!;
      const parsed = parseRecord(rec, this.deps.domain, { now, partitions: this.deps.partitions });
      if (!parsed.ok) {
        parts[i] = deadLetter(deadLetterRecord(this.deps.topics, rec, parsed.code, parsed.message, now), parsed.code);
        continue;
      }
      const consume = startConsume(rec, this.deps.shard);
      // Without tracing, an incoming trace id is still passed on to the decision.
      const traceId = consume?.span.spanContext().traceId ?? traceIdOf(rec.headers.traceparent);
      let batch = byUser.get(parsed.event.userId);
      if (!batch) byUser.set(parsed.event.userId, (batch = { at: [], records: [], items: [], consumes: [] }));
      batch.at.push(i);
      batch.records.push(rec);
      batch.items.push({ event: parsed.event, traceId });
      batch.consumes.push(consume);
    }
    const settled = await Promise.allSettled([...byUser].map(([userId, batch]) => this.judgeUser(userId, batch, now)));
    const failure = settled.find((r) => r.status === 'rejected');
    if (failure) {
      // The users that did answer are ahead of the store now, with nothing journaled: their next
      // incarnations recover from the store, or the retry would take their events for redeliveries.
      for (const r of settled) if (r.status === 'fulfilled' && r.value.round?.entries.length) this.restartUser(r.value.userId, errorCode(failure.reason));
      throw failure.reason;
    }
    const rounds = settled.map((r) => (r as PromiseFulfilledResult<UserJudged>).value);
    const entries: JournalEntry[] = [];
    for (const r of rounds) if (r.round) for (const e of r.round.entries) entries.push(e);
    const journaled = rounds.filter((r) => r.round !== null && r.round.entries.length > 0);
    await this.journal(entries, journaled.map((r) => r.userId), journaled.flatMap((r) => r.batch.consumes));
    await this.fromIndex(rounds);
    for (const { userId, batch, round, poisoned } of rounds) {
      for (const p of poisoned) parts[p.at] = p.judged;
      if (!round) continue;
      const live = this.deps.users.get(userId);
      if (live) live.timerAt = round.timerAt;
      this.dueSnapshot(round.entries, round.state);
      for (let i = 0; i < round.outcomes.length; i++) {
        const outcome = round.outcomes[i]!;
        this.observe(outcome, batch.records[i]!);
        parts[batch.at[i]!] = { outcome, rec: batch.records[i]!, consume: batch.consumes[i]! };
      }
    }
    const all = emptyJudged();
    for (const part of parts) {
      if (part === undefined) continue;
      if ('outcome' in part) addOutcome(all, part.outcome, { topics: this.deps.topics, shard: this.deps.shard, incoming: part.rec.headers.traceparent ?? null, consume: part.consume, log: this.deps.log });
      else addJudged(all, part);
    }
    return all;
  }

  /**
   * Redelivered events whose decision has left their user's history (more of them uncommitted
   * than the history keeps, after a crash): their decision and the windows they closed come from
   * the decision index, written with their journal entries. All lookups go out together.
   */
  private async fromIndex(rounds: readonly UserJudged[]): Promise<void> {
    const { decisions } = this.deps;
    if (!decisions) return;
    const lookups: Promise<void>[] = [];
    for (const { userId, batch, round } of rounds) {
      if (!round) continue;
      round.outcomes.forEach((outcome, i) => {
        if (outcome.kind !== 'redelivered' || outcome.decision !== null) return;
        const { eventId, source } = batch.items[i]!.event;
        if (!source) return;
        lookups.push(
          decisions.decisionsOf(eventId, userId).then(([found]) => {
            // Only the record that was decided: one that was a duplicate of the eventId the first
            // time (another record, same eventId) got no decision, and gets none now.
            if (found && found.source === sourceKey(source.topic, source.partition) && found.offset === source.offset) {
              round.outcomes[i] = { kind: 'redelivered', decision: found.decision, aggregates: found.closed ?? [] };
            }
          }),
        );
      });
    }
    await Promise.all(lookups);
  }

  /**
   * One user's events of a round: one message to its actor. A poison event (deciding it throws;
   * the actor restarts under its policy) is retried with the rest of the user's events and, past
   * the poison policy's attempts, quarantined to the DLQ while the others go on.
   */
  private async judgeUser(userId: string, batch: UserBatch, now: number): Promise<UserJudged> {
    const poisoned: { at: number; judged: Judged }[] = [];
    const attempts = new Map<string, number>();
    for (;;) {
      if (batch.items.length === 0) return { userId, batch, round: null, poisoned };
      try {
        const live = this.deps.users.touch(userId);
        const round = await this.deps.users.ask<UserRound>(live.ref, (reply) => ({ type: 'judge', items: batch.items, now, reply }));
        return { userId, batch, round, poisoned };
      } catch (err) {
        // An actor that does not answer is stuck: it is stopped, and the retried transaction
        // meets a fresh incarnation recovered from the store.
        if (errorCode(err) === 'TIMEOUT') this.deps.users.drop(userId, err);
        if (!(err instanceof PoisonError)) {
          batch.consumes.forEach((c) => endSpan(c, err));
          throw err;
        }
        const at = batch.items.findIndex((item) => item.event.eventId === err.eventId);
        const n = (attempts.get(err.eventId) ?? 0) + 1;
        attempts.set(err.eventId, n);
        if (at < 0 || n < POISON_POLICY.maxAttempts) continue;
        const rec = batch.records[at]!;
        this.deps.log.error({ shard: this.deps.shard, eventId: err.eventId, userId, err: errorMessage(err), ...traceFields(batch.consumes[at]) }, 'poison event quarantined');
        endSpan(batch.consumes[at], err);
        poisoned.push({ at: batch.at[at]!, judged: deadLetter(deadLetterRecord(this.deps.topics, rec, 'POISON', errorMessage(err), this.deps.clock()), 'POISON') });
        batch = { at: without(batch.at, at), records: without(batch.records, at), items: without(batch.items, at), consumes: without(batch.consumes, at) };
      }
    }
  }

  /**
   * Writes a round's journal entries, all users in one fenced store call. When it fails, the
   * round's actors are ahead of the store: they are stopped, and the retried round meets fresh
   * incarnations recovered from the store (entries that were written come back as redelivered).
   */
  async journal(entries: readonly JournalEntry[], users: readonly string[], events: readonly (Traced | null)[] = []): Promise<void> {
    if (entries.length === 0) return;
    const span = startRound('risk.journal', SpanKind.CLIENT, events, { 'risk.shard': this.deps.shard, 'risk.entries': entries.length });
    try {
      this.deps.faults.beforePersist(entries.length);
      await withDeadline(this.deps.store.append(entries, this.deps.fence), this.deps.eventTimeoutMs, 'the journal write');
      endSpan(span);
    } catch (err) {
      endSpan(span, err);
      if (errorCode(err) === 'FENCED') {
        for (const userId of users) this.restartUser(userId, 'FENCED');
        throw err;
      }
      const failure = new EngineError(errorCode(err) === 'TIMEOUT' ? 'TIMEOUT' : 'UNAVAILABLE', `journal write of ${entries.length} entries failed: ${errorMessage(err)}`, { cause: err });
      for (const userId of users) {
        if (failure.code === 'TIMEOUT') this.deps.users.drop(userId, failure);
        else this.restartUser(userId, failure.code);
      }
      throw failure;
    }
  }

  /** Remembers a state to snapshot once its round is committed, when the round crossed a multiple of snapshotEvery. */
  private dueSnapshot(entries: readonly JournalEntry[], state: UserState): void {
    if (entries.length === 0) return;
    const every = this.deps.snapshotEvery;
    const before = entries[0]!.sequenceNumber - 1;
    if (Math.floor(state.sequenceNumber / every) > Math.floor(before / every)) this.snapshotsDue.push(state);
  }

  /** The user was erased: a snapshot of its old state still due is dropped. */
  forget(userId: string): void {
    this.snapshotsDue = this.snapshotsDue.filter((s) => s.userId !== userId);
  }

  /**
   * Snapshots of committed rounds, off the hot path: written after the commit, all at once, not
   * awaited by the round. A missed periodic snapshot only makes the next recovery longer.
   */
  writeDueSnapshots(): void {
    const due = this.snapshotsDue;
    if (due.length === 0) return;
    this.snapshotsDue = [];
    const createdAt = this.deps.clock();
    for (const state of due) {
      this.deps.store
        .saveSnapshot({ key: persistenceKey(state.userId), sequenceNumber: state.sequenceNumber, data: state, createdAt }, this.deps.fence)
        .catch((err: unknown) => this.deps.log.warn({ shard: this.deps.shard, code: errorCode(err), err: errorMessage(err) }, 'snapshot failed'));
    }
  }

  private observe(outcome: Outcome, rec: InputRecord): void {
    const { metrics } = this.deps;
    if (outcome.kind === 'duplicate') metrics.duplicates.inc();
    else if (outcome.kind === 'redelivered') metrics.redelivered.inc();
    else if (rec.timestamp > 0) metrics.latency.observe(Math.max(0, outcome.decision.decidedAt - rec.timestamp) / 1000);
  }

  /** A user whose state may be ahead of the store: a fresh incarnation recovers from it (none once the shard stops). */
  restartUser(userId: string, code: string): void {
    this.deps.users.restart(userId, code, !this.deps.isStopped());
  }
}
