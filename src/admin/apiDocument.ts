/**
 * The OpenAPI document without a running engine (for docs/api.md): the admin API built on an
 * engine whose parts are never called, with the default settings.
 */
import { loadSettings } from '../config/settings.ts';
import { silentLogger } from '../log.ts';
import { buildAdmin } from './server.ts';
import type { AdminEngine } from './types.ts';
import { OPENAPI_PATH } from './openapi.ts';

const unused = (): never => {
  throw new Error('not available while generating the API document');
};

const inertEngine = {
  metrics: { registry: { metrics: unused, contentType: 'text/plain' } },
  readiness: unused,
  userState: unused,
  snapshotUser: unused,
  ownedShards: unused,
  liveShard: unused,
  parts: { ingest: { send: unused, close: unused }, source: { positions: unused, generation: 0 } },
} as unknown as AdminEngine;

export async function apiDocument(): Promise<Record<string, any>> {
  const app = buildAdmin(inertEngine, loadSettings({ LOG_LEVEL: 'silent', INSTANCE_ID: 'api-doc' }), silentLogger, {
    rules: { current: unused, update: unused },
  });
  try {
    const res = await app.inject({ method: 'GET', url: OPENAPI_PATH });
    if (res.statusCode !== 200) throw new Error(`GET ${OPENAPI_PATH} answered ${res.statusCode}: ${res.body}`);
    return res.json<Record<string, any>>();
  } finally {
    await app.close();
  }
}
