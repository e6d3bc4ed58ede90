/**
 * `decide`: judges one event against the user's state and the rules, without changing anything.
 * What it established goes into a journal event that `evolve` applies (evolve.ts).
 */
import type { DomainConfig } from './config.ts';
import { stronger, type Decision, type Reason, type ShadowVerdict, type Verdict } from './decision.ts';
import { offsetApplied, recordIndexFor, seenEventId } from './dedupe.ts';
import { isFailedLogin, type RiskEvent } from './event.ts';
import { rateOf } from './fx.ts';
import { matchingHardRules } from './hardRules.ts';
import type { EventAccepted, WindowsClosed, WindowsEmitted } from './journal.ts';
import type { Rules } from './rules.ts';
import { featureInput, type FeatureInput } from './features.ts';
import { featureValues, scoreValues, verdictOf } from './scoring.ts';
import { closedAt, decisionAt, historyLength, isVerdictAt, timeAt } from './history.ts';
import { sourceKey, type UserState } from './state.ts';
import { idleCloseAt, idleDue, planEvent, toAggregate, type WindowAggregate } from './windows.ts';

export interface DecideContext {
  rules: Rules;
  /**
   * A candidate rule set decided beside `rules` on the same event (CONTRACT §8, shadow rules):
   * its verdict is recorded in the decision's `shadow` and changes nothing else.
   */
  shadow?: Rules | null;
  config: DomainConfig;
  /** Processing time: becomes decidedAt and starts the idle-close timer. */
  now: number;
  shard: number;
  traceId: string | null;
}

export type Outcome =
  | { kind: 'accepted'; journal: EventAccepted; decision: Decision; aggregates: WindowAggregate[] }
  /** The same Kafka record again: what was emitted for it the first time, identical; null when no longer retained. */
  | { kind: 'redelivered'; decision: Decision | null; aggregates: WindowAggregate[] }
  /** A new record with an eventId this user already saw: changes nothing, emits nothing. */
  | { kind: 'duplicate' };

/** Forcing reasons (hard rules, escalation) carry this weight: they decide regardless of the score. */
export const FORCING_WEIGHT = 1;

export function decide(state: UserState, event: RiskEvent, ctx: DecideContext): Outcome {
  if (event.userId !== state.userId) throw new Error(`event ${event.eventId} of user ${event.userId} sent to user ${state.userId}`);
  // "topic:partition" of the record, made once: the redelivery check and the journal both need it.
  const source = event.source && sourceKey(event.source.topic, event.source.partition);
  if (source !== null && offsetApplied(state, source, event.source!.offset)) return redelivered(state, event);
  if (seenEventId(state, event.eventId)) return { kind: 'duplicate' };

  const { rules, config, shadow } = ctx;
  // One scan of the history and one computation of the features, for both rule sets when there is a shadow: only the weights differ.
  const input = featureInput(state, event, config);
  const values = featureValues(input, rules, shadow ?? null);
  const scored = scoreValues(values, input, rules, true);
  let shadowVerdict: ShadowVerdict | undefined;
  if (shadow) {
    const { riskScore } = scoreValues(values, input, shadow, false);
    shadowVerdict = { rulesVersion: shadow.rulesVersion, decision: verdictUnder(input, riskScore, shadow, config, null), riskScore };
  }
  const reasons: Reason[] = [];
  const verdict = verdictUnder(input, scored.riskScore, rules, config, reasons);
  reasons.push(...scored.reasons);

  const decision = decisionOf(event, verdict, scored.riskScore, reasons, ctx, shadowVerdict);
  const { placement, closing } = planEvent(state.windows, event.timestamp, scored.riskScore, config);
  const aggregates = closing.map((o) => toAggregate(state.userId, o));
  const journal: EventAccepted = {
    v: 1,
    type: 'accepted',
    event: journaled(event, source, config),
    decision,
    window: placement,
    closed: aggregates,
  };
  return { kind: 'accepted', journal, decision, aggregates };
}

/**
 * What the journal keeps of the event: the amount's currency with it, and the rate decide
 * converted it at when it is not the default currency. One literal per case rather than spreads
 * (which build an object key by key): the keys and their order are the journal's text.
 */
function journaled(event: RiskEvent, source: string | null, config: DomainConfig): EventAccepted['event'] {
  const { kind, amount, currency, deviceId, country } = event;
  const failedLogin = isFailedLogin(event);
  const offset = event.source && event.source.offset;
  const e: EventAccepted['event'] =
    amount === null
      ? { kind, amount, deviceId, country, failedLogin, source, offset }
      : currency === config.defaultCurrency
        ? { kind, amount, currency, deviceId, country, failedLogin, source, offset }
        : { kind, amount, currency, rate: rateOf(config, currency), deviceId, country, failedLogin, source, offset };
  if (event.upstreamRiskScore !== null) e.upstreamRisk = event.upstreamRiskScore;
  return e;
}

function redelivered(state: UserState, event: RiskEvent): Outcome {
  const i = recordIndexFor(state, event);
  if (i >= 0) return { kind: 'redelivered', decision: decisionAt(state.history, i, state.userId), aggregates: closedAt(state.history, i, state.userId) };
  // Its eventId was decided for another record: this one was a duplicate the first time too.
  if (state.history.eventIds.includes(event.eventId)) return { kind: 'duplicate' };
  return { kind: 'redelivered', decision: null, aggregates: [] };
}

/**
 * The verdict of a score under `rules`: thresholds, then hard rules, then escalation of repeated
 * CHALLENGEs (counted among the user's live verdicts: a shadow set has no history of its own).
 * The forcing reasons go to `reasons` when given.
 */
function verdictUnder({ state, event, scan }: FeatureInput, riskScore: number, rules: Rules, config: DomainConfig, reasons: Reason[] | null): Verdict {
  let verdict = verdictOf(riskScore, rules.thresholds);
  for (const rule of matchingHardRules(rules.hardRules, state, event, config, scan)) {
    verdict = stronger(verdict, rule.decision);
    reasons?.push({ code: `HARD_RULE:${rule.id}`, weight: FORCING_WEIGHT, detail: `hard rule ${rule.id} forces ${rule.decision}` });
  }
  if (verdict === 'CHALLENGE') {
    const nth = challengesNear(state, event.timestamp, config.escalation.withinMs) + 1;
    if (nth >= config.escalation.challenges) {
      verdict = 'BLOCK';
      reasons?.push({ code: 'ESCALATED', weight: FORCING_WEIGHT, detail: `CHALLENGE number ${nth} within ${config.escalation.withinMs / 1000} s` });
    }
  }
  return verdict;
}

/** Earlier CHALLENGE verdicts within `withinMs` of event time (escalated ones are BLOCKs and do not count). */
function challengesNear(state: UserState, t: number, withinMs: number): number {
  const h = state.history;
  let n = 0;
  for (let i = 0; i < historyLength(h); i++) if (isVerdictAt(h, i, 'CHALLENGE') && Math.abs(t - timeAt(h, i)) <= withinMs) n++;
  return n;
}

/** Field order is the contract's: a redelivered decision must serialise byte for byte like the first. */
function decisionOf(event: RiskEvent, verdict: Verdict, riskScore: number, reasons: Reason[], ctx: DecideContext, shadow: ShadowVerdict | undefined): Decision {
  const decision: Decision = {
    eventId: event.eventId,
    userId: event.userId,
    // The kind's literal is the same text, interned: 50 stored decisions then share one string.
    eventType: event.kind === event.eventType ? event.kind : event.eventType,
    decision: verdict,
    riskScore,
    reasons,
    modelVersion: ctx.rules.modelVersion,
    rulesVersion: ctx.rules.rulesVersion,
    eventTimestamp: event.timestamp,
    decidedAt: ctx.now,
    shard: ctx.shard,
    traceId: ctx.traceId,
  };
  // Absent rather than undefined: a decision rebuilt from the history has no such key either.
  if (shadow) decision.shadow = shadow;
  return decision;
}

/** When the actor should call closeIdleWindows (processing time); null when nothing will be due. */
export function nextTimerAt(state: UserState, config: DomainConfig): number | null {
  return idleCloseAt(state.windows, config);
}

/**
 * The idle timer at `now` (processing time): the windows of a user quiet for idleCloseMs whose
 * end plus the allowed lateness `now` has passed close (`journal`, null when none does), and
 * `aggregates` are theirs with those of windows closed before and still pending: to be committed,
 * then confirmed with `windowsEmitted`. Null when there is nothing to emit.
 *
 * At least once: an aggregate pending when the engine stopped is emitted again after recovery,
 * so consumers of risk-aggregates dedupe by (userId, windowStart); a window's aggregate is the
 * same every time it is emitted.
 */
export function closeIdleWindows(state: UserState, now: number, config: DomainConfig): { journal: WindowsClosed | null; aggregates: WindowAggregate[] } | null {
  const due = idleDue(state.windows, now, config);
  const pending = state.windows.pending;
  if (!due.length && !pending.length) return null;
  const closed = due.map((o) => toAggregate(state.userId, o));
  const aggregates = [...pending.map((o) => toAggregate(state.userId, o)), ...closed];
  return { journal: closed.length ? { v: 1, type: 'windowsClosed', at: now, closed } : null, aggregates };
}

/** The journal event confirming that these aggregates were committed; null when none of them is pending any more. */
export function windowsEmitted(state: UserState, windowStarts: readonly number[], now: number): WindowsEmitted | null {
  const confirmed = state.windows.pending.filter((o) => windowStarts.includes(o.start)).map((o) => o.start);
  return confirmed.length ? { v: 1, type: 'windowsEmitted', at: now, windowStarts: confirmed } : null;
}

