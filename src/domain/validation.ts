/**
 * Validation of input records (CONTRACT §1) into typed events. Hand-written rather than a schema
 * library because it runs for every record on the hot path and its messages must name the field
 * and the rule that failed (they end up in the dead-letter topic).
 */
import type { DomainConfig } from './config.ts';
import { kindOf, type RiskEvent } from './event.ts';
import { canonicalAmount } from './money.ts';
import { shardOfKey } from './shardOf.ts';

export type RejectCode = 'INVALID_JSON' | 'SCHEMA' | 'KEY_MISMATCH' | 'TOO_LARGE';

export interface RecordInput {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export type ParseResult = { ok: true; event: RiskEvent } | { ok: false; code: RejectCode; message: string };

/** What validation needs to know of the world, given by the caller so that the domain stays pure. */
export interface ValidationContext {
  /** The engine's clock (epoch ms): event times more than `maxClockSkewMs` ahead of it are refused. */
  now: number;
}

export interface RecordContext extends ValidationContext {
  /** Partitions of the input topics: a record must sit on the one murmur2 gives its key. */
  partitions: number;
}

/** Optional free-text fields (deviceId, ip, country) are bounded so that one producer cannot bloat a profile. */
const MAX_OPTIONAL_TEXT = 256;

/** The earliest event time accepted: 2000-01-01T00:00:00Z. */
export const MIN_EVENT_TIME = Date.UTC(2000, 0, 1);

/**
 * How deep any field of an event may nest objects and arrays (the field's own value is level 1),
 * so that `{"eventData": {"a": {"b": 1}}}` is 3 deep. Whoever handles the event next (JSON.stringify
 * on ingestion, the journal, snapshots) recurses, and a deep enough value overflows the stack.
 */
export const MAX_NESTING_DEPTH = 32;

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Keys are compared byte for byte with the userId: a leading BOM is part of a key. */
const utf8Key = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const THREE_LETTERS = /^[A-Za-z]{3}$/;

class Reject extends Error {
  constructor(readonly code: RejectCode, message: string) {
    super(message);
  }
}

const schema = (field: string, rule: string): Reject => new Reject('SCHEMA', `${field}: ${rule}`);

export function parseRecord(input: RecordInput, config: DomainConfig, ctx: RecordContext): ParseResult {
  if (input.value === null) return { ok: false, code: 'INVALID_JSON', message: 'value: the record has no value' };
  if (input.value.length > config.maxRecordBytes) {
    return { ok: false, code: 'TOO_LARGE', message: `value: ${input.value.length} bytes is more than ${config.maxRecordBytes}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(input.value));
  } catch (err) {
    const why = err instanceof SyntaxError ? err.message : 'not valid UTF-8';
    return { ok: false, code: 'INVALID_JSON', message: `value: ${why}` };
  }
  const parsed = parseEventJson(json, config, ctx);
  if (!parsed.ok) return parsed;
  const event = parsed.event;
  const mismatch = keyMismatch(input, event.userId, ctx.partitions);
  if (mismatch !== null) return { ok: false, code: 'KEY_MISMATCH', message: mismatch };
  event.source = { topic: input.topic, partition: input.partition, offset: input.offset };
  return { ok: true, event };
}

/**
 * The record must be where the engine looks for its user: keyed by the userId's UTF-8 bytes, on the
 * partition Kafka's default partitioner gives that key. A keyless record or one on another
 * partition would be judged by a shard that does not own the user.
 */
function keyMismatch(input: RecordInput, userId: string, partitions: number): string | null {
  if (input.key === null) return 'userId: the record has no key (the key must be the userId)';
  if (!isAsciiOf(input.key, userId)) {
    const mismatch = keyTextMismatch(input.key, userId);
    if (mismatch !== null) return mismatch;
  }
  // The key's bytes are the userId's UTF-8 (a userId holds no lone surrogate), so this is shardOf(userId).
  const expected = shardOfKey(input.key, partitions);
  if (expected !== input.partition) {
    return `userId: the record is on partition ${input.partition}, but its key belongs on partition ${expected} of ${partitions}`;
  }
  return null;
}

/** The key is the userId's characters as single bytes, all ASCII: then it is the userId's UTF-8, without decoding it. */
function isAsciiOf(key: Buffer, userId: string): boolean {
  if (key.length !== userId.length) return false;
  for (let i = 0; i < key.length; i++) {
    const c = userId.charCodeAt(i);
    if (c >= 0x80 || key[i] !== c) return false;
  }
  return true;
}

/** Why the key, decoded, is not the userId; null when it is. */
function keyTextMismatch(keyBytes: Buffer, userId: string): string | null {
  let key: string;
  try {
    key = utf8Key.decode(keyBytes);
  } catch {
    return 'userId: the record key is not valid UTF-8';
  }
  return key === userId ? null : `userId: "${userId}" does not equal the record key`;
}

/** Validates an already parsed JSON event (HTTP ingestion, or a Kafka value); `source` is null. */
export function parseEventJson(obj: unknown, config: DomainConfig, ctx: ValidationContext): ParseResult {
  try {
    return { ok: true, event: toEvent(obj, config, ctx) };
  } catch (err) {
    if (err instanceof Reject) return { ok: false, code: err.code, message: err.message };
    throw err;
  }
}

function toEvent(obj: unknown, config: DomainConfig, ctx: ValidationContext): RiskEvent {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw schema('event', 'must be a JSON object');
  const o = obj as Record<string, unknown>;
  const eventId = idText(o, 'eventId');
  const userId = idText(o, 'userId');
  const eventType = requiredText(o, 'eventType', 64);
  const kind = kindOf(eventType);
  const event: RiskEvent = {
    eventId,
    userId,
    eventType,
    kind,
    timestamp: timestampOf(o, config, ctx),
    amount: amountOf(o, kind === 'payment' || kind === 'transfer'),
    currency: currencyOf(o, config),
    deviceId: optionalText(o, 'deviceId'),
    ip: optionalText(o, 'ip'),
    country: optionalText(o, 'country'),
    upstreamRiskScore: riskScoreOf(o),
    eventData: eventDataOf(o),
    source: null,
  };
  checkNesting(o);
  return event;
}

function timestampOf(o: Record<string, unknown>, config: DomainConfig, ctx: ValidationContext): number {
  const v = o['timestamp'];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw schema('timestamp', 'required integer epoch milliseconds');
  if (v < MIN_EVENT_TIME) throw schema('timestamp', `must not be before 2000-01-01T00:00:00Z (${MIN_EVENT_TIME})`);
  // Written so that a clock that is not a number refuses rather than accepts.
  if (!(v <= ctx.now + config.maxClockSkewMs)) {
    throw schema('timestamp', `must not be more than ${config.maxClockSkewMs} ms ahead of the engine's clock (${ctx.now})`);
  }
  return v;
}

/**
 * Ids become store keys, record keys and dedupe entries: no control characters (C0, DEL, C1),
 * which logs, terminals and key encoders treat specially, and no lone surrogates, which have no
 * UTF-8 form (the record key of such a userId could never equal it).
 */
function idText(o: Record<string, unknown>, field: string): string {
  const v = requiredText(o, field, 128);
  const bad = firstBadChar(v);
  if (bad >= 0) {
    const code = v.charCodeAt(bad).toString(16).toUpperCase().padStart(4, '0');
    throw schema(field, `must not contain control characters or lone surrogates (U+${code} at index ${bad})`);
  }
  return v;
}

/** Index of the first control character or lone surrogate of `s`, or -1. */
export function firstBadChar(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return i;
    if (c >= 0xd800 && c <= 0xdfff) {
      const low = s.charCodeAt(i + 1);
      if (c > 0xdbff || !(low >= 0xdc00 && low <= 0xdfff)) return i;
      i++;
    }
  }
  return -1;
}

function requiredText(o: Record<string, unknown>, field: string, max: number): string {
  const v = o[field];
  if (typeof v !== 'string' || v.length < 1 || v.length > max) throw schema(field, `required string of 1..${max} characters`);
  return v;
}

/** Absent, null and "" all mean "not given". */
function optionalText(o: Record<string, unknown>, field: string): string | null {
  const v = o[field];
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string' || v.length > MAX_OPTIONAL_TEXT) throw schema(field, `optional string of at most ${MAX_OPTIONAL_TEXT} characters`);
  return v;
}

function amountOf(o: Record<string, unknown>, required: boolean): string | null {
  const v = o['amount'];
  if (v === undefined || v === null) {
    if (required) throw schema('amount', `required for eventType "${String(o['eventType'])}"`);
    return null;
  }
  const parsed = canonicalAmount(v);
  if (!parsed.ok) throw schema('amount', parsed.message);
  return parsed.amount;
}

function currencyOf(o: Record<string, unknown>, config: DomainConfig): string {
  const v = o['currency'];
  if (v === undefined || v === null) return config.defaultCurrency;
  if (typeof v !== 'string' || !THREE_LETTERS.test(v)) throw schema('currency', 'must be 3 letters, like "USD"');
  const code = v.toUpperCase();
  // Amounts are converted to the default currency for scoring and hard rules: no rate, no event.
  if (!Object.hasOwn(config.fxRates, code)) {
    throw schema('currency', `no exchange rate for "${code}" (accepted: ${Object.keys(config.fxRates).join(', ')})`);
  }
  return code;
}

function riskScoreOf(o: Record<string, unknown>): number | null {
  const v = o['riskScore'];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw schema('riskScore', 'must be a number from 0 to 1');
  return v;
}

function eventDataOf(o: Record<string, unknown>): Record<string, unknown> | null {
  const v = o['eventData'];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw schema('eventData', 'must be a JSON object');
  return v as Record<string, unknown>;
}

/**
 * Refuses any field nested deeper than MAX_NESTING_DEPTH. Unknown fields count too: ingestion
 * passes the whole object on. Iterative, with an explicit stack, so that no depth can overflow it.
 */
function checkNesting(o: Record<string, unknown>): void {
  for (const field in o) {
    const v = o[field];
    if (typeof v === 'object' && v !== null && Object.hasOwn(o, field) && deeperThan(v, MAX_NESTING_DEPTH)) {
      const name = field.length > 64 ? `${field.slice(0, 64)}...` : field;
      throw schema(name, `nested more than ${MAX_NESTING_DEPTH} deep (objects and arrays)`);
    }
  }
}

/** Whether objects and arrays in `root` nest more than `max` levels, `root` being level 1. */
function deeperThan(root: object, max: number): boolean {
  // Most nested values (eventData) hold no object at all: no walk, no stack.
  if (!holdsObject(root)) return false;
  const pending: object[] = [root];
  const levels: number[] = [1];
  while (pending.length > 0) {
    const v = pending.pop()!;
    const level = levels.pop()!;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const child: unknown = v[i];
        if (typeof child !== 'object' || child === null) continue;
        if (level === max) return true;
        pending.push(child);
        levels.push(level + 1);
      }
    } else {
      for (const key in v) {
        const child: unknown = (v as Record<string, unknown>)[key];
        if (typeof child !== 'object' || child === null || !Object.hasOwn(v, key)) continue;
        if (level === max) return true;
        pending.push(child);
        levels.push(level + 1);
      }
    }
  }
  return false;
}

/** Whether an object or array has an own value that is an object or array. */
function holdsObject(v: object): boolean {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (typeof v[i] === 'object' && v[i] !== null) return true;
    return false;
  }
  for (const key in v) {
    const child: unknown = (v as Record<string, unknown>)[key];
    if (typeof child === 'object' && child !== null && Object.hasOwn(v, key)) return true;
  }
  return false;
}
