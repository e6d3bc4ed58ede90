/**
 * The live user actors of one shard: spawned on first need (they recover from the store), kept
 * in least-recently-used order, restarted, dropped or passivated; and the one way to ask them,
 * with a deadline, so that a stuck actor cannot hold its shard.
 */
import nact from 'nact';
import { EngineError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { SupervisionDeps } from '../supervision/onCrash.ts';
import { USER_ACTOR_POLICY } from '../supervision/policy.ts';
import { ask, type Reply } from './reply.ts';
import { spawnUserActor, userIdOfActor, type UserActorDeps, type UserActorHooks, type UserMsg } from './UserActor.ts';

export interface LiveUser {
  ref: nact.Ref<UserMsg>;
  lastUsed: number;
  /** When the actor wants `closeIdle` (a window due to close by the clock, or aggregates still to commit), or null. */
  timerAt: number | null;
}

export interface ShardUsersDeps {
  /** The shard's actor: the users' parent. */
  parent: nact.Ref<unknown>;
  actor: UserActorDeps;
  onCrash: UserActorHooks['onCrash'];
  supervision: SupervisionDeps;
  /** How long an ask may wait for its answer. */
  timeoutMs: number;
  log: Logger;
  shard: number;
  onPassivated(reason: 'idle' | 'cap'): void;
}

/** Fails with TIMEOUT after `timeoutMs`: what does not answer must not hold the shard. */
export function withDeadline<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new EngineError('TIMEOUT', `${what} did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export class ShardUsers {
  /** Map order is least recently used first (passivation order). */
  private readonly live = new Map<string, LiveUser>();

  /** One for all the shard's actors (a closure per actor would be kept by it). */
  private readonly hooks: UserActorHooks;

  constructor(private readonly deps: ShardUsersDeps) {
    this.hooks = {
      onCrash: deps.onCrash,
      // A stopped actor leaves, unless its user has a newer one already.
      afterStop: (_state, ctx) => {
        const userId = userIdOfActor(ctx);
        if (this.live.get(userId)?.ref === ctx.self) this.live.delete(userId);
      },
    };
  }

  get size(): number {
    return this.live.size;
  }

  get(userId: string): LiveUser | undefined {
    return this.live.get(userId);
  }

  /** Least recently used first. */
  entries(): [string, LiveUser][] {
    return [...this.live];
  }

  /** The `n` least recently used users. */
  coldest(n: number): string[] {
    return [...this.live.keys()].slice(0, n);
  }

  /** The user's live actor, spawned (recovering from the store) when it has none; marks it used now. */
  touch(userId: string): LiveUser {
    const now = this.deps.supervision.clock();
    const live = this.live.get(userId);
    if (live) {
      // Re-inserted so that Map order stays least-recently-used first.
      this.live.delete(userId);
      live.lastUsed = now;
      this.live.set(userId, live);
      return live;
    }
    const entry: LiveUser = { ref: spawnUserActor(this.deps.parent, userId, this.deps.actor, this.hooks), lastUsed: now, timerAt: null };
    this.live.set(userId, entry);
    return entry;
  }

  /**
   * Replaces a user's actor whose state may be ahead of the store: with `respawn`, by a fresh
   * incarnation that recovers from the store, whose idle timer is due at once (windows it closed
   * and has not seen committed are emitted again by the next tick).
   */
  restart(userId: string, code: string, respawn: boolean): void {
    const live = this.live.get(userId);
    if (!live) return;
    this.live.delete(userId);
    nact.stop(live.ref);
    this.deps.supervision.onVerdict?.(USER_ACTOR_POLICY, { action: 'restart', delayMs: 0, attempt: 1 }, code);
    if (respawn) this.touch(userId).timerAt = this.deps.supervision.clock();
  }

  /** Stops an actor that does not answer; its next message brings a fresh incarnation. */
  drop(userId: string, cause: unknown): void {
    const live = this.live.get(userId);
    if (!live) return;
    this.deps.log.warn({ shard: this.deps.shard, userId, err: errorMessage(cause) }, 'supervision: stopping an unresponsive user actor');
    this.live.delete(userId);
    nact.stop(live.ref);
    this.deps.supervision.onVerdict?.(USER_ACTOR_POLICY, { action: 'stop', attempt: 1 }, 'TIMEOUT');
  }

  /** Stops a user's actor without a snapshot (the user was erased); its next event starts from the store. */
  forget(userId: string): void {
    const live = this.live.get(userId);
    if (!live) return;
    this.live.delete(userId);
    nact.stop(live.ref);
  }

  /** Snapshots (when changed) and stops a user actor; its next event brings it back from the store. */
  async passivate(userId: string, reason: 'idle' | 'cap'): Promise<void> {
    const live = this.live.get(userId);
    if (!live) return;
    await this.ask(live.ref, (reply) => ({ type: 'snapshot', ifChanged: true, reply }));
    this.live.delete(userId);
    nact.stop(live.ref);
    this.deps.onPassivated(reason);
  }

  /** Snapshots every live actor; resolves with how many failed. */
  async snapshotAll(): Promise<number> {
    const results = await Promise.allSettled([...this.live.values()].map((u) => this.ask(u.ref, (reply) => ({ type: 'snapshot', reply }))));
    return results.filter((r) => r.status === 'rejected').length;
  }

  /** Forgets every actor (their parent stops them). */
  forgetAll(): void {
    this.live.clear();
  }

  ask<T>(ref: nact.Ref<UserMsg>, make: (reply: Reply<T>) => UserMsg): Promise<T> {
    return withDeadline(ask<UserMsg, T>((m) => nact.dispatch(ref, m), make), this.deps.timeoutMs, 'user actor');
  }
}
