/**
 * Validation of input records (CONTRACT §1) into typed events. Hand-written rather than a schema
 * library because it runs for every record on the hot path and its messages must name the field
 * and the rule that failed (they end up in the dead-letter topic).
 */
import type { DomainConfig } from './config.ts';
import { kindOf, type RiskEvent } from './event.ts';
import { formatMinor, parseAmount } from './money.ts';

export type RejectCode = 'INVALID_JSON' | 'SCHEMA' | 'KEY_MISMATCH' | 'TOO_LARGE';

export interface RecordInput {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export type ParseResult = { ok: true; event: RiskEvent } | { ok: false; code: RejectCode; message: string };

/** Optional free-text fields (deviceId, ip, country) are bounded so that one producer cannot bloat a profile. */
const MAX_OPTIONAL_TEXT = 256;

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Reject extends Error {
  constructor(readonly code: RejectCode, message: string) {
    super(message);
  }
}

const schema = (field: string, rule: string): Reject => new Reject('SCHEMA', `${field}: ${rule}`);

export function parseRecord(input: RecordInput, config: DomainConfig): ParseResult {
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
  const parsed = parseEventJson(json, config);
  if (!parsed.ok) return parsed;
  const event = parsed.event;
  if (input.key !== null && input.key.toString('utf8') !== event.userId) {
    return { ok: false, code: 'KEY_MISMATCH', message: `userId: "${event.userId}" does not equal the record key` };
  }
  event.source = { topic: input.topic, partition: input.partition, offset: input.offset };
  return { ok: true, event };
}

/** Validates an already parsed JSON event (HTTP ingestion, or a Kafka value); `source` is null. */
export function parseEventJson(obj: unknown, config: DomainConfig): ParseResult {
  try {
    return { ok: true, event: toEvent(obj, config) };
  } catch (err) {
    if (err instanceof Reject) return { ok: false, code: err.code, message: err.message };
    throw err;
  }
}

function toEvent(obj: unknown, config: DomainConfig): RiskEvent {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw schema('event', 'must be a JSON object');
  const o = obj as Record<string, unknown>;
  const eventId = requiredText(o, 'eventId', 128);
  const userId = requiredText(o, 'userId', 128);
  const eventType = requiredText(o, 'eventType', 64);
  const kind = kindOf(eventType);
  const timestamp = o['timestamp'];
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw schema('timestamp', 'required integer epoch milliseconds >= 0');
  }
  return {
    eventId,
    userId,
    eventType,
    kind,
    timestamp,
    amount: amountOf(o, kind === 'payment' || kind === 'transfer'),
    currency: currencyOf(o, config.defaultCurrency),
    deviceId: optionalText(o, 'deviceId'),
    ip: optionalText(o, 'ip'),
    country: optionalText(o, 'country'),
    upstreamRiskScore: riskScoreOf(o),
    eventData: eventDataOf(o),
    source: null,
  };
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
  const parsed = parseAmount(v);
  if (!parsed.ok) throw schema('amount', parsed.message);
  return formatMinor(parsed.minor);
}

function currencyOf(o: Record<string, unknown>, fallback: string): string {
  const v = o['currency'];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string' || !/^[A-Za-z]{3}$/.test(v)) throw schema('currency', 'must be 3 letters, like "USD"');
  return v.toUpperCase();
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
