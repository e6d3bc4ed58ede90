/**
 * The logistic model: score = sigmoid(bias + sum(weight * feature)). Weights, bias and thresholds
 * come from the rules object so that they can be tuned without a release.
 */
import type { Reason, Verdict } from './decision.ts';
import type { RiskEvent } from './event.ts';
import { FEATURES, featureInput, type FeatureInput } from './features.ts';
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
  const input = featureInput(state, event, fx);
  return scoreValues(featureValues(input, rules, null), input, rules, true);
}

/**
 * The feature values `score` computes under `a` and `b` (a shadow rule set, or null), each
 * computed once: NaN where neither set weighs the feature. Feeding them to `scoreValues` under
 * either set gives what `score` gives under that set, to the last bit (same products, same order of sums).
 */
export function featureValues(input: FeatureInput, a: Rules, b: Rules | null): number[] {
  const values: number[] = [];
  for (const f of FEATURES) values.push(a.weights[f.name] || b?.weights[f.name] ? f.of(input) : NaN);
  return values;
}

/** The score from precomputed feature values (`featureValues`); reasons only when `withReasons`. */
export function scoreValues(values: readonly number[], input: FeatureInput, rules: Rules, withReasons: boolean): Score {
  let logit = rules.bias;
  // The strongest positive contributions so far, strongest first; on a tie, the registry's order
  // decides (a later feature goes after an equal one), so the same inputs always give the same reasons.
  const top: number[] = [];
  const topWeights: number[] = [];
  for (let index = 0; index < FEATURES.length; index++) {
    const w = rules.weights[FEATURES[index]!.name];
    if (w === undefined || w === 0) continue;
    const weight = w * values[index]!;
    logit += weight;
    if (!withReasons || !(weight > 0)) continue;
    let at = top.length;
    while (at > 0 && topWeights[at - 1]! < weight) at--;
    if (at >= MAX_FEATURE_REASONS) continue;
    top.splice(at, 0, index);
    topWeights.splice(at, 0, weight);
    // What falls beyond the few can never come back: later ones only push it further down.
    top.length = topWeights.length = Math.min(top.length, MAX_FEATURE_REASONS);
  }
  const reasons: Reason[] = [];
  for (let k = 0; k < top.length; k++) {
    const f = FEATURES[top[k]!]!;
    reasons.push({ code: f.code, weight: round4(topWeights[k]!), detail: f.describe(input) });
  }
  return { riskScore: round4(1 / (1 + Math.exp(-logit))), reasons };
}

/** Strictly above a threshold (the seed's "> 0.9 BLOCK, > 0.7 CHALLENGE"). */
export function verdictOf(riskScore: number, thresholds: Rules['thresholds']): Verdict {
  if (riskScore > thresholds.block) return 'BLOCK';
  if (riskScore > thresholds.challenge) return 'CHALLENGE';
  return 'ALLOW';
}
