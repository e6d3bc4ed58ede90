/**
 * Supervision policies as data, and the small functions that apply them. nact's `onCrash` only
 * chooses an action (reset, stop, escalate...) with no backoff and no restart limit; these add
 * both, in one place: one-for-one restart after an exponential, jittered delay, at most
 * `maxRestarts` within `withinMs`, then escalation to the parent.
 */
export interface Backoff {
  minMs: number;
  maxMs: number;
  factor: number;
  /** 0..1: the share of the delay that is random, so that many actors do not retry in step. */
  jitter: number;
}

export interface RestartPolicy {
  name: string;
  strategy: 'one-for-one';
  backoff: Backoff;
  maxRestarts: number;
  withinMs: number;
  /** What happens past the limit. */
  onLimit: 'escalate' | 'stop';
}

export interface PoisonPolicy {
  /** Failed attempts of one event before it is quarantined to the DLQ with code POISON. */
  maxAttempts: number;
}

export const USER_ACTOR_POLICY: RestartPolicy = {
  name: 'user-actor',
  strategy: 'one-for-one',
  backoff: { minMs: 10, maxMs: 2000, factor: 2, jitter: 0.2 },
  maxRestarts: 10,
  withinMs: 60_000,
  onLimit: 'escalate',
};

export const SHARD_POLICY: RestartPolicy = {
  name: 'shard-supervisor',
  strategy: 'one-for-one',
  backoff: { minMs: 200, maxMs: 10_000, factor: 2, jitter: 0.2 },
  maxRestarts: 5,
  withinMs: 300_000,
  onLimit: 'escalate',
};

/**
 * An engine worker process of `start --workers N` that died unasked (crash, OOM kill, fatal exit):
 * the primary forks it again under the same instance id. Seconds of backoff, since a worker that
 * dies at once (a dependency down) would otherwise flap through group rebalances; past the limit
 * the primary drains the others and exits non-zero, so that the orchestrator sees the failure.
 */
export const WORKER_POLICY: RestartPolicy = {
  name: 'engine-worker',
  strategy: 'one-for-one',
  backoff: { minMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.2 },
  maxRestarts: 5,
  withinMs: 300_000,
  onLimit: 'escalate',
};

/** Retrying a batch while a dependency (Redis, Kafka) is down. */
export const DEPENDENCY_BACKOFF: Backoff = { minMs: 100, maxMs: 5000, factor: 2, jitter: 0.2 };

export const POISON_POLICY: PoisonPolicy = { maxAttempts: 3 };

/** Delay before attempt `attempt` (1-based) of a restart; `random` in [0, 1). */
export function backoffDelay(b: Backoff, attempt: number, random: number): number {
  const raw = Math.min(b.maxMs, b.minMs * b.factor ** Math.max(0, attempt - 1));
  return Math.round(raw * (1 - b.jitter) + raw * b.jitter * random);
}

export type SupervisionVerdict = { action: 'restart'; delayMs: number; attempt: number } | { action: 'escalate' | 'stop'; attempt: number };

/** Failures of one supervised actor within the policy's sliding window. */
export class RestartWindow {
  private failures: number[] = [];

  constructor(private readonly policy: RestartPolicy) {}

  onFailure(now: number, random: number): SupervisionVerdict {
    this.failures = this.failures.filter((t) => now - t < this.policy.withinMs);
    this.failures.push(now);
    const attempt = this.failures.length;
    if (attempt > this.policy.maxRestarts) return { action: this.policy.onLimit, attempt };
    return { action: 'restart', delayMs: backoffDelay(this.policy.backoff, attempt, random), attempt };
  }

  get recentFailures(): number {
    return this.failures.length;
  }
}
