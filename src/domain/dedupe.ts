/** Recognising records and events seen before. */
import type { RiskEvent } from './event.ts';
import { indexOfSource } from './history.ts';
import { sourceKey, type UserState } from './state.ts';

/**
 * cyrb53 (public domain, bryc): a fast 53-bit string hash, so an eventId costs one number in
 * the state. Against 1000 remembered hashes, a new eventId passes for a duplicate with odds of
 * about 1 in 10^13.
 */
export function hashEventId(s: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** The record was applied before: its `offset` is at or below the last one applied from its partition `source` ("topic:partition"). */
export function offsetApplied(state: UserState, source: string, offset: string): boolean {
  // One lookup: an own key or undefined, as no inherited key of a plain object has a colon in it.
  const last = state.seen.offsets[source];
  return last !== undefined && compareOffsets(offset, last) <= 0;
}

/** Kafka offsets as canonical decimal strings, compared as integers (they may exceed 2^53) without BigInt. */
export function compareOffsets(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** This eventId is in the history, or its hash among those that left it. */
export function seenEventId(state: UserState, eventId: string): boolean {
  if (state.history.eventIds.includes(eventId)) return true;
  return state.seen.eventIds.length > 0 && state.seen.eventIds.includes(hashEventId(eventId));
}

/** The history index of the decision made for exactly this record (same partition and offset), or -1. */
export function recordIndexFor(state: UserState, event: RiskEvent): number {
  if (event.source === null) return -1;
  return indexOfSource(state.history, sourceKey(event.source.topic, event.source.partition), event.source.offset);
}
