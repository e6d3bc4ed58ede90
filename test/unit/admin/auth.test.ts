import test from 'ava';
import { createHash } from 'node:crypto';
import { bearerMatches } from '../../../src/admin/auth.ts';
import { auth, build, sampleUser, TOKEN } from './helpers.ts';

const withToken = () => build({ ADMIN_TOKEN: TOKEN });

test('without a token: 401 JSON with a Bearer challenge, and the engine is not asked', async (t) => {
  const { app, engine } = withToken();
  engine.userState.resolves(sampleUser('u-1'));
  const res = await app.inject({ method: 'GET', url: '/users/u-1' });
  t.is(res.statusCode, 401);
  t.regex(res.headers['content-type'] as string, /^application\/json/);
  t.deepEqual(res.json(), { error: { code: 'UNAUTHORIZED', message: 'missing or wrong bearer token' } });
  t.regex(res.headers['www-authenticate'] as string, /^Bearer /);
  t.true(engine.userState.notCalled);
});

for (const [name, header] of [
  ['a wrong token', `Bearer ${TOKEN}x`],
  ['a token prefix', `Bearer ${TOKEN.slice(0, -1)}`],
  ['another scheme', `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`],
  ['the bare token', TOKEN],
  ['an empty bearer', 'Bearer '],
] as const) {
  test(`with ${name}: 401`, async (t) => {
    const { app, engine } = withToken();
    const res = await app.inject({ method: 'GET', url: '/users/u-1', headers: { authorization: header } });
    t.is(res.statusCode, 401);
    t.is(res.json<{ error: { code: string } }>().error.code, 'UNAUTHORIZED');
    t.true(engine.userState.notCalled);
  });
}

test('with the token: 200 (the scheme is case-insensitive)', async (t) => {
  const { app, engine } = withToken();
  engine.userState.resolves(sampleUser('u-1'));
  const res = await app.inject({ method: 'GET', url: '/users/u-1', headers: auth });
  t.is(res.statusCode, 200);
  t.is(res.json<{ userId: string }>().userId, 'u-1');
  const lower = await app.inject({ method: 'GET', url: '/users/u-1', headers: { authorization: `bearer ${TOKEN}` } });
  t.is(lower.statusCode, 200);
});

test('/healthz and /readyz are open without a token; /metrics, /shards and /rules are not', async (t) => {
  const { app } = withToken();
  t.is((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  t.is((await app.inject({ method: 'GET', url: '/healthz?verbose=1' })).statusCode, 200);
  t.is((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  for (const url of ['/metrics', '/shards', '/rules']) {
    t.is((await app.inject({ method: 'GET', url })).statusCode, 401, url);
    t.is((await app.inject({ method: 'GET', url, headers: auth })).statusCode, 200, url);
  }
});

test('a probe path cannot be used to slip past auth', async (t) => {
  const { app } = withToken();
  for (const url of ['/healthz/../users/u-1', '/users/u-1?/healthz', '/healthz%2F..%2Fusers%2Fu-1', '/readyz/x']) {
    const res = await app.inject({ method: 'GET', url });
    t.is(res.statusCode, 401, url);
  }
});

test('PUT /rules without the token is refused before its body is read or applied', async (t) => {
  const { app, holder } = withToken();
  const res = await app.inject({ method: 'PUT', url: '/rules', headers: { 'content-type': 'application/json' }, payload: '{not json' });
  t.is(res.statusCode, 401);
  t.is(holder.current().rulesVersion, 1);
});

test('unknown routes: 401 without the token, 404 JSON with it', async (t) => {
  const { app } = withToken();
  t.is((await app.inject({ method: 'GET', url: '/nope' })).statusCode, 401);
  const res = await app.inject({ method: 'GET', url: '/nope', headers: auth });
  t.is(res.statusCode, 404);
  t.deepEqual(res.json(), { error: { code: 'NOT_FOUND', message: 'no route GET /nope' } });
});

test('with no token configured, every route is open', async (t) => {
  const { app, engine } = build();
  engine.userState.resolves(sampleUser('u-1'));
  t.is((await app.inject({ method: 'GET', url: '/users/u-1' })).statusCode, 200);
  t.is((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
});

test('bearerMatches compares digests and requires the Bearer scheme', (t) => {
  const expected = createHash('sha256').update(TOKEN).digest();
  t.true(bearerMatches(`Bearer ${TOKEN}`, expected));
  t.true(bearerMatches(`BEARER  ${TOKEN} `, expected));
  t.false(bearerMatches(undefined, expected));
  t.false(bearerMatches('', expected));
  t.false(bearerMatches(`Bearer ${TOKEN} extra`, expected));
  t.false(bearerMatches(`Token ${TOKEN}`, expected));
});
