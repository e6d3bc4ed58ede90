/**
 * DELETE /users/:userId on the real services (Kafka, Redis) and embedded: no key of the user is
 * left in the state namespace (journal, snapshots, decision-index fields), GET is 404, the next
 * event starts from empty state; an erasure made by another instance drops the owner's live actor.
 */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { RedisJournal } from '../../../src/persistence/RedisJournal.ts';
import { kafkaClient, pollUntil, produceEvents, startEngine, testSettings, uniqueId, type TestEvent } from '../helpers/harness.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

type Json = Record<string, unknown>;
type RedisScan = (options: { MATCH: string; COUNT: number }) => AsyncIterable<string[]>;
async function call(url: string, method = 'GET', body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as Json };
}
const eventCount = async (url: string, userId: string): Promise<number | null> => {
  const r = await call(`${url}/users/${encodeURIComponent(userId)}`);
  return r.status === 404 ? null : ((r.body.profile as { eventCount: number }).eventCount);
};

/** Every key of the namespace, and the decision-index fields (userIds) of each `d:` hash. */
async function namespace(redis: { scanIterator: RedisScan; hKeys(key: string): Promise<string[]> }, prefix: string): Promise<{ keys: string[]; indexUsers: string[] }> {
  const keys: string[] = [];
  for await (const batch of redis.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) keys.push(...batch);
  const indexUsers: string[] = [];
  for (const k of keys.filter((k) => k.startsWith(`${prefix}:d:`))) indexUsers.push(...(await redis.hKeys(k)));
  return { keys, indexUsers };
}

test.serial('kafka + redis: an erased user leaves no key in the namespace, GET is 404, its next event starts from empty state', async (t) => {
  const id = uniqueId('erase');
  const settings = testSettings(id);
  const run = await startEngine(settings);
  const redis = createClient({ url: REDIS_URL });
  await redis.connect();
  t.teardown(async () => {
    await run.stop();
    for await (const keys of redis.scanIterator({ MATCH: `${id}:*`, COUNT: 1000 })) if (keys.length) await redis.del(keys);
    await redis.close();
  });
  const kafka = kafkaClient();
  const login = settings.kafka.topics.inputs.find((n) => n.endsWith('login-events'))!;
  const now = Date.now();
  const ev = (userId: string, n: number): TestEvent => ({ eventId: `${userId}-e${n}`, userId, eventType: 'login', timestamp: now + n, deviceId: 'd-1' });
  const gone = 'erase-me';
  const kept = 'keep-me';
  await produceEvents(kafka, () => login, [ev(gone, 1), ev(gone, 2), ev(gone, 3), ev(kept, 1)]);
  await pollUntil('both users decided', async () => [await eventCount(run.adminUrl, gone), await eventCount(run.adminUrl, kept)], ([a, b]) => a === 3 && b === 1, 60_000);
  t.is((await call(`${run.adminUrl}/users/${gone}/snapshot`, 'POST')).status, 202);

  const before = await namespace(redis, id);
  t.true(before.keys.some((k) => k.includes(`{user:${gone}}`)), 'the user has journal/snapshot keys before');
  t.true(before.indexUsers.includes(gone), 'and decision-index entries');

  const del = await call(`${run.adminUrl}/users/${gone}`, 'DELETE');
  t.is(del.status, 202);
  t.deepEqual(del.body, { status: 'accepted', userId: gone });

  const after = await namespace(redis, id);
  t.deepEqual(after.keys.filter((k) => k.includes(gone)), [], 'no key of the user is left');
  t.false(after.indexUsers.includes(gone), 'no decision-index field of the user is left');
  t.true(after.indexUsers.includes(kept), "another user's index entries stay");
  t.true(after.keys.some((k) => k.includes(`{user:${kept}}`)), "another user's journal stays");
  t.is((await call(`${run.adminUrl}/users/${gone}`)).status, 404, 'GET is 404 at once (the live actor is gone)');
  t.is((await call(`${run.adminUrl}/decisions/${gone}-e1?userId=${gone}`)).status === 200, false);
  t.is(await eventCount(run.adminUrl, kept), 1);

  await produceEvents(kafka, () => login, [ev(gone, 4)]);
  const count = await pollUntil('the erased user back', () => eventCount(run.adminUrl, gone), (n) => n !== null, 60_000);
  t.is(count, 1, 'the next event starts from empty state');
  const user = (await call(`${run.adminUrl}/users/${gone}`)).body;
  t.is(user.sequenceNumber, 1);

  // Another instance erases (a second store on the same Redis): the owner drops its live actor
  // on the notice, so its GET is 404 without waiting for an event.
  const other = await RedisJournal.connect({ url: REDIS_URL, prefix: id });
  try {
    t.is(await other.erase(`user:${gone}`, gone), 1);
  } finally {
    await other.close();
  }
  await pollUntil('the owner dropped the live actor', () => eventCount(run.adminUrl, gone), (n) => n === null, 10_000);
  t.deepEqual((await namespace(redis, id)).keys.filter((k) => k.includes(gone)), []);
  await produceEvents(kafka, () => login, [ev(gone, 5)]);
  t.is(await pollUntil('the erased user back again', () => eventCount(run.adminUrl, gone), (n) => n !== null, 60_000), 1);
});

test.serial('embedded: an erased user is 404, its decision index is gone, its next event starts from empty state', async (t) => {
  const id = uniqueId('erase-emb');
  const settings = testSettings(id, { KAFKA_BROKERS: '', DATA_DIR: mkdtempSync(join(tmpdir(), 'risk-erase-')) });
  const run = await startEngine(settings);
  t.teardown(() => run.stop());
  const now = Date.now();
  const post = (userId: string, n: number) => call(`${run.adminUrl}/events`, 'POST', { eventId: `${userId}-e${n}`, userId, eventType: 'login', timestamp: now + n });
  for (let n = 1; n <= 3; n++) t.is((await post('gone', n)).status, 202);
  t.is((await post('kept', 1)).status, 202);
  await pollUntil('both users decided', async () => [await eventCount(run.adminUrl, 'gone'), await eventCount(run.adminUrl, 'kept')], ([a, b]) => a === 3 && b === 1, 30_000);
  t.is((await call(`${run.adminUrl}/users/gone/snapshot`, 'POST')).status, 202);
  const store = run.engine.parts.store as unknown as { decisionsOf(e: string, u?: string): Promise<unknown[]>; latestSnapshot(k: string): Promise<unknown>; readAfter(k: string, s: number): Promise<unknown[]> };
  t.is((await store.decisionsOf('gone-e1')).length, 1);

  t.is((await call(`${run.adminUrl}/users/gone`, 'DELETE')).status, 202);
  t.is((await call(`${run.adminUrl}/users/gone`)).status, 404);
  t.deepEqual(await store.readAfter('user:gone', 0), []);
  t.is(await store.latestSnapshot('user:gone'), null);
  for (let n = 1; n <= 3; n++) t.deepEqual(await store.decisionsOf(`gone-e${n}`), [], 'no decision-index entry of the user is left');
  t.is((await store.decisionsOf('kept-e1')).length, 1, "another user's index entry stays");
  t.is(await eventCount(run.adminUrl, 'kept'), 1);

  t.is((await post('gone', 4)).status, 202);
  t.is(await pollUntil('the erased user back', () => eventCount(run.adminUrl, 'gone'), (n) => n !== null, 30_000), 1);
  t.is((await call(`${run.adminUrl}/users/unknown-user`, 'DELETE')).status, 202, 'erasing a user never seen is accepted too');
});
