/**
 * Shadow-rule counts in both stores (real Redis, LMDB in a temporary directory): added in the
 * journal write itself, from the accepted entries' decisions, exactly when the entries are
 * written: a refused write (fenced, or a sequence conflict such as a retried round) counts
 * nothing; starting a version's counts drops what was counted under that number before.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import type { Decision, Verdict } from '../../../src/domain/index.ts';
import { EmbeddedJournal } from '../../../src/persistence/EmbeddedJournal.ts';
import type { Fence, JournalEntry, JournalStore } from '../../../src/persistence/JournalStore.ts';
import { RedisJournal } from '../../../src/persistence/RedisJournal.ts';
import type { ShadowCountStore } from '../../../src/persistence/shadowCounts.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
type Store = JournalStore & ShadowCountStore;

function accepted(key: string, seq: number, live: Verdict, shadow: { v: number; d: Verdict } | null): JournalEntry {
  const decision: Decision = {
    eventId: `${key}-e${seq}`,
    userId: key.slice('user:'.length),
    eventType: 'payment',
    decision: live,
    riskScore: 0.5,
    reasons: [],
    modelVersion: 'm',
    rulesVersion: 1,
    eventTimestamp: 1_700_000_000_000 + seq,
    decidedAt: 1_700_000_000_000 + seq,
    shard: 0,
    traceId: null,
    ...(shadow ? { shadow: { rulesVersion: shadow.v, decision: shadow.d, riskScore: 0.6 } } : {}),
  };
  return { key, sequenceNumber: seq, createdAt: decision.decidedAt, data: { v: 1, type: 'accepted', event: {}, decision, window: null, closed: [] } };
}

const stores: [string, () => Promise<{ open: () => Promise<Store>; cleanup: () => Promise<void> }>][] = [
  [
    'redis',
    async () => {
      const prefix = `shadow-${randomBytes(4).toString('hex')}`;
      const opened: Store[] = [];
      return {
        open: async () => {
          const s = await RedisJournal.connect({ url: REDIS_URL, prefix });
          opened.push(s);
          return s;
        },
        cleanup: async () => {
          for (const s of opened) await s.close();
          const c = createClient({ url: REDIS_URL });
          await c.connect();
          for await (const keys of c.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) if ((keys as string[]).length) await c.del(keys as string[]);
          await c.close();
        },
      };
    },
  ],
  [
    'lmdb',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'risk-shadow-'));
      const opened: Store[] = [];
      return {
        open: async () => {
          const s = new EmbeddedJournal({ dir });
          opened.push(s);
          return s;
        },
        cleanup: async () => {
          for (const s of opened) await s.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
];

for (const [name, make] of stores) {
  test(`${name}: counts come with the journal write, per shadow version, and refused writes count nothing`, async (t) => {
    const { open, cleanup } = await make();
    t.teardown(cleanup);
    const store = await open();
    const shard = randomBytes(2).readUInt16BE(0);
    const fence: Fence = { shard, epoch: await store.nextEpoch(shard) };
    await store.startShadowCounts(5, 1234);
    // Two users in one write, as a round writes them.
    await store.append(
      [
        accepted('user:a', 1, 'ALLOW', { v: 5, d: 'ALLOW' }),
        accepted('user:a', 2, 'ALLOW', { v: 5, d: 'BLOCK' }),
        accepted('user:a', 3, 'CHALLENGE', null),
        accepted('user:b', 1, 'BLOCK', { v: 5, d: 'ALLOW' }),
        accepted('user:b', 2, 'ALLOW', { v: 6, d: 'CHALLENGE' }),
        { key: 'user:b', sequenceNumber: 3, createdAt: 1, data: { v: 1, type: 'windowsEmitted', at: 1, windowStarts: [] } },
      ],
      fence,
    );
    t.deepEqual(await store.shadowCounts(5), { shadowVersion: 5, since: 1234, events: 3, agree: 1, disagreements: { 'ALLOW->BLOCK': 1, 'BLOCK->ALLOW': 1 } });
    t.deepEqual(await store.shadowCounts(6), { shadowVersion: 6, since: null, events: 1, agree: 0, disagreements: { 'ALLOW->CHALLENGE': 1 } });
    t.is(await store.shadowCounts(7), null);

    // A retried write of entries already stored (sequence conflict) and a zombie's write: not counted.
    await t.throwsAsync(store.append([accepted('user:a', 3, 'ALLOW', { v: 5, d: 'BLOCK' })], fence));
    const newer = await store.nextEpoch(shard);
    await t.throwsAsync(store.append([accepted('user:a', 4, 'ALLOW', { v: 5, d: 'BLOCK' })], fence));
    // One key refused, the other written: only the written one counts.
    await t.throwsAsync(store.append([accepted('user:a', 9, 'ALLOW', { v: 5, d: 'BLOCK' }), accepted('user:b', 4, 'CHALLENGE', { v: 5, d: 'CHALLENGE' })], { shard, epoch: newer }));
    t.deepEqual(await store.shadowCounts(5), { shadowVersion: 5, since: 1234, events: 4, agree: 2, disagreements: { 'ALLOW->BLOCK': 1, 'BLOCK->ALLOW': 1 } });

    // A second store on the same data (another instance) adds to the same counts.
    const other = await open();
    await other.append([accepted('user:c', 1, 'ALLOW', { v: 5, d: 'BLOCK' })], { shard, epoch: newer });
    t.is((await store.shadowCounts(5))?.disagreements['ALLOW->BLOCK'], 2);

    // Starting the number again drops its earlier counts.
    await store.startShadowCounts(5, 99);
    t.deepEqual(await store.shadowCounts(5), { shadowVersion: 5, since: 99, events: 0, agree: 0, disagreements: {} });
    t.not(await store.shadowCounts(6), null);
  });
}
