import test from 'ava';
import sinon from 'sinon';
import type { Rules } from '../../../src/domain/index.ts';
import { EngineError } from '../../../src/errors.ts';
import { build, rulesFromFile } from './helpers.ts';

type Json = Record<string, any>;

async function getRules(app: ReturnType<typeof build>['app']): Promise<Json> {
  const res = await app.inject({ method: 'GET', url: '/rules' });
  return res.json<Json>();
}

test('GET /rules: the rules in force', async (t) => {
  const { app, holder } = build();
  const res = await app.inject({ method: 'GET', url: '/rules' });
  t.is(res.statusCode, 200);
  t.deepEqual(res.json(), JSON.parse(JSON.stringify(holder.current())));
  t.is(res.json<Json>().rulesVersion, 1);
});

test('PUT /rules: takes the object as GET shows it, ignores its rulesVersion, bumps the version and applies it', async (t) => {
  const { app, holder } = build();
  const seen: number[] = [];
  holder.onChange((r) => seen.push(r.rulesVersion));
  const body = await getRules(app);
  body.thresholds.block = 0.5;
  body.thresholds.challenge = 0.3;
  body.rulesVersion = 99;
  const res = await app.inject({ method: 'PUT', url: '/rules', payload: body });
  t.is(res.statusCode, 200);
  const applied = res.json<Json>();
  t.is(applied.rulesVersion, 2);
  t.deepEqual(applied.thresholds, { block: 0.5, challenge: 0.3 });
  t.deepEqual(await getRules(app), applied);
  t.is(holder.current().rulesVersion, 2);
  t.is(holder.current().thresholds.block, 0.5);

  // A version that is not even a number is ignored too; the next PUT gives 3.
  const again = await app.inject({ method: 'PUT', url: '/rules', payload: { ...applied, rulesVersion: 'whatever' } });
  t.is(again.statusCode, 200);
  t.is(again.json<Json>().rulesVersion, 3);
  t.deepEqual(seen, [2, 3]);
});

const BAD_FIELDS: [string, (r: Json) => void, string][] = [
  ['thresholds.block', (r) => (r.thresholds.block = 2), 'above 1'],
  ['thresholds.challenge', (r) => (r.thresholds.challenge = 0.95), 'above block'],
  ['thresholds.extra', (r) => (r.thresholds.extra = 1), 'unknown key'],
  ['modelVersion', (r) => delete r.modelVersion, 'missing'],
  ['bias', (r) => (r.bias = 'high'), 'not a number'],
  ['weights.shoeSize', (r) => (r.weights.shoeSize = 1), 'unknown feature'],
  ['hardRules[1].decision', (r) => (r.hardRules[1].decision = 'MAYBE'), 'not BLOCK or CHALLENGE'],
  ['hardRules[0].when.amountAbove', (r) => (r.hardRules[0].when.amountAbove = '1.23456'), 'five decimals'],
  ['hardRules[2].when', (r) => (r.hardRules[2].when = {}), 'no condition'],
  ['hardRules[3].id', (r) => (r.hardRules[3].id = r.hardRules[0].id), 'duplicate id'],
];

for (const [field, breakIt, why] of BAD_FIELDS) {
  test(`PUT /rules: 400 naming ${field} (${why}); nothing changes`, async (t) => {
    const { app, holder } = build();
    const body = await getRules(app);
    breakIt(body);
    const res = await app.inject({ method: 'PUT', url: '/rules', payload: body });
    t.is(res.statusCode, 400);
    const { error } = res.json<{ error: { code: string; message: string } }>();
    t.is(error.code, 'SCHEMA');
    t.true(error.message.startsWith(`${field}: `), error.message);
    t.is(holder.current().rulesVersion, 1);
  });
}

test('PUT /rules: a body that is not an object, not JSON, or too large is a 4xx JSON error', async (t) => {
  const { app, holder } = build();
  const array = await app.inject({ method: 'PUT', url: '/rules', payload: [1, 2] });
  t.is(array.statusCode, 400);
  t.deepEqual(array.json(), { error: { code: 'SCHEMA', message: 'body: must be object' } });
  const broken = await app.inject({ method: 'PUT', url: '/rules', headers: { 'content-type': 'application/json' }, payload: '{"thresholds":' });
  t.is(broken.statusCode, 400);
  t.is(broken.json<Json>().error.code, 'INVALID_JSON');
  const huge = await app.inject({ method: 'PUT', url: '/rules', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ pad: 'x'.repeat(1024 * 1024) }) });
  t.is(huge.statusCode, 413);
  t.is(huge.json<Json>().error.code, 'TOO_LARGE');
  t.is(holder.current().rulesVersion, 1);
});

test('PUT /rules hands the validated object to the rules channel and answers what it applied', async (t) => {
  const applied = { ...rulesFromFile().current(), rulesVersion: 8 };
  const rules = { current: sinon.stub<[], Rules>().returns(rulesFromFile().current()), update: sinon.stub<[Rules], Promise<Rules>>().resolves(applied) };
  const { app } = build({}, { rules });
  const body = await getRules(app);
  body.hardRules[0].when.amountAbove = 5000;
  const res = await app.inject({ method: 'PUT', url: '/rules', payload: body });
  t.is(res.statusCode, 200);
  t.is(res.json<Json>().rulesVersion, 8);
  t.true(rules.update.calledOnce);
  // Validated: amounts canonical, the given version not passed on as such.
  t.is(rules.update.firstCall.args[0].hardRules[0]!.when.amountAbove, '5000.0000');

  rules.update.rejects(new EngineError('UNAVAILABLE', 'rules topic unreachable'));
  const down = await app.inject({ method: 'PUT', url: '/rules', payload: body });
  t.is(down.statusCode, 503);
  t.deepEqual(down.json(), { error: { code: 'UNAVAILABLE', message: 'a service the engine depends on is unavailable; try again later' } });
});

test('without a rules channel, /rules answers 503', async (t) => {
  const { app } = build({}, {});
  const res = await app.inject({ method: 'GET', url: '/rules' });
  t.is(res.statusCode, 503);
  t.is(res.json<Json>().error.code, 'UNAVAILABLE');
});
