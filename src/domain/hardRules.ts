/** Matching of hard rules (vocabulary documented in rules.ts) against an event and the user's state. */
import type { RiskEvent } from './event.ts';
import { MINUTE, countKindWithin, eventValue, isNewCountry, isNewDevice } from './features.ts';
import type { FxConfig } from './fx.ts';
import { toMinor } from './money.ts';
import type { HardRule, HardRuleWhen } from './rules.ts';
import type { UserState } from './state.ts';

/** Amount limits are in the default currency: other currencies are converted with the rate table. */
export function matchingHardRules(rules: readonly HardRule[], state: UserState, event: RiskEvent, fx: FxConfig): HardRule[] {
  return rules.filter((r) => matches(r.when, state, event, fx));
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

function matches(w: HardRuleWhen, state: UserState, event: RiskEvent, fx: FxConfig): boolean {
  if (w.eventType !== undefined) {
    const types = typeof w.eventType === 'string' ? [w.eventType] : w.eventType;
    if (!types.includes(event.eventType) && !(event.kind === 'other' && types.includes('other'))) return false;
  }
  if (w.amountAbove !== undefined && (event.amount === null || compareAmount(event, event.amount, w.amountAbove, fx) <= 0)) return false;
  if (w.amountBelow !== undefined && (event.amount === null || compareAmount(event, event.amount, w.amountBelow, fx) >= 0)) return false;
  if (w.countryIn !== undefined) {
    const country = event.country?.toUpperCase();
    if (country === undefined || !w.countryIn.some((c) => c.toUpperCase() === country)) return false;
  }
  if (w.newDevice !== undefined && isNewDevice(state, event) !== w.newDevice) return false;
  if (w.newCountry !== undefined && isNewCountry(state, event) !== w.newCountry) return false;
  if (w.countInLastMinuteAbove !== undefined && countKindWithin(state, event, MINUTE) <= w.countInLastMinuteAbove) return false;
  if (w.upstreamRiskAbove !== undefined && (event.upstreamRiskScore ?? 0) <= w.upstreamRiskAbove) return false;
  return true;
}
