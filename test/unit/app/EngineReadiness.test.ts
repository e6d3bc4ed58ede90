/**
 * GET /readyz's view of an engine (Engine.readiness) over fakes: not ready while a shard is fenced
 * and not reopened, stuck (lag above zero with no commit for readiness.stuckAfterMs), closed under
 * us, or while draining; ready again once the engine recovers.
 */
import test from 'ava';
import { EngineError } from '../../../src/errors.ts';
import { control, fakeEngine, payment } from './engineFakes.ts';
import { MemoryJournal } from '../helpers/MemoryJournal.ts';

const STUCK_AFTER = 30_000;

async function started(options: Parameters<typeof fakeEngine>[0] = {}) {
  const fake = fakeEngine({ stuckAfterMs: STUCK_AFTER, ...options });
  await fake.engine.start();
  await fake.engine.onAssigned([0]);
  return fake;
}

test('an engine whose shards make progress is ready', async (t) => {
  const fake = await started();
  t.teardown(fake.stopAll);
  await fake.engine.onBatch(0, payment('e-1', 0), control);
  t.deepEqual(await fake.engine.readiness(), { ready: true, reasons: [] });
});

test('fenced by a newer owner (its transaction refused): not ready until the shard is given back and reopened', async (t) => {
  const fake = await started();
  t.teardown(fake.stopAll);
  fake.commit = async () => {
    throw new EngineError('FENCED', 'shard 0: producer fenced by a newer owner');
  };
  await t.throwsAsync(fake.engine.onBatch(0, payment('e-1', 0), control), { message: /fenced/ });
  const fenced = await fake.engine.readiness();
  t.false(fenced.ready);
  t.deepEqual(fenced.reasons, ['shard 0 was fenced by a newer owner 0 s ago and is not reopened']);
  // Embedded, or a member that is not given the shard again: it stays so.
  fake.clock.now += 3_600_000;
  t.false((await fake.engine.readiness()).ready);

  // The consumer rejoined and was given shard 0 again.
  fake.commit = async () => {};
  await fake.engine.onAssigned([0]);
  t.deepEqual(await fake.engine.readiness(), { ready: true, reasons: [] });
  await fake.engine.onBatch(0, payment('e-1', 0), control);
  t.true((await fake.engine.readiness()).ready);
});

test('a fenced shard that is revoked (another member has it now) no longer counts', async (t) => {
  const fake = await started();
  t.teardown(fake.stopAll);
  fake.commit = async () => {
    throw new EngineError('FENCED', 'shard 0: producer fenced by a newer owner');
  };
  await t.throwsAsync(fake.engine.onBatch(0, payment('e-1', 0), control));
  t.false((await fake.engine.readiness()).ready);
  await fake.engine.onRevoked([0]);
  t.true((await fake.engine.readiness()).ready);
});

test('two engines on one store: the first, fenced by the second\'s newer epoch, is not ready', async (t) => {
  const store = new MemoryJournal();
  const a = await started({ store });
  const b = await started({ store });
  t.teardown(async () => {
    await a.stopAll();
    await b.stopAll();
  });
  t.true((await a.engine.readiness()).ready);
  // a's journal write carries its old epoch: refused.
  await t.throwsAsync(a.engine.onBatch(0, payment('e-1', 0), control));
  t.true(store.fencedWrites > 0);
  const readiness = await a.engine.readiness();
  t.false(readiness.ready);
  t.regex(readiness.reasons.join('; '), /shard 0 was fenced by a newer owner/);
  t.true((await b.engine.readiness()).ready);
});

test('stuck: lag above zero and no commit for stuckAfterMs; a commit makes it ready again', async (t) => {
  const fake = await started();
  t.teardown(fake.stopAll);
  fake.lag.set(0, 5);
  t.true((await fake.engine.readiness()).ready, 'lag just seen: not stuck yet');
  fake.clock.now += STUCK_AFTER - 1;
  t.true((await fake.engine.readiness()).ready);
  fake.clock.now += 1;
  t.deepEqual(await fake.engine.readiness(), { ready: false, reasons: ['shard 0 is stuck: lag 5 and no commit for 30 s'] });

  await fake.engine.onBatch(0, payment('e-1', 0), control);
  t.true((await fake.engine.readiness()).ready, 'it committed just now');
  fake.clock.now += STUCK_AFTER;
  t.false((await fake.engine.readiness()).ready, 'and nothing since, with lag still above zero');
  fake.lag.set(0, 0);
  t.true((await fake.engine.readiness()).ready, 'caught up');
});

test('a shard idle for long that just got records is not stuck; one that keeps committing under lag is not stuck', async (t) => {
  const fake = await started();
  t.teardown(fake.stopAll);
  t.true((await fake.engine.readiness()).ready);
  fake.clock.now += 3_600_000;
  fake.lag.set(0, 1);
  t.true((await fake.engine.readiness()).ready);
  for (let i = 0; i < 4; i++) {
    fake.clock.now += STUCK_AFTER / 2;
    await fake.engine.onBatch(0, payment(`e-${i}`, i), control);
    t.true((await fake.engine.readiness()).ready, `round ${i}`);
  }
});

test('a shard closed under the engine is reported; reopened, the engine is ready again', async (t) => {
  const fake = await started();
  t.teardown(fake.stopAll);
  const sup = await fake.engine.liveShard(0);
  await sup!.stop();
  t.deepEqual(await fake.engine.readiness(), { ready: false, reasons: ['shard 0 is closed'] });
  await fake.engine.onRevoked([0]);
  await fake.engine.onAssigned([0]);
  t.true((await fake.engine.readiness()).ready);
});

test('lag that cannot be read in time is a reason, not a hung probe', async (t) => {
  const fake = await started({ stuckAfterMs: 50 });
  t.teardown(fake.stopAll);
  fake.positions = () => new Promise(() => {});
  t.deepEqual(await fake.engine.readiness(), { ready: false, reasons: ['shard lag could not be read'] });
  fake.positions = undefined;
  t.true((await fake.engine.readiness()).ready);
});

test('draining: not ready', async (t) => {
  const fake = await started();
  await fake.engine.stop();
  const readiness = await fake.engine.readiness();
  t.false(readiness.ready);
  t.true(readiness.reasons.includes('engine is draining'));
});
