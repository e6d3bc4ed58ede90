/**
 * Features: small pure functions of (state before the event, event). Each raw function measures
 * something in the user's own units (counts, ms, deviations); the registry below maps it onto
 * roughly [0, 1] so that a rule's weight reads as "logit points when the signal is fully on".
 * Time is always event time, never the clock: replays and late events see what live ones saw,
 * and "previous" means nearest in event time, not last to arrive: a user's events come over
 * several topics, whose relative order on arrival is arbitrary.
 */
import { isFailedLogin, type RiskEvent } from './event.ts';
import { amountValue, rateOf, type FxConfig } from './fx.ts';
import { amountValueAt, countryAt, currencyAt, historyLength, isKindAt, timeAt } from './history.ts';
import { HOUR, MINUTE, scanHistory, type HistoryScan } from './historyScan.ts';
import type { Known, UserState } from './state.ts';

export { HOUR, MINUTE } from './historyScan.ts';
/** Card testers probe with tiny amounts; ordinary small purchases rarely come in bursts. In the default currency. */
export const SMALL_PAYMENT = 10;

type Fn<T> = (state: UserState, event: RiskEvent) => T;
/** Amounts are compared in the default currency, converted with the rate table. */
type FxFn<T> = (state: UserState, event: RiskEvent, fx: FxConfig) => T;

/**
 * What a feature reads: the event, the user's state before it, the rate table, and the counts of
 * the user's history for this event (one scan, historyScan.ts, shared by all the features).
 */
export interface FeatureInput {
  state: UserState;
  event: RiskEvent;
  fx: FxConfig;
  scan: HistoryScan;
  /** The event's amount in the default currency (eventValue); null when it has none. */
  value: number | null;
}

export const featureInput = (state: UserState, event: RiskEvent, fx: FxConfig): FeatureInput => ({ state, event, fx, scan: scanHistory(state, event), value: eventValue(event, fx) });

/** The event's amount in the default currency; null when it has none. */
export const eventValue = (event: RiskEvent, fx: FxConfig): number | null =>
  event.amount === null ? null : amountValue(event.amount, rateOf(fx, event.currency));

/** Events of the event's kind in (t - windowMs, t] of event time, the event included (any window; the features' three are in the scan). */
export function countKindWithin(state: UserState, event: RiskEvent, windowMs: number): number {
  const h = state.history;
  let n = 1;
  for (let i = 0; i < historyLength(h); i++) {
    const t = timeAt(h, i);
    if (t <= event.timestamp && t > event.timestamp - windowMs && isKindAt(h, i, event.kind)) n++;
  }
  return n;
}

const loginsOf = (event: RiskEvent, scan: HistoryScan): number => (event.kind === 'login' ? 1 : 0) + scan.loginsLastHour;
export const loginsLastHour: Fn<number> = (state, event) => loginsOf(event, scanHistory(state, event));

/**
 * Failed logins in a row up to this event in event time, this one included: those after the
 * latest successful login at or before it. A successful login after many failures still carries them.
 */
const streakOf = (event: RiskEvent, scan: HistoryScan): number => (isFailedLogin(event) ? 1 : 0) + scan.failedLoginsBefore;
export const failedLoginStreak: Fn<number> = (state, event) => streakOf(event, scanHistory(state, event));

/** How many standard deviations a payment or transfer amount lies above the user's mean (default currency); 0 until 5 are known. */
export const amountZScore: FxFn<number> = (state, event, fx) => zScoreOf(state, event, eventValue(event, fx));

function zScoreOf(state: UserState, event: RiskEvent, value: number | null): number {
  const { n, mean, m2 } = state.profile.amounts;
  if (value === null || (event.kind !== 'payment' && event.kind !== 'transfer') || n < 5) return 0;
  // The floor keeps a user who always pays the same amount from flagging every small variation.
  const deviation = Math.max(Math.sqrt(m2 / n), mean * 0.25, 1);
  return (value - mean) / deviation;
}

/** Small payments (in the default currency) within 10 minutes, this one included; 0 when this is not a small payment. */
export const smallPaymentsLast10m: FxFn<number> = (state, event, fx) => smallPaymentsOf(state, event, fx, eventValue(event, fx));

function smallPaymentsOf(state: UserState, event: RiskEvent, fx: FxConfig, value: number | null): number {
  if (event.kind !== 'payment' || value === null || value > SMALL_PAYMENT) return 0;
  const h = state.history;
  let n = 1;
  for (let i = 0; i < historyLength(h); i++) {
    const t = timeAt(h, i);
    if (t > event.timestamp || t <= event.timestamp - 10 * MINUTE || !isKindAt(h, i, 'payment')) continue;
    const amount = amountValueAt(h, i);
    if (amount !== null && amount * rateOf(fx, currencyAt(h, i)) <= SMALL_PAYMENT) n++;
  }
  return n;
}

/** A device or country stays new for an hour after it first appeared, so that an attacker's login does not make the transfer after it look familiar. */
export const NEW_FOR_MS = HOUR;

/**
 * Unknown, or first seen within NEW_FOR_MS, to a user who was active before it appeared: the
 * devices of a newcomer's first events say nothing.
 */
function isNew(known: readonly Known[], id: string | null, state: UserState, t: number): boolean {
  if (id === null || state.profile.firstEventTime === null) return false;
  let k: Known | undefined;
  for (let i = 0; i < known.length && k === undefined; i++) if (known[i]!.id === id) k = known[i];
  if (k === undefined) return known.length > 0;
  return k.firstSeen > state.profile.firstEventTime && t - k.firstSeen < NEW_FOR_MS;
}

export const isNewDevice: Fn<boolean> = (state, event) => isNew(state.profile.devices, event.deviceId, state, event.timestamp);

export const isNewCountry: Fn<boolean> = (state, event) => isNew(state.profile.countries, event.country, state, event.timestamp);

/** Distinct devices in (t - 1 h, t], this event's included. */
export const devicesLastHour: Fn<number> = (state, event) => scanHistory(state, event).devicesLastHour;

/** Event-time distance to the user's nearest other event in event time, null for the first. */
const msSinceOf = ({ state, event, scan }: Pick<FeatureInput, 'state' | 'event' | 'scan'>): number | null =>
  scan.nearest < 0 ? null : Math.abs(event.timestamp - timeAt(state.history, scan.nearest));
export const msSincePrevious: Fn<number | null> = (state, event) => msSinceOf({ state, event, scan: scanHistory(state, event) });

export const utcHour = (t: number): number => Math.floor(t / HOUR) % 24;

/** Share of the user's events in this UTC hour and its neighbours; null until 20 events are known. */
export const usualHourShare: Fn<number | null> = (state, event) => {
  const hours = state.profile.hours;
  let total = 0;
  for (let i = 0; i < hours.length; i++) total += hours[i]!;
  if (total < 20) return null;
  const h = utcHour(event.timestamp);
  const near = (hours[(h + 23) % 24] ?? 0) + (hours[h] ?? 0) + (hours[(h + 1) % 24] ?? 0);
  return near / total;
};

export const upstreamRisk: Fn<number> = (_state, event) => event.upstreamRiskScore ?? 0;

/** The country of the nearest event in event time that has one, and how far (event time), when it is another country. */
function hopOf({ state, event, scan }: Pick<FeatureInput, 'state' | 'event' | 'scan'>): { from: string; ms: number } | null {
  const i = scan.nearestWithCountry;
  if (event.country === null || i < 0) return null;
  const from = countryAt(state.history, i)!;
  return from === event.country ? null : { from, ms: Math.abs(event.timestamp - timeAt(state.history, i)) };
}
export const countryHop: Fn<{ from: string; ms: number } | null> = (state, event) => hopOf({ state, event, scan: scanHistory(state, event) });

/** (x - lo) / (hi - lo), clamped to [0, 1]. */
export const ramp = (x: number, lo: number, hi: number): number => Math.min(1, Math.max(0, (x - lo) / (hi - lo)));

export interface Feature {
  /** The key of its weight in the rules. */
  name: string;
  /** The reason code when it contributes. */
  code: string;
  /** The value, from the event's input (featureInput, made once per event for all features). */
  of: (x: FeatureInput) => number;
  /** The reason's detail, likewise. */
  describe: (x: FeatureInput) => string;
  /** The value from the state and the event alone (scanning the history for this one call). */
  value: FxFn<number>;
  detail: FxFn<string>;
}

const feature = (name: string, code: string, of: Feature['of'], describe: Feature['describe']): Feature => ({
  name,
  code,
  of,
  describe,
  value: (s, e, fx) => of(featureInput(s, e, fx)),
  detail: (s, e, fx) => describe(featureInput(s, e, fx)),
});

const velocity = (name: string, code: string, count: (scan: HistoryScan) => number, label: string, lo: number, hi: number): Feature =>
  feature(
    name,
    code,
    ({ scan }) => ramp(1 + count(scan), lo, hi),
    ({ event, scan }) => `${1 + count(scan)} ${event.kind} events in the last ${label}`,
  );

export const FEATURES: readonly Feature[] = [
  velocity('velocity1m', 'HIGH_VELOCITY_1M', (scan) => scan.kindLastMinute, 'minute', 2, 10),
  velocity('velocity5m', 'HIGH_VELOCITY_5M', (scan) => scan.kindLast5Minutes, '5 minutes', 3, 12),
  velocity('velocity1h', 'HIGH_VELOCITY_1H', (scan) => scan.kindLastHour, 'hour', 10, 40),
  feature(
    'loginFrequency',
    'FREQUENT_LOGINS',
    ({ event, scan }) => ramp(loginsOf(event, scan), 3, 10),
    ({ event, scan }) => `${loginsOf(event, scan)} logins in the last hour`,
  ),
  feature(
    'failedLoginStreak',
    'FAILED_LOGIN_STREAK',
    ({ event, scan }) => ramp(streakOf(event, scan), 0, 5),
    ({ event, scan }) => `${streakOf(event, scan)} failed logins in a row`,
  ),
  feature(
    'amountDeviation',
    'UNUSUAL_AMOUNT',
    ({ state, event, value }) => ramp(zScoreOf(state, event, value), 3, 6),
    ({ state, event, fx, value }) =>
      `amount ${event.amount}${event.currency === fx.defaultCurrency ? '' : ` ${event.currency}`} is ${zScoreOf(state, event, value).toFixed(1)} deviations above the usual ${state.profile.amounts.mean.toFixed(2)}`,
  ),
  feature(
    'smallPaymentBurst',
    'SMALL_PAYMENT_BURST',
    ({ state, event, fx, value }) => ramp(smallPaymentsOf(state, event, fx, value), 2, 8),
    ({ state, event, fx, value }) => `${smallPaymentsOf(state, event, fx, value)} payments of at most ${SMALL_PAYMENT} in 10 minutes`,
  ),
  feature(
    'newDevice',
    'NEW_DEVICE',
    ({ state, event }) => (isNewDevice(state, event) ? 1 : 0),
    ({ event }) => `device ${event.deviceId} new to this user`,
  ),
  feature(
    'newCountry',
    'NEW_COUNTRY',
    ({ state, event }) => (isNewCountry(state, event) ? 1 : 0),
    ({ event }) => `country ${event.country} new to this user`,
  ),
  feature(
    'devicesLastHour',
    'MANY_DEVICES',
    ({ scan }) => ramp(scan.devicesLastHour, 1, 4),
    ({ scan }) => `${scan.devicesLastHour} devices in the last hour`,
  ),
  feature(
    'rapidSuccession',
    'RAPID_SUCCESSION',
    (x) => {
      const ms = msSinceOf(x);
      return ms === null ? 0 : 1 - ramp(ms, 2_000, MINUTE);
    },
    (x) => `${msSinceOf(x)} ms after the previous event`,
  ),
  feature(
    'unusualHour',
    'UNUSUAL_HOUR',
    ({ state, event }) => {
      const share = usualHourShare(state, event);
      return share === null ? 0 : 1 - ramp(share, 0.02, 0.08);
    },
    ({ state, event }) => `${utcHour(event.timestamp)}h UTC: ${Math.round((usualHourShare(state, event) ?? 0) * 100)}% of this user's events are near that hour`,
  ),
  feature(
    'upstreamRisk',
    'UPSTREAM_RISK',
    ({ state, event }) => upstreamRisk(state, event),
    ({ event }) => `upstream risk score ${event.upstreamRiskScore}`,
  ),
  feature(
    'impossibleTravel',
    'IMPOSSIBLE_TRAVEL',
    (x) => {
      const hop = hopOf(x);
      return hop === null ? 0 : 1 - ramp(hop.ms, HOUR, 3 * HOUR);
    },
    (x) => {
      const hop = hopOf(x);
      return `from ${hop?.from} to ${x.event.country} within ${Math.round((hop?.ms ?? 0) / MINUTE)} min`;
    },
  ),
];

export const FEATURE_NAMES: readonly string[] = FEATURES.map((f) => f.name);
