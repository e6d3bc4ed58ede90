/**
 * ShardUsers and the user actors it spawns, over real nact and an in-memory journal: what an actor
 * keeps besides its state (its initial state, its last snapshot, its recovery time) is kept for it
 * by the shard's shared functions, and must still be per actor and per incarnation.
 */
import test from 'ava';
import nact from 'nact';
import { ShardUsers } from '../../../src/actors/ShardUsers.ts';
import type { UserActorDeps, UserRound } from '../../../src/actors/UserActor.ts';
import type { UserView } from '../../../src/domain/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { MemoryJournal } from '../helpers/MemoryJournal.ts';
import { config, defaultRules, ev, T0 } from '../domain/helpers.ts';

function setup() {
  const store = new MemoryJournal();
  const system = nact.start() as nact.Ref<unknown>;
  const parent = nact.spawn(system, (state: unknown) => state, 'shard-0-1') as nact.Ref<unknown>;
  const recoveries: number[] = [];
  const snapshots: string[] = [];
  const saveSnapshot = store.saveSnapshot.bind(store);
  store.saveSnapshot = async (snapshot, fence) => {
    snapshots.push(`${snapshot.key}@${snapshot.sequenceNumber}`);
    await saveSnapshot(snapshot, fence);
  };
  let now = T0;
  const actor: UserActorDeps = {
    shard: 0,
    fence: () => ({ shard: 0, epoch: 1 }),
    rules: () => defaultRules,
    domain: config,
    store,
    clock: () => now,
    onRecovered: (ms) => recoveries.push(ms),
  };
  const users = new ShardUsers({
    parent,
    actor,
    onCrash: ((_msg: unknown, _err: unknown, ctx: { stop: symbol }) => ctx.stop) as never,
    supervision: { log: silentLogger, clock: () => now, random: () => 0.5, sleep: async () => {} },
    timeoutMs: 5000,
    log: silentLogger,
    shard: 0,
    onPassivated: () => {},
  });
  const view = (userId: string) => users.ask<UserView>(users.touch(userId).ref, (reply) => ({ type: 'view', reply }));
  /** Judges one event of the user and journals it, as the round does. */
  const judge = async (userId: string, eventId: string) => {
    const round = await users.ask<UserRound>(users.touch(userId).ref, (reply) => ({ type: 'judge', items: [{ event: ev({ userId, eventId, timestamp: now }), traceId: null }], now, reply }));
    await store.append(round.entries, { shard: 0, epoch: 1 });
    return round;
  };
  const snapshot = (userId: string, ifChanged: boolean) => users.ask<void>(users.touch(userId).ref, (reply) => ({ type: 'snapshot', ifChanged, reply }));
  /** nact runs afterStop on the next turn of the event loop. */
  const stopped = () => new Promise((resolve) => setImmediate(resolve));
  const tick = (ms: number) => {
    now += ms;
  };
  return { store, system, users, view, judge, snapshot, stopped, tick, recoveries, snapshots };
}

test('a user actor starts as its own user, also when its userId cannot be spelled exactly in an actor name (a lone surrogate)', async (t) => {
  const { users, view, system } = setup();
  for (const userId of ['alice', 'zoë-日本-🙂', 'odd-\ud800-id', '\udfff']) {
    const seen = await view(userId);
    t.is(seen.userId, userId);
    t.is(seen.sequenceNumber, 0);
  }
  t.is(users.size, 4);
  nact.stop(system);
});

test('the journal entries of a round are under the user\'s key, for every user of the shard', async (t) => {
  const { judge, system } = setup();
  const a = await judge('alice', 'e1');
  const b = await judge('odd-\ud800-id', 'e1');
  t.deepEqual(a.entries.map((e) => e.key), ['user:alice']);
  t.deepEqual(b.entries.map((e) => e.key), ['user:odd-\ud800-id']);
  nact.stop(system);
});

test('a stopped actor leaves ShardUsers; an old incarnation stopping after a restart leaves the new one in place', async (t) => {
  const { users, view, stopped, system } = setup();
  await view('alice');
  await view('bob');
  nact.stop(users.get('bob')!.ref);
  await stopped();
  t.is(users.get('bob'), undefined, 'bob stopped: gone');

  const old = users.get('alice')!.ref;
  users.restart('alice', 'TEST', true);
  const fresh = users.get('alice')!.ref;
  t.not(fresh, old);
  await stopped();
  t.is(users.get('alice')?.ref, fresh, 'the old incarnation stopped, the new one stays');
  t.is((await view('alice')).userId, 'alice');
  nact.stop(system);
});

test('a snapshot if changed is taken once per state by an incarnation, and again by the next incarnation', async (t) => {
  const { users, judge, snapshot, stopped, snapshots, system } = setup();
  await judge('alice', 'e1');
  await snapshot('alice', true);
  await snapshot('alice', true);
  t.deepEqual(snapshots, ['user:alice@1'], 'nothing changed since the first');
  await judge('bob', 'e1');
  await snapshot('bob', true);
  t.deepEqual(snapshots, ['user:alice@1', 'user:bob@1'], 'each actor remembers its own');
  await judge('alice', 'e2');
  await snapshot('alice', true);
  t.deepEqual(snapshots.slice(2), ['user:alice@2']);

  users.restart('alice', 'TEST', true);
  await stopped();
  await snapshot('alice', true);
  t.deepEqual(snapshots.slice(3), ['user:alice@2'], 'a new incarnation does not know what the old one took');
  await snapshot('alice', false);
  t.deepEqual(snapshots.slice(4), ['user:alice@2'], 'without ifChanged, always');
  nact.stop(system);
});

test('onRecovered: once per incarnation, with the time from its spawn to its first message', async (t) => {
  const { store, users, view, judge, tick, stopped, recoveries, system } = setup();
  // A store that takes 7 ms to read a journal.
  const readAfter = store.readAfter.bind(store);
  store.readAfter = async (key, after) => {
    tick(7);
    return readAfter(key, after);
  };
  await judge('alice', 'e1');
  await view('alice');
  await view('bob');
  t.deepEqual(recoveries, [7, 7]);
  users.restart('alice', 'TEST', true);
  await stopped();
  await view('alice');
  await view('alice');
  t.deepEqual(recoveries, [7, 7, 7]);
  t.is((await view('alice')).sequenceNumber, 1, 'recovered from the journal');
  nact.stop(system);
});
