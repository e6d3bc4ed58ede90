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
import type { DomainConfig, Rules, UserView } from '../domain/index.ts';
import { EngineError, errorCode, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { assertEpochHeld, type Fence, type JournalStore } from '../persistence/JournalStore.ts';
import { isDecisionStore, type DecisionStore } from '../persistence/decisionIndex.ts';
import { backoffDelay, DEPENDENCY_BACKOFF, RestartWindow, SHARD_POLICY, USER_ACTOR_POLICY } from '../supervision/policy.ts';
import { onCrashWithPolicy, type SupervisionDeps } from '../supervision/onCrash.ts';
import type { AlertBus, BatchControl, InputBatch, OutputRecord, ShardSink } from '../transport/ports.ts';
import type { Settings } from '../config/settings.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { OutputTopics } from './outputRecords.ts';
import { SerialLane } from '../serialLane.ts';
import type { Judged } from './judged.ts';
import { ShardBatchQueue } from './ShardBatchQueue.ts';
import type { Chunk } from './chunks.ts';
import { ShardHousekeeping } from './ShardHousekeeping.ts';
import { ShardPositions } from './ShardPositions.ts';
import { ShardRound } from './ShardRound.ts';
import { ShardTransaction } from './ShardTransaction.ts';
import { ShardUsers } from './ShardUsers.ts';
import type { ShardFaults } from './shardFaults.ts';

/** The settings a shard reads (the engine hands it all of them). */
export type ShardSettings = Pick<Settings, 'actors' | 'persistence'> & {
  kafka: Pick<Settings['kafka'], 'maxRecordsPerTransaction' | 'commitIntervalMs' | 'topics'>;
  domain: Pick<Settings['domain'], 'history' | 'windows'>;
};

export interface ShardDeps {
  shard: number;
  epoch: number;
  /** The domain's settings (built once for the engine). */
  domain: DomainConfig;
  /** Partitions of the input topics as they are (not as configured): records are checked against murmur2's. */
  partitions: number;
  settings: ShardSettings;
  /** Least time between two commits (default kafka.commitIntervalMs). */
  commitIntervalMs?: number;
  sink: ShardSink;
  alerts: AlertBus;
  store: JournalStore;
  rules(): Rules;
  /** The shadow rule set (CONTRACT §8), null while none runs. */
  shadowRules?(): Rules | null;
  supervision: SupervisionDeps;
  metrics: Metrics;
  log: Logger;
  /** How many live actors this shard may keep (the instance's cap shared among its shards). */
  actorBudget(): number;
  /** The shard's own restart limit was exceeded: the root must drain and exit non-zero. */
  onFatal(err: unknown): void;
  faults: ShardFaults;
  /** The group's committed offset per input topic when the shard was opened. */
  committed: Record<string, string>;
  /**
   * The records of every transaction the shard committed, once it committed: POST /decide's
   * callers on this instance learn their decisions here, without waiting for the decisions feed.
   */
  onCommittedRecords?(records: readonly OutputRecord[]): void;
}

/** Attempts of one transaction that fails for an unexpected reason, before its batches fail for good. */
const MAX_BATCH_ATTEMPTS = 8;
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
  private readonly fence: Fence;
  /** States of this round to snapshot once it is committed. */
  private readonly round: ShardRound;
  /** The store's decision index, when it keeps one. */
  private readonly decisions: Pick<DecisionStore, 'decisionsOf'> | null;
  private readonly ref: nact.Ref<unknown>;
  private readonly users: ShardUsers;
  private readonly topics: OutputTopics;
  /** Rounds, housekeeping and the stop, one at a time; refuses what is queued once the stop began. */
  private readonly lane = new SerialLane(() => {
    if (this.stopping) throw new EngineError('UNAVAILABLE', `shard ${this.shard} is stopped`);
  });
  private readonly queue: ShardBatchQueue<Judged>;
  private readonly transaction: ShardTransaction;
  private readonly housekeeping: ShardHousekeeping;
  private stopped = false;
  /** Set when the stop begins: rounds still queued are refused, not judged for nothing. */
  private stopping: Promise<void> | null = null;
  /** Set when the process drains: a batch stuck on a dependency gives up instead of retrying. */
  private draining = false;
  private readonly ticker: NodeJS.Timeout;
  private readonly shardWindow = new RestartWindow(SHARD_POLICY);
  private lastCommitAt: number;
  private fencedAt: number | null = null;
  private gaveUp = false;
  private readonly positions: ShardPositions;

  constructor(parent: nact.Ref<unknown>, private readonly deps: ShardDeps) {
    this.shard = deps.shard;
    this.epoch = deps.epoch;
    this.fence = { shard: deps.shard, epoch: deps.epoch };
    this.positions = new ShardPositions(deps.committed, 4 * deps.settings.kafka.maxRecordsPerTransaction, deps.shard, deps.log);
    this.lastCommitAt = deps.supervision.clock();
    this.decisions = isDecisionStore(deps.store) ? deps.store : null;
    const { settings } = deps;
    this.topics = settings.kafka.topics;
    this.ref = nact.spawn(parent, (state: unknown) => state, `shard-${deps.shard}-${deps.epoch}`, {
      onCrash: ((_msg: unknown, err: unknown, ctx: { stopAllChildren: symbol; stop: symbol }) => this.onEscalation(err, ctx)) as never,
    });
    this.users = new ShardUsers({
      parent: this.ref,
      actor: {
        shard: deps.shard,
        fence: () => this.fence,
        rules: deps.rules,
        shadowRules: deps.shadowRules,
        domain: deps.domain,
        store: deps.store,
        clock: deps.supervision.clock,
        onRecovered: (ms) => deps.metrics.recovery.observe(ms / 1000),
        beforeDecide: (event) => deps.faults.beforeDecide(event),
      },
      onCrash: onCrashWithPolicy(USER_ACTOR_POLICY, deps.supervision) as never,
      supervision: deps.supervision,
      timeoutMs: settings.actors.eventTimeoutMs,
      log: deps.log,
      shard: deps.shard,
      onPassivated: (reason) => deps.metrics.passivations.inc({ reason }),
    });
    this.round = new ShardRound({
      shard: deps.shard,
      fence: this.fence,
      domain: deps.domain,
      partitions: deps.partitions,
      topics: this.topics,
      users: this.users,
      store: deps.store,
      decisions: this.decisions,
      faults: deps.faults,
      eventTimeoutMs: settings.actors.eventTimeoutMs,
      snapshotEvery: settings.persistence.snapshotEvery,
      clock: deps.supervision.clock,
      metrics: deps.metrics,
      log: deps.log,
      isStopped: () => this.stopped,
    });
    const { passivateAfterMs } = settings.actors;
    this.housekeeping = new ShardHousekeeping({
      users: this.users,
      journal: (entries, users) => this.round.journal(entries, users),
      sink: deps.sink,
      transactionsIdle: () => this.queue.idle(),
      topics: this.topics,
      metrics: deps.metrics,
      passivateAfterMs,
      actorBudget: deps.actorBudget,
    });
    const period = Math.min(10_000, Math.max(100, Math.min(passivateAfterMs, settings.domain.windows.idleCloseMs) / 2));
    this.ticker = setInterval(() => {
      this.tick().catch((err) => {
        this.noteFenced(err);
        deps.log.warn({ shard: this.shard, code: errorCode(err), err: errorMessage(err) }, 'shard housekeeping failed');
      });
    }, period);
    this.ticker.unref();
    this.transaction = new ShardTransaction({
      shard: deps.shard,
      sink: deps.sink,
      alerts: deps.alerts,
      metrics: deps.metrics,
      beforeRetry: (err, attempt, records, control, what) => this.beforeRetry(err, attempt, records, control, what),
      onCommitted: (offsets, records) => {
        this.lastCommitAt = deps.supervision.clock();
        this.positions.committed(offsets);
        deps.onCommittedRecords?.(records);
      },
      afterAttempt: () => this.round.writeDueSnapshots(),
    });
    this.queue = new ShardBatchQueue<Judged>({
      serial: (work) => this.lane.run(work),
      uncommitted: (batch) => this.positions.uncommitted(batch),
      judge: (chunk, control) => this.judgeWithRetry(chunk, control),
      commit: (chunks, control) => this.transaction.commit(chunks, control),
      // A redelivered event finds its decision in its user's history, or in the store's decision
      // index: with an index a user may have a whole transaction's events uncommitted (a hot user
      // is not held to one history's worth per commit).
      perUserLimit: this.decisions ? settings.kafka.maxRecordsPerTransaction : settings.domain.history.decisions,
      maxRecords: settings.kafka.maxRecordsPerTransaction,
      commitIntervalMs: deps.commitIntervalMs ?? settings.kafka.commitIntervalMs,
      ...(deps.sink.nextTransaction ? { nextTransaction: () => deps.sink.nextTransaction!() } : {}),
      afterCommit: () => this.positions.resumeIfCaughtUp(this.queue.backlog),
      clock: deps.supervision.clock,
      sleep: deps.supervision.sleep,
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
    this.users.forgetAll();
    if (verdict.action === 'restart') return ctx.stopAllChildren;
    this.gaveUp = true;
    this.deps.onFatal(err);
    return ctx.stop;
  }

  /** Housekeeping: close idle users' windows, passivate idle actors, keep within the actor budget. */
  tick(): Promise<void> {
    return this.lane.run(() => this.housekeeping.run(this.deps.supervision.clock()));
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
    const batch = this.positions.take(input, control);
    if (batch.records.length === 0) return Promise.resolve();
    const now = this.deps.supervision.clock();
    for (const rec of batch.records) if (rec.timestamp > 0) this.deps.metrics.fetchLag.observe(Math.max(0, now - rec.timestamp) / 1000);
    const committed = this.queue.push(batch, control);
    committed.catch(() => this.positions.forgetTaken());
    this.positions.pauseIfBehind(control, this.queue.backlog);
    return committed;
  }

  /** Records the shard has taken but not committed (waiting, judged, committing). */
  get backlog(): number {
    return this.queue.backlog;
  }

  /** Fetches every partition of the shard again from its committed offset (after a failure for good). */
  seekToCommitted(): void {
    this.positions.seekToCommitted();
  }

  /** The live actor's view of a user, or null when the user has no live actor on this shard. */
  async view(userId: string): Promise<UserView | null> {
    const live = this.users.get(userId);
    if (!live) return null;
    return this.users.ask(live.ref, (reply) => ({ type: 'view', reply }));
  }

  /** Forces a snapshot of a user (spawning its actor from the store when it is not live). */
  async snapshot(userId: string): Promise<void> {
    await this.users.ask(this.users.touch(userId).ref, (reply) => ({ type: 'snapshot', reply }));
  }

  /** The user was erased from the store: its actor and any snapshot of its old state still due go. */
  forgetUser(userId: string): void {
    this.users.forget(userId);
    this.round.forget(userId);
  }

  /** The batch in flight may still commit, but no longer waits out a dependency outage. */
  beginDrain(): void {
    this.draining = true;
  }

  /** Resolves once what the shard has taken so far is committed or has failed (a graceful stop, fetching paused). */
  drained(): Promise<void> {
    return this.lane.run(() => this.queue.idle()).catch(() => undefined);
  }

  /** Stops the shard and every actor; it is then dead. Stopping it again waits for the same stop. */
  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  /**
   * The round running now finishes; rounds queued behind it are refused (a graceful stop waited
   * for them first, see `drained`; a lost shard's new owner judges them again). Snapshots are
   * written only while the shard's epoch is still ours: a newer owner would refuse every one.
   */
  private async close(): Promise<void> {
    this.draining = true;
    clearInterval(this.ticker);
    await this.lane.runClosing(async () => {
      this.stopped = true;
      // What is judged commits first (or fails at once, draining): the sink closes after it.
      await this.queue.idle();
      if (await this.epochHeld()) {
        const failed = await this.users.snapshotAll();
        if (failed) this.deps.log.warn({ shard: this.shard, failed }, 'some snapshots failed at shard stop');
      } else {
        this.deps.log.info({ shard: this.shard, epoch: this.epoch }, 'shard held by a newer owner: no snapshot at stop');
      }
      nact.stop(this.ref);
      this.users.forgetAll();
      await this.deps.sink.close().catch((err) => this.deps.log.warn({ err, shard: this.shard }, 'closing the shard sink failed'));
    });
  }

  /** False once a newer owner claimed the shard; true when the store cannot tell (the snapshots then try). */
  private async epochHeld(): Promise<boolean> {
    if (this.fencedAt !== null) return false;
    try {
      await assertEpochHeld(this.deps.store, this.fence);
      return true;
    } catch (err) {
      return errorCode(err) !== 'FENCED';
    }
  }

  /** Judges and journals a chunk; a dependency outage is waited out while the group keeps us. */
  private async judgeWithRetry(chunk: Chunk, control: BatchControl): Promise<Judged> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.round.judge(chunk.records);
      } catch (err) {
        await this.beforeRetry(err, attempt, chunk.records.length, control, 'judging failed');
      }
    }
  }

  /** Throws when a failure is final; else waits the backoff before the next attempt. */
  private async beforeRetry(err: unknown, attempt: number, records: number, control: BatchControl, what: string): Promise<void> {
    const code = errorCode(err);
    this.deps.metrics.batchRetries.inc({ code });
    this.noteFenced(err);
    if (code === 'FENCED' || this.draining) throw err;
    if (!RETRY_WHILE_MEMBER.has(code) && attempt >= MAX_BATCH_ATTEMPTS) throw err;
    const delayMs = backoffDelay(DEPENDENCY_BACKOFF, attempt, this.deps.supervision.random());
    this.deps.log.warn({ shard: this.shard, code, err: errorMessage(err), attempt, delayMs, records }, `${what}; retrying`);
    await this.deps.supervision.sleep(delayMs);
    // A heartbeat that fails means the group is rebalancing: give the batches up so that the
    // consumer can rejoin (nothing was committed; the records come again to their owner).
    await control.heartbeat();
  }
}
