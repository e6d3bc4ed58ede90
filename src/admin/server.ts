/**
 * The admin HTTP API (CONTRACT §5) on fastify. Errors are JSON `{error: {code, message}}`; with
 * ADMIN_TOKEN set every endpoint but the probes needs `Authorization: Bearer <token>` (compared
 * in constant time). Settings refuse a non-loopback bind without a token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Settings } from '../config/settings.ts';
import { EngineError, errorCode, errorMessage, type ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Engine } from '../app/Engine.ts';
import { registerIngest } from './ingest.ts';

const STATUS: Partial<Record<ErrorCode, number>> = {
  NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  BAD_REQUEST: 400,
  SCHEMA: 400,
  INVALID_JSON: 400,
  TOO_LARGE: 413,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
};

const OPEN_PATHS = new Set(['/healthz', '/readyz']);

export function sendError(reply: FastifyReply, code: ErrorCode, message: string, status = STATUS[code] ?? 500): FastifyReply {
  return reply.code(status).type('application/json').send({ error: { code, message } });
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function buildAdmin(engine: Engine, settings: Settings, log: Logger): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: settings.admin.bodyLimitBytes });
  const token = settings.admin.token ? digest(settings.admin.token) : null;

  app.addHook('onRequest', async (req, reply) => {
    if (!token || OPEN_PATHS.has(req.url.split('?')[0]!)) return;
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? digest(header.slice(7)) : null;
    if (!given || !timingSafeEqual(given, token)) return sendError(reply, 'UNAUTHORIZED', 'missing or wrong bearer token');
  });

  app.setNotFoundHandler((req, reply) => sendError(reply, 'NOT_FOUND', `no route ${req.method} ${req.url}`));
  app.setErrorHandler((err, _req, reply) => {
    const fastifyStatus = (err as { statusCode?: number }).statusCode;
    if (fastifyStatus && fastifyStatus >= 400 && fastifyStatus < 500) {
      const code: ErrorCode = fastifyStatus === 413 ? 'TOO_LARGE' : fastifyStatus === 401 ? 'UNAUTHORIZED' : 'BAD_REQUEST';
      return sendError(reply, code, errorMessage(err), fastifyStatus);
    }
    const code = errorCode(err);
    if (code === 'INTERNAL') log.error({ err }, 'admin request failed');
    return sendError(reply, code, errorMessage(err));
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/metrics', async (_req, reply) => {
    const body = await engine.metrics.registry.metrics();
    return reply.type(engine.metrics.registry.contentType).send(body);
  });

  app.get('/readyz', async (_req, reply) => {
    const { ready, reasons } = engine.readiness();
    return reply.code(ready ? 200 : 503).send(ready ? { status: 'ready' } : { status: 'not ready', reasons });
  });

  app.get<{ Params: { userId: string } }>('/users/:userId', async (req) => {
    const state = await engine.userState(req.params.userId);
    if (!state) throw new EngineError('NOT_FOUND', `user ${req.params.userId} has never been seen`);
    const { userId, shard, source, ...rest } = state;
    return { userId, shard, source, ...rest };
  });

  app.post<{ Params: { userId: string } }>('/users/:userId/snapshot', async (req, reply) => {
    await engine.snapshotUser(req.params.userId);
    return reply.code(202).send({ status: 'accepted', userId: req.params.userId });
  });

  registerIngest(app, engine.parts.ingest, settings.kafka.topics, { ...settings.domain, unknownTypes: 'other' });

  app.get('/shards', async () => {
    const owned = engine.ownedShards();
    const positions = await engine.parts.source.positions(owned);
    const shards = await Promise.all(
      positions.map(async (p) => ({ ...p, actors: (await engine.liveShard(p.shard))?.liveActors ?? 0 })),
    );
    return { instanceId: settings.instanceId, generationId: engine.parts.source.generation, shards };
  });

  return app;
}
