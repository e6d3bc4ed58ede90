/**
 * The rules topic: the Kafka log of the rules channel (src/app/rules/channel.ts). A compacted
 * control topic with one partition; the live rules' records have the key `rules` and those of
 * the shadow rule set (CONTRACT §8) the key `shadow`, so compaction keeps the latest of each.
 * A stopped shadow is a `shadow` record with `rules: null` (not a tombstone: it keeps the stopped
 * version, so that no later shadow takes its number again; a tombstone is read as a stop too).
 * Written by an idempotent producer with acks=all.
 *
 * Every instance reads it with a consumer group of its own (unique per start, offsets never
 * committed), from the beginning: `start` resolves once it has read up to the end offsets taken
 * from the admin API at the call (no sleeping), then keeps following. Records that are not valid
 * rules are logged and skipped.
 */
import { randomUUID } from 'node:crypto';
import { createTopics, untilReadable } from './topics.ts';

const CLOSE_TIMEOUT_MS = 5000;
import type { Admin, Consumer, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { validateRules, type Rules } from '../../domain/index.ts';
import { EngineError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { RulesLog, ShadowRecord } from '../ports.ts';
import { restartWhenAbandoned } from './consumerRestart.ts';

export const RULES_KEY = 'rules';
export const SHADOW_KEY = 'shadow';

export interface RulesTopicOptions {
  topic: string;
  /** The follower's group id is `<groupPrefix>.<uuid>`. */
  groupPrefix: string;
  /** Used when the topic has to be created here (normally ensureTopics did it). */
  replicationFactor: number;
  instanceId: string;
  /** How long `start` and `catchUp` may take (default 30 s). */
  timeoutMs?: number;
}

interface Waiter {
  target: bigint;
  resolve(): void;
  reject(err: Error): void;
}

export class RulesTopic implements RulesLog {
  private admin: Admin | null = null;
  private producer: Producer | null = null;
  private consumer: Consumer | null = null;
  /** The next offset to read: every record below it has been handled. */
  private position = 0n;
  private readonly waiters = new Set<Waiter>();
  private closed = false;
  private stopRestart: () => void = () => {};

  constructor(
    private readonly kafka: Kafka,
    private readonly opts: RulesTopicOptions,
    private readonly log: Logger,
  ) {}

  async start(onRules: (rules: Rules, position: bigint) => void, onShadow?: (record: ShadowRecord, position: bigint) => void): Promise<void> {
    if (this.admin) throw new EngineError('INTERNAL', 'rules topic already started');
    const admin = this.kafka.admin();
    this.admin = admin;
    await admin.connect();
    await this.ensureTopic(admin);
    const end = await this.endOffsets();

    const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    this.producer = producer;
    await producer.connect();

    const consumer = this.kafka.consumer({
      groupId: `${this.opts.groupPrefix}.${randomUUID()}`,
      allowAutoTopicCreation: false,
      readUncommitted: false,
      // Short long-polls: new rules arrive at once anyway (minBytes 1); closing waits at most this.
      maxWaitTimeInMs: 1000,
    });
    this.consumer = consumer;
    // Also fires for batches that hold only filtered records, which never reach eachMessage.
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => this.advance(BigInt(e.payload.lastOffset) + 1n));
    consumer.on(consumer.events.CRASH, (e) => this.log.error({ err: e.payload.error, restart: e.payload.restart }, 'rules follower crashed'));
    const run = () =>
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ message }) => {
          if (message.key?.toString('utf8') === SHADOW_KEY) this.handleShadow(message, onShadow);
          else this.handle(message, onRules);
          this.advance(BigInt(message.offset) + 1n);
        },
      });
    // Run again from the start of the topic: rules already applied are skipped, they never step back.
    this.stopRestart = restartWhenAbandoned(consumer, run, this.log, { what: 'rules follower', closed: () => this.closed });
    await consumer.connect();
    await consumer.subscribe({ topic: this.opts.topic, fromBeginning: true });
    await run();
    await this.waitFor(end, 'start');
    this.log.info({ topic: this.opts.topic, position: this.position.toString() }, 'rules topic read to its end');
  }

  async catchUp(): Promise<void> {
    await this.waitFor(await this.endOffsets(), 'catch up');
  }

  append(rules: Rules): Promise<bigint> {
    return this.send(RULES_KEY, JSON.stringify(rules));
  }

  appendShadow(record: ShadowRecord): Promise<bigint> {
    return this.send(SHADOW_KEY, JSON.stringify(record));
  }

  private async send(key: string, value: string): Promise<bigint> {
    if (!this.producer || this.closed) throw new EngineError('UNAVAILABLE', 'the rules topic is not open');
    const [meta] = await this.producer.send({
      topic: this.opts.topic,
      acks: -1,
      messages: [{ key, value, headers: { instanceId: this.opts.instanceId } }],
    });
    const offset = meta?.baseOffset ?? meta?.offset;
    if (offset === undefined) throw new EngineError('INTERNAL', `rules topic ${this.opts.topic}: the broker returned no offset`);
    return BigInt(offset);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopRestart();
    for (const w of this.waiters) w.reject(new EngineError('UNAVAILABLE', 'the rules topic was closed'));
    this.waiters.clear();
    const parts = [this.consumer, this.producer, this.admin];
    this.consumer = this.producer = this.admin = null;
    for (const part of parts) {
      // Bounded: a follower that crashed while the broker was away can hang in disconnect, and
      // that must not turn a SIGTERM drain into a timeout.
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)));
      await Promise.race([part?.disconnect().catch((err: unknown) => this.log.warn({ err }, 'closing the rules topic')), deadline]);
      clearTimeout(timer);
    }
  }

  private handle(message: KafkaMessage, onRules: (rules: Rules, position: bigint) => void): void {
    const offset = message.offset;
    const key = message.key?.toString('utf8') ?? null;
    if (key !== RULES_KEY) return void this.log.warn({ offset, key }, 'rules record ignored: unexpected key');
    if (!message.value) return void this.log.warn({ offset }, 'rules record ignored: no value');
    let json: unknown;
    try {
      json = JSON.parse(message.value.toString('utf8'));
    } catch (err) {
      return void this.log.warn({ offset, reason: (err as Error).message }, 'rules record ignored: not JSON');
    }
    const checked = validateRules(json);
    if (!checked.ok) return void this.log.warn({ offset, field: checked.field, reason: checked.message }, 'rules record ignored: invalid rules');
    try {
      onRules(checked.rules, BigInt(offset));
    } catch (err) {
      this.log.error({ err, offset }, 'applying rules failed');
    }
  }

  private handleShadow(message: KafkaMessage, onShadow: ((record: ShadowRecord, position: bigint) => void) | undefined): void {
    const offset = message.offset;
    if (!onShadow) return;
    let record: ShadowRecord;
    if (!message.value) {
      record = { rules: null, version: 0, at: 0 };
    } else {
      let json: { rules?: unknown; version?: unknown; at?: unknown };
      try {
        json = JSON.parse(message.value.toString('utf8')) as typeof json;
      } catch (err) {
        return void this.log.warn({ offset, reason: (err as Error).message }, 'shadow rules record ignored: not JSON');
      }
      const { version, at } = json ?? {};
      if (!Number.isSafeInteger(version) || typeof at !== 'number') return void this.log.warn({ offset }, 'shadow rules record ignored: no version or time');
      let rules: Rules | null = null;
      if (json.rules !== null) {
        const checked = validateRules(json.rules);
        if (!checked.ok) return void this.log.warn({ offset, field: checked.field, reason: checked.message }, 'shadow rules record ignored: invalid rules');
        rules = checked.rules;
      }
      record = { rules, version: version as number, at };
    }
    try {
      onShadow(record, BigInt(offset));
    } catch (err) {
      this.log.error({ err, offset }, 'applying shadow rules failed');
    }
  }

  private advance(next: bigint): void {
    if (next <= this.position) return;
    this.position = next;
    for (const w of this.waiters) {
      if (w.target <= next) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }

  /** Resolves once every record below `end` has been handled (at once when there is nothing to read). */
  private waitFor(end: { low: bigint; high: bigint }, what: string): Promise<void> {
    if (this.closed) return Promise.reject(new EngineError('UNAVAILABLE', 'the rules topic was closed'));
    if (end.high <= end.low || end.high <= this.position) return Promise.resolve();
    const ms = this.opts.timeoutMs ?? 30_000;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const at = `at offset ${this.position} of ${end.high}`;
        reject(new EngineError('UNAVAILABLE', `rules topic ${this.opts.topic}: ${what} did not finish within ${ms} ms (${at})`));
      }, ms);
      const waiter: Waiter = {
        target: end.high,
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (err) => (clearTimeout(timer), reject(err)),
      };
      this.waiters.add(waiter);
    });
  }

  private async endOffsets(): Promise<{ low: bigint; high: bigint }> {
    if (!this.admin) throw new EngineError('UNAVAILABLE', 'the rules topic is not open');
    const offsets = await this.admin.fetchTopicOffsets(this.opts.topic);
    const p = offsets.find((o) => o.partition === 0);
    if (!p) throw new EngineError('TOPOLOGY', `rules topic ${this.opts.topic} has no partition 0`);
    return { low: BigInt(p.low), high: BigInt(p.high) };
  }

  private async ensureTopic(admin: Admin): Promise<void> {
    const { topic, replicationFactor } = this.opts;
    if (!(await admin.listTopics()).includes(topic)) {
      await createTopics(admin, [{ topic, numPartitions: 1, replicationFactor, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }]);
    }
    await untilReadable(admin, [topic]);
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = meta.topics[0]?.partitions.length ?? 0;
    // One partition keeps one order of changes for every instance.
    if (partitions !== 1) throw new EngineError('TOPOLOGY', `rules topic ${topic} must have exactly 1 partition (it has ${partitions})`);
  }
}
