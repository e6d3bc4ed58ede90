import test from 'ava';
import { alertFor, deadLetterRecord, traceIdOf } from '../../../src/actors/outputRecords.ts';
import type { InputRecord } from '../../../src/transport/ports.ts';

const topics = { decisions: 'd', aggregates: 'a', dlq: 'q' };
const rec = (offset: number, key: string | null, value: Buffer | null): InputRecord => ({
  topic: 'payment-events',
  partition: 3,
  offset: String(offset),
  key: key === null ? null : Buffer.from(key),
  value,
  headers: {},
  timestamp: 0,
});

test('a dead letter keeps the original text, its source and the reason', (t) => {
  const out = deadLetterRecord(topics, rec(123, 'u-1', Buffer.from('{bad')), 'INVALID_JSON', 'not JSON', 42);
  t.is(out.topic, 'q');
  t.is(out.key, 'u-1');
  t.deepEqual(JSON.parse(out.value), {
    error: { code: 'INVALID_JSON', message: 'not JSON' },
    source: { topic: 'payment-events', partition: 3, offset: '123', key: 'u-1' },
    value: '{bad',
    valueEncoding: 'utf8',
    receivedAt: 42,
  });
});

test('a value that is not UTF-8 is kept as base64', (t) => {
  const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
  const body = JSON.parse(deadLetterRecord(topics, rec(1, null, bytes), 'INVALID_JSON', 'x', 0).value);
  t.is(body.valueEncoding, 'base64');
  t.deepEqual(Buffer.from(body.value, 'base64'), bytes);
  t.is(body.source.key, null);
});

const decision = (d: 'ALLOW' | 'CHALLENGE' | 'BLOCK') => ({
  eventId: 'e', userId: 'u', eventType: 'payment', decision: d, riskScore: 0.95, reasons: [],
  modelVersion: 'm', rulesVersion: 1, eventTimestamp: 1, decidedAt: 2, shard: 0, traceId: null,
});

test('BLOCK and CHALLENGE raise alerts, ALLOW does not', (t) => {
  t.is(alertFor(decision('ALLOW')), null);
  t.like(alertFor(decision('BLOCK')), { alertId: 'e', eventId: 'e', decision: 'BLOCK', at: 2 });
  t.like(alertFor(decision('CHALLENGE')), { decision: 'CHALLENGE' });
});

test('trace ids come from valid traceparent headers only', (t) => {
  t.is(traceIdOf('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), '4bf92f3577b34da6a3ce929d0e0e4736');
  t.is(traceIdOf('00-00000000000000000000000000000000-00f067aa0ba902b7-01'), null);
  t.is(traceIdOf('garbage'), null);
  t.is(traceIdOf(undefined), null);
});

test('a replayed record that fails again keeps its risk-dlq-replay header on the dead letter; others carry no header', (t) => {
  const replayed = { ...rec(7, 'u-1', Buffer.from('{bad')), headers: { 'risk-dlq-replay': 'payment-events/3/123', traceparent: 'x' } };
  t.deepEqual(deadLetterRecord(topics, replayed, 'INVALID_JSON', 'not JSON', 0).headers, { 'risk-dlq-replay': 'payment-events/3/123' });
  t.is(deadLetterRecord(topics, rec(7, 'u-1', Buffer.from('{bad')), 'INVALID_JSON', 'not JSON', 0).headers, undefined);
});
