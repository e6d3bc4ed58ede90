/**
 * What a user actor knows. Kept compact (an actor holds one per live user): the recent events and
 * their decisions are columns (history.ts), and eventIds that left the history are remembered as
 * 53-bit hashes. Everything is plain JSON, so snapshots round-trip losslessly.
 */
import { emptyHistory, type History } from './history.ts';
import { ZERO_AMOUNT } from './money.ts';
import { NO_WINDOWS } from './windows.ts';

/** 2: recent events and decisions became one columnar history (schema 1 is upcast). */
export const STATE_SCHEMA_VERSION = 2;

export interface UserState {
  schemaVersion: 2;
  userId: string;
  /** Journal events applied so far. */
  sequenceNumber: number;
  profile: Profile;
  /** The last max(config.history.events, config.history.decisions) accepted events with their decisions, oldest first. */
  history: History;
  seen: Seen;
  windows: Windows;
}

export interface Profile {
  eventCount: number;
  loginCount: number;
  paymentCount: number;
  transferCount: number;
  otherCount: number;
  /** Exact 4-decimal strings, of the amounts in the default currency. */
  totalPaymentAmount: string;
  totalTransferAmount: string;
  /** The same for every other currency the user paid in; absent until one appears. */
  totals?: Record<string, CurrencyTotals>;
  /** LRU order: least recently seen first. */
  devices: Known[];
  countries: Known[];
  /** Smallest and largest event time seen. */
  firstEventTime: number | null;
  lastEventTime: number | null;
  /**
   * Welford running statistics of payment and transfer amounts, converted to the default
   * currency (features only, so floats are fine; finite, see fx.ts).
   */
  amounts: { n: number; mean: number; m2: number };
  /** Events per UTC hour of day: the user's usual hours. */
  hours: number[];
  /**
   * Failed logins later in event time than the latest successful one (all of them, however many
   * other events came since; a success arriving late recounts them from the history).
   */
  failedLoginStreak: number;
  /** Event time of the latest successful login; null before one is known. */
  lastLoginSuccessAt: number | null;
}

export interface CurrencyTotals {
  payment: string;
  transfer: string;
}

/** A device or country, with when (event time) it was first seen: "new" lasts a while, not one event. */
export interface Known {
  id: string;
  firstSeen: number;
}

export interface Seen {
  /**
   * 53-bit hashes of the eventIds that left the history, oldest first: with the history's own,
   * the last config.dedupe.eventIds eventIds are recognised.
   */
  eventIds: number[];
  /** Last applied offset per "topic:partition" (decimal string; Kafka offsets exceed 2^53 in principle). */
  offsets: Record<string, string>;
}

export interface Windows {
  /** Open tumbling windows, by start. */
  open: OpenWindow[];
  /** Largest event time seen; the watermark is this minus the allowed lateness. */
  maxEventTime: number | null;
  /** End of the latest closed window: an event for a window ending at or before it is too late. */
  closedThrough: number | null;
  lateEvents: number;
  /** Processing time of the last accepted event: the idle-close timer counts from it. */
  lastSeenAt: number | null;
  /**
   * Windows the idle timer closed whose aggregates are not known to be committed yet: emitted
   * again on every timer until a WindowsEmitted journal event removes them (at least once).
   */
  pending: OpenWindow[];
}

export interface OpenWindow {
  start: number;
  end: number;
  eventCount: number;
  /** Sum of risk scores in integer units of 1e-4, exact. */
  riskUnits: number;
  maxRiskScore: number;
  firstEventTime: number;
  lastEventTime: number;
}

/**
 * Every user starts from the same empty parts: evolve never changes a state in place, so they can
 * be shared (and are frozen, so that a change would fail loudly). nact keeps an initial state per
 * actor (for restarts), so this saves each live actor a copy.
 */
const EMPTY: Omit<UserState, 'userId'> = deepFreeze({
  schemaVersion: STATE_SCHEMA_VERSION,
  sequenceNumber: 0,
  profile: {
    eventCount: 0,
    loginCount: 0,
    paymentCount: 0,
    transferCount: 0,
    otherCount: 0,
    totalPaymentAmount: ZERO_AMOUNT,
    totalTransferAmount: ZERO_AMOUNT,
    devices: [],
    countries: [],
    firstEventTime: null,
    lastEventTime: null,
    amounts: { n: 0, mean: 0, m2: 0 },
    hours: new Array<number>(24).fill(0),
    failedLoginStreak: 0,
    lastLoginSuccessAt: null,
  },
  history: emptyHistory(),
  seen: { eventIds: [], offsets: {} },
  windows: { open: [], maxEventTime: null, closedThrough: null, lateEvents: 0, lastSeenAt: null, pending: NO_WINDOWS },
});

export function initialState(userId: string): UserState {
  const { schemaVersion, sequenceNumber, profile, history, seen, windows } = EMPTY;
  return { schemaVersion, userId, sequenceNumber, profile, history, seen, windows };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export const sourceKey = (topic: string, partition: number): string => `${topic}:${partition}`;
