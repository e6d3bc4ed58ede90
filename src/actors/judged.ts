/**
 * What judging produces, kept apart from the shard's lifecycle: the output records, alerts and
 * spans of an event's outcome and their merge over a transaction.
 */
import type { Outcome } from '../domain/index.ts';
import type { Logger } from '../log.ts';
import { endSpan, traceFields, traceparentOf, type Traced } from '../telemetry/tracing.ts';
import type { Alert, OutputRecord } from '../transport/ports.ts';
import { aggregateRecord, alertFor, decisionRecord, type OutputTopics } from './outputRecords.ts';

/** What a group of records produced: output records, alerts, and what to count once committed. */
export interface Judged {
  records: OutputRecord[];
  alerts: { alert: Alert; traceparent: string | null }[];
  verdicts: string[];
  dlqCodes: string[];
  /** The events' spans, ended when the batch commits (or fails). */
  spans: Traced[];
}

export const deadLetter = (record: OutputRecord, code: string): Judged => ({ records: [record], alerts: [], verdicts: [], dlqCodes: [code], spans: [] });

export function mergeJudged(parts: readonly Judged[]): Judged {
  const all: Judged = { records: [], alerts: [], verdicts: [], dlqCodes: [], spans: [] };
  for (const p of parts) {
    all.records.push(...p.records);
    all.alerts.push(...p.alerts);
    all.verdicts.push(...p.verdicts);
    all.dlqCodes.push(...p.dlqCodes);
    all.spans.push(...p.spans);
  }
  return all;
}

/** Ends every span of a batch attempt, with the error when it failed. */
export function endJudged(j: Judged, err?: unknown): void {
  j.spans.forEach((span) => endSpan(span, err));
}

export interface JudgeContext {
topics: OutputTopics;
shard: number;
/** The input record's traceparent, passed on when tracing is off. */
incoming: string | null;
consume: Traced | null;
log: Logger;
}

/**
 * The output records and alert of one event's outcome. The event's one span (`process <topic>`)
 * gets the decision's attributes and is what the decision record and the alert point to.
 */
export function judgedOutcome(outcome: Outcome, { topics, shard, incoming, consume, log }: JudgeContext): Judged {
  const spans = consume ? [consume] : [];
  if (outcome.kind === 'duplicate') return { records: [], alerts: [], verdicts: [], dlqCodes: [], spans };
  const { decision, aggregates } = outcome;
  const records = aggregates.map((a) => aggregateRecord(topics, a));
  if (!decision) {
    log.warn({ shard: shard, ...traceFields(consume) }, 'redelivered event whose decision is no longer retained');
    return { records, alerts: [], verdicts: [], dlqCodes: [], spans };
  }
  consume?.span.setAttributes({
    'risk.outcome': outcome.kind,
    'risk.decision': decision.decision,
    'risk.score': decision.riskScore,
    'risk.rules_version': decision.rulesVersion,
  });
  const traceparent = traceparentOf(consume?.ctx) ?? incoming;
  records.unshift(decisionRecord(topics, decision, traceparent));
  const alert = alertFor(decision);
  if (!alert) return { records, alerts: [], verdicts: [decision.decision], dlqCodes: [], spans };
  return { records, alerts: [{ alert, traceparent }], verdicts: [decision.decision], dlqCodes: [], spans };
}
