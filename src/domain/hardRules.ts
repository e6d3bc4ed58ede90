/** Matching of hard rules (vocabulary documented in rules.ts) against an event and the user's state. */
import type { RiskEvent } from './event.ts';
import { MINUTE, countKindWithin, eventValue, isNewCountry, isNewDevice } from './features.ts';
import type { FxConfig } from './fx.ts';
import type { HistoryScan } from './historyScan.ts';
import { toMinor } from './money.ts';
import type { HardRule, HardRuleWhen } from './rules.ts';
import type { UserState } from './state.ts';

/**
 * Amount limits are in the default currency: other currencies are converted with the rate table.
 * `scan`: the event's scan of the history when the caller made one (deciding does), else null.
 */
export function matchingHardRules(rules: readonly HardRule[], state: UserState, event: RiskEvent, fx: FxConfig, scan: HistoryScan | null = null): HardRule[] {
  const matching: HardRule[] = [];
  for (const rule of rules) if (matches(rule.when, state, event, fx, scan)) matching.push(rule);
  return matching;
}

/** -1, 0 or 1 as the event's amount (converted) is below, at or above `limit`; exact in the default currency. */
function compareAmount(event: RiskEvent, amount: string, limit: string, fx: FxConfig): number {
  if (event.currency === fx.defaultCurrency) {
    const a = toMinor(amount);
    const b = toMinor(limit);
    return a < b ? -1 : a > b ? 1 : 0;
  }
  return Math.sign(eventValue(event, fx)! - Number(limit));
}

function matches(w: HardRuleWhen, state: UserState, event: RiskEvent, fx: FxConfig, scan: HistoryScan | null): boolean {
  if (w.eventType !== undefined && !isType(w.eventType, event)) return false;
  if (w.amountAbove !== undefined && (event.amount === null || compareAmount(event, event.amount, w.amountAbove, fx) <= 0)) return false;
  if (w.amountBelow !== undefined && (event.amount === null || compareAmount(event, event.amount, w.amountBelow, fx) >= 0)) return false;
  if (w.countryIn !== undefined) {
    const country = event.country?.toUpperCase();
    if (country === undefined || !w.countryIn.some((c) => c.toUpperCase() === country)) return false;
  }
  if (w.newDevice !== undefined && isNewDevice(state, event) !== w.newDevice) return false;
  if (w.newCountry !== undefined && isNewCountry(state, event) !== w.newCountry) return false;
  if (w.countInLastMinuteAbove !== undefined && (scan ? 1 + scan.kindLastMinute : countKindWithin(state, event, MINUTE)) <= w.countInLastMinuteAbove) return false;
  if (w.upstreamRiskAbove !== undefined && (event.upstreamRiskScore ?? 0) <= w.upstreamRiskAbove) return false;
  return true;
}

/** The eventType is (one of) `types`; "other" also matches every type the engine does not understand. */
function isType(types: string | readonly string[], event: RiskEvent): boolean {
  if (typeof types === 'string') return types === event.eventType || (event.kind === 'other' && types === 'other');
  return types.includes(event.eventType) || (event.kind === 'other' && types.includes('other'));
}
