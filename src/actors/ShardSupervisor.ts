/**
 * Owns one shard (partition N of every input topic): the user actors of its users, the shard's
 * transactional sink and its fence epoch. The shard works in rounds, one at a time: a round takes
 * every input batch that waits for the shard (group commit, see ShardBatchQueue) and judges their
 * records together; each user's events go to its actor one after another (partition order, and
 * across topics record-timestamp order), different users run concurrently. Nothing is committed
 * until every event of a transaction is journaled; then decisions, aggregates and dead letters
 * are committed with the offsets of every partition in one transaction. A retried transaction is
 * safe: journaled events come back as `redelivered` with the decision stored the first time.
 */
import nact from 'nact';
import { parseRecord, type Outcome, type RiskEvent, type Rules, type UserView, type WindowAggregate } from '../domain/index.ts';
import { EngineError, errorCode, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { JournalStore } from '../persistence/JournalStore.ts';
import { backoffDelay, DEPENDENCY_BACKOFF, POISON_POLICY, RestartWindow, SHARD_POLICY, USER_ACTOR_POLICY } from '../supervision/policy.ts';
import { onCrashWithPolicy, type SupervisionDeps } from '../supervision/onCrash.ts';
import type { AlertBus, BatchControl, InputBatch, InputRecord, ShardSink } from '../transport/ports.ts';
import type { Settings } from '../config/settings.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Faults } from '../app/faults.ts';
import { endSpan, startConsume } from '../telemetry/tracing.ts';
import { aggregateRecord, deadLetterRecord, traceIdOf, type OutputTopics } from './outputRecords.ts';
import { deadLetter, endJudged, judgedOutcome, mergeJudged, type Judged } from './judged.ts';
import { ShardBatchQueue, type Chunk } from './ShardBatchQueue.ts';
import { ask, type Reply } from './reply.ts';
import { spawnUserActor, type EventResult, type UserActorDeps, type UserMsg } from './UserActor.ts';

export interface ShardDeps {
  shard: number;
  epoch: number;
  settings: Settings;
  sink: ShardSink;
  alerts: AlertBus;
  store: JournalStore;
  rules(): Rules;
  supervision: SupervisionDeps;
  metrics: Metrics;
  log: Logger;
  /** How many live actors this shard may keep (the instance's cap shared among its shards). */
  actorBudget(): number;
  /** The shard's own restart limit was exceeded: the root must drain and exit non-zero. */
  onFatal(err: unknown): void;
  faults: Faults;
  /** The group's committed offset per input topic when the shard was opened. */
  committed: Record<string, string>;
}

interface LiveUser {
  ref: nact.Ref<UserMsg>;
  lastUsed: number;
  /** When the actor wants `closeIdle` (a window due to close by the clock, or aggregates still to commit), or null. */
  timerAt: number | null;
}

/** Attempts of one transaction that fails for an unexpected reason, before its batches fail for good. */
const MAX_BATCH_ATTEMPTS = 8;
/** Input records per transaction: their decisions must stay well within Kafka's 1 MiB request limit. */
const MAX_RECORDS_PER_TRANSACTION = 1000;
/** Dependency outages: the transaction waits (no commit) and retries for as long as the group keeps us. */
const RETRY_WHILE_MEMBER = new Set(['UNAVAILABLE', 'TIMEOUT']);

/** What readiness reads of a shard (times on the supervision clock). */
export interface ShardHealth {
  /** When the shard last committed input; when it was opened, before its first commit. */
  lastCommitAt: number;
  /** When a write of the shard was first refused because a newer owner holds it, or null. */
  fencedAt: number | null;
  /** Stopped, or given up past its restart limit: it takes no more work. */
  closed: boolean;
}

export class ShardSupervisor {
  readonly shard: number;
  readonly epoch: number;
  private readonly ref: nact.Ref<unknown>;
  private readonly users = new Map<string, LiveUser>();
  private readonly topics: OutputTopics;
  private readonly userDeps: UserActorDeps;
  private readonly userOnCrash: ReturnType<typeof onCrashWithPolicy>;
  private serial: Promise<unknown> = Promise.resolve();
  private readonly queue: ShardBatchQueue;
  private stopped = false;
  /** Set when the process drains: a batch stuck on a dependency gives up instead of retrying. */
  private draining = false;
  private readonly ticker: NodeJS.Timeout;
  private readonly shardWindow = new RestartWindow(SHARD_POLICY);
  private lastCommitAt: number;
  private fencedAt: number | null = null;
  private gaveUp = false;
  /**
   * Per input topic, the offset up to which this shard's records are committed: at open, the
   * group's committed offset (read once the previous owner was fenced), then each commit's. A
   * record below it is done already and is never judged again, whatever kafkajs fetches: it may
   * have read the group's offsets before a previous owner's last transaction completed, and it
   * re-fetches a whole batch when a later chunk of that batch fails.
   */
  private readonly committedUpTo: Map<string, bigint>;

  constructor(parent: nact.Ref<unknown>, private readonly deps: ShardDeps) {
    this.shard = deps.shard;
    this.epoch = deps.epoch;
    this.committedUpTo = new Map(Object.entries(deps.committed).map(([topic, offset]) => [topic, BigInt(offset)]));
    this.lastCommitAt = deps.supervision.clock();
    const { settings } = deps;
    this.topics = settings.kafka.topics;
    this.ref = nact.spawn(parent, (state: unknown) => state, `shard-${deps.shard}-${deps.epoch}`, {
      onCrash: ((_msg: unknown, err: unknown, ctx: { stopAllChildren: symbol; stop: symbol }) => this.onEscalation(err, ctx)) as never,
    });
    this.userDeps = {
      shard: deps.shard,
      fence: () => ({ shard: deps.shard, epoch: deps.epoch }),
      rules: deps.rules,
      domain: { ...settings.domain, unknownTypes: 'other' },
      store: deps.store,
      snapshotEvery: settings.persistence.snapshotEvery,
      clock: deps.supervision.clock,
      log: deps.log,
      onRecovered: (ms) => deps.metrics.recovery.observe(ms / 1000),
      faults: deps.faults,
    };
    this.userOnCrash = onCrashWithPolicy(USER_ACTOR_POLICY, deps.supervision);
    const { passivateAfterMs } = settings.actors;
    const period = Math.min(10_000, Math.max(100, Math.min(passivateAfterMs, settings.domain.windows.idleCloseMs) / 2));
    this.ticker = setInterval(() => {
      this.tick().catch((err) => {
        this.noteFenced(err);
        deps.log.warn({ shard: this.shard, code: errorCode(err), err: errorMessage(err) }, 'shard housekeeping failed');
      });
    }, period);
    this.ticker.unref();
    this.queue = new ShardBatchQueue({
      serial: (work) => this.inOrder(work),
      uncommitted: (batch) => this.uncommitted(batch),
      commit: (chunk, control) => this.commitWithRetry(chunk, control),
      perUserLimit: settings.domain.history.decisions,
      maxRecords: MAX_RECORDS_PER_TRANSACTION,
    });
  }

  /**
   * A user actor exceeded its restart limit and escalated. One-for-one at this level: the shard
   * restarts by dropping all its actors (the batch in flight fails, is retried from the last
   * committed offsets, and the actors recover from the store); past the shard's own limit the
   * failure goes to the root, which drains and exits non-zero.
   */
  private onEscalation(err: unknown, ctx: { stopAllChildren: symbol; stop: symbol }): symbol {
    const code = errorCode(err);
    const verdict = this.shardWindow.onFailure(this.deps.supervision.clock(), this.deps.supervision.random());
    this.deps.supervision.onVerdict?.(SHARD_POLICY, verdict, code);
    this.deps.log.error({ shard: this.shard, policy: SHARD_POLICY.name, code, err: errorMessage(err), verdict }, `supervision: shard ${verdict.action}`);
    this.users.clear();
    if (verdict.action === 'restart') return ctx.stopAllChildren;
    this.gaveUp = true;
    this.deps.onFatal(err);
    return ctx.stop;
  }

  /** Housekeeping: close idle users' windows, passivate idle actors, keep within the actor budget. */
  tick(): Promise<void> {
    return this.inOrder(async () => {
      const now = this.deps.supervision.clock();
      await this.closeDueWindows(now);
      const idleBefore = now - this.deps.settings.actors.passivateAfterMs;
      const idle = [...this.users].filter(([, u]) => u.lastUsed <= idleBefore);
      await Promise.all(idle.map(([userId]) => this.passivate(userId, 'idle')));
      const excess = this.users.size - this.deps.actorBudget();
      if (excess > 0) {
        // Map order is least recently used first.
        const coldest = [...this.users.keys()].slice(0, excess);
        await Promise.all(coldest.map((userId) => this.passivate(userId, 'cap')));
      }
    });
  }

  /**
   * Runs the due idle timers: the windows they close, and those closed before but not known to
   * be committed, are committed on their own (no input offset is tied to them), then confirmed to
   * their actors. At least once: a closed window stays pending in its user's journaled state until
   * confirmed, and is emitted again on every timer until then, after a failed commit or a restart
   * too. Consumers of risk-aggregates dedupe by (userId, windowStart); every emission of a window
   * is the same aggregate.
   */
  private async closeDueWindows(now: number): Promise<void> {
    const due = [...this.users.values()].filter((u) => u.timerAt !== null && u.timerAt <= now);
    if (!due.length) return;
    const closed = await Promise.allSettled(
      due.map(async (u) => {
        const r = await this.ask<{ aggregates: WindowAggregate[]; timerAt: number | null }>(u.ref, (reply) => ({ type: 'closeIdle', now, reply }));
        u.timerAt = r.timerAt;
        return { u, aggregates: r.aggregates };
      }),
    );
    // The users whose timer failed keep it due: the next tick tries them again.
    const emitting = closed.flatMap((c) => (c.status === 'fulfilled' && c.value.aggregates.length ? [c.value] : []));
    if (emitting.length) {
      await this.deps.sink.commit(emitting.flatMap(({ aggregates }) => aggregates.map((a) => aggregateRecord(this.topics, a))), []);
      this.deps.metrics.transactions.inc({ kind: 'windows' });
      await Promise.all(
        emitting.map(async ({ u, aggregates }) => {
          const windowStarts = aggregates.map((a) => a.windowStart);
          const r = await this.ask<{ timerAt: number | null }>(u.ref, (reply) => ({ type: 'windowsEmitted', windowStarts, now, reply }));
          u.timerAt = r.timerAt;
        }),
      );
    }
    const failed = closed.find((c) => c.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  private dropUser(userId: string, cause: unknown): void {
    const live = this.users.get(userId);
    if (!live) return;
    this.deps.log.warn({ shard: this.shard, userId, err: errorMessage(cause) }, 'supervision: stopping an unresponsive user actor');
    this.users.delete(userId);
    nact.stop(live.ref);
    this.deps.supervision.onVerdict?.(USER_ACTOR_POLICY, { action: 'stop', attempt: 1 }, 'TIMEOUT');
  }

  /** Snapshots (when changed) and stops a user actor; its next event brings it back from the store. */
  private async passivate(userId: string, reason: 'idle' | 'cap'): Promise<void> {
    const live = this.users.get(userId);
    if (!live) return;
    await this.ask(live.ref, (reply) => ({ type: 'snapshot', ifChanged: true, reply }));
    this.users.delete(userId);
    nact.stop(live.ref);
    this.deps.metrics.passivations.inc({ reason });
  }

  get liveActors(): number {
    return this.users.size;
  }

  get health(): ShardHealth {
    return { lastCommitAt: this.lastCommitAt, fencedAt: this.fencedAt, closed: this.stopped || this.gaveUp };
  }

  /** A newer owner refused a write of ours: the shard is lost, whatever it does next. */
  private noteFenced(err: unknown): void {
    if (errorCode(err) === 'FENCED') this.fencedAt ??= this.deps.supervision.clock();
  }

  /**
   * Judges and commits one input batch, together with the shard's other batches that wait at the
   * same time; resolves once its records are committed.
   */
  processBatch(input: InputBatch, control: BatchControl): Promise<void> {
    return this.queue.push(input, control);
  }

  private uncommitted(batch: InputBatch): InputBatch {
    const upTo = this.committedUpTo.get(batch.topic);
    const first = batch.records[0];
    if (upTo === undefined || !first || BigInt(first.offset) >= upTo) return batch;
    const records = batch.records.filter((r) => BigInt(r.offset) >= upTo);
    this.deps.log.warn({ shard: this.shard, topic: batch.topic, skipped: batch.records.length - records.length, committed: upTo.toString() }, 'skipped records that are committed already');
    return { ...batch, records };
  }

  /** The live actor's view of a user, or null when the user has no live actor on this shard. */
  async view(userId: string): Promise<UserView | null> {
    const live = this.users.get(userId);
    if (!live) return null;
    return this.ask(live.ref, (reply) => ({ type: 'view', reply }));
  }

  /** Forces a snapshot of a user (spawning its actor from the store when it is not live). */
  async snapshot(userId: string): Promise<void> {
    await this.ask(this.user(userId).ref, (reply) => ({ type: 'snapshot', reply }));
  }

  /** The batch in flight may still commit, but no longer waits out a dependency outage. */
  beginDrain(): void {
    this.draining = true;
  }

  /** Snapshots and stops every actor; the shard is then dead. Stopping it again does nothing. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.draining = true;
    clearInterval(this.ticker);
    await this.inOrder(async () => {
      this.stopped = true;
      const results = await Promise.allSettled(
        [...this.users.values()].map((u) => this.ask(u.ref, (reply) => ({ type: 'snapshot', reply }))),
      );
      const failed = results.filter((r) => r.status === 'rejected').length;
      if (failed) this.deps.log.warn({ shard: this.shard, failed }, 'some snapshots failed at shard stop');
      nact.stop(this.ref);
      this.users.clear();
      await this.deps.sink.close().catch((err) => this.deps.log.warn({ err, shard: this.shard }, 'closing the shard sink failed'));
    });
  }

  private inOrder<T>(work: () => Promise<T>): Promise<T> {
    const run = this.serial.then(() => {
      if (this.stopped) throw new EngineError('UNAVAILABLE', `shard ${this.shard} is stopped`);
      return work();
    });
    this.serial = run.catch(() => undefined);
    return run;
  }

  private async commitWithRetry(chunk: Chunk, control: BatchControl): Promise<void> {
    const { metrics } = this.deps;
    const timer = metrics.batchSeconds.startTimer();
    let judged: Judged | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        judged = await this.judge(chunk.records);
        const { records, alerts } = judged;
        // Alerts go out before the commit: a crash in between redelivers the events, and the
        // alert's Nats-Msg-Id makes JetStream drop the second copy.
        await Promise.all(
          alerts.map(async (a) => {
            await this.deps.alerts.publish(a.alert, a.traceparent);
            endSpan(a.span);
          }),
        );
        await this.deps.sink.commit(records, chunk.offsets);
        // One partition per topic on a shard: the topic names it.
        for (const o of chunk.offsets) this.committedUpTo.set(o.topic, BigInt(o.offset));
        this.lastCommitAt = this.deps.supervision.clock();
        timer();
        endJudged(judged);
        this.countCommitted(chunk.records, judged);
        return;
      } catch (err) {
        if (judged) endJudged(judged, err);
        judged = undefined;
        const code = errorCode(err);
        metrics.batchRetries.inc({ code });
        this.noteFenced(err);
        if (code === 'FENCED' || this.draining) throw err;
        if (!RETRY_WHILE_MEMBER.has(code) && attempt >= MAX_BATCH_ATTEMPTS) throw err;
        const delayMs = backoffDelay(DEPENDENCY_BACKOFF, attempt, this.deps.supervision.random());
        this.deps.log.warn({ shard: this.shard, code, err: errorMessage(err), attempt, delayMs, records: chunk.records.length }, 'transaction failed; retrying');
        await this.deps.supervision.sleep(delayMs);
        // A heartbeat that fails means the group is rebalancing: give the batches up so that the
        // consumer can rejoin (nothing was committed; the records come again to their owner).
        await control.heartbeat();
      }
    }
  }

  private countCommitted(consumed: readonly InputRecord[], judged: Judged): void {
    const { metrics } = this.deps;
    metrics.transactions.inc({ kind: 'input' });
    const perTopic = new Map<string, number>();
    for (const rec of consumed) perTopic.set(rec.topic, (perTopic.get(rec.topic) ?? 0) + 1);
    for (const [topic, n] of perTopic) metrics.eventsConsumed.inc({ topic }, n);
    for (const decision of judged.verdicts) metrics.decisions.inc({ decision });
    for (const code of judged.dlqCodes) metrics.dlq.inc({ code });
    for (const a of judged.alerts) metrics.alertsPublished.inc({ decision: a.alert.decision });
  }

  private async judge(records: readonly InputRecord[]): Promise<Judged> {
    const now = this.deps.supervision.clock();
    const perUser = new Map<string, Promise<unknown>>();
    const parts = records.map((rec) => {
      const parsed = parseRecord(rec, this.userDeps.domain, { now, partitions: this.deps.settings.kafka.partitions });
      if (!parsed.ok) return Promise.resolve(deadLetter(deadLetterRecord(this.topics, rec, parsed.code, parsed.message, now), parsed.code));
      const { event } = parsed;
      // Chained per user: the next event of a user starts after the previous one is journaled.
      const run = (perUser.get(event.userId) ?? Promise.resolve()).then(() => this.judgeEvent(rec, event));
      perUser.set(event.userId, run);
      return run;
    });
    const settled = await Promise.allSettled(parts);
    const failure = settled.find((s) => s.status === 'rejected');
    if (failure) throw (failure as PromiseRejectedResult).reason;
    return mergeJudged((settled as PromiseFulfilledResult<Judged>[]).map((r) => r.value));
  }

  private async judgeEvent(rec: InputRecord, event: RiskEvent): Promise<Judged> {
    const consume = startConsume(rec, this.shard);
    // Without tracing, an incoming trace id is still passed on to the decision.
    const traceId = consume?.span.spanContext().traceId ?? traceIdOf(rec.headers.traceparent);
    for (let attempt = 1; ; attempt++) {
      try {
        const live = this.user(event.userId);
        const { outcome, timerAt } = await this.ask<EventResult>(live.ref, (reply) => ({ type: 'event', event, traceId, trace: consume?.ctx ?? null, reply }));
        live.timerAt = timerAt;
        this.observe(outcome, rec);
        return judgedOutcome(outcome, { topics: this.topics, shard: this.shard, incoming: rec.headers.traceparent ?? null, consume, log: this.deps.log });
      } catch (err) {
        // An actor that does not answer is stuck (a hung journal write holds its mailbox): it is
        // stopped, and the retried batch meets a fresh incarnation recovered from the store.
        if (errorCode(err) === 'TIMEOUT') this.dropUser(event.userId, err);
        if (errorCode(err) !== 'POISON' || attempt >= POISON_POLICY.maxAttempts) endSpan(consume, err);
        if (errorCode(err) !== 'POISON') throw err;
        if (attempt >= POISON_POLICY.maxAttempts) {
          this.deps.log.error({ shard: this.shard, eventId: event.eventId, userId: event.userId, err: errorMessage(err) }, 'poison event quarantined');
          return deadLetter(deadLetterRecord(this.topics, rec, 'POISON', errorMessage(err), this.deps.supervision.clock()), 'POISON');
        }
      }
    }
  }

  private observe(outcome: Outcome, rec: InputRecord): void {
    const { metrics } = this.deps;
    if (outcome.kind === 'duplicate') metrics.duplicates.inc();
    else if (outcome.kind === 'redelivered') metrics.redelivered.inc();
    else if (rec.timestamp > 0) metrics.latency.observe(Math.max(0, outcome.decision.decidedAt - rec.timestamp) / 1000);
  }

  private user(userId: string): LiveUser {
    const now = this.deps.supervision.clock();
    const live = this.users.get(userId);
    if (live) {
      // Re-inserted so that Map order is least-recently-used first (passivation order).
      this.users.delete(userId);
      live.lastUsed = now;
      this.users.set(userId, live);
      return live;
    }
    const entry: LiveUser = { ref: undefined as never, lastUsed: now, timerAt: null };
    entry.ref = spawnUserActor(this.ref, userId, this.userDeps, {
      onCrash: this.userOnCrash as never,
      afterStop: () => {
        if (this.users.get(userId) === entry) this.users.delete(userId);
      },
    });
    this.users.set(userId, entry);
    return entry;
  }

  private ask<T>(ref: nact.Ref<UserMsg>, make: (reply: Reply<T>) => UserMsg): Promise<T> {
    const timeoutMs = this.deps.settings.actors.eventTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new EngineError('TIMEOUT', `user actor did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([ask<UserMsg, T>((m) => nact.dispatch(ref, m), make), timeout]).finally(() => clearTimeout(timer));
  }
}
