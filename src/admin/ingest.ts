/**
 * HTTP ingestion (CONTRACT §1): `POST /events` with one JSON event or NDJSON lines, as
 * application/json or application/x-ndjson (anything else 415). Each valid event is produced,
 * keyed by userId, to the input topic of its eventType; a bad line is reported with its line
 * number and reason and does not stop the good ones (./ingestLines.ts). Answers 202 with per-line
 * results; more than INGEST_LIMITS.maxLines lines are refused whole with 413.
 */
import type { FastifyInstance } from 'fastify';
import type { DomainConfig } from '../domain/index.ts';
import type { Logger } from '../log.ts';
import type { IngestSink } from '../transport/ports.ts';
import { endSpan, extractContext, SpanKind, startChild, traceparentOf } from '../telemetry/tracing.ts';
import { sendError } from './errors.ts';
import { docs } from './openapi.ts';
import { errorResponses } from './schemas.ts';
import { countLines, INGEST_LIMITS, judgeBody, judgeLine, type IngestLimits, type IngestRoutes } from './ingestLines.ts';

export { topicForType, type IngestRoutes, type LineResult } from './ingestLines.ts';

function startIngest(incoming: string | null, count: number) {
  return startChild(extractContext(incoming ? { traceparent: incoming } : {}), 'ingest events', SpanKind.PRODUCER, {
    'messaging.system': 'kafka',
    'messaging.operation.type': 'send',
    'messaging.batch.message_count': count,
  });
}

export function registerIngest(
  app: FastifyInstance,
  sink: IngestSink,
  routes: IngestRoutes,
  domain: DomainConfig,
  log: Logger,
  limits: IngestLimits = INGEST_LIMITS,
): void {
  const judge = (text: string, now: number) => judgeLine(text, routes, domain, now);
  const onThrow = (err: unknown, line: number) => log.error({ err, line }, 'POST /events: judging a line threw');

  // An encapsulated scope: bodies of this route are taken as text here and judged line by line,
  // so that one bad line cannot fail the request; the other routes keep fastify's JSON parser.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(['application/json', 'application/x-ndjson'], { parseAs: 'string' }, (_req, body, done) => done(null, body));

    scope.post('/events', {
      schema: {
        summary: 'HTTP ingestion: one JSON event or NDJSON lines',
        description: 'each valid event is produced to the input topic of its eventType, keyed by userId; a bad line gets its line number and reason and does not stop the good lines',
        tags: ['events'],
        response: { 202: { description: 'per-line results', $ref: 'IngestAnswer#' }, ...errorResponses(400, 403, 413, 415) },
      },
      // The body is taken as text and judged line by line: its schema is for the document only.
      config: docs({
        body: {
          content: {
            'application/json': { schema: { $ref: 'Event#' } },
            'application/x-ndjson': { schema: { type: 'string', description: 'one Event per line, at most 10,000 lines' } },
          },
        },
      }),
    }, async (req, reply) => {
      const text = typeof req.body === 'string' ? req.body : '';
      const body = isJson(req.headers['content-type']) ? oneEventOnOneLine(text, domain.maxRecordBytes) : text;
      if (countLines(body, limits.maxLines) > limits.maxLines) {
        return sendError(reply, 'TOO_LARGE', `more than ${limits.maxLines} lines in one request: send at most ${limits.maxLines} per request`);
      }
      const { records, ...answer } = await judgeBody(body, judge, limits, onThrow);
      if (answer.accepted + answer.rejected === 0) return sendError(reply, 'BAD_REQUEST', 'no event in the request body');
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
      return reply.code(202).send(answer);
    });
  });
}

const isJson = (contentType: string | undefined): boolean => (contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'application/json';

/**
 * An `application/json` body may be one event written over several lines (pretty-printed): it
 * is one line then. Anything else (NDJSON sent as application/json, bad JSON) is judged line by
 * line as it came, so a bad line still gets its line number.
 */
function oneEventOnOneLine(body: string, maxRecordBytes: number): string {
  // Larger than any one event may be: not worth parsing whole (its lines get their own answers).
  if (body.length > 2 * maxRecordBytes || !body.includes('\n') || body.trimStart()[0] !== '{') return body;
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? JSON.stringify(value) : body;
  } catch {
    // Not one JSON value (NDJSON, a bad line), or nested too deep to write back: judged per line.
    return body;
  }
}
