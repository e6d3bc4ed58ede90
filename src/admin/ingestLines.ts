/**
 * The lines of one `POST /events` body, judged one by one (CONTRACT §1): what one request may cost
 * is bounded. At most `maxLines` lines (else the whole request is refused, nothing produced); the
 * lines are judged in slices, the event loop served between two slices (probes and other requests
 * answer meanwhile); nothing one line does, throws included, reaches another line; the answer
 * lists every accepted line but only the first `listedRejections` rejected ones, the others counted
 * by code.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { parseEventJson, type DomainConfig } from '../domain/index.ts';
import type { OutputRecord } from '../transport/ports.ts';

export interface IngestLimits {
  /** Lines per request (blank ones included; a final newline starts none). */
  maxLines: number;
  /** Rejected lines listed in full in the answer; the rest are counted by code. */
  listedRejections: number;
  /** A slice ends after this many lines or this many characters, whichever comes first. */
  sliceLines: number;
  sliceChars: number;
}

export const INGEST_LIMITS: IngestLimits = { maxLines: 10_000, listedRejections: 100, sliceLines: 500, sliceChars: 256 * 1024 };

/** Error messages are the engine's or the JSON parser's; still, an answer line stays short. */
const MAX_MESSAGE = 300;

export interface IngestRoutes {
  inputs: readonly string[];
  other: string | null;
}

export type LineResult =
  | { line: number; status: 'accepted'; eventId: string; topic: string }
  | { line: number; status: 'rejected'; error: { code: string; message: string } };

export type LineVerdict = { ok: true; record: OutputRecord; eventId: string } | { ok: false; code: string; message: string };

/** What judging a body came to: the answer's parts and the records to produce. */
export interface IngestOutcome {
  accepted: number;
  rejected: number;
  results: LineResult[];
  /** The rejected lines not in `results`, by code; absent when every one is listed. */
  notListed?: { count: number; byCode: Record<string, number> };
  records: OutputRecord[];
}

/** `<type>-events` among the inputs (a deployment may prefix topic names: `<prefix>.<type>-events`). */
export function topicForType(routes: IngestRoutes, eventType: string): string | null {
  const wanted = `${eventType}-events`;
  return routes.inputs.find((t) => t === wanted || t.endsWith(`.${wanted}`)) ?? routes.other;
}

/** The number of lines in `body`, counted up to `max + 1` (enough to refuse it). */
export function countLines(body: string, max: number): number {
  let lines = 0;
  for (let at = 0; at < body.length && lines <= max; lines++) {
    const nl = body.indexOf('\n', at);
    if (nl < 0) return lines + 1;
    at = nl + 1;
  }
  return lines;
}

/** One line's verdict: the record to produce, or why not. The line is produced as it was sent. */
export function judgeLine(text: string, routes: IngestRoutes, domain: DomainConfig, now: number): LineVerdict {
  if (Buffer.byteLength(text, 'utf8') > domain.maxRecordBytes) return { ok: false, code: 'TOO_LARGE', message: `event is larger than ${domain.maxRecordBytes} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: 'INVALID_JSON', message: (err as Error).message };
  }
  const parsed = parseEventJson(json, domain, { now });
  if (!parsed.ok) return { ok: false, code: parsed.code, message: parsed.message };
  const topic = topicForType(routes, parsed.event.eventType);
  if (!topic) return { ok: false, code: 'SCHEMA', message: `eventType: no input topic for "${parsed.event.eventType}"` };
  return { ok: true, record: { topic, key: parsed.event.userId, value: text }, eventId: parsed.event.eventId };
}

/** What a line that threw (a defect, or input beyond what a check foresaw) is answered. */
function thrown(err: unknown): LineVerdict {
  // A stack overflow is the input's shape (nesting); anything else is ours, said without details.
  if (err instanceof RangeError) return { ok: false, code: 'SCHEMA', message: 'event is nested too deeply to be processed' };
  return { ok: false, code: 'INTERNAL', message: 'event could not be processed' };
}

/**
 * Judges every non-blank line of `body` (at most `limits.maxLines`: the caller checks with
 * countLines first) with `judge`, yielding to the event loop between slices. `onThrow` hears of a
 * line that threw (it is answered as rejected).
 */
export async function judgeBody(
  body: string,
  judge: (text: string, now: number) => LineVerdict,
  limits: IngestLimits = INGEST_LIMITS,
  onThrow: (err: unknown, line: number) => void = () => {},
): Promise<IngestOutcome> {
  const out: IngestOutcome = { accepted: 0, rejected: 0, results: [], records: [] };
  let at = 0;
  let line = 0;
  while (at < body.length) {
    const sliceEnd = at + limits.sliceChars;
    const now = Date.now();
    for (let n = 0; n < limits.sliceLines && at < body.length && at < sliceEnd; n++) {
      const nl = body.indexOf('\n', at);
      const end = nl < 0 ? body.length : nl;
      line++;
      const text = body.slice(at, end).trim();
      at = end + 1;
      if (text === '') continue;
      let verdict: LineVerdict;
      try {
        verdict = judge(text, now);
      } catch (err) {
        onThrow(err, line);
        verdict = thrown(err);
      }
      record(out, line, verdict, limits.listedRejections);
    }
    if (at < body.length) await nextTurn();
  }
  return out;
}

function record(out: IngestOutcome, line: number, verdict: LineVerdict, listed: number): void {
  if (verdict.ok) {
    out.accepted++;
    out.records.push(verdict.record);
    out.results.push({ line, status: 'accepted', eventId: verdict.eventId, topic: verdict.record.topic });
    return;
  }
  out.rejected++;
  if (out.rejected <= listed) {
    const message = verdict.message.length > MAX_MESSAGE ? `${verdict.message.slice(0, MAX_MESSAGE)}…` : verdict.message;
    out.results.push({ line, status: 'rejected', error: { code: verdict.code, message } });
    return;
  }
  out.notListed ??= { count: 0, byCode: {} };
  out.notListed.count++;
  out.notListed.byCode[verdict.code] = (out.notListed.byCode[verdict.code] ?? 0) + 1;
}
