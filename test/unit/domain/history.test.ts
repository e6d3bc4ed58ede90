import test from 'ava';
import {
  amountAt,
  closedAt,
  countryAt,
  currencyAt,
  decisionAt,
  deviceAt,
  emptyHistory,
  historyLength,
  indexOfSource,
  CHUNK,
  MAX_SHARDS,
  MAX_STRINGS,
  pushEntry,
  sourceAt,
  type EntryInput,
  type History,
} from '../../../src/domain/history.ts';
import type { Decision } from '../../../src/domain/index.ts';
import type { WindowAggregate } from '../../../src/domain/windows.ts';
import { T0 } from './helpers.ts';

function decision(i: number, over: Partial<Decision> = {}): Decision {
  return {
    eventId: `e-${i}`,
    userId: 'u-1',
    eventType: 'payment',
    decision: 'ALLOW',
    riskScore: 0.0123,
    reasons: [],
    modelVersion: 'm-1',
    rulesVersion: 3,
    eventTimestamp: T0 + i,
    decidedAt: T0 + 1000 + i,
    shard: 7,
    traceId: null,
    ...over,
  };
}

function entry(i: number, over: Partial<EntryInput> = {}, d: Partial<Decision> = {}): EntryInput {
  return {
    kind: 'payment',
    amount: '12.3400',
    currency: null,
    deviceId: `d-${i}`,
    country: `C${i}`,
    failedLogin: false,
    source: 'payment-events:7',
    offset: String(100 + i),
    decision: decision(i, d),
    closed: [],
    ...over,
  };
}

test('an entry gives back its decision and event exactly, as emitted', (t) => {
  const closed: WindowAggregate[] = [
    { userId: 'u-1', windowStart: T0, windowEnd: T0 + 300_000, eventCount: 3, totalRiskScore: 0.0369, avgRiskScore: 0.0123, maxRiskScore: 0.0123, firstEventTime: T0 + 5, lastEventTime: T0 + 9 },
  ];
  const d = decision(1, {
    eventType: 'chargeback',
    decision: 'CHALLENGE',
    riskScore: 0.7312,
    reasons: [{ code: 'NEW_DEVICE', weight: 1.25, detail: 'device d-1 new to this user' }],
    traceId: '0af7651916cd43dd8448eb211c80319c',
    rulesVersion: 12,
  });
  const h = pushEntry(emptyHistory(), { ...entry(1), kind: 'other', decision: d, closed }, 50);
  t.deepEqual(decisionAt(h, 0, 'u-1'), d);
  t.deepEqual(closedAt(h, 0, 'u-1'), closed);
  t.is(amountAt(h, 0), '12.3400');
  t.is(sourceAt(h, 0), 'payment-events:7:101');
  t.is(indexOfSource(h, 'payment-events:7', '101'), 0);
  t.is(indexOfSource(h, 'payment-events:7', '102'), -1);
  t.is(indexOfSource(h, 'login-events:7', '101'), -1);
});

test('values the columns cannot hold exactly are kept exactly all the same', (t) => {
  const bigAmount = '123456789012345678.1234';
  const bigOffset = '9007199254740993';
  const offGrid = 0.123456;
  const odd: WindowAggregate = { userId: 'u-1', windowStart: T0, windowEnd: T0 + 1, eventCount: 2, totalRiskScore: 0.1, avgRiskScore: 0.3, maxRiskScore: 0.2, firstEventTime: T0, lastEventTime: T0 };
  const h = pushEntry(emptyHistory(), entry(1, { amount: bigAmount, offset: bigOffset, closed: [odd] }, { riskScore: offGrid, shard: MAX_SHARDS - 1 }), 50);
  t.is(amountAt(h, 0), bigAmount);
  t.is(sourceAt(h, 0), `payment-events:7:${bigOffset}`);
  t.is(indexOfSource(h, 'payment-events:7', bigOffset), 0);
  t.is(decisionAt(h, 0, 'u-1').riskScore, offGrid);
  t.is(decisionAt(h, 0, 'u-1').shard, MAX_SHARDS - 1);
  t.deepEqual(closedAt(h, 0, 'u-1'), [odd]);
  t.throws(() => pushEntry(h, entry(2, {}, { shard: MAX_SHARDS }), 50), { message: /shard/ });
});

test('the history keeps the last `max` entries and never changes its input', (t) => {
  let h: History = emptyHistory();
  const seen: string[] = [];
  for (let i = 0; i < 8; i++) {
    const before = JSON.stringify(h);
    const next = pushEntry(h, entry(i), 5);
    t.is(JSON.stringify(h), before);
    h = next;
    seen.push(`e-${i}`);
  }
  t.is(historyLength(h), 5);
  t.deepEqual(h.eventIds, seen.slice(-5));
  t.deepEqual([0, 1, 2, 3, 4].map((i) => decisionAt(h, i, 'u-1').eventId), seen.slice(-5));
});

/** The default currency (null) and eight others: more than the currency table holds. */
const CURRENCIES = [null, 'EUR', 'JPY', 'GBP', 'CHF', 'CAD', 'AUD', 'HKD', 'SGD'];

test('a user with ever new devices and countries: the string table stays bounded and every entry keeps its strings', (t) => {
  let h: History = emptyHistory();
  let compacted = false;
  for (let i = 0; i < 1000; i++) {
    const before = JSON.stringify(h);
    const next = pushEntry(h, entry(i, { currency: CURRENCIES[i % 9]! }, { modelVersion: `m-${i % 7}`, rulesVersion: i }), 50);
    t.is(JSON.stringify(h), before, 'the input history is unchanged, also when its table is compacted');
    compacted ||= next.strings.length < h.strings.length;
    h = next;
    t.true(h.strings.length <= MAX_STRINGS);
  }
  t.true(compacted);
  for (let k = 0; k < historyLength(h); k++) {
    const i = 950 + k;
    t.is(deviceAt(h, k), `d-${i}`);
    t.is(countryAt(h, k), `C${i}`);
    t.like(decisionAt(h, k, 'u-1'), { eventId: `e-${i}`, modelVersion: `m-${i % 7}`, rulesVersion: i });
    t.is(sourceAt(h, k), `payment-events:7:${100 + i}`);
    t.is(currencyAt(h, k), CURRENCIES[i % 9]!, 'the currency survives the renumbering of the string table');
  }
});

test('null device, country and source stay null, and an empty string is a string', (t) => {
  const h = pushEntry(emptyHistory(), entry(1, { deviceId: null, country: '', source: null, offset: null, amount: null }), 50);
  t.is(deviceAt(h, 0), null);
  t.is(countryAt(h, 0), '');
  t.is(sourceAt(h, 0), null);
  t.is(amountAt(h, 0), null);
});

test('when every entry brings six new strings, those the table has no room for live in the entry', (t) => {
  let h: History = emptyHistory();
  const at = (i: number) => entry(i, { kind: 'other', source: `topic-${i}:7` }, { eventType: `type-${i}`, modelVersion: `m-${i}`, rulesVersion: i });
  for (let i = 0; i < 300; i++) h = pushEntry(h, at(i), 100);
  t.true(h.strings.length <= MAX_STRINGS);
  t.true(h.extras.some((x) => x !== 0 && x.includes('"d":')), 'some strings are inline');
  for (let k = 0; k < historyLength(h); k++) {
    const i = 200 + k;
    t.deepEqual([deviceAt(h, k), countryAt(h, k), sourceAt(h, k)], [`d-${i}`, `C${i}`, `topic-${i}:7:${100 + i}`]);
    t.like(decisionAt(h, k, 'u-1'), { eventType: `type-${i}`, modelVersion: `m-${i}`, rulesVersion: i });
    t.is(indexOfSource(h, `topic-${i}:7`, String(100 + i)), k);
  }
});

test('a new history shares every chunk of numbers but the last with the one it came from', (t) => {
  let h: History = emptyHistory();
  for (let i = 0; i < 40; i++) h = pushEntry(h, entry(i), 50);
  const next = pushEntry(h, entry(40), 50);
  t.true(h.nums.length > 2);
  t.true(next.nums.slice(0, h.nums.length - 1).every((chunk, k) => chunk === h.nums[k]));
  // Past `max`, whole chunks of entries that left are dropped, and what is left reads the same.
  let full = next;
  for (let i = 41; i < 97; i++) full = pushEntry(full, entry(i), 50);
  t.true(full.nums.length <= Math.ceil(50 / CHUNK) + 1);
  t.deepEqual(Array.from({ length: 50 }, (_, k) => decisionAt(full, k, 'u-1').eventTimestamp), Array.from({ length: 50 }, (_, k) => T0 + 47 + k));
});
