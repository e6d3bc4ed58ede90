/** Kafka pieces of the bench: topics, end offsets, the baseline consumer, catching-up checks, a decisions reader. */
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Every topic an engine on `topics` uses, created up front as the engine would (inputs and outputs
 * with `partitions`, the rules topic with one compacted partition), so that no engine start races
 * a just-created topic whose leader is not elected yet.
 */
export async function createEngineTopics(admin: Admin, topics: { inputs: string[]; decisions: string; aggregates: string; dlq: string; rules: string }, partitions: number): Promise<void> {
  const wanted = [
    ...[...topics.inputs, topics.decisions, topics.aggregates, topics.dlq].map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
    { topic: topics.rules, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
  ];
  // The single local broker sometimes answers the leader check of fresh topics with a retriable
  // UNKNOWN_TOPIC_OR_PARTITION; creating is idempotent here, so try again until every partition has a leader.
  for (let attempt = 1; ; attempt++) {
    try {
      const existing = new Set(await admin.listTopics());
      const missing = wanted.filter((t) => !existing.has(t.topic));
      if (missing.length) await admin.createTopics({ waitForLeaders: true, topics: missing });
      const meta = await admin.fetchTopicMetadata({ topics: wanted.map((t) => t.topic) });
      if (meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
      throw new Error('some partitions have no leader yet');
    } catch (err) {
      if (attempt >= 20 || (err as { retriable?: boolean }).retriable === false) throw err;
      await sleep(250);
    }
  }
}

export async function deleteTopics(admin: Admin, prefix: string): Promise<string[]> {
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  if (topics.length) await admin.deleteTopics({ topics, timeout: 30_000 });
  return topics;
}

/** topic -> partition -> high watermark. */
export type Ends = Map<string, Map<number, bigint>>;

export async function endOffsets(admin: Admin, topics: string[]): Promise<Ends> {
  const ends: Ends = new Map();
  for (const topic of topics) {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends.set(topic, new Map(offsets.map((o) => [o.partition, BigInt(o.high)])));
  }
  return ends;
}

export const totalOf = (ends: Ends): number => [...ends.values()].reduce((n, m) => n + [...m.values()].reduce((a, b) => a + Number(b), 0), 0);

/** Records the group still has to commit to reach `ends`. */
export async function lagOf(admin: Admin, groupId: string, ends: Ends): Promise<number> {
  const committed = await admin.fetchOffsets({ groupId, topics: [...ends.keys()] });
  let lag = 0;
  for (const t of committed) {
    const topicEnds = ends.get(t.topic)!;
    for (const [partition, end] of topicEnds) {
      const c = t.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
      const at = c === '-1' ? 0n : BigInt(c);
      if (at < end) lag += Number(end - at);
    }
  }
  return lag;
}

/**
 * Polls the group's committed offsets until they reach `ends` (there is no event for "caught up").
 * Returns the time it saw the last commit; `onTick` gets the remaining lag.
 */
export async function waitCaughtUp(admin: Admin, groupId: string, ends: Ends, options: { timeoutMs: number; intervalMs?: number; onTick?: (lag: number) => void; abort?: () => string | null }): Promise<number> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const lag = await lagOf(admin, groupId, ends);
    options.onTick?.(lag);
    if (lag === 0) return Date.now();
    const why = options.abort?.();
    if (why) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`group ${groupId} still ${lag} records behind after ${options.timeoutMs} ms`);
    await sleep(options.intervalMs ?? 100);
  }
}

export interface BaselineResult {
  messages: number;
  bytes: number;
  /** Epoch ms: consumer.run() called, group joined, first batch, last record seen. */
  runAt: number;
  joinedAt: number;
  firstAt: number;
  doneAt: number;
}

/**
 * (a) Plain kafkajs, configured like the engine's consumer (read_committed, same fetch sizes and
 * concurrency), reading the backlog and doing nothing with it: no parsing, no commits.
 */
export async function baselineConsume(kafka: Kafka, groupId: string, ends: Ends, config: { maxBytesPerPartition: number; concurrency: number }, timeoutMs: number): Promise<BaselineResult> {
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxBytesPerPartition: config.maxBytesPerPartition, allowAutoTopicCreation: false });
  await consumer.connect();
  for (const topic of ends.keys()) await consumer.subscribe({ topic, fromBeginning: true });
  const pending = new Map<string, bigint>();
  for (const [topic, m] of ends) for (const [p, end] of m) if (end > 0n) pending.set(`${topic}:${p}`, end);
  let messages = 0;
  let bytes = 0;
  let joinedAt = 0;
  let firstAt = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joinedAt ||= Date.now();
  });
  try {
    const runAt = Date.now();
    const doneAt = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`baseline: ${pending.size} partitions not read within ${timeoutMs} ms`)), timeoutMs);
      void consumer
        .run({
          autoCommit: false,
          partitionsConsumedConcurrently: config.concurrency,
          eachBatch: async ({ batch }) => {
            if (batch.isEmpty()) return;
            firstAt ||= Date.now();
            messages += batch.messages.length;
            for (const m of batch.messages) bytes += m.value?.length ?? 0;
            const key = `${batch.topic}:${batch.partition}`;
            const end = pending.get(key);
            if (end !== undefined && BigInt(batch.lastOffset()) + 1n >= end) pending.delete(key);
            if (pending.size === 0) {
              clearTimeout(timer);
              resolve(Date.now());
            }
          },
        })
        .catch(reject);
    });
    return { messages, bytes, runAt, joinedAt: joinedAt || runAt, firstAt, doneAt };
  } finally {
    await consumer.disconnect();
  }
}

export interface DecisionSeen {
  eventId: string;
  decision: string;
  decidedAt: number;
  /** When this process received it (read_committed: after the engine's transaction committed). */
  receivedAt: number;
}

/** Reads a decisions topic (read_committed) from the beginning and hands every decision over. */
export async function followDecisions(kafka: Kafka, groupId: string, topic: string, onDecision: (d: DecisionSeen) => void): Promise<Consumer> {
  const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let joined!: () => void;
  const hasJoined = new Promise<void>((resolve) => (joined = resolve));
  consumer.on(consumer.events.GROUP_JOIN, () => joined());
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 12,
    eachBatch: async ({ batch }) => {
      const receivedAt = Date.now();
      for (const m of batch.messages) {
        if (!m.value) continue;
        const d = JSON.parse(m.value.toString('utf8')) as { eventId: string; decision: string; decidedAt: number };
        onDecision({ eventId: d.eventId, decision: d.decision, decidedAt: d.decidedAt, receivedAt });
      }
    },
  });
  await hasJoined;
  return consumer;
}
