/**
 * A user's recent history: each accepted event with the decision made for it, oldest first.
 *
 * An actor holds one per live user, up to 100,000 per instance, so entries are columns rather
 * than objects: the numbers of an entry (times, amount, offset and small codes packed into two
 * integers) sit in arrays of unboxed doubles, strings the entries share (devices, countries,
 * sources, event types, model and rules versions) are kept once in a small per-user table and referred to
 * by index, and what only some entries carry (reasons, closed windows, a trace id), read only to
 * show or re-emit a decision, is one JSON string per entry: a string costs a third of the
 * objects it stands for. It is plain JSON all the same, so snapshots round-trip losslessly.
 *
 * Pure: `pushEntry` returns a new history and leaves its input as it was.
 */
import type { Decision, Verdict } from './decision.ts';
import type { EventKind } from './event.ts';
import type { EventAccepted } from './journal.ts';
import { formatMinor, minorUnits } from './money.ts';
import { toAggregate, type WindowAggregate } from './windows.ts';

export interface History {
  /**
   * STRIDE numbers per entry (the column offsets are below), in chunks of CHUNK entries, oldest
   * first. A chunk is never changed once a later one exists, so a new history shares all but its
   * last chunk with the one it came from: an event copies at most one chunk, not the history.
   */
  nums: number[][];
  /** Entries at the start of the first chunk that have left the history. */
  skip: number;
  eventIds: string[];
  /** Index 0 stands for "none"; entries refer to the others. At most MAX_STRINGS; INLINE means "in the entry's extras". */
  strings: string[];
  /** Per entry, 0 or the JSON of its Extras. */
  extras: (string | 0)[];
  /**
   * The currencies other than the default one that amounts came in, at most MAX_CURRENCIES;
   * absent until one comes. Entries refer to them by position (HOT's top 3 bits, 0: the default
   * currency); CURRENCY_INLINE means "in the entry's extras".
   */
  currencies?: string[];
}

/**
 * A closed window as the open window it was, [start, end - start, eventCount, riskUnits,
 * maxRiskScore * 10^4, firstEventTime - start, lastEventTime - start], from which `toAggregate`
 * rebuilds the aggregate; or, should that not give it back exactly, the aggregate's 8 numbers.
 */
export type ClosedWindow = number[];

/** One-letter keys: there is one such JSON text per entry. */
export interface Extras {
  /** The decision's reasons as [code, weight, detail]. */
  r?: [string, number, string][];
  /** The windows the event closed. */
  c?: ClosedWindow[];
  /** The decision's traceId. */
  t?: string;
  /** Exact values the columns cannot hold: an amount beyond 2^53 minor units, an offset beyond 2^53, a riskScore off the 1e-4 grid. */
  a?: string;
  o?: string;
  s?: number;
  /** Strings the table had no room for: device, country, source, eventType, model and rules versions. */
  d?: string;
  k?: string;
  p?: string;
  y?: string;
  m?: string;
  v?: string;
  /** The amount's currency, when the currency table had no room for it. */
  u?: string;
  /** The decision's shadow verdict (CONTRACT §8) as [rulesVersion, verdict index, riskScore]. */
  w?: [number, number, number];
}
type InlineKey = 'd' | 'k' | 'p' | 'y' | 'm' | 'v';

export const STRIDE = 6;
/** Entries per chunk of `nums`: a power of two, so that finding an entry is a shift and a mask. */
export const CHUNK = 8;
const CHUNK_BITS = 3;
const T = 0;
const DECIDED_AT = 1;
/** Minor units (1e-4); NONE when the event had no amount, EXTRA when it is in extras. */
const AMOUNT = 2;
/** The Kafka offset; NONE for events without a Kafka source, EXTRA when it is in extras. */
const OFFSET = 3;
/**
 * Read by the features on every event: kind (2 bits), failed login (1), verdict (2), device,
 * country and source string indexes (8 each), the amount's currency (3): 32 bits, kept unsigned.
 */
const HOT = 4;
/** Read to show or re-emit a decision: riskScore in units of 1e-4, the shard, string indexes of eventType, model and rules version. Beyond 32 bits, so packed by arithmetic (see cold()). */
const COLD = 5;

const NONE = -1;
const EXTRA = -2;
export const MAX_STRINGS = 255;
export const MAX_CURRENCIES = 6;
const CURRENCY_INLINE = 7;
const CURRENCY_AT = 29;
/** The index of a string the table had no room for (a user with ever new devices, countries and event types): the entry's extras hold it. */
const INLINE = 255;

/** [lowest bit, bits] of each field of the COLD column: 52 bits in all, exact in a double. */
const RISK: Field = [0, 14];
const EVENT_TYPE: Field = [14, 8];
const MODEL: Field = [22, 8];
const RULES: Field = [30, 8];
const SHARD: Field = [38, 14];
type Field = readonly [at: number, bits: number];
const cold = (packed: number, [at, bits]: Field): number => Math.floor(packed / 2 ** at) % 2 ** bits;
const withCold = (packed: number, [at, bits]: Field, value: number): number => packed + (value - cold(packed, [at, bits])) * 2 ** at;
export const MAX_SHARDS = 2 ** SHARD[1];

const KINDS: readonly EventKind[] = ['login', 'payment', 'transfer', 'other'];
const VERDICTS: readonly Verdict[] = ['ALLOW', 'CHALLENGE', 'BLOCK'];

export const emptyHistory = (): History => ({ nums: [], skip: 0, eventIds: [], strings: [''], extras: [] });

/** Column `col` of entry i. */
function num(h: History, i: number, col: number): number {
  const g = h.skip + i;
  return h.nums[g >>> CHUNK_BITS]![(g & (CHUNK - 1)) * STRIDE + col]!;
}

export const historyLength = (h: History): number => h.eventIds.length;

// The readers the features use on every event: no allocation, no unpacking beyond a mask.
export const timeAt = (h: History, i: number): number => num(h, i, T);
const hot = (h: History, i: number): number => num(h, i, HOT);
export const kindAt = (h: History, i: number): EventKind => KINDS[hot(h, i) & 3]!;
export const isKindAt = (h: History, i: number, kind: EventKind): boolean => KINDS[hot(h, i) & 3] === kind;
export const failedLoginAt = (h: History, i: number): boolean => (hot(h, i) & 4) !== 0;
export const verdictAt = (h: History, i: number): Verdict => VERDICTS[(hot(h, i) >>> 3) & 3]!;
export const isVerdictAt = (h: History, i: number, v: Verdict): boolean => VERDICTS[(hot(h, i) >>> 3) & 3] === v;
export const deviceAt = (h: History, i: number): string | null => stringAt(h, i, (hot(h, i) >>> 5) & 255, 'd');
export const countryAt = (h: History, i: number): string | null => stringAt(h, i, (hot(h, i) >>> 13) & 255, 'k');
/** countryAt(h, i) !== null, without reading the string. */
export const hasCountryAt = (h: History, i: number): boolean => ((hot(h, i) >>> 13) & 255) !== 0;
const sourceIndexAt = (h: History, i: number): number => (hot(h, i) >>> 21) & 255;
function stringAt(h: History, i: number, index: number, inline: InlineKey): string | null {
  if (index === INLINE) return extrasAt(h, i)[inline]!;
  return index === 0 ? null : h.strings[index]!;
}
/** The currency of entry i's amount when it is not the default currency, else null. */
export function currencyAt(h: History, i: number): string | null {
  const c = hot(h, i) >>> CURRENCY_AT;
  if (c === 0) return null;
  return c === CURRENCY_INLINE ? extrasAt(h, i).u! : h.currencies![c - 1]!;
}
const extrasAt = (h: History, i: number): Extras => (h.extras[i] ? (JSON.parse(h.extras[i] as string) as Extras) : {});
/** Index 0 is "none" whatever it holds, so lookups start at 1. */
const indexIn = (strings: readonly string[], s: string): number => strings.indexOf(s, 1);

/** The amount as a number (features only); null when the event had none. */
export function amountValueAt(h: History, i: number): number | null {
  const v = num(h, i, AMOUNT);
  if (v === NONE) return null;
  return v === EXTRA ? Number(extrasAt(h, i).a) : v / 10_000;
}

/** The exact amount, as the event gave it ("12.3400"). */
export function amountAt(h: History, i: number): string | null {
  const v = num(h, i, AMOUNT);
  if (v === NONE) return null;
  return v === EXTRA ? extrasAt(h, i).a! : formatMinor(BigInt(v));
}

/** "topic:partition:offset" of the record decided, null for events without a Kafka source. */
export function sourceAt(h: History, i: number): string | null {
  const source = stringAt(h, i, sourceIndexAt(h, i), 'p');
  const v = num(h, i, OFFSET);
  if (source === null || v === NONE) return null;
  return `${source}:${v === EXTRA ? extrasAt(h, i).o! : String(v)}`;
}

/** The index of the entry decided for this record ("topic:partition" and offset), or -1. */
export function indexOfSource(h: History, source: string, offset: string): number {
  const s = indexIn(h.strings, source);
  const n = Number(offset);
  const exact = Number.isSafeInteger(n);
  for (let i = historyLength(h) - 1; i >= 0; i--) {
    const at = sourceIndexAt(h, i);
    if (at !== s && !(at === INLINE && extrasAt(h, i).p === source)) continue;
    const v = num(h, i, OFFSET);
    if (exact ? v === n : v === EXTRA && extrasAt(h, i).o === offset) return i;
  }
  return -1;
}

/** The decision of entry i, as it was emitted. */
export function decisionAt(h: History, i: number, userId: string): Decision {
  const c = num(h, i, COLD);
  const extras = extrasAt(h, i);
  const typeIndex = cold(c, EVENT_TYPE);
  return {
    eventId: h.eventIds[i]!,
    userId,
    eventType: typeIndex === 0 ? kindAt(h, i) : stringAt(h, i, typeIndex, 'y')!,
    decision: verdictAt(h, i),
    riskScore: extras.s ?? cold(c, RISK) / 10_000,
    reasons: (extras.r ?? []).map(([code, weight, detail]) => ({ code, weight, detail })),
    modelVersion: stringAt(h, i, cold(c, MODEL), 'm')!,
    rulesVersion: Number(stringAt(h, i, cold(c, RULES), 'v')),
    eventTimestamp: timeAt(h, i),
    decidedAt: num(h, i, DECIDED_AT),
    shard: cold(c, SHARD),
    traceId: extras.t ?? null,
    // Absent rather than undefined, as decide leaves it: the re-emitted record is the same text.
    ...(extras.w ? { shadow: { rulesVersion: extras.w[0], decision: VERDICTS[extras.w[1]]!, riskScore: extras.w[2] } } : {}),
  };
}

/** The windows entry i closed, as they were emitted. */
export function closedAt(h: History, i: number, userId: string): WindowAggregate[] {
  return (extrasAt(h, i).c ?? []).map((w) => fromClosed(userId, w));
}

function fromClosed(userId: string, w: ClosedWindow): WindowAggregate {
  if (w.length === 8) {
    const [windowStart, windowEnd, eventCount, totalRiskScore, avgRiskScore, maxRiskScore, firstEventTime, lastEventTime] = w as [number, number, number, number, number, number, number, number];
    return { userId, windowStart, windowEnd, eventCount, totalRiskScore, avgRiskScore, maxRiskScore, firstEventTime, lastEventTime };
  }
  const [start, size, eventCount, riskUnits, maxUnits, first, last] = w as [number, number, number, number, number, number, number];
  return toAggregate(userId, { start, end: start + size, eventCount, riskUnits, maxRiskScore: maxUnits / 10_000, firstEventTime: start + first, lastEventTime: start + last });
}

function toClosed(a: WindowAggregate): ClosedWindow {
  const s = a.windowStart;
  const compact = [s, a.windowEnd - s, a.eventCount, Math.round(a.totalRiskScore * 10_000), Math.round(a.maxRiskScore * 10_000), a.firstEventTime - s, a.lastEventTime - s];
  const b = fromClosed(a.userId, compact);
  const same =
    b.windowStart === a.windowStart &&
    b.windowEnd === a.windowEnd &&
    b.eventCount === a.eventCount &&
    b.totalRiskScore === a.totalRiskScore &&
    b.avgRiskScore === a.avgRiskScore &&
    b.maxRiskScore === a.maxRiskScore &&
    b.firstEventTime === a.firstEventTime &&
    b.lastEventTime === a.lastEventTime;
  return same ? compact : [s, a.windowEnd, a.eventCount, a.totalRiskScore, a.avgRiskScore, a.maxRiskScore, a.firstEventTime, a.lastEventTime];
}

/**
 * What the journal says of the event, with the decision made for it and the windows it closed;
 * `currency` is the amount's when it is not the default currency, else null.
 */
export type EntryInput = Omit<EventAccepted['event'], 'currency' | 'rate'> & { currency: string | null; decision: Decision; closed: readonly WindowAggregate[] };

/** Appends an entry, dropping the oldest beyond `max`. */
export function pushEntry(h: History, e: EntryInput, max: number): History {
  const d = e.decision;
  const n = historyLength(h);
  const drop = Math.max(0, n + 1 - max);
  const eventType = d.eventType === e.kind ? null : d.eventType;
  const rulesVersion = String(d.rulesVersion);
  // Almost always every string is in the table already: the table is remade only when one is not.
  let strings = h.strings;
  let device = slotOf(strings, e.deviceId);
  let country = slotOf(strings, e.country);
  let source = slotOf(strings, e.source);
  let type = slotOf(strings, eventType);
  let model = slotOf(strings, d.modelVersion);
  let rules = slotOf(strings, rulesVersion);
  let renumber: Renumber | undefined;
  if ((device | country | source | type | model | rules) < 0) {
    ({ strings, renumber } = withStrings(h, [e.deviceId, e.country, e.source, eventType, d.modelVersion, rulesVersion]));
    [device, country, source, type, model, rules] = [slotOf(strings, e.deviceId), slotOf(strings, e.country), slotOf(strings, e.source), slotOf(strings, eventType), slotOf(strings, d.modelVersion), slotOf(strings, rulesVersion)];
  }
  // Its keys in this order (a, o, s, r, c, t, w, u, then the strings d, k, p, y, m, v): an entry's text must not change.
  const extra: Extras = {};

  let amount = NONE;
  if (e.amount !== null) {
    const minor = minorUnits(e.amount);
    if (Number.isSafeInteger(minor)) amount = minor;
    else [amount, extra.a] = [EXTRA, e.amount];
  }
  let offset = NONE;
  if (e.source !== null && e.offset !== null) {
    const n = Number(e.offset);
    if (Number.isSafeInteger(n) && String(n) === e.offset) offset = n;
    else [offset, extra.o] = [EXTRA, e.offset];
  }
  let riskUnits = Math.round(d.riskScore * 10_000);
  if (riskUnits / 10_000 !== d.riskScore || riskUnits < 0 || riskUnits >= 2 ** 14) [riskUnits, extra.s] = [0, d.riskScore];
  if (!Number.isInteger(d.shard) || d.shard < 0 || d.shard >= MAX_SHARDS) throw new Error(`shard ${d.shard} out of range`);
  if (d.reasons.length) extra.r = d.reasons.map((r) => [r.code, r.weight, r.detail]);
  if (e.closed.length) extra.c = e.closed.map(toClosed);
  if (d.traceId !== null) extra.t = d.traceId;
  if (d.shadow) extra.w = [d.shadow.rulesVersion, VERDICTS.indexOf(d.shadow.decision), d.shadow.riskScore];
  let currencies = h.currencies;
  let currency = 0;
  if (e.currency !== null) {
    const at = currencies === undefined ? -1 : currencies.indexOf(e.currency);
    if (at >= 0) currency = at + 1;
    else if ((currencies?.length ?? 0) < MAX_CURRENCIES) {
      currencies = (currencies ?? []).concat([e.currency]);
      currency = currencies.length;
    } else [currency, extra.u] = [CURRENCY_INLINE, e.currency];
  }
  // A string the table has no room for is the entry's own.
  if (device < 0) [device, extra.d] = [INLINE, e.deviceId!];
  if (country < 0) [country, extra.k] = [INLINE, e.country!];
  if (source < 0) [source, extra.p] = [INLINE, e.source!];
  if (type < 0) [type, extra.y] = [INLINE, eventType!];
  if (model < 0) [model, extra.m] = [INLINE, d.modelVersion];
  if (rules < 0) [rules, extra.v] = [INLINE, rulesVersion];

  const hotCode = KINDS.indexOf(e.kind) | (e.failedLogin ? 4 : 0) | (VERDICTS.indexOf(d.decision) << 3) | (device << 5) | (country << 13) | (source << 21) | (currency << CURRENCY_AT);
  // The COLD fields side by side (see withCold): each is below 2^bits, so a sum of exact products.
  const packed = riskUnits + type * 2 ** EVENT_TYPE[0] + model * 2 ** MODEL[0] + rules * 2 ** RULES[0] + d.shard * 2 ** SHARD[0];
  const values = [d.eventTimestamp, d.decidedAt, amount, offset, hotCode >>> 0, packed];
  const g = h.skip + n;
  // concat, not push: it allocates exactly what is needed, where push leaves up to half again spare.
  let nums: number[][];
  if (g & (CHUNK - 1)) {
    nums = h.nums.slice();
    nums[nums.length - 1] = nums[nums.length - 1]!.concat(values);
  } else nums = h.nums.concat([values]);
  if (renumber) nums = renumber(nums, h.skip, n);
  let skip = h.skip + drop;
  if (skip >= CHUNK) {
    nums = nums.slice(skip >>> CHUNK_BITS);
    skip &= CHUNK - 1;
  }
  const next: History = {
    nums,
    skip,
    eventIds: (drop ? h.eventIds.slice(drop) : h.eventIds).concat([d.eventId]),
    strings,
    extras: (drop ? h.extras.slice(drop) : h.extras).concat([hasKeys(extra) ? exactCopy(JSON.stringify(extra)) : 0]),
  };
  // Absent rather than undefined, so that the state is the same after a JSON round trip.
  if (currencies !== undefined) next.currencies = currencies;
  return next;
}

/** The index of `s` in the table: 0 for null, -1 when the table does not have it. */
const slotOf = (strings: readonly string[], s: string | null): number => (s === null ? 0 : indexIn(strings, s));

/** Whether an object has a key, without listing them. */
function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

type Renumber = (nums: number[][], skip: number, entries: number) => number[][];

/**
 * The string table with `wanted` in it, as far as there is room. When it would outgrow
 * MAX_STRINGS, strings no entry refers to any more are dropped; `renumber` then rewrites the
 * indexes of the `entries` entries after `skip` in a copy of the chunks.
 */
function withStrings(h: History, wanted: readonly (string | null)[]): { strings: string[]; renumber?: Renumber } {
  const strings = h.strings;
  const missing = wanted.filter((s, i): s is string => s !== null && indexIn(strings, s) < 0 && wanted.indexOf(s) === i);
  if (!missing.length) return { strings };
  if (strings.length + missing.length <= MAX_STRINGS) return { strings: strings.concat(missing) };
  const used = new Set<number>([0]);
  for (let i = 0; i < historyLength(h); i++) for (const s of stringIndexes(num(h, i, HOT), num(h, i, COLD))) if (s !== INLINE) used.add(s);
  const kept = [...used].sort((a, b) => a - b);
  const remap = new Map(kept.map((old, i) => [old, i]));
  remap.set(INLINE, INLINE);
  const at = (old: number): number => remap.get(old)!;
  const renumber = (nums: number[][], skip: number, entries: number): number[][] => {
    const out = nums.map((chunk) => chunk.slice());
    for (let g = skip; g < skip + entries; g++) {
      const chunk = out[g >>> CHUNK_BITS]!;
      const base = (g & (CHUNK - 1)) * STRIDE;
      const h = chunk[base + HOT]!;
      chunk[base + HOT] = ((h & 31) | (at((h >>> 5) & 255) << 5) | (at((h >>> 13) & 255) << 13) | (at((h >>> 21) & 255) << 21) | (h & (7 << CURRENCY_AT))) >>> 0;
      let c = chunk[base + COLD]!;
      for (const field of [EVENT_TYPE, MODEL, RULES]) c = withCold(c, field, at(cold(c, field)));
      chunk[base + COLD] = c;
    }
    return out;
  };
  return { strings: kept.map((old) => strings[old]!).concat(missing.slice(0, MAX_STRINGS - kept.length)), renumber };
}

/** The string indexes an entry refers to: device, country, source, event type, model and rules versions. */
function stringIndexes(hotCode: number, c: number): number[] {
  return [(hotCode >>> 5) & 255, (hotCode >>> 13) & 255, (hotCode >>> 21) & 255, cold(c, EVENT_TYPE), cold(c, MODEL), cold(c, RULES)];
}

/**
 * The same string in a buffer of its own size: V8's JSON.stringify returns its result in
 * oversized builder buffers (about 100 bytes spare here), which a history keeps for 50 entries.
 * Array join allocates its result at the exact length (measured: the same 161 bytes for a
 * 136-character text as a UTF-8 round trip, at a fraction of its cost).
 */
const exactCopy = (s: string): string => [s.slice(0, 1), s.slice(1)].join('');
