/** Liveness, readiness and Prometheus metrics. */
import type { FastifyInstance } from 'fastify';
import type { AdminEngine } from '../types.ts';

export const PROBES: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

export function registerProbes(app: FastifyInstance, engine: AdminEngine): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const { ready, reasons } = await engine.readiness();
    if (ready) return { status: 'ready' };
    return reply.code(503).send({ status: 'not ready', reasons, error: { code: 'UNAVAILABLE', message: reasons.join('; ') } });
  });

  app.get('/metrics', async (_req, reply) => {
    const body = await engine.metrics.registry.metrics();
    return reply.type(engine.metrics.registry.contentType).send(body);
  });
}
