/**
 * The installed kafkajs looks a transaction's coordinators up once, not before every request
 * (patches/kafkajs+2.2.4.patch): it sent a FindCoordinator request before each of the four
 * coordinator requests of every transaction, 4 of a short transaction's 9 requests. A request
 * that fails makes the next one look the coordinator up again, as kafkajs did before.
 */
import test from 'ava';
import sinon from 'sinon';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
type EosManager = {
  initProducerId(): Promise<void>;
  beginTransaction(): void;
  addPartitionsToTransaction(topics: { topic: string; partitions: { partition: number }[] }[]): Promise<void>;
  sendOffsets(o: { consumerGroupId: string; topics: unknown[] }): Promise<void>;
  commit(): Promise<void>;
};
const createEosManager = require('kafkajs/src/producer/eosManager') as (o: Record<string, unknown>) => EosManager;

function broker(nodeId: number) {
  return {
    nodeId,
    initProducerId: sinon.stub().resolves({ producerId: 7, producerEpoch: 0 }),
    addPartitionsToTxn: sinon.stub().resolves(),
    addOffsetsToTxn: sinon.stub().resolves(),
    txnOffsetCommit: sinon.stub().resolves(),
    endTxn: sinon.stub().resolves(),
  };
}

function setUp() {
  const brokers = new Map([1, 2].map((id) => [id, broker(id)]));
  const coordinatorOf = { transaction: 1, group: 1 };
  const cluster = {
    retry: { retries: 2, initialRetryTime: 1, maxRetryTime: 2 },
    refreshMetadataIfNecessary: sinon.stub().resolves(),
    findGroupCoordinator: sinon.spy(async ({ coordinatorType }: { coordinatorType: number }) => brokers.get(coordinatorType === 1 ? coordinatorOf.transaction : coordinatorOf.group)!),
    findBroker: sinon.spy(async ({ nodeId }: { nodeId: number }) => brokers.get(nodeId)!),
  };
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  const eos = createEosManager({ logger, cluster, transactional: true, transactionalId: 'risk-engine-shard-3' });
  return { eos, cluster, brokers, coordinatorOf };
}

async function transaction(eos: EosManager): Promise<void> {
  eos.beginTransaction();
  await eos.addPartitionsToTransaction([{ topic: 'risk-decisions', partitions: [{ partition: 3 }] }]);
  await eos.sendOffsets({ consumerGroupId: 'risk-engine', topics: [{ topic: 'login-events', partitions: [{ partition: 3, offset: '10' }] }] });
  await eos.commit();
}

test('the installed kafkajs finds a transaction\'s coordinators once, not before each request (patches/kafkajs+2.2.4.patch)', async (t) => {
  const { eos, cluster, brokers } = setUp();
  await eos.initProducerId();
  for (let i = 0; i < 5; i++) await transaction(eos);
  // One lookup of the transaction coordinator and one of the group's; unpatched: 1 + 4 per transaction.
  t.is(cluster.findGroupCoordinator.callCount, 2, 'patch-package did not apply patches/kafkajs+2.2.4.patch');
  t.is(brokers.get(1)!.endTxn.callCount, 5);
  t.is(brokers.get(1)!.txnOffsetCommit.callCount, 5);
});

test('a failed coordinator request makes the next one look the coordinator up again', async (t) => {
  const { eos, cluster, brokers, coordinatorOf } = setUp();
  await eos.initProducerId();
  await transaction(eos);
  const lookups = cluster.findGroupCoordinator.callCount;
  // The coordinator moved to broker 2: broker 1 refuses.
  coordinatorOf.transaction = 2;
  const notCoordinator = Object.assign(new Error('This is not the correct coordinator for this group'), { type: 'NOT_COORDINATOR_FOR_GROUP', retriable: true });
  brokers.get(1)!.addPartitionsToTxn.rejects(notCoordinator);
  eos.beginTransaction();
  const decisions = [{ topic: 'risk-decisions', partitions: [{ partition: 3 }] }];
  await t.throwsAsync(eos.addPartitionsToTransaction(decisions), { message: /not the correct coordinator/ });
  t.is(cluster.findGroupCoordinator.callCount, lookups, 'the cached coordinator was used');
  // Tried again: the coordinator is looked up again, and the request reaches broker 2.
  await eos.addPartitionsToTransaction(decisions);
  t.is(cluster.findGroupCoordinator.callCount, lookups + 1);
  t.is(brokers.get(2)!.addPartitionsToTxn.callCount, 1);
  await eos.commit();
  t.is(brokers.get(2)!.endTxn.callCount, 1, 'the new coordinator is kept');
  t.is(cluster.findGroupCoordinator.callCount, lookups + 1);
});

test('a failed offset commit makes the next one look the group coordinator up again', async (t) => {
  const { eos, cluster, brokers, coordinatorOf } = setUp();
  await eos.initProducerId();
  await transaction(eos);
  coordinatorOf.group = 2;
  brokers.get(1)!.txnOffsetCommit.rejects(Object.assign(new Error('not the coordinator'), { type: 'NOT_COORDINATOR' }));
  eos.beginTransaction();
  await eos.addPartitionsToTransaction([{ topic: 'risk-decisions', partitions: [{ partition: 3 }] }]);
  // kafkajs retries a stale coordinator with a fresh lookup: the offsets reach broker 2.
  await eos.sendOffsets({ consumerGroupId: 'risk-engine', topics: [] });
  t.is(brokers.get(2)!.txnOffsetCommit.callCount, 1);
  await eos.commit();
  await transaction(eos);
  t.is(brokers.get(2)!.txnOffsetCommit.callCount, 2, 'the new group coordinator is kept');
  t.true(cluster.findGroupCoordinator.callCount <= 4);
});
