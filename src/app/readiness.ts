/**
 * Whether the shards of an instance make progress, for GET /readyz. A shard is stuck when its lag
 * stays above zero for `stuckAfterMs` without a commit. Lag is only known when asked for (each
 * probe), so the watch counts from the first probe that saw it above zero: a shard that had
 * nothing to do for an hour and just got a record is not stuck, and one whose lag nobody saw
 * drop is stuck from `stuckAfterMs` after it was first seen.
 */

export interface Readiness {
  ready: boolean;
  reasons: string[];
}

export interface ShardLag {
  shard: number;
  lag: number | null;
}

export class StuckWatch {
  /** Per shard: when its lag was first seen above zero, since it was last seen at zero. */
  private readonly laggingSince = new Map<number, number>();

  constructor(private readonly stuckAfterMs: number) {}

  /**
   * Takes the lag of the owned shards as read `now`; answers a reason for each stuck one.
   * `lastCommitAt` is when the shard last committed (null: not open, so never).
   */
  observe(now: number, lags: readonly ShardLag[], lastCommitAt: (shard: number) => number | null): string[] {
    const reasons: string[] = [];
    const owned = new Set<number>();
    for (const { shard, lag } of lags) {
      owned.add(shard);
      if (lag === null) continue; // unknown: neither progress nor its absence
      if (lag === 0) {
        this.laggingSince.delete(shard);
        continue;
      }
      const since = this.laggingSince.get(shard) ?? now;
      this.laggingSince.set(shard, since);
      const idleMs = now - Math.max(since, lastCommitAt(shard) ?? -Infinity);
      if (idleMs >= this.stuckAfterMs) reasons.push(`shard ${shard} is stuck: lag ${lag} and no commit for ${Math.round(idleMs / 1000)} s`);
    }
    for (const shard of this.laggingSince.keys()) if (!owned.has(shard)) this.laggingSince.delete(shard);
    return reasons;
  }
}

/** `work`, or a rejection once `ms` have passed (a probe must answer even when Kafka does not). */
export function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
