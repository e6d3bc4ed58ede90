/**
 * Integration-test harness: every test gets its own topics, consumer group, Redis prefix and
 * user ids, so tests can share the real Kafka, Redis and NATS and run concurrently.
 */
import { randomBytes } from 'node:crypto';
import kafkajs, { type Kafka, type KafkaMessage } from 'kafkajs';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { loadSettings, type Settings } from '../../../src/config/settings.ts';
import { createLogger } from '../../../src/log.ts';
import { Engine } from '../../../src/app/Engine.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import { buildParts } from '../../../src/app/wiring.ts';
import { buildAdmin } from '../../../src/admin/server.ts';
import { systemSupervisionDeps } from '../../../src/app/supervisionDeps.ts';
import { registerCodecs } from '../../../src/transport/kafka/kafkaClient.ts';

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
  adminUrl: string;
  stop(): Promise<void>;
}

export async function startEngine(settings: Settings): Promise<RunningEngine> {
  const log = createLogger(settings.logLevel, { instanceId: settings.instanceId });
  const rules = RulesHolder.fromFile(settings.rulesFile);
  const parts = await buildParts(settings, log, rules);
  const engine = new Engine(settings, parts, rules.current, (metrics) => systemSupervisionDeps(log, metrics), log);
  const admin = buildAdmin(engine, settings, log, { rules: parts.rules });
  const adminUrl = await admin.listen({ host: '127.0.0.1', port: 0 });
  await engine.start();
  return {
    engine,
    settings,
    adminUrl,
    stop: async () => {
      await engine.stop();
      await admin.close();
    },
  };
}

export function kafkaClient(): Kafka {
  registerCodecs();
  return new kafkajs.Kafka({ clientId: 'risk-engine-test', brokers: BROKERS, logLevel: kafkajs.logLevel.NOTHING });
}

export interface TestEvent {
  eventId: string;
  userId: string;
  eventType: string;
  timestamp: number;
  [k: string]: unknown;
}

export async function produceEvents(kafka: Kafka, topicOf: (e: TestEvent) => string, events: TestEvent[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const byTopic = new Map<string, TestEvent[]>();
    for (const e of events) byTopic.set(topicOf(e), [...(byTopic.get(topicOf(e)) ?? []), e]);
    await producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, es]) => ({ topic, messages: es.map((e) => ({ key: e.userId, value: JSON.stringify(e) })) })),
    });
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
 * Resolves once the group's committed offsets reach the end of every partition of `topics`
 * (everything consumed and committed). Polls the broker: there is no event for "caught up".
 */
export async function groupCaughtUp(kafka: Kafka, groupId: string, topics: string[], timeoutMs = 120_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const committed = await admin.fetchOffsets({ groupId, topics });
      let behind = 0;
      for (const t of committed) {
        const ends = await admin.fetchTopicOffsets(t.topic);
        for (const e of ends) {
          const c = t.partitions.find((p) => p.partition === e.partition)?.offset ?? '-1';
          const at = c === '-1' ? BigInt(e.low) : BigInt(c);
          if (at < BigInt(e.high)) behind += Number(BigInt(e.high) - at);
        }
      }
      if (behind === 0) return;
      if (Date.now() > deadline) throw new Error(`group ${groupId} still ${behind} records behind`);
      await new Promise<void>((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await admin.disconnect();
  }
}
