import test from 'ava';
import { clusterViewOf, embeddedClusterView } from '../../../src/app/clusterView.ts';

const shard = (n: number, lag: number | null) => ({ shard: n, committed: { t: String(n) }, lag });

test('instances with self marked by member id; each shard named with its owner, null when none holds it', (t) => {
  const view = clusterViewOf(
    {
      groupId: 'g',
      state: 'Stable',
      members: [
        { instanceId: 'a', memberId: 'm-a', host: 'h1', shards: [0, 2] },
        { instanceId: 'b', memberId: 'm-b', host: 'h2', shards: [1] },
      ],
      shards: [shard(0, 0), shard(1, 5), shard(2, null), shard(3, 1)],
    },
    'm-b',
  );
  t.deepEqual(view, {
    groupId: 'g',
    state: 'Stable',
    instances: [
      { instanceId: 'a', host: 'h1', shards: [0, 2], self: false },
      { instanceId: 'b', host: 'h2', shards: [1], self: true },
    ],
    shards: [
      { shard: 0, owner: 'a', lag: 0, committed: { t: '0' } },
      { shard: 1, owner: 'b', lag: 5, committed: { t: '1' } },
      { shard: 2, owner: 'a', lag: null, committed: { t: '2' } },
      { shard: 3, owner: null, lag: 1, committed: { t: '3' } },
    ],
  });
});

test('not a member yet: no instance is self', (t) => {
  const view = clusterViewOf({ groupId: 'g', state: 'PreparingRebalance', members: [{ instanceId: 'a', memberId: 'm-a', host: 'h', shards: [] }], shards: [] }, null);
  t.false(view.instances[0]!.self);
});

test('embedded: the one instance owns every shard', (t) => {
  t.deepEqual(embeddedClusterView('g', 'solo', 'box', [shard(0, 0), shard(1, 3)]), {
    groupId: 'g',
    state: 'Embedded',
    instances: [{ instanceId: 'solo', host: 'box', shards: [0, 1], self: true }],
    shards: [
      { shard: 0, owner: 'solo', lag: 0, committed: { t: '0' } },
      { shard: 1, owner: 'solo', lag: 3, committed: { t: '1' } },
    ],
  });
});
