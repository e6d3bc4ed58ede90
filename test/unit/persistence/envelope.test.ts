import test from 'ava';
import fc from 'fast-check';
import { decodeEnvelope, encodeEnvelope, upcastEnvelope } from '../../../src/persistence/envelope.ts';
import { STORE_SCHEMA_VERSION } from '../../../src/persistence/JournalStore.ts';
import { decisionJson } from '../../../src/domain/index.ts';

test('any JSON payload comes back as JSON would give it back', (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.nat(), fc.nat(), (data, seq, at) => {
      const back = decodeEnvelope(encodeEnvelope(seq, at, data));
      t.deepEqual(back, { v: STORE_SCHEMA_VERSION, seq, at, data: JSON.parse(JSON.stringify(data)) });
    }),
  );
});

test('the current version is 1 and is written on every envelope', (t) => {
  t.is(STORE_SCHEMA_VERSION, 1);
  t.is(JSON.parse(encodeEnvelope(3, 4, null)).v, 1);
});

test('v1 envelopes are accepted as they are', (t) => {
  t.deepEqual(upcastEnvelope({ v: 1, seq: 7, at: 1_700_000_000_000, data: { a: [1] } }), { v: 1, seq: 7, at: 1_700_000_000_000, data: { a: [1] } });
  t.deepEqual(upcastEnvelope({ v: 1, seq: 0, at: 0, data: null }).data, null);
});

test('unknown versions and malformed envelopes are refused with SCHEMA', (t) => {
  const bad: unknown[] = [
    { v: 2, seq: 1, at: 1, data: {} },
    { seq: 1, at: 1, data: {} },
    { v: '1', seq: 1, at: 1, data: {} },
    { v: 1, seq: -1, at: 1, data: {} },
    { v: 1, seq: 1.5, at: 1, data: {} },
    { v: 1, seq: 1, at: 'now', data: {} },
    { v: 1, seq: 1, at: 1 },
    [1, 2],
    null,
    'text',
  ];
  for (const raw of bad) t.throws(() => upcastEnvelope(raw), { code: 'SCHEMA', message: /stored envelope/ }, JSON.stringify(raw));
  t.throws(() => decodeEnvelope('{not json'), { code: 'SCHEMA', message: /not JSON/ });
});

test('undefined data is refused when writing, not lost', (t) => {
  t.throws(() => encodeEnvelope(1, 1, undefined), { instanceOf: TypeError });
});

test('an accepted entry encodes to the JSON of the whole envelope, its decision text made once and shared with the decision record', (t) => {
  const odd = fc.string({ unit: 'binary', maxLength: 12 }).map((s) => `${s}"decision":0${s}`);
  fc.assert(
    fc.property(odd, odd, fc.integer({ min: 0, max: 2 ** 40 }), (eventId, detail, seq) => {
      const decision = { eventId, userId: 'u', eventType: 'payment', decision: 'ALLOW', riskScore: 0.1, reasons: [{ code: 'X', weight: 1, detail }], modelVersion: 'm', rulesVersion: 1, eventTimestamp: 1, decidedAt: 2, shard: 0, traceId: null };
      const data = { v: 1, type: 'accepted', event: { kind: 'payment', amount: '1.0000', deviceId: detail, country: null, failedLogin: false, source: null, offset: null }, decision, window: null, closed: [] };
      const text = encodeEnvelope(seq, 5, data);
      t.is(text, JSON.stringify({ v: 1, seq, at: 5, data }));
      t.true(text.includes(decisionJson(decision as never)));
      return true;
    }),
  );
});
