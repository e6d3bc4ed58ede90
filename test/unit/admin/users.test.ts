import test from 'ava';
import { EngineError } from '../../../src/errors.ts';
import { build, sampleUser } from './helpers.ts';

test('GET /users/:userId: 404 JSON for a user never seen', async (t) => {
  const { app, engine } = build();
  const res = await app.inject({ method: 'GET', url: '/users/ghost' });
  t.is(res.statusCode, 404);
  t.deepEqual(res.json(), { error: { code: 'NOT_FOUND', message: 'user ghost has never been seen' } });
  t.true(engine.userState.calledOnceWithExactly('ghost'));
});

test('GET /users/:userId: the state, userId/shard/source first', async (t) => {
  const { app, engine } = build();
  const user = sampleUser('u-1');
  engine.userState.resolves(user);
  const res = await app.inject({ method: 'GET', url: '/users/u-1' });
  t.is(res.statusCode, 200);
  const body = res.json<Record<string, unknown>>();
  t.deepEqual(body, JSON.parse(JSON.stringify(user)));
  t.deepEqual(Object.keys(body).slice(0, 3), ['userId', 'shard', 'source']);
});

test('GET /users/:userId: ids are percent-decoded; 128 characters pass, 129 are refused naming userId', async (t) => {
  const { app, engine } = build();
  engine.userState.callsFake(async (id: string) => sampleUser(id));
  const odd = 'a b/c?d#é';
  t.is((await app.inject({ method: 'GET', url: `/users/${encodeURIComponent(odd)}` })).statusCode, 200);
  t.true(engine.userState.calledWith(odd));
  t.is((await app.inject({ method: 'GET', url: `/users/${'x'.repeat(128)}` })).statusCode, 200);
  const res = await app.inject({ method: 'GET', url: `/users/${'x'.repeat(129)}` });
  t.is(res.statusCode, 400);
  t.deepEqual(res.json(), { error: { code: 'SCHEMA', message: 'userId: must NOT have more than 128 characters' } });
});

test('POST /users/:userId/snapshot: 202, or 404 when the user is not on an owned shard', async (t) => {
  const { app, engine } = build();
  const ok = await app.inject({ method: 'POST', url: '/users/u-1/snapshot' });
  t.is(ok.statusCode, 202);
  t.deepEqual(ok.json(), { status: 'accepted', userId: 'u-1' });
  engine.snapshotUser.rejects(new EngineError('NOT_FOUND', 'user u-2 is not on a shard this instance owns'));
  const missing = await app.inject({ method: 'POST', url: '/users/u-2/snapshot' });
  t.is(missing.statusCode, 404);
  t.is(missing.json<{ error: { code: string } }>().error.code, 'NOT_FOUND');
});

test('engine failures: an EngineError keeps its code and status (its details logged, not answered); anything else is a 500 that does not leak', async (t) => {
  const { app, engine } = build();
  engine.userState.rejects(new EngineError('UNAVAILABLE', 'state store unreachable'));
  const down = await app.inject({ method: 'GET', url: '/users/u-1' });
  t.is(down.statusCode, 503);
  t.deepEqual(down.json(), { error: { code: 'UNAVAILABLE', message: 'a service the engine depends on is unavailable; try again later' } });
  engine.userState.rejects(Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:6379 secret-host'), { code: 'ECONNREFUSED' }));
  const boom = await app.inject({ method: 'GET', url: '/users/u-1' });
  t.is(boom.statusCode, 500);
  t.deepEqual(boom.json(), { error: { code: 'INTERNAL', message: 'internal error' } });
});
