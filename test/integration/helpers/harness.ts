/**
 * Integration-test harness: every test gets its own topics, consumer group, Redis prefix and
 * user ids, so tests can share the real Kafka, Redis and NATS and run concurrently.
 */
import { randomBytes } from 'node:crypto';
import kafkajs, { type Admin, type Kafka, type KafkaMessage } from 'kafkajs';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { loadSettings, type Settings } from '../../../src/config/settings.ts';
import { createLogger } from '../../../src/log.ts';
import { Engine } from '../../../src/app/Engine.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import type { RulesChannel } from '../../../src/app/rules/channel.ts';
import type { Rules } from '../../../src/domain/index.ts';
import { buildParts } from '../../../src/app/wiring.ts';
import { buildAdmin } from '../../../src/admin/server.ts';
import { systemSupervisionDeps } from '../../../src/app/supervisionDeps.ts';
import { registerCodecs } from '../../../src/transport/kafka/kafkaClient.ts';
import { ensureTopics } from '../../../src/transport/kafka/topics.ts';

export const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

export function uniqueId(prefix = 't'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Settings for one test: own topics (prefixed), group, state prefix; admin on a free port. */
export function testSettings(id: string, env: Record<string, string> = {}): Settings {
  const s = loadSettings({
    CONFIG_FILE: 'config/test.json',
    KAFKA_BROKERS: BROKERS.join(','),
    KAFKA_GROUP_ID: id,
    STATE_PREFIX: id,
    INSTANCE_ID: id,
    ADMIN_PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    // The suite runs with each kind of transactions (scripts/test.sh).
    ...(process.env.KAFKA_TRANSACTIONS ? { KAFKA_TRANSACTIONS: process.env.KAFKA_TRANSACTIONS } : {}),
    ...env,
  });
  const t = s.kafka.topics;
  t.inputs = t.inputs.map((n) => `${id}.${n}`);
  t.decisions = `${id}.${t.decisions}`;
  t.aggregates = `${id}.${t.aggregates}`;
  t.dlq = `${id}.${t.dlq}`;
  t.rules = `${id}.${t.rules}`;
  return s;
}

export interface RunningEngine {
  engine: Engine;
  settings: Settings;
  /** The rules the engine decides with, and the channel that spreads their changes. */
  holder: RulesHolder;
  channel: RulesChannel;
  adminUrl: string;
  stop(): Promise<void>;
}

/**
 * An engine wired as run.ts wires it: rules holder -> parts (rules channel started, caught up)
 * -> engine -> admin API. `rules` replaces the settings' rules file.
 */
export async function startEngine(settings: Settings, rules?: Rules): Promise<RunningEngine> {
  const log = createLogger(settings.logLevel, { instanceId: settings.instanceId });
  const holder = rules ? new RulesHolder(rules) : RulesHolder.fromFile(settings.rulesFile);
  const parts = await buildParts(settings, log, holder);
  const channel = parts.rules;
  const engine = new Engine(settings, parts, holder.current, (metrics) => systemSupervisionDeps(log, metrics), log);
  const admin = buildAdmin(engine, settings, log, { rules: channel });
  const adminUrl = await admin.listen({ host: '127.0.0.1', port: 0 });
  await engine.start();
  return {
    engine,
    settings,
    holder,
    channel,
    adminUrl,
    stop: async () => {
      await engine.stop();
      await admin.close();
    },
  };
}

export function kafkaClient(): Kafka {
  registerCodecs();
  // Patient retries: on a loaded machine the broker may take seconds to elect the leaders of
  // topics an engine has just created ("This server does not host this topic-partition").
  return new kafkajs.Kafka({ clientId: 'risk-engine-test', brokers: BROKERS, logLevel: kafkajs.logLevel.NOTHING, retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: 12 } });
}

/**
 * A test's own engine topics on the real broker, with settings naming them and a connected admin
 * (disconnected at the test's end).
 */
export async function engineTopics(t: { teardown(fn: () => unknown): void }, prefix: string): Promise<{ id: string; settings: Settings; kafka: Kafka; admin: Admin }> {
  const id = uniqueId(prefix);
  const settings = testSettings(id);
  const kafka = kafkaClient();
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  await ensureTopics(admin, settings.kafka);
  return { id, settings, kafka, admin };
}

export interface TestEvent {
  eventId: string;
  userId: string;
  eventType: string;
  timestamp: number;
  [k: string]: unknown;
}

/** Events as kafkajs `topicMessages`: each on its topic, keyed by userId, in their order. */
export function topicMessages<E extends { userId: string }>(events: readonly E[], topicOf: (e: E) => string): { topic: string; messages: { key: string; value: string }[] }[] {
  const byTopic = new Map<string, { key: string; value: string }[]>();
  for (const e of events) {
    const topic = topicOf(e);
    const message = { key: e.userId, value: JSON.stringify(e) };
    const group = byTopic.get(topic);
    if (group) group.push(message);
    else byTopic.set(topic, [message]);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

export async function produceEvents(kafka: Kafka, topicOf: (e: TestEvent) => string, events: TestEvent[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.sendBatch({ acks: -1, topicMessages: topicMessages(events, topicOf) });
  } finally {
    await producer.disconnect();
  }
}

/**
 * Reads `topic` from the beginning with read_committed until `enough(records)` holds; rejects at
 * the deadline with what it had (a deadline, not a sleep: it resolves as soon as records arrive).
 */
export async function readUntil(
  kafka: Kafka,
  topic: string,
  enough: (records: KafkaMessage[]) => boolean,
  timeoutMs = 60_000,
): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: uniqueId('reader'), readUncommitted: false, allowAutoTopicCreation: false });
  const records: KafkaMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    return await new Promise<KafkaMessage[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out on ${topic} with ${records.length} records`)), timeoutMs);
      void consumer.run({
        eachMessage: async ({ message }) => {
          records.push(message);
          if (enough(records)) {
            clearTimeout(timer);
            resolve(records);
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
}

export const parseValues = <T>(records: KafkaMessage[]): T[] => records.map((r) => JSON.parse(r.value!.toString('utf8')) as T);

export async function natsConnect(): Promise<NatsConnection> {
  return connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
}

/**
 * Every committed record of `topic` as of now (read_committed): reads until each partition's
 * position passes the end offset taken at the start. Use after the producers of `topic` are idle.
 */
export async function readToEnd(kafka: Kafka, topic: string, timeoutMs = 60_000): Promise<KafkaMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const pending = new Map(ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high)]));
  const records: KafkaMessage[] = [];
  if (pending.size === 0) return records;
  const consumer = kafka.consumer({ groupId: uniqueId('reader'), readUncommitted: false, allowAutoTopicCreation: false });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    return await new Promise<KafkaMessage[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out reading ${topic} to its end; ${records.length} records`)), timeoutMs);
      // Batches of control records only never reach eachBatch; their end event still moves us on.
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        const end = pending.get(e.payload.partition);
        if (end !== undefined && BigInt(e.payload.lastOffset) + 1n >= end) pending.delete(e.payload.partition);
        if (pending.size === 0) {
          clearTimeout(timer);
          resolve(records);
        }
      });
      void consumer.run({
        eachBatch: async ({ batch }) => {
          records.push(...batch.messages);
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
}

/**
 * Polls `probe` every `everyMs` until `ok` holds; rejects at the deadline with the last value.
 * For states that have no event to await (readiness, metrics, a server-side count).
 */
export async function pollUntil<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  for (;;) {
    try {
      last = await probe();
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}${lastErr ? ` (error: ${String(lastErr)})` : ''}`);
    }
    await new Promise<void>((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * Resolves once the group's committed offsets reach the end of every partition of `topics`
 * (everything consumed and committed). Polls the broker: there is no event for "caught up".
 */
export async function groupCaughtUp(kafka: Kafka, groupId: string, topics: string[], timeoutMs = 120_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const behind = async (): Promise<number> => {
      const committed = await admin.fetchOffsets({ groupId, topics });
      let n = 0;
      for (const t of committed) {
        const ends = await admin.fetchTopicOffsets(t.topic);
        for (const e of ends) {
          const c = t.partitions.find((p) => p.partition === e.partition)?.offset ?? '-1';
          const at = c === '-1' ? BigInt(e.low) : BigInt(c);
          if (at < BigInt(e.high)) n += Number(BigInt(e.high) - at);
        }
      }
      return n;
    };
    await pollUntil(`group ${groupId} to catch up (records behind)`, behind, (n) => n === 0, timeoutMs);
  } finally {
    await admin.disconnect();
  }
}
