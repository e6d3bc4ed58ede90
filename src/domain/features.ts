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
import { amountValueAt, countryAt, currencyAt, deviceAt, failedLoginAt, historyLength, isKindAt, timeAt } from './history.ts';
import type { Known, UserState } from './state.ts';

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
/** Card testers probe with tiny amounts; ordinary small purchases rarely come in bursts. In the default currency. */
export const SMALL_PAYMENT = 10;

type Fn<T> = (state: UserState, event: RiskEvent) => T;
/** Amounts are compared in the default currency, converted with the rate table. */
type FxFn<T> = (state: UserState, event: RiskEvent, fx: FxConfig) => T;

/** The event's amount in the default currency; null when it has none. */
export const eventValue = (event: RiskEvent, fx: FxConfig): number | null =>
  event.amount === null ? null : amountValue(event.amount, rateOf(fx, event.currency));

/** Events of the event's kind in (t - windowMs, t] of event time, the event included. */
export function countKindWithin(state: UserState, event: RiskEvent, windowMs: number): number {
  return 1 + countWithin(state, event, event.kind, windowMs);
}

/** History events of `kind` in (t - windowMs, t] of the event's time t. */
function countWithin(state: UserState, event: RiskEvent, kind: RiskEvent['kind'], windowMs: number): number {
  const h = state.history;
  let n = 0;
  for (let i = 0; i < historyLength(h); i++) {
    const t = timeAt(h, i);
    if (t <= event.timestamp && t > event.timestamp - windowMs && isKindAt(h, i, kind)) n++;
  }
  return n;
}

export const loginsLastHour: Fn<number> = (state, event) => (event.kind === 'login' ? 1 : 0) + countWithin(state, event, 'login', HOUR);

/**
 * Failed logins in a row up to this event in event time, this one included: those after the
 * latest successful login at or before it. A successful login after many failures still carries them.
 */
export const failedLoginStreak: Fn<number> = (state, event) => (isFailedLogin(event) ? 1 : 0) + failedLoginsBefore(state, event.timestamp);

/** Failed logins in (the latest successful login at or before t, t] of event time. */
function failedLoginsBefore(state: UserState, t: number): number {
  const h = state.history;
  const { lastLoginSuccessAt: last, failedLoginStreak: sinceLast } = state.profile;
  if (last === null || last <= t) {
    // The profile counts every failure since the latest success, also those beyond the history:
    // less the ones later than t (recent, so in the history).
    if (sinceLast === 0) return 0;
    let later = 0;
    for (let i = 0; i < historyLength(h); i++) if (failedLoginAt(h, i) && timeAt(h, i) > t) later++;
    return Math.max(0, sinceLast - later);
  }
  // A success later than t is known: count back from the latest success at or before t.
  let since = -Infinity;
  for (let i = 0; i < historyLength(h); i++) {
    const at = timeAt(h, i);
    if (at <= t && at > since && isKindAt(h, i, 'login') && !failedLoginAt(h, i)) since = at;
  }
  let n = 0;
  for (let i = 0; i < historyLength(h); i++) {
    const at = timeAt(h, i);
    if (at > since && at <= t && failedLoginAt(h, i)) n++;
  }
  return n;
}

/** How many standard deviations a payment or transfer amount lies above the user's mean (default currency); 0 until 5 are known. */
export const amountZScore: FxFn<number> = (state, event, fx) => {
  const { n, mean, m2 } = state.profile.amounts;
  const value = eventValue(event, fx);
  if (value === null || (event.kind !== 'payment' && event.kind !== 'transfer') || n < 5) return 0;
  // The floor keeps a user who always pays the same amount from flagging every small variation.
  const deviation = Math.max(Math.sqrt(m2 / n), mean * 0.25, 1);
  return (value - mean) / deviation;
};

/** Small payments (in the default currency) within 10 minutes, this one included; 0 when this is not a small payment. */
export const smallPaymentsLast10m: FxFn<number> = (state, event, fx) => {
  const value = eventValue(event, fx);
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
};

/** A device or country stays new for an hour after it first appeared, so that an attacker's login does not make the transfer after it look familiar. */
export const NEW_FOR_MS = HOUR;

/**
 * Unknown, or first seen within NEW_FOR_MS, to a user who was active before it appeared: the
 * devices of a newcomer's first events say nothing.
 */
function isNew(known: readonly Known[], id: string | null, state: UserState, t: number): boolean {
  if (id === null || state.profile.firstEventTime === null) return false;
  const k = known.find((x) => x.id === id);
  if (k === undefined) return known.length > 0;
  return k.firstSeen > state.profile.firstEventTime && t - k.firstSeen < NEW_FOR_MS;
}

export const isNewDevice: Fn<boolean> = (state, event) => isNew(state.profile.devices, event.deviceId, state, event.timestamp);

export const isNewCountry: Fn<boolean> = (state, event) => isNew(state.profile.countries, event.country, state, event.timestamp);

/** Distinct devices in (t - 1 h, t], this event's included. */
export const devicesLastHour: Fn<number> = (state, event) => {
  const h = state.history;
  const devices = new Set<string>();
  if (event.deviceId !== null) devices.add(event.deviceId);
  for (let i = 0; i < historyLength(h); i++) {
    const t = timeAt(h, i);
    const device = deviceAt(h, i);
    if (device !== null && t <= event.timestamp && t > event.timestamp - HOUR) devices.add(device);
  }
  return devices.size;
};

/** The history event nearest in event time (among those `when` accepts; the latest to arrive on a tie), or -1. */
function nearestInTime(state: UserState, t: number, when: (i: number) => boolean = () => true): number {
  const h = state.history;
  let best = -1;
  let bestMs = Infinity;
  for (let i = historyLength(h) - 1; i >= 0; i--) {
    const ms = Math.abs(t - timeAt(h, i));
    if (ms < bestMs && when(i)) [best, bestMs] = [i, ms];
  }
  return best;
}

/** Event-time distance to the user's nearest other event in event time, null for the first. */
export const msSincePrevious: Fn<number | null> = (state, event) => {
  const i = nearestInTime(state, event.timestamp);
  return i < 0 ? null : Math.abs(event.timestamp - timeAt(state.history, i));
};

export const utcHour = (t: number): number => Math.floor(t / HOUR) % 24;

/** Share of the user's events in this UTC hour and its neighbours; null until 20 events are known. */
export const usualHourShare: Fn<number | null> = (state, event) => {
  const hours = state.profile.hours;
  const total = hours.reduce((a, b) => a + b, 0);
  if (total < 20) return null;
  const h = utcHour(event.timestamp);
  const near = (hours[(h + 23) % 24] ?? 0) + (hours[h] ?? 0) + (hours[(h + 1) % 24] ?? 0);
  return near / total;
};

export const upstreamRisk: Fn<number> = (_state, event) => event.upstreamRiskScore ?? 0;

/** The country of the nearest event in event time that has one, and how far (event time), when it is another country. */
export const countryHop: Fn<{ from: string; ms: number } | null> = (state, event) => {
  if (event.country === null) return null;
  const h = state.history;
  const i = nearestInTime(state, event.timestamp, (k) => countryAt(h, k) !== null);
  if (i < 0) return null;
  const from = countryAt(h, i)!;
  return from === event.country ? null : { from, ms: Math.abs(event.timestamp - timeAt(h, i)) };
};

/** (x - lo) / (hi - lo), clamped to [0, 1]. */
export const ramp = (x: number, lo: number, hi: number): number => Math.min(1, Math.max(0, (x - lo) / (hi - lo)));

export interface Feature {
  /** The key of its weight in the rules. */
  name: string;
  /** The reason code when it contributes. */
  code: string;
  value: FxFn<number>;
  detail: FxFn<string>;
}

const velocity = (name: string, code: string, windowMs: number, label: string, lo: number, hi: number): Feature => ({
  name,
  code,
  value: (s, e) => ramp(countKindWithin(s, e, windowMs), lo, hi),
  detail: (s, e) => `${countKindWithin(s, e, windowMs)} ${e.kind} events in the last ${label}`,
});

export const FEATURES: readonly Feature[] = [
  velocity('velocity1m', 'HIGH_VELOCITY_1M', MINUTE, 'minute', 2, 10),
  velocity('velocity5m', 'HIGH_VELOCITY_5M', 5 * MINUTE, '5 minutes', 3, 12),
  velocity('velocity1h', 'HIGH_VELOCITY_1H', HOUR, 'hour', 10, 40),
  {
    name: 'loginFrequency',
    code: 'FREQUENT_LOGINS',
    value: (s, e) => ramp(loginsLastHour(s, e), 3, 10),
    detail: (s, e) => `${loginsLastHour(s, e)} logins in the last hour`,
  },
  {
    name: 'failedLoginStreak',
    code: 'FAILED_LOGIN_STREAK',
    value: (s, e) => ramp(failedLoginStreak(s, e), 0, 5),
    detail: (s, e) => `${failedLoginStreak(s, e)} failed logins in a row`,
  },
  {
    name: 'amountDeviation',
    code: 'UNUSUAL_AMOUNT',
    value: (s, e, fx) => ramp(amountZScore(s, e, fx), 3, 6),
    detail: (s, e, fx) =>
      `amount ${e.amount}${e.currency === fx.defaultCurrency ? '' : ` ${e.currency}`} is ${amountZScore(s, e, fx).toFixed(1)} deviations above the usual ${s.profile.amounts.mean.toFixed(2)}`,
  },
  {
    name: 'smallPaymentBurst',
    code: 'SMALL_PAYMENT_BURST',
    value: (s, e, fx) => ramp(smallPaymentsLast10m(s, e, fx), 2, 8),
    detail: (s, e, fx) => `${smallPaymentsLast10m(s, e, fx)} payments of at most ${SMALL_PAYMENT} in 10 minutes`,
  },
  {
    name: 'newDevice',
    code: 'NEW_DEVICE',
    value: (s, e) => (isNewDevice(s, e) ? 1 : 0),
    detail: (_s, e) => `device ${e.deviceId} new to this user`,
  },
  {
    name: 'newCountry',
    code: 'NEW_COUNTRY',
    value: (s, e) => (isNewCountry(s, e) ? 1 : 0),
    detail: (_s, e) => `country ${e.country} new to this user`,
  },
  {
    name: 'devicesLastHour',
    code: 'MANY_DEVICES',
    value: (s, e) => ramp(devicesLastHour(s, e), 1, 4),
    detail: (s, e) => `${devicesLastHour(s, e)} devices in the last hour`,
  },
  {
    name: 'rapidSuccession',
    code: 'RAPID_SUCCESSION',
    value: (s, e) => {
      const ms = msSincePrevious(s, e);
      return ms === null ? 0 : 1 - ramp(ms, 2_000, MINUTE);
    },
    detail: (s, e) => `${msSincePrevious(s, e)} ms after the previous event`,
  },
  {
    name: 'unusualHour',
    code: 'UNUSUAL_HOUR',
    value: (s, e) => {
      const share = usualHourShare(s, e);
      return share === null ? 0 : 1 - ramp(share, 0.02, 0.08);
    },
    detail: (s, e) => `${utcHour(e.timestamp)}h UTC: ${Math.round((usualHourShare(s, e) ?? 0) * 100)}% of this user's events are near that hour`,
  },
  {
    name: 'upstreamRisk',
    code: 'UPSTREAM_RISK',
    value: upstreamRisk,
    detail: (_s, e) => `upstream risk score ${e.upstreamRiskScore}`,
  },
  {
    name: 'impossibleTravel',
    code: 'IMPOSSIBLE_TRAVEL',
    value: (s, e) => {
      const hop = countryHop(s, e);
      return hop === null ? 0 : 1 - ramp(hop.ms, HOUR, 3 * HOUR);
    },
    detail: (s, e) => {
      const hop = countryHop(s, e);
      return `from ${hop?.from} to ${e.country} within ${Math.round((hop?.ms ?? 0) / MINUTE)} min`;
    },
  },
];

export const FEATURE_NAMES: readonly string[] = FEATURES.map((f) => f.name);
