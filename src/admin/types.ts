/** What the admin API needs from the engine (the Engine class has it; unit tests stub it). */
import type { Registry } from 'prom-client';
import type { Rules, UserStateView } from '../domain/index.ts';
import type { EventSource, IngestSink } from '../transport/ports.ts';

export interface AdminEngine {
  readonly metrics: { readonly registry: Pick<Registry, 'metrics' | 'contentType'> };
  readiness(): Promise<{ ready: boolean; reasons: string[] }>;
  userState(userId: string): Promise<UserStateView | null>;
  snapshotUser(userId: string): Promise<void>;
  ownedShards(): number[];
  liveShard(shard: number): Promise<{ readonly liveActors: number } | null>;
  readonly parts: { readonly ingest: IngestSink; readonly source: Pick<EventSource, 'positions' | 'generation'> };
  /** GET /cluster; without it the route answers 503. */
  clusterView?(): Promise<ClusterView>;
}

/** The rules as the admin API reads and changes them (a RulesChannel from src/app/rules/channel.ts). */
export interface RulesControl {
  current(): Rules;
  /** Validated candidate in, the applied rules (version bumped) out. */
  update(candidate: Rules): Promise<Rules>;
  /** Shadow rules (CONTRACT §8); without them the /rules/shadow routes answer 503. */
  shadow?(): { rules: Rules; since: number } | null;
  updateShadow?(candidate: Rules): Promise<{ rules: Rules; since: number }>;
  stopShadow?(): Promise<{ rules: Rules; since: number } | null>;
  shadowReport?(version?: number): Promise<ShadowReport | null>;
}

/** GET /rules/shadow/report (CONTRACT §8): counted over the cluster since the shadow started. */
export interface ShadowReport {
  shadowVersion: number;
  since: number | null;
  events: number;
  agree: number;
  /** "LIVE->SHADOW" -> events. */
  disagreements: Record<string, number>;
}

/** GET /cluster: the consumer group's instances and every shard's owner and lag. */
export interface ClusterView {
  groupId: string;
  /** The group coordinator's state (Stable, PreparingRebalance, ...); "Embedded" without Kafka. */
  state: string;
  instances: { instanceId: string; host: string; shards: number[]; self: boolean }[];
  shards: { shard: number; owner: string | null; lag: number | null; committed: Record<string, string> }[];
}
