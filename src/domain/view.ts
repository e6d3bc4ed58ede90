/** The user state as the admin API shows it (CONTRACT §5), expanded from the compact state. */
import type { Decision } from './decision.ts';
import { toDecision } from './decide.ts';
import type { EventKind } from './event.ts';
import type { UserState } from './state.ts';

export interface RecentEventView {
  eventId: string;
  kind: EventKind;
  timestamp: number;
  amount: string | null;
  deviceId: string | null;
  country: string | null;
  failedLogin: boolean;
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
    totalPaymentAmount: string;
    totalTransferAmount: string;
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

export function toUserView(state: UserState): UserView {
  const p = state.profile;
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
      devices: p.devices.map((d) => d.id),
      countries: p.countries.map((c) => c.id),
      firstEventTime: p.firstEventTime,
      lastEventTime: p.lastEventTime,
    },
    recentEvents: state.recentEvents.map((r) => ({
      eventId: r.eventId,
      kind: r.kind,
      timestamp: r.t,
      amount: r.amount,
      deviceId: r.deviceId,
      country: r.country,
      failedLogin: r.failedLogin,
    })),
    decisions: state.decisions.map((d) => toDecision(state.userId, d)),
    window: latest
      ? { windowStart: latest.start, windowEnd: latest.end, eventCount: latest.eventCount, maxRiskScore: latest.maxRiskScore }
      : { windowStart: 0, windowEnd: 0, eventCount: 0, maxRiskScore: 0 },
    lateEvents: state.windows.lateEvents,
  };
}
