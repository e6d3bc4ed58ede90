/**
 * Every refusal is `{"error": {"code", "message"}}` (CONTRACT §5), whoever refuses: a route,
 * fastify (bad URL, bad JSON, schema, body limit, unknown route or method); and no answer shows
 * the engine's internals (store keys, hosts).
 */
import test from 'ava';
import { FencedError, SequenceConflictError } from '../../../src/persistence/JournalStore.ts';
import { buildAdmin } from '../../../src/admin/server.ts';
import { silentLogger } from '../../../src/log.ts';
import { EngineError } from '../../../src/errors.ts';
import { build, settings, stubEngine } from './helpers.ts';

type Json = Record<string, any>;

/** The body is exactly the contract's error object, with the given code. */
function assertShape(t: { deepEqual(a: unknown, b: unknown, m?: string): void; regex(s: string, r: RegExp, m?: string): void }, res: { headers: Record<string, unknown>; json<T>(): T }, code: string, what: string) {
  const body = res.json<Json>();
  t.deepEqual(Object.keys(body), ['error'], what);
  t.deepEqual(Object.keys(body.error), ['code', 'message'], what);
  t.deepEqual(body.error.code, code, what);
  t.regex(String(res.headers['content-type']), /^application\/json/, what);
}

test('bad percent-encoding in a path: 400 BAD_REQUEST', async (t) => {
  const { app, engine } = build();
  for (const url of ['/users/%E0%A4%A', '/users/%ZZ', '/users/%C3%28/snapshot']) {
    const res = await app.inject({ method: url.endsWith('snapshot') ? 'POST' : 'GET', url });
    t.is(res.statusCode, 400, url);
    assertShape(t, res, 'BAD_REQUEST', url);
    t.is(res.json<Json>().error.message, 'the path is not valid percent-encoded UTF-8');
  }
  t.true(engine.userState.notCalled);
});

test('a path parameter past the router limit: 414 TOO_LARGE', async (t) => {
  const { app } = build();
  const res = await app.inject({ method: 'GET', url: `/users/${'x'.repeat(3000)}` });
  t.is(res.statusCode, 414);
  assertShape(t, res, 'TOO_LARGE', '414');
});

test('a body over the limit: 413 TOO_LARGE naming the limit', async (t) => {
  const s = settings();
  s.admin.bodyLimitBytes = 1024;
  const app = buildAdmin(stubEngine(), s, silentLogger);
  const res = await app.inject({ method: 'POST', url: '/events', headers: { 'content-type': 'application/x-ndjson' }, payload: 'x'.repeat(2048) });
  t.is(res.statusCode, 413);
  assertShape(t, res, 'TOO_LARGE', '413');
  t.is(res.json<Json>().error.message, 'request body is larger than 1024 bytes');
});

test('fastify\'s own 400s: bad JSON, an empty JSON body, a schema failure', async (t) => {
  const { app } = build();
  const json = { 'content-type': 'application/json' };
  const bad = await app.inject({ method: 'PUT', url: '/rules', headers: json, payload: '{not json' });
  t.is(bad.statusCode, 400);
  assertShape(t, bad, 'INVALID_JSON', 'bad JSON');
  const empty = await app.inject({ method: 'PUT', url: '/rules', headers: json, payload: '' });
  t.is(empty.statusCode, 400);
  assertShape(t, empty, 'INVALID_JSON', 'empty');
  const notObject = await app.inject({ method: 'PUT', url: '/rules', headers: json, payload: '[1]' });
  t.is(notObject.statusCode, 400);
  assertShape(t, notObject, 'SCHEMA', 'schema');
  const longId = await app.inject({ method: 'GET', url: `/users/${'x'.repeat(129)}` });
  t.is(longId.statusCode, 400);
  assertShape(t, longId, 'SCHEMA', 'params schema');
});

test('an unknown route: 404 NOT_FOUND; a long path is not echoed whole', async (t) => {
  const { app } = build();
  const res = await app.inject({ method: 'GET', url: '/nope' });
  t.is(res.statusCode, 404);
  assertShape(t, res, 'NOT_FOUND', '404');
  t.is(res.json<Json>().error.message, 'no route GET /nope');
  const long = await app.inject({ method: 'GET', url: `/${'y'.repeat(5000)}` });
  t.is(long.statusCode, 404);
  t.true(long.body.length < 400);
});

test('a known path with another method: 405 METHOD_NOT_ALLOWED with Allow, before the body is read', async (t) => {
  const { app } = build();
  for (const [method, url, allow] of [
    ['DELETE', '/rules', 'GET, HEAD, PUT'],
    ['GET', '/events', 'POST'],
    ['PUT', '/users/u-1', 'GET, HEAD, DELETE'],
    ['GET', '/users/u-1/snapshot', 'POST'],
    ['POST', '/healthz', 'GET, HEAD'],
  ] as const) {
    const res = await app.inject({ method, url, headers: { 'content-type': 'text/plain' }, payload: method === 'GET' ? undefined : 'x' });
    t.is(res.statusCode, 405, `${method} ${url}`);
    assertShape(t, res, 'METHOD_NOT_ALLOWED', `${method} ${url}`);
    t.is(res.headers.allow, allow, `${method} ${url}`);
  }
});

test('server-side failures answer a fixed text per code; store keys and hosts never reach the client', async (t) => {
  const { app, engine } = build();
  const failures: [unknown, number, string][] = [
    [new EngineError('UNAVAILABLE', 'risk:user:u-1: journal keeps moving under the read (entry 7 after 5)'), 503, 'UNAVAILABLE'],
    [new EngineError('TIMEOUT', 'redis journal: EVALSHA risk:user:u-1 got no answer within 5000 ms'), 504, 'TIMEOUT'],
    [new SequenceConflictError('user:u-1', 9, 7), 500, 'INTERNAL'],
    [new FencedError(3, 1, 2), 500, 'INTERNAL'],
    [new EngineError('INTERNAL', 'embedded journal /var/lib/risk/data is closed'), 500, 'INTERNAL'],
    [new Error('connect ECONNREFUSED 10.0.0.7:6379'), 500, 'INTERNAL'],
  ];
  for (const [err, status, code] of failures) {
    engine.userState.rejects(err);
    engine.snapshotUser.rejects(err);
    for (const res of [await app.inject({ method: 'GET', url: '/users/u-1' }), await app.inject({ method: 'POST', url: '/users/u-1/snapshot' })]) {
      t.is(res.statusCode, status, String(err));
      assertShape(t, res, code, String(err));
      t.notRegex(res.body, /user:|risk:|10\.0\.0\.7|\/var\/lib|epoch|EVALSHA/, String(err));
    }
  }
});

test('errors about the request keep their message', async (t) => {
  const { app, engine } = build();
  engine.snapshotUser.rejects(new EngineError('NOT_FOUND', 'user u-2 has never been seen'));
  const res = await app.inject({ method: 'POST', url: '/users/u-2/snapshot' });
  t.is(res.statusCode, 404);
  t.deepEqual(res.json(), { error: { code: 'NOT_FOUND', message: 'user u-2 has never been seen' } });
});
