/**
 * kafkajs partition assigner that deals whole shards (partition N of every subscribed topic) to
 * members, using `assignShards`. Each member reports the shards it owns in its metadata userData,
 * which is what makes the assignment sticky across rebalances.
 */
import kafkajs, { type PartitionAssigner } from 'kafkajs';
import { assignShards } from './shardAssignment.ts';

const { AssignerProtocol } = kafkajs;

export const ASSIGNER_NAME = 'risk-copartitioned';
const VERSION = 1;

/** Where the assigner reads the shards this member owns right now. */
export interface OwnedShards {
  current(): readonly number[];
  /**
   * With instance transactions, the member's transactional id: reported too, so that the next
   * owner of a shard it gives up sees that it is alive and leaves its transactions alone.
   */
  transactionalId?: string;
}

/** What a member reports in its metadata's userData. */
export interface MemberData {
  shards: number[];
  transactionalId: string | null;
}

export function coPartitionedAssigner(owned: OwnedShards): PartitionAssigner {
  return ({ cluster }) => ({
    name: ASSIGNER_NAME,
    version: VERSION,
    async assign({ members, topics }) {
      const counts = topics.map((t) => cluster.findTopicPartitionMetadata(t).length);
      const shardCount = Math.max(0, ...counts);
      const shards = assignShards(
        members.map((m) => ({ memberId: m.memberId, owned: memberDataOf(m.memberMetadata).shards })),
        shardCount,
      );
      return members.map(({ memberId }) => {
        const mine = shards.get(memberId) ?? [];
        const assignment: Record<string, number[]> = {};
        topics.forEach((t, i) => {
          assignment[t] = mine.filter((s) => s < counts[i]!);
        });
        return {
          memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: VERSION, assignment, userData: Buffer.alloc(0) }),
        };
      });
    },
    protocol({ topics }) {
      const userData = Buffer.from(JSON.stringify({ shards: owned.current(), ...(owned.transactionalId ? { transactionalId: owned.transactionalId } : {}) }));
      return { name: ASSIGNER_NAME, metadata: AssignerProtocol.MemberMetadata.encode({ version: VERSION, topics, userData }) };
    },
  });
}

/** A member's metadata as this assigner wrote it (a group member's `memberMetadata`). */
export function memberDataOf(metadata: Buffer): MemberData {
  try {
    const decoded = AssignerProtocol.MemberMetadata.decode(metadata);
    if (!decoded?.userData?.length) return { shards: [], transactionalId: null };
    const parsed = JSON.parse(decoded.userData.toString('utf8')) as { shards?: unknown; transactionalId?: unknown };
    return {
      shards: Array.isArray(parsed.shards) ? parsed.shards.filter((s): s is number => Number.isInteger(s)) : [],
      transactionalId: typeof parsed.transactionalId === 'string' ? parsed.transactionalId : null,
    };
  } catch {
    // Metadata from an older or foreign member: it simply gets no stickiness.
    return { shards: [], transactionalId: null };
  }
}

/** Shards in a member assignment: partitions held for every subscribed topic. */
export function shardsOf(assignment: Record<string, number[]>, topics: readonly string[]): number[] {
  const sets = topics.map((t) => new Set(assignment[t] ?? []));
  const all = new Set(sets.flatMap((s) => [...s]));
  return [...all].filter((p) => sets.some((s) => s.has(p))).sort((a, b) => a - b);
}
