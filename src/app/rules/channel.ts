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
import type { Logger } from '../../log.ts';
import { RulesTopic } from '../../transport/kafka/RulesTopic.ts';
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
}

/** The log the rules travel on; a position orders records (Kafka: the offset). */
export interface RulesLog {
  /** Reads from the beginning, then follows; resolves once it has passed every record there was at the call. */
  start(onRules: (rules: Rules, position: bigint) => void): Promise<void>;
  /** Resolves once every record appended before the call has been passed to `onRules`. */
  catchUp(): Promise<void>;
  /** Appends durably; resolves with the record's position. */
  append(rules: Rules): Promise<bigint>;
  close(): Promise<void>;
}

export class LogRulesChannel implements RulesChannel {
  private appliedAt = -1n;
  private readonly lane = new SerialLane();

  constructor(
    private readonly store: RulesStore,
    private readonly log: RulesLog,
    private readonly logger: Logger,
  ) {}

  current = (): Rules => this.store.current();

  start(): Promise<void> {
    return this.log.start((rules, position) => this.apply(rules, position, 'log'));
  }

  publish(rules: Rules): Promise<void> {
    return this.lane.run(async () => {
      this.apply(rules, await this.log.append(rules), 'local');
    });
  }

  update(candidate: Rules): Promise<Rules> {
    return this.lane.run(async () => {
      await this.log.catchUp();
      const next: Rules = { ...candidate, rulesVersion: this.store.current().rulesVersion + 1 };
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

}

/** Embedded mode (one process): publishing is replacing. */
export function embeddedRulesChannel(store: RulesStore): RulesChannel {
  const lane = new SerialLane();
  return {
    current: () => store.current(),
    publish: (rules) => lane.run(() => store.replace(rules)),
    update: (candidate) =>
      lane.run(() => {
        const next: Rules = { ...candidate, rulesVersion: store.current().rulesVersion + 1 };
        store.replace(next);
        return next;
      }),
    start: async () => undefined,
    close: async () => undefined,
  };
}

/** The rules channel of a Kafka deployment, on `settings.kafka.topics.rules`. Call `start()` before the engine's. */
export function openRulesChannel(kafka: Kafka, settings: Settings, store: RulesStore, log: Logger): RulesChannel {
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
  return new LogRulesChannel(store, topic, log);
}
