// Alone in its file: it fakes the global timers, which must not leak into other tests.
import test from 'ava';
import sinon from 'sinon';
import { silentLogger } from '../../../../src/log.ts';
import { EmbeddedEventSource } from '../../../../src/transport/embedded/EmbeddedEventSource.ts';
import { EmbeddedLog } from '../../../../src/transport/embedded/EmbeddedLog.ts';
import { event, RecordingListener, tempDir } from './helpers.ts';

test.serial('when caught up it waits for the next append instead of polling', async (t) => {
  t.timeout(20_000);
  const log = new EmbeddedLog({ dir: tempDir(t), partitions: 1 });
  const source = new EmbeddedEventSource(log, { inputs: ['payment-events'], partitions: 1, groupId: 'g', logger: silentLogger });
  const listener = new RecordingListener(source);
  const reads = sinon.stub(log, 'read');
  const caughtUp = new Promise<void>((resolve) =>
    reads.callsFake((...args) => {
      const records = reads.wrappedMethod.apply(log, args);
      if (records.length === 0) resolve();
      return records;
    }),
  );
  // lmdb schedules its commits with setImmediate, so only the timers a poll loop would use are faked.
  const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  t.teardown(async () => {
    // Timers a faulty source left on the fake clock run now, or stop() would wait for them forever.
    const stopping = source.stop();
    await clock.runAllAsync();
    clock.restore();
    await stopping;
    await log.close();
  });

  await source.start(listener);
  await caughtUp;
  t.is(reads.callCount, 1, 'one read of the empty partition');
  await clock.tickAsync(60_000);
  // A poller would now also need the fake clock to see the append: stop here rather than hang.
  if (!t.is(reads.callCount, 1, 'a minute later it has not looked again')) return;

  await log.append([event('payment-events', 'u', 0)]);
  await listener.received(1);
  t.deepEqual(listener.records.map((r) => r.offset), ['0']);
  t.deepEqual(reads.returnValues.slice(0, 2).map((r) => r.length), [0, 1], 'woken by the append itself, with no timer running');
});
