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

test('the closing piece runs in turn while the pieces queued before it are refused', async (t) => {
  let closed = false;
  const lane = new SerialLane(() => {
    if (closed) throw new Error('closed');
  });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let started!: () => void;
  const running = lane.run(async () => {
    started();
    await gate;
    return 'running';
  });
  await new Promise<void>((resolve) => (started = resolve));
  const queued = lane.run(() => 'queued');
  closed = true;
  const closing = lane.runClosing(() => 'closing');
  release();
  t.is(await running, 'running');
  await t.throwsAsync(queued, { message: 'closed' });
  t.is(await closing, 'closing');
  await t.throwsAsync(lane.run(() => 'after'), { message: 'closed' });
});
