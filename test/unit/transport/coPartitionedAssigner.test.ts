import test from 'ava';
import kafkajs from 'kafkajs';
import { coPartitionedAssigner, memberDataOf } from '../../../src/transport/kafka/CoPartitionedAssigner.ts';

const assignerOf = (owned: Parameters<typeof coPartitionedAssigner>[0]) => coPartitionedAssigner(owned)({ cluster: {} as never, groupId: 'g', logger: {} as never });

test("a member's metadata reports its shards and, with instance transactions, its transactional id", (t) => {
  const withId = assignerOf({ current: () => [1, 4], transactionalId: 'g.instance-a' }).protocol({ topics: ['x'] });
  t.deepEqual(memberDataOf(withId.metadata), { shards: [1, 4], transactionalId: 'g.instance-a' });
  const without = assignerOf({ current: () => [2] }).protocol({ topics: ['x'] });
  t.deepEqual(memberDataOf(without.metadata), { shards: [2], transactionalId: null });
});

test('metadata of a foreign member reports nothing', (t) => {
  t.deepEqual(memberDataOf(Buffer.from('not metadata')), { shards: [], transactionalId: null });
  const foreign = kafkajs.AssignerProtocol.MemberMetadata.encode({ version: 0, topics: ['x'], userData: Buffer.from('{"transactionalId":7,"shards":"no"}') });
  t.deepEqual(memberDataOf(foreign), { shards: [], transactionalId: null });
});
