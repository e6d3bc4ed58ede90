/**
 * A shard's output as one Kafka transaction per commit: decisions, aggregates and dead letters
 * together with the consumed offsets (`sendOffsets`). The transactional id is per shard and the
 * same on every instance, so the next owner of a shard fences the previous owner's producer.
 */
import { Partitioners, type Admin, type CompressionTypes, type ICustomPartitioner, type Kafka, type Producer } from 'kafkajs';
import type { KafkaSettings } from '../../config/settings.ts';
import { shardOf } from '../../domain/shardOf.ts';
import { EngineError } from '../../errors.ts';
import { compressionType } from './codecs.ts';
import { committedOffsetsOf, type AnswerRetry } from './groupOffsets.ts';
import { partitionCounts } from './topics.ts';
import { partitionKey } from '../topicPartition.ts';
import type { ConsumedOffset, OutputRecord, OwnershipCheck, ShardSink } from '../ports.ts';

const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED']);

export class KafkaShardSink implements ShardSink {
  private closed = false;

  private constructor(
    /** Null after a transaction of unknown outcome, until `settle` made that outcome final. */
    private producer: Producer | null,
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly kafkaSettings: KafkaSettings,
    private readonly shard: number,
    /** Partition count per output topic, to place keyed records without kafkajs's partitioner. */
    private readonly partitions: ReadonlyMap<string, number>,
    private readonly stillOwner: OwnershipCheck,
    private readonly answerRetry?: AnswerRetry,
  ) {}

  static transactionalId(groupId: string, shard: number): string {
    return `${groupId}.shard-${shard}`;
  }

  static async open(kafka: Kafka, admin: Admin, kafkaSettings: KafkaSettings, shard: number, stillOwner: OwnershipCheck, answerRetry?: AnswerRetry): Promise<KafkaShardSink> {
    const { decisions, aggregates, dlq } = kafkaSettings.topics;
    const producer = await initProducer(kafka, kafkaSettings, shard);
    return new KafkaShardSink(producer, kafka, admin, kafkaSettings, shard, await outputPartitionCounts(admin, [decisions, aggregates, dlq]), stillOwner, answerRetry);
  }

  async commit(records: readonly OutputRecord[], offsets: readonly ConsumedOffset[]): Promise<void> {
    if (this.closed) throw new EngineError('UNAVAILABLE', `shard ${this.shard}: the sink is closed`);
    if (!this.producer && (await this.settle(offsets))) return;
    try {
      await this.transact(this.producer!, records, offsets);
    } catch (err) {
      if (isFenced(err)) throw fenced(this.shard, err);
      // The outcome is unknown: the commit may have reached the coordinator before the error
      // (a timeout). Retrying blindly would commit the decisions twice.
      await this.dropProducer();
      if (await this.settle(offsets)) return;
      throw new EngineError('UNAVAILABLE', `shard ${this.shard}: transaction failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Makes the last transaction's outcome final with a fresh producer of the same transactional id
   * (a prepared commit completes, anything else aborts) and tells whether `offsets` are committed.
   * A fresh producer also fences whoever registered the id before it: if a newer owner took the
   * shard meanwhile, this sink would fence it and commit again what the new owner committed
   * already. So it settles only as the shard's newest owner: asked before (not to disturb a newer
   * owner) and after the producer registered (a newer owner that registered first may have
   * committed before we fenced it; it claimed its epoch before that).
   */
  private async settle(offsets: readonly ConsumedOffset[]): Promise<boolean> {
    await this.stillOwner();
    try {
      this.producer = await initProducer(this.kafka, this.kafkaSettings, this.shard);
    } catch (initErr) {
      if (isFenced(initErr)) throw fenced(this.shard, initErr);
      throw new EngineError('UNAVAILABLE', `shard ${this.shard}: transactional producer unavailable: ${(initErr as Error).message}`, { cause: initErr });
    }
    try {
      await this.stillOwner();
      return offsets.length > 0 && (await this.committedThrough(offsets));
    } catch (err) {
      // Not known to be ours, or not known what committed: the next attempt settles again.
      await this.dropProducer();
      throw err;
    }
  }

  private async dropProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = null;
    await producer?.disconnect().catch(() => undefined);
  }

  private async transact(producer: Producer, records: readonly OutputRecord[], offsets: readonly ConsumedOffset[]): Promise<void> {
    const tx = await producer.transaction();
    try {
      if (records.length) await tx.sendBatch({ acks: -1, compression: compressionType(this.kafkaSettings.compression), topicMessages: topicMessages(records, this.partitions) });
      if (offsets.length) {
        const topics = [...groupBy(offsets, (o) => o.topic)].map(([topic, os]) => ({ topic, partitions: os.map(({ partition, offset }) => ({ partition, offset })) }));
        await tx.sendOffsets({ consumerGroupId: this.kafkaSettings.groupId, topics });
      }
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => undefined);
      throw err;
    }
  }

  /** True when the group's committed offsets already reach every one of `offsets`. */
  private async committedThrough(offsets: readonly ConsumedOffset[]): Promise<boolean> {
    const committed = await committedOffsetsOf(this.admin, this.kafkaSettings.groupId, offsets, this.answerRetry);
    return offsets.every((o) => {
      const at = committed.get(partitionKey(o))!;
      return at !== '-1' && BigInt(at) >= BigInt(o.offset);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const producer = this.producer;
    this.producer = null;
    await producer?.disconnect();
  }
}

async function initProducer(kafka: Kafka, kafkaSettings: KafkaSettings, shard: number): Promise<Producer> {
  const producer = kafka.producer({
    transactionalId: KafkaShardSink.transactionalId(kafkaSettings.groupId, shard),
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout: kafkaSettings.transactionTimeoutMs,
    allowAutoTopicCreation: false,
    createPartitioner: givenPartitionFirst,
    // Right after a commit the broker answers the next transaction's first request with a
    // retriable CONCURRENT_TRANSACTIONS; kafkajs then waits a full initialRetryTime
    // (tulios/kafkajs#304), so a short first retry keeps back-to-back transactions fast.
    retry: { initialRetryTime: 10, maxRetryTime: 2000, retries: 30 },
  });
  await producer.connect();
  // The first transaction() registers the producer id: this is what fences an older owner and
  // makes whatever transaction it left final (a prepared commit completes, the rest aborts).
  const init = await producer.transaction();
  await init.abort();
  return producer;
}

const isFenced = (err: unknown): boolean => FENCED.has((err as { type?: string }).type ?? '');
const fenced = (shard: number, cause: unknown) => new EngineError('FENCED', `shard ${shard}: producer fenced by a newer owner`, { cause });

/**
 * A keyed record goes where Kafka's default partitioner (murmur2 of the key) puts it, computed
 * here with the domain's murmur2: kafkajs's own took a tenth of the engine's CPU. Topics whose
 * partition count is not known are left to kafkajs.
 */
export function topicMessages(records: readonly OutputRecord[], partitions: ReadonlyMap<string, number> = new Map()) {
  return [...groupBy(records, (r) => r.topic)].map(([topic, rs]) => {
    const n = partitions.get(topic);
    return {
      topic,
      messages: rs.map((r) => ({ key: r.key, value: r.value, headers: r.headers, partition: n !== undefined && r.key !== null ? shardOf(r.key, n) : undefined })),
    };
  });
}

/** The record's own partition when it has one (kafkajs's default filters the partition list for every record before looking). */
export const givenPartitionFirst: ICustomPartitioner = () => {
  const byKey = Partitioners.DefaultPartitioner();
  return (args) => args.message.partition ?? byKey(args);
};

/**
 * Per admin and topics, their partition counts once read: every shard's sink needs them, and a
 * metadata read of these topics replaces the admin's cache of the input topics, which then answers
 * committed offsets without partitions (groupOffsets.ts) — so once per instance, not once per
 * shard opened at every rebalance. A read that failed is not kept.
 */
const countsRead = new WeakMap<Admin, Map<string, Promise<Map<string, number>>>>();

export function outputPartitionCounts(admin: Admin, topics: readonly string[]): Promise<Map<string, number>> {
  const key = topics.join('\u0000');
  const byTopics = countsRead.get(admin) ?? new Map<string, Promise<Map<string, number>>>();
  countsRead.set(admin, byTopics);
  let counts = byTopics.get(key);
  if (!counts) {
    // Metadata that cannot be read counts nothing (kafkajs then partitions) and is read again next time.
    counts = partitionCounts(admin, topics)
      .then((read) => new Map([...read].filter(([, n]) => n > 0)), () => new Map<string, number>())
      .then((known) => {
        if (known.size === 0) byTopics.delete(key);
        return known;
      });
    byTopics.set(key, counts);
  }
  return counts;
}

/** Items by key, in their order (a transaction's records: linear, not a copy per record). */
function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const group = out.get(keyOf(item));
    if (group) group.push(item);
    else out.set(keyOf(item), [item]);
  }
  return out;
}

/** Producer for HTTP ingestion: idempotent (no duplicates on retry), acks from all replicas. */
export class KafkaIngestSink {
  private constructor(
    private readonly producer: Producer,
    private readonly compression: CompressionTypes,
  ) {}

  static async open(kafka: Kafka, compression: KafkaSettings['compression']): Promise<KafkaIngestSink> {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 5, allowAutoTopicCreation: false });
    await producer.connect();
    return new KafkaIngestSink(producer, compressionType(compression));
  }

  async send(records: readonly OutputRecord[]): Promise<void> {
    await this.producer.sendBatch({ acks: -1, compression: this.compression, topicMessages: topicMessages(records) });
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}
