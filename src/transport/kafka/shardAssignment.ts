/**
 * Co-partitioned, balanced, sticky shard assignment (pure). Shard N = partition N of every input
 * topic, so a member that owns shard N owns partition N of all of them (like Kafka Streams tasks).
 * Members keep the shards they already own up to their fair share, so a join or a leave moves
 * only the shards that must move.
 */
export interface MemberShards {
  memberId: string;
  /** Shards the member owned before this rebalance, as it reported them in its metadata. */
  owned: readonly number[];
}

export function assignShards(members: readonly MemberShards[], shardCount: number): Map<string, number[]> {
  const result = new Map<string, number[]>();
  if (members.length === 0) return result;
  const claimed = new Set<number>();
  // Each shard is kept by at most one previous owner (a zombie may still claim a shard): the first
  // in memberId order keeps it, deterministically on every leader.
  const sorted = [...members].sort((a, b) => a.memberId.localeCompare(b.memberId));
  const previous = new Map<string, number[]>();
  for (const m of sorted) {
    const kept = [...new Set(m.owned)].filter((s) => Number.isInteger(s) && s >= 0 && s < shardCount && !claimed.has(s)).sort((a, b) => a - b);
    kept.forEach((s) => claimed.add(s));
    previous.set(m.memberId, kept);
  }
  const base = Math.floor(shardCount / members.length);
  const extra = shardCount % members.length;
  // The members that already hold the most get the larger quotas: fewer shards move.
  const byHoldings = [...sorted].sort((a, b) => previous.get(b.memberId)!.length - previous.get(a.memberId)!.length);
  const quota = new Map(byHoldings.map((m, i) => [m.memberId, base + (i < extra ? 1 : 0)]));

  const free: number[] = [];
  const assigned = new Set<number>();
  for (const m of sorted) {
    const keep = previous.get(m.memberId)!.slice(0, quota.get(m.memberId)!);
    keep.forEach((s) => assigned.add(s));
    result.set(m.memberId, keep);
  }
  for (let s = 0; s < shardCount; s++) if (!assigned.has(s)) free.push(s);
  for (const m of sorted) {
    const mine = result.get(m.memberId)!;
    while (mine.length < quota.get(m.memberId)! && free.length > 0) mine.push(free.shift()!);
    mine.sort((a, b) => a - b);
  }
  return result;
}

export interface MemberJoin {
  /** The member id of the join; null before the first one. */
  memberId: string | null;
  shards: readonly number[];
}

/**
 * What a member lost and gained from one of its joins to the next. A member that comes back
 * under a new member id was out of the group in between (its session expired while it stalled,
 * or its consumer restarted after a crash): meanwhile other members may have owned any of its
 * shards and moved their state on, so it keeps none of them. All of them are lost, and whatever
 * it is given now is gained, i.e. opened afresh (new epoch, actors recovered from the store).
 */
export function ownershipChange(before: MemberJoin, after: { memberId: string; shards: readonly number[] }): { lost: number[]; gained: number[] } {
  const rejoined = before.memberId !== null && before.memberId !== after.memberId;
  return {
    lost: before.shards.filter((s) => rejoined || !after.shards.includes(s)),
    gained: after.shards.filter((s) => rejoined || !before.shards.includes(s)),
  };
}
