/**
 * A consumer kafkajs gives up on (a crash it does not restart: "Failed to find group coordinator"
 * while the broker is away) is run again after a backoff, until it runs; not after its owner
 * closed it, and not when kafkajs restarts it itself.
 */
import test from 'ava';
import sinon from 'sinon';
import type { Consumer } from 'kafkajs';
import { restartWhenAbandoned } from '../../../src/transport/kafka/consumerRestart.ts';
import { createLogger } from '../../../src/log.ts';

function stubConsumer() {
  const consumer = { events: { CRASH: 'cr' }, on: sinon.stub(), connect: sinon.stub().resolves() };
  const crash = (restart: boolean) => (consumer.on.getCalls().find((c) => c.args[0] === 'cr')!.args[1] as (e: unknown) => void)({ payload: { error: new Error('Failed to find group coordinator'), restart } });
  return { consumer, crash };
}

/** The restart's timer (faked: no wall time passes), then the promises it started. */
async function settled(clock: sinon.SinonFakeTimers): Promise<void> {
  await clock.runAllAsync();
  await new Promise((resolve) => setImmediate(resolve));
}

test('a consumer kafkajs gave up on runs again; one kafkajs restarts itself is left alone', async (t) => {
  const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  t.teardown(() => clock.restore());
  const { consumer, crash } = stubConsumer();
  const run = sinon.stub().resolves();
  const delays: number[] = [];
  restartWhenAbandoned(consumer as unknown as Consumer, run, createLogger('silent'), { what: 'test follower', closed: () => false, delay: (attempt) => (delays.push(attempt), 0) });
  crash(true);
  await settled(clock);
  t.is(run.callCount, 0);
  crash(false);
  await settled(clock);
  t.is(consumer.connect.callCount, 1);
  t.is(run.callCount, 1);
  t.deepEqual(delays, [1]);
  crash(false);
  await settled(clock);
  t.deepEqual(delays, [1, 1], 'a run that succeeded starts the backoff over');
});

test('a restart that fails is tried again, with a longer backoff; none once the owner closed', async (t) => {
  const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  t.teardown(() => clock.restore());
  const { consumer, crash } = stubConsumer();
  consumer.connect.onFirstCall().rejects(new Error('Connection error: connect ECONNREFUSED'));
  const run = sinon.stub().resolves();
  const delays: number[] = [];
  let closed = false;
  const stop = restartWhenAbandoned(consumer as unknown as Consumer, run, createLogger('silent'), { what: 'test follower', closed: () => closed, delay: (attempt) => (delays.push(attempt), 0) });
  crash(false);
  await settled(clock);
  await settled(clock);
  t.deepEqual(delays, [1, 2]);
  t.is(run.callCount, 1, 'runs once the broker answers');
  closed = true;
  stop();
  crash(false);
  await settled(clock);
  t.is(run.callCount, 1);
  t.deepEqual(delays, [1, 2]);
});
