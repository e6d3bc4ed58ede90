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
}

export function coPartitionedAssigner(owned: OwnedShards): PartitionAssigner {
  return ({ cluster }) => ({
    name: ASSIGNER_NAME,
    version: VERSION,
    async assign({ members, topics }) {
      const counts = topics.map((t) => cluster.findTopicPartitionMetadata(t).length);
      const shardCount = Math.max(0, ...counts);
      const shards = assignShards(
        members.map((m) => ({ memberId: m.memberId, owned: decodeOwned(m.memberMetadata) })),
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
      const userData = Buffer.from(JSON.stringify({ shards: owned.current() }));
      return { name: ASSIGNER_NAME, metadata: AssignerProtocol.MemberMetadata.encode({ version: VERSION, topics, userData }) };
    },
  });
}

function decodeOwned(metadata: Buffer): number[] {
  try {
    const decoded = AssignerProtocol.MemberMetadata.decode(metadata);
    if (!decoded?.userData?.length) return [];
    const parsed = JSON.parse(decoded.userData.toString('utf8')) as { shards?: unknown };
    return Array.isArray(parsed.shards) ? parsed.shards.filter((s): s is number => Number.isInteger(s)) : [];
  } catch {
    // Metadata from an older or foreign member: it simply gets no stickiness.
    return [];
  }
}

/** Shards in a member assignment: partitions held for every subscribed topic. */
export function shardsOf(assignment: Record<string, number[]>, topics: readonly string[]): number[] {
  const sets = topics.map((t) => new Set(assignment[t] ?? []));
  const all = new Set(sets.flatMap((s) => [...s]));
  return [...all].filter((p) => sets.some((s) => s.has(p))).sort((a, b) => a - b);
}
