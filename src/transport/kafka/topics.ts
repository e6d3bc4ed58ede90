/**
 * Creates the engine's topics when missing and checks co-partitioning: every input topic must
 * have the same partition count, or shard N would not hold the same users on every topic.
 */
import type { Admin, ITopicConfig } from 'kafkajs';
import { EngineError } from '../../errors.ts';
import type { KafkaSettings } from '../../config/settings.ts';

export async function ensureTopics(admin: Admin, kafkaSettings: KafkaSettings): Promise<{ partitions: number }> {
  const { topics, partitions: configured, replicationFactor } = kafkaSettings;
  const inputs = [...topics.inputs, ...(topics.other ? [topics.other] : [])];
  const existing = new Set(await admin.listTopics());
  const present = inputs.filter((t) => existing.has(t));
  const counts = present.length ? await partitionCounts(admin, present) : new Map<string, number>();
  const distinct = new Set(counts.values());
  if (distinct.size > 1) {
    const list = [...counts].map(([t, n]) => `${t}=${n}`).join(', ');
    throw new EngineError('TOPOLOGY', `input topics must have the same partition count (co-partitioning): ${list}`);
  }
  // Existing input topics decide the shard count; config only shapes a fresh cluster.
  const partitions = distinct.size === 1 ? [...distinct][0]! : configured;
  const wanted = [
    ...inputs.map((topic) => ({ topic, numPartitions: partitions })),
    { topic: topics.decisions, numPartitions: partitions },
    { topic: topics.aggregates, numPartitions: partitions },
    { topic: topics.dlq, numPartitions: partitions },
    { topic: topics.rules, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
  ].filter((t) => !existing.has(t.topic));
  if (wanted.length) await createTopics(admin, wanted.map((t) => ({ replicationFactor, ...t })));
  return { partitions };
}

/**
 * Creates topics and waits until they answer. Several instances start at once and race to create
 * the same topics: "already exists" and the broker's transient metadata errors are not failures.
 */
export async function createTopics(admin: Admin, topics: ITopicConfig[]): Promise<void> {
  try {
    await admin.createTopics({ waitForLeaders: true, topics });
  } catch (err) {
    const e = err as { retriable?: boolean; type?: string; errors?: { type?: string }[] };
    const benign = e.retriable || e.type === 'TOPIC_ALREADY_EXISTS' || (e.errors ?? []).every((x) => x.type === 'TOPIC_ALREADY_EXISTS');
    if (!benign) throw err;
  }
  await untilReadable(admin, topics.map((t) => t.topic));
}

/**
 * A topic just created can still answer UNKNOWN_TOPIC_OR_PARTITION to offset requests for a
 * moment (leaders elected, metadata not yet everywhere): wait, bounded, until its offsets answer.
 */
export async function untilReadable(admin: Admin, topics: readonly string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const topic of topics) {
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      try {
        await admin.fetchTopicOffsets(topic);
        break;
      } catch (err) {
        if (!(err as { retriable?: boolean }).retriable || Date.now() > deadline) throw err;
        await new Promise<void>((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}

/** The partition count of each of `topics` (a metadata read; it replaces the admin's metadata cache, see groupOffsets.ts). */
export async function partitionCounts(admin: Pick<Admin, 'fetchTopicMetadata'>, topics: readonly string[]): Promise<Map<string, number>> {
  const meta = await admin.fetchTopicMetadata({ topics: [...new Set(topics)] });
  return new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
}
