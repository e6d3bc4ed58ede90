/** Builds the engine's output records (CONTRACT §2, §3, §4) from domain results. Pure. */
import { decisionJson, type Decision, type WindowAggregate } from '../domain/index.ts';
import type { Alert, InputRecord, OutputRecord } from '../transport/ports.ts';

export interface OutputTopics {
  decisions: string;
  aggregates: string;
  dlq: string;
}

export function decisionRecord(topics: OutputTopics, d: Decision, traceparent: string | null): OutputRecord {
  return { topic: topics.decisions, key: d.userId, value: decisionJson(d), ...(traceparent ? { headers: { traceparent } } : {}) };
}

export function aggregateRecord(topics: OutputTopics, a: WindowAggregate): OutputRecord {
  return { topic: topics.aggregates, key: a.userId, value: JSON.stringify(a) };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function asText(value: Buffer | null): { value: string; valueEncoding: 'utf8' | 'base64' } {
  if (value === null) return { value: '', valueEncoding: 'utf8' };
  try {
    return { value: utf8.decode(value), valueEncoding: 'utf8' };
  } catch {
    return { value: value.toString('base64'), valueEncoding: 'base64' };
  }
}

export function deadLetterRecord(topics: OutputTopics, rec: InputRecord, code: string, message: string, receivedAt: number): OutputRecord {
  const key = rec.key === null ? null : asText(rec.key).value;
  const body = {
    error: { code, message },
    source: { topic: rec.topic, partition: rec.partition, offset: rec.offset, key },
    ...asText(rec.value),
    receivedAt,
  };
  // A replayed dead letter that fails again keeps its replay mark, so `dlq replay` never sends it again.
  const replayed = rec.headers[DLQ_REPLAY_HEADER];
  return { topic: topics.dlq, key, value: JSON.stringify(body), ...(replayed !== undefined ? { headers: { [DLQ_REPLAY_HEADER]: replayed } } : {}) };
}

/** Header of a record `risk-engine dlq replay` produced again: `<topic>/<partition>/<offset>` of its first failure. */
export const DLQ_REPLAY_HEADER = 'risk-dlq-replay';

/** BLOCK and CHALLENGE raise alerts; ALLOW does not. */
export function alertFor(d: Decision): Alert | null {
  if (d.decision === 'ALLOW') return null;
  return {
    alertId: d.eventId,
    userId: d.userId,
    eventId: d.eventId,
    eventType: d.eventType,
    decision: d.decision,
    riskScore: d.riskScore,
    reasons: d.reasons,
    at: d.decidedAt,
  };
}

/** The trace id of a W3C traceparent header (`00-<trace-id>-<span-id>-<flags>`), or null. */
export function traceIdOf(traceparent: string | undefined): string | null {
  const m = traceparent?.match(/^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/);
  return m && m[1] !== '0'.repeat(32) ? m[1]! : null;
}
