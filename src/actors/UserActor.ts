/**
 * One nact persistent actor per user: the thin shell around the pure domain. It wires messages to
 * `decide`, journals the outcome through nact's persistence (fenced by the shard's epoch) before
 * replying, folds it in with `evolve`, and snapshots every `snapshotEvery` journal events.
 * Recovery (nact replays snapshot + journal with `ctx.recovering`) uses the same `evolve`.
 */
import nact from 'nact';
import {
  closeIdleWindows,
  decide,
  evolve,
  initialState,
  nextTimerAt,
  toUserView,
  upcastJournal,
  upcastState,
  windowsEmitted,
  type DomainConfig,
  type Outcome,
  type RiskEvent,
  type Rules,
  type UserState,
  type UserView,
  type WindowAggregate,
} from '../domain/index.ts';
import { EngineError, errorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Fence, JournalStore } from '../persistence/JournalStore.ts';
import type { Reply } from './reply.ts';
import type { Faults } from '../app/faults.ts';
import type { Context } from '@opentelemetry/api';
import { endSpan, SpanKind, startChild, userAttributes } from '../telemetry/tracing.ts';

/** `timerAt`: when the actor wants `closeIdle` (processing time), so that quiet users' windows close. */
export interface EventResult {
  outcome: Outcome;
  timerAt: number | null;
}

export type UserMsg =
  /** `trace`: the consume span's context, carried explicitly (actors run outside its async scope). */
  | { type: 'event'; event: RiskEvent; traceId: string | null; trace: Context | null; reply: Reply<EventResult> }
  /** The idle timer: closes due windows; `aggregates` (closed now or still pending) are to be committed, then confirmed. */
  | { type: 'closeIdle'; now: number; reply: Reply<{ aggregates: WindowAggregate[]; timerAt: number | null }> }
  /** These aggregates were committed: they are no longer pending. */
  | { type: 'windowsEmitted'; windowStarts: number[]; now: number; reply: Reply<{ timerAt: number | null }> }
  /** Snapshot now; with `ifChanged`, only when events came since the last snapshot (passivation). */
  | { type: 'snapshot'; ifChanged?: boolean; reply: Reply<void> }
  | { type: 'view'; reply: Reply<UserView> };

export interface UserActorDeps {
  shard: number;
  fence(): Fence;
  rules(): Rules;
  domain: DomainConfig;
  store: JournalStore;
  snapshotEvery: number;
  clock(): number;
  log: Logger;
  /** Called once, when the actor has recovered from the store and handles its first message. */
  onRecovered?(ms: number): void;
  faults?: Faults;
}

function outcomeAttributes(outcome: Outcome): Record<string, string | number> {
  const d = outcome.kind === 'duplicate' ? null : outcome.decision;
  return {
    'risk.outcome': outcome.kind,
    ...(d ? { 'risk.decision': d.decision, 'risk.score': d.riskScore, 'risk.rules_version': d.rulesVersion } : {}),
  };
}

/** nact actor names allow only a few characters; base64url keeps any userId reversible. */
export const actorName = (userId: string): string => `u.${Buffer.from(userId, 'utf8').toString('base64url')}`;
export const persistenceKey = (userId: string): string => `user:${userId}`;

type Ctx = { recovering?: boolean; persist(msg: unknown, tags?: string[], ...props: unknown[]): Promise<void> };

export interface UserActorHooks {
  onCrash(msg: unknown, err: unknown, ctx: never): Promise<symbol> | symbol;
  afterStop(): void;
}

export function spawnUserActor(parent: nact.Ref<unknown>, userId: string, deps: UserActorDeps, hooks: UserActorHooks): nact.Ref<UserMsg> {
  const key = persistenceKey(userId);
  const spawnedAt = deps.clock();
  let recovered = false;
  // Sequence number of the last snapshot this incarnation took (-1: unknown, take the next one).
  let snapshotSeq = -1;

  async function persistAndFold(state: UserState, journal: unknown, ctx: Ctx, trace?: Context | null): Promise<UserState> {
    const span = startChild(trace, 'risk.journal', SpanKind.INTERNAL, { 'risk.shard': deps.shard, 'risk.sequence_number': state.sequenceNumber + 1 });
    try {
      deps.faults?.beforePersist();
      await ctx.persist(journal, [], deps.fence());
      endSpan(span);
    } catch (err) {
      endSpan(span, err);
      if (errorCode(err) === 'FENCED') throw err;
      throw new EngineError('UNAVAILABLE', `journal write for user ${userId} failed: ${(err as Error).message}`, { cause: err });
    }
    const next = evolve(state, journal as never, deps.domain);
    if (next.sequenceNumber % deps.snapshotEvery === 0) await snapshot(next, false);
    return next;
  }

  async function snapshot(state: UserState, strict: boolean): Promise<void> {
    try {
      await deps.store.saveSnapshot({ key, sequenceNumber: state.sequenceNumber, data: state, createdAt: deps.clock() }, deps.fence());
      snapshotSeq = state.sequenceNumber;
    } catch (err) {
      // A missed periodic snapshot only makes the next recovery longer; the journal has it all.
      if (strict) throw err;
      deps.log.warn({ err, userId }, 'snapshot failed');
    }
  }

  async function behaviour(state: UserState, msg: UserMsg, ctx: Ctx): Promise<UserState> {
    if (ctx.recovering) return evolve(state, upcastJournal(msg), deps.domain);
    if (!recovered) {
      recovered = true;
      deps.onRecovered?.(deps.clock() - spawnedAt);
    }
    try {
      switch (msg.type) {
        case 'event': {
          const span = startChild(msg.trace, 'risk.decide', SpanKind.INTERNAL, { 'risk.shard': deps.shard, ...userAttributes(userId) });
          let outcome: Outcome;
          try {
            deps.faults?.beforeDecide(msg.event);
            outcome = decide(state, msg.event, {
              rules: deps.rules(),
              config: deps.domain,
              now: deps.clock(),
              shard: deps.shard,
              traceId: msg.traceId,
            });
          } catch (err) {
            endSpan(span, err);
            throw new EngineError('POISON', `deciding event ${msg.event.eventId} failed: ${(err as Error).message}`, { cause: err });
          }
          span?.span.setAttributes(outcomeAttributes(outcome));
          try {
            const next = outcome.kind === 'accepted' ? await persistAndFold(state, outcome.journal, ctx, span?.ctx) : state;
            endSpan(span);
            msg.reply.resolve({ outcome, timerAt: nextTimerAt(next, deps.domain) });
            return next;
          } catch (err) {
            endSpan(span, err);
            throw err;
          }
        }
        case 'closeIdle': {
          const closed = closeIdleWindows(state, msg.now, deps.domain);
          const next = closed?.journal ? await persistAndFold(state, closed.journal, ctx) : state;
          msg.reply.resolve({ aggregates: closed?.aggregates ?? [], timerAt: nextTimerAt(next, deps.domain) });
          return next;
        }
        case 'windowsEmitted': {
          const journal = windowsEmitted(state, msg.windowStarts, msg.now);
          const next = journal ? await persistAndFold(state, journal, ctx) : state;
          msg.reply.resolve({ timerAt: nextTimerAt(next, deps.domain) });
          return next;
        }
        case 'snapshot':
          if (state.sequenceNumber > 0 && !(msg.ifChanged && snapshotSeq === state.sequenceNumber)) await snapshot(state, true);
          msg.reply.resolve();
          return state;
        case 'view':
          msg.reply.resolve(toUserView(state, deps.domain.history, deps.domain.defaultCurrency));
          return state;
      }
    } catch (err) {
      msg.reply.reject(err);
      // Rethrown so that the supervision policy decides (reset replays the journal: a failed
      // persist leaves nact's sequence number ahead of the store).
      throw err;
    }
  }

  // nact's typings cannot follow a state type through spawnPersistent; the props are as documented.
  const props = { initialState: initialState(userId), snapshotDecoder: upcastState, onCrash: hooks.onCrash, afterStop: hooks.afterStop };
  return nact.spawnPersistent(parent, behaviour as never, key, actorName(userId), props as never) as nact.Ref<UserMsg>;
}
