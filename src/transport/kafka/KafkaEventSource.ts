/**
 * Input from Kafka: one consumer group over all input topics, shards dealt by the
 * co-partitioned assigner. kafkajs has no revoke/assign callbacks, so ownership is learnt by
 * diffing successive GROUP_JOIN assignments (LIBRARY-NOTES: kafkajs waits for in-flight eachBatch
 * calls before it rejoins, so when a join is reported no batch of a lost shard is still running).
 * Offsets are never auto-committed: each shard commits them in its Kafka transaction.
 */
import type { Admin, Consumer, Kafka } from 'kafkajs';
import type { KafkaSettings } from '../../config/settings.ts';
import type { Logger } from '../../log.ts';
import type { EventSource, InputRecord, OwnershipCheck, ShardListener, ShardPosition, ShardSink } from '../ports.ts';
import { coPartitionedAssigner, shardsOf } from './CoPartitionedAssigner.ts';
import { ownershipChange } from './shardAssignment.ts';
import { KafkaShardSink } from './KafkaShardSink.ts';
import { KafkaInstanceTransactions, type GroupMembership } from './KafkaInstanceTransactions.ts';
import { stringHeaders } from './headers.ts';
import { restartWhenAbandoned, type RestartOptions } from './consumerRestart.ts';
import { committedOffsetsOf, shardPosition, topicOffsetsOf, type AnswerRetry } from './groupOffsets.ts';
import { partitionKey } from '../topicPartition.ts';

export interface KafkaEventSourceOptions {
  /** Backoff of a restart of the consumer after kafkajs gave up on it (consumerRestart.ts). */
  restartDelay?: RestartOptions['delay'];
  /** Reads of an answer that left out a partition asked for (groupOffsets.ts). */
  answerRetry?: AnswerRetry;
  /** The instance's name: its transactional id with kafka.transactions "instance". */
  instanceId?: string;
}

export class KafkaEventSource implements EventSource {
  private consumer: Consumer | null = null;
  private owned: number[] = [];
  private joins = 0;
  private groupGeneration = -1;
  /** The coordinator's generation of the last join (-1 before one, or after the member left). */
  private joinedGeneration = -1;
  private member: string | null = null;
  private connected = false;
  rebalanceStartedAt: number | null = null;
  private lastHeartbeatAt = 0;
  private ownership: Promise<void> = Promise.resolve();
  private stopped = false;
  private stopRestart: () => void = () => {};
  /** With kafka.transactions "instance": the one producer of every owned shard. */
  private readonly transactions: KafkaInstanceTransactions | null;

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly kafkaSettings: KafkaSettings,
    private readonly log: Logger,
    private readonly options: KafkaEventSourceOptions = {},
  ) {
    this.transactions = kafkaSettings.transactions === 'instance'
      ? new KafkaInstanceTransactions(kafka, admin, kafkaSettings, { instanceId: options.instanceId ?? 'default', membership: () => this.membership(), log, answerRetry: options.answerRetry })
      : null;
  }

  /**
   * The generation, member and shards of the last join, together: a transaction commits offsets
   * only of shards owned in the generation it names (KafkaInstanceTransactions).
   */
  membership(): GroupMembership | null {
    if (this.member === null || this.joinedGeneration < 0) return null;
    const owned = new Set(this.owned);
    return { generationId: this.joinedGeneration, memberId: this.member, owns: (shard) => owned.has(shard) };
  }

  pauseFetching(): void {
    const k = this.kafkaSettings;
    this.consumer?.pause([...k.topics.inputs, ...(k.topics.other ? [k.topics.other] : [])].map((topic) => ({ topic })));
  }

  countTransactions(counted: () => void): void {
    this.transactions?.onCommitted(counted);
  }

  /** Commits what the shards still hand over, then closes the instance's producer (after the shards stopped). */
  async closeSinks(): Promise<void> {
    await this.transactions?.close();
  }

  get generation(): number {
    return this.groupGeneration >= 0 ? this.groupGeneration : this.joins;
  }

  get memberId(): string | null {
    return this.member;
  }

  /**
   * Connected and still a live member: losing the broker fires no kafkajs event, but heartbeats
   * stop, so a member without one for a session timeout is counted as disconnected.
   */
  isConnected(): boolean {
    return this.connected && Date.now() - this.lastHeartbeatAt <= this.kafkaSettings.sessionTimeoutMs;
  }

  async start(listener: ShardListener): Promise<void> {
    const k = this.kafkaSettings;
    const consumer = this.kafka.consumer({
      groupId: k.groupId,
      partitionAssigners: [coPartitionedAssigner({ current: () => this.owned, ...(this.transactions ? { transactionalId: this.transactions.transactionalId } : {}) })],
      sessionTimeout: k.sessionTimeoutMs,
      rebalanceTimeout: k.rebalanceTimeoutMs,
      heartbeatInterval: k.heartbeatIntervalMs,
      maxBytesPerPartition: k.maxBytesPerPartition,
      minBytes: k.fetchMinBytes,
      maxWaitTimeInMs: k.fetchMaxWaitMs,
      readUncommitted: false,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    const { GROUP_JOIN, HEARTBEAT, COMMIT_OFFSETS, CONNECT, DISCONNECT, CRASH, STOP, REBALANCING } = consumer.events;
    consumer.on(REBALANCING, () => (this.rebalanceStartedAt = Date.now()));
    consumer.on(CONNECT, () => (this.connected = true));
    consumer.on(DISCONNECT, () => (this.connected = false));
    consumer.on(STOP, () => (this.connected = false));
    consumer.on(CRASH, (e) => {
      this.log.error({ err: e.payload.error, restart: e.payload.restart }, 'consumer crashed');
      // kafkajs left the group before reporting the crash: others are being given our shards now,
      // so none of them is ours any more (a restarted consumer joins as a new member).
      this.revokeAll(listener);
    });
    consumer.on(HEARTBEAT, (e) => {
      this.groupGeneration = e.payload.groupGenerationId;
      this.lastHeartbeatAt = Date.now();
    });
    consumer.on(COMMIT_OFFSETS, (e) => (this.groupGeneration = e.payload.groupGenerationId));
    consumer.on(GROUP_JOIN, (e) => {
      // The first join, and a member kicked out by the coordinator, come without REBALANCING.
      this.rebalanceStartedAt ??= Date.now();
      const now = shardsOf(e.payload.memberAssignment, k.topics.inputs);
      const { lost, gained } = ownershipChange({ memberId: this.member, shards: this.owned }, { memberId: e.payload.memberId, shards: now });
      this.owned = now;
      this.member = e.payload.memberId;
      this.joinedGeneration = e.payload.generationId ?? -1;
      this.connected = true;
      this.lastHeartbeatAt = Date.now();
      const generation = ++this.joins;
      this.log.info({ memberId: e.payload.memberId, isLeader: e.payload.isLeader, shards: now, lost, gained }, 'joined consumer group');
      // Ownership changes are applied in join order, never concurrently.
      this.ownership = this.ownership
        .then(async () => {
          if (lost.length) await listener.onRevoked(lost);
          // The whole assignment, not only what changed here: a shard the engine dropped on its
          // own (fenced) but assigned to us again must be reopened.
          await listener.onAssigned(now, generation);
        })
        .catch((err) => this.log.error({ err }, 'applying a shard assignment failed'));
    });

    const run = () => consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, k.partitions * k.topics.inputs.length),
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale, pause }) => {
        if (!isRunning() || isStale() || batch.isEmpty()) return;
        // A shard's batches wait until its assignment has been applied (actors and sink ready).
        await this.ownership;
        if (isStale()) return;
        const records: InputRecord[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key ?? null,
          value: m.value ?? null,
          headers: stringHeaders(m.headers),
          timestamp: Number(m.timestamp),
        }));
        const last = batch.lastOffset();
        const { topic, partition } = batch;
        // Pipelined: handed over, not awaited until committed, so that the next fetch overlaps
        // the shard's work; the shard pauses the partition when it falls behind, and seeks it
        // back to its committed offset when what it took fails for good.
        await listener.onBatch(
          partition,
          { topic, partition, records, nextOffset: (BigInt(last) + 1n).toString() },
          { heartbeat, pipelined: { pause, seek: (offset) => consumer.seek({ topic, partition, offset }) } },
        );
        resolveOffset(last);
        await heartbeat();
      },
    });
    // A consumer kafkajs gave up on (a broker away during a rejoin) runs again, as a new member.
    this.stopRestart = restartWhenAbandoned(consumer, run, this.log, { what: 'consumer', closed: () => this.stopped, ...(this.options.restartDelay ? { delay: this.options.restartDelay } : {}) });
    this.transactions?.warmUp();
    await consumer.connect();
    await consumer.subscribe({ topics: [...k.topics.inputs, ...(k.topics.other ? [k.topics.other] : [])], fromBeginning: k.fromBeginning });
    await run();
  }

  /** Gives up every shard, in order with the assignments (the member is out of the group). */
  private revokeAll(listener: ShardListener): void {
    const lost = this.owned;
    this.owned = [];
    this.member = null;
    this.joinedGeneration = -1;
    if (!lost.length) return;
    this.ownership = this.ownership
      .then(() => listener.onRevoked(lost))
      .catch((err) => this.log.error({ err }, 'giving up the shards of a crashed consumer failed'));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopRestart();
    const consumer = this.consumer;
    this.consumer = null;
    if (consumer) await consumer.disconnect();
    await this.ownership;
    this.connected = false;
  }

  async openSink(shard: number, stillOwner: OwnershipCheck): Promise<ShardSink> {
    if (this.transactions) return this.transactions.sinkFor(shard);
    return KafkaShardSink.open(this.kafka, this.admin, this.kafkaSettings, shard, stillOwner, this.options.answerRetry);
  }

  async committedOffsets(shard: number): Promise<Record<string, string>> {
    const inputs = this.kafkaSettings.topics.inputs;
    const partitions = inputs.map((topic) => ({ topic, partition: shard }));
    // With instance transactions the previous owner is fenced here; with a producer per shard
    // opening the sink did.
    await this.transactions?.fenceHolders(partitions);
    const committed = await committedOffsetsOf(this.admin, this.kafkaSettings.groupId, partitions, this.options.answerRetry, { requireStable: true });
    await this.claim(shard, committed);
    const out: Record<string, string> = {};
    for (const topic of inputs) {
      const at = committed.get(partitionKey({ topic, partition: shard }))!;
      if (at !== '-1') out[topic] = at;
    }
    return out;
  }

  /**
   * With instance transactions, before a shard's first transaction: its offsets are committed
   * again, at once and outside any transaction, with the instance's transactional id as their
   * metadata. An instance killed with its first transaction open is then named there, and the
   * shard's next opener fences it (`fenceHolders`); unnamed, that transaction would hold the
   * read_committed end of every output partition it wrote to until its timeout. Where nothing is
   * committed yet, the offset is where a member without one starts (kafka.fromBeginning).
   */
  private async claim(shard: number, committed: ReadonlyMap<string, string>): Promise<void> {
    const consumer = this.consumer;
    if (!consumer || !this.transactions) return;
    const k = this.kafkaSettings;
    const metadata = this.transactions.transactionalId;
    const offsets = await Promise.all(
      k.topics.inputs.map(async (topic) => {
        let offset = committed.get(partitionKey({ topic, partition: shard }))!;
        if (offset === '-1') {
          const end = (await topicOffsetsOf(this.admin, topic, [shard], this.options.answerRetry)).find((e) => e.partition === shard)!;
          offset = k.fromBeginning ? end.low : end.high;
        }
        return { topic, partition: shard, offset, metadata };
      }),
    );
    await consumer.commitOffsets(offsets);
  }

  async positions(shards: readonly number[]): Promise<ShardPosition[]> {
    const k = this.kafkaSettings;
    const topics = k.topics.inputs;
    const committed = await committedOffsetsOf(this.admin, k.groupId, topics.flatMap((topic) => shards.map((partition) => ({ topic, partition }))), this.options.answerRetry);
    const ends = new Map(await Promise.all(topics.map(async (t) => [t, await topicOffsetsOf(this.admin, t, shards, this.options.answerRetry)] as const)));
    return shards.map((shard) => shardPosition(shard, topics, committed, ends));
  }
}

