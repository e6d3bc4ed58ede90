/**
 * rebuild's guard of the consumer group: a group with committed offsets is refused, also when
 * kafkajs's first answer leaves the partitions out (its metadata cache race, groupOffsets.ts).
 */
import test from 'ava';
import sinon from 'sinon';
import type { Admin } from 'kafkajs';
import { assertGroupUnused } from '../../../src/ops/guards.ts';
import { OpsError } from '../../../src/ops/errors.ts';

function admin(answers: { topic: string; partitions: { partition: number; offset: string }[] }[][]) {
  const fetchOffsets = sinon.stub();
  answers.forEach((a, i) => fetchOffsets.onCall(i).resolves(a.map((t) => ({ ...t, partitions: t.partitions.map((p) => ({ ...p, metadata: null })) }))));
  return {
    describeGroups: sinon.stub().resolves({ groups: [{ groupId: 'g', members: [], state: 'Empty' }] }),
    fetchTopicMetadata: sinon.stub().resolves({ topics: [{ name: 'in', partitions: [{ partitionId: 0 }, { partitionId: 1 }] }] }),
    fetchOffsets,
  };
}

test('a group with an offset committed is refused, though the first answer left its partitions out', async (t) => {
  const a = admin([[{ topic: 'in', partitions: [] }], [{ topic: 'in', partitions: [{ partition: 0, offset: '-1' }, { partition: 1, offset: '42' }] }]]);
  const err = await t.throwsAsync(assertGroupUnused(a as unknown as Admin, 'g', ['in']), { instanceOf: OpsError });
  t.regex(err!.message, /partition 1 at 42/);
});

test('a group with nothing committed on any partition passes', async (t) => {
  const a = admin([[{ topic: 'in', partitions: [{ partition: 0, offset: '-1' }, { partition: 1, offset: '-1' }] }]]);
  await t.notThrowsAsync(assertGroupUnused(a as unknown as Admin, 'g', ['in']));
});
