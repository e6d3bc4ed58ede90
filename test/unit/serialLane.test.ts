import test from 'ava';
import { SerialLane } from '../../src/serialLane.ts';

test('pieces run one at a time, in call order', async (t) => {
  const lane = new SerialLane();
  const log: string[] = [];
  const piece = (name: string, release: Promise<void>) => async () => {
    log.push(`start ${name}`);
    await release;
    log.push(`end ${name}`);
    return name;
  };
  let releaseA!: () => void;
  const a = lane.run(piece('a', new Promise<void>((r) => (releaseA = r))));
  const b = lane.run(piece('b', Promise.resolve()));
  await Promise.resolve();
  t.deepEqual(log, ['start a']);
  releaseA();
  t.deepEqual(await Promise.all([a, b]), ['a', 'b']);
  t.deepEqual(log, ['start a', 'end a', 'start b', 'end b']);
});

test('a failing piece fails its own caller only', async (t) => {
  const lane = new SerialLane();
  const failed = lane.run(async () => {
    throw new Error('boom');
  });
  const next = lane.run(() => 'next');
  await t.throwsAsync(failed, { message: 'boom' });
  t.is(await next, 'next');
});

test('a closed lane refuses what is queued without running it', async (t) => {
  let closed = false;
  const lane = new SerialLane(() => {
    if (closed) throw new Error('closed');
  });
  let ran = false;
  const first = lane.run(() => {
    closed = true;
  });
  const queued = lane.run(() => {
    ran = true;
  });
  await first;
  await t.throwsAsync(queued, { message: 'closed' });
  t.false(ran);
});
