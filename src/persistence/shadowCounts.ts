/**
 * Shadow-rule counts (CONTRACT §8, GET /rules/shadow/report): per shadow version, how many events
 * were decided under it, how many agreed with the live decision, and the disagreements by
 * "live->shadow". Both stores add a round's counts in the journal write itself (Redis: the append
 * script's HINCRBY on `<prefix>:shadow:<version>`; LMDB: the append's transaction), derived from
 * the accepted entries' decisions: counted exactly when an event is journaled, so exactly once
 * (a redelivered event is not decided again, hence not journaled or counted again).
 */
import type { Decision } from '../domain/index.ts';
import type { JournalEntry } from './JournalStore.ts';

export const EVENTS = 'events';
export const AGREE = 'agree';
export const SINCE = 'since';

export interface ShadowCounts {
  shadowVersion: number;
  /** When counting started (epoch ms), null when unknown. */
  since: number | null;
  events: number;
  agree: number;
  /** "LIVE->SHADOW" -> events, live decision first. */
  disagreements: Record<string, number>;
}

/** The stores' part of the shadow report. */
export interface ShadowCountStore {
  /** Counting for `version` starts afresh now (earlier counts under that number are dropped). */
  startShadowCounts(version: number, since: number): Promise<void>;
  /** The counts of `version`; null when it was never started nor counted. */
  shadowCounts(version: number): Promise<ShadowCounts | null>;
}

export const isShadowCountStore = (store: unknown): store is ShadowCountStore =>
  typeof store === 'object' && store !== null && typeof (store as Partial<ShadowCountStore>).shadowCounts === 'function';

/** The increments of `entries`: shadow version -> field -> count. Empty when no entry had a shadow verdict. */
export function shadowIncrementsOf(entries: readonly JournalEntry[]): Map<number, Map<string, number>> {
  const out = new Map<number, Map<string, number>>();
  for (const e of entries) {
    const data = e.data as { type?: unknown; decision?: Partial<Decision> } | null;
    if (typeof data !== 'object' || data === null || data.type !== 'accepted') continue;
    const live = data.decision?.decision;
    const shadow = data.decision?.shadow;
    if (!live || !shadow) continue;
    let fields = out.get(shadow.rulesVersion);
    if (!fields) out.set(shadow.rulesVersion, (fields = new Map()));
    const add = (field: string) => fields.set(field, (fields.get(field) ?? 0) + 1);
    add(EVENTS);
    add(live === shadow.decision ? AGREE : `${live}->${shadow.decision}`);
  }
  return out;
}

/** The counts from a stored field -> value table (Redis hash, LMDB entries); null when empty. */
export function countsOf(version: number, fields: ReadonlyMap<string, string | number>): ShadowCounts | null {
  if (fields.size === 0) return null;
  const disagreements: Record<string, number> = {};
  let events = 0;
  let agree = 0;
  let since: number | null = null;
  for (const [field, raw] of fields) {
    const n = Number(raw);
    if (field === EVENTS) events = n;
    else if (field === AGREE) agree = n;
    else if (field === SINCE) since = n;
    else if (field.includes('->')) disagreements[field] = n;
  }
  return { shadowVersion: version, since, events, agree, disagreements };
}
