/**
 * RedisJournal against the real Redis (REDIS_URL, default 127.0.0.1:6379): the shared contract,
 * then what only Redis has: pipelining (round trips counted on the wire) and connection faults.
 * Every test works under its own random prefix, removed afterwards with SCAN + DEL.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { createClient } from 'redis';
import { RedisJournal, redisKeys } from '../../../src/persistence/RedisJournal.ts';
import type { JournalEntry } from '../../../src/persistence/JournalStore.ts';
import { runJournalContract } from './journalContract.ts';
import { TcpProxy } from './tcpProxy.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS = { host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) };
const admin = createClient({ url: REDIS_URL });

test.before(async () => {
  await admin.connect();
});
test.after.always(async () => {
  await admin.close();
});

const prefixOf = (ns: string): string => `test-${ns}`;

async function deletePrefix(prefix: string): Promise<void> {
  for await (const keys of admin.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) {
    if (keys.length > 0) await admin.del(keys);
  }
}

runJournalContract('redis', (ns) => RedisJournal.connect({ url: REDIS_URL, prefix: prefixOf(ns) }), {
  cleanup: (ns) => deletePrefix(prefixOf(ns)),
  async writeRawEntry(ns, key, seq, raw) {
    await admin.zAdd(redisKeys(prefixOf(ns)).journal(key), { score: seq, value: raw });
  },
  async snapshotSeqs(ns, key) {
    const withScores = await admin.zRangeWithScores(redisKeys(prefixOf(ns)).snapshots(key), 0, -1);
    return withScores.map((m) => m.score);
  },
});

function ownPrefix(t: ExecutionContext): string {
  const prefix = `test-${randomBytes(5).toString('hex')}`;
  t.teardown(() => deletePrefix(prefix));
  return prefix;
}

async function through(t: ExecutionContext, proxy: TcpProxy, prefix: string, commandTimeoutMs?: number): Promise<RedisJournal> {
  const store = await RedisJournal.connect({ url: proxy.url, prefix, commandTimeoutMs });
  t.teardown(() => store.close());
  return store;
}

async function listenProxy(t: ExecutionContext): Promise<TcpProxy> {
  const proxy = await TcpProxy.listen(REDIS);
  t.teardown(() => proxy.stop());
  return proxy;
}

const entry = (key: string, sequenceNumber: number): JournalEntry => ({ key, sequenceNumber, data: { key, sequenceNumber }, createdAt: 1 });

function healthBecomes(store: RedisJournal, healthy: boolean): Promise<void> {
  return new Promise((resolve) => {
    const off = store.onHealthChange((h) => {
      if (h !== healthy) return;
      off();
      resolve();
    });
  });
}

test('an append of many keys is one round trip to Redis', async (t) => {
  const proxy = await listenProxy(t);
  const store = await through(t, proxy, ownPrefix(t));
  const fence = { shard: 0, epoch: await store.nextEpoch(0) };
  const keys = Array.from({ length: 50 }, (_, i) => `user-${i}`);

  proxy.resetCounters();
  await store.append(keys.flatMap((key) => [entry(key, 1), entry(key, 2)]), fence);
  t.is(proxy.roundTrips, 1);
  t.log(`${keys.length * 2} journal writes (${keys.length} script calls, ${proxy.bytesFromClient} bytes) in ${proxy.roundTrips} round trip`);

  // Control: awaited one by one, each append is its own round trip, and the counter sees them.
  proxy.resetCounters();
  for (const key of keys.slice(0, 10)) await store.append([entry(key, 3)], fence);
  t.is(proxy.roundTrips, 10);
});

test('with nothing listening, calls fail at once and the store is unhealthy', async (t) => {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));

  const store = new RedisJournal({ url: `redis://127.0.0.1:${port}`, prefix: 'never-written' });
  const started = store.start(); // keeps retrying in the background until closed
  t.teardown(async () => {
    await store.close();
    await started;
  });
  t.false(store.isHealthy());
  const t0 = performance.now();
  await t.throwsAsync(store.append([entry('u1', 1)], { shard: 0, epoch: 1 }), { message: /offline|closed/i });
  await t.throwsAsync(store.readAfter('u1', 0), { message: /offline|closed/i });
  const elapsed = performance.now() - t0;
  t.true(elapsed < 1000, `failed after ${elapsed.toFixed(0)} ms`);
  t.false(store.isHealthy());
});

test('Redis going away fails calls fast; the client reconnects by itself when it is back', async (t) => {
  const proxy = await listenProxy(t);
  const store = await through(t, proxy, ownPrefix(t));
  const fence = { shard: 0, epoch: await store.nextEpoch(0) };
  await store.append([entry('u1', 1)], fence);
  t.true(store.isHealthy());

  const down = healthBecomes(store, false);
  await proxy.stop();
  await down;
  const t0 = performance.now();
  await t.throwsAsync(store.append([entry('u1', 2)], fence));
  t.true(performance.now() - t0 < 1000);

  const up = healthBecomes(store, true);
  await proxy.start();
  await up;
  await store.append([entry('u1', 2)], fence);
  t.deepEqual((await store.readAfter('u1', 0)).map((e) => e.sequenceNumber), [1, 2]);
});

test('a Redis that stops answering times a call out and reads unhealthy until it answers again', async (t) => {
  const proxy = await listenProxy(t);
  const store = await through(t, proxy, ownPrefix(t), 300);
  const fence = { shard: 0, epoch: await store.nextEpoch(0) };
  await store.append([entry('u1', 1)], fence);

  proxy.pause();
  const unhealthy = healthBecomes(store, false);
  const t0 = performance.now();
  await t.throwsAsync(store.append([entry('u1', 2)], fence), { message: /no answer within 300 ms/ });
  t.true(performance.now() - t0 < 1000);
  await unhealthy;

  const healthy = healthBecomes(store, true);
  proxy.resume();
  await healthy;
  // The timed-out write was only delayed: it landed. Callers must treat a timeout as unknown.
  t.deepEqual((await store.readAfter('u1', 0)).map((e) => e.sequenceNumber), [1, 2]);
});
