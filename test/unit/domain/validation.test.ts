import test from 'ava';
import { parseEventJson, parseRecord, type RecordInput } from '../../../src/domain/index.ts';
import { config } from './helpers.ts';

const valid = { eventId: 'e-1', userId: 'u-1', eventType: 'payment', timestamp: 1732480000000, amount: '12.34' };

const record = (value: unknown, key: string | null = 'u-1'): RecordInput => ({
  topic: 'payment-events',
  partition: 3,
  offset: '42',
  key: key === null ? null : Buffer.from(key),
  value: value === null ? null : Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
});

const reject = (obj: unknown) => {
  const r = parseEventJson(obj, config);
  if (r.ok) throw new Error('expected a rejection');
  return r;
};

test('a valid record becomes a typed event with its Kafka source and defaults', (t) => {
  const r = parseRecord(record({ ...valid, deviceId: 'd-1', country: 'DE', riskScore: 0.25, eventData: { success: true }, extra: 1 }), config);
  t.deepEqual(r, {
    ok: true,
    event: {
      eventId: 'e-1',
      userId: 'u-1',
      eventType: 'payment',
      kind: 'payment',
      timestamp: 1732480000000,
      amount: '12.3400',
      currency: 'USD',
      deviceId: 'd-1',
      ip: null,
      country: 'DE',
      upstreamRiskScore: 0.25,
      eventData: { success: true },
      source: { topic: 'payment-events', partition: 3, offset: '42' },
    },
  });
});

test('HTTP events are validated the same way and have no source', (t) => {
  const r = parseEventJson(valid, config);
  t.true(r.ok);
  if (r.ok) t.is(r.event.source, null);
});

test('an unknown eventType is accepted as kind other, a login needs no amount', (t) => {
  const other = parseEventJson({ ...valid, eventType: 'refund', amount: undefined }, config);
  t.true(other.ok && other.event.kind === 'other' && other.event.eventType === 'refund' && other.event.amount === null);
  const login = parseEventJson({ ...valid, eventType: 'login', amount: undefined }, config);
  t.true(login.ok && login.event.kind === 'login');
});

test('amounts: numbers or decimal strings, normalised to 4 exact decimals', (t) => {
  const amountOf = (amount: unknown) => {
    const r = parseEventJson({ ...valid, amount }, config);
    return r.ok ? r.event.amount : `${r.code} ${r.message}`;
  };
  t.is(amountOf(12.34), '12.3400');
  t.is(amountOf(0.1), '0.1000');
  t.is(amountOf(5), '5.0000');
  t.is(amountOf(0), '0.0000');
  t.is(amountOf('0.0001'), '0.0001');
  t.is(amountOf('007.5'), '7.5000');
  t.is(amountOf(1e21), '1000000000000000000000.0000');
  t.is(amountOf('123456789012345678.1234'), '123456789012345678.1234');
});

test('a bad amount is a SCHEMA error naming amount and the rule', (t) => {
  for (const [amount, rule] of [
    [-1, '>= 0'],
    ['-0.5', '>= 0'],
    [0.00001, 'at most 4 decimals'],
    ['1.23456', 'at most 4 decimals'],
    ['12,50', 'decimal'],
    ['1e3', 'decimal'],
    ['', 'decimal'],
    [true, 'number or a decimal string'],
    [Number.NaN, 'finite'],
  ] as const) {
    const r = reject({ ...valid, amount });
    t.is(r.code, 'SCHEMA', String(amount));
    t.regex(r.message, /^amount: /, String(amount));
    t.true(r.message.includes(rule), `${String(amount)}: ${r.message}`);
  }
});

test('payments and transfers need an amount', (t) => {
  for (const eventType of ['payment', 'transfer']) {
    const r = reject({ ...valid, eventType, amount: undefined });
    t.is(r.code, 'SCHEMA');
    t.regex(r.message, /^amount: required/);
    t.is(reject({ ...valid, eventType, amount: null }).code, 'SCHEMA');
  }
});

test('each broken field is a SCHEMA error whose message names it', (t) => {
  const cases: [Record<string, unknown>, string][] = [
    [{ eventId: undefined }, 'eventId'],
    [{ eventId: '' }, 'eventId'],
    [{ eventId: 'x'.repeat(129) }, 'eventId'],
    [{ eventId: 7 }, 'eventId'],
    [{ userId: undefined }, 'userId'],
    [{ userId: 'x'.repeat(129) }, 'userId'],
    [{ eventType: '' }, 'eventType'],
    [{ eventType: 'x'.repeat(65) }, 'eventType'],
    [{ timestamp: undefined }, 'timestamp'],
    [{ timestamp: 1.5 }, 'timestamp'],
    [{ timestamp: '1732480000000' }, 'timestamp'],
    [{ timestamp: -1 }, 'timestamp'],
    [{ currency: 'US' }, 'currency'],
    [{ currency: 'US1' }, 'currency'],
    [{ currency: 840 }, 'currency'],
    [{ riskScore: 1.5 }, 'riskScore'],
    [{ riskScore: -0.1 }, 'riskScore'],
    [{ riskScore: '0.5' }, 'riskScore'],
    [{ eventData: [1, 2] }, 'eventData'],
    [{ eventData: 'text' }, 'eventData'],
    [{ deviceId: 12 }, 'deviceId'],
    [{ country: 'x'.repeat(257) }, 'country'],
  ];
  for (const [patch, field] of cases) {
    const r = reject({ ...valid, ...patch });
    t.is(r.code, 'SCHEMA', JSON.stringify(patch));
    t.true(r.message.startsWith(`${field}: `), `${JSON.stringify(patch)} -> ${r.message}`);
  }
});

test('boundaries that are allowed: ids of 128, eventType of 64, riskScore 0 and 1, lower-case currency', (t) => {
  const r = parseEventJson({ ...valid, eventId: 'x'.repeat(128), userId: 'y'.repeat(128), eventType: 'z'.repeat(64), riskScore: 1, currency: 'eur' }, config);
  t.true(r.ok);
  if (r.ok) t.is(r.event.currency, 'EUR');
  t.true(parseEventJson({ ...valid, riskScore: 0 }, config).ok);
});

test('something other than an object is a SCHEMA error', (t) => {
  for (const v of [[], 'text', 12, null]) t.is(reject(v).code, 'SCHEMA');
});

test('INVALID_JSON: broken JSON, no value, not UTF-8', (t) => {
  const broken = parseRecord(record('{"eventId": '), config);
  t.like(broken, { ok: false, code: 'INVALID_JSON' });
  t.like(parseRecord(record(null), config), { ok: false, code: 'INVALID_JSON' });
  t.like(parseRecord(record(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), config), { ok: false, code: 'INVALID_JSON' });
  if (!broken.ok) t.regex(broken.message, /^value: /);
});

test('TOO_LARGE: a value above maxRecordBytes, checked before parsing', (t) => {
  const big = Buffer.alloc(config.maxRecordBytes + 1, 0x20);
  t.like(parseRecord(record(big), config), { ok: false, code: 'TOO_LARGE' });
  const exact = JSON.stringify({ ...valid, pad: '' });
  const padded = JSON.stringify({ ...valid, pad: 'p'.repeat(config.maxRecordBytes - exact.length) });
  t.is(Buffer.byteLength(padded), config.maxRecordBytes);
  t.true(parseRecord(record(padded), config).ok);
});

test('KEY_MISMATCH: a present key must equal userId; a null key is fine', (t) => {
  const r = parseRecord(record(valid, 'u-2'), config);
  t.like(r, { ok: false, code: 'KEY_MISMATCH' });
  if (!r.ok) t.regex(r.message, /^userId: /);
  t.true(parseRecord(record(valid, null), config).ok);
});
