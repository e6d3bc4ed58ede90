/**
 * On the real broker, what one transaction per instance (kafka.transactions "instance") stands on:
 * the group coordinator refuses offsets sent with an older generation (TxnOffsetCommit v3,
 * patched into kafkajs), a stable read (OffsetFetch v7) does not answer while a transaction holds
 * the offsets, and a shard's opener aborts a dead instance's open transaction at once.
 */
import test from 'ava';
import type { Kafka } from 'kafkajs';
import { KafkaEventSource } from '../../../src/transport/kafka/KafkaEventSource.ts';
import { KafkaInstanceTransactions } from '../../../src/transport/kafka/KafkaInstanceTransactions.ts';
import { createLogger } from '../../../src/log.ts';
import { errorCode } from '../../../src/errors.ts';
import { engineTopics, testSettings } from '../helpers/harness.ts';

const producerOf = async (kafka: Kafka, transactionalId: string) => {
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 60_000, retry: { initialRetryTime: 10, retries: 30 } });
  await producer.connect();
  return producer;
};

test('offsets sent with an older generation are refused, and a stable read waits for the transaction that holds them', async (t) => {
  const { settings, kafka, admin } = await engineTopics(t, 'kip447');
  const topic = settings.kafka.topics.inputs[0]!;
  const groupId = settings.kafka.groupId;
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000 });
  const joined = new Promise<{ generationId: number; memberId: string }>((resolve) => consumer.on(consumer.events.GROUP_JOIN, (e) => resolve(e.payload)));
  await consumer.connect();
  t.teardown(() => consumer.disconnect());
  await consumer.subscribe({ topics: [topic] });
  await consumer.run({ autoCommit: false, eachBatch: async () => {} });
  const { generationId, memberId } = await joined;
  t.true(generationId >= 1, 'GROUP_JOIN carries the generation');

  const producer = await producerOf(kafka, `${groupId}.test`);
  t.teardown(() => producer.disconnect());
  const stale = await producer.transaction();
  const refused = await t.throwsAsync(stale.sendOffsets({ consumerGroupId: groupId, generationId: generationId - 1, memberId, topics: [{ topic, partitions: [{ partition: 0, offset: '5' }] }] }));
  t.is((refused as { type?: string }).type, 'ILLEGAL_GENERATION');
  await stale.abort();

  const tx = await producer.transaction();
  await tx.sendOffsets({ consumerGroupId: groupId, generationId, memberId, topics: [{ topic, partitions: [{ partition: 0, offset: '7' }] }] });
  const unstable = await t.throwsAsync(admin.fetchOffsets({ groupId, topics: [topic], requireStable: true }));
  t.is((unstable as { type?: string }).type, 'UNSTABLE_OFFSET_COMMIT');
  const plain = await admin.fetchOffsets({ groupId, topics: [topic] });
  t.is(plain[0]!.partitions.find((p) => p.partition === 0)!.offset, '-1', 'a plain read answers the offset before the open transaction');
  await tx.commit();
  const stable = await admin.fetchOffsets({ groupId, topics: [topic], requireStable: true });
  t.is(stable[0]!.partitions.find((p) => p.partition === 0)!.offset, '7');
});

test("a shard's opener aborts the open transaction of the instance that last committed the shard, and reads its committed offsets", async (t) => {
  const { id, settings, kafka, admin } = await engineTopics(t, 'holder');
  const { groupId } = settings.kafka;
  const topic = settings.kafka.topics.inputs[0]!;
  // A dead instance: it committed shard 0 up to 10, then died with a transaction open that holds 20.
  const dead = await producerOf(kafka, KafkaInstanceTransactions.transactionalId(groupId, 'dead'));
  t.teardown(() => dead.disconnect());
  const metadata = KafkaInstanceTransactions.transactionalId(groupId, 'dead');
  const first = await dead.transaction();
  await first.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 0, offset: '10', metadata } as { partition: number; offset: string }] }] });
  await first.commit();
  const open = await dead.transaction();
  await open.send({ topic: settings.kafka.topics.decisions, messages: [{ key: 'u', value: '{}', partition: 0 }] });
  await open.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 0, offset: '20', metadata } as { partition: number; offset: string }] }] });

  const instanceSettings = testSettings(id, { KAFKA_TRANSACTIONS: 'instance' });
  const source = new KafkaEventSource(kafka, admin, instanceSettings.kafka, createLogger('silent'), { instanceId: 'next' });
  const withoutFencing = new KafkaEventSource(kafka, admin, { ...settings.kafka, transactions: 'shard' }, createLogger('silent'));
  const held = await t.throwsAsync(withoutFencing.committedOffsets(0));
  t.is(errorCode(held), 'UNAVAILABLE', 'without fencing, the open transaction holds the offsets past the stable read');
  const committed = await source.committedOffsets(0);
  t.is(committed[topic], '10', "the dead instance's open transaction was aborted");
  const abortedCommit = await t.throwsAsync(open.commit());
  t.regex((abortedCommit as { type?: string }).type ?? '', /FENCED|INVALID_PRODUCER_EPOCH/, 'the dead instance cannot commit it any more');
});

test('an instance killed before its first commit is fenced by the next opener of its shard: it named itself in the offsets when it opened the shard', async (t) => {
  const { id, kafka, admin } = await engineTopics(t, 'firstcommit');
  const settings = testSettings(id, { KAFKA_TRANSACTIONS: 'instance' });
  const { groupId } = settings.kafka;
  const topic = settings.kafka.topics.inputs[0]!;
  // The first instance joins the group and opens shard 0 as the engine does (its committed offsets read).
  const first = new KafkaEventSource(kafka, admin, settings.kafka, createLogger('silent'), { instanceId: 'first' });
  t.teardown(async () => {
    await first.stop();
    await first.closeSinks();
  });
  const opened = new Promise<Record<string, string>>((resolve, reject) => {
    void first.start({
      onAssigned: async (shards) => {
        if (shards.includes(0)) first.committedOffsets(0).then(resolve, reject);
      },
      onRevoked: async () => {},
      onBatch: async () => {},
    });
  });
  t.deepEqual(await opened, {}, 'nothing committed yet');
  const named = await admin.fetchOffsets({ groupId, topics: [topic] });
  t.is(named[0]!.partitions.find((p) => p.partition === 0)!.metadata, KafkaInstanceTransactions.transactionalId(groupId, 'first'));

  // Its first transaction is open (a decision written, nothing committed) when it dies.
  const dying = await producerOf(kafka, KafkaInstanceTransactions.transactionalId(groupId, 'first'));
  t.teardown(() => dying.disconnect());
  const open = await dying.transaction();
  await open.send({ topic: settings.kafka.topics.decisions, messages: [{ key: 'u', value: '{}', partition: 0 }] });
  await first.stop();

  const next = new KafkaEventSource(kafka, admin, settings.kafka, createLogger('silent'), { instanceId: 'next' });
  t.deepEqual(await next.committedOffsets(0), Object.fromEntries(settings.kafka.topics.inputs.map((input) => [input, '0'])), 'the claim committed where a member without offsets starts');
  const aborted = await t.throwsAsync(open.commit());
  t.regex((aborted as { type?: string }).type ?? '', /FENCED|INVALID_PRODUCER_EPOCH/, "the killed instance's first transaction was aborted at once");
});

test('an instance started again under the same instance id ends, as it starts, the transaction its previous run left open', async (t) => {
  const { id, kafka, admin } = await engineTopics(t, 'samename');
  const settings = testSettings(id, { KAFKA_TRANSACTIONS: 'instance' });
  const previous = await producerOf(kafka, KafkaInstanceTransactions.transactionalId(settings.kafka.groupId, 'same'));
  t.teardown(() => previous.disconnect());
  const open = await previous.transaction();
  await open.send({ topic: settings.kafka.topics.decisions, messages: [{ key: 'u', value: '{}', partition: 0 }] });

  const again = new KafkaInstanceTransactions(kafka, admin, settings.kafka, { instanceId: 'same', membership: () => null, log: createLogger('silent') });
  again.warmUp();
  await again.close();
  const aborted = await t.throwsAsync(open.commit());
  t.regex((aborted as { type?: string }).type ?? '', /FENCED|INVALID_PRODUCER_EPOCH/);
});
