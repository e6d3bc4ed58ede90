import test from 'ava';
import sinon from 'sinon';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { EngineError } from '../../../../src/errors.ts';
import type { Logger } from '../../../../src/log.ts';
import { silentLogger } from '../../../../src/log.ts';
import { EmbeddedEventSource, type EmbeddedEventSourceOptions } from '../../../../src/transport/embedded/EmbeddedEventSource.ts';
import { EmbeddedLog } from '../../../../src/transport/embedded/EmbeddedLog.ts';
import { shardOf } from '../../../../src/transport/shardOf.ts';
import { event, RecordingListener, tempDir } from './helpers.ts';

const INPUTS = ['login-events', 'payment-events'];
const P = 3;

function setup(dir: string, options: Partial<EmbeddedEventSourceOptions> = {}) {
  const log = new EmbeddedLog({ dir, partitions: P });
  const source = new EmbeddedEventSource(log, { inputs: INPUTS, partitions: P, groupId: 'g', logger: silentLogger, maxBatch: 4, ...options });
  const listener = new RecordingListener(source);
  const close = async () => {
    await source.stop();
    await log.close();
  };
  return { log, source, listener, close };
}

const workload = (n: number, from = 0) => Array.from({ length: n }, (_, i) => event(INPUTS[i % 2]!, `u-${i % 11}`, from + i));

test('every record is delivered once, in partition order, on its shard, in batches of at most maxBatch', async (t) => {
  const { log, source, listener, close } = setup(tempDir(t));
  t.teardown(close);
  const sent = workload(60);
  await log.append(sent.slice(0, 30));
  await source.start(listener);
  t.deepEqual(listener.assigned, [{ shards: [0, 1, 2], generation: 1 }]);
  t.true(source.isConnected());
  t.is(source.memberId, 'embedded');
  await log.append(sent.slice(30));
  await listener.received(60);

  t.true(listener.deliveries.every((d) => d.batch.records.length <= 4 && d.shard === d.batch.partition));
  const got = listener.records;
  t.is(got.length, 60);
  t.deepEqual(new Set(got.map((r) => r.value!.toString())).size, 60, 'no record twice');
  for (const topic of INPUTS) {
    for (let p = 0; p < P; p++) {
      const mine = got.filter((r) => r.topic === topic && r.partition === p);
      t.deepEqual(mine.map((r) => r.offset), [...mine.keys()].map(String), `${topic}/${p} in offset order`);
      t.true(mine.every((r) => shardOf(r.key!.toString(), P) === p));
      const expected = sent.filter((r) => r.topic === topic && shardOf(r.key!, P) === p).map((r) => r.value);
      t.deepEqual(mine.map((r) => r.value!.toString()), expected);
    }
  }
  const positions = await source.positions([0, 1, 2]);
  t.is(positions.reduce((n, p) => n + p.lag!, 0), 0);
  for (const p of positions) {
    for (const topic of INPUTS) t.is(p.committed[topic], log.endOffset(topic, p.shard));
  }
});

test('after a restart it resumes from the committed offsets: committed records are not redelivered, uncommitted ones are', async (t) => {
  const dir = tempDir(t);
  const first = setup(dir);
  await first.log.append(workload(20));
  await first.source.start(first.listener);
  await first.listener.received(20);
  first.listener.commit = false;
  await first.log.append(workload(6, 100));
  await first.listener.received(26);
  await first.close();

  const second = setup(dir);
  t.teardown(second.close);
  const lag = (await second.source.positions([0, 1, 2])).reduce((n, p) => n + p.lag!, 0);
  t.is(lag, 6, 'the uncommitted records are the lag');
  await second.source.start(second.listener);
  await second.log.append(workload(4, 200));
  await second.listener.received(10);
  const values = second.listener.records.map((r) => JSON.parse(r.value!.toString()).n as number).sort((a, b) => a - b);
  t.deepEqual(values, [100, 101, 102, 103, 104, 105, 200, 201, 202, 203]);
});

test('a failing batch is retried, with a doubling back-off, until it passes: nothing is skipped', async (t) => {
  const warn = sinon.spy();
  const logger = { warn, error: sinon.spy(), info: () => {}, debug: () => {} } as unknown as Logger;
  const { log, source, listener, close } = setup(tempDir(t), { inputs: ['payment-events'], maxBatch: 100, retryDelayMs: 1, maxRetryDelayMs: 4, logger });
  t.teardown(close);
  const sent = Array.from({ length: 8 }, (_, i) => event('payment-events', 'same-user', i));
  await log.append(sent.slice(0, 5));
  let failures = 5;
  listener.beforeCommit = (batch) => {
    if (batch.records[0]!.offset === '0' && failures-- > 0) throw new Error('store unavailable');
  };
  await source.start(listener);
  await listener.received(5);
  await log.append(sent.slice(5));
  await listener.received(8);

  const p = shardOf('same-user', P);
  const starts = listener.attempts.map((a) => `${a.batch.partition}:${a.batch.records[0]!.offset}-${a.batch.nextOffset}`);
  t.deepEqual(starts, [...Array(6).fill(`${p}:0-5`), `${p}:5-8`], 'the same batch six times, then the next one');
  t.deepEqual(warn.getCalls().map((c) => (c.args[0] as { retryInMs: number }).retryInMs), [1, 2, 4, 4, 4]);
  t.deepEqual(listener.records.map((r) => r.offset), ['0', '1', '2', '3', '4', '5', '6', '7']);
  t.is(log.committed('g', 'payment-events', p), '8');
});

test('a shard whose batches are refused as FENCED is reported (said once) until one of its batches passes', async (t) => {
  const warn = sinon.spy();
  const logger = { warn, error: sinon.spy(), info: () => {}, debug: () => {} } as unknown as Logger;
  const { log, source, listener, close } = setup(tempDir(t), { inputs: ['payment-events'], maxBatch: 100, retryDelayMs: 1, maxRetryDelayMs: 2, logger });
  t.teardown(close);
  const p = shardOf('same-user', P);
  await log.append([event('payment-events', 'same-user', 0)]);
  let attempts = 0;
  const seenWhileFenced: number[][] = [];
  listener.beforeCommit = () => {
    attempts++;
    if (attempts > 1) seenWhileFenced.push(source.fencedShards());
    if (attempts <= 4) throw new EngineError('FENCED', `shard ${p} is not owned by this instance`);
  };
  t.deepEqual(source.fencedShards(), []);
  await source.start(listener);
  await listener.received(1);
  await source.stop(); // the batch in flight has returned to the source

  t.deepEqual(seenWhileFenced, [[p], [p], [p], [p]], 'fenced from the first refusal until the batch passed');
  t.deepEqual(source.fencedShards(), [], 'a batch that passes clears it');
  t.is(warn.getCalls().filter((c) => /fenced/.test(String(c.args[1]))).length, 1, 'four refusals, one warning');
});

test('stop waits for the batch in flight and stops fetching', async (t) => {
  const { log, source, listener, close } = setup(tempDir(t), { inputs: ['payment-events'] });
  t.teardown(close);
  const order: string[] = [];
  let release!: () => void;
  const entered = new Promise<void>((entered) => {
    listener.beforeCommit = () => {
      entered();
      return new Promise<void>((r) => (release = r)).then(() => void order.push('batch done'));
    };
  });
  await source.start(listener);
  await log.append([event('payment-events', 'u', 0)]);
  await entered;
  const stopped = source.stop().then(() => order.push('stopped'));
  await nextTurn();
  t.deepEqual(order, [], 'stop is still waiting');
  release();
  await stopped;
  t.deepEqual(order, ['batch done', 'stopped']);
  t.false(source.isConnected());

  listener.beforeCommit = () => {};
  await log.append([event('payment-events', 'u', 1)]);
  await nextTurn();
  t.is(listener.attempts.length, 1, 'nothing fetched after stop');
  t.is(log.committed('g', 'payment-events', shardOf('u', P)), '1');
});

test('fromBeginning=false skips what was there before start, without a committed offset', async (t) => {
  const { log, source, listener, close } = setup(tempDir(t), { inputs: ['payment-events'], fromBeginning: false });
  t.teardown(close);
  await log.append([event('payment-events', 'u', 0)]);
  await source.start(listener);
  await log.append([event('payment-events', 'u', 1)]);
  await listener.received(1);
  t.deepEqual(listener.records.map((r) => r.offset), ['1']);
});

test('a sink commits output and offsets together under the group', async (t) => {
  const { log, source, close } = setup(tempDir(t));
  t.teardown(close);
  const sink = await source.openSink(1);
  await sink.commit([{ topic: 'risk-decisions', key: 'u-1', value: '{}' }], [{ topic: 'login-events', partition: 1, offset: '0' }]);
  t.is(log.committed('g', 'login-events', 1), '0');
  t.is(log.endOffset('risk-decisions', shardOf('u-1', P)), '1');
  await sink.close();
  await t.throwsAsync(sink.commit([], []), { message: /closed/ });
});

test('the input topics must keep their partition count', async (t) => {
  const dir = tempDir(t);
  const first = setup(dir);
  await first.close();
  const log = new EmbeddedLog({ dir, partitions: 5 });
  t.teardown(() => log.close());
  t.throws(() => new EmbeddedEventSource(log, { inputs: INPUTS, partitions: 5, groupId: 'g', logger: silentLogger }), { message: /has 3 partitions, not 5/ });
});
