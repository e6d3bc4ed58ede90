import test from 'ava';
import sinon from 'sinon';
import kafkajs from 'kafkajs';
import { assignedShards, KafkaClusterReader } from '../../../src/transport/kafka/KafkaClusterReader.ts';
import { shardPosition } from '../../../src/transport/kafka/groupOffsets.ts';
import { partitionKey } from '../../../src/transport/topicPartition.ts';
import { EngineError } from '../../../src/errors.ts';

const { AssignerProtocol } = kafkajs;
const INPUTS = ['login-events', 'payment-events'];
const settings = { groupId: 'g', clientId: 'risk-engine', topics: { inputs: INPUTS }, partitions: 4 } as const;

const assignment = (shards: number[]) =>
  AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: Object.fromEntries(INPUTS.map((t) => [t, shards])), userData: Buffer.alloc(0) });

function stubAdmin() {
  return {
    describeGroups: sinon.stub().resolves({
      groups: [
        {
          groupId: 'g', state: 'Stable', protocol: 'risk-copartitioned', protocolType: 'consumer', errorCode: 0,
          members: [
            { memberId: 'm-b', clientId: 'risk-engine-b', clientHost: '/10.0.0.2', memberAssignment: assignment([1, 3]), memberMetadata: Buffer.alloc(0) },
            { memberId: 'm-a', clientId: 'risk-engine-a', clientHost: '/10.0.0.1', memberAssignment: assignment([0, 2]), memberMetadata: Buffer.alloc(0) },
          ],
        },
      ],
    }),
    fetchOffsets: sinon.stub().resolves([
      { topic: 'login-events', partitions: [0, 1, 2, 3].map((partition) => ({ partition, offset: partition === 3 ? '-1' : '10', metadata: null })) },
      { topic: 'payment-events', partitions: [0, 1, 2, 3].map((partition) => ({ partition, offset: '4', metadata: null })) },
    ]),
    fetchTopicOffsets: sinon.stub().callsFake(async (topic: string) =>
      [0, 1, 2, 3].map((partition) => ({ partition, offset: topic === 'login-events' ? '12' : '4', high: topic === 'login-events' ? '12' : '4', low: '2' })),
    ),
  };
}

test('the group: instances named by client id without the prefix, shards from their assignments, lag per shard over the input topics', async (t) => {
  const admin = stubAdmin();
  const view = await new KafkaClusterReader(admin, settings).read();
  t.deepEqual(view, {
    groupId: 'g',
    state: 'Stable',
    members: [
      { instanceId: 'a', memberId: 'm-a', host: '10.0.0.1', shards: [0, 2] },
      { instanceId: 'b', memberId: 'm-b', host: '10.0.0.2', shards: [1, 3] },
    ],
    shards: [
      { shard: 0, committed: { 'login-events': '10', 'payment-events': '4' }, lag: 2 },
      { shard: 1, committed: { 'login-events': '10', 'payment-events': '4' }, lag: 2 },
      { shard: 2, committed: { 'login-events': '10', 'payment-events': '4' }, lag: 2 },
      // Nothing committed yet: counted from the low watermark, where the consumer starts.
      { shard: 3, committed: { 'login-events': '2', 'payment-events': '4' }, lag: 10 },
    ],
  });
  t.deepEqual(admin.describeGroups.firstCall.args, [['g']]);
  t.deepEqual(admin.fetchOffsets.firstCall.args, [{ groupId: 'g', topics: INPUTS }]);
  t.deepEqual(admin.fetchTopicOffsets.args.map((a) => a[0]), INPUTS);
});

test('one read per second however many callers: answers kept for cacheMs, a read in flight shared', async (t) => {
  const admin = stubAdmin();
  let now = 1000;
  const reader = new KafkaClusterReader(admin, settings, { now: () => now });
  const [a, b] = await Promise.all([reader.read(), reader.read()]);
  t.is(a, b);
  now += 999;
  await reader.read();
  t.is(admin.describeGroups.callCount, 1);
  t.is(admin.fetchOffsets.callCount, 1);
  t.is(admin.fetchTopicOffsets.callCount, INPUTS.length);
  now += 1;
  await reader.read();
  t.is(admin.describeGroups.callCount, 2);
});

test('Kafka unreachable: UNAVAILABLE, and the next call reads again', async (t) => {
  const admin = stubAdmin();
  admin.describeGroups.rejects(Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { name: 'KafkaJSConnectionError' }));
  const reader = new KafkaClusterReader(admin, settings);
  const err = await t.throwsAsync(reader.read(), { instanceOf: EngineError });
  t.is(err?.code, 'UNAVAILABLE');
  admin.describeGroups.resetBehavior();
  admin.describeGroups.resolves({ groups: [] });
  t.like(await reader.read(), { groupId: 'g', members: [] });
});

test('a read slower than timeoutMs fails as UNAVAILABLE', async (t) => {
  const admin = stubAdmin();
  admin.describeGroups.returns(new Promise(() => undefined));
  const err = await t.throwsAsync(new KafkaClusterReader(admin, settings, { timeoutMs: 20 }).read(), { instanceOf: EngineError });
  t.is(err?.code, 'UNAVAILABLE');
  t.regex(err?.message ?? '', /took over 20 ms/);
});

test('assignments: none while rebalancing, none from a foreign protocol', (t) => {
  t.deepEqual(assignedShards(Buffer.alloc(0), INPUTS), []);
  t.deepEqual(assignedShards(Buffer.from('not a consumer assignment'), INPUTS), []);
  t.deepEqual(assignedShards(assignment([2, 5]), INPUTS), [2, 5]);
});

test("a shard's position: an unset offset counts from the low watermark, lag is summed over the topics, a topic without the partition is left out", (t) => {
  const ends = new Map([
    ['login-events', [{ partition: 0, offset: '9', high: '9', low: '3' }]],
    ['payment-events', [{ partition: 0, offset: '7', high: '7', low: '0' }, { partition: 1, offset: '2', high: '2', low: '0' }]],
  ]);
  const at = (topic: string, partition: number, offset: string) => [partitionKey({ topic, partition }), offset] as const;
  const committed = new Map([at('login-events', 0, '-1'), at('payment-events', 0, '5'), at('payment-events', 1, '-1')]);
  t.deepEqual(shardPosition(0, INPUTS, committed, ends), { shard: 0, committed: { 'login-events': '3', 'payment-events': '5' }, lag: 6 + 2 });
  t.deepEqual(shardPosition(1, INPUTS, committed, ends), { shard: 1, committed: { 'payment-events': '0' }, lag: 2 });
});

test("an answer of Kafka's that leaves partitions out is read again, not shown as nothing committed", async (t) => {
  const admin = stubAdmin();
  const complete = await admin.fetchOffsets();
  admin.fetchOffsets.reset();
  // kafkajs's admin answers no partition of a topic whose metadata a concurrent read dropped from its cache.
  admin.fetchOffsets.onFirstCall().resolves([{ topic: 'login-events', partitions: [] }, complete[1]]);
  admin.fetchOffsets.resolves(complete);
  const view = await new KafkaClusterReader(admin, settings).read();
  t.is(admin.fetchOffsets.callCount, 2);
  t.deepEqual(view.shards.map((s) => s.committed['login-events']), ['10', '10', '10', '2']);
});
