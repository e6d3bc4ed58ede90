import test from 'ava';
import { MAX_NESTING_DEPTH, MIN_EVENT_TIME, parseEventJson, parseRecord, shardOf, type RecordInput } from '../../../src/domain/index.ts';
import { config } from './helpers.ts';

/** The engine's clock in these tests; `valid` is a week before it. */
const NOW = Date.UTC(2024, 11, 1);
const PARTITIONS = 12;
const ctx = { now: NOW, partitions: PARTITIONS };

const valid = { eventId: 'e-1', userId: 'u-1', eventType: 'payment', timestamp: 1732480000000, amount: '12.34' };

/** A record keyed and partitioned as a producer with Kafka's default partitioner would send it. */
const record = (value: unknown, key: string | null = 'u-1', partition = shardOf(key ?? '', PARTITIONS)): RecordInput => ({
  topic: 'payment-events',
  partition,
  offset: '42',
  key: key === null ? null : Buffer.from(key),
  value: value === null ? null : Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
});

const parse = (obj: unknown, c = config) => parseEventJson(obj, c, ctx);

const reject = (obj: unknown, c = config) => {
  const r = parse(obj, c);
  if (r.ok) throw new Error('expected a rejection');
  return r;
};

/** `{"k": {"k": ... 1}}` with `depth` objects. */
const nested = (depth: number, make: (inner: unknown) => unknown = (inner) => ({ k: inner })): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = make(v);
  return v;
};

test('a valid record becomes a typed event with its Kafka source and defaults', (t) => {
  const r = parseRecord(record({ ...valid, deviceId: 'd-1', country: 'DE', riskScore: 0.25, eventData: { success: true }, extra: 1 }), config, ctx);
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
      source: { topic: 'payment-events', partition: shardOf('u-1', PARTITIONS), offset: '42' },
    },
  });
});

test('HTTP events are validated the same way and have no source', (t) => {
  const r = parse(valid);
  t.true(r.ok);
  if (r.ok) t.is(r.event.source, null);
});

test('an unknown eventType is accepted as kind other, a login needs no amount', (t) => {
  const other = parse({ ...valid, eventType: 'refund', amount: undefined });
  t.true(other.ok && other.event.kind === 'other' && other.event.eventType === 'refund' && other.event.amount === null);
  const login = parse({ ...valid, eventType: 'login', amount: undefined });
  t.true(login.ok && login.event.kind === 'login');
});

const amountOf = (amount: unknown) => {
  const r = parse({ ...valid, amount });
  return r.ok ? r.event.amount : `${r.code} ${r.message}`;
};

test('amounts: numbers or decimal strings, normalised to 4 exact decimals', (t) => {
  t.is(amountOf(12.34), '12.3400');
  t.is(amountOf(0.1), '0.1000');
  t.is(amountOf(5), '5.0000');
  t.is(amountOf(0), '0.0000');
  t.is(amountOf(-0), '0.0000');
  t.is(amountOf('0.0001'), '0.0001');
  t.is(amountOf('007.5'), '7.5000');
});

test('amounts have at most 15 digits before the point, numbers and strings alike, and stay exact up to there', (t) => {
  t.is(amountOf(999_999_999_999_999), '999999999999999.0000');
  t.is(amountOf('999999999999999.9999'), '999999999999999.9999');
  t.is(amountOf(123_456_789_012.25), '123456789012.2500');
  const tooBig = 'SCHEMA amount: at most 15 digits before the point';
  for (const amount of [1e300, 1e21, 1e15, 1_000_000_000_000_000.5, Number.MAX_VALUE, '1000000000000000', '1000000000000000.5', '123456789012345678.1234', '9'.repeat(400)]) {
    t.is(amountOf(amount), tooBig, String(amount));
  }
});

test('a bad amount is a SCHEMA error naming amount and the rule', (t) => {
  for (const [amount, rule] of [
    [-1, '>= 0'],
    ['-0.5', '>= 0'],
    [0.00001, 'at most 4 decimals'],
    ['1.23456', 'at most 4 decimals'],
    ['12,50', 'decimal'],
    ['1e3', 'decimal'],
    ['1e300', 'decimal'],
    ['Infinity', 'decimal'],
    ['NaN', 'decimal'],
    ['', 'decimal'],
    [true, 'number or a decimal string'],
    [Number.NaN, 'finite'],
    [Number.POSITIVE_INFINITY, 'finite'],
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

test('ids with control characters (C0, DEL, C1) or lone surrogates are SCHEMA errors naming the field', (t) => {
  const bad = ['u\u0000', 'a\u0014b', '\t', 'x\n', 'del\u007f', 'c1\u0080', 'c1\u009f', 'hi\ud800', '\udc00lo', 'a\ud800b', 'rev\udc00\ud800', '\ud83d'];
  for (const field of ['userId', 'eventId']) {
    for (const id of bad) {
      const r = reject({ ...valid, [field]: id });
      t.is(r.code, 'SCHEMA', `${field} ${JSON.stringify(id)}`);
      t.true(r.message.startsWith(`${field}: must not contain control characters or lone surrogates (U+`), r.message);
    }
  }
  const r = reject({ ...valid, userId: 'ok\u0007' });
  t.is(r.message, 'userId: must not contain control characters or lone surrogates (U+0007 at index 2)');
});

test('ids may hold any other Unicode: accents, CJK, emoji (surrogate pairs), U+00A0 and up', (t) => {
  for (const id of ['usér', '用户-1', 'u-😀', '😀', 'a\u00a0b', ' spaced ', '~!@#$%^&*()']) {
    const r = parse({ ...valid, userId: id, eventId: id });
    t.true(r.ok, JSON.stringify(id));
  }
});

test('a lone surrogate in userId is a SCHEMA error on a Kafka record too, not a KEY_MISMATCH', (t) => {
  const userId = 'u-\ud800';
  // What a producer sends: the key is the userId's UTF-8 (the surrogate becomes U+FFFD).
  const r = parseRecord(record(`{"eventId":"e-1","userId":"u-\\ud800","eventType":"login","timestamp":${valid.timestamp}}`, userId), config, ctx);
  t.like(r, { ok: false, code: 'SCHEMA' });
  if (!r.ok) t.regex(r.message, /^userId: /);
});

test('timestamp: from 2000-01-01T00:00:00Z to maxClockSkewMs ahead of the engine clock, both ends included', (t) => {
  const at = (timestamp: number, c = config) => parse({ ...valid, timestamp }, c);
  t.is(MIN_EVENT_TIME, Date.parse('2000-01-01T00:00:00Z'));
  t.true(at(MIN_EVENT_TIME).ok);
  t.true(at(NOW + config.maxClockSkewMs).ok);
  t.true(at(NOW).ok);
  for (const [timestamp, rule] of [
    [MIN_EVENT_TIME - 1, 'must not be before 2000-01-01T00:00:00Z (946684800000)'],
    [1000, 'must not be before 2000-01-01T00:00:00Z'],
    [0, 'must not be before 2000-01-01T00:00:00Z'],
    [NOW + config.maxClockSkewMs + 1, `must not be more than 86400000 ms ahead of the engine's clock (${NOW})`],
    [Date.UTC(3000, 0, 1), 'must not be more than 86400000 ms ahead'],
  ] as const) {
    const r = at(timestamp);
    t.like(r, { ok: false, code: 'SCHEMA' }, String(timestamp));
    if (!r.ok) t.true(r.message.startsWith(`timestamp: ${rule}`), r.message);
  }
  const strict = { ...config, maxClockSkewMs: 1000 };
  t.true(at(NOW + 1000, strict).ok);
  t.like(at(NOW + 1001, strict), { ok: false, code: 'SCHEMA' });
});

test('the clock is the caller\'s: the same event is accepted or refused by the now it is given', (t) => {
  const future = { ...valid, timestamp: NOW + 2 * config.maxClockSkewMs };
  t.false(parseEventJson(future, config, { now: NOW }).ok);
  t.true(parseEventJson(future, config, { now: NOW + config.maxClockSkewMs }).ok);
  t.false(parseEventJson(valid, config, { now: Number.NaN }).ok, 'a clock that is not a number refuses');
});

test('currency: one of the rate table (any case), else SCHEMA naming currency', (t) => {
  const r = parse({ ...valid, currency: 'eur' });
  t.true(r.ok && r.event.currency === 'EUR');
  t.true(parse({ ...valid, currency: 'JPY' }).ok);
  for (const currency of ['XYZ', 'PLN', 'usx']) {
    const no = reject({ ...valid, currency });
    t.is(no.code, 'SCHEMA');
    t.true(no.message.startsWith(`currency: no exchange rate for "${currency.toUpperCase()}" (accepted: USD, EUR, `), no.message);
  }
  const usdOnly = { ...config, fxRates: { USD: 1 } };
  t.like(reject({ ...valid, currency: 'EUR' }, usdOnly), { code: 'SCHEMA', message: 'currency: no exchange rate for "EUR" (accepted: USD)' });
  t.true(parse({ ...valid, currency: 'usd' }, usdOnly).ok);
  // Names that objects inherit are no currencies.
  t.like(reject({ ...valid, currency: 'toString'.slice(0, 3) }, { ...config, fxRates: Object.create({ TOS: 1 }) as Record<string, number> }), { code: 'SCHEMA' });
});

test(`eventData: nested at most ${MAX_NESTING_DEPTH} deep (objects and arrays), eventData itself being level 1`, (t) => {
  t.is(MAX_NESTING_DEPTH, 32);
  t.true(parse({ ...valid, eventData: nested(32) }).ok);
  t.true(parse({ ...valid, eventData: { a: nested(31, (inner) => [inner]) } }).ok);
  for (const eventData of [nested(33), { a: nested(32, (inner) => [inner]) }, { a: [1, { b: nested(31) }] }]) {
    const r = reject({ ...valid, eventData });
    t.is(r.code, 'SCHEMA');
    t.is(r.message, 'eventData: nested more than 32 deep (objects and arrays)');
  }
});

test('30,000 levels of nesting are a SCHEMA error, never a stack overflow: in eventData, in an unknown field, in a record', (t) => {
  const deep = nested(30_000);
  t.like(reject({ ...valid, eventData: deep }), { code: 'SCHEMA', message: 'eventData: nested more than 32 deep (objects and arrays)' });
  t.like(reject({ ...valid, extra: nested(30_000, (inner) => [inner]) }), { code: 'SCHEMA', message: 'extra: nested more than 32 deep (objects and arrays)' });
  const text = `{"eventId":"e-1","userId":"u-1","eventType":"login","timestamp":${valid.timestamp},"eventData":${'{"k":'.repeat(30_000)}1${'}'.repeat(30_000)}}`;
  t.like(parseRecord(record(text), { ...config, maxRecordBytes: 1 << 20 }, ctx), { ok: false, code: 'SCHEMA' });
  // A cycle (not JSON, but not a hang either).
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  t.like(reject({ ...valid, eventData: cyclic }), { code: 'SCHEMA' });
});

test('boundaries that are allowed: ids of 128, eventType of 64, riskScore 0 and 1, lower-case currency', (t) => {
  const r = parse({ ...valid, eventId: 'x'.repeat(128), userId: 'y'.repeat(128), eventType: 'z'.repeat(64), riskScore: 1, currency: 'eur' });
  t.true(r.ok);
  if (r.ok) t.is(r.event.currency, 'EUR');
  t.true(parse({ ...valid, riskScore: 0 }).ok);
});

test('something other than an object is a SCHEMA error', (t) => {
  for (const v of [[], 'text', 12, null]) t.is(reject(v).code, 'SCHEMA');
});

test('INVALID_JSON: broken JSON, no value, not UTF-8', (t) => {
  const broken = parseRecord(record('{"eventId": '), config, ctx);
  t.like(broken, { ok: false, code: 'INVALID_JSON' });
  t.like(parseRecord(record(null), config, ctx), { ok: false, code: 'INVALID_JSON' });
  t.like(parseRecord(record(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), config, ctx), { ok: false, code: 'INVALID_JSON' });
  if (!broken.ok) t.regex(broken.message, /^value: /);
});

test('TOO_LARGE: a value above maxRecordBytes, checked before parsing', (t) => {
  const big = Buffer.alloc(config.maxRecordBytes + 1, 0x20);
  t.like(parseRecord(record(big), config, ctx), { ok: false, code: 'TOO_LARGE' });
  const exact = JSON.stringify({ ...valid, pad: '' });
  const padded = JSON.stringify({ ...valid, pad: 'p'.repeat(config.maxRecordBytes - exact.length) });
  t.is(Buffer.byteLength(padded), config.maxRecordBytes);
  t.true(parseRecord(record(padded), config, ctx).ok);
});

test('KEY_MISMATCH: the key must equal userId', (t) => {
  const r = parseRecord(record(valid, 'u-2', shardOf('u-1', PARTITIONS)), config, ctx);
  t.like(r, { ok: false, code: 'KEY_MISMATCH', message: 'userId: "u-1" does not equal the record key' });
  // Compared byte for byte: a BOM or invalid UTF-8 is not the userId.
  t.like(parseRecord({ ...record(valid), key: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('u-1')]) }, config, ctx), { ok: false, code: 'KEY_MISMATCH' });
  const fffd = { ...valid, userId: 'u-\ufffd' };
  const invalid = parseRecord({ ...record(fffd, 'u-\ufffd'), key: Buffer.from([0x75, 0x2d, 0xff]) }, config, ctx);
  t.like(invalid, { ok: false, code: 'KEY_MISMATCH', message: 'userId: the record key is not valid UTF-8' });
});

test('KEY_MISMATCH: a record without a key', (t) => {
  t.like(parseRecord(record(valid, null, shardOf('u-1', PARTITIONS)), config, ctx), {
    ok: false,
    code: 'KEY_MISMATCH',
    message: 'userId: the record has no key (the key must be the userId)',
  });
});

test('KEY_MISMATCH: a record on another partition than murmur2 gives its key', (t) => {
  const right = shardOf('u-1', PARTITIONS);
  t.true(parseRecord(record(valid, 'u-1', right), config, ctx).ok);
  for (const partition of [(right + 1) % PARTITIONS, (right + 5) % PARTITIONS, PARTITIONS + right, -1]) {
    const r = parseRecord(record(valid, 'u-1', partition), config, ctx);
    t.like(r, { ok: false, code: 'KEY_MISMATCH', message: `userId: the record is on partition ${partition}, but its key belongs on partition ${right} of 12` }, String(partition));
  }
  // The partition count is the caller's: with one partition every user is on partition 0.
  t.true(parseRecord(record(valid, 'u-1', 0), config, { now: NOW, partitions: 1 }).ok);
  t.true(parseRecord(record({ ...valid, userId: 'usér-😀' }, 'usér-😀'), config, ctx).ok, 'non-ASCII keys hash their UTF-8 bytes');
});

test('a schema error is reported before a key mismatch', (t) => {
  t.like(parseRecord(record({ ...valid, timestamp: 1000 }, null), config, ctx), { ok: false, code: 'SCHEMA' });
});

test('the key is compared as its bytes, ASCII or not: the same verdicts as decoding it', (t) => {
  const keyed = (userId: string, key: Buffer) => parseRecord({ ...record({ ...valid, userId }, userId), key }, config, ctx);
  for (const userId of ['u-1', 'ü-1', 'u-€', '用户', 'u-\u{1f600}', 'U-1']) {
    t.like(keyed(userId, Buffer.from(userId)), { ok: true }, `${userId}: its own UTF-8`);
    t.like(keyed(userId, Buffer.from(userId, 'latin1')), userId === 'U-1' || userId === 'u-1' ? { ok: true } : { ok: false, code: 'KEY_MISMATCH' }, `${userId}: Latin-1 bytes`);
    const other = userId.toLowerCase() === userId ? userId.toUpperCase() : userId.toLowerCase();
    if (other !== userId) t.like(keyed(userId, Buffer.from(other)), { ok: false, code: 'KEY_MISMATCH' }, `${userId}: another case`);
  }
  // As many bytes as the userId has characters, and not it: one byte off, or not UTF-8 at all.
  t.like(keyed('u-1', Buffer.from('u-2')), { ok: false, message: 'userId: "u-1" does not equal the record key' });
  t.like(keyed('u-1', Buffer.from([0x75, 0x2d, 0xb1])), { ok: false, message: 'userId: the record key is not valid UTF-8' });
  t.like(keyed('u-é', Buffer.from([0x75, 0x2d, 0xe9])), { ok: false, message: 'userId: the record key is not valid UTF-8' });
});

test('eventData of plain values, or nested within the bound, is accepted; one level deeper is refused', (t) => {
  t.like(parse({ ...valid, eventData: { success: false, note: 'x', n: 1 } }), { ok: true });
  t.like(parse({ ...valid, tags: [1, 'a', null] }), { ok: true }, 'an unknown field is checked too');
  t.like(parse({ ...valid, eventData: nested(MAX_NESTING_DEPTH) }), { ok: true });
  t.like(reject({ ...valid, eventData: nested(MAX_NESTING_DEPTH + 1) }), { code: 'SCHEMA', message: `eventData: nested more than ${MAX_NESTING_DEPTH} deep (objects and arrays)` });
});
