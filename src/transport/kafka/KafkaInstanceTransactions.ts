/**
 * Every owned shard's output in one Kafka transaction per commit interval (kafka.transactions
 * "instance", Kafka Streams' exactly-once v2): one transactional producer per instance instead of
 * one per shard, so a commit interval costs the broker one transaction, not one per shard.
 *
 * Zombie fencing then comes from the consumer group instead of the transactional id (KIP-447):
 * the offsets go with the member's generation and id, and the group coordinator refuses them
 * from a member of an older generation (the whole transaction then aborts); a shard's new owner
 * reads its committed offsets with `requireStable`, which waits until a transaction of the old
 * owner that holds them is final. A shard is put in a transaction only while the member owns it
 * in the generation the offsets go with: a shard lost in a rebalance fails its work FENCED.
 */
import type { Admin, Kafka, Producer } from 'kafkajs';
import type { KafkaSettings } from '../../config/settings.ts';
import { EngineError, errorMessage } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { compressionType } from './codecs.ts';
import { committedOffsetsOf, type AnswerRetry } from './groupOffsets.ts';
import { givenPartitionFirst, outputPartitionCounts, topicMessages } from './KafkaShardSink.ts';
import { memberDataOf } from './CoPartitionedAssigner.ts';
import { partitionKey } from '../topicPartition.ts';
import type { ConsumedOffset, OutputRecord, ShardSink } from '../ports.ts';

/** The member's place in its group as it is now (null while it is in none). */
export interface GroupMembership {
  generationId: number;
  memberId: string;
  owns(shard: number): boolean;
}

/** One shard's commit, waiting for the instance's next transaction. */
interface Part {
  shard: number;
  records: readonly OutputRecord[];
  offsets: readonly ConsumedOffset[];
  resolve(): void;
  reject(err: unknown): void;
}

export interface InstanceTransactionsOptions {
  instanceId: string;
  membership(): GroupMembership | null;
  log: Logger;
  answerRetry?: AnswerRetry;
  clock?(): number;
  sleep?(ms: number): Promise<void>;
}

export class KafkaInstanceTransactions {
  private producer: Producer | null = null;
  /** The last transaction failed and its outcome may be unknown: settle before the next. */
  private unsettled = false;
  private waiting: Part[] = [];
  /** Shards waiting for the next transaction to begin (`nextTransaction`). */
  private slotWaiters: (() => void)[] = [];
  private running: Promise<void> | null = null;
  private lastStartAt = Number.NEGATIVE_INFINITY;
  private closed = false;
  private partitions: ReadonlyMap<string, number> | null = null;
  private committed: () => void = () => {};
  /** Previous owners fenced, per generation and transactional id. */
  private readonly fencings = new Map<string, Promise<void>>();
  /** The group's live members' transactional ids, read once per generation. */
  private live: { generation: number; ids: Promise<Set<string>> } | null = null;
  private readonly clock: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly kafkaSettings: KafkaSettings,
    private readonly options: InstanceTransactionsOptions,
  ) {
    this.clock = options.clock ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  static transactionalId(groupId: string, instanceId: string): string {
    return `${groupId}.instance-${instanceId}`;
  }

  get transactionalId(): string {
    return KafkaInstanceTransactions.transactionalId(this.kafkaSettings.groupId, this.options.instanceId);
  }

  /**
   * A shard's previous owner may have died with a transaction open: its offsets would stay held
   * and, worse, the read_committed end of every output partition it wrote to would stay put until
   * the transaction timed out (Kafka Streams' known wait). So the opener of a shard fences the
   * transactional id that last committed the shard's offsets (their metadata names it): its open
   * transaction aborts now; a previous owner still in the group is left alone (`liveMembers`).
   * An owner killed before its first commit is named too: each shard's opener names itself in
   * the shard's offsets before its first transaction (KafkaEventSource `claim`).
   */
  async fenceHolders(partitions: readonly { topic: string; partition: number }[]): Promise<void> {
    const generation = this.options.membership()?.generationId ?? -1;
    const ids = await this.holders(partitions);
    if (!ids.length) return;
    const live = await this.liveMembers(generation);
    await Promise.all(
      ids.filter((id) => !live.has(id)).map((id) => {
        const key = `${generation}\u0000${id}`;
        let fencing = this.fencings.get(key);
        if (!fencing) {
          fencing = this.fence(id);
          this.fencings.set(key, fencing);
          fencing.catch(() => this.fencings.delete(key));
        }
        return fencing;
      }),
    );
  }

  /**
   * Transactional ids of the group's members now (each reports its own, CoPartitionedAssigner).
   * A live member is not fenced: its transaction ends by itself within a commit interval (offsets
   * of a shard it lost are refused for their generation), while fencing it would abort what it is
   * committing for the shards it kept, and its retries would abort ours in turn. When the group
   * cannot be read, every holder is fenced.
   */
  private liveMembers(generation: number): Promise<Set<string>> {
    if (this.live?.generation !== generation) {
      const ids = this.admin
        .describeGroups([this.kafkaSettings.groupId])
        .then(({ groups }) => new Set(groups.flatMap((g) => g.members.map((m) => memberDataOf(m.memberMetadata).transactionalId)).filter((id): id is string => id !== null)))
        .catch((err: unknown) => {
          this.options.log.warn({ err: errorMessage(err) }, 'reading the group members failed: every previous owner is fenced');
          return new Set<string>();
        });
      this.live = { generation, ids };
    }
    return this.live.ids;
  }

  /** Transactional ids of other instances that last committed these offsets. */
  private async holders(partitions: readonly { topic: string; partition: number }[]): Promise<string[]> {
    const topics = [...new Set(partitions.map((p) => p.topic))];
    const answer = await this.admin.fetchOffsets({ groupId: this.kafkaSettings.groupId, topics });
    const holders = new Set<string>();
    for (const t of answer) {
      for (const p of t.partitions) {
        const id = p.metadata;
        if (id && id !== this.transactionalId && id.startsWith(`${this.kafkaSettings.groupId}.instance-`) && partitions.some((w) => w.topic === t.topic && w.partition === p.partition)) holders.add(id);
      }
    }
    return [...holders];
  }

  private async fence(id: string): Promise<void> {
    this.options.log.info({ transactionalId: id }, "fencing the previous owner's transactional id (its open transaction aborts)");
    const producer = this.kafka.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1, transactionTimeout: this.kafkaSettings.transactionTimeoutMs, retry: { initialRetryTime: 10, maxRetryTime: 2000, retries: 30 } });
    try {
      await producer.connect();
      const init = await producer.transaction();
      await init.abort();
    } catch (err) {
      // The owner registered the id again meanwhile: that, too, made its old transaction final.
      if (!FENCED.has((err as { type?: string }).type ?? '')) throw err;
    } finally {
      await producer.disconnect().catch(() => undefined);
    }
  }

  /** The shard's sink: its commits go into the instance's transactions. */
  async sinkFor(shard: number): Promise<ShardSink> {
    const { decisions, aggregates, dlq } = this.kafkaSettings.topics;
    this.partitions ??= await outputPartitionCounts(this.admin, [decisions, aggregates, dlq]);
    let open = true;
    return {
      commit: (records, offsets) => {
        if (!open || this.closed) return Promise.reject(new EngineError('UNAVAILABLE', `shard ${shard}: the sink is closed`));
        return new Promise<void>((resolve, reject) => {
          this.waiting.push({ shard, records, offsets, resolve, reject });
          this.run();
        });
      },
      close: async () => {
        open = false;
      },
      nextTransaction: () => this.nextTransaction(),
    };
  }

  /**
   * Resolves when the next transaction is about to begin: its commit interval has passed since
   * the last one began, and no transaction is out. The shards released then hand over their work
   * before it takes what waits, so a chunk judged while the previous part of its shard waited for
   * the interval still goes into the next transaction (rather than the one after).
   */
  nextTransaction(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.slotWaiters.push(resolve);
      this.run();
    });
  }

  /**
   * Registers the instance's transactional id at once, before any shard commits: that makes final
   * the transaction a previous run under the same instance id (INSTANCE_ID) left open, which the
   * other members leave alone while this one is in the group (`liveMembers`), and the first
   * commit does not wait for it. A failure here is retried by the first transaction.
   */
  warmUp(): void {
    if (this.producer || this.running || this.closed) return;
    this.run(() => this.settle([]).catch((err: unknown) => this.options.log.warn({ err: errorMessage(err) }, 'registering the transactional id failed; the first transaction tries again')));
  }

  /** Runs `work` unless something runs already; then the loop again while parts wait. */
  private run(work: () => Promise<void> = () => this.loop()): void {
    this.running ??= work().finally(() => {
      this.running = null;
      if (this.closed) this.releaseSlot();
      else if (this.waiting.length || this.slotWaiters.length) this.run();
    });
  }

  private async loop(): Promise<void> {
    while (this.waiting.length || this.slotWaiters.length) {
      const wait = this.lastStartAt + this.kafkaSettings.commitIntervalMs - this.clock();
      if (wait > 0) await this.sleep(wait);
      this.lastStartAt = this.clock();
      if (this.slotWaiters.length) {
        this.releaseSlot();
        // The shards released hand their parts over in the microtasks that follow.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const parts = this.waiting;
      if (!parts.length) continue;
      this.waiting = [];
      await this.transact(parts);
    }
  }

  private releaseSlot(): void {
    for (const release of this.slotWaiters.splice(0)) release();
  }

  /** One transaction of every waiting part of a shard this member owns; settles each part. */
  private async transact(all: Part[]): Promise<void> {
    try {
      if (this.unsettled || !this.producer) await this.settle(all);
    } catch (err) {
      for (const p of all) p.reject(err);
      return;
    }
    const membership = this.options.membership();
    const parts: Part[] = [];
    for (const p of all) {
      if (p.offsets.length === 0 && p.records.length === 0) p.resolve();
      else if (membership?.owns(p.shard)) parts.push(p);
      else p.reject(notOwned(p.shard));
    }
    if (!parts.length || !membership) return;
    const producer = this.producer!;
    const tx = await producer.transaction().catch((err: unknown) => err as Error);
    if (tx instanceof Error) return this.failed(parts, tx);
    try {
      const records = parts.flatMap((p) => p.records);
      if (records.length) await tx.sendBatch({ acks: -1, compression: compressionType(this.kafkaSettings.compression), topicMessages: topicMessages(records, this.partitions ?? new Map()) });
      // The offsets name the transactional id that commits them: a later owner of the shard that
      // finds them held by an open transaction fences that id (`fenceHolders`).
      const metadata = this.transactionalId;
      const byTopic = new Map<string, { partition: number; offset: string; metadata: string }[]>();
      for (const p of parts) for (const o of p.offsets) (byTopic.get(o.topic) ?? byTopic.set(o.topic, []).get(o.topic)!).push({ partition: o.partition, offset: o.offset, metadata });
      if (byTopic.size) {
        await tx.sendOffsets({
          consumerGroupId: this.kafkaSettings.groupId,
          generationId: membership.generationId,
          memberId: membership.memberId,
          topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
        });
      }
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => undefined);
      return this.failed(parts, err);
    }
    this.committed();
    for (const p of parts) p.resolve();
  }

  /** `counted` is called after every transaction that committed (the metrics). */
  onCommitted(counted: () => void): void {
    this.committed = counted;
  }

  /**
   * A transaction failed: refused for an older generation, or of unknown outcome (a timeout may
   * have hidden a commit). It is settled at once, as KafkaShardSink does: parts found committed
   * are done; the others fail, FENCED for a shard this member no longer owns, else UNAVAILABLE
   * (the shard retries them). When it cannot be settled now, the next transaction settles first.
   */
  private async failed(failedParts: readonly Part[], err: unknown): Promise<void> {
    this.unsettled = true;
    await this.dropProducer();
    this.options.log.warn({ err: errorMessage(err), type: (err as { type?: string }).type, shards: [...new Set(failedParts.map((p) => p.shard))] }, 'instance transaction failed');
    const parts = [...failedParts];
    await this.settle(parts).catch(() => undefined);
    const membership = this.options.membership();
    for (const p of parts) p.reject(membership?.owns(p.shard) ? new EngineError('UNAVAILABLE', `shard ${p.shard}: transaction failed: ${errorMessage(err)}`, { cause: err }) : notOwned(p.shard));
  }

  /**
   * A fresh producer of the instance's transactional id makes the last transaction final (a
   * prepared commit completes, anything else aborts); a waiting part whose offsets are then
   * committed already is done (a retry of a transaction that did commit).
   */
  private async settle(parts: Part[]): Promise<void> {
    await this.dropProducer();
    this.producer = await this.initProducer();
    if (!this.unsettled) return;
    const offsets = parts.flatMap((p) => p.offsets);
    if (offsets.length) {
      const committed = await committedOffsetsOf(this.admin, this.kafkaSettings.groupId, offsets, this.options.answerRetry, { requireStable: true });
      const membership = this.options.membership();
      for (let i = parts.length - 1; i >= 0; i--) {
        const p = parts[i]!;
        if (p.offsets.length && membership?.owns(p.shard) && p.offsets.every((o) => reaches(committed.get(partitionKey(o)), o.offset))) {
          p.resolve();
          parts.splice(i, 1);
        }
      }
    }
    this.unsettled = false;
  }

  private async initProducer(): Promise<Producer> {
    const producer = this.kafka.producer({
      transactionalId: this.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: this.kafkaSettings.transactionTimeoutMs,
      allowAutoTopicCreation: false,
      createPartitioner: givenPartitionFirst,
      retry: { initialRetryTime: 10, maxRetryTime: 2000, retries: 30 },
    });
    try {
      await producer.connect();
      const init = await producer.transaction();
      await init.abort();
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw new EngineError('UNAVAILABLE', `instance transactional producer unavailable: ${errorMessage(err)}`, { cause: err });
    }
    return producer;
  }

  private async dropProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = null;
    await producer?.disconnect().catch(() => undefined);
  }

  /** After every shard stopped (their last commits are done). */
  async close(): Promise<void> {
    this.closed = true;
    this.releaseSlot();
    await this.running;
    for (const p of this.waiting.splice(0)) p.reject(new EngineError('UNAVAILABLE', `shard ${p.shard}: the sink is closed`));
    await this.dropProducer();
  }
}

const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']);

const notOwned = (shard: number) => new EngineError('FENCED', `shard ${shard} is no longer owned by this member: its work is not committed`);

const reaches = (committed: string | undefined, offset: string): boolean => committed !== undefined && committed !== '-1' && BigInt(committed) >= BigInt(offset);
