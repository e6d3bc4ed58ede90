/**
 * Hostile input thrown at validation (issue 14): random bytes, random JSON, event-shaped objects
 * whose fields are anything, extreme numbers, deep nesting, odd strings, missing or wrong keys,
 * wrong partitions. Nothing may throw; every answer is an event or a reject with a contract code;
 * every accepted event holds every bound, and can be serialised again as ingestion does next.
 */
import test from 'ava';
import fc from 'fast-check';
import { DEFAULT_DOMAIN_CONFIG, MIN_EVENT_TIME, parseEventJson, parseRecord, shardOf, type ParseResult, type RecordInput, type RiskEvent } from '../../../src/domain/index.ts';

const config = DEFAULT_DOMAIN_CONFIG;
const NOW = Date.UTC(2026, 5, 1);
const PARTITIONS = 12;
const ctx = { now: NOW, partitions: PARTITIONS };
const LATEST = NOW + config.maxClockSkewMs;
const CODES = new Set(['INVALID_JSON', 'SCHEMA', 'KEY_MISMATCH', 'TOO_LARGE']);
const CURRENCIES = new Set(Object.keys(config.fxRates));

// ---- the oracle: written apart from the validator, so that it does not share its mistakes ----

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const AMOUNT = /^\d{1,15}\.\d{4}$/;

/** Levels of objects and arrays in `v` (a scalar is 0), counted no further than `cap`. */
function depth(v: unknown, cap: number): number {
  if (typeof v !== 'object' || v === null) return 0;
  if (cap === 0) return 1;
  let deepest = 0;
  for (const child of Object.values(v)) deepest = Math.max(deepest, depth(child, cap - 1));
  return 1 + deepest;
}

function cleanId(v: unknown): boolean {
  return typeof v === 'string' && v.length >= 1 && v.length <= 128 && !CONTROL.test(v) && !LONE_SURROGATE.test(v);
}

/** Every bound an accepted event must hold; returns what is broken, or null. */
function broken(e: RiskEvent, input: unknown): string | null {
  if (!cleanId(e.userId)) return `userId ${JSON.stringify(e.userId)}`;
  if (!cleanId(e.eventId)) return `eventId ${JSON.stringify(e.eventId)}`;
  if (!(Number.isSafeInteger(e.timestamp) && e.timestamp >= MIN_EVENT_TIME && e.timestamp <= LATEST)) return `timestamp ${e.timestamp}`;
  if (e.amount !== null && !AMOUNT.test(e.amount)) return `amount ${e.amount}`;
  if ((e.kind === 'payment' || e.kind === 'transfer') && e.amount === null) return 'amount missing';
  if (!CURRENCIES.has(e.currency)) return `currency ${e.currency}`;
  if (e.upstreamRiskScore !== null && !(e.upstreamRiskScore >= 0 && e.upstreamRiskScore <= 1)) return `riskScore ${e.upstreamRiskScore}`;
  if (e.eventData !== null && (typeof e.eventData !== 'object' || Array.isArray(e.eventData))) return 'eventData not an object';
  if (depth(e.eventData, 40) > 32) return 'eventData too deep';
  // Every field of what ingestion passes on, not only eventData.
  if (depth(input, 40) > 33) return 'a field too deep';
  try {
    JSON.stringify(e);
    JSON.stringify(input);
  } catch (err) {
    return `not serialisable: ${(err as Error).message}`;
  }
  return null;
}

/** Counts the outcomes, so that a property cannot pass by accepting (or refusing) everything. */
class Tally {
  accepted = 0;
  rejected = new Map<string, number>();
  check(r: ParseResult, input: unknown, record?: RecordInput): void {
    if (r.ok) {
      const problem = broken(r.event, input) ?? (record ? recordProblem(r.event, record) : null);
      if (problem) throw new Error(`accepted an event that breaks a bound: ${problem}`);
      this.accepted++;
      return;
    }
    if (!CODES.has(r.code)) throw new Error(`unknown code ${r.code}`);
    if (record === undefined && r.code !== 'SCHEMA') throw new Error(`parseEventJson answered ${r.code}`);
    if (typeof r.message !== 'string' || r.message.length === 0 || r.message.length > 1000) throw new Error(`bad message ${r.message}`);
    this.rejected.set(r.code, (this.rejected.get(r.code) ?? 0) + 1);
  }
}

function recordProblem(e: RiskEvent, record: RecordInput): string | null {
  if (record.key === null || !record.key.equals(Buffer.from(e.userId, 'utf8'))) return 'key is not the userId';
  if (record.partition !== shardOf(e.userId, PARTITIONS)) return `partition ${record.partition} is not the user's`;
  if (e.source?.partition !== record.partition || e.source.topic !== record.topic || e.source.offset !== record.offset) return 'source';
  return null;
}

// ---- the generators ----

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const control = fc.oneof(fc.integer({ min: 0, max: 0x1f }), fc.integer({ min: 0x7f, max: 0x9f })).map((c) => String.fromCharCode(c));
const oddUnit = fc.oneof(loneSurrogate, control, fc.constantFrom('\ufffd', '\ufeff', '😀', 'é', '用', '"', '\\', ' ', '\u00a0', '\u2028'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }));
const plainId = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
const oddString = fc.oneof(
  fc.string({ unit: oddUnit, maxLength: 12 }),
  fc.tuple(plainId, oddUnit).map(([a, b]) => a + b),
  fc.constantFrom('', ' ', 'x'.repeat(128), 'x'.repeat(129), 'é'.repeat(128), '😀'.repeat(64), '😀'.repeat(65)),
);

/** Numbers as JSON text: what JSON.parse makes of them (1e400 -> Infinity, -0 -> -0) is part of the test. */
const extremeNumberText = fc.constantFrom('1e300', '1e400', '-1e400', '-0', '0', '5e-324', '1.7976931348623157e308', '1e15', '999999999999999', '999999999999999.9999', '1e21', '0.30000000000000004', '9007199254740993', '-1', '1.5');
const extremeNumber = fc.oneof(extremeNumberText.map(Number), fc.double(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE));

/** Up to 15 digits before the point and 4 after, as a string or as a number. */
const validAmount = fc.oneof(
  fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 15n - 1n }), fc.integer({ min: 0, max: 4 })).map(([whole, decimals]) => (decimals === 0 ? `${whole}` : `${whole}.${'7'.repeat(decimals)}`)),
  fc.integer({ min: 0, max: 10 ** 9 }).map((cents) => cents / 100),
);
const amount = fc.oneof(
  { weight: 3, arbitrary: validAmount },
  { weight: 2, arbitrary: extremeNumber },
  { weight: 2, arbitrary: fc.constantFrom('1e300', 'NaN', 'Infinity', '-0', '0x10', ' 1', '1 ', '1.', '.5', '١٢', '1000000000000000', '0000000000000001', '1.00000', '9'.repeat(400)) },
  { weight: 1, arbitrary: oddString },
);
const timestamp = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: MIN_EVENT_TIME, max: LATEST }) },
  { weight: 1, arbitrary: fc.constantFrom(MIN_EVENT_TIME, MIN_EVENT_TIME - 1, LATEST, LATEST + 1, 0, 1000, -1, Date.UTC(3000, 0, 1), Number.MAX_SAFE_INTEGER + 2) },
  { weight: 1, arbitrary: extremeNumber },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 1 }) },
);
const currency = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...CURRENCIES).chain((c) => fc.constantFrom(c, c.toLowerCase(), c[0] + c.slice(1).toLowerCase())) },
  { weight: 1, arbitrary: fc.constantFrom('XYZ', 'PLN', 'usx', 'US', 'USDX', 'ÜSD', '__p', 'pro') },
  { weight: 1, arbitrary: fc.oneof(oddString, fc.anything({ maxDepth: 1 })) },
);

/**
 * A value with `levels` of objects or arrays, built without recursion; it describes itself to
 * fast-check's reports, which would overflow printing it (a symbol key: invisible to validation).
 */
const nestedValue = (levels: number, array: boolean): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = array ? [v] : { k: v };
  if (levels > 0) Object.defineProperty(v, fc.toStringMethod, { value: () => `<${levels} levels of ${array ? '[...]' : '{"k": ...}'}>` });
  return v;
};
const levels = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(31, 32, 33, 1000, 30_000));
const nesting = fc.tuple(levels, fc.boolean()).map(([n, array]) => ({ n, array }));
const eventData = fc.oneof(
  { weight: 3, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }) },
  { weight: 2, arbitrary: nesting.map(({ n, array }) => (array ? { list: nestedValue(n, true) } : nestedValue(Math.max(n, 1), false))) },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
  // Around the record size limit (64 KiB).
  { weight: 1, arbitrary: fc.integer({ min: 65_000, max: 67_000 }).map((n) => ({ pad: 'x'.repeat(n) })) },
);

const FIELDS = ['eventId', 'userId', 'eventType', 'timestamp', 'amount', 'currency', 'deviceId', 'ip', 'country', 'riskScore', 'eventData', 'extra'] as const;

const niceId = fc.oneof({ weight: 4, arbitrary: plainId }, { weight: 1, arbitrary: fc.constantFrom('usér-1', '用户', 'u-😀', 'x'.repeat(128), '😀'.repeat(64), 'a\u00a0b') });

/** A valid event: most runs then break one to three of its fields. */
const validEvent = fc.record({
  eventId: niceId,
  userId: niceId,
  eventType: fc.constantFrom('login', 'payment', 'transfer', 'refund'),
  timestamp: fc.integer({ min: MIN_EVENT_TIME, max: LATEST }),
  amount: validAmount,
  currency: fc.constantFrom(...CURRENCIES).chain((c) => fc.constantFrom(c, c.toLowerCase())),
  deviceId: plainId,
  country: fc.constantFrom('DE', 'US', 'KP'),
  riskScore: fc.double({ min: 0, max: 1, noNaN: true }),
  eventData: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
}, { requiredKeys: ['eventId', 'userId', 'eventType', 'timestamp', 'amount'] });

/** What a broken field becomes (absent when the record has no entry for it). */
const hostile = fc.record(
  {
    eventId: fc.oneof(oddString, fc.anything({ maxDepth: 1 })),
    userId: fc.oneof(oddString, fc.anything({ maxDepth: 1 })),
    eventType: fc.oneof(oddString, fc.anything({ maxDepth: 1 })),
    timestamp,
    amount,
    currency,
    deviceId: fc.oneof(oddString, fc.constant(null), fc.anything({ maxDepth: 1 })),
    ip: fc.oneof(fc.ipV4(), oddString, fc.constant('x'.repeat(257))),
    country: oddString,
    riskScore: fc.oneof(extremeNumber, fc.anything({ maxDepth: 1 })),
    eventData,
    extra: fc.oneof(fc.jsonValue({ maxDepth: 2 }), nesting.map(({ n, array }) => nestedValue(n, array))),
  },
  { requiredKeys: [] },
);

/** Event-shaped objects: the contract's field names, each right, wrong, absent or anything. */
const eventLike = fc.tuple(validEvent, hostile, fc.subarray([...FIELDS], { maxLength: 3 })).map(([valid, bad, broken]) => {
  const e: Record<string, unknown> = { ...valid };
  for (const field of broken) {
    if (field in bad) e[field] = bad[field];
    else delete e[field];
  }
  return e;
});

const anyInput = fc.oneof({ weight: 6, arbitrary: eventLike }, { weight: 1, arbitrary: fc.anything({ maxDepth: 4 }) }, { weight: 1, arbitrary: fc.jsonValue() });

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * JSON text of a value, as JSON.stringify writes it, but without recursing through the chains of
 * one-element arrays and single-key objects that make the deep values (JSON.stringify overflows).
 */
function jsonText(v: unknown): string {
  let opens = '';
  let closes = '';
  let inner = v;
  for (;;) {
    if (Array.isArray(inner) && inner.length === 1) {
      opens += '[';
      closes += ']';
      inner = inner[0];
    } else if (isObject(inner) && Object.keys(inner).length === 1 && 'k' in inner) {
      opens += '{"k":';
      closes += '}';
      inner = inner['k'];
    } else break;
  }
  return opens + flatText(inner) + closes;
}

function flatText(v: unknown): string {
  if (Array.isArray(v)) return `[${Array.from(v, (x) => (x === undefined ? 'null' : jsonText(x))).join(',')}]`;
  if (!isObject(v)) return JSON.stringify(v) ?? 'null';
  const fields = Object.keys(v).filter((k) => v[k] !== undefined);
  return `{${fields.map((k) => `${JSON.stringify(k)}:${jsonText(v[k])}`).join(',')}}`;
}

/** Raw number texts spliced into a value: what no JS value serialises to (1e400, -0). */
const rawNumbers = fc.option(fc.tuple(fc.constantFrom('amount', 'timestamp', 'riskScore'), extremeNumberText), { nil: null });

const keyFor = (userId: unknown) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(typeof userId === 'string' ? Buffer.from(userId, 'utf8') : null) },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.constant(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(String(userId))])) },
    { weight: 1, arbitrary: oddString.map((s) => Buffer.from(s, 'utf8')) },
  );

const partitionFor = (key: Buffer | null) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(key === null ? 0 : shardOf(key.toString('utf8'), PARTITIONS)) },
    { weight: 2, arbitrary: fc.integer({ min: -1, max: 2 * PARTITIONS }) },
  );

/** A record that fast-check reports as text (key as JSON, value cut short) rather than as bytes. */
function readable(record: RecordInput): RecordInput {
  const describe = () => {
    const value = record.value === null ? 'null' : record.value.toString('utf8');
    return `{partition: ${record.partition}, key: ${record.key === null ? 'null' : JSON.stringify(record.key.toString('utf8'))}, value: ${JSON.stringify(value.length > 600 ? `${value.slice(0, 600)}...` : value)}}`;
  };
  return Object.defineProperty(record, fc.toStringMethod, { value: describe });
}

const eventRecord = fc
  .tuple(anyInput, rawNumbers)
  .chain(([input, raw]) => {
    let text = jsonText(input);
    if (raw && text.startsWith('{') && text.length > 2) text = `{"${raw[0]}":${raw[1]},${text.slice(1)}`;
    const userId = typeof input === 'object' && input !== null ? (input as Record<string, unknown>)['userId'] : undefined;
    return keyFor(userId).chain((key) => partitionFor(key).map((partition) => readable({ topic: 'payment-events', partition, offset: '7', key, value: Buffer.from(text, 'utf8') })));
  });

const byteRecord = fc.tuple(fc.uint8Array({ maxLength: 200 }), fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }), fc.integer({ min: 0, max: PARTITIONS - 1 })).map(
  ([bytes, key, partition]) => readable({ topic: 'login-events', partition, offset: '1', key: key && Buffer.from(key), value: Buffer.from(bytes) }),
);

/** Just below or above the size limit: TOO_LARGE is decided on the bytes, before parsing. */
const sizedRecord = fc.integer({ min: config.maxRecordBytes - 100, max: config.maxRecordBytes + 100 }).map((size) => {
  const event = JSON.stringify({ eventId: 'e', userId: 'u', eventType: 'login', timestamp: NOW, pad: '' });
  const value = Buffer.from(`${event.slice(0, -2)}${'p'.repeat(Math.max(0, size - event.length))}"}`);
  return readable({ topic: 'login-events', partition: shardOf('u', PARTITIONS), offset: '2', key: Buffer.from('u'), value });
});

const anyRecord = fc.oneof(
  { weight: 8, arbitrary: eventRecord },
  { weight: 1, arbitrary: byteRecord },
  { weight: 1, arbitrary: sizedRecord },
  { weight: 1, arbitrary: fc.constant<RecordInput>({ topic: 't', partition: 0, offset: '0', key: null, value: null }) },
);

// ---- the properties ----

test('parseRecord: nothing throws; every answer is an event holding every bound or a reject with a contract code', (t) => {
  const tally = new Tally();
  fc.assert(
    fc.property(anyRecord, (record) => {
      const r = parseRecord(record, config, ctx);
      let input: unknown;
      try {
        input = record.value && JSON.parse(record.value.toString('utf8'));
      } catch {
        input = undefined;
      }
      tally.check(r, input, record);
    }),
    { numRuns: 1500 },
  );
  // The generators reach every outcome: the property is not true by accepting or refusing everything.
  t.true(tally.accepted > 100, `accepted ${tally.accepted}`);
  for (const code of CODES) t.true((tally.rejected.get(code) ?? 0) > 0, `no ${code} among ${JSON.stringify([...tally.rejected])}`);
});

test('parseEventJson: nothing throws on any value; every answer is an event holding every bound or a SCHEMA reject', (t) => {
  const tally = new Tally();
  fc.assert(
    fc.property(anyInput, (input) => tally.check(parseEventJson(input, config, { now: NOW }), input)),
    { numRuns: 1500 },
  );
  t.true(tally.accepted > 100, `accepted ${tally.accepted}`);
  t.true((tally.rejected.get('SCHEMA') ?? 0) > 100);
});

test('an accepted event survives what ingestion does next: JSON.stringify, and parsing it again gives the same event', (t) => {
  let accepted = 0;
  fc.assert(
    fc.property(eventLike, (input) => {
      const first = parseEventJson(input, config, { now: NOW });
      if (!first.ok) return;
      accepted++;
      const again = parseEventJson(JSON.parse(JSON.stringify(input)), config, { now: NOW });
      if (!again.ok) throw new Error(`accepted once, refused after a round trip: ${again.message}`);
      if (JSON.stringify(again.event) !== JSON.stringify(first.event)) throw new Error('the round trip changed the event');
    }),
    { numRuns: 1000 },
  );
  t.true(accepted > 60, `accepted ${accepted}`);
});
