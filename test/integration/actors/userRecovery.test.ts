/**
 * A user actor recovers from the real stores (Redis, LMDB) with the one recipe (recoverUser): the
 * newest snapshot, then the journal after it; again after a restart; and reads of users that are
 * not live give the same state.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nact from 'nact';
import sinon from 'sinon';
import { createClient } from 'redis';
import { persistenceKey, recoverUser } from '../../../src/actors/recoverUser.ts';
import { ShardUsers } from '../../../src/actors/ShardUsers.ts';
import type { UserActorDeps, UserRound } from '../../../src/actors/UserActor.ts';
import { toUserView, type UserView } from '../../../src/domain/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { EmbeddedJournal } from '../../../src/persistence/EmbeddedJournal.ts';
import type { JournalStore } from '../../../src/persistence/JournalStore.ts';
import { RedisJournal } from '../../../src/persistence/RedisJournal.ts';
import { config, defaultRules, ev, T0 } from '../../unit/domain/helpers.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const stores: Record<string, (t: ExecutionContext) => Promise<JournalStore>> = {
  async redis(t) {
    const prefix = `test-${randomBytes(5).toString('hex')}`;
    const store = await RedisJournal.connect({ url: REDIS_URL, prefix });
    t.teardown(async () => {
      await store.close();
      const admin = await createClient({ url: REDIS_URL }).connect();
      for await (const keys of admin.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) if (keys.length) await admin.del(keys);
      await admin.close();
    });
    return store;
  },
  async lmdb(t) {
    const dir = mkdtempSync(join(tmpdir(), 'risk-recovery-'));
    const store = new EmbeddedJournal({ dir });
    t.teardown(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return store;
  },
};

function shardOver(store: JournalStore, epoch: number) {
  const system = nact.start() as nact.Ref<unknown>;
  const parent = nact.spawn(system, (state: unknown) => state, `shard-3-${epoch}`) as nact.Ref<unknown>;
  const fence = { shard: 3, epoch };
  const actor: UserActorDeps = { shard: 3, fence: () => fence, rules: () => defaultRules, domain: config, store, clock: () => T0 + 60_000 };
  const users = new ShardUsers({
    parent,
    actor,
    onCrash: ((_msg: unknown, _err: unknown, ctx: { reset: symbol }) => ctx.reset) as never,
    supervision: { log: silentLogger, clock: () => T0, random: () => 0.5, sleep: async () => {} },
    timeoutMs: 5000,
    log: silentLogger,
    shard: 3,
    onPassivated: () => {},
  });
  /** Judges events of the user and journals them, as the round does. */
  const judge = async (userId: string, ...eventIds: string[]) => {
    const items = eventIds.map((eventId, i) => ({ event: ev({ userId, eventId, timestamp: T0 + i * 1000 }), traceId: null }));
    const round = await users.ask<UserRound>(users.touch(userId).ref, (reply) => ({ type: 'judge', items, now: T0, reply }));
    await store.append(round.entries, fence);
    return round;
  };
  const view = (userId: string) => users.ask<UserView>(users.touch(userId).ref, (reply) => ({ type: 'view', reply }));
  const snapshot = (userId: string) => users.ask<void>(users.touch(userId).ref, (reply) => ({ type: 'snapshot', reply }));
  return { system, users, judge, view, snapshot };
}

for (const [name, open] of Object.entries(stores)) {
  test(`${name}: a user actor of a new shard owner recovers from the newest snapshot plus the journal after it`, async (t) => {
    const store = await open(t);
    const first = shardOver(store, await store.nextEpoch(3));
    await first.judge('alice', 'e1', 'e2', 'e3');
    await first.snapshot('alice');
    await first.judge('alice', 'e4', 'e5');
    const before = await first.view('alice');
    t.is(before.sequenceNumber, 5);
    nact.stop(first.system);

    const reads = sinon.spy(store, 'readLatest');
    const second = shardOver(store, await store.nextEpoch(3));
    t.teardown(() => nact.stop(second.system));
    t.deepEqual(await second.view('alice'), before);
    t.deepEqual(reads.firstCall.args, [persistenceKey('alice')]);
    const read = await reads.firstCall.returnValue;
    t.is(read.snapshot?.sequenceNumber, 3, 'replayed from the snapshot at 3');
    t.deepEqual(read.tail.map((e: { sequenceNumber: number }) => e.sequenceNumber), [4, 5], 'and the journal after it, in the same read');
    // It carries on from there: an eventId it has seen is known, a new event follows the journal.
    const again = await second.judge('alice', 'e5', 'e6');
    t.deepEqual(again.outcomes.map((o) => o.kind), ['duplicate', 'accepted']);
    t.deepEqual(again.entries.map((e) => e.sequenceNumber), [6]);
    // A read of the user from the store (not live) is the same state.
    t.deepEqual(toUserView(await recoverUser(store, 'alice', config), config.history, config.defaultCurrency), await second.view('alice'));
  });

  test(`${name}: a new user recovers empty, and a user actor whose first read fails answers with the error and recovers on its next message`, async (t) => {
    const store = await open(t);
    const shard = shardOver(store, await store.nextEpoch(3));
    t.teardown(() => nact.stop(shard.system));
    t.is((await shard.view('bob')).sequenceNumber, 0);
    const failing = sinon.stub(store, 'readLatest').rejects(new Error('store down'));
    await t.throwsAsync(shard.view('carol'), { message: 'store down' });
    failing.restore();
    await shard.judge('carol', 'c1');
    t.is((await shard.view('carol')).sequenceNumber, 1);
  });
}
