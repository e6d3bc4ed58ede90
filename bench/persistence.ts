/**
 * Persistence benchmark (issue 5), on the real Redis: `node --import tsx bench/persistence.ts`.
 * - journal writes per Redis round trip: one append of a batch of events for many users, through
 *   a counting TCP proxy;
 * - recovery time of a user with 10,000 journal entries, from the journal alone and from a
 *   snapshot plus a short tail (real domain journal events, produced by decide).
 * Writes bench/results/persistence-latest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { decide, evolve, initialState, upcastJournal, upcastState, DEFAULT_DOMAIN_CONFIG, type UserState } from '../src/domain/index.ts';
import { RulesHolder } from '../src/app/rules.ts';
import { RedisJournal } from '../src/persistence/RedisJournal.ts';
import { replayState } from '../src/persistence/replayState.ts';
import type { JournalEntry } from '../src/persistence/JournalStore.ts';
import { TcpProxy } from '../test/integration/persistence/tcpProxy.ts';

const REDIS = { host: '127.0.0.1', port: 6379 };
const prefix = `bench-${randomBytes(3).toString('hex')}`;
const fence = { shard: 0, epoch: 1 };
const rules = RulesHolder.fromFile('config/default-rules.json').current();
const config = DEFAULT_DOMAIN_CONFIG;

/** `n` real journal events of one user, from decide, with the state after each. */
function journalOf(userId: string, n: number): { entries: JournalEntry[]; state: UserState } {
  let state = initialState(userId);
  const entries: JournalEntry[] = [];
  for (let i = 0; i < n; i++) {
    const event = {
      eventId: `${userId}-${i}`, userId, eventType: 'payment', kind: 'payment' as const, timestamp: 1_700_000_000_000 + i * 1000,
      amount: '12.5000', currency: 'EUR', deviceId: 'd-1', ip: null, country: 'DE', upstreamRiskScore: null, eventData: null,
      source: { topic: 'payment-events', partition: 0, offset: String(i) },
    };
    const outcome = decide(state, event, { rules, config, now: event.timestamp, shard: 0, traceId: null });
    if (outcome.kind !== 'accepted') throw new Error('expected an accepted event');
    state = evolve(state, outcome.journal, config);
    entries.push({ key: `user:${userId}`, sequenceNumber: i + 1, data: outcome.journal, createdAt: event.timestamp });
  }
  return { entries, state };
}

async function roundTrips(): Promise<Record<string, number>> {
  const proxy = await TcpProxy.listen(REDIS);
  const store = await RedisJournal.connect({ url: `redis://127.0.0.1:${proxy.port}`, prefix, keepSnapshots: 2 });
  try {
    const users = 200;
    const entries = Array.from({ length: users }, (_, u) => journalOf(`rt-${u}`, 2).entries).flat();
    const before = proxy.roundTrips;
    await store.append(entries, fence);
    return { users, journalWrites: entries.length, roundTrips: proxy.roundTrips - before, writesPerRoundTrip: entries.length / (proxy.roundTrips - before) };
  } finally {
    await store.close();
    await proxy.stop();
  }
}

async function recovery(): Promise<Record<string, number>> {
  const store = await RedisJournal.connect({ url: `redis://${REDIS.host}:${REDIS.port}`, prefix, keepSnapshots: 2 });
  try {
    const n = 10_000;
    const { entries, state } = journalOf('recover', n);
    for (let i = 0; i < entries.length; i += 500) await store.append(entries.slice(i, i + 500), fence);
    const replay = () =>
      replayState(store, 'user:recover', initialState('recover'), upcastState, (s, data) => evolve(s, upcastJournal(data), config));
    const time = async () => {
      const t0 = performance.now();
      const s = await replay();
      if (s.sequenceNumber !== n) throw new Error(`recovered ${s.sequenceNumber} of ${n}`);
      return performance.now() - t0;
    };
    const fromJournal = Math.min(await time(), await time(), await time());
    // A snapshot 100 events before the end, as snapshotEvery = 100 leaves it at worst.
    const snapAt = journalOf('recover', n - 100).state;
    await store.saveSnapshot({ key: 'user:recover', sequenceNumber: snapAt.sequenceNumber, data: snapAt, createdAt: Date.now() }, fence);
    const fromSnapshot = Math.min(await time(), await time(), await time());
    void state;
    return { journalEntries: n, recoveryMsJournalOnly: round(fromJournal), recoveryMsSnapshotPlus100: round(fromSnapshot), ratio: round(fromJournal / fromSnapshot) };
  } finally {
    await store.close();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

async function cleanup(): Promise<void> {
  const client = createClient({ url: `redis://${REDIS.host}:${REDIS.port}` });
  await client.connect();
  for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) if (keys.length) await client.del(keys);
  await client.close();
}

try {
  const result = { date: new Date().toISOString(), redis: REDIS, roundTrips: await roundTrips(), recovery: await recovery() };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/persistence-latest.json', `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
} finally {
  await cleanup();
}
