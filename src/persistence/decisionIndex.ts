/**
 * The decision index (CONTRACT §7): eventId -> (userId, the journal sequence number of the event,
 * its decision), written by both stores in the same atomic write as the journal entry itself, so
 * that it costs no round trip and never names an entry that was not stored. Kept for
 * `decisions.retentionDays`. Also the every-version store of the rules, and the reads explain
 * needs to rebuild a user's state just before an event.
 *
 * An eventId is unique per user only (CONTRACT §1): two users may share one, so an eventId leads
 * to one entry per user.
 */
import { decisionJson, type Decision, type Rules, type WindowAggregate } from '../domain/index.ts';
import type { JournalEntry, Snapshot } from './JournalStore.ts';

export interface IndexedDecision {
  userId: string;
  /** The journal entry (of the user's persistence key) that accepted the event. */
  sequenceNumber: number;
  decision: Decision;
  /** When it was journaled (epoch ms). */
  at: number;
  /**
   * The windows the event closed, as emitted with its decision (absent: none). A redelivered
   * event whose decision has left its user's history emits both again from here.
   */
  closed?: WindowAggregate[];
  /**
   * The record the event came in ("topic:partition" and offset; absent for other sources and in
   * entries indexed before it was kept). A redelivered record takes the indexed decision only when
   * it is that record: one that was a duplicate of the eventId the first time got no decision.
   */
  source?: string;
  offset?: string;
}

export interface DecisionStore {
  /** The decisions journaled for `eventId` (one per user that sent it; only `userId`'s when given). */
  decisionsOf(eventId: string, userId?: string): Promise<IndexedDecision[]>;
  /** The newest snapshot of `key` at or below `sequenceNumber`, or null. */
  snapshotAtOrBefore(key: string, sequenceNumber: number): Promise<Snapshot | null>;
  /** Keeps `rules` under its rulesVersion; a version already kept is left as it is (false then). */
  saveRulesVersion(rules: Rules): Promise<boolean>;
  /** The rules as kept for version `v`, or null. */
  rulesVersion(v: number): Promise<Rules | null>;
}

export const isDecisionStore = (store: unknown): store is DecisionStore =>
  typeof store === 'object' && store !== null && typeof (store as Partial<DecisionStore>).decisionsOf === 'function';

/** Default of `decisions.retentionDays`. */
export const DEFAULT_DECISION_RETENTION_MS = 30 * 86_400_000;

/** What the index keeps for one journal entry: null when the entry accepted no event. */
export function indexEntryOf(entry: JournalEntry): { eventId: string; userId: string; value: string } | null {
  const data = entry.data as { type?: unknown; decision?: Partial<Decision>; closed?: unknown; event?: { source?: unknown; offset?: unknown } } | null;
  if (typeof data !== 'object' || data === null || data.type !== 'accepted') return null;
  const d = data.decision;
  if (!d || typeof d.eventId !== 'string' || typeof d.userId !== 'string') return null;
  // The decision's text is the one the journal and the decision record carry (made once).
  const closed = Array.isArray(data.closed) && data.closed.length > 0 ? `,"closed":${JSON.stringify(data.closed)}` : '';
  const { source, offset } = data.event ?? {};
  const from = typeof source === 'string' && typeof offset === 'string' ? `,"source":${JSON.stringify(source)},"offset":${JSON.stringify(offset)}` : '';
  return { eventId: d.eventId, userId: d.userId, value: `{"seq":${entry.sequenceNumber},"at":${entry.createdAt},"decision":${decisionJson(d as Decision)}${closed}${from}}` };
}

/** An index value back; null when it is not one (written by a future version, or damaged). */
export function parseIndexValue(userId: string, value: string): IndexedDecision | null {
  try {
    const v = JSON.parse(value) as { seq?: unknown; at?: unknown; decision?: unknown; closed?: unknown; source?: unknown; offset?: unknown };
    if (typeof v.seq !== 'number' || typeof v.at !== 'number' || typeof v.decision !== 'object' || v.decision === null) return null;
    return {
      userId,
      sequenceNumber: v.seq,
      at: v.at,
      decision: v.decision as Decision,
      ...(Array.isArray(v.closed) ? { closed: v.closed as WindowAggregate[] } : {}),
      ...(typeof v.source === 'string' && typeof v.offset === 'string' ? { source: v.source, offset: v.offset } : {}),
    };
  } catch {
    return null;
  }
}
