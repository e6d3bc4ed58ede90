import test from 'ava';
import { build, TOKEN } from './helpers.ts';

test('every answer names the instance that gave it (x-risk-instance): ok, not found, refused', async (t) => {
  const { app } = build();
  for (const [method, url] of [['GET', '/shards'], ['GET', '/healthz'], ['GET', '/no-such-route'], ['DELETE', '/shards']] as const) {
    const res = await app.inject({ method, url });
    t.is(res.headers['x-risk-instance'], 'unit-1', `${method} ${url} (${res.statusCode})`);
  }
});

test('with a token, a caller without it does not learn the instance name', async (t) => {
  const { app } = build({ ADMIN_TOKEN: TOKEN });
  const refused = await app.inject({ method: 'GET', url: '/shards' });
  t.is(refused.statusCode, 401);
  t.is(refused.headers['x-risk-instance'], undefined);
  const allowed = await app.inject({ method: 'GET', url: '/shards', headers: { authorization: `Bearer ${TOKEN}` } });
  t.is(allowed.statusCode, 200);
  t.is(allowed.headers['x-risk-instance'], 'unit-1');
});
