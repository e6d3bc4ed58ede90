/**
 * Journal events: the facts `decide` established, persisted before they are acted on. `evolve`
 * only applies them (it never scores or re-plans), so replaying a journal rebuilds the same state
 * whatever the rules or the clock say at replay time. `v` is the schema version for upcasting.
 */
import type { Decision } from './decision.ts';
import type { EventKind } from './event.ts';
import type { Placement, WindowAggregate } from './windows.ts';

export const JOURNAL_VERSION = 1;

export type JournalEvent = EventAccepted | WindowsClosed | WindowsEmitted | WindowsIdleClosed;

export interface EventAccepted {
  v: 1;
  type: 'accepted';
  /** What the state keeps of the event; eventId, eventType and timestamp are in the decision. */
  event: {
    kind: EventKind;
    amount: string | null;
    /** The amount's currency, with every amount; absent in entries journaled before currencies were kept: the default currency. */
    currency?: string;
    /** Units of the default currency per unit of `currency`, as decide converted it; absent for the default currency. */
    rate?: number;
    deviceId: string | null;
    country: string | null;
    failedLogin: boolean;
    /** "topic:partition" and offset of the Kafka record, null for other sources. */
    source: string | null;
    /** The event's upstream riskScore, when it had one: what explaining the decision needs to score it again. */
    upstreamRisk?: number;
    offset: string | null;
  };
  /** As emitted; its decidedAt is the processing time of the event. */
  decision: Decision;
  /** The window the event joined; null when it came too late for it. */
  window: Placement | null;
  /** Windows the event closed, as emitted. */
  closed: WindowAggregate[];
}

/**
 * Windows the idle timer closed (their end plus the allowed lateness passed by the engine's
 * clock): closed from now on, their aggregates pending until a WindowsEmitted says they were
 * committed, and emitted again until then (at least once).
 */
export interface WindowsClosed {
  v: 1;
  type: 'windowsClosed';
  /** Processing time of the close. */
  at: number;
  closed: WindowAggregate[];
}

/** The aggregates of these pending windows were committed. */
export interface WindowsEmitted {
  v: 1;
  type: 'windowsEmitted';
  at: number;
  windowStarts: number[];
}

/** Written before idle closes were at least once: closed and (as far as it went) emitted. Replayed as such; no longer written. */
export interface WindowsIdleClosed {
  v: 1;
  type: 'idleClosed';
  /** Processing time of the close. */
  at: number;
  closed: WindowAggregate[];
}
