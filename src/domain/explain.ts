/**
 * Explaining a decision (CONTRACT §7): the event is decided again, with the pure `decide`, from
 * the user's state just before it and under the rules it was decided with, and the parts of the
 * score are laid out: each feature's value, its weight and their product, which hard rules
 * matched. Pure: the shell rebuilds the state and finds the rules (src/app/decisions/explain.ts).
 *
 * The event is rebuilt from its journal entry, which holds what deciding read of it: the amount
 * with its currency and the rate it was converted at, device, country, whether a login failed,
 * the upstream score, and (in the decision) eventId, eventType and event time. The rate is put
 * back into the rate table for the replay, so a later change of `domain.fxRates` does not change
 * what the replay sees of this event.
 */
import type { DomainConfig } from './config.ts';
import { decide } from './decide.ts';
import type { Decision, Reason, Verdict } from './decision.ts';
import type { RiskEvent } from './event.ts';
import { FEATURES } from './features.ts';
import { matchingHardRules } from './hardRules.ts';
import type { EventAccepted } from './journal.ts';
import type { Rules } from './rules.ts';
import type { UserState } from './state.ts';
import { toUserView, type UserView } from './view.ts';

export interface Contribution {
  feature: string;
  weight: number;
  value: number;
  /** weight × value: the feature's part of the logit. */
  contribution: number;
}

export interface Explanation {
  /** The decision as it was made (and stored). */
  decision: Decision;
  /** The same event decided again; null when the state before no longer takes it as new (it is not the state before it). */
  replayed: { decision: Verdict; riskScore: number; reasons: Reason[] } | null;
  /** The replay gave the stored verdict, score and reasons. */
  reproduced: boolean;
  rulesVersion: number;
  /** Every feature's value for this event (0..1), weighted or not. */
  features: Record<string, number>;
  /** The weighted features, largest contribution first. */
  contributions: Contribution[];
  bias: number;
  /** bias + the sum of the contributions; riskScore = 1 / (1 + e^-logit), rounded to 4 places. */
  logit: number;
  hardRules: { id: string; decision: 'BLOCK' | 'CHALLENGE'; matched: boolean }[];
  stateBefore: { sequenceNumber: number; profile: UserView['profile'] };
}

/** The event as decide saw it, rebuilt from its journal entry. */
export function eventOfJournal(entry: EventAccepted, config: Pick<DomainConfig, 'defaultCurrency'>): RiskEvent {
  const { event: e, decision: d } = entry;
  return {
    eventId: d.eventId,
    userId: d.userId,
    eventType: d.eventType,
    kind: e.kind,
    timestamp: d.eventTimestamp,
    amount: e.amount,
    currency: e.currency ?? config.defaultCurrency,
    deviceId: e.deviceId,
    // Not journaled, and nothing in deciding reads it.
    ip: null,
    country: e.country,
    upstreamRiskScore: e.upstreamRisk ?? null,
    // Deciding reads only whether a login failed.
    eventData: e.failedLogin ? { success: false } : null,
    source: sourceOf(e.source, e.offset),
  };
}

/** "topic:partition" (a topic name has no colon) and the offset back into an EventSource. */
function sourceOf(source: string | null, offset: string | null): RiskEvent['source'] {
  if (source === null || offset === null) return null;
  const at = source.lastIndexOf(':');
  const partition = Number(source.slice(at + 1));
  if (at < 0 || !Number.isSafeInteger(partition)) return null;
  return { topic: source.slice(0, at), partition, offset };
}

/** The rate table the event was decided with, as far as it matters: its own currency at its journaled rate. */
function configAsDecided(entry: EventAccepted, config: DomainConfig): DomainConfig {
  const { currency, rate } = entry.event;
  if (currency === undefined || rate === undefined || currency === config.defaultCurrency) return config;
  return { ...config, fxRates: { ...config.fxRates, [currency]: rate } };
}

/**
 * Decides `entry`'s event again from `stateBefore` (the user's state after the entry before it)
 * under `rules` (the version the decision names), and explains the score.
 */
export function explainDecision(stateBefore: UserState, entry: EventAccepted, rules: Rules, config: DomainConfig): Explanation {
  const stored = entry.decision;
  const cfg = configAsDecided(entry, config);
  const event = eventOfJournal(entry, cfg);
  const outcome = decide(stateBefore, event, { rules, config: cfg, now: stored.decidedAt, shard: stored.shard, traceId: stored.traceId });
  const replayed = outcome.kind === 'accepted' ? { decision: outcome.decision.decision, riskScore: outcome.decision.riskScore, reasons: outcome.decision.reasons } : null;

  const features: Record<string, number> = {};
  const contributions: Contribution[] = [];
  let logit = rules.bias;
  for (const f of FEATURES) {
    const value = f.value(stateBefore, event, cfg);
    features[f.name] = value;
    const weight = rules.weights[f.name];
    if (weight === undefined || weight === 0) continue;
    // The product exactly as scoring sums it.
    const contribution = weight * value;
    logit += contribution;
    contributions.push({ feature: f.name, weight, value, contribution });
  }
  contributions.sort((a, b) => b.contribution - a.contribution);
  const matched = new Set(matchingHardRules(rules.hardRules, stateBefore, event, cfg).map((r) => r.id));

  return {
    decision: stored,
    replayed,
    reproduced: replayed !== null && sameDecision(replayed, stored),
    rulesVersion: rules.rulesVersion,
    features,
    contributions,
    bias: rules.bias,
    logit,
    hardRules: rules.hardRules.map((r) => ({ id: r.id, decision: r.decision, matched: matched.has(r.id) })),
    stateBefore: { sequenceNumber: stateBefore.sequenceNumber, profile: toUserView(stateBefore, { events: 0, decisions: 0 }, config.defaultCurrency).profile },
  };
}

function sameDecision(replayed: NonNullable<Explanation['replayed']>, stored: Decision): boolean {
  return replayed.decision === stored.decision && replayed.riskScore === stored.riskScore && JSON.stringify(replayed.reasons) === JSON.stringify(stored.reasons);
}
