import test from 'ava';
import sinon from 'sinon';
import { EmbeddedLog } from '../../../../src/transport/embedded/EmbeddedLog.ts';
import type { OutputRecord } from '../../../../src/transport/ports.ts';
import { shardOf } from '../../../../src/transport/shardOf.ts';
import { event, tempDir } from './helpers.ts';

const T = 'payment-events';

test('records land on partition shardOf(key) with consecutive offsets, and read back in order', async (t) => {
  const log = new EmbeddedLog({ dir: tempDir(t), partitions: 4 });
  t.teardown(() => log.close());
  const records = Array.from({ length: 40 }, (_, i) => event(T, `u-${i % 7}`, i));
  const positions = [...(await log.append(records.slice(0, 15))), ...(await log.append(records.slice(15)))];

  const nextOffset = new Map<number, number>();
  positions.forEach((p, i) => {
    const r = records[i]!;
    t.is(p.partition, shardOf(r.key!, 4), `record ${i}`);
    const expected = nextOffset.get(p.partition) ?? 0;
    t.is(p.offset, String(expected));
    nextOffset.set(p.partition, expected + 1);
  });
  t.true(nextOffset.size > 1, 'several partitions used');

  for (const [partition, end] of nextOffset) {
    t.is(log.endOffset(T, partition), String(end));
    const read = log.read(T, partition, '0', 1000);
    t.deepEqual(read.map((r) => r.offset), [...Array(end).keys()].map(String));
    const sent = records.filter((r) => shardOf(r.key!, 4) === partition);
    t.deepEqual(read.map((r) => r.value!.toString('utf8')), sent.map((r) => r.value));
    t.deepEqual(read.map((r) => r.key!.toString('utf8')), sent.map((r) => r.key));
    t.true(read.every((r) => r.topic === T && r.partition === partition && Buffer.isBuffer(r.value) && r.timestamp > 0));
  }
});

test('read honours fromOffset and maxRecords; headers come back as strings', async (t) => {
  const log = new EmbeddedLog({ dir: tempDir(t), partitions: 1 });
  t.teardown(() => log.close());
  await log.append([{ topic: T, key: 'u', value: 'a', headers: { traceparent: '00-abc-def-01' } }, event(T, 'u', 1), event(T, 'u', 2), event(T, 'u', 3)]);
  t.deepEqual(log.read(T, 0, '1', 2).map((r) => r.offset), ['1', '2']);
  t.deepEqual(log.read(T, 0, '4', 10), []);
  const [first] = log.read(T, 0, '0', 1);
  t.deepEqual(first!.headers, { traceparent: '00-abc-def-01' });
  t.deepEqual(log.read(T, 0, '1', 1)[0]!.headers, {});
  t.throws(() => log.read(T, 0, '-1', 1), { instanceOf: RangeError });
});

test('keyless records are spread round robin', async (t) => {
  const log = new EmbeddedLog({ dir: tempDir(t), partitions: 3 });
  t.teardown(() => log.close());
  const positions = await log.append(Array.from({ length: 6 }, (_, i) => ({ topic: T, key: null, value: String(i) })));
  t.deepEqual(positions.map((p) => p.partition), [0, 1, 2, 0, 1, 2]);
  t.is(log.read(T, 1, '0', 10)[0]!.key, null);
});

test('records, end offsets and committed offsets survive close and reopen', async (t) => {
  const dir = tempDir(t);
  const first = new EmbeddedLog({ dir, partitions: 2 });
  const before = await first.append(Array.from({ length: 10 }, (_, i) => event(T, `u-${i}`, i)));
  await first.commit([], [{ topic: T, partition: 1, offset: '3' }], 'g');
  const ends = [first.endOffset(T, 0), first.endOffset(T, 1)];
  await first.close();

  const again = new EmbeddedLog({ dir, partitions: 2 });
  t.teardown(() => again.close());
  t.deepEqual([again.endOffset(T, 0), again.endOffset(T, 1)], ends);
  t.is(again.committed('g', T, 1), '3');
  t.is(again.committed('g', T, 0), null);
  t.is(again.read(T, 0, '0', 100).length + again.read(T, 1, '0', 100).length, 10);
  const [next] = await again.append([event(T, 'u-0', 99)]);
  const p = before[0]!.partition;
  t.is(next!.offset, ends[p]!, 'offsets continue after the reopen');
});

test('a topic keeps the partition count it was created with', async (t) => {
  const dir = tempDir(t);
  const first = new EmbeddedLog({ dir, partitions: 4 });
  first.ensureTopic(T, 4);
  await first.append([{ topic: 'risk-decisions', key: 'u', value: '{}' }]);
  await first.close();
  const again = new EmbeddedLog({ dir, partitions: 8 });
  t.teardown(() => again.close());
  t.throws(() => again.ensureTopic(T, 8), { message: /has 4 partitions, not 8/ });
  t.notThrows(() => again.ensureTopic(T, 4));
  t.is(again.partitionsOf('risk-decisions'), 4, 'an auto-created topic kept its count too');
});

test('commit stores records and offsets together', async (t) => {
  const log = new EmbeddedLog({ dir: tempDir(t), partitions: 2 });
  t.teardown(() => log.close());
  const out = [{ topic: 'risk-decisions', key: 'u-1', value: '{"decision":"ALLOW"}' }];
  await log.commit(out, [{ topic: T, partition: 0, offset: '7' }, { topic: T, partition: 1, offset: '2' }], 'g');
  t.is(log.committed('g', T, 0), '7');
  t.is(log.committed('g', T, 1), '2');
  t.is(log.committed('other-group', T, 0), null);
  const p = shardOf('u-1', 2);
  t.deepEqual(log.read('risk-decisions', p, '0', 10).map((r) => r.value!.toString()), ['{"decision":"ALLOW"}']);
});

test('a commit that fails inside its transaction leaves neither records nor offsets', async (t) => {
  const log = new EmbeddedLog({ dir: tempDir(t), partitions: 1 });
  t.teardown(() => log.close());
  await log.commit([event('risk-decisions', 'u', 0)], [{ topic: T, partition: 0, offset: '1' }], 'g');
  const notices: unknown[] = [];
  log.onAppend((n) => notices.push(n));

  // A record whose value cannot be read fails the transaction after its offsets were written
  // (the getter checks that), so they must roll back. (A partition's records are put together,
  // after the last one was read: none of this commit's is in yet.)
  let seenInside: (string | null)[] = [];
  const poisoned = { topic: 'risk-decisions', key: 'u' } as OutputRecord;
  const value = sinon.stub().callsFake(() => {
    // The offsets of this commit, and the records in the partition so far: the one before.
    seenInside = [log.committed('g', T, 0), String(log.read('risk-decisions', 0, '0', 10).length)];
    throw new Error('disk on fire');
  });
  Object.defineProperty(poisoned, 'value', { get: value, enumerable: true });
  await t.throwsAsync(log.commit([event('risk-decisions', 'u', 1), poisoned], [{ topic: T, partition: 0, offset: '5' }], 'g'), { message: 'disk on fire' });

  t.deepEqual(seenInside, ['5', '1'], 'the failure came inside the transaction, after the offsets');
  t.is(log.endOffset('risk-decisions', 0), '1');
  t.deepEqual(log.read('risk-decisions', 0, '0', 10).map((r) => r.offset), ['0']);
  t.is(log.committed('g', T, 0), '1');
  t.deepEqual(notices, [], 'readers were not told about records that do not exist');

  await log.commit([event('risk-decisions', 'u', 3)], [{ topic: T, partition: 0, offset: '6' }], 'g');
  t.deepEqual(log.read('risk-decisions', 0, '0', 10).map((r) => r.offset), ['0', '1'], 'the next commit reuses the offset');
  t.is(log.committed('g', T, 0), '6');
});

test('a bad offset fails the commit before anything is written', async (t) => {
  const log = new EmbeddedLog({ dir: tempDir(t), partitions: 1 });
  t.teardown(() => log.close());
  await t.throwsAsync(log.commit([event(T, 'u', 0)], [{ topic: T, partition: 0, offset: 'x1' }], 'g'), { instanceOf: RangeError });
  t.is(log.endOffset(T, 0), '0');
});

test('waitForAppend resolves on an append to its partition, on abort and on close', async (t) => {
  const log = new EmbeddedLog({ dir: tempDir(t), partitions: 1 });
  const appended = log.waitForAppend(T, 0, '0');
  const other = log.waitForAppend('login-events', 0, '0');
  let otherWoke = false;
  void other.then(() => (otherWoke = true));
  await log.append([event(T, 'u', 0)]);
  await appended;
  t.is(log.endOffset(T, 0), '1');
  t.false(otherWoke, 'an append elsewhere wakes nobody here');
  await log.waitForAppend(T, 0, '0'); // already there: at once

  const abort = new AbortController();
  const aborted = log.waitForAppend(T, 0, '1', abort.signal);
  abort.abort();
  await aborted;

  await log.close();
  await other;
  t.true(otherWoke);
  await t.throwsAsync(log.append([event(T, 'u', 1)]), { message: /closed/ });
});

test('append notices name the partition and its new end', async (t) => {
  const log = new EmbeddedLog({ dir: tempDir(t), partitions: 2 });
  t.teardown(() => log.close());
  const notices: { topic: string; partition: number; endOffset: string }[] = [];
  const off = log.onAppend((n) => notices.push(n));
  await log.append([event(T, 'a', 0), event(T, 'a', 1)]);
  t.deepEqual(notices, [{ topic: T, partition: shardOf('a', 2), endOffset: '2' }]);
  off();
  await log.append([event(T, 'a', 2)]);
  t.is(notices.length, 1);
});

test('a read may start inside the records of one write and run on into the next, whatever their layout', async (t) => {
  const log = new EmbeddedLog({ dir: tempDir(t), partitions: 1 });
  t.teardown(() => log.close());
  // One record per write (how the first layout stored every record: a key each), then writes of several.
  await log.append([event(T, 'u', 0)]);
  await log.append([event(T, 'u', 1)]);
  await log.append([2, 3, 4, 5, 6].map((i) => event(T, 'u', i)));
  await log.append([7, 8, 9].map((i) => event(T, 'u', i)));
  const values = (from: string, max: number) => log.read(T, 0, from, max).map((r) => `${r.offset}=${r.value!.toString('utf8')}`);
  const expected = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${from + i}=${event(T, 'u', from + i).value}`);
  t.deepEqual(values('0', 100), expected(0, 10));
  t.deepEqual(values('4', 2), expected(4, 6), 'inside a run, stopping inside it');
  t.deepEqual(values('5', 4), expected(5, 9), 'from inside one run into the next');
  t.deepEqual(values('1', 3), expected(1, 4), 'from a single record into a run');
  t.deepEqual(values('9', 5), expected(9, 10));
  t.deepEqual(values('10', 5), []);
  t.deepEqual(values('3', 0), []);
  t.is(log.startOffset(T, 0), '0');
  t.is(log.endOffset(T, 0), '10');
});
