/**
 * The stored form of journal entries and snapshots, shared by both stores: one JSON object
 * `{ v, seq, at, data }`. The persistence key is not repeated inside (it is the Redis key or the
 * LMDB key). Every reader goes through `upcastEnvelope`, the one place that knows older versions.
 */
import { decisionJson, type Decision } from '../domain/index.ts';
import { EngineError } from '../errors.ts';
import { STORE_SCHEMA_VERSION, type JournalEntry } from './JournalStore.ts';

export interface Envelope {
  v: typeof STORE_SCHEMA_VERSION;
  seq: number;
  at: number;
  data: unknown;
}

export function encodeEnvelope(seq: number, at: number, data: unknown): string {
  // JSON.stringify drops an undefined field, which would come back as a missing `data`.
  if (data === undefined) throw new TypeError(`entry ${seq}: data must be JSON, not undefined`);
  if (!Number.isSafeInteger(seq) || !Number.isFinite(at)) throw new TypeError(`entry ${seq}: bad seq or time ${at}`);
  return `{"v":${STORE_SCHEMA_VERSION},"seq":${seq},"at":${at},"data":${dataJson(data)}}`;
}

/**
 * An accepted event's journal data holds its decision, whose text is made once (decisionJson)
 * for the decision record and the index too: it is spliced in rather than serialised again. The
 * placeholder is the first `"decision":0` of the text, the data's own key: no other key of the
 * data is named so, and inside a string value its quotes would be escaped.
 */
function dataJson(data: unknown): string {
  const d = data as { type?: unknown; decision?: unknown };
  if (typeof d !== 'object' || d === null || d.type !== 'accepted' || typeof d.decision !== 'object' || d.decision === null) return JSON.stringify(data);
  const text = JSON.stringify({ ...d, decision: 0 });
  const at = text.indexOf('"decision":0');
  return `${text.slice(0, at + 11)}${decisionJson(d.decision as Decision)}${text.slice(at + 12)}`;
}

/** A stored envelope of `key` as the entry (or snapshot: the same fields) it holds. */
export function decodeEntry(key: string, json: string): JournalEntry {
  const e = decodeEnvelope(json);
  return { key, sequenceNumber: e.seq, data: e.data, createdAt: e.at };
}

export function decodeEnvelope(json: string): Envelope {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new EngineError('SCHEMA', `stored envelope is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return upcastEnvelope(raw);
}

/**
 * Brings a parsed envelope of any known version to the current one. v1 is current, so it is only
 * validated; a v2 would add a branch here that rewrites v1 into it. A version from the future
 * (written by a newer engine) is refused rather than misread.
 */
export function upcastEnvelope(raw: unknown): Envelope {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw schemaError('not an object');
  const r = raw as Record<string, unknown>;
  switch (r.v) {
    case 1:
      if (!isSeq(r.seq)) throw schemaError(`v1: bad seq ${String(r.seq)}`);
      if (typeof r.at !== 'number' || !Number.isFinite(r.at)) throw schemaError(`v1: bad at ${String(r.at)}`);
      if (!('data' in r)) throw schemaError('v1: no data');
      return { v: 1, seq: r.seq, at: r.at, data: r.data };
    default:
      throw schemaError(`unknown schema version ${JSON.stringify(r.v)} (this engine reads up to ${STORE_SCHEMA_VERSION})`);
  }
}

const isSeq = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

function schemaError(what: string): EngineError {
  return new EngineError('SCHEMA', `stored envelope: ${what}`);
}
