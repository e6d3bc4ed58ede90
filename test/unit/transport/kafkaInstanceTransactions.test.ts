/**
 * One transaction per instance (kafka.transactions "instance"): the shards' commits of a commit
 * interval go out together, with the member's generation on the offsets; a shard the member no
 * longer owns is never in one; a failed transaction's retry is settled, not committed twice.
 */
import test from 'ava';
import kafkajs from 'kafkajs';
import sinon from 'sinon';
import type { Admin, Kafka } from 'kafkajs';
import { KafkaInstanceTransactions, type GroupMembership } from '../../../src/transport/kafka/KafkaInstanceTransactions.ts';
import { loadSettings } from '../../../src/config/settings.ts';
import { createLogger } from '../../../src/log.ts';
import { errorCode } from '../../../src/errors.ts';

interface FakeTx {
  records: number;
  offsets: { topic: string; partitions: { partition: number; offset: string; metadata: string }[] }[];
  generationId?: number;
  memberId?: string;
  ended: 'commit' | 'abort' | null;
}

/** A kafkajs stand-in: every transaction is recorded; `failCommit` makes the next commit throw. */
function fakeKafka() {
  const txs: FakeTx[] = [];
  const producers: string[] = [];
  const fetchOffsets = sinon.stub().resolves([]);
  const state = { failCommit: 0 };
  const kafka = {
    producer: ({ transactionalId }: { transactionalId: string }) => {
      producers.push(transactionalId);
      return {
        connect: async () => {},
        disconnect: async () => {},
        transaction: async () => {
          const tx: FakeTx = { records: 0, offsets: [], ended: null };
          txs.push(tx);
          return {
            sendBatch: async ({ topicMessages }: { topicMessages: { messages: unknown[] }[] }) => {
              tx.records += topicMessages.reduce((n, t) => n + t.messages.length, 0);
            },
            sendOffsets: async (o: { topics: FakeTx['offsets']; generationId: number; memberId: string }) => {
              tx.offsets.push(...o.topics);
              tx.generationId = o.generationId;
              tx.memberId = o.memberId;
            },
            commit: async () => {
              if (state.failCommit > 0) {
                state.failCommit--;
                throw Object.assign(new Error('request timed out'), { type: 'REQUEST_TIMED_OUT' });
              }
              tx.ended = 'commit';
            },
            abort: async () => {
              tx.ended = 'abort';
            },
          };
        },
      };
    },
  };
  const describeGroups = sinon.stub().resolves({ groups: [{ groupId: 'g', members: [] }] });
  const admin = { fetchOffsets, describeGroups, fetchTopicMetadata: async () => ({ topics: [] }) };
  return { kafka: kafka as unknown as Kafka, admin: admin as unknown as Admin, txs, producers, fetchOffsets, describeGroups, state };
}

const settings = loadSettings({ KAFKA_GROUP_ID: 'g', KAFKA_TRANSACTIONS: 'instance' });
const kafkaSettings = { ...settings.kafka, commitIntervalMs: 50 };
const owning = (shards: number[], generationId = 7): GroupMembership => ({ generationId, memberId: 'm-1', owns: (s) => shards.includes(s) });
const record = (shard: number) => ({ topic: kafkaSettings.topics.decisions, key: `u${shard}`, value: '{}' });
const offset = (shard: number, at: string) => ({ topic: kafkaSettings.topics.inputs[0]!, partition: shard, offset: at });

/** On a clock of its own: a wait passes at once and is recorded. */
function instance(membership: () => GroupMembership | null) {
  const fake = fakeKafka();
  let now = 1_000;
  const waits: number[] = [];
  const tx = new KafkaInstanceTransactions(fake.kafka, fake.admin, kafkaSettings, {
    instanceId: 'i-1',
    membership,
    log: createLogger('silent'),
    answerRetry: { attempts: 1, delayMs: 1 },
    clock: () => now,
    sleep: async (ms) => {
      waits.push(ms);
      now += ms;
    },
  });
  return { ...fake, tx, waits };
}

test("the shards' commits of one commit interval go out in one transaction, with the member's generation and id", async (t) => {
  const { tx, txs, producers, waits } = instance(() => owning([0, 1, 2]));
  const sinks = await Promise.all([0, 1, 2].map((s) => tx.sinkFor(s)));
  // The first goes at once; the two that come while it is out wait out the interval and share the next.
  const first = sinks[0]!.commit([record(0)], [offset(0, '5')]);
  const rest = [sinks[1]!.commit([record(1), record(1)], [offset(1, '9')]), sinks[2]!.commit([record(2)], [offset(2, '3')])];
  await Promise.all([first, ...rest]);
  t.deepEqual(waits, [50]);
  const committed = txs.filter((x) => x.ended === 'commit' && x.offsets.length);
  t.is(committed.length, 2, 'one transaction for the first commit, one for the two that came within the interval');
  t.is(committed[1]!.records, 3);
  t.deepEqual(committed[1]!.offsets.flatMap((o) => o.partitions.map((p) => p.partition)).sort(), [1, 2]);
  t.is(committed[1]!.generationId, 7);
  t.is(committed[1]!.memberId, 'm-1');
  t.true(committed[1]!.offsets.every((o) => o.partitions.every((p) => p.metadata === 'g.instance-i-1')), 'the offsets name the transactional id that commits them');
  t.deepEqual([...new Set(producers)], ['g.instance-i-1'], 'one transactional producer for the instance');
});

test('nextTransaction resolves once the interval since the last transaction passed; the parts handed over then share that transaction', async (t) => {
  const { tx, txs, waits } = instance(() => owning([0, 1]));
  const [a, b] = await Promise.all([tx.sinkFor(0), tx.sinkFor(1)]);
  await a!.commit([record(0)], [offset(0, '1')]);
  // Both shards wait for the next transaction, then hand over what they judged meanwhile.
  const handed = [a!, b!].map((sink, shard) => sink.nextTransaction!().then(() => sink.commit([record(shard)], [offset(shard, '2')])));
  await Promise.all(handed);
  t.deepEqual(waits, [50]);
  const committed = txs.filter((x) => x.ended === 'commit' && x.offsets.length);
  t.is(committed.length, 2);
  t.deepEqual(committed[1]!.offsets.flatMap((o) => o.partitions.map((p) => p.partition)).sort(), [0, 1], 'one transaction for both');
});

test('closing releases the shards waiting for the next transaction', async (t) => {
  const { tx } = instance(() => owning([0]));
  const sink = await tx.sinkFor(0);
  const waiting = sink.nextTransaction!();
  await tx.close();
  await waiting;
  await t.throwsAsync(sink.commit([record(0)], [offset(0, '1')]), { message: /closed/ });
});

test('a shard the member no longer owns is left out of the transaction and fails FENCED; the others commit', async (t) => {
  let owned = [0, 1];
  const { tx, txs } = instance(() => owning(owned, 8));
  const [a, b] = await Promise.all([tx.sinkFor(0), tx.sinkFor(1)]);
  owned = [0];
  const results = await Promise.allSettled([a!.commit([record(0)], [offset(0, '4')]), b!.commit([record(1)], [offset(1, '6')])]);
  t.is(results[0]!.status, 'fulfilled');
  t.is(errorCode((results[1] as PromiseRejectedResult).reason), 'FENCED');
  const committed = txs.filter((x) => x.ended === 'commit' && x.offsets.length);
  t.deepEqual(committed.flatMap((x) => x.offsets.flatMap((o) => o.partitions.map((p) => p.partition))), [0], 'shard 1 was in no transaction');
});

test('a commit that failed but reached the broker is settled at once: its shards are done, nothing is sent again', async (t) => {
  const { tx, txs, fetchOffsets, state } = instance(() => owning([3]));
  const sink = await tx.sinkFor(3);
  state.failCommit = 1;
  // The broker did commit it (a timeout hid that): the settling read finds the offset there.
  fetchOffsets.resolves([{ topic: kafkaSettings.topics.inputs[0]!, partitions: [{ partition: 3, offset: '12', metadata: 'g.instance-i-1' }] }]);
  await sink.commit([record(3)], [offset(3, '12')]);
  t.true(fetchOffsets.calledWithMatch({ requireStable: true }), 'settled with a stable read');
  t.is(txs.filter((x) => x.offsets.length).length, 1, 'one transaction, not sent again');
});

test("a failed commit that cannot be settled fails UNAVAILABLE; the shard's retry is settled first and not committed twice", async (t) => {
  const { tx, txs, fetchOffsets, state } = instance(() => owning([3]));
  const sink = await tx.sinkFor(3);
  state.failCommit = 1;
  fetchOffsets.rejects(Object.assign(new Error('coordinator not available'), { type: 'COORDINATOR_NOT_AVAILABLE' }));
  const err = await t.throwsAsync(sink.commit([record(3)], [offset(3, '12')]));
  t.is(errorCode(err), 'UNAVAILABLE');
  fetchOffsets.resolves([{ topic: kafkaSettings.topics.inputs[0]!, partitions: [{ partition: 3, offset: '12', metadata: 'g.instance-i-1' }] }]);
  await sink.commit([record(3)], [offset(3, '12')]);
  t.is(txs.filter((x) => x.offsets.length && x.ended === 'commit').length, 0, 'the retry found it committed: no second transaction');
});

test('with no membership (between groups) nothing is committed', async (t) => {
  const { tx, txs } = instance(() => null);
  const sink = await tx.sinkFor(0);
  const err = await t.throwsAsync(sink.commit([record(0)], [offset(0, '1')]));
  t.is(errorCode(err), 'FENCED');
  t.is(txs.filter((x) => x.offsets.length).length, 0);
});

test("a shard's opener fences the transactional id that last committed the shard's offsets, once per generation, never its own", async (t) => {
  const { tx, producers, fetchOffsets } = instance(() => owning([0, 1], 9));
  const topic = kafkaSettings.topics.inputs[0]!;
  fetchOffsets.resolves([{ topic, partitions: [{ partition: 0, offset: '5', metadata: 'g.instance-dead' }, { partition: 1, offset: '8', metadata: 'g.instance-i-1' }, { partition: 2, offset: '2', metadata: 'g.instance-other' }] }]);
  await Promise.all([tx.fenceHolders([{ topic, partition: 0 }]), tx.fenceHolders([{ topic, partition: 0 }, { topic, partition: 1 }])]);
  t.deepEqual(producers, ['g.instance-dead'], 'the dead owner once; not ourselves, not the owner of a partition not asked for');
});

/** A group member as the co-partitioning assigner describes it. */
const memberReporting = (transactionalId: string | null) => ({
  memberId: `m-${transactionalId}`,
  memberMetadata: kafkajs.AssignerProtocol.MemberMetadata.encode({ version: 1, topics: [], userData: Buffer.from(JSON.stringify({ shards: [2], ...(transactionalId ? { transactionalId } : {}) })) }),
});

test("a previous owner still in the group is not fenced (its transaction ends by itself); one that left is", async (t) => {
  const { tx, producers, fetchOffsets, describeGroups } = instance(() => owning([0, 1], 9));
  const topic = kafkaSettings.topics.inputs[0]!;
  fetchOffsets.resolves([{ topic, partitions: [{ partition: 0, offset: '5', metadata: 'g.instance-live' }, { partition: 1, offset: '8', metadata: 'g.instance-gone' }] }]);
  describeGroups.resolves({ groups: [{ groupId: 'g', members: [memberReporting('g.instance-live'), memberReporting('g.instance-i-1'), memberReporting(null)] }] });
  await tx.fenceHolders([{ topic, partition: 0 }, { topic, partition: 1 }]);
  t.deepEqual(producers, ['g.instance-gone']);
  t.is(describeGroups.callCount, 1);
});

test('when the group cannot be described, every previous owner is fenced', async (t) => {
  const { tx, producers, fetchOffsets, describeGroups } = instance(() => owning([0], 9));
  const topic = kafkaSettings.topics.inputs[0]!;
  fetchOffsets.resolves([{ topic, partitions: [{ partition: 0, offset: '5', metadata: 'g.instance-live' }] }]);
  describeGroups.rejects(Object.assign(new Error('coordinator not available'), { type: 'COORDINATOR_NOT_AVAILABLE' }));
  await tx.fenceHolders([{ topic, partition: 0 }]);
  t.deepEqual(producers, ['g.instance-live']);
});

test('warming up registers the transactional id before any commit; the first transaction uses that producer', async (t) => {
  const { tx, txs, producers } = instance(() => owning([3]));
  tx.warmUp();
  tx.warmUp();
  const sink = await tx.sinkFor(3);
  await sink.commit([record(3)], [offset(3, '4')]);
  t.deepEqual(producers, ['g.instance-i-1'], 'one producer, registered once');
  t.deepEqual(txs.map((x) => x.ended), ['abort', 'commit'], 'the registration, then the commit');
});
