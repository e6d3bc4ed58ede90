/**
 * The engine's Prometheus metrics (one registry per engine, so that several engines in one test
 * process do not collide). Gauges that mirror live state are read at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly eventsConsumed = new Counter({ name: 'risk_events_consumed_total', help: 'Input records consumed, per topic', labelNames: ['topic'], registers: [this.registry] });
  readonly decisions = new Counter({ name: 'risk_decisions_total', help: 'Decisions committed, per outcome', labelNames: ['decision'], registers: [this.registry] });
  readonly shadowDecisions = new Counter({
    name: 'risk_shadow_decisions_total',
    help: 'Events decided under a shadow rule set too, committed, per live and shadow decision',
    labelNames: ['live', 'shadow'],
    registers: [this.registry],
  });
  readonly duplicates = new Counter({ name: 'risk_duplicate_events_total', help: 'Events ignored as duplicates (eventId seen before)', registers: [this.registry] });
  readonly redelivered = new Counter({ name: 'risk_redelivered_events_total', help: 'Records seen again after a crash or rebalance; their stored decision was re-emitted', registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'risk_decision_latency_seconds',
    help: 'From the input record timestamp (produce time) to the decision',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  /**
   * The part of risk_decision_latency_seconds spent before the engine had the record (the broker,
   * the fetch): Flink's fetch event-time lag. The rest of the decision latency is the shard's.
   */
  readonly fetchLag = new Histogram({
    name: 'risk_fetch_lag_seconds',
    help: 'From the input record timestamp (produce time) to the record reaching its shard',
    // Finer than the decision latency's between 5 and 100 ms, where the two are told apart.
    buckets: [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly batchSeconds = new Histogram({ name: 'risk_batch_seconds', help: 'Time to judge and commit one transaction of input records', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
  readonly transactions = new Counter({
    name: 'risk_transactions_total',
    help: 'Kafka transactions committed by the shards: input (decisions with the consumed offsets) or windows (aggregates of idle windows)',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly instanceTransactions = new Counter({
    name: 'risk_instance_transactions_total',
    help: 'Kafka transactions of the instance\'s producer with kafka.transactions "instance" (each commits the work of every owned shard that waited)',
    registers: [this.registry],
  });
  readonly dlq = new Counter({ name: 'risk_dlq_records_total', help: 'Records sent to the dead-letter topic, per error code', labelNames: ['code'], registers: [this.registry] });
  readonly restarts = new Counter({ name: 'risk_supervision_restarts_total', help: 'Actor restarts by supervision policy', labelNames: ['policy', 'code'], registers: [this.registry] });
  readonly escalations = new Counter({ name: 'risk_supervision_escalations_total', help: 'Failures escalated to the parent', labelNames: ['policy', 'code'], registers: [this.registry] });
  readonly stops = new Counter({ name: 'risk_supervision_stops_total', help: 'Actors stopped by supervision (unresponsive, or past their limit with a stop policy)', labelNames: ['policy', 'code'], registers: [this.registry] });
  readonly batchRetries = new Counter({ name: 'risk_batch_retries_total', help: 'Transactions of input records retried because a dependency failed', labelNames: ['code'], registers: [this.registry] });
  readonly alertsPublished = new Counter({ name: 'risk_alerts_published_total', help: 'Alerts handed to the alert bus, per decision', labelNames: ['decision'], registers: [this.registry] });
  readonly passivations = new Counter({ name: 'risk_passivated_actors_total', help: 'User actors passivated (snapshot + stop)', labelNames: ['reason'], registers: [this.registry] });
  readonly recovery = new Histogram({ name: 'risk_actor_recovery_seconds', help: 'Time for a user actor to recover from the store', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
  readonly handOff = new Histogram({
    name: 'risk_rebalance_handoff_seconds',
    help: 'Rebalance cost: from the group starting to rebalance to the first commit of a shard this member gained',
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60],
    registers: [this.registry],
  });
  readonly rebalance = new Histogram({ name: 'risk_shard_open_seconds', help: 'From assignment to a shard ready to process (epoch + producer fencing)', buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30], registers: [this.registry] });

  constructor(live: {
    liveActors(): number;
    ownedShards(): number;
    dependencies(): Record<string, boolean>;
    alertsBuffered(): number;
    fencedWrites(): number;
    /** Lag per owned shard; asked at scrape time. */
    lag?(): Promise<{ shard: number; lag: number | null }[]>;
    /** What GET /readyz answers; asked at scrape time. */
    ready?(): Promise<boolean>;
  }) {
    const registers = [this.registry];
    new Gauge({
      name: 'risk_consumer_lag',
      help: 'Records of the input topics not yet committed, per owned shard',
      labelNames: ['shard'],
      registers,
      async collect() {
        this.reset();
        for (const { shard, lag } of (await live.lag?.().catch(() => [])) ?? []) if (lag !== null) this.set({ shard: String(shard) }, lag);
      },
    });
    // Prometheus cannot probe /readyz itself (no blackbox exporter in the stack): the not-ready
    // alert reads this.
    new Gauge({
      name: 'risk_ready',
      help: 'What GET /readyz answers: 1 ready, 0 not ready (the reasons are in /readyz)',
      registers,
      async collect() {
        if (live.ready) this.set((await live.ready().catch(() => false)) ? 1 : 0);
      },
    });
    new Gauge({ name: 'risk_live_actors', help: 'User actors in memory', registers, collect() { this.set(live.liveActors()); } });
    new Gauge({ name: 'risk_owned_shards', help: 'Shards this instance owns', registers, collect() { this.set(live.ownedShards()); } });
    new Gauge({ name: 'risk_alerts_buffered', help: 'Alerts waiting for the alert bus to come back', registers, collect() { this.set(live.alertsBuffered()); } });
    // The store keeps the count; the counter catches up with it at scrape time (a counter, not a
    // gauge: the name ends in _total, and rate() over it is what the alert asks).
    let fencedCounted = 0;
    new Counter({
      name: 'risk_fenced_writes_total',
      help: 'Journal writes refused because a newer owner holds the shard',
      registers,
      collect() {
        const now = live.fencedWrites();
        if (now > fencedCounted) this.inc(now - fencedCounted);
        fencedCounted = Math.max(fencedCounted, now);
      },
    });
    new Gauge({
      name: 'risk_dependency_up',
      help: 'Connection state of each dependency (1 up, 0 down)',
      labelNames: ['dependency'],
      registers,
      collect() {
        for (const [dependency, up] of Object.entries(live.dependencies())) this.set({ dependency }, up ? 1 : 0);
      },
    });
    // Standard names (process_*, nodejs_*), so that stock Node.js dashboards and alerts work.
    collectDefaultMetrics({ register: this.registry });
    // prom-client's nodejs_active_{handles,requests,resources}_total are gauges named like
    // counters (promtool check metrics flags them); each is the sum of its per-type gauge
    // without the suffix, which stays: sum(nodejs_active_handles) is the same number.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
  }
}
