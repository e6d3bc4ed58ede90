/**
 * GET /cluster from what the transport reads: the group's members become instances (the one
 * answering marked `self` by its member id) and every shard is named with its owner. Embedded,
 * the one instance owns every shard.
 */
import type { ClusterView } from '../admin/types.ts';
import type { GroupView, ShardPosition } from '../transport/ports.ts';

export function clusterViewOf(group: GroupView, selfMemberId: string | null): ClusterView {
  const owner = new Map<number, string>();
  // A shard claimed twice (only possible mid-rebalance) is shown with the first member in order.
  for (const m of group.members) for (const s of m.shards) if (!owner.has(s)) owner.set(s, m.instanceId);
  return {
    groupId: group.groupId,
    state: group.state,
    instances: group.members.map((m) => ({ instanceId: m.instanceId, host: m.host, shards: m.shards, self: selfMemberId !== null && m.memberId === selfMemberId })),
    shards: group.shards.map((p) => ({ shard: p.shard, owner: owner.get(p.shard) ?? null, lag: p.lag, committed: p.committed })),
  };
}

export function embeddedClusterView(groupId: string, instanceId: string, host: string, positions: readonly ShardPosition[]): ClusterView {
  return {
    groupId,
    state: 'Embedded',
    instances: [{ instanceId, host, shards: positions.map((p) => p.shard), self: true }],
    shards: positions.map((p) => ({ shard: p.shard, owner: instanceId, lag: p.lag, committed: p.committed })),
  };
}
