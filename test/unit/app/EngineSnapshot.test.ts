/** POST /users/:id/snapshot's engine side (Engine.snapshotUser) over fakes. */
import test from 'ava';
import { persistenceKey } from '../../../src/actors/recoverUser.ts';
import { control, fakeEngine, payment } from './engineFakes.ts';

test('a user never seen: NOT_FOUND, and nothing of the user is created (no actor, no journal, no snapshot)', async (t) => {
  const fake = fakeEngine();
  t.teardown(fake.stopAll);
  await fake.engine.onAssigned([0]);
  await t.throwsAsync(fake.engine.snapshotUser('ghost'), { message: 'user ghost has never been seen', instanceOf: Error });
  t.is((await fake.engine.snapshotUser('ghost').catch((err: { code?: string }) => err))?.code, 'NOT_FOUND');
  t.is(await fake.engine.userState('ghost'), null);
  t.is((await fake.engine.liveShard(0))?.liveActors, 0);
  t.false(fake.store.journals.has(persistenceKey('ghost')));
  t.false(fake.store.snapshots.has(persistenceKey('ghost')));
});

test('a user seen: snapshotted, live or passivated', async (t) => {
  const fake = fakeEngine();
  t.teardown(fake.stopAll);
  await fake.engine.onAssigned([0]);
  await fake.engine.onBatch(0, payment('e-1', 0, 'u-1'), control);
  await fake.engine.snapshotUser('u-1');
  t.is(fake.store.snapshots.get(persistenceKey('u-1'))?.sequenceNumber, 1);

  // Not live any more (the shard was reopened): still found in the store.
  await fake.engine.onRevoked([0]);
  await fake.engine.onAssigned([0]);
  await fake.engine.snapshotUser('u-1');
  t.is((await fake.engine.userState('u-1'))?.sequenceNumber, 1);
});
