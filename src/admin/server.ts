/**
 * The admin HTTP API (CONTRACT §5) on fastify: probes and metrics, users, shards, rules and HTTP
 * ingestion (one file per group under ./routes). Errors are JSON `{error: {code, message}}`;
 * params and bodies are checked by JSON schema where fastify can; with ADMIN_TOKEN set every
 * route but the probes needs the bearer token (./auth.ts). Settings refuse a non-loopback bind
 * without a token.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Settings } from '../config/settings.ts';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { bearerAuth } from './auth.ts';
import { errorHandler, schemaErrorFormatter, sendError } from './errors.ts';
import { registerIngest } from './ingest.ts';
import { PROBES, registerProbes } from './routes/probes.ts';
import { registerRules } from './routes/rules.ts';
import { registerShards } from './routes/shards.ts';
import { registerUsers } from './routes/users.ts';
import type { AdminEngine, RulesControl } from './types.ts';

export { sendError } from './errors.ts';
export type { AdminEngine, RulesControl } from './types.ts';

export interface AdminOptions {
  /** GET/PUT /rules; without it they answer 503 (e.g. a test that does not need them). */
  rules?: RulesControl;
}

export function buildAdmin(engine: AdminEngine, settings: Settings, log: Logger, options: AdminOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: settings.admin.bodyLimitBytes,
    // A userId may be 128 characters, percent-encoded up to 12 bytes each.
    routerOptions: { maxParamLength: 2048 },
    requestTimeout: 60_000,
    return503OnClosing: true,
    schemaErrorFormatter,
  });

  const auth = bearerAuth(settings.admin.token, PROBES);
  if (auth) app.addHook('onRequest', auth);
  app.setNotFoundHandler((req, reply) => sendError(reply, 'NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
  app.setErrorHandler(errorHandler(log));

  registerProbes(app, engine);
  registerUsers(app, engine);
  registerShards(app, engine, settings.instanceId);
  registerRules(app, options.rules ?? null);
  registerIngest(app, engine.parts.ingest, settings.kafka.topics, { ...settings.domain, unknownTypes: 'other' }, log);
  return app;
}

/**
 * Binds the API. A bind that fails for a reason of the settings (port taken, no such address) is
 * a ConfigError naming ADMIN_PORT / ADMIN_HOST, so that start-up stops with one line like any other
 * bad setting; anything else is thrown as it is.
 */
export async function listenAdmin(app: FastifyInstance, admin: Pick<Settings['admin'], 'host' | 'port'>): Promise<string> {
  try {
    return await app.listen({ host: admin.host, port: admin.port });
  } catch (err) {
    const refusal = bindRefusal((err as { code?: unknown }).code, admin.host, admin.port);
    if (refusal) throw refusal;
    throw err;
  }
}

function bindRefusal(code: unknown, host: string, port: number): ConfigError | null {
  switch (code) {
    case 'EADDRINUSE':
      return new ConfigError('ADMIN_PORT', `expects a port that is free on ADMIN_HOST ${host} (${port} is in use)`);
    case 'EACCES':
      return new ConfigError('ADMIN_PORT', `expects a port this user may bind on ADMIN_HOST ${host} (${port} is not allowed)`);
    case 'EADDRNOTAVAIL':
      return new ConfigError('ADMIN_HOST', `expects an address of this machine (${host} is not)`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError('ADMIN_HOST', `expects a host name that resolves (${host} does not)`);
    default:
      return null;
  }
}
