/**
 * The logistic model: score = sigmoid(bias + sum(weight * feature)). Weights, bias and thresholds
 * come from the rules object so that they can be tuned without a release.
 */
import type { Reason, Verdict } from './decision.ts';
import type { RiskEvent } from './event.ts';
import { FEATURES } from './features.ts';
import type { FxConfig } from './fx.ts';
import type { Rules } from './rules.ts';
import type { UserState } from './state.ts';

/** Reasons name the strongest few contributions; more would bury the signal in alerts. */
export const MAX_FEATURE_REASONS = 3;

export const round4 = (x: number): number => {
  const r = Math.round(x * 10_000) / 10_000;
  return r === 0 ? 0 : r; // never -0: it does not survive JSON
};

export interface Score {
  riskScore: number;
  /** Positive contributions, strongest first, at most MAX_FEATURE_REASONS. */
  reasons: Reason[];
}

export function score(state: UserState, event: RiskEvent, rules: Rules, fx: FxConfig): Score {
  let logit = rules.bias;
  const contributions: { index: number; weight: number }[] = [];
  FEATURES.forEach((f, index) => {
    const w = rules.weights[f.name];
    if (w === undefined || w === 0) return;
    const weight = w * f.value(state, event, fx);
    logit += weight;
    if (weight > 0) contributions.push({ index, weight });
  });
  // Stable on ties: the registry's order decides, so the same inputs always give the same reasons.
  contributions.sort((a, b) => b.weight - a.weight || a.index - b.index);
  const reasons = contributions.slice(0, MAX_FEATURE_REASONS).map(({ index, weight }) => {
    const f = FEATURES[index]!;
    return { code: f.code, weight: round4(weight), detail: f.detail(state, event, fx) };
  });
  return { riskScore: round4(1 / (1 + Math.exp(-logit))), reasons };
}

/**
 * The feature values `score` would compute under `a` and `b` (a shadow rule set), each computed
 * once: NaN where neither set weighs the feature. Feeding them to `scoreValues` under either set
 * gives what `score` gives under that set, to the last bit (same products, same order of sums).
 */
export function featureValues(state: UserState, event: RiskEvent, fx: FxConfig, a: Rules, b: Rules): number[] {
  return FEATURES.map((f) => (a.weights[f.name] || b.weights[f.name] ? f.value(state, event, fx) : NaN));
}

/** `score` from precomputed feature values (`featureValues`); reasons only when `withReasons`. */
export function scoreValues(values: readonly number[], state: UserState, event: RiskEvent, rules: Rules, fx: FxConfig, withReasons: boolean): Score {
  let logit = rules.bias;
  const contributions: { index: number; weight: number }[] = [];
  FEATURES.forEach((f, index) => {
    const w = rules.weights[f.name];
    if (w === undefined || w === 0) return;
    const weight = w * values[index]!;
    logit += weight;
    if (withReasons && weight > 0) contributions.push({ index, weight });
  });
  contributions.sort((a, b) => b.weight - a.weight || a.index - b.index);
  const reasons = contributions.slice(0, MAX_FEATURE_REASONS).map(({ index, weight }) => {
    const f = FEATURES[index]!;
    return { code: f.code, weight: round4(weight), detail: f.detail(state, event, fx) };
  });
  return { riskScore: round4(1 / (1 + Math.exp(-logit))), reasons };
}

/** Strictly above a threshold (the seed's "> 0.9 BLOCK, > 0.7 CHALLENGE"). */
export function verdictOf(riskScore: number, thresholds: Rules['thresholds']): Verdict {
  if (riskScore > thresholds.block) return 'BLOCK';
  if (riskScore > thresholds.challenge) return 'CHALLENGE';
  return 'ALLOW';
}
