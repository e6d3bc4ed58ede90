/**
 * HTTP ingestion (CONTRACT §1): `POST /events` with one JSON event or NDJSON lines. Each valid
 * event is produced, keyed by userId, to the input topic of its eventType; a bad line is reported
 * with its line number and reason and does not stop the good ones. Answers 202 with per-line results.
 */
import type { FastifyInstance } from 'fastify';
import { parseEventJson, type DomainConfig } from '../domain/index.ts';
import type { IngestSink, OutputRecord } from '../transport/ports.ts';
import { endSpan, extractContext, SpanKind, startChild, traceparentOf } from '../telemetry/tracing.ts';

function startIngest(incoming: string | null, count: number) {
  return startChild(extractContext(incoming ? { traceparent: incoming } : {}), 'ingest events', SpanKind.PRODUCER, {
    'messaging.system': 'kafka',
    'messaging.operation.type': 'send',
    'messaging.batch.message_count': count,
  });
}

export type LineResult =
  | { line: number; status: 'accepted'; eventId: string; topic: string }
  | { line: number; status: 'rejected'; error: { code: string; message: string } };

export interface IngestRoutes {
  inputs: readonly string[];
  other: string | null;
}

/** `<type>-events` among the inputs (a deployment may prefix topic names: `<prefix>.<type>-events`). */
export function topicForType(routes: IngestRoutes, eventType: string): string | null {
  const wanted = `${eventType}-events`;
  return routes.inputs.find((t) => t === wanted || t.endsWith(`.${wanted}`)) ?? routes.other;
}

export function parseLines(body: string, routes: IngestRoutes, domain: DomainConfig): { results: LineResult[]; records: OutputRecord[] } {
  const results: LineResult[] = [];
  const records: OutputRecord[] = [];
  body.split('\n').forEach((text, i) => {
    const line = i + 1;
    if (text.trim() === '') return;
    if (Buffer.byteLength(text, 'utf8') > domain.maxRecordBytes) {
      results.push({ line, status: 'rejected', error: { code: 'TOO_LARGE', message: `event is larger than ${domain.maxRecordBytes} bytes` } });
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      results.push({ line, status: 'rejected', error: { code: 'INVALID_JSON', message: (err as Error).message } });
      return;
    }
    const parsed = parseEventJson(json, domain, { now: Date.now() });
    if (!parsed.ok) {
      results.push({ line, status: 'rejected', error: { code: parsed.code, message: parsed.message } });
      return;
    }
    const topic = topicForType(routes, parsed.event.eventType);
    if (!topic) {
      results.push({ line, status: 'rejected', error: { code: 'SCHEMA', message: `eventType: no input topic for "${parsed.event.eventType}"` } });
      return;
    }
    records.push({ topic, key: parsed.event.userId, value: JSON.stringify(json) });
    results.push({ line, status: 'accepted', eventId: parsed.event.eventId, topic });
  });
  return { results, records };
}

export function registerIngest(app: FastifyInstance, sink: IngestSink, routes: IngestRoutes, domain: DomainConfig): void {
  // An encapsulated scope: bodies of this route are parsed here, line by line, so that one bad
  // line cannot fail the request; the other routes keep fastify's JSON parser.
  void app.register(async (scope) => {
    scope.addContentTypeParser(['application/json', 'application/x-ndjson', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => done(null, body));

    scope.post('/events', async (req, reply) => {
      const body = typeof req.body === 'string' ? req.body : '';
      const { results, records } = parseLines(body, routes, domain);
      if (results.length === 0) return reply.code(400).send({ error: { code: 'BAD_REQUEST', message: 'no event in the request body' } });
      const incoming = typeof req.headers.traceparent === 'string' ? req.headers.traceparent : null;
      // With tracing on, the records continue the caller's trace under an ingest span; without
      // it, the caller's traceparent is passed on as it came.
      const span = startIngest(incoming, records.length);
      const traceparent = traceparentOf(span?.ctx) ?? incoming;
      const withTrace = traceparent ? records.map((r) => ({ ...r, headers: { traceparent } })) : records;
      try {
        if (withTrace.length) await sink.send(withTrace);
        endSpan(span);
      } catch (err) {
        endSpan(span, err);
        throw err;
      }
      const accepted = results.filter((r) => r.status === 'accepted').length;
      return reply.code(202).send({ accepted, rejected: results.length - accepted, results });
    });
  });
}
