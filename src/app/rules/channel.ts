/**
 * Rules that change at run time on every instance (Flink's broadcast state): `PUT /rules` on any
 * instance bumps the version and appends the rules to a log that every instance follows (the
 * compacted topic `risk-rules`, ../../transport/kafka/RulesTopic.ts). An instance reads that log
 * to its end before it takes events, so it starts with the latest rules.
 *
 * Order: every instance applies the log's records in log order, so all of them end with the
 * last record. A change made here is applied here at once (before its record comes back), and
 * records older than the newest one applied are skipped, so the rules never step back.
 */
import type { Kafka } from 'kafkajs';
import type { Settings } from '../../config/settings.ts';
import type { Rules } from '../../domain/index.ts';
import { EngineError } from '../../errors.ts';
import { silentLogger, type Logger } from '../../log.ts';
import type { ShadowCounts, ShadowCountStore } from '../../persistence/shadowCounts.ts';
import { RulesTopic } from '../../transport/kafka/RulesTopic.ts';
import type { RulesLog, ShadowRecord } from '../../transport/ports.ts';
import type { RulesStore } from '../rules.ts';
import { SerialLane } from '../../serialLane.ts';

export interface RulesChannel {
  current(): Rules;
  /** Makes `rules` (version as given) the rules of every instance; applied here before it resolves. */
  publish(rules: Rules): Promise<void>;
  /**
   * PUT /rules: `candidate` (validated; its rulesVersion ignored) becomes the rules with
   * rulesVersion = current + 1, counted after catching up with the log. One change at a time.
   */
  update(candidate: Rules): Promise<Rules>;
  /** Resolves once the rules of the log (as of now) are applied: call before the engine takes events. */
  start(): Promise<void>;
  close(): Promise<void>;
  /*
   * Shadow rules (CONTRACT §8): a candidate rule set every instance decides beside the live one.
   * Optional so that test doubles of the live channel need not have them.
   */
  /** The shadow rule set running now, or null. */
  shadow?(): ShadowRules | null;
  /** PUT /rules/shadow: `candidate` (validated) runs as the shadow on every instance, with a version of its own. */
  updateShadow?(candidate: Rules): Promise<ShadowRules>;
  /** DELETE /rules/shadow: stops the shadow on every instance; the one stopped, or null when none ran. */
  stopShadow?(): Promise<ShadowRules | null>;
  /** The counts of shadow `version` (default: the running one) over the cluster; null when unknown. */
  shadowReport?(version?: number): Promise<ShadowCounts | null>;
}

/** A shadow rule set: the rules (their rulesVersion is the shadow's own) and when it started (epoch ms). */
export interface ShadowRules {
  rules: Rules;
  since: number;
}

export interface RulesChannelOptions {
  /** Where the shadow counts are kept (the journal store); none: reports are unavailable. */
  counts?: () => ShadowCountStore | null;
  now?: () => number;
}


export class LogRulesChannel implements RulesChannel {
  private appliedAt = -1n;
  private shadowAppliedAt = -1n;
  private running: ShadowRules | null = null;
  /** The highest shadow version the log named (running or stopped): versions are never taken twice. */
  private shadowVersions = 0;
  private readonly lane = new SerialLane();

  constructor(
    private readonly store: RulesStore,
    private readonly log: RulesLog,
    private readonly logger: Logger,
    private readonly options: RulesChannelOptions = {},
  ) {}

  current = (): Rules => this.store.current();

  shadow = (): ShadowRules | null => this.running;

  start(): Promise<void> {
    return this.log.start(
      (rules, position) => this.apply(rules, position, 'log'),
      (record, position) => this.applyShadow(record, position, 'log'),
    );
  }

  updateShadow(candidate: Rules): Promise<ShadowRules> {
    return this.lane.run(async () => {
      await this.log.catchUp();
      const version = this.nextVersion();
      const since = this.now();
      // Before the record goes out: no instance counts under this number until it is reset.
      await this.options.counts?.()?.startShadowCounts(version, since);
      const record: ShadowRecord = { rules: { ...candidate, rulesVersion: version }, version, at: since };
      this.applyShadow(record, await this.appendShadow(record), 'local');
      return this.running!;
    });
  }

  stopShadow(): Promise<ShadowRules | null> {
    return this.lane.run(async () => {
      await this.log.catchUp();
      const stopped = this.running;
      if (!stopped) return null;
      const record: ShadowRecord = { rules: null, version: stopped.rules.rulesVersion, at: this.now() };
      this.applyShadow(record, await this.appendShadow(record), 'local');
      return stopped;
    });
  }

  async shadowReport(version?: number): Promise<ShadowCounts | null> {
    const running = this.running;
    const v = version ?? running?.rules.rulesVersion;
    if (v === undefined) return null;
    const store = this.options.counts?.();
    if (!store) throw new EngineError('UNAVAILABLE', 'shadow counts are not kept on this instance (no store)');
    const counts = await store.shadowCounts(v);
    const since = running?.rules.rulesVersion === v ? running.since : null;
    if (!counts) return since === null ? null : { shadowVersion: v, since, events: 0, agree: 0, disagreements: {} };
    return { ...counts, since: counts.since ?? since };
  }

  publish(rules: Rules): Promise<void> {
    return this.lane.run(async () => {
      this.apply(rules, await this.log.append(rules), 'local');
    });
  }

  update(candidate: Rules): Promise<Rules> {
    return this.lane.run(async () => {
      await this.log.catchUp();
      const next: Rules = { ...candidate, rulesVersion: this.nextVersion() };
      this.apply(next, await this.log.append(next), 'local');
      return next;
    });
  }

  close(): Promise<void> {
    return this.log.close();
  }

  private apply(rules: Rules, position: bigint, from: 'log' | 'local'): void {
    if (position <= this.appliedAt) return;
    this.appliedAt = position;
    const before = this.store.current().rulesVersion;
    this.store.replace(rules);
    this.logger.info({ rulesVersion: rules.rulesVersion, before, position: position.toString(), from }, 'rules applied');
  }

  private applyShadow(record: ShadowRecord, position: bigint, from: 'log' | 'local'): void {
    if (position <= this.shadowAppliedAt) return;
    this.shadowAppliedAt = position;
    this.shadowVersions = Math.max(this.shadowVersions, record.version, record.rules?.rulesVersion ?? 0);
    this.running = record.rules ? { rules: record.rules, since: record.at } : null;
    if (record.rules) this.logger.info({ shadowVersion: record.rules.rulesVersion, position: position.toString(), from }, 'shadow rules applied');
    else this.logger.info({ stoppedVersion: record.version, position: position.toString(), from }, 'shadow rules stopped');
  }

  /** Live and shadow rules share one sequence of versions, so that a version names one rules object. */
  private nextVersion(): number {
    return Math.max(this.store.current().rulesVersion, this.shadowVersions) + 1;
  }

  private appendShadow(record: ShadowRecord): Promise<bigint> {
    if (!this.log.appendShadow) throw new EngineError('UNAVAILABLE', 'this rules log has no shadow slot');
    return this.log.appendShadow(record);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

}

/** Embedded mode (one process): the log is in memory, so publishing is replacing. */
export function embeddedRulesChannel(store: RulesStore, options: RulesChannelOptions = {}): LogRulesChannel {
  return new LogRulesChannel(store, new MemoryRulesLog(), silentLogger, options);
}

/** A rules log with no one else to tell: positions only order what this process appends. */
class MemoryRulesLog implements RulesLog {
  private position = 0n;
  start = async (): Promise<void> => undefined;
  catchUp = async (): Promise<void> => undefined;
  append = async (): Promise<bigint> => ++this.position;
  appendShadow = async (): Promise<bigint> => ++this.position;
  close = async (): Promise<void> => undefined;
}

/** The rules channel of a Kafka deployment, on `settings.kafka.topics.rules`. Call `start()` before the engine's. */
export function openRulesChannel(kafka: Kafka, settings: Settings, store: RulesStore, log: Logger, options: RulesChannelOptions = {}): LogRulesChannel {
  const topic = new RulesTopic(
    kafka,
    {
      topic: settings.kafka.topics.rules,
      groupPrefix: `${settings.kafka.groupId}.rules.${settings.instanceId}`,
      replicationFactor: settings.kafka.replicationFactor,
      instanceId: settings.instanceId,
    },
    log,
  );
  return new LogRulesChannel(store, topic, log, options);
}
