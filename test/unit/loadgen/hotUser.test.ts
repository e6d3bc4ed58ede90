/** The load generator's hot user (hotUserShare): one ordinary user with a fixed share of all events, busy throughout. */
import test from 'ava';
import { DEFAULT_DOMAIN_CONFIG, parseEventJson } from '../../../src/domain/index.ts';
import { generate, resolveOptions } from '../../../src/loadgen/generator.ts';
import { truthOf } from '../../../src/loadgen/truth.ts';

const base = { users: 500, events: 10_000, fraudRatio: 0.05, seed: 3 };
const hot = generate({ ...base, hotUserShare: 0.2 });
const hotUser = hot.plan.users.find((u) => u.hot)!;

test('one ordinary user sends the share of all events; the total stays exact; the others share the rest', (t) => {
  t.truthy(hotUser);
  t.is(hotUser.pattern, null);
  t.is(hot.plan.users.filter((u) => u.hot).length, 1);
  t.is(hot.events.length, base.events);
  const counts = new Map<string, number>();
  for (const { event } of hot.events) counts.set(event.userId, (counts.get(event.userId) ?? 0) + 1);
  t.is(counts.get(hotUser.userId), 2000);
  const others = [...counts].filter(([u]) => u !== hotUser.userId).map(([, n]) => n);
  t.true(Math.max(...others) < 200, `no other user comes near it (${Math.max(...others)})`);
  t.is(hot.plan.fraudUsers, generate(base).plan.fraudUsers, 'the fraud users are the same');
});

test("the hot user's events are valid by the contract and spread over the whole load, in its own order", (t) => {
  const mine = hot.events.filter((g) => g.event.userId === hotUser.userId);
  for (const { event } of mine) {
    const parsed = parseEventJson(JSON.parse(JSON.stringify(event)), { ...DEFAULT_DOMAIN_CONFIG, unknownTypes: 'other' } as never, { now: Date.now() });
    if (!parsed.ok) return t.fail(`${event.eventId}: ${parsed.message}`);
  }
  // Production order: event time never goes back, the hot user's included.
  for (let i = 1; i < hot.events.length; i++) {
    if (hot.events[i]!.event.timestamp < hot.events[i - 1]!.event.timestamp) return t.fail(`event ${i} goes back in time`);
  }
  t.deepEqual(mine.map((g) => Number(g.event.eventId.split('-').at(-1))), mine.map((_, i) => i), 'in its own order');
  // Every tenth of the production order holds a tenth of its events: its share throughout.
  const tenth = hot.events.length / 10;
  for (let d = 0; d < 10; d++) {
    const n = hot.events.slice(d * tenth, (d + 1) * tenth).filter((g) => g.event.userId === hotUser.userId).length;
    t.true(Math.abs(n - 200) <= 1, `tenth ${d} holds ${n} of the hot user's 2000 events`);
  }
});

test('the truth counts the hot user like any ordinary user', (t) => {
  const truth = truthOf(hot.plan.options, hot.events);
  t.is(truth.users[hotUser.userId]!.eventCount, 2000);
  t.is(truth.users[hotUser.userId]!.fraudPattern, null);
});

test('no hot user unless asked; the share is validated', (t) => {
  t.false(generate(base).plan.users.some((u) => u.hot));
  t.is(resolveOptions(base).hotUserShare, 0);
  t.throws(() => resolveOptions({ ...base, hotUserShare: 0.95 }), { instanceOf: RangeError });
  t.throws(() => resolveOptions({ ...base, hotUserShare: -0.1 }), { instanceOf: RangeError });
  t.throws(() => resolveOptions({ ...base, hotUserShare: Number.NaN }), { instanceOf: RangeError });
});

test('with every other user a fraud user, the hot user takes the rest', (t) => {
  const only = generate({ users: 3, events: 200, fraudRatio: 0.67, seed: 5, hotUserShare: 0.1 });
  t.is(only.events.length, 200);
  const h = only.plan.users.find((u) => u.hot)!;
  t.is(h.ordinary, 200 - only.plan.users.filter((u) => !u.hot).reduce((n, u) => n + u.ordinary + u.patternEvents, 0));
});
