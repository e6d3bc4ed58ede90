/**
 * A shard's output as one Kafka transaction per batch: decisions, aggregates and dead letters
 * together with the consumed offsets (`sendOffsets`). The transactional id is per shard and the
 * same on every instance, so the next owner of a shard fences the previous owner's producer.
 */
import type { Kafka, Producer } from 'kafkajs';
import type { Settings } from '../../config/settings.ts';
import { EngineError } from '../../errors.ts';
import type { ConsumedOffset, OutputRecord, ShardSink } from '../ports.ts';

const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED']);

export class KafkaShardSink implements ShardSink {
  private constructor(
    private readonly producer: Producer,
    private readonly groupId: string,
    private readonly shard: number,
  ) {}

  static transactionalId(groupId: string, shard: number): string {
    return `${groupId}.shard-${shard}`;
  }

  static async open(kafka: Kafka, settings: Settings, shard: number): Promise<KafkaShardSink> {
    const producer = kafka.producer({
      transactionalId: KafkaShardSink.transactionalId(settings.kafka.groupId, shard),
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: settings.kafka.transactionTimeoutMs,
      allowAutoTopicCreation: false,
      // Right after a commit the broker answers the next transaction's first request with a
      // retriable CONCURRENT_TRANSACTIONS; kafkajs then waits a full initialRetryTime
      // (tulios/kafkajs#304), so a short first retry keeps back-to-back transactions fast.
      retry: { initialRetryTime: 10, maxRetryTime: 2000, retries: 30 },
    });
    await producer.connect();
    // The first transaction() registers the producer id: this is what fences an older owner and
    // aborts whatever transaction it left open.
    const init = await producer.transaction();
    await init.abort();
    return new KafkaShardSink(producer, settings.kafka.groupId, shard);
  }

  async commit(records: readonly OutputRecord[], offsets: readonly ConsumedOffset[]): Promise<void> {
    const tx = await this.producer.transaction();
    try {
      if (records.length) {
        const byTopic = new Map<string, OutputRecord[]>();
        for (const r of records) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r]);
        await tx.sendBatch({
          acks: -1,
          topicMessages: [...byTopic].map(([topic, rs]) => ({
            topic,
            messages: rs.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
          })),
        });
      }
      if (offsets.length) {
        const byTopic = new Map<string, { partition: number; offset: string }[]>();
        for (const o of offsets) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), { partition: o.partition, offset: o.offset }]);
        await tx.sendOffsets({ consumerGroupId: this.groupId, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) });
      }
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => undefined);
      const type = (err as { type?: string }).type;
      if (type && FENCED.has(type)) {
        throw new EngineError('FENCED', `shard ${this.shard}: producer fenced by a newer owner`, { cause: err });
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

/** Producer for HTTP ingestion: idempotent (no duplicates on retry), acks from all replicas. */
export class KafkaIngestSink {
  private constructor(private readonly producer: Producer) {}

  static async open(kafka: Kafka): Promise<KafkaIngestSink> {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 5, allowAutoTopicCreation: false });
    await producer.connect();
    return new KafkaIngestSink(producer);
  }

  async send(records: readonly OutputRecord[]): Promise<void> {
    const byTopic = new Map<string, OutputRecord[]>();
    for (const r of records) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r]);
    await this.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, rs]) => ({
        topic,
        messages: rs.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
      })),
    });
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}
