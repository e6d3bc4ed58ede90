/**
 * A shard transaction of unknown outcome (a timeout: the commit may have reached the coordinator)
 * is made final by a fresh producer of the shard's transactional id, which also fences whoever
 * registered that id before. The sink does so only while it is the shard's newest owner: else it
 * would fence the newer owner and commit again what that owner has committed already.
 */
import test from 'ava';
import sinon from 'sinon';
import type { Admin, Kafka } from 'kafkajs';
import { KafkaShardSink } from '../../../src/transport/kafka/KafkaShardSink.ts';
import { loadSettings } from '../../../src/config/settings.ts';
import { FencedError } from '../../../src/persistence/JournalStore.ts';
import { errorCode } from '../../../src/errors.ts';

const settings = loadSettings({ KAFKA_BROKERS: '127.0.0.1:9092' });
const record = { topic: 'risk-decisions', key: 'u1', value: '{}' };
const offsets = [{ topic: 'payment-events', partition: 2, offset: '8' }];
const timeout = () => Object.assign(new Error('Request timed out'), { type: 'REQUEST_TIMED_OUT' });

/** kafkajs stubbed: every producer it makes is recorded; `commits` answers each tx.commit in turn. */
function stubKafka(commits: (() => Promise<void>)[], committedOffset = '-1') {
  const producers: { transaction: sinon.SinonStub; disconnect: sinon.SinonStub }[] = [];
  const txs: { commit: sinon.SinonStub }[] = [];
  const kafka = {
    producer: sinon.spy(() => {
      const producer = {
        connect: sinon.stub().resolves(),
        disconnect: sinon.stub().resolves(),
        transaction: sinon.stub().callsFake(async () => {
          const tx = {
            sendBatch: sinon.stub().resolves(),
            sendOffsets: sinon.stub().resolves(),
            // The first transaction of a producer registers it and is aborted unused.
            commit: sinon.stub().callsFake(() => (commits.shift() ?? (() => Promise.resolve()))()),
            abort: sinon.stub().resolves(),
          };
          txs.push(tx);
          return tx;
        }),
      };
      producers.push(producer);
      return producer;
    }),
  };
  const admin = {
    fetchTopicMetadata: sinon.stub().resolves({ topics: [] }),
    fetchOffsets: sinon.stub().resolves([{ topic: 'payment-events', partitions: [{ partition: 2, offset: committedOffset }] }]),
  };
  return { kafka: kafka as unknown as Kafka, admin, producers, txs };
}

const owner = () => sinon.stub().resolves();
const superseded = () => Promise.reject(new FencedError(2, 3, 4));

test('a timed-out commit of an owner that was superseded is FENCED, without a producer that would fence the newer owner', async (t) => {
  const { kafka, admin, producers } = stubKafka([() => Promise.reject(timeout())]);
  const stillOwner = sinon.stub().callsFake(superseded);
  const sink = await KafkaShardSink.open(kafka, admin as unknown as Admin, settings.kafka, 2, stillOwner);
  const err = await t.throwsAsync(sink.commit([record], offsets));
  t.is(errorCode(err), 'FENCED');
  t.is(producers.length, 1, 'no second producer registered the transactional id');
  t.true(producers[0]!.disconnect.called);
  t.false(admin.fetchOffsets.called);
  // Whatever the shard does next, this sink commits nothing more.
  await t.throwsAsync(sink.commit([record], offsets), { any: true });
  t.is(producers.length, 1);
});

test('a newer owner that registered between the check and the fresh producer is found by the second check: FENCED, nothing committed', async (t) => {
  const { kafka, admin, producers, txs } = stubKafka([() => Promise.reject(timeout())]);
  const stillOwner = sinon.stub();
  stillOwner.onFirstCall().resolves();
  stillOwner.onSecondCall().callsFake(superseded);
  const sink = await KafkaShardSink.open(kafka, admin as unknown as Admin, settings.kafka, 2, stillOwner);
  const err = await t.throwsAsync(sink.commit([record], offsets));
  t.is(errorCode(err), 'FENCED');
  t.is(producers.length, 2);
  t.true(producers[1]!.disconnect.called, 'the fresh producer is closed at once');
  t.false(admin.fetchOffsets.called, 'whether the offsets are committed is not asked: a newer owner may have committed them');
  t.is(txs.filter((tx) => tx.commit.called).length, 1, 'only the timed-out transaction was committed');
});

test('the newest owner settles a timed-out commit: done when the offsets turn out committed, UNAVAILABLE (to retry) when not', async (t) => {
  const committed = stubKafka([() => Promise.reject(timeout())], '8');
  const sink = await KafkaShardSink.open(committed.kafka, committed.admin as unknown as Admin, settings.kafka, 2, owner());
  await sink.commit([record], offsets);
  t.is(committed.producers.length, 2);

  const lost = stubKafka([() => Promise.reject(timeout())], '5');
  const other = await KafkaShardSink.open(lost.kafka, lost.admin as unknown as Admin, settings.kafka, 2, owner());
  const err = await t.throwsAsync(other.commit([record], offsets));
  t.is(errorCode(err), 'UNAVAILABLE');
  await other.commit([record], offsets);
  t.is(lost.txs.filter((tx) => tx.commit.called).length, 2, 'the retry commits on the fresh producer');
});

test('when the check cannot be made, the next attempt settles again before it commits anything', async (t) => {
  const { kafka, admin, producers, txs } = stubKafka([() => Promise.reject(timeout())], '8');
  const stillOwner = sinon.stub();
  stillOwner.onFirstCall().rejects(Object.assign(new Error('store down'), { code: 'UNAVAILABLE' }));
  stillOwner.resolves();
  const sink = await KafkaShardSink.open(kafka, admin as unknown as Admin, settings.kafka, 2, stillOwner);
  const err = await t.throwsAsync(sink.commit([record], offsets));
  t.is(errorCode(err), 'UNAVAILABLE');
  t.is(producers.length, 1, 'no fresh producer while ownership is unknown');
  await sink.commit([record], offsets);
  t.is(producers.length, 2);
  t.true(admin.fetchOffsets.calledOnce, 'the retry found its offsets committed');
  t.is(txs.filter((tx) => tx.commit.called).length, 1, 'and did not commit them a second time');
});

test('a closed sink commits nothing', async (t) => {
  const { kafka, admin, producers } = stubKafka([]);
  const sink = await KafkaShardSink.open(kafka, admin as unknown as Admin, settings.kafka, 2, owner());
  await sink.close();
  const err = await t.throwsAsync(sink.commit([record], offsets));
  t.is(errorCode(err), 'UNAVAILABLE');
  t.is(producers.length, 1);
});

test("the output topics' partition counts are read once per admin, not once per shard opened; a read that failed is read again", async (t) => {
  const { kafka, admin } = stubKafka([]);
  const { decisions, aggregates, dlq } = settings.kafka.topics;
  const meta = { topics: [decisions, aggregates, dlq].map((name) => ({ name, partitions: [{ partitionId: 0 }, { partitionId: 1 }] })) };
  admin.fetchTopicMetadata.onFirstCall().rejects(new Error('broker away'));
  admin.fetchTopicMetadata.resolves(meta);
  for (let shard = 0; shard < 4; shard++) await KafkaShardSink.open(kafka, admin as unknown as Admin, settings.kafka, shard, owner());
  // Each metadata read of these topics replaces the admin's cache of the input topics (groupOffsets.ts).
  t.is(admin.fetchTopicMetadata.callCount, 2, 'the failed read, then one read for every later shard');
});
