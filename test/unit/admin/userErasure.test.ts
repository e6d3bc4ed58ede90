import test from 'ava';
import sinon from 'sinon';
import { buildAdmin } from '../../../src/admin/server.ts';
import { silentLogger } from '../../../src/log.ts';
import { settings, stubEngine } from './helpers.ts';

/** The admin API on a stubbed engine with (or without) `eraseUser`. */
const app = (extra: object) => buildAdmin({ ...stubEngine(), ...extra }, settings(), silentLogger);

test('DELETE /users/:userId: 202 once the engine erased the (percent-decoded) user', async (t) => {
  const eraseUser = sinon.stub<[string], Promise<void>>().resolves();
  const res = await app({ eraseUser }).inject({ method: 'DELETE', url: `/users/${encodeURIComponent('a b/é')}` });
  t.is(res.statusCode, 202);
  t.deepEqual(res.json(), { status: 'accepted', userId: 'a b/é' });
  t.true(eraseUser.calledOnceWithExactly('a b/é'));
});

test('DELETE /users/:userId: 129 characters are refused, a failing store is 503, an engine without erasure 503', async (t) => {
  const eraseUser = sinon.stub<[string], Promise<void>>().resolves();
  t.is((await app({ eraseUser }).inject({ method: 'DELETE', url: `/users/${'x'.repeat(129)}` })).statusCode, 400);
  t.true(eraseUser.notCalled);
  const { EngineError } = await import('../../../src/errors.ts');
  const failing = app({ eraseUser: sinon.stub().rejects(new EngineError('UNAVAILABLE', 'redis down')) });
  t.is((await failing.inject({ method: 'DELETE', url: '/users/u-1' })).statusCode, 503);
  const none = await app({}).inject({ method: 'DELETE', url: '/users/u-1' });
  t.is(none.statusCode, 503);
  t.like(none.json(), { error: { code: 'UNAVAILABLE' } });
});
