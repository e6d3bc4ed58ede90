/** Liveness, readiness and Prometheus metrics. */
import type { FastifyInstance } from 'fastify';
import { errorResponses } from '../schemas.ts';
import type { AdminEngine } from '../types.ts';

export const PROBES: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

export function registerProbes(app: FastifyInstance, engine: AdminEngine): void {
  app.get(
    '/healthz',
    { schema: { summary: 'liveness', tags: ['probes'], security: [], response: { 200: { description: 'the process lives', type: 'object', properties: { status: { const: 'ok' } } } } } },
    async () => ({ status: 'ok' }),
  );

  const readiness = { type: 'object', properties: { status: { type: 'string' }, reasons: { type: 'array', items: { type: 'string' } } } };
  app.get('/readyz', {
    schema: {
      summary: 'readiness',
      description: '200 when the dependencies are connected and the consumer has joined; else 503 with the reasons (Error shape plus status and reasons)',
      tags: ['probes'],
      security: [],
      response: {
        200: { description: 'ready', ...readiness },
        503: { description: 'not ready: the reasons', allOf: [{ $ref: 'Error#' }, readiness] },
      },
    },
  }, async (_req, reply) => {
    const { ready, reasons } = await engine.readiness();
    if (ready) return { status: 'ready' };
    return reply.code(503).send({ status: 'not ready', reasons, error: { code: 'UNAVAILABLE', message: reasons.join('; ') } });
  });

  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics',
      tags: ['probes'],
      response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errorResponses() },
    },
  }, async (_req, reply) => {
    const body = await engine.metrics.registry.metrics();
    return reply.type(engine.metrics.registry.contentType).send(body);
  });
}
