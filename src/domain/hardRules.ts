/** Matching of hard rules (vocabulary documented in rules.ts) against an event and the user's state. */
import type { RiskEvent } from './event.ts';
import { MINUTE, countKindWithin, isNewCountry, isNewDevice } from './features.ts';
import { toMinor } from './money.ts';
import type { HardRule, HardRuleWhen } from './rules.ts';
import type { UserState } from './state.ts';

export function matchingHardRules(rules: readonly HardRule[], state: UserState, event: RiskEvent): HardRule[] {
  return rules.filter((r) => matches(r.when, state, event));
}

function matches(w: HardRuleWhen, state: UserState, event: RiskEvent): boolean {
  if (w.eventType !== undefined) {
    const types = typeof w.eventType === 'string' ? [w.eventType] : w.eventType;
    if (!types.includes(event.eventType) && !(event.kind === 'other' && types.includes('other'))) return false;
  }
  if (w.amountAbove !== undefined && (event.amount === null || toMinor(event.amount) <= toMinor(w.amountAbove))) return false;
  if (w.amountBelow !== undefined && (event.amount === null || toMinor(event.amount) >= toMinor(w.amountBelow))) return false;
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
