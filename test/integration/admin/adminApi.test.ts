/**
 * The admin API of a real engine (Kafka, Redis, NATS) with ADMIN_TOKEN set, over HTTP, and
 * `risk-engine inspect` against it.
 */
import test from 'ava';
import { kafkaClient, parseValues, produceEvents, readUntil, testSettings, uniqueId } from '../helpers/harness.ts';
import { runCli, startInstance, type Instance } from './instance.ts';

const TOKEN = 'integration-admin-token-42';
const id = uniqueId('admin');
const userId = `${id}-u1`;
let instance: Instance;

type Json = Record<string, any>;

const call = (path: string, init: RequestInit & { token?: string | null } = {}) => {
  const { token = TOKEN, ...rest } = init;
  const headers: Record<string, string> = { ...(rest.headers as Record<string, string>) };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return fetch(`${instance.adminUrl}${path}`, { ...rest, headers });
};

test.before(async () => {
  instance = await startInstance(testSettings(id, { ADMIN_TOKEN: TOKEN }));
  const settings = instance.settings;
  const event = { eventId: `${userId}-e1`, userId, eventType: 'login', timestamp: Date.now(), deviceId: 'd-1', country: 'DE' };
  const kafka = kafkaClient();
  await produceEvents(kafka, () => settings.kafka.topics.inputs[0]!, [event]);
  await readUntil(kafka, settings.kafka.topics.decisions, (rs) => parseValues<{ eventId: string }>(rs).some((d) => d.eventId === event.eventId));
});

test.after.always(async () => {
  await instance?.stop();
});

test.serial('401 without a token and with a wrong one; 200 with it; probes are open', async (t) => {
  const without = await call(`/users/${userId}`, { token: null });
  t.is(without.status, 401);
  t.deepEqual(await without.json(), { error: { code: 'UNAUTHORIZED', message: 'missing or wrong bearer token' } });
  const wrong = await call(`/users/${userId}`, { token: `${TOKEN}-not` });
  t.is(wrong.status, 401);
  t.is(((await wrong.json()) as Json).error.code, 'UNAUTHORIZED');
  const ok = await call(`/users/${userId}`);
  t.is(ok.status, 200);
  const user = (await ok.json()) as Json;
  t.like(user, { userId, source: 'actor', profile: { eventCount: 1, loginCount: 1, devices: ['d-1'] } });
  t.is(user.shard, instance.engine.shardOf(userId));

  t.is((await call('/healthz', { token: null })).status, 200);
  const ready = await call('/readyz', { token: null });
  t.is(ready.status, 200, JSON.stringify(await ready.clone().json()));
  t.is((await call('/metrics', { token: null })).status, 401);
  const metrics = await call('/metrics');
  t.is(metrics.status, 200);
  t.regex(await metrics.text(), /risk_decisions_total\{decision="ALLOW"\} 1/);
});

test.serial('404 JSON for a user never seen and for an unknown route', async (t) => {
  const res = await call(`/users/${id}-nobody`);
  t.is(res.status, 404);
  t.deepEqual(await res.json(), { error: { code: 'NOT_FOUND', message: `user ${id}-nobody has never been seen` } });
  const route = await call('/no/such/route');
  t.is(route.status, 404);
  t.is(((await route.json()) as Json).error.code, 'NOT_FOUND');
});

test.serial('PUT /rules: 400 naming the bad field; a good object bumps the version', async (t) => {
  const current = (await (await call('/rules')).json()) as Json;
  t.is(current.rulesVersion, 1);
  const put = (body: unknown) => call('/rules', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const bad = await put({ ...current, hardRules: [...current.hardRules, { id: 'x', when: { amountAbove: 'lots' }, decision: 'BLOCK' }] });
  t.is(bad.status, 400);
  const error = ((await bad.json()) as Json).error;
  t.is(error.code, 'SCHEMA');
  t.true(error.message.startsWith(`hardRules[${current.hardRules.length}].when.amountAbove: `), error.message);

  t.is((await call('/rules', { method: 'PUT', token: null, headers: { 'content-type': 'application/json' }, body: JSON.stringify(current) })).status, 401);

  const res = await put({ ...current, rulesVersion: 1000, thresholds: { block: 0.95, challenge: 0.75 } });
  t.is(res.status, 200);
  const applied = (await res.json()) as Json;
  t.like(applied, { rulesVersion: 2, thresholds: { block: 0.95, challenge: 0.75 } });
  t.deepEqual(await (await call('/rules')).json(), applied);
  t.is(instance.holder.current().rulesVersion, 2);
});

test.serial('GET /shards lists the owned shards', async (t) => {
  const body = (await (await call('/shards')).json()) as Json;
  t.is(body.instanceId, id);
  t.deepEqual(body.shards.map((s: Json) => s.shard), instance.engine.ownedShards());
  t.true(body.shards.some((s: Json) => s.shard === instance.engine.shardOf(userId) && s.actors >= 1));
});

test.serial('risk-engine inspect: pretty JSON with the token; exit 1 with the JSON error otherwise', async (t) => {
  const ok = await runCli(['inspect', userId, '--url', instance.adminUrl], { ADMIN_TOKEN: TOKEN });
  t.is(ok.code, 0, ok.stderr);
  t.like(JSON.parse(ok.stdout), { userId, profile: { eventCount: 1 } });
  t.true(ok.stdout.includes('\n  "userId"'), 'indented');

  const unknown = await runCli(['inspect', `${id}-nobody`, '--url', instance.adminUrl], { ADMIN_TOKEN: TOKEN });
  t.is(unknown.code, 1);
  t.is(unknown.stdout, '');
  t.is(JSON.parse(unknown.stderr).error.code, 'NOT_FOUND');

  const port = new URL(instance.adminUrl).port;
  const noToken = await runCli(['inspect', userId], { ADMIN_TOKEN: undefined, ADMIN_HOST: '127.0.0.1', ADMIN_PORT: port });
  t.is(noToken.code, 1);
  t.is(JSON.parse(noToken.stderr).error.code, 'UNAUTHORIZED');
});
