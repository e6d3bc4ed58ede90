/**
 * The engine: the root of the actor tree. It listens to shard ownership from the event source,
 * opens a ShardSupervisor (fence epoch + transactional sink) for every shard it gains, stops the
 * ones it loses, and routes each input batch to its shard.
 */
import { hostname } from 'node:os';
import nact from 'nact';
import { toUserView, type Rules, type UserStateView } from '../domain/index.ts';
import { EngineError, errorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import { domainConfigOf, type Settings } from '../config/settings.ts';
import type { DomainConfig } from '../domain/index.ts';
import { ShardSupervisor } from '../actors/ShardSupervisor.ts';
import { persistenceKey, recoverUser } from '../actors/recoverUser.ts';
import type { SupervisionDeps } from '../supervision/onCrash.ts';
import type { AlertBus, BatchControl, ClusterReader, EventSource, IngestSink, InputBatch, OutputRecord, ShardListener } from '../transport/ports.ts';
import { assertEpochHeld, FencedError, type JournalStore } from '../persistence/JournalStore.ts';
import { shardOf } from '../transport/shardOf.ts';
import { Metrics } from '../telemetry/metrics.ts';
import { NO_FAULTS, type Faults } from './faults.ts';
import { StuckWatch, within, type Readiness } from './readiness.ts';
import type { RulesChannel } from './rules/channel.ts';
import type { ClusterView } from '../admin/types.ts';
import { clusterViewOf, embeddedClusterView } from './clusterView.ts';

/** What `persistenceKey(userId)` puts before the user id. */
const USER_KEY_PREFIX = persistenceKey('');

export interface EngineParts {
  source: EventSource;
  store: JournalStore;
  alerts: AlertBus;
  ingest: IngestSink;
  partitions: number;
  /** Least time between two commits of a shard (default kafka.commitIntervalMs): a Kafka transaction costs round trips, an LMDB one little. */
  commitIntervalMs?: number;
  /** The rules in force and their distribution to every instance. */
  rules: RulesChannel;
  /** Fault injection for tests (RISK_FAULT); NO_FAULTS otherwise. */
  faults?: Faults;
  /** The whole consumer group as Kafka sees it (GET /cluster); embedded there is none. */
  cluster?: ClusterReader;
  /** Closes what the parts opened (clients, connections). */
  close(): Promise<void>;
}

export class Engine implements ShardListener {
  private readonly system: nact.Ref<unknown>;
  private readonly domain: DomainConfig;
  private readonly shards = new Map<number, Promise<ShardSupervisor>>();
  /** The shards that are open, for cheap synchronous reads (metrics). */
  private readonly open = new Map<number, ShardSupervisor>();
  private started = false;
  private stopping = false;
  /** Shards dropped because a newer owner fenced us, with when; until they are reopened or revoked. */
  private readonly fenced = new Map<number, number>();
  private readonly stuck: StuckWatch;
  private readonly firstCommitSeen = new WeakSet<ShardSupervisor>();
  readonly metrics: Metrics;
  /** A shard exceeded its restart limit: the process must drain and exit non-zero (set by run.ts). */
  onFatal: (err: unknown) => void = (err) => this.log.fatal({ err }, 'root supervision: fatal failure');
  private readonly supervision: SupervisionDeps;
  private readonly decisionListeners = new Set<{ listener: (decisions: readonly OutputRecord[]) => void; active: () => boolean }>();

  constructor(
    readonly settings: Settings,
    readonly parts: EngineParts,
    private readonly rules: () => Rules,
    makeSupervision: (metrics: Metrics) => SupervisionDeps,
    private readonly log: Logger,
  ) {
    this.domain = domainConfigOf(settings);
    this.metrics = new Metrics({
      liveActors: () => [...this.open.values()].reduce((n, s) => n + s.liveActors, 0),
      ownedShards: () => this.open.size,
      alertsBuffered: () => parts.alerts.buffered ?? 0,
      fencedWrites: () => parts.store.fencedWrites,
      dependencies: () => ({ kafka: parts.source.isConnected(), store: parts.store.isHealthy(), alerts: parts.alerts.isConnected() }),
      lag: async () => (await parts.source.positions(this.ownedShards())).map(({ shard, lag }) => ({ shard, lag })),
      ready: async () => (await this.readiness()).ready,
    });
    this.supervision = makeSupervision(this.metrics);
    parts.source.countTransactions?.(() => this.metrics.instanceTransactions.inc());
    this.stuck = new StuckWatch(settings.readiness.stuckAfterMs);
    this.system = nact.start() as nact.Ref<unknown>;
    parts.store.onErased?.((key) => {
      if (key.startsWith(USER_KEY_PREFIX)) this.forgetLive(key.slice(USER_KEY_PREFIX.length));
    });
  }

  async start(): Promise<void> {
    await this.parts.source.start(this);
    this.started = true;
  }

  /** Drains: stops fetching (in-flight batches finish and commit), then snapshots and stops every shard. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const sup of this.open.values()) sup.beginDrain();
    // What the shards took is committed before the member leaves its group: with instance
    // transactions the coordinator refuses the offsets of a member that left.
    this.parts.source.pauseFetching?.();
    await Promise.all([...this.open.values()].map((sup) => sup.drained()));
    await this.parts.source.stop();
    await this.onRevoked([...this.shards.keys()]);
    nact.stop(this.system);
    await this.parts.close();
  }

  async onAssigned(shards: readonly number[]): Promise<void> {
    await this.reopenSuperseded(shards.filter((s) => this.open.has(s)));
    for (const shard of shards) {
      if (this.shards.has(shard)) continue;
      const opening = this.openShard(shard);
      // Stored at once: batches of this shard wait for it to be ready.
      this.shards.set(shard, opening);
      opening.catch((err) => this.log.error({ err, shard }, 'opening shard failed'));
    }
    await Promise.allSettled(shards.map((s) => this.shards.get(s)));
  }

  /**
   * A shard kept across a rebalance is still ours only if nobody opened it since we did: a member
   * can miss a generation (its sync failed and it rejoined) in which the shard had another owner,
   * whose events our live actors never saw. Such a shard is closed here, so that it is reopened
   * with a new epoch and its actors recover from the store.
   */
  private async reopenSuperseded(kept: readonly number[]): Promise<void> {
    const superseded = await Promise.all(
      kept.map(async (shard) => {
        const sup = this.open.get(shard);
        if (!sup) return null;
        // Unknown while the store is away: a stale shard is then fenced at its next write.
        return assertEpochHeld(this.parts.store, { shard, epoch: sup.epoch }).then(
          () => null,
          (err: unknown) => (err instanceof FencedError ? shard : null),
        );
      }),
    );
    const stale = superseded.filter((s): s is number => s !== null);
    if (!stale.length) return;
    this.log.warn({ shards: stale }, 'shards were opened by another owner since we opened them: reopening them');
    await this.onRevoked(stale);
  }

  async onRevoked(shards: readonly number[]): Promise<void> {
    await Promise.all(
      shards.map(async (shard) => {
        const opening = this.shards.get(shard);
        this.shards.delete(shard);
        this.open.delete(shard);
        this.fenced.delete(shard);
        const sup = await opening?.catch(() => null);
        await sup?.stop();
      }),
    );
  }

  async onBatch(shard: number, batch: InputBatch, control: BatchControl): Promise<void> {
    // Fetched before the pause of a graceful stop: left, uncommitted, to the shard's next owner.
    if (this.stopping && this.parts.source.pauseFetching) return;
    const opening = this.shards.get(shard);
    // Never opened on first sight: that would take a new epoch and fence the real owner. A batch
    // of a shard we do not hold is a stale fetch of a member that lost it (a zombie).
    if (!opening) throw new EngineError('FENCED', `shard ${shard} is not owned by this instance`);
    let sup: ShardSupervisor;
    try {
      sup = await opening;
    } catch {
      // Opening failed (a dependency was down): try again now that its batch is here.
      const retry = this.openShard(shard);
      this.shards.set(shard, retry);
      sup = await retry;
    }
    const current = this.shards.get(shard)!;
    try {
      const committed = sup.processBatch(batch, control);
      if (control.pipelined) {
        committed.then(
          () => this.observeHandOff(sup),
          (err: unknown) => this.onShardFailed(shard, current, sup, err),
        );
        return;
      }
      await committed;
      this.observeHandOff(sup);
    } catch (err) {
      if (errorCode(err) === 'FENCED') await this.dropShard(shard, current, sup, err);
      throw err;
    }
  }

  /**
   * A pipelined shard whose work failed for good (fenced by a newer owner, or a failure past its
   * retries): it is dropped here, and its partitions are fetched again from the committed
   * offsets, so that their next batch reaches kafkajs as a failure and the consumer rejoins its
   * group; the shard is opened afresh if the group gives it to us again.
   */
  private onShardFailed(shard: number, opening: Promise<ShardSupervisor>, sup: ShardSupervisor, err: unknown): void {
    if (this.shards.get(shard) !== opening) return;
    sup.seekToCommitted();
    void this.dropShard(shard, opening, sup, err);
  }

  private async dropShard(shard: number, opening: Promise<ShardSupervisor>, sup: ShardSupervisor, err: unknown): Promise<void> {
    if (this.shards.get(shard) !== opening) return;
    // A newer owner holds the shard (we were a zombie), or its work failed for good: drop it at
    // once; the consumer rejoins when a failed batch reaches kafkajs.
    this.log.warn({ shard, epoch: sup.epoch, code: errorCode(err) }, errorCode(err) === 'FENCED' ? 'fenced by a newer owner: dropping the shard' : 'shard failed: dropping it');
    if (errorCode(err) === 'FENCED') this.fenced.set(shard, this.supervision.clock());
    this.shards.delete(shard);
    this.open.delete(shard);
    await sup.stop().catch(() => undefined);
  }

  /** Rebalance cost: from the group starting to rebalance to a newly gained shard's first commit. */
  private observeHandOff(sup: ShardSupervisor): void {
    if (this.firstCommitSeen.has(sup)) return;
    this.firstCommitSeen.add(sup);
    const since = this.parts.source.rebalanceStartedAt;
    if (since !== null && since !== undefined) this.metrics.handOff.observe((Date.now() - since) / 1000);
  }

  private async openShard(shard: number): Promise<ShardSupervisor> {
    const timer = this.metrics.rebalance.startTimer();
    const epoch = await this.parts.store.nextEpoch(shard);
    const sink = await this.parts.source.openSink(shard, () => assertEpochHeld(this.parts.store, { shard, epoch }));
    // Read only now: opening the sink fenced the previous owner and made its last transaction
    // final, so these offsets cannot move behind our back any more.
    const committed = await this.parts.source.committedOffsets(shard);
    this.log.info({ shard, epoch, committed }, 'shard opened');
    const sup = new ShardSupervisor(this.system, {
      shard,
      partitions: this.parts.partitions,
      domain: this.domain,
      epoch,
      settings: this.settings,
      commitIntervalMs: this.parts.commitIntervalMs ?? this.settings.kafka.commitIntervalMs,
      sink,
      alerts: this.parts.alerts,
      store: this.parts.store,
      rules: this.rules,
      shadowRules: () => this.parts.rules.shadow?.()?.rules ?? null,
      supervision: this.supervision,
      metrics: this.metrics,
      log: this.log,
      actorBudget: () => Math.floor(this.settings.actors.maxLiveActors / Math.max(1, this.open.size)),
      onFatal: (err) => this.onFatal(err),
      faults: this.parts.faults ?? NO_FAULTS,
      committed,
      onCommittedRecords: (records) => this.committedDecisions(records),
    });
    if (this.shards.has(shard)) {
      this.open.set(shard, sup);
      this.fenced.delete(shard);
    }
    timer();
    return sup;
  }

  /**
   * Calls `listener` with the decision records of every transaction a shard of this instance
   * commits, once it committed (what a read_committed consumer will see), while `active()` says it
   * wants them (a commit's records are not looked at otherwise); returns the unsubscribe.
   */
  onDecisionsCommitted(listener: (decisions: readonly OutputRecord[]) => void, active: () => boolean = () => true): () => void {
    const entry = { listener, active };
    this.decisionListeners.add(entry);
    return () => void this.decisionListeners.delete(entry);
  }

  private committedDecisions(records: readonly OutputRecord[]): void {
    const topic = this.settings.kafka.topics.decisions;
    let decisions: OutputRecord[] | null = null;
    for (const { listener, active } of this.decisionListeners) {
      if (!active()) continue;
      decisions ??= records.filter((r) => r.topic === topic);
      if (decisions.length === 0) return;
      // Called from inside the shard's commit: a listener's failure must not pass for the commit's.
      try {
        listener(decisions);
      } catch (err) {
        this.log.error({ err }, 'a listener of committed decisions failed');
      }
    }
  }

  shardOf(userId: string): number {
    return shardOf(userId, this.parts.partitions);
  }

  ownedShards(): number[] {
    return [...this.shards.keys()].sort((a, b) => a - b);
  }

  /** GET /cluster: every instance of the group and every shard's owner and lag. */
  async clusterView(): Promise<ClusterView> {
    const { cluster, source } = this.parts;
    if (cluster) return clusterViewOf(await cluster.read(), source.memberId);
    return embeddedClusterView(this.settings.kafka.groupId, this.settings.instanceId, hostname(), await source.positions(this.ownedShards()));
  }

  async liveShard(shard: number): Promise<ShardSupervisor | null> {
    return (await this.shards.get(shard)?.catch(() => null)) ?? null;
  }

  /** A user's state: from the live actor when this instance owns its shard, else from the store. */
  async userState(userId: string): Promise<UserStateView | null> {
    const shard = this.shardOf(userId);
    const live = await (await this.liveShard(shard))?.view(userId);
    // A live actor that journaled nothing (its first write failed) is no user yet.
    if (live && live.sequenceNumber > 0) return { ...live, shard, source: 'actor' };
    const state = await recoverUser(this.parts.store, userId, this.domain);
    if (state.sequenceNumber === 0) return null;
    return { ...toUserView(state, this.settings.domain.history, this.settings.domain.defaultCurrency), shard, source: 'store' };
  }

  /**
   * Erases a user (DELETE /users/:userId): its journal, snapshots and decision-index entries in one
   * store step, then its live actor here; the owner elsewhere drops it on the store's notice
   * (constructor). A notice that never arrives costs no correctness: the stale actor's next write
   * is refused (its sequence number no longer follows the emptied journal) and it recovers empty.
   */
  async eraseUser(userId: string): Promise<void> {
    const { store } = this.parts;
    if (!store.erase) throw new EngineError('UNAVAILABLE', 'this state store cannot erase users');
    await store.erase(persistenceKey(userId), userId);
    this.forgetLive(userId);
  }

  private forgetLive(userId: string): void {
    this.open.get(this.shardOf(userId))?.forgetUser(userId);
  }

  /** Forces a snapshot of a user of an owned shard; a user never seen is NOT_FOUND, and stays unseen. */
  async snapshotUser(userId: string): Promise<void> {
    const sup = await this.liveShard(this.shardOf(userId));
    if (!sup) throw new EngineError('NOT_FOUND', `user ${userId} is not on a shard this instance owns`);
    // Asked before the actor is spawned: spawning it would make a user of anyone.
    if (!(await this.hasHistory(sup, userId))) throw new EngineError('NOT_FOUND', `user ${userId} has never been seen`);
    await sup.snapshot(userId);
  }

  /** Whether the user has journaled anything: in its live actor, else in the store. */
  private async hasHistory(sup: ShardSupervisor, userId: string): Promise<boolean> {
    const live = await sup.view(userId);
    if (live) return live.sequenceNumber > 0;
    const key = persistenceKey(userId);
    if (await this.parts.store.latestSnapshot(key)) return true;
    return (await this.parts.store.readAfter(key, 0)).length > 0;
  }

  /**
   * Ready (GET /readyz) when connected, joined and every owned shard makes progress: none fenced
   * by a newer owner and not reopened, none closed under us, none stuck (lag above zero with no
   * commit for readiness.stuckAfterMs); not while draining.
   */
  async readiness(): Promise<Readiness> {
    const reasons: string[] = [];
    if (!this.started) reasons.push('engine not started');
    if (this.stopping) reasons.push('engine is draining');
    if (!this.parts.source.isConnected()) reasons.push('event source not connected');
    if (this.parts.source.memberId === null) reasons.push('consumer has not joined its group');
    if (!this.parts.store.isHealthy()) reasons.push('state store unreachable');
    if (!this.parts.alerts.isConnected()) reasons.push('alert bus unreachable');
    const now = this.supervision.clock();
    for (const [shard, at] of this.fenced) reasons.push(`shard ${shard} was fenced by a newer owner ${Math.round((now - at) / 1000)} s ago and is not reopened`);
    for (const [shard, sup] of this.open) {
      const { closed, fencedAt } = sup.health;
      if (closed) reasons.push(`shard ${shard} is closed`);
      else if (fencedAt !== null) reasons.push(`shard ${shard} is fenced by a newer owner`);
    }
    reasons.push(...(await this.stuckShards(now)));
    return { ready: reasons.length === 0, reasons };
  }

  private async stuckShards(now: number): Promise<string[]> {
    const owned = this.ownedShards();
    if (!owned.length) return [];
    let positions;
    try {
      positions = await within(this.parts.source.positions(owned), Math.min(2000, this.settings.readiness.stuckAfterMs), 'reading shard lag');
    } catch (err) {
      this.log.debug({ err }, 'readiness: shard lag could not be read');
      return ['shard lag could not be read'];
    }
    return this.stuck.observe(now, positions, (shard) => this.open.get(shard)?.health.lastCommitAt ?? null);
  }
}
