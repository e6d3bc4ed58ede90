/** The load generator: deterministic, exact ground truth, production order, the fraud patterns as specified. */
import test from 'ava';
import fc from 'fast-check';
import { DEFAULT_DOMAIN_CONFIG, addAmounts, parseEventJson } from '../../../src/domain/index.ts';
import { FRAUD_PATTERNS, generate, generateEvents, planLoad, resolveOptions, type FraudPattern, type GeneratedEvent, type LoadEvent } from '../../../src/loadgen/generator.ts';
import { TruthBuilder, truthOf, type GroundTruth } from '../../../src/loadgen/truth.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;

const base = { users: 400, events: 6000, fraudRatio: 0.05, seed: 7 };
const load = generate(base);
const truth = truthOf(load.plan.options, load.events);

const byUser = (events: readonly GeneratedEvent[]) => {
  const m = new Map<string, LoadEvent[]>();
  for (const { event } of events) m.set(event.userId, [...(m.get(event.userId) ?? []), event]);
  return m;
};

test('the same options give the same events, byte for byte; another seed gives others', (t) => {
  const again = generate(base);
  t.is(JSON.stringify(again.events), JSON.stringify(load.events));
  const other = generate({ ...base, seed: 8 });
  t.not(JSON.stringify(other.events.map((g) => ({ ...g.event, eventId: '', userId: '', deviceId: '' }))), JSON.stringify(load.events.map((g) => ({ ...g.event, eventId: '', userId: '', deviceId: '' }))));
  t.is(other.events[0]!.event.userId.startsWith('s8-'), true);
});

test('exactly the requested number of events, unique ids, every one valid by the contract', (t) => {
  t.is(load.events.length, base.events);
  t.is(new Set(load.events.map((g) => g.event.eventId)).size, base.events);
  for (const { event } of load.events) {
    const parsed = parseEventJson(JSON.parse(JSON.stringify(event)), { ...DEFAULT_DOMAIN_CONFIG, unknownTypes: 'other' } as never, { now: Date.now() });
    if (!parsed.ok) return t.fail(`${event.eventId}: ${parsed.message}`);
  }
  t.pass();
});

test('production order: event time never goes back, and each user is in its own order', (t) => {
  for (let i = 1; i < load.events.length; i++) {
    if (load.events[i]!.event.timestamp < load.events[i - 1]!.event.timestamp) return t.fail(`event ${i} goes back in time`);
  }
  for (const [userId, events] of byUser(load.events)) {
    const seqs = events.map((e) => Number(e.eventId.slice(userId.length + 1)));
    t.deepEqual(seqs, seqs.map((_, i) => i), userId);
    for (let i = 1; i < events.length; i++) t.true(events[i]!.timestamp > events[i - 1]!.timestamp, `${userId} ${i}`);
  }
});

test('the truth counts and money totals equal a recount of the events (with the domain money code), per currency', (t) => {
  type Totals = Record<string, { payment: string; transfer: string }>;
  const expected = new Map<string, { eventCount: number; loginCount: number; paymentCount: number; transferCount: number; totals: Totals }>();
  for (const { event: e } of load.events) {
    const u = expected.get(e.userId) ?? { eventCount: 0, loginCount: 0, paymentCount: 0, transferCount: 0, totals: {} };
    const total = (u.totals[e.currency] ??= { payment: '0.0000', transfer: '0.0000' });
    u.eventCount++;
    if (e.eventType === 'login') u.loginCount++;
    if (e.eventType === 'payment') (u.paymentCount++, (total.payment = addAmounts(total.payment, e.amount!)));
    if (e.eventType === 'transfer') (u.transferCount++, (total.transfer = addAmounts(total.transfer, e.amount!)));
    expected.set(e.userId, u);
  }
  t.is(Object.keys(truth.users).length, expected.size);
  t.true([...expected.values()].some((u) => Object.keys(u.totals).some((c) => c !== 'USD')), 'some users pay in other currencies');
  for (const [userId, u] of expected) {
    const { fraudPattern: _p, ...counts } = truth.users[userId]!;
    // The engine's totalPaymentAmount/totalTransferAmount are those in the default currency (USD).
    const usd = u.totals['USD'] ?? { payment: '0.0000', transfer: '0.0000' };
    t.deepEqual(counts, { ...u, totalPaymentAmount: usd.payment, totalTransferAmount: usd.transfer, totals: { ...u.totals, USD: usd } }, userId);
  }
  t.is(truth.totals.events, base.events);
  t.is(truth.totals.logins + truth.totals.payments + truth.totals.transfers, base.events);
  t.is(truth.complete, true);
  t.true(/^\d+\.\d{4}$/.test(truth.users[load.events[0]!.event.userId]!.totalPaymentAmount));
});

test('the fraud ratio is respected and the patterns are shared evenly', (t) => {
  t.is(truth.totals.fraudUsers, Math.round(base.users * base.fraudRatio));
  const counts = FRAUD_PATTERNS.map((p) => truth.totals.byPattern[p].users);
  t.true(Math.max(...counts) - Math.min(...counts) <= 1, counts.join());
  t.is(Object.keys(truth.fraudEvents).length, truth.totals.fraudEvents);
  t.is(load.plan.fraudEvents, truth.totals.fraudEvents);
  // Only fraud users have fraud events, and the truth marks exactly the generator's fraud events.
  for (const g of load.events) {
    t.is(truth.fraudEvents[g.event.eventId] ?? null, g.pattern);
    if (g.pattern) t.is(truth.users[g.event.userId]!.fraudPattern, g.pattern);
  }
  // Larger loads stay near the ratio.
  for (const fraudRatio of [0, 0.01, 0.1, 0.3]) {
    const plan = planLoad({ users: 5000, events: 200_000, fraudRatio, seed: 3 });
    t.is(plan.fraudUsers, Math.round(5000 * fraudRatio), String(fraudRatio));
  }
});

test('ordinary users keep their country and at most two devices; their events are plausible', (t) => {
  let users = 0;
  for (const [userId, events] of byUser(load.events)) {
    if (truth.users[userId]!.fraudPattern) continue;
    users++;
    t.is(new Set(events.map((e) => e.country)).size, 1, userId);
    t.true(new Set(events.map((e) => e.deviceId)).size <= 2, userId);
    t.is(events[0]!.eventType, 'login', `${userId} starts with a login`);
    for (const e of events) {
      if (e.eventType === 'login') t.is(e.amount, undefined);
      else t.true(Number(e.amount) >= 1 && Number(e.amount) <= 3000, `${e.eventId} ${e.amount}`);
    }
  }
  t.true(users > 300);
});

/** The events of each fraud user: history, then the pattern. */
function fraudUsers(pattern: FraudPattern): { history: LoadEvent[]; attack: LoadEvent[] }[] {
  const out = [];
  for (const [userId, events] of byUser(load.events)) {
    if (truth.users[userId]!.fraudPattern !== pattern) continue;
    const attack = events.filter((e) => truth.fraudEvents[e.eventId]);
    const history = events.filter((e) => !truth.fraudEvents[e.eventId]);
    out.push({ history, attack });
  }
  return out;
}

test('every fraud user has an ordinary history first, then its pattern', (t) => {
  for (const pattern of FRAUD_PATTERNS) {
    const users = fraudUsers(pattern);
    t.true(users.length >= 4, pattern);
    for (const { history, attack } of users) {
      t.true(history.length >= 8, `${pattern}: ${history.length} history events`);
      t.true(history.at(-1)!.timestamp < attack[0]!.timestamp, pattern);
    }
  }
});

test('card testing: 12-18 payments of 0.50-2.75, 4-6 s apart', (t) => {
  for (const { attack } of fraudUsers('card-testing')) {
    t.true(attack.length >= 12 && attack.length <= 18);
    for (const [i, e] of attack.entries()) {
      t.is(e.eventType, 'payment');
      t.true(Number(e.amount) >= 0.5 && Number(e.amount) <= 2.75, e.amount);
      if (i > 0) t.true(e.timestamp - attack[i - 1]!.timestamp >= 4000 && e.timestamp - attack[i - 1]!.timestamp <= 6000);
    }
  }
});

test('velocity attack: 30-40 transfers about 1.6 s apart', (t) => {
  for (const { attack } of fraudUsers('velocity-attack')) {
    t.true(attack.length >= 30 && attack.length <= 40);
    for (const [i, e] of attack.entries()) {
      t.is(e.eventType, 'transfer');
      if (i > 0) t.true(e.timestamp - attack[i - 1]!.timestamp >= 1300 && e.timestamp - attack[i - 1]!.timestamp <= 1900);
    }
  }
});

test('account takeover: hours later, a login and large transfers from a new device in a new country', (t) => {
  for (const { history, attack } of fraudUsers('account-takeover')) {
    const [login, ...transfers] = attack;
    t.is(login!.eventType, 'login');
    t.true(transfers.length >= 1 && transfers.length <= 2);
    t.true(login!.timestamp - history.at(-1)!.timestamp >= 2 * HOUR);
    for (const e of attack) {
      t.false(history.some((h) => h.deviceId === e.deviceId), 'new device');
      t.false(history.some((h) => h.country === e.country), 'new country');
      t.not(e.country, 'KP');
    }
    for (const e of transfers) {
      t.is(e.eventType, 'transfer');
      t.true(Number(e.amount) >= 1500 && Number(e.amount) <= 4900);
    }
    t.true(Number(transfers[0]!.amount) >= 2500);
  }
});

test('impossible travel: a login from another country minutes after the last home event', (t) => {
  for (const { history, attack } of fraudUsers('impossible-travel')) {
    t.is(attack.length, 1);
    const hop = attack[0]!;
    t.is(hop.eventType, 'login');
    t.not(hop.country, history.at(-1)!.country);
    const gap = hop.timestamp - history.at(-1)!.timestamp;
    t.true(gap >= 5 * MIN && gap <= 40 * MIN, String(gap));
  }
});

test('fewer events than the fraud users need: as many fraud users as fit, and still exactly `events`', (t) => {
  const small = generate({ users: 100, events: 120, fraudRatio: 0.5, seed: 1 });
  t.is(small.events.length, 120);
  t.true(small.plan.fraudUsers < 50 && small.plan.fraudUsers > 0);
  const none = generate({ users: 10, events: 5, fraudRatio: 1, seed: 1 });
  t.is(none.events.length, 5);
  t.is(none.plan.fraudUsers, 0);
  const all = generate({ users: 3, events: 500, fraudRatio: 1, seed: 1 });
  t.is(all.events.length, 500);
  t.is(all.plan.fraudUsers, 3);
  t.is(generate({ users: 10, events: 0, fraudRatio: 0.1, seed: 1 }).events.length, 0);
});

test('spread 0 gives every ordinary user the same number of events, give or take one', (t) => {
  const even = generate({ users: 100, events: 5050, fraudRatio: 0, seed: 4, spread: 0 });
  const counts = [...byUser(even.events).values()].map((e) => e.length);
  t.is(counts.length, 100);
  t.true(counts.every((n) => n === 50 || n === 51), counts.join());
  const skewed = [...byUser(generate({ users: 100, events: 5050, fraudRatio: 0, seed: 4 }).events).values()].map((e) => e.length);
  t.true(Math.max(...skewed) > 2 * Math.min(...skewed), 'the default spread makes some users much busier');
});

test('options are validated', (t) => {
  t.throws(() => resolveOptions({ users: 0, events: 1, fraudRatio: 0, seed: 1 }), { instanceOf: RangeError });
  t.throws(() => resolveOptions({ users: 1, events: -1, fraudRatio: 0, seed: 1 }), { instanceOf: RangeError });
  t.throws(() => resolveOptions({ users: 1, events: 1, fraudRatio: 1.5, seed: 1 }), { instanceOf: RangeError });
  t.throws(() => resolveOptions({ users: 1, events: 1, fraudRatio: Number.NaN, seed: 1 }), { instanceOf: RangeError });
  t.throws(() => resolveOptions({ users: 1, events: 1, fraudRatio: 0, seed: 2 ** 32 }), { instanceOf: RangeError });
  t.throws(() => resolveOptions({ users: 1, events: 1, fraudRatio: 0, seed: 1, spread: -1 }), { instanceOf: RangeError });
  // The engine refuses event times before 2000-01-01.
  t.throws(() => resolveOptions({ users: 1, events: 1, fraudRatio: 0, seed: 1, startTime: Date.UTC(1999, 11, 31, 23, 59, 59, 999) }), { instanceOf: RangeError });
  t.is(resolveOptions({ users: 1, events: 1, fraudRatio: 0, seed: 1, startTime: Date.UTC(2000, 0, 1) }).startTime, Date.UTC(2000, 0, 1));
  t.is(resolveOptions({ users: 1, events: 1, fraudRatio: 0, seed: 5 }).idPrefix, 's5-');
});

test('streaming and in-memory generation agree; a partial truth covers what was produced', (t) => {
  const plan = planLoad(base);
  const it = generateEvents(plan);
  const partial = new TruthBuilder(plan.options);
  for (let i = 0; i < 1000; i++) partial.add(it.next().value as GeneratedEvent);
  const p: GroundTruth = partial.build(false);
  t.is(p.complete, false);
  t.is(p.totals.events, 1000);
  const rest = [...it];
  t.is(rest.length, base.events - 1000);
  t.is(JSON.stringify(rest), JSON.stringify(load.events.slice(1000)));
});

test('property: for any options the truth equals the events and ids stay unique', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 0, max: 1500 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (users, events, fraudRatio, seed) => {
        const g = generate({ users, events, fraudRatio, seed });
        if (g.events.length !== events) return false;
        const tr = truthOf(g.plan.options, g.events);
        const sum = Object.values(tr.users).reduce((n, u) => n + u.eventCount, 0);
        const ids = new Set(g.events.map((e) => e.event.eventId));
        const fraud = g.events.filter((e) => e.pattern).length;
        return sum === events && ids.size === events && tr.totals.fraudEvents === fraud && tr.totals.users <= users && tr.totals.fraudUsers <= Math.round(users * fraudRatio);
      },
    ),
    { numRuns: 150 },
  );
  t.pass();
});
