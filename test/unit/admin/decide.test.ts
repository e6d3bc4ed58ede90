/** POST /decide's HTTP answers on a stubbed decisions service, and the bounded waiters behind it. */
import test from 'ava';
import sinon from 'sinon';
import { build, rulesFromFile } from './helpers.ts';
import { embeddedRulesChannel } from '../../../src/app/rules/channel.ts';
import { BusyError, DecisionWaiters } from '../../../src/app/decisions/waiters.ts';
import type { DecisionsControl } from '../../../src/admin/routes/decisions.ts';
import type { Decision } from '../../../src/domain/index.ts';

const event = { eventId: 'e-1', userId: 'u-1', eventType: 'payment', timestamp: Date.now(), amount: '5' };
const decision = { eventId: 'e-1', userId: 'u-1', eventType: 'payment', decision: 'ALLOW', riskScore: 0.1, reasons: [], modelVersion: 'm', rulesVersion: 1, eventTimestamp: 1, decidedAt: 2, shard: 0, traceId: null } as Decision;

function withControl(decide: DecisionsControl['decide']) {
  const control = { decide: sinon.spy(decide), lookup: sinon.stub().rejects(new Error('unused')), explain: sinon.stub().rejects(new Error('unused')), rulesVersion: sinon.stub().resolves(null) };
  const { app } = build({}, { rules: embeddedRulesChannel(rulesFromFile()), decisions: control });
  return { app, control };
}

const post = (app: ReturnType<typeof build>['app'], url: string, body: unknown) =>
  app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: typeof body === 'string' ? body : JSON.stringify(body) });

test('a decided event is 200 with the decision; the record produced is the event as POST /events produces it', async (t) => {
  const { app, control } = withControl(async () => ({ status: 'decided', decision, duplicate: false }));
  const res = await post(app, '/decide', event);
  t.is(res.statusCode, 200);
  t.deepEqual(res.json(), { ...decision, duplicate: false });
  const [record, ids, timeoutMs] = control.decide.firstCall.args;
  t.deepEqual(record, { topic: 'payment-events', key: 'u-1', value: JSON.stringify(event) });
  t.deepEqual(ids, { userId: 'u-1', eventId: 'e-1' });
  t.is(timeoutMs, 2000);
});

test('not committed in time: 202 pending with Location', async (t) => {
  const { app, control } = withControl(async () => ({ status: 'pending', eventId: 'e/1' }));
  const res = await post(app, '/decide?timeoutMs=30000', { ...event, eventId: 'e/1' });
  t.is(res.statusCode, 202);
  t.deepEqual(res.json(), { status: 'pending', eventId: 'e/1' });
  t.is(res.headers.location, '/decisions/e%2F1');
  t.is(control.decide.firstCall.args[2], 30_000);
});

test('a bad event is 400 with its dead-letter code and field, and nothing is produced', async (t) => {
  const { app, control } = withControl(async () => ({ status: 'decided', decision, duplicate: false }));
  const schema = await post(app, '/decide', { ...event, userId: '' });
  t.is(schema.statusCode, 400);
  t.is(schema.json().error.code, 'SCHEMA');
  t.regex(schema.json().error.message, /^userId/);
  const json = await post(app, '/decide', '{"eventId": ');
  t.is(json.statusCode, 400);
  t.is(json.json().error.code, 'INVALID_JSON');
  for (const q of ['0', '30001', '1.5', 'x', '']) t.is((await post(app, `/decide?timeoutMs=${q}`, event)).statusCode, 400, `timeoutMs=${q}`);
  t.is((await post(app, '/decide?other=1', event)).statusCode, 400);
  t.true(control.decide.notCalled);
});

test('past the limit of waiting callers: 503 with Retry-After', async (t) => {
  const { app } = withControl(async () => {
    throw new BusyError(1);
  });
  const res = await post(app, '/decide', event);
  t.is(res.statusCode, 503);
  t.is(res.headers['retry-after'], '1');
  t.is(res.json().error.code, 'UNAVAILABLE');
});

test('waiters: bounded, resolved by userId and eventId, a second waiter for the same event is a retry, null after the timeout', async (t) => {
  const waiters = new DecisionWaiters(2);
  const one = waiters.wait('u-1', 'e-1', 1000);
  const two = waiters.wait('u-1', 'e-1', 1000);
  t.false(one.retry);
  t.true(two.retry);
  t.throws(() => waiters.wait('u-2', 'e-9', 1000), { instanceOf: BusyError });
  t.true(waiters.waitsFor('u-1'));
  waiters.resolve({ ...decision, eventId: 'e-other' });
  t.is(waiters.size, 2);
  waiters.resolve(decision);
  t.deepEqual([await one.decision, await two.decision], [decision, decision]);
  t.is(waiters.size, 0);
  t.false(waiters.waitsFor('u-1'));
  const late = waiters.wait('u-3', 'e-3', 20);
  t.is(await late.decision, null);
  t.is(waiters.size, 0);
});
