import test from 'ava';
import { deadLetterRecord } from '../../../src/actors/outputRecords.ts';
import { planReplay, replayedTopic, selectDeadLetters } from '../../../src/cli/commands/dlq.ts';
import type { InputRecord } from '../../../src/transport/ports.ts';

const topics = { decisions: 'd', aggregates: 'a', dlq: 'q' };
const source = (offset: number, value: Buffer, headers: Record<string, string> = {}): InputRecord => ({
  topic: 'payment-events', partition: 2, offset: String(offset), key: Buffer.from('u-1'), value, headers, timestamp: 0,
});
/** The DLQ record the engine writes for `rec`, read back at DLQ offset `at`. */
const dead = (rec: InputRecord, code: string, at: number, receivedAt = 1000): InputRecord => {
  const out = deadLetterRecord(topics, rec, code, 'why', receivedAt);
  return { topic: 'q', partition: 0, offset: String(at), key: Buffer.from(out.key ?? ''), value: Buffer.from(out.value), headers: out.headers ?? {}, timestamp: 0 };
};

test('replay sends the original value and key to the source topic with the replay header, and a marker per record', (t) => {
  const plan = planReplay([dead(source(5, Buffer.from('{"bad":')), 'INVALID_JSON', 0)], [], 'q', {}, 7);
  t.deepEqual(plan.records, [{ topic: 'payment-events', key: 'u-1', value: '{"bad":', headers: { 'risk-dlq-replay': 'payment-events/2/5' } }]);
  t.is(plan.markers.length, 1);
  t.is(plan.markers[0]!.topic, replayedTopic('q'));
  t.is(plan.markers[0]!.key, 'payment-events/2/5');
});

test('replay skips a dead letter that is a failed replay, one replayed before, a value that is not text, and filtered ones', (t) => {
  const original = dead(source(5, Buffer.from('x')), 'SCHEMA', 0);
  // The replayed copy (new offset 9 in the source topic) failed again: the engine kept the header.
  const failedAgain = dead(source(9, Buffer.from('x'), { 'risk-dlq-replay': 'payment-events/2/5' }), 'SCHEMA', 1);
  const binary = dead(source(6, Buffer.from([0xff, 0xfe])), 'INVALID_JSON', 2);
  const other = dead(source(7, Buffer.from('y')), 'POISON', 3, 500);
  const marker: InputRecord = { topic: replayedTopic('q'), partition: 0, offset: '0', key: Buffer.from('payment-events/2/5'), value: Buffer.from('{}'), headers: {}, timestamp: 0 };
  const plan = planReplay([original, failedAgain, binary, other], [marker], 'q', { since: 900 }, 0);
  t.deepEqual(plan.records, []);
  t.deepEqual(plan.skipped, { failedAfterReplay: 1, replayedBefore: 1, notText: 1, filtered: 1, unreadable: 0 });
  // Without the marker the original is replayed, the failed replay still not.
  const again = planReplay([original, failedAgain], [], 'q', {}, 0);
  t.deepEqual(again.records.map((r) => r.headers), [{ 'risk-dlq-replay': 'payment-events/2/5' }]);
});

test('list filters by code and stops at the limit; records that are no dead letters are left out', (t) => {
  const junk: InputRecord = { topic: 'q', partition: 0, offset: '9', key: null, value: Buffer.from('nope'), headers: {}, timestamp: 0 };
  const recs = [dead(source(1, Buffer.from('a')), 'SCHEMA', 0), junk, dead(source(2, Buffer.from('b')), 'POISON', 1), dead(source(3, Buffer.from('c')), 'SCHEMA', 2)];
  t.deepEqual(selectDeadLetters(recs, { code: 'SCHEMA' }).map((d) => d.body.source.offset), ['1', '3']);
  t.deepEqual(selectDeadLetters(recs, {}, 2).map((d) => d.body.source.offset), ['1', '2']);
  t.is(selectDeadLetters([dead(source(1, Buffer.from('a'), { 'risk-dlq-replay': 'p/0/1' }), 'SCHEMA', 0)], {})[0]!.replayOf, 'p/0/1');
});
