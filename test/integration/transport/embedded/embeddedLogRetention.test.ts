/**
 * Retention of the embedded log on a real LMDB environment: records past `maxAgeMs`, then the
 * oldest while the records take more than `maxBytes`, go; never one that a consumer group has
 * not committed; offsets go on from where they were after a trim and a restart. Time is the
 * log's injected clock, so nothing here waits for it.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog, type EmbeddedLogOptions } from '../../../../src/transport/embedded/EmbeddedLog.ts';
import type { OutputRecord } from '../../../../src/transport/ports.ts';
import { pollUntil } from '../../helpers/harness.ts';

const IN = 'payment-events';
const OUT = 'risk-decisions';
const DAY = 86_400_000;

function setup(t: { teardown(fn: () => unknown): void }, options: Partial<EmbeddedLogOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'embedded-retention-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = { now: 1_800_000_000_000 };
  const open = () => {
    const log = new EmbeddedLog({ dir, partitions: 1, retention: { maxAgeMs: DAY, maxBytes: 1 << 30 }, now: () => clock.now, ...options });
    t.teardown(() => log.close());
    return log;
  };
  return { dir, clock, open };
}

const records = (topic: string, n: number, size = 20): OutputRecord[] =>
  Array.from({ length: n }, (_, i) => ({ topic, key: 'u-1', value: `${i}:${'v'.repeat(size)}` }));

const offsets = (log: EmbeddedLog, topic: string, partition = 0) => log.read(topic, partition, '0', 100_000).map((r) => Number(r.offset));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

test('records past maxAgeMs go once committed; uncommitted ones stay however old', async (t) => {
  const { clock, open } = setup(t);
  const log = open();
  log.ensureTopic(IN, 1);
  log.registerConsumer('g', [IN]);
  await log.append(records(IN, 10));

  clock.now += 2 * DAY;
  t.like(await log.trim(), { removed: 0 }, 'nothing committed yet: everything stays');
  t.deepEqual(offsets(log, IN), range(0, 10));

  await log.commit([], [{ topic: IN, partition: 0, offset: '6' }], 'g');
  t.like(await log.trim(), { removed: 6 });
  t.deepEqual(offsets(log, IN), range(6, 10), 'the four uncommitted records stay, past retention too');
  t.is(log.startOffset(IN, 0), '6');

  // New records are committed at once but are young: only the old ones go.
  await log.append(records(IN, 3));
  await log.commit([], [{ topic: IN, partition: 0, offset: '13' }], 'g');
  t.like(await log.trim(), { removed: 4 });
  t.deepEqual(offsets(log, IN), [10, 11, 12]);
  clock.now += 2 * DAY;
  await log.trim();
  t.deepEqual(offsets(log, IN), []);
  t.is(log.startOffset(IN, 0), '13');
  t.is(log.endOffset(IN, 0), '13');
});

test('every group counts: the slowest committed offset bounds the trim, and a group with offsets stored counts after a restart', async (t) => {
  const { clock, open } = setup(t);
  const first = open();
  first.ensureTopic(IN, 1);
  await first.append(records(IN, 10));
  await first.commit([], [{ topic: IN, partition: 0, offset: '8' }], 'fast');
  await first.commit([], [{ topic: IN, partition: 0, offset: '3' }], 'slow');
  await first.close();

  const log = open(); // no group registered in this process: the stored offsets speak for them
  clock.now += 2 * DAY;
  t.like(await log.trim(), { removed: 3 });
  t.is(log.startOffset(IN, 0), '3');
});

test('a topic nobody consumes (an output topic) is trimmed by age alone', async (t) => {
  const { clock, open } = setup(t);
  const log = open();
  log.registerConsumer('g', [IN]);
  await log.append(records(OUT, 5));
  clock.now += DAY / 2;
  await log.append(records(OUT, 2));
  clock.now += DAY / 2 + 1;
  t.like(await log.trim(), { removed: 5 });
  t.deepEqual(offsets(log, OUT), [5, 6]);
});

test('above maxBytes the oldest committed records go first, and no uncommitted one', async (t) => {
  // The four appends take some 650 KiB (each partition's records of one append are one LMDB value).
  const maxBytes = 128 * 1024;
  const { clock, open } = setup(t, { partitions: 2, retention: { maxAgeMs: 365 * DAY, maxBytes } });
  const log = open();
  log.ensureTopic(IN, 2);
  log.registerConsumer('g', [IN]);
  // Partition 0 (key 'a') is written first, partition 1 (key 'd') later, each in several appends.
  const batch = (key: string) => Array.from({ length: 400 }, (_, i) => ({ topic: IN, key, value: `${i}:${'x'.repeat(400)}` }));
  for (const key of ['a', 'a', 'd', 'd']) {
    await log.append(batch(key));
    clock.now += 1000;
  }
  const before = log.retainedBytes();
  t.true(before > 3 * maxBytes, `${before} bytes written`);
  const ends = [0, 1].map((p) => Number(log.endOffset(IN, p)));
  t.deepEqual(ends, [800, 800]);

  // Nothing committed: over the bound, yet nothing may go.
  t.like(await log.trim(), { removed: 0, overLimit: true });

  const committed = ends.map((end) => end - 100);
  await log.commit([], committed.map((at, p) => ({ topic: IN, partition: p, offset: String(at) })), 'g');
  const report = await log.trim();
  t.false(report.overLimit, `${report.bytes} bytes left`);
  t.true(report.bytes <= maxBytes && report.bytes === log.retainedBytes());
  t.deepEqual(offsets(log, IN, 0), range(700, 800), 'the older partition lost every committed record, no uncommitted one');
  const left = offsets(log, IN, 1);
  t.true(left[0]! > 0 && left[0]! < 700, `the newer partition lost its oldest records only as far as needed (from ${left[0]})`);
  t.deepEqual(left, range(left[0]!, 800));
});

test('offsets go on from the end after everything was trimmed and the log reopened', async (t) => {
  const { clock, open } = setup(t);
  const first = open();
  first.registerConsumer('g', [IN]);
  first.ensureTopic(IN, 1);
  await first.append(records(IN, 7));
  await first.commit([], [{ topic: IN, partition: 0, offset: '7' }], 'g');
  clock.now += 2 * DAY;
  t.like(await first.trim(), { removed: 7 });
  await first.close();

  const again = open();
  t.is(again.startOffset(IN, 0), '7');
  t.is(again.endOffset(IN, 0), '7');
  const positions = await again.append(records(IN, 2));
  t.deepEqual(positions.map((p) => p.offset), ['7', '8']);
  t.deepEqual(offsets(again, IN), [7, 8]);
});

test('retention also runs by itself, on its interval', async (t) => {
  const { clock, open } = setup(t, { trimIntervalMs: 10 });
  const log = open();
  await log.append(records(OUT, 4));
  clock.now += 2 * DAY;
  const start = await pollUntil('the background trim', async () => log.startOffset(OUT, 0), (at) => at === '4', 10_000, 10);
  t.is(start, '4');
});

test('group ids and topics that its keys cannot hold apart are refused', async (t) => {
  const { open } = setup(t);
  const log = open();
  for (const bad of ['', 'g\u0000x', 'g\u0001', 'tab\there', 'lone\ud800']) {
    t.throws(() => log.registerConsumer(bad, [IN]), { message: /group id/ }, JSON.stringify(bad));
    await t.throwsAsync(log.commit([], [{ topic: IN, partition: 0, offset: '1' }], bad), { message: /group id/ });
  }
  t.throws(() => log.ensureTopic('bad\u0000topic', 1), { message: /topic/ });
  await t.throwsAsync(log.append([{ topic: 'x'.repeat(70) + '\u0000', key: null, value: 'v' }]), { message: /topic/ });
  t.notThrows(() => log.registerConsumer('risk-engine.é-😀', [IN]));
});
