/**
 * One nact actor per user: the thin shell around the pure domain. A round's message carries all
 * of the user's events of the round; the actor decides and folds them in one synchronous pass and
 * answers once with the outcomes and the journal entries, which the shard writes for all of its
 * users in one fenced store call before the Kafka transaction. The actor does not persist: it
 * recovers from the store on its first message (recoverUser, the recipe reads of users use too),
 * and again after a reset, as its state is then `null` (not recovered) once more.
 */
import nact from 'nact';
import {
  closeIdleWindows,
  decide,
  evolve,
  nextTimerAt,
  toUserView,
  windowsEmitted,
  type DecideContext,
  type DomainConfig,
  type Outcome,
  type RiskEvent,
  type Rules,
  type UserState,
  type UserView,
  type WindowAggregate,
} from '../domain/index.ts';
import { EngineError, errorMessage } from '../errors.ts';
import type { Fence, JournalEntry, JournalStore } from '../persistence/JournalStore.ts';
import type { Reply } from './reply.ts';
import { persistenceKey, recoverUser } from './recoverUser.ts';

/** One event of a round, with the trace id its decision carries. */
export interface RoundItem {
  event: RiskEvent;
  traceId: string | null;
}

/**
 * What a user's events of one round did: an outcome per event (in order), the journal entries of
 * the accepted ones (the shard writes every user's entries of the round in one store call), the
 * state after them (immutable: the shard snapshots it once the round is committed) and when the
 * actor wants `closeIdle` (processing time).
 */
export interface UserRound {
  outcomes: Outcome[];
  entries: JournalEntry[];
  state: UserState;
  timerAt: number | null;
}

export interface IdleClose {
  aggregates: WindowAggregate[];
  entries: JournalEntry[];
  state: UserState;
  timerAt: number | null;
}

/** Deciding one event threw: the shard counts attempts per event and quarantines it past the poison policy. */
export class PoisonError extends EngineError {
  constructor(readonly eventId: string, cause: unknown) {
    super('POISON', `deciding event ${eventId} failed: ${errorMessage(cause)}`, { cause });
    this.name = 'PoisonError';
  }
}

export type UserMsg =
  /**
   * A round: the user's events of it, decided and folded in one go, without awaiting anything.
   * The state moves ahead of the store until the shard has journaled the entries; when that
   * fails the shard stops the actor, and its next incarnation recovers from the store.
   */
  | { type: 'judge'; items: readonly RoundItem[]; now: number; reply: Reply<UserRound> }
  /**
   * The idle timer: closes due windows; `aggregates` (closed now or still pending) are to be
   * committed, then confirmed. The close is journaled by the shard like a round's entries.
   */
  | { type: 'closeIdle'; now: number; reply: Reply<IdleClose> }
  /** These aggregates were committed: they are no longer pending (journaled by the shard). */
  | { type: 'windowsEmitted'; windowStarts: number[]; now: number; reply: Reply<IdleClose> }
  /** Snapshot now; with `ifChanged`, only when events came since the last snapshot (passivation). */
  | { type: 'snapshot'; ifChanged?: boolean; reply: Reply<void> }
  | { type: 'view'; reply: Reply<UserView> };

export interface UserActorDeps {
  shard: number;
  fence(): Fence;
  rules(): Rules;
  /** The shadow rule set decided beside the live one (CONTRACT §8), null while none runs. */
  shadowRules?(): Rules | null;
  domain: DomainConfig;
  store: JournalStore;
  clock(): number;
  /** Called once, when the actor has recovered from the store and handles its first message. */
  onRecovered?(ms: number): void;
  /** Fault injection (tests): called before each `decide`, throws to simulate a poison event. */
  beforeDecide?(event: RiskEvent): void;
}

/** nact actor names allow only a few characters; base64url keeps any userId reversible. */
export const actorName = (userId: string): string => `u.${Buffer.from(userId, 'utf8').toString('base64url')}`;
/** The userId of `actorName(userId)` for a userId without lone surrogates (UTF-8 cannot hold those). */
const userIdOf = (name: string): string => Buffer.from(name.slice(2), 'base64url').toString('utf8');

type Ctx = { self: object; name: string };
/** Not recovered yet: the actor reads its state from the store on its next message. */
type Unrecovered = null;

export interface UserActorHooks {
  onCrash(msg: unknown, err: unknown, ctx: never): Promise<symbol> | symbol;
  /** nact's afterStop: the actor's last state (null when it never recovered) and its context (`self`: the ref spawnUserActor returned; userIdOfActor reads its user). */
  afterStop(state: UserState | Unrecovered, ctx: { self: nact.Ref<UserMsg>; name: string }): void;
}

/*
 * What a live actor holds is multiplied by up to 100,000 per instance, so it holds nothing of its
 * own beyond nact's actor and its state: the behaviour is one function per UserActorDeps (per
 * shard), the journal key comes from the state's userId, the userId of an actor not recovered yet
 * from its name, and the little an incarnation remembers besides its state is kept by its
 * reference in the weak maps below, and only while there is something to remember. (A closure
 * per actor was some 700 B: each named function also carries its name as an own property under
 * tsx.)
 */

/** Actors not yet past their first recovery, with when they were spawned (`onRecovered`). */
const recovering = new WeakMap<object, number>();
/** The userIds that an actor name cannot spell back (lone surrogates: UTF-8 cannot hold them). */
const unnamedUsers = new WeakMap<object, string>();
/** Sequence number of the last snapshot an incarnation took (absent: none yet, take the next one). */
const snapshotSeqs = new WeakMap<object, number>();
type Behaviour = (state: UserState | Unrecovered, msg: UserMsg, ctx: Ctx) => Promise<UserState>;
const behaviours = new WeakMap<UserActorDeps, Behaviour>();
/** nact's initial state, again after a reset: not recovered. One function for all actors. */
const unrecovered = (): Unrecovered => null;

function behaviourOf(deps: UserActorDeps): Behaviour {
  let behaviour = behaviours.get(deps);
  if (!behaviour) behaviours.set(deps, (behaviour = (state, msg, ctx) => handle(deps, state, msg, ctx)));
  return behaviour;
}

async function handle(deps: UserActorDeps, current: UserState | Unrecovered, msg: UserMsg, ctx: Ctx): Promise<UserState> {
  try {
    const state = current ?? (await recover(deps, ctx));
    switch (msg.type) {
      case 'judge': {
        const key = persistenceKey(state.userId);
        const judging: DecideContext = { rules: deps.rules(), shadow: deps.shadowRules?.() ?? null, config: deps.domain, now: msg.now, shard: deps.shard, traceId: null };
        const outcomes: Outcome[] = [];
        const entries: JournalEntry[] = [];
        let next = state;
        for (const item of msg.items) {
          judging.traceId = item.traceId;
          let outcome: Outcome;
          try {
            deps.beforeDecide?.(item.event);
            outcome = decide(next, item.event, judging);
          } catch (err) {
            throw new PoisonError(item.event.eventId, err);
          }
          if (outcome.kind === 'accepted') {
            next = evolve(next, outcome.journal, deps.domain);
            entries.push({ key, sequenceNumber: next.sequenceNumber, data: outcome.journal, createdAt: msg.now });
          }
          outcomes.push(outcome);
        }
        msg.reply.resolve({ outcomes, entries, state: next, timerAt: nextTimerAt(next, deps.domain) });
        return next;
      }
      case 'closeIdle': {
        const closed = closeIdleWindows(state, msg.now, deps.domain);
        const next = closed?.journal ? evolve(state, closed.journal, deps.domain) : state;
        const entries = closed?.journal ? [{ key: persistenceKey(state.userId), sequenceNumber: next.sequenceNumber, data: closed.journal, createdAt: msg.now }] : [];
        msg.reply.resolve({ aggregates: closed?.aggregates ?? [], entries, state: next, timerAt: nextTimerAt(next, deps.domain) });
        return next;
      }
      case 'windowsEmitted': {
        const journal = windowsEmitted(state, msg.windowStarts, msg.now);
        const next = journal ? evolve(state, journal, deps.domain) : state;
        const entries = journal ? [{ key: persistenceKey(state.userId), sequenceNumber: next.sequenceNumber, data: journal, createdAt: msg.now }] : [];
        msg.reply.resolve({ aggregates: [], entries, state: next, timerAt: nextTimerAt(next, deps.domain) });
        return next;
      }
      case 'snapshot':
        if (state.sequenceNumber > 0 && !(msg.ifChanged && snapshotSeqs.get(ctx.self) === state.sequenceNumber)) {
          await deps.store.saveSnapshot({ key: persistenceKey(state.userId), sequenceNumber: state.sequenceNumber, data: state, createdAt: deps.clock() }, deps.fence());
          snapshotSeqs.set(ctx.self, state.sequenceNumber);
        }
        msg.reply.resolve();
        return state;
      case 'view':
        msg.reply.resolve(toUserView(state, deps.domain.history, deps.domain.defaultCurrency));
        return state;
    }
  } catch (err) {
    msg.reply.reject(err);
    // Rethrown so that the supervision policy decides: a reset recovers from the store, which
    // also drops the part of a round that was folded in before the failing event. A recovery
    // that failed (the store unavailable) is tried again by the next message after the reset.
    throw err;
  }
}

/** The user of an actor spawnUserActor spawned, from its context. */
export const userIdOfActor = (ctx: { self: object; name: string }): string => unnamedUsers.get(ctx.self) ?? userIdOf(ctx.name);

async function recover(deps: UserActorDeps, ctx: Ctx): Promise<UserState> {
  const state = await recoverUser(deps.store, userIdOfActor(ctx), deps.domain);
  const spawnedAt = recovering.get(ctx.self);
  if (spawnedAt !== undefined) {
    recovering.delete(ctx.self);
    deps.onRecovered?.(deps.clock() - spawnedAt);
  }
  return state;
}

export function spawnUserActor(parent: nact.Ref<unknown>, userId: string, deps: UserActorDeps, hooks: UserActorHooks): nact.Ref<UserMsg> {
  const spawnedAt = deps.clock();
  const name = actorName(userId);
  // nact's typings cannot follow a state type through spawn; the props are as documented.
  const props = { initialStateFunc: unrecovered, onCrash: hooks.onCrash, afterStop: hooks.afterStop };
  const ref = nact.spawn(parent, behaviourOf(deps) as never, name, props as never) as nact.Ref<UserMsg>;
  // nact handles the first message on a later turn of the event loop: these are set before it.
  if (userIdOf(name) !== userId) unnamedUsers.set(ref, userId);
  recovering.set(ref, spawnedAt);
  return ref;
}
