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
  /** [live, shadow] verdicts of the events decided under a shadow rule set now (not redelivered). */
  shadows: [string, string][];
  dlqCodes: string[];
  /** The events' spans, ended when the batch commits (or fails). */
  spans: Traced[];
}

export const deadLetter = (record: OutputRecord, code: string): Judged => ({ records: [record], alerts: [], verdicts: [], shadows: [], dlqCodes: [code], spans: [] });

export const emptyJudged = (): Judged => ({ records: [], alerts: [], verdicts: [], shadows: [], dlqCodes: [], spans: [] });

/** Appends `part` to `into` (one accumulator per round: no arrays made per event). */
export function addJudged(into: Judged, part: Judged): void {
  for (const r of part.records) into.records.push(r);
  for (const a of part.alerts) into.alerts.push(a);
  for (const v of part.verdicts) into.verdicts.push(v);
  for (const s of part.shadows) into.shadows.push(s);
  for (const c of part.dlqCodes) into.dlqCodes.push(c);
  for (const s of part.spans) into.spans.push(s);
}

export function mergeJudged(parts: readonly Judged[]): Judged {
  const all = emptyJudged();
  for (const p of parts) addJudged(all, p);
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
 * Appends the output records and alert of one event's outcome to `into`, the round's
 * accumulator. The event's one span (`process <topic>`) gets the decision's attributes and is
 * what the decision record and the alert point to.
 */
export function addOutcome(into: Judged, outcome: Outcome, { topics, shard, incoming, consume, log }: JudgeContext): void {
  if (consume) into.spans.push(consume);
  if (outcome.kind === 'duplicate') return;
  const { decision, aggregates } = outcome;
  if (!decision) {
    for (const a of aggregates) into.records.push(aggregateRecord(topics, a));
    log.warn({ shard: shard, ...traceFields(consume) }, 'redelivered event whose decision is no longer retained');
    return;
  }
  consume?.span.setAttributes({
    'risk.outcome': outcome.kind,
    'risk.decision': decision.decision,
    'risk.score': decision.riskScore,
    'risk.rules_version': decision.rulesVersion,
  });
  const traceparent = traceparentOf(consume?.ctx) ?? incoming;
  into.records.push(decisionRecord(topics, decision, traceparent));
  for (const a of aggregates) into.records.push(aggregateRecord(topics, a));
  into.verdicts.push(decision.decision);
  if (decision.shadow && outcome.kind === 'accepted') into.shadows.push([decision.decision, decision.shadow.decision]);
  const alert = alertFor(decision);
  if (alert) into.alerts.push({ alert, traceparent });
}
