/**
 * The consumer's fetch. kafkajs sleeps maxWaitTimeInMs (default 5 s) when every partition of a
 * broker is paused, and a partition resumed meanwhile also waits for the fetch in flight: a shard
 * that paused its partitions for back-pressure stalled for up to 5 s after it had caught up. And
 * with minBytes 1 a consumer that keeps up fetches again for every record or two. The engine gives
 * the consumer `kafka.fetchMinBytes` and `kafka.fetchMaxWaitMs` (64 KiB, 10 ms unless set).
 */
import test from 'ava';
import sinon from 'sinon';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka, Admin } from 'kafkajs';
import { KafkaEventSource } from '../../../src/transport/kafka/KafkaEventSource.ts';
import { loadSettings } from '../../../src/config/settings.ts';
import { createLogger } from '../../../src/log.ts';

function stubKafka() {
  const consumer = {
    events: { GROUP_JOIN: 'j', HEARTBEAT: 'h', COMMIT_OFFSETS: 'c', CONNECT: 'cn', DISCONNECT: 'd', CRASH: 'cr', STOP: 's', REBALANCING: 'r' },
    on: sinon.stub(),
    connect: sinon.stub().resolves(),
    subscribe: sinon.stub().resolves(),
    run: sinon.stub().resolves(),
    disconnect: sinon.stub().resolves(),
  };
  return { kafka: { consumer: sinon.stub().returns(consumer) }, consumer };
}

const listener = { onAssigned: async () => {}, onRevoked: async () => {}, onBatch: async () => {} };

test('a fetch waits for kafka.fetchMinBytes, at most kafka.fetchMaxWaitMs: 64 KiB and 10 ms by default', async (t) => {
  const { kafka } = stubKafka();
  const settings = loadSettings({ KAFKA_BROKERS: '127.0.0.1:9092' });
  t.is(settings.kafka.fetchMaxWaitMs, 10);
  t.is(settings.kafka.fetchMinBytes, 65_536);
  const source = new KafkaEventSource(kafka as unknown as Kafka, {} as Admin, settings.kafka, createLogger('silent'));
  await source.start(listener as never);
  t.is(kafka.consumer.firstCall.args[0].maxWaitTimeInMs, 10);
  t.is(kafka.consumer.firstCall.args[0].minBytes, 65_536);
});

test('kafka.fetchMaxWaitMs is bounded: 0 (a busy loop) and more than kafkajs default are refused', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fetch-wait-'));
  for (const bad of [0, 5_001]) {
    const file = join(dir, `${bad}.json`);
    writeFileSync(file, JSON.stringify({ kafka: { fetchMaxWaitMs: bad } }));
    t.throws(() => loadSettings({ KAFKA_BROKERS: '127.0.0.1:9092', CONFIG_FILE: file }), { message: /fetchMaxWaitMs/ });
  }
});

test('a consumer kafkajs gave up on (a crash it does not restart) runs again, as a new member; not after stop', async (t) => {
  // The restart waits on a timer: faked, so that no wall time passes.
  const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  t.teardown(() => clock.restore());
  const settled = async () => {
    await clock.runAllAsync();
    await new Promise((resolve) => setImmediate(resolve));
  };
  const { kafka, consumer } = stubKafka();
  const settings = loadSettings({ KAFKA_BROKERS: '127.0.0.1:9092' });
  const source = new KafkaEventSource(kafka as unknown as Kafka, {} as Admin, settings.kafka, createLogger('silent'), { restartDelay: () => 0 });
  await source.start(listener as never);
  const crash = (restart: boolean) => {
    const handlers = consumer.on.getCalls().filter((call) => call.args[0] === consumer.events.CRASH);
    for (const h of handlers) (h.args[1] as (e: unknown) => void)({ payload: { error: new Error('Failed to find group coordinator'), restart } });
  };

  crash(true);
  await settled();
  t.is(consumer.run.callCount, 1, 'kafkajs restarts this one itself');
  crash(false);
  await settled();
  t.is(consumer.connect.callCount, 2);
  t.is(consumer.run.callCount, 2, 'run again');
  t.is(typeof consumer.run.secondCall.args[0].eachBatch, 'function', 'with the same batch handling');

  await source.stop();
  crash(false);
  await settled();
  t.is(consumer.run.callCount, 2, 'none after stop');
});
