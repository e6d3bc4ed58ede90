/** The user state as the admin API shows it (CONTRACT §5), expanded from the compact state. */
import { DEFAULT_DOMAIN_CONFIG, type DomainConfig } from './config.ts';
import type { Decision } from './decision.ts';
import type { EventKind } from './event.ts';
import { amountAt, countryAt, currencyAt, decisionAt, deviceAt, failedLoginAt, historyLength, kindAt, timeAt } from './history.ts';
import type { CurrencyTotals, UserState } from './state.ts';

export interface RecentEventView {
  eventId: string;
  kind: EventKind;
  timestamp: number;
  amount: string | null;
  /** The amount's currency; null when there is no amount. */
  currency: string | null;
  deviceId: string | null;
  country: string | null;
  failedLogin: boolean;
}

/** A user's view as the admin API answers it: where it lives and where the answer came from. */
export interface UserStateView extends UserView {
  shard: number;
  source: 'actor' | 'store';
}

export interface UserView {
  userId: string;
  sequenceNumber: number;
  profile: {
    eventCount: number;
    loginCount: number;
    paymentCount: number;
    transferCount: number;
    otherCount: number;
    /** In the default currency. */
    totalPaymentAmount: string;
    totalTransferAmount: string;
    /** Per currency, the default one first (CONTRACT §5, where it is optional; toUserView always gives it). */
    totals?: Record<string, CurrencyTotals>;
    devices: string[];
    countries: string[];
    firstEventTime: number | null;
    lastEventTime: number | null;
  };
  /** Newest last. */
  recentEvents: RecentEventView[];
  /** Newest last. */
  decisions: Decision[];
  /** The latest open window; zeros when none is open. */
  window: { windowStart: number; windowEnd: number; eventCount: number; maxRiskScore: number };
  lateEvents: number;
}

/**
 * `history`: how many recent events and decisions to show (the state keeps the larger of the
 * two); all by default. `defaultCurrency`: the one the state keeps no currency for.
 */
export function toUserView(
  state: UserState,
  history: DomainConfig['history'] = { events: Infinity, decisions: Infinity },
  defaultCurrency: string = DEFAULT_DOMAIN_CONFIG.defaultCurrency,
): UserView {
  const p = state.profile;
  const h = state.history;
  const n = historyLength(h);
  const from = (keep: number): number[] => Array.from({ length: Math.min(n, keep) }, (_, k) => n - Math.min(n, keep) + k);
  const latest = state.windows.open.at(-1);
  return {
    userId: state.userId,
    sequenceNumber: state.sequenceNumber,
    profile: {
      eventCount: p.eventCount,
      loginCount: p.loginCount,
      paymentCount: p.paymentCount,
      transferCount: p.transferCount,
      otherCount: p.otherCount,
      totalPaymentAmount: p.totalPaymentAmount,
      totalTransferAmount: p.totalTransferAmount,
      totals: { [defaultCurrency]: { payment: p.totalPaymentAmount, transfer: p.totalTransferAmount }, ...p.totals },
      devices: p.devices.map((d) => d.id),
      countries: p.countries.map((c) => c.id),
      firstEventTime: p.firstEventTime,
      lastEventTime: p.lastEventTime,
    },
    recentEvents: from(history.events).map((i) => {
      const amount = amountAt(h, i);
      return {
        eventId: h.eventIds[i]!,
        kind: kindAt(h, i),
        timestamp: timeAt(h, i),
        amount,
        currency: amount === null ? null : (currencyAt(h, i) ?? defaultCurrency),
        deviceId: deviceAt(h, i),
        country: countryAt(h, i),
        failedLogin: failedLoginAt(h, i),
      };
    }),
    decisions: from(history.decisions).map((i) => decisionAt(h, i, state.userId)),
    window: latest
      ? { windowStart: latest.start, windowEnd: latest.end, eventCount: latest.eventCount, maxRiskScore: latest.maxRiskScore }
      : { windowStart: 0, windowEnd: 0, eventCount: 0, maxRiskScore: 0 },
    lateEvents: state.windows.lateEvents,
  };
}
