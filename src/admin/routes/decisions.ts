/**
 * Decisions for callers in the payment path (CONTRACT §7):
 *   POST /decide                      one event in, its committed decision out (200), or 202
 *                                     pending with Location after ?timeoutMs (default 2000,
 *                                     1..30000); 400 with the dead-letter code for a bad event;
 *                                     503 past the limit of waiting callers
 *   GET  /decisions/:eventId          the decision journaled for the event (?userId=), 404 unknown
 *   GET  /decisions/:eventId/explain  the event decided again from the state just before it; 410
 *                                     when the journal no longer reaches back to it
 * The event is judged exactly as a POST /events line (same checks, same record produced).
 */
import type { FastifyInstance } from 'fastify';
import type { Decision, DomainConfig } from '../../domain/index.ts';
import type { Explanation } from '../../domain/explain.ts';
import { EngineError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { OutputRecord } from '../../transport/ports.ts';
import { endSpan, extractContext, SpanKind, startChild, traceparentOf } from '../../telemetry/tracing.ts';
import { AdminError, sendError } from '../errors.ts';
import { judgeLine, type IngestRoutes } from '../ingestLines.ts';

export type DecideAnswer = { status: 'decided'; decision: Decision; duplicate: boolean } | { status: 'pending'; eventId: string };

/** What the routes need (a DecisionService from src/app/decisions/service.ts). */
export interface DecisionsControl {
  decide(record: OutputRecord, event: { userId: string; eventId: string }, timeoutMs: number): Promise<DecideAnswer>;
  lookup(eventId: string, userId?: string): Promise<{ decision: Decision }>;
  explain(eventId: string, userId?: string): Promise<Explanation>;
}

export const DECIDE_TIMEOUT = { defaultMs: 2000, maxMs: 30_000 } as const;

const idParams = {
  type: 'object',
  required: ['eventId'],
  properties: { eventId: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;
const userQuery = {
  type: 'object',
  properties: { userId: { type: 'string', minLength: 1, maxLength: 128 } },
  additionalProperties: false,
} as const;

/** `?timeoutMs`: digits only, 1..maxMs; anything else is the caller's mistake. */
export function timeoutOf(raw: unknown): number {
  if (raw === undefined) return DECIDE_TIMEOUT.defaultMs;
  const text = Array.isArray(raw) ? raw.join(',') : String(raw);
  const ms = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(ms >= 1 && ms <= DECIDE_TIMEOUT.maxMs)) throw new AdminError('BAD_REQUEST', `timeoutMs: must be an integer from 1 to ${DECIDE_TIMEOUT.maxMs} (ms), got ${JSON.stringify(text.slice(0, 40))}`);
  return ms;
}

export function registerDecisions(app: FastifyInstance, control: DecisionsControl | null, routes: IngestRoutes, domain: DomainConfig, log: Logger): void {
  const decisions = (): DecisionsControl => {
    if (!control) throw new AdminError('UNAVAILABLE', 'decisions are not available on this instance');
    return control;
  };

  // Its own scope: the body is taken as text and judged like a POST /events line, so that the
  // record produced is the event as sent and a bad event gets the same code and message.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));

    scope.post<{ Querystring: Record<string, unknown> }>('/decide', { bodyLimit: 2 * domain.maxRecordBytes + 1024 }, async (req, reply) => {
      const timeoutMs = timeoutOf(req.query.timeoutMs);
      const unknown = Object.keys(req.query).find((k) => k !== 'timeoutMs');
      if (unknown !== undefined) throw new AdminError('BAD_REQUEST', `${unknown}: unknown query parameter`);
      const text = oneLine(typeof req.body === 'string' ? req.body : '');
      if (text === '') return sendError(reply, 'BAD_REQUEST', 'no event in the request body');
      let verdict;
      try {
        verdict = judgeLine(text, routes, domain, Date.now());
      } catch (err) {
        log.error({ err }, 'POST /decide: judging the event threw');
        verdict = { ok: false as const, code: err instanceof RangeError ? 'SCHEMA' : 'INTERNAL', message: err instanceof RangeError ? 'event is nested too deeply to be processed' : 'event could not be processed' };
      }
      if (!verdict.ok) return reply.code(verdict.code === 'INTERNAL' ? 500 : 400).send({ error: { code: verdict.code, message: verdict.message } });
      const incoming = typeof req.headers.traceparent === 'string' ? req.headers.traceparent : null;
      const span = startChild(extractContext(incoming ? { traceparent: incoming } : {}), 'decide', SpanKind.PRODUCER, { 'messaging.system': 'kafka', 'messaging.operation.type': 'send' });
      const traceparent = traceparentOf(span?.ctx) ?? incoming;
      const record = traceparent ? { ...verdict.record, headers: { traceparent } } : verdict.record;
      let answer: DecideAnswer;
      try {
        answer = await decisions().decide(record, { userId: verdict.record.key!, eventId: verdict.eventId }, timeoutMs);
        endSpan(span);
      } catch (err) {
        endSpan(span, err);
        // BusyError (src/app/decisions/waiters.ts): told by name, the admin layer imports nothing of app.
        if (err instanceof EngineError && err.name === 'BusyError') {
          reply.header('retry-after', '1');
          return sendError(reply, 'UNAVAILABLE', err.message, 503);
        }
        throw err;
      }
      if (answer.status === 'pending') {
        reply.header('location', `/decisions/${encodeURIComponent(answer.eventId)}`);
        return reply.code(202).send({ status: 'pending', eventId: answer.eventId });
      }
      return { ...answer.decision, duplicate: answer.duplicate };
    });
  });

  app.get<{ Params: { eventId: string }; Querystring: { userId?: string } }>(
    '/decisions/:eventId',
    { schema: { params: idParams, querystring: userQuery } },
    async (req) => (await decisions().lookup(req.params.eventId, req.query.userId)).decision,
  );

  app.get<{ Params: { eventId: string }; Querystring: { userId?: string } }>(
    '/decisions/:eventId/explain',
    { schema: { params: idParams, querystring: userQuery } },
    async (req, reply) => {
      try {
        return await decisions().explain(req.params.eventId, req.query.userId);
      } catch (err) {
        if (err instanceof Error && err.name === 'GoneError') return sendError(reply, 'NOT_FOUND', err.message, 410);
        throw err;
      }
    },
  );
}

/** A pretty-printed event is one event: written on one line, as POST /events does for application/json. */
function oneLine(body: string): string {
  const text = body.trim();
  if (!text.includes('\n')) return text;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? JSON.stringify(value) : text;
  } catch {
    return text;
  }
}
