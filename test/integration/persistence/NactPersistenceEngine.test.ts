/**
 * The nact adapter with a real nact system over both stores: recovery from snapshot + tail
 * after a restart, and micro-batching (many actors persisting in one turn -> one append, and on
 * Redis one round trip).
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nact from 'nact';
import sinon from 'sinon';
import { createClient } from 'redis';
import { EmbeddedJournal } from '../../../src/persistence/EmbeddedJournal.ts';
import { FencedError, SequenceConflictError, type Fence, type JournalStore } from '../../../src/persistence/JournalStore.ts';
import { NactPersistenceEngine, replayState } from '../../../src/persistence/NactPersistenceEngine.ts';
import { RedisJournal } from '../../../src/persistence/RedisJournal.ts';
import { TcpProxy } from './tcpProxy.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS = { host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) };
const tmpRoot = mkdtempSync(join(tmpdir(), 'risk-nact-'));
test.after.always(() => rmSync(tmpRoot, { recursive: true, force: true }));

interface Backend {
  /** Opens a store on this test's data; again for a "restarted process". Closed after the test. */
  open(): Promise<JournalStore>;
  /** Redis only: the proxy every connection goes through, to count round trips. */
  proxy?: TcpProxy;
}

const backends: Record<string, (t: ExecutionContext) => Promise<Backend>> = {
  async redis(t) {
    const prefix = `test-${randomBytes(5).toString('hex')}`;
    const proxy = await TcpProxy.listen(REDIS);
    t.teardown(async () => {
      await proxy.stop();
      const admin = await createClient({ url: REDIS_URL }).connect();
      for await (const keys of admin.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) if (keys.length) await admin.del(keys);
      await admin.close();
    });
    return { proxy, open: () => closedAfter(t, RedisJournal.connect({ url: proxy.url, prefix })) };
  },
  async lmdb(t) {
    const dir = mkdtempSync(join(tmpRoot, 'db-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    return { open: () => closedAfter(t, Promise.resolve(new EmbeddedJournal({ dir }))) };
  },
};

async function closedAfter(t: ExecutionContext, opening: Promise<JournalStore>): Promise<JournalStore> {
  const store = await opening;
  t.teardown(() => store.close());
  return store;
}

// A counting actor: commands are journalled as events, recovery folds the same events.
interface State {
  count: number;
  sum: number;
}
type Cmd = { type: 'add'; n: number; sender: nact.Ref<State> } | { type: 'get'; sender: nact.Ref<State> };
type Added = { added: number };
type PersistCtx = { recovering?: boolean; persist(msg: unknown, tags: string[], fence: Fence): Promise<void> };
const INITIAL: State = { count: 0, sum: 0 };
const fold = (s: State, e: Added): State => ({ count: s.count + 1, sum: s.sum + e.added });

function counter(fence: Fence) {
  return async (state: State, msg: Cmd | Added, ctx: unknown): Promise<State> => {
    const pctx = ctx as PersistCtx; // nact's typings miss `recovering` and persist's extra arguments
    if (pctx.recovering) return fold(state, msg as Added);
    const cmd = msg as Cmd;
    let next = state;
    if (cmd.type === 'add') {
      const event: Added = { added: cmd.n };
      await pctx.persist(event, [], fence);
      next = fold(state, event);
    }
    nact.dispatch(cmd.sender, next);
    return next;
  };
}

function spawnCounter(system: nact.Ref<never>, key: string, fence: Fence, snapshotEvery?: number) {
  return nact.spawnPersistent(system, counter(fence), key, key.replace(/\W/g, '_'), { initialState: INITIAL, snapshotEvery });
}

const add = (actor: nact.Ref<Cmd | Added>, n: number) => nact.query(actor, (sender: nact.Ref<State>) => ({ type: 'add' as const, n, sender }), 5000);
const get = (actor: nact.Ref<Cmd | Added>) => nact.query(actor, (sender: nact.Ref<State>) => ({ type: 'get' as const, sender }), 5000);

for (const [name, backendOf] of Object.entries(backends)) {
  test(`${name}: a respawned actor recovers from the latest snapshot plus the journal tail`, async (t) => {
    const backend = await backendOf(t);
    const first = await backend.open();
    const fence = { shard: 3, epoch: await first.nextEpoch(3) };
    const system = nact.start(new NactPersistenceEngine(first, { fenceOf: () => fence }).plugin());
    const actor = spawnCounter(system, 'counter:u1', fence, 3);
    const snapshots = sinon.spy(first, 'saveSnapshot');
    for (let n = 1; n <= 7; n++) await add(actor, n);
    // nact snapshots after persists 3 and 6, without waiting: wait for those writes here.
    t.deepEqual(snapshots.args.map(([s]) => s.sequenceNumber), [3, 6]);
    await Promise.all(snapshots.returnValues);
    nact.stop(system);
    await first.close();

    const second = await backend.open();
    const reads = sinon.spy(second, 'readAfter');
    const restarted = nact.start(new NactPersistenceEngine(second, { fenceOf: () => fence }).plugin());
    t.teardown(() => nact.stop(restarted));
    const again = spawnCounter(restarted, 'counter:u1', fence, 3);
    t.deepEqual(await get(again), { count: 7, sum: 28 });
    t.deepEqual(reads.firstCall.args, ['counter:u1', 6], 'replayed from the snapshot at 6');
    t.deepEqual((await reads.firstCall.returnValue).map((e) => e.sequenceNumber), [7]);

    // It carries on from the recovered sequence number, and the read-only replay agrees.
    t.deepEqual(await add(again, 8), { count: 8, sum: 36 });
    t.deepEqual((await second.readAfter('counter:u1', 6)).map((e) => e.sequenceNumber), [7, 8]);
    t.deepEqual(await replayState(second, 'counter:u1', INITIAL, (d) => d as State, (s, d) => fold(s, d as Added)), { count: 8, sum: 36 });
  });

  test(`${name}: actors persisting in the same turn share one append`, async (t) => {
    const backend = await backendOf(t);
    const store = await backend.open();
    const fence = { shard: 1, epoch: await store.nextEpoch(1) };
    const system = nact.start(new NactPersistenceEngine(store).plugin());
    t.teardown(() => nact.stop(system));
    const actors = Array.from({ length: 25 }, (_, i) => spawnCounter(system, `counter:batch-${i}`, fence));
    await Promise.all(actors.map(get)); // recovered and idle, so the next messages run in one turn

    const appends = sinon.spy(store, 'append');
    backend.proxy?.resetCounters();
    const states = await Promise.all(actors.map((a, i) => add(a, i)));
    t.deepEqual(states[24], { count: 1, sum: 24 });
    t.is(appends.callCount, 1);
    t.is(appends.firstCall.args[0].length, 25);
    if (backend.proxy) t.is(backend.proxy.roundTrips, 1, '25 actors, one Redis round trip');
  });

  test(`${name}: each persist settles with the outcome of its own key`, async (t) => {
    const store = await (await backendOf(t)).open();
    const fence = { shard: 2, epoch: await store.nextEpoch(2) };
    await store.append([{ key: 'taken', sequenceNumber: 1, data: 'already there', createdAt: 1 }], fence);
    const engine = new NactPersistenceEngine(store);
    const appends = sinon.spy(store, 'append');
    const event = (key: string, sequenceNumber: number) => ({ key, sequenceNumber, data: { key }, createdAt: 1, tags: [], isDeleted: false });

    const [a, taken, c] = await Promise.allSettled([engine.persist(event('a', 1), fence), engine.persist(event('taken', 1), fence), engine.persist(event('c', 1), fence)]);
    t.is(appends.callCount, 1);
    t.is(a.status, 'fulfilled');
    t.is(c.status, 'fulfilled');
    t.true(taken.status === 'rejected' && taken.reason instanceof SequenceConflictError);

    // A fenced writer: every caller of the batch is refused.
    await store.nextEpoch(2);
    const fenced = await Promise.allSettled([engine.persist(event('a', 2), fence), engine.persist(event('c', 2), fence)]);
    t.true(fenced.every((r) => r.status === 'rejected' && r.reason instanceof FencedError));
    t.deepEqual(await store.readAfter('a', 1), []);
  });
}
