/**
 * The live engine's per-event recipe as one pure function: decide the event against the user's
 * state, and fold what was established into the state when it was accepted. The user actor runs
 * the same two steps for each event of a round (src/actors/UserActor.ts); replays outside the
 * engine (backtest, rebuild: src/ops/) call this, so a replayed state is folded exactly as a
 * live one.
 */
import { decide, type DecideContext, type Outcome } from './decide.ts';
import { evolve } from './evolve.ts';
import type { RiskEvent } from './event.ts';
import type { UserState } from './state.ts';

export interface Folded {
  outcome: Outcome;
  /** The state after the event: the same object when the event changed nothing (a duplicate or redelivery). */
  state: UserState;
}

export function foldEvent(state: UserState, event: RiskEvent, ctx: DecideContext): Folded {
  const outcome = decide(state, event, ctx);
  return { outcome, state: outcome.kind === 'accepted' ? evolve(state, outcome.journal, ctx.config) : state };
}
