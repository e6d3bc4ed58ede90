import test from 'ava';
import fc from 'fast-check';
import { assignShards, ownershipChange, type MemberShards } from '../../../src/transport/kafka/shardAssignment.ts';

const members = (...ids: string[]): MemberShards[] => ids.map((memberId) => ({ memberId, owned: [] }));

function allShards(a: Map<string, number[]>): number[] {
  return [...a.values()].flat().sort((x, y) => x - y);
}

test('every shard goes to exactly one member, evenly', (t) => {
  const a = assignShards(members('a', 'b', 'c'), 12);
  t.deepEqual(allShards(a), [...Array(12).keys()]);
  t.deepEqual([...a.values()].map((s) => s.length), [4, 4, 4]);
});

test('uneven counts differ by at most one', (t) => {
  const a = assignShards(members('a', 'b', 'c', 'd', 'e'), 12);
  const sizes = [...a.values()].map((s) => s.length);
  t.is(Math.max(...sizes) - Math.min(...sizes), 1);
  t.is(sizes.reduce((x, y) => x + y), 12);
});

test('a leaving member moves only its own shards', (t) => {
  const before = assignShards(members('a', 'b', 'c'), 12);
  const remaining = ['a', 'b'].map((id) => ({ memberId: id, owned: before.get(id)! }));
  const after = assignShards(remaining, 12);
  for (const id of ['a', 'b']) t.true(before.get(id)!.every((s) => after.get(id)!.includes(s)), `${id} kept its shards`);
  t.deepEqual(allShards(after), [...Array(12).keys()]);
});

test('a joining member takes shards from others without reshuffling the rest', (t) => {
  const before = assignShards(members('a', 'b'), 12);
  const after = assignShards([...['a', 'b'].map((id) => ({ memberId: id, owned: before.get(id)! })), { memberId: 'c', owned: [] }], 12);
  t.is(after.get('c')!.length, 4);
  for (const id of ['a', 'b']) t.true(after.get(id)!.every((s) => before.get(id)!.includes(s)), `${id} only lost shards`);
});

test('a shard claimed by two members (a zombie) is kept by one only', (t) => {
  const a = assignShards([{ memberId: 'a', owned: [0, 1] }, { memberId: 'b', owned: [1, 2] }], 4);
  t.deepEqual(allShards(a), [0, 1, 2, 3]);
});

test('property: balanced, complete and sticky for any previous ownership', (t) => {
  t.notThrows(() => fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.array(fc.array(fc.integer({ min: -2, max: 45 }), { maxLength: 12 }), { minLength: 1, maxLength: 7 }),
      (shardCount, owned) => {
        const ms = owned.map((o, i) => ({ memberId: `m${i}`, owned: o }));
        const a = assignShards(ms, shardCount);
        const sizes = [...a.values()].map((s) => s.length);
        const complete = JSON.stringify(allShards(a)) === JSON.stringify([...Array(shardCount).keys()]);
        const balanced = Math.max(...sizes) - Math.min(...sizes) <= 1;
        const quota = Math.ceil(shardCount / ms.length);
        // Stickiness: a member keeps previously owned, uncontested shards up to a fair share.
        const sticky = ms.every((m) => {
          const valid = [...new Set(m.owned)].filter((s) => s >= 0 && s < shardCount && !ms.some((o) => o.memberId < m.memberId && o.owned.includes(s)));
          const kept = valid.filter((s) => a.get(m.memberId)!.includes(s)).length;
          return kept >= Math.min(valid.length, quota - 1);
        });
        return complete && balanced && sticky;
      },
    ),
  ));
});

test('ownershipChange: the same member loses and gains only what moved', (t) => {
  t.deepEqual(ownershipChange({ memberId: 'm1', shards: [0, 1, 2] }, { memberId: 'm1', shards: [1, 2, 3] }), { lost: [0], gained: [3] });
  t.deepEqual(ownershipChange({ memberId: null, shards: [] }, { memberId: 'm1', shards: [4, 5] }), { lost: [], gained: [4, 5] });
});

test('ownershipChange: a member back under a new member id keeps nothing (others may have owned its shards meanwhile)', (t) => {
  t.deepEqual(ownershipChange({ memberId: 'm1', shards: [6, 7, 8, 9] }, { memberId: 'm2', shards: [6, 7, 8, 9, 10, 11] }), {
    lost: [6, 7, 8, 9],
    gained: [6, 7, 8, 9, 10, 11],
  });
});
