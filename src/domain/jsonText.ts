/**
 * JSON text of what the engine writes for every event (the decision, the journal entry's data,
 * the windows it closed), written field by field: exactly the text JSON.stringify gives, for
 * less. Each writer knows its object's keys in order; whatever is not that shape (another key
 * order, an unexpected type, a toJSON) is left to JSON.stringify, so the text never differs.
 * What makes it cheaper is numbers: V8 formats an epoch time or a 4-decimal score with its
 * general double-to-text algorithm; these are formatted here from small integers (jsonNumber).
 * Property tests hold every writer to JSON.stringify (jsonText.test.ts).
 */
import type { Decision } from './decision.ts';
import type { Extras } from './history.ts';
import type { EventAccepted } from './journal.ts';
import type { WindowAggregate } from './windows.ts';

/** Thrown inside a writer when its object is not the shape it knows; the caller falls back to JSON.stringify. */
const NOT_THE_SHAPE = new Error('not the shape this writer knows');

/** Characters JSON.stringify escapes (and surrogates, which it escapes when lone): such strings are left to it. */
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

export const jsonString = (s: string): string => (ESCAPED.test(s) ? JSON.stringify(s) : `"${s}"`);

/**
 * JSON.stringify(n). An integer comes out of one or two small integers, which V8 formats fast;
 * a number on the 1e-4 grid (scores, weights) out of its count of 1e-4: its shortest decimal is
 * that count's digits, as no decimal with fewer digits lies within half a unit of its last place
 * (below 1e-11 under 2^31 / 10^4). Anything else is formatted by V8.
 */
export function jsonNumber(n: number): string {
  if (Number.isSafeInteger(n)) return n > -0x40000000 && n < 0x40000000 ? String(n) : largeInteger(n);
  const k = Math.round(n * 10_000);
  if (k / 10_000 === n && k > -0x7fffffff && k < 0x7fffffff) return fourPlaces(k);
  return Number.isFinite(n) ? String(n) : 'null';
}

/** A safe integer of at least 2^30 in magnitude (an epoch time), as two parts below 10^9. */
function largeInteger(n: number): string {
  const a = Math.abs(n);
  let high = Math.floor(a / 1e9);
  let low = a - high * 1e9;
  // a / 1e9 is rounded, so floor may be one off either way; high * 1e9 and the difference are exact.
  if (low < 0) [high, low] = [high - 1, low + 1e9];
  else if (low >= 1e9) [high, low] = [high + 1, low - 1e9];
  return `${n < 0 ? '-' : ''}${high}${String(low).padStart(9, '0')}`;
}

/** k / 10^4 for an integer k that is not a multiple of 10^4, without trailing zeros. */
function fourPlaces(k: number): string {
  const a = Math.abs(k);
  const fraction = a % 10_000;
  const whole = (a - fraction) / 10_000;
  const digits =
    fraction % 1000 === 0
      ? String(fraction / 1000)
      : fraction % 100 === 0
        ? String(fraction / 100).padStart(2, '0')
        : fraction % 10 === 0
          ? String(fraction / 10).padStart(3, '0')
          : String(fraction).padStart(4, '0');
  return `${k < 0 ? '-' : ''}${whole}.${digits}`;
}

/** JSON.stringify(d), byte for byte. */
export function decisionText(d: Decision): string {
  try {
    return writeDecision(d);
  } catch (err) {
    if (err === NOT_THE_SHAPE) return JSON.stringify(d);
    throw err;
  }
}

/** JSON.stringify(closed), byte for byte. */
export function aggregatesText(closed: readonly WindowAggregate[]): string {
  try {
    if (!Array.isArray(closed)) throw NOT_THE_SHAPE;
    let s = '';
    for (let i = 0; i < closed.length; i++) s += `${i === 0 ? '' : ','}${writeAggregate(closed[i]!)}`;
    return `[${s}]`;
  } catch (err) {
    if (err === NOT_THE_SHAPE) return JSON.stringify(closed);
    throw err;
  }
}

/** JSON.stringify(a), byte for byte. */
export function aggregateText(a: WindowAggregate): string {
  try {
    return writeAggregate(a);
  } catch (err) {
    if (err === NOT_THE_SHAPE) return JSON.stringify(a);
    throw err;
  }
}

/**
 * JSON.stringify(data) of an accepted event's journal data, byte for byte, with `decision` (the
 * text of data.decision) spliced in; null when the data is not of the journal's shape.
 */
export function acceptedText(data: EventAccepted, decision: string): string | null {
  if (typeof data.decision !== 'object' || data.decision === null || !Array.isArray(data.closed)) return null;
  try {
    keysAre(data, ACCEPTED_KEYS);
    const w = data.window;
    if (w !== null) keysAre(w, WINDOW_KEYS);
    const window = w === null ? 'null' : `{"start":${num(w.start)},"end":${num(w.end)}}`;
    let closed = '';
    for (let i = 0; i < data.closed.length; i++) closed += `${i === 0 ? '' : ','}${writeAggregate(data.closed[i]!)}`;
    return `{"v":${num(data.v)},"type":${str(data.type)},"event":${writeEvent(data.event)},"decision":${decision},"window":${window},"closed":[${closed}]}`;
  } catch (err) {
    if (err === NOT_THE_SHAPE) return null;
    throw err;
  }
}

/**
 * JSON.stringify(x) of a history entry's extras, byte for byte, in a string of exactly its size:
 * the pieces are joined, which allocates the result once at its length. A history keeps 50 of
 * them per user, and V8's JSON.stringify returns its result in oversized builder buffers (about
 * 100 bytes spare for 136 characters: 257 bytes held, against 161 for the joined text).
 */
export function extrasText(x: Extras): string {
  try {
    keysAre(x, EXTRAS_KEYS);
    const parts: string[] = [];
    for (const key of EXTRAS_KEYS.names) {
      const v = x[key as keyof Extras];
      if (v === undefined) continue;
      parts.push(parts.length === 0 ? `{"${key}":` : `,"${key}":`);
      if (key === 'r' || key === 'c' || key === 'w') writeArray(parts, v, key === 'r');
      else parts.push(key === 's' ? num(v) : str(v));
    }
    parts.push('}');
    return parts.join('');
  } catch (err) {
    if (err === NOT_THE_SHAPE) return exactCopy(JSON.stringify(x));
    throw err;
  }
}

/** An array of numbers, or of arrays of numbers (of reasons, [code, weight, detail], when `reasons`). */
function writeArray(parts: string[], v: unknown, reasons: boolean): void {
  if (!Array.isArray(v) || (v as { toJSON?: unknown }).toJSON !== undefined) throw NOT_THE_SHAPE;
  parts.push('[');
  for (let i = 0; i < v.length; i++) {
    if (i > 0) parts.push(',');
    const item: unknown = v[i];
    if (typeof item === 'number') parts.push(jsonNumber(item));
    else if (!Array.isArray(item) || (item as { toJSON?: unknown }).toJSON !== undefined) throw NOT_THE_SHAPE;
    else if (reasons) {
      if (item.length !== 3) throw NOT_THE_SHAPE;
      parts.push('[', str(item[0]), ',', num(item[1]), ',', str(item[2]), ']');
    } else {
      parts.push('[');
      for (let k = 0; k < item.length; k++) parts.push(k === 0 ? num(item[k]) : `,${num(item[k])}`);
      parts.push(']');
    }
  }
  parts.push(']');
}

/** The same string in a buffer of its own size (array join allocates its result at its length). */
const exactCopy = (s: string): string => [s.slice(0, 1), s.slice(1)].join('');

const EXTRAS_KEYS = keyList('a?', 'o?', 's?', 'r?', 'c?', 't?', 'w?', 'u?', 'd?', 'k?', 'p?', 'y?', 'm?', 'v?');
const ACCEPTED_KEYS = keyList('v', 'type', 'event', 'decision', 'window', 'closed');
const WINDOW_KEYS = keyList('start', 'end');
const EVENT_KEYS = keyList('kind', 'amount', 'currency?', 'rate?', 'deviceId', 'country', 'failedLogin', 'source', 'offset', 'upstreamRisk?');
const DECISION_KEYS = keyList('eventId', 'userId', 'eventType', 'decision', 'riskScore', 'reasons', 'modelVersion', 'rulesVersion', 'eventTimestamp', 'decidedAt', 'shard', 'traceId', 'shadow?');
const REASON_KEYS = keyList('code', 'weight', 'detail');
const SHADOW_KEYS = keyList('rulesVersion', 'decision', 'riskScore');
const AGGREGATE_KEYS = keyList('userId', 'windowStart', 'windowEnd', 'eventCount', 'totalRiskScore', 'avgRiskScore', 'maxRiskScore', 'firstEventTime', 'lastEventTime');

function writeEvent(e: EventAccepted['event']): string {
  keysAre(e, EVENT_KEYS);
  const currency = e.currency === undefined ? '' : `,"currency":${str(e.currency)}`;
  const rate = e.rate === undefined ? '' : `,"rate":${num(e.rate)}`;
  const upstream = e.upstreamRisk === undefined ? '' : `,"upstreamRisk":${num(e.upstreamRisk)}`;
  return `{"kind":${str(e.kind)},"amount":${strOrNull(e.amount)}${currency}${rate},"deviceId":${strOrNull(e.deviceId)},"country":${strOrNull(e.country)},"failedLogin":${bool(e.failedLogin)},"source":${strOrNull(e.source)},"offset":${strOrNull(e.offset)}${upstream}}`;
}

function writeDecision(d: Decision): string {
  keysAre(d, DECISION_KEYS);
  const reasons = d.reasons;
  if (!Array.isArray(reasons)) throw NOT_THE_SHAPE;
  let r = '';
  for (let i = 0; i < reasons.length; i++) {
    const x = reasons[i]!;
    keysAre(x, REASON_KEYS);
    r += `${i === 0 ? '' : ','}{"code":${str(x.code)},"weight":${num(x.weight)},"detail":${str(x.detail)}}`;
  }
  let shadow = '';
  if (d.shadow !== undefined) {
    const s = d.shadow;
    keysAre(s, SHADOW_KEYS);
    shadow = `,"shadow":{"rulesVersion":${num(s.rulesVersion)},"decision":${str(s.decision)},"riskScore":${num(s.riskScore)}}`;
  }
  return `{"eventId":${str(d.eventId)},"userId":${str(d.userId)},"eventType":${str(d.eventType)},"decision":${str(d.decision)},"riskScore":${num(d.riskScore)},"reasons":[${r}],"modelVersion":${str(d.modelVersion)},"rulesVersion":${num(d.rulesVersion)},"eventTimestamp":${num(d.eventTimestamp)},"decidedAt":${num(d.decidedAt)},"shard":${num(d.shard)},"traceId":${strOrNull(d.traceId)}${shadow}}`;
}

function writeAggregate(a: WindowAggregate): string {
  keysAre(a, AGGREGATE_KEYS);
  return `{"userId":${str(a.userId)},"windowStart":${num(a.windowStart)},"windowEnd":${num(a.windowEnd)},"eventCount":${num(a.eventCount)},"totalRiskScore":${num(a.totalRiskScore)},"avgRiskScore":${num(a.avgRiskScore)},"maxRiskScore":${num(a.maxRiskScore)},"firstEventTime":${num(a.firstEventTime)},"lastEventTime":${num(a.lastEventTime)}}`;
}

interface KeyList {
  names: readonly string[];
  optional: readonly boolean[];
}

/** Keys in order; a trailing "?" marks one that may be absent. */
function keyList(...keys: string[]): KeyList {
  return { names: keys.map((k) => k.replace(/\?$/, '')), optional: keys.map((k) => k.endsWith('?')) };
}

/**
 * The object's keys, as JSON.stringify lists them, are these in this order (optional ones may be
 * absent), and it has no toJSON. for...in lists a plain object's own keys in the order
 * JSON.stringify does, and inherited enumerable ones too (which only makes it refuse more).
 */
function keysAre(o: unknown, keys: KeyList): void {
  if (typeof o !== 'object' || o === null || Array.isArray(o) || (o as { toJSON?: unknown }).toJSON !== undefined) throw NOT_THE_SHAPE;
  const { names, optional } = keys;
  let at = 0;
  for (const k in o) {
    while (at < names.length && names[at] !== k && optional[at]) at++;
    if (at === names.length || names[at] !== k) throw NOT_THE_SHAPE;
    at++;
  }
  while (at < names.length && optional[at]) at++;
  if (at !== names.length) throw NOT_THE_SHAPE;
}

// A value of the expected type, or NOT_THE_SHAPE (undefined, which JSON.stringify leaves out, included).
function str(v: unknown): string {
  if (typeof v !== 'string') throw NOT_THE_SHAPE;
  return jsonString(v);
}
function strOrNull(v: unknown): string {
  return v === null ? 'null' : str(v);
}
function num(v: unknown): string {
  if (typeof v !== 'number') throw NOT_THE_SHAPE;
  return jsonNumber(v);
}
function bool(v: unknown): string {
  if (typeof v !== 'boolean') throw NOT_THE_SHAPE;
  return v ? 'true' : 'false';
}
