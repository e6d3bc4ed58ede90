/**
 * The admin HTTP API (CONTRACT §5) on fastify: probes and metrics, users, shards, rules and HTTP
 * ingestion (one file per group under ./routes). Errors are JSON `{error: {code, message}}`,
 * whoever refuses the request (./errors.ts); params and bodies are checked by JSON schema where
 * fastify can; bodies are JSON (or NDJSON for POST /events) only; browsers' cross-site writes are
 * refused (./crossSite.ts); with ADMIN_TOKEN set every route but the probes needs the bearer token
 * (./auth.ts). Settings refuse a non-loopback bind without a token.
 */
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import { domainConfigOf, type Settings } from '../config/settings.ts';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { bearerAuth } from './auth.ts';
import { crossSiteGuard } from './crossSite.ts';
import { clientErrorHandler, echo, errorHandler, frameworkErrors, schemaErrorFormatter, sendError } from './errors.ts';
import { registerIngest } from './ingest.ts';
import { registerOpenApi } from './openapi.ts';
import { closeSpareConnectionsOnClose } from './spareConnections.ts';
import { CONSOLE_ROUTES, registerConsole } from './console/routes.ts';
import { registerDecisionStream, type DecisionStreamOptions } from './routes/decisionStream.ts';
import { PROBES, registerProbes } from './routes/probes.ts';
import { registerRules } from './routes/rules.ts';
import { registerDecisions, type DecisionsControl } from './routes/decisions.ts';
import { registerRulesVersions, type RulesVersions } from './routes/rulesVersions.ts';
import { registerShards } from './routes/shards.ts';
import { registerCluster } from './routes/cluster.ts';
import { registerUsers } from './routes/users.ts';
import { registerUserErasure } from './routes/userErasure.ts';
import type { AdminEngine, RulesControl } from './types.ts';

/** The package's version, for the OpenAPI document. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export { sendError } from './errors.ts';
export type { AdminEngine, RulesControl } from './types.ts';

export interface AdminOptions {
  /** GET/PUT /rules; without it they answer 503 (e.g. a test that does not need them). */
  rules?: RulesControl;
  /** POST /decide, GET /decisions/..., GET /rules/versions/:v; without it they answer 503. */
  decisions?: DecisionsControl & RulesVersions;
  /** GET /decisions/stream; without it it answers 503. */
  decisionStream?: DecisionStreamOptions;
}

/** A userId may be 128 characters, percent-encoded up to 12 bytes each. */
const MAX_PARAM_LENGTH = 2048;

/** Methods a path without a route for them answers 405 to (instead of 404). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export function buildAdmin(engine: AdminEngine, settings: Settings, log: Logger, options: AdminOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: settings.admin.bodyLimitBytes,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    requestTimeout: 60_000,
    // fastify's own 503 while closing has its own shape: answered by the hook below instead.
    return503OnClosing: false,
    schemaErrorFormatter,
    frameworkErrors: frameworkErrors(MAX_PARAM_LENGTH),
    clientErrorHandler,
  });
  // Bodies are JSON: fastify's text/plain parser would take what a web page can send unasked.
  app.removeContentTypeParser('text/plain');

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_req, reply) => {
    if (!closing) return undefined;
    reply.header('connection', 'close');
    return sendError(reply, 'UNAVAILABLE', 'the engine is shutting down');
  });
  closeSpareConnectionsOnClose(app);
  app.addHook('onRequest', crossSiteGuard({ loopbackOnly: !settings.admin.token }));
  // The console's page and assets hold no data: it asks for the token itself (./console).
  const auth = bearerAuth(settings.admin.token, new Set([...PROBES, ...CONSOLE_ROUTES]));
  if (auth) app.addHook('onRequest', auth);
  // Which engine answered: under `start --workers N` each connection goes to one of N processes.
  // After the token check, so that only callers who may use the API learn the instance name.
  app.addHook('onRequest', (_req, reply, done) => {
    reply.header('x-risk-instance', settings.instanceId);
    done();
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, 'NOT_FOUND', `no route ${req.method} ${echo(req.url.split('?')[0] ?? '')}`));
  app.setErrorHandler(errorHandler(log));

  const routes = new Map<string, Set<string>>();
  app.addHook('onRoute', (r) => {
    const methods = routes.get(r.url) ?? new Set<string>();
    for (const m of [r.method].flat()) methods.add(m);
    routes.set(r.url, methods);
  });

  // The OpenAPI generator first: it sees the routes registered after it has loaded, which is why
  // the routes are registered inside a plugin (`api`), never on `app` directly.
  registerOpenApi(app, packageVersion());
  void app.register(async (api) => {
    registerProbes(api, engine);
    registerUsers(api, engine);
    registerUserErasure(api, engine);
    registerShards(api, engine, settings.instanceId);
    registerCluster(api, engine);
    registerRules(api, options.rules ?? null);
    registerIngest(api, engine.parts.ingest, settings.kafka.topics, domainConfigOf(settings), log);
    registerDecisions(api, options.decisions ?? null, settings.kafka.topics, domainConfigOf(settings), log);
    registerRulesVersions(api, options.decisions ?? null);
    registerDecisionStream(api, options.decisionStream ?? null, log);
    registerConsole(api);
  });
  // Last: by the time this plugin loads, every route above (plugins included) has been seen.
  void app.register(async (scope) => methodNotAllowed(scope, routes));
  return app;
}

/** 405 with `Allow` for a path that has routes, but none for the method; before any body is read. */
function methodNotAllowed(scope: FastifyInstance, routes: ReadonlyMap<string, ReadonlySet<string>>): void {
  // Read before registering: these routes pass through the onRoute hook too.
  const paths = [...routes].map(([url, methods]) => ({ url, others: METHODS.filter((m) => !methods.has(m)), allow: METHODS.filter((m) => methods.has(m)).join(', ') }));
  for (const { url, others, allow } of paths) {
    if (!others.length) continue;
    scope.route({
      method: others,
      url,
      exposeHeadRoute: false,
      // Not an endpoint: the 405 answer of the endpoints' paths (documented with each of them).
      schema: { hide: true },
      onRequest: async (req, reply) => {
        reply.header('allow', allow);
        return sendError(reply, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url} (allowed: ${allow})`);
      },
      handler: async () => undefined,
    });
  }
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
