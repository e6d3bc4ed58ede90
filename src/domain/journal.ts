/**
 * Journal events: the facts `decide` established, persisted before they are acted on. `evolve`
 * only applies them (it never scores or re-plans), so replaying a journal rebuilds the same state
 * whatever the rules or the clock say at replay time. `v` is the schema version for upcasting.
 */
import type { Decision } from './decision.ts';
import type { EventKind } from './event.ts';
import type { Placement, WindowAggregate } from './windows.ts';

export const JOURNAL_VERSION = 1;

export type JournalEvent = EventAccepted | WindowsIdleClosed;

export interface EventAccepted {
  v: 1;
  type: 'accepted';
  /** What the state keeps of the event; eventId, eventType and timestamp are in the decision. */
  event: {
    kind: EventKind;
    amount: string | null;
    deviceId: string | null;
    country: string | null;
    failedLogin: boolean;
    /** "topic:partition" and offset of the Kafka record, null for other sources. */
    source: string | null;
    offset: string | null;
  };
  /** As emitted; its decidedAt is the processing time of the event. */
  decision: Decision;
  /** The window the event joined; null when it came too late for it. */
  window: Placement | null;
  /** Windows the event closed, as emitted. */
  closed: WindowAggregate[];
}

export interface WindowsIdleClosed {
  v: 1;
  type: 'idleClosed';
  /** Processing time of the close. */
  at: number;
  closed: WindowAggregate[];
}
