/**
 * A consumer group's committed offsets, read so that a missing answer is never taken for "nothing
 * committed". kafkajs's admin asks the coordinator only for the partitions its metadata cache
 * lists, and a metadata read of other topics on the same admin (`fetchTopicMetadata`) replaces
 * that cache: a `fetchOffsets` that looks in between asks for no partition and answers none
 * (reproduced on the real broker: 14 of 9,496 reads with the output topics' metadata read
 * alongside). A shard opened on such an answer judged again what its previous owner had
 * committed. So every partition asked for must be in the answer, else it is read again; only the
 * coordinator's own `-1` means "nothing committed".
 */
import type { Admin } from 'kafkajs';
import { EngineError } from '../../errors.ts';
import type { ShardPosition } from '../ports.ts';
import { partitionKey, type TopicPartition } from '../topicPartition.ts';

export interface AnswerRetry {
  /** Reads in all before giving up (default 5). */
  attempts: number;
  /** Wait before the second read; each further read waits that much longer (default 20 ms). */
  delayMs: number;
}

const DEFAULT_RETRY: AnswerRetry = { attempts: 5, delayMs: 20 };

/**
 * Reads until no asked-for part is missing from the answer (`missing` names what is); past the
 * attempts it fails UNAVAILABLE, which the callers retry as a dependency outage.
 */
async function untilAnswered<T>(read: () => Promise<T>, missing: (answer: T) => readonly string[], what: string, retry: AnswerRetry = DEFAULT_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const answer = await read();
    const left = missing(answer);
    if (left.length === 0) return answer;
    if (attempt >= retry.attempts) throw new EngineError('UNAVAILABLE', `${what}: Kafka's answer left out ${left.slice(0, 5).join(', ')}${left.length > 5 ? ` and ${left.length - 5} more` : ''} (after ${attempt} reads)`);
    await new Promise((resolve) => setTimeout(resolve, retry.delayMs * attempt));
  }
}

type OffsetsAnswer = Awaited<ReturnType<Admin['fetchOffsets']>>;

export interface OffsetsRead {
  /**
   * Only offsets no open transaction holds (KIP-447): while one does, read again, for up to
   * `stableWaitMs` (default 5 s), then fail UNAVAILABLE.
   */
  requireStable?: boolean;
  stableWaitMs?: number;
}

/**
 * The committed offset of every partition in `wanted`, by `partitionKey`: a decimal offset, or
 * '-1' when the group has committed nothing there.
 */
export async function committedOffsetsOf(admin: Pick<Admin, 'fetchOffsets'>, groupId: string, wanted: readonly TopicPartition[], retry?: AnswerRetry, read: OffsetsRead = {}): Promise<Map<string, string>> {
  const topics = [...new Set(wanted.map((w) => w.topic))];
  const fetch = read.requireStable ? () => untilStable(() => admin.fetchOffsets({ groupId, topics, requireStable: true }), groupId, read.stableWaitMs ?? 5000) : () => admin.fetchOffsets({ groupId, topics });
  const answer = await untilAnswered(
    fetch,
    (got: OffsetsAnswer) => wanted.filter((w) => !got.find((t) => t.topic === w.topic)?.partitions.some((p) => p.partition === w.partition)).map((w) => `${w.topic} partition ${w.partition}`),
    `reading the committed offsets of group ${groupId}`,
    retry,
  );
  const out = new Map<string, string>();
  for (const t of answer) for (const p of t.partitions) out.set(partitionKey({ topic: t.topic, partition: p.partition }), p.offset);
  return out;
}

/**
 * Reads again while the coordinator answers UNSTABLE_OFFSET_COMMIT: a transaction of a previous
 * owner holds an offset and is not final yet (it ends with a commit, an abort, or its timeout).
 */
async function untilStable<T>(read: () => Promise<T>, groupId: string, waitMs: number): Promise<T> {
  const until = Date.now() + waitMs;
  for (let delay = 20; ; delay = Math.min(500, delay * 2)) {
    try {
      return await read();
    } catch (err) {
      if ((err as { type?: string }).type !== 'UNSTABLE_OFFSET_COMMIT') throw err;
      if (Date.now() + delay > until) throw new EngineError('UNAVAILABLE', `reading the committed offsets of group ${groupId}: an open transaction still holds them after ${waitMs} ms`, { cause: err });
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

type TopicOffsetsAnswer = Awaited<ReturnType<Admin['fetchTopicOffsets']>>;

/** A topic's low and high offsets for each of `partitions` (the same cache stands behind `fetchTopicOffsets`). */
export async function topicOffsetsOf(admin: Pick<Admin, 'fetchTopicOffsets'>, topic: string, partitions: readonly number[], retry?: AnswerRetry): Promise<TopicOffsetsAnswer> {
  return untilAnswered(
    () => admin.fetchTopicOffsets(topic),
    (got: TopicOffsetsAnswer) => partitions.filter((p) => !got.some((x) => x.partition === p)).map((p) => `${topic} partition ${p}`),
    `reading the offsets of topic ${topic}`,
    retry,
  );
}

/**
 * Where a shard stands, from the committed offsets (`committedOffsetsOf`) and the input topics'
 * watermarks (`topicOffsetsOf`): per topic the committed offset, an unset one (`-1`) counting from
 * the low watermark, where the consumer would start; lag is the end less that offset, summed over
 * the topics. A topic without the shard's partition is left out.
 */
export function shardPosition(shard: number, inputs: readonly string[], committed: ReadonlyMap<string, string>, ends: ReadonlyMap<string, TopicOffsetsAnswer>): ShardPosition {
  const byTopic: Record<string, string> = {};
  let lag = 0;
  for (const topic of inputs) {
    const end = ends.get(topic)?.find((x) => x.partition === shard);
    if (!end) continue;
    const offset = committed.get(partitionKey({ topic, partition: shard }));
    const at = offset !== undefined && offset !== '-1' ? offset : end.low;
    byTopic[topic] = at;
    lag += Math.max(0, Number(BigInt(end.high) - BigInt(at)));
  }
  return { shard, committed: byTopic, lag };
}
