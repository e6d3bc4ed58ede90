/**
 * The transport ports. Kafka/NATS adapters live in ./kafka and ./nats, the embedded (in-process)
 * ones in ./embedded; `src/app/wiring.ts` is the one place that picks them from the settings.
 */
import type { Rules } from '../domain/index.ts';

/** One consumed record of an input topic. */
export interface InputRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: number;
}

/** Records fetched from one input partition; `nextOffset` is what to commit once they are done. */
export interface InputBatch {
  topic: string;
  partition: number;
  records: readonly InputRecord[];
  nextOffset: string;
}

export interface OutputRecord {
  topic: string;
  key: string | null;
  value: string;
  headers?: Record<string, string>;
}

/** A consumed position to commit: `offset` is the next offset to read. */
export interface ConsumedOffset {
  topic: string;
  partition: number;
  offset: string;
}

/**
 * The output of one shard. `commit` makes the records and the consumed offsets visible together
 * or not at all (a Kafka transaction); a newer owner of the shard fences an older one.
 */
export interface ShardSink {
  commit(records: readonly OutputRecord[], offsets: readonly ConsumedOffset[]): Promise<void>;
  close(): Promise<void>;
  /**
   * Present when the sink's transactions are shared and paced (one per instance per commit
   * interval): resolves when the next one is about to begin. A shard that waits for it before it
   * commits puts into that transaction everything it judged until then, instead of handing over
   * what it had first and the rest only after that commit.
   */
  nextTransaction?(): Promise<void>;
}

/**
 * Resolves while the opener of a sink is still the shard's newest owner; rejects with FENCED once
 * a newer owner has claimed the shard (and with UNAVAILABLE when that cannot be told).
 */
export type OwnershipCheck = () => Promise<void>;

export interface BatchControl {
  /** Keeps the group membership alive during long work. */
  heartbeat(): Promise<void>;
  /**
   * Present when the source fetches ahead (Kafka): `onBatch` resolves once the shard has taken
   * the batch, not once it is committed, and the source keeps fetching meanwhile.
   */
  pipelined?: {
    /** Stops fetching the batch's partition; the function returned resumes it (back-pressure). */
    pause(): () => void;
    /** Fetches the batch's partition again from `offset` (what was fetched after it is dropped). */
    seek(offset: string): void;
  };
}

export interface ShardListener {
  /** The shards this member owns now (some may be open already); `generation` grows with every rebalance. */
  onAssigned(shards: readonly number[], generation: number): Promise<void>;
  /** Shards this member lost; it must stop working on them before this resolves. */
  onRevoked(shards: readonly number[]): Promise<void>;
  /**
   * Records of one input partition (= one shard); resolves once they are committed, or with
   * `control.pipelined` once the shard has taken them.
   */
  onBatch(shard: number, batch: InputBatch, control: BatchControl): Promise<void>;
}

export interface ShardPosition {
  shard: number;
  committed: Record<string, string>;
  lag: number | null;
}

export interface EventSource {
  start(listener: ShardListener): Promise<void>;
  stop(): Promise<void>;
  /** `stillOwner` guards what the sink does on its own once a newer owner may exist (see KafkaShardSink). */
  openSink(shard: number, stillOwner: OwnershipCheck): Promise<ShardSink>;
  /**
   * The group's committed offset per input topic for a shard, read after its sink is open (so
   * that the previous owner's last transaction is final): records below it are done already.
   */
  committedOffsets(shard: number): Promise<Record<string, string>>;
  /** Committed offsets and lag of the shards this member owns. */
  positions(shards: readonly number[]): Promise<ShardPosition[]>;
  readonly generation: number;
  readonly memberId: string | null;
  /**
   * Stops fetching, for a graceful stop: what the shards have taken is then committed while the
   * member is still in its group (offsets of a member that left are refused with instance transactions).
   */
  pauseFetching?(): void;
  /** Calls `counted` for every transaction of an instance-wide producer (Kafka's kafka.transactions "instance"). */
  countTransactions?(counted: () => void): void;
  /** When this member last saw its group start a rebalance (epoch ms), if it can tell. */
  readonly rebalanceStartedAt?: number | null;
  isConnected(): boolean;
}

/** Producer for HTTP ingestion: idempotent, acknowledged by all replicas. */
export interface IngestSink {
  send(records: readonly OutputRecord[]): Promise<void>;
  close(): Promise<void>;
}

export interface Alert {
  alertId: string;
  userId: string;
  eventId: string;
  eventType: string;
  decision: 'BLOCK' | 'CHALLENGE';
  riskScore: number;
  reasons: unknown[];
  at: number;
}

export interface AlertBus {
  /** Resolves when the alert is stored (or buffered for later delivery while the bus is down). */
  publish(alert: Alert, traceparent: string | null): Promise<void>;
  close(): Promise<void>;
  isConnected(): boolean;
  /** Alerts waiting for the bus to come back, when the adapter buffers. */
  readonly buffered?: number;
}

/** `risk.alerts.<decision>.<eventType>`, lower case; characters NATS treats specially become `_`. */
export function alertSubject(decision: string, eventType: string): string {
  const token = (s: string) => s.toLowerCase().replace(/[^a-z0-9_-]/g, '_') || '_';
  return `risk.alerts.${token(decision)}.${token(eventType)}`;
}

/**
 * The committed decisions as they become visible (POST /decide, GET /decisions/stream): on Kafka a
 * read_committed follower of the decisions topic (kafka/KafkaDecisionFeed.ts), embedded the decisions
 * appended to the embedded log (embedded/EmbeddedDecisionFeed.ts). Each instance follows every
 * decision of the cluster, from the latest offsets at its start, so it can answer for users whose
 * shard another instance owns.
 */
export interface DecisionRecord {
  /** The record key: the decision's userId. */
  userId: string;
  /** The record value, the decision's JSON. */
  value: string | Buffer;
}

export interface DecisionFeed {
  /** Resolves once records committed from now on are seen (Kafka: the follower joined and has its offsets). */
  start(): Promise<void>;
  /**
   * Called for every committed decision record; returns the unsubscribe function. `active`, when
   * given, says whether the listener wants records right now: a feed may skip reading them while
   * no listener does (the embedded one does).
   */
  onRecord(listener: (record: DecisionRecord) => void, active?: () => boolean): () => void;
  close(): Promise<void>;
}

/** One member of the consumer group as the group coordinator describes it (GET /cluster). */
export interface GroupMember {
  /** The engine's instance id (its Kafka client id without the configured prefix). */
  instanceId: string;
  memberId: string;
  /** The address the coordinator sees the member connect from. */
  host: string;
  /** Shards assigned to it in the current generation; empty while the group rebalances. */
  shards: number[];
}

/** The whole group, read from the brokers by any instance (GET /cluster). */
export interface GroupView {
  groupId: string;
  /** The coordinator's group state (Stable, PreparingRebalance, CompletingRebalance, Empty, Dead). */
  state: string;
  members: GroupMember[];
  /** Every shard of the input topics, owned or not, with its committed offsets and lag. */
  shards: ShardPosition[];
}

/** Reads the group view; an answer may be up to a second old (many consoles poll it). */
export interface ClusterReader {
  read(): Promise<GroupView>;
}

/**
 * The shadow slot's record on the rules log: a shadow started (`rules`), or stopped (`rules`
 * null, `version` the one stopped: kept so that no later shadow takes its number again).
 */
export interface ShadowRecord {
  rules: Rules | null;
  version: number;
  /** When it started or stopped (epoch ms). */
  at: number;
}

/** The log the rules travel on; a position orders records (Kafka: the offset). */
export interface RulesLog {
  /**
   * Reads from the beginning, then follows; resolves once it has passed every record there was
   * at the call. Records of the shadow slot go to `onShadow`, in the same order of positions.
   */
  start(onRules: (rules: Rules, position: bigint) => void, onShadow?: (record: ShadowRecord, position: bigint) => void): Promise<void>;
  /** Resolves once every record appended before the call has been passed to `onRules`. */
  catchUp(): Promise<void>;
  /** Appends durably; resolves with the record's position. */
  append(rules: Rules): Promise<bigint>;
  /** Appends a record of the shadow slot durably; resolves with its position. */
  appendShadow?(record: ShadowRecord): Promise<bigint>;
  close(): Promise<void>;
}
