/**
 * The consumer group as the brokers see it (GET /cluster), readable from any instance: members
 * and their shards from the coordinator (describeGroups), the group's committed offsets
 * (fetchOffsets) and the input topics' end offsets (fetchTopicOffsets), so lag is known for every
 * shard, owned or not. One read costs one describe, one fetchOffsets and one fetchTopicOffsets per
 * input topic; an answer is kept for `cacheMs` and concurrent callers share the read in flight,
 * so consoles polling from many tabs cost about one read a second.
 */
import kafkajs, { type Admin } from 'kafkajs';
import type { KafkaSettings } from '../../config/settings.ts';
import { EngineError, errorMessage } from '../../errors.ts';
import type { ClusterReader, GroupMember, GroupView, ShardPosition } from '../ports.ts';
import { shardsOf } from './CoPartitionedAssigner.ts';
import { committedOffsetsOf, shardPosition, topicOffsetsOf } from './groupOffsets.ts';

const { AssignerProtocol } = kafkajs;

export interface ClusterReaderOptions {
  /** How long an answer is reused. */
  cacheMs?: number;
  /** A read that takes longer fails as UNAVAILABLE (kafkajs retries for far longer than a page waits). */
  timeoutMs?: number;
  now?: () => number;
}

type Settings = Pick<KafkaSettings, 'groupId' | 'clientId'> & {
  topics: { inputs: readonly string[] };
  /** Partitions of the input topics as they are: every one must be in Kafka's answers (groupOffsets.ts). */
  partitions: number;
};

export class KafkaClusterReader implements ClusterReader {
  private cached: { at: number; view: GroupView } | null = null;
  private inFlight: Promise<GroupView> | null = null;
  private readonly cacheMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(
    private readonly admin: Pick<Admin, 'describeGroups' | 'fetchOffsets' | 'fetchTopicOffsets'>,
    private readonly settings: Settings,
    options: ClusterReaderOptions = {},
  ) {
    this.cacheMs = options.cacheMs ?? 1000;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.now = options.now ?? Date.now;
  }

  read(): Promise<GroupView> {
    if (this.cached && this.now() - this.cached.at < this.cacheMs) return Promise.resolve(this.cached.view);
    if (this.inFlight) return this.inFlight;
    const read = this.readGroup().then(
      (view) => {
        this.cached = { at: this.now(), view };
        return view;
      },
      (err: unknown) => {
        throw err instanceof EngineError ? err : new EngineError('UNAVAILABLE', `reading consumer group ${this.settings.groupId} from Kafka failed: ${errorMessage(err)}`, { cause: err });
      },
    );
    // Callers stop waiting at the timeout; the read itself runs on and is still shared until it ends.
    this.inFlight = read.finally(() => (this.inFlight = null));
    this.inFlight.catch(() => undefined);
    return withTimeout(this.inFlight, this.timeoutMs, () => new EngineError('UNAVAILABLE', `reading consumer group ${this.settings.groupId} from Kafka took over ${this.timeoutMs} ms`));
  }

  private async readGroup(): Promise<GroupView> {
    const { groupId, topics } = this.settings;
    const inputs = topics.inputs;
    const all = Array.from({ length: this.settings.partitions }, (_, p) => p);
    const [described, committed, ends] = await Promise.all([
      this.admin.describeGroups([groupId]),
      committedOffsetsOf(this.admin, groupId, inputs.flatMap((topic) => all.map((partition) => ({ topic, partition })))),
      Promise.all(inputs.map(async (t) => [t, await topicOffsetsOf(this.admin, t, all)] as const)),
    ]);
    const group = described.groups.find((g) => g.groupId === groupId);
    const members: GroupMember[] = (group?.members ?? []).map((m) => ({
      instanceId: this.instanceIdOf(m.clientId),
      memberId: m.memberId,
      host: m.clientHost.replace(/^\//, ''),
      shards: assignedShards(m.memberAssignment, inputs),
    }));
    members.sort((a, b) => a.instanceId.localeCompare(b.instanceId) || a.memberId.localeCompare(b.memberId));
    return { groupId, state: group?.state ?? 'Unknown', members, shards: all.map((shard) => shardPosition(shard, inputs, committed, new Map(ends))) };
  }

  /** The engine's Kafka client id is `<kafka.clientId>-<instanceId>` (src/app/wiring.ts). */
  private instanceIdOf(clientId: string): string {
    const prefix = `${this.settings.clientId}-`;
    return clientId.startsWith(prefix) && clientId.length > prefix.length ? clientId.slice(prefix.length) : clientId;
  }
}

/** Shards of a member's assignment; none while the group rebalances (the assignment is empty then). */
export function assignedShards(assignment: Buffer | null | undefined, inputs: readonly string[]): number[] {
  if (!assignment?.length) return [];
  try {
    const decoded = AssignerProtocol.MemberAssignment.decode(assignment);
    return decoded ? shardsOf(decoded.assignment, inputs) : [];
  } catch {
    // Not the consumer protocol (a foreign member of the same group id): it owns no shard.
    return [];
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
