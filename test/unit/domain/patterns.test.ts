/**
 * The shipped default rules (config/default-rules.json) against the load generator's fraud
 * patterns and against ordinary traffic.
 */
import test from 'ava';
import type { RiskEvent } from '../../../src/domain/index.ts';
import { accepted, codes, ev, HOUR, MIN, play, T0, type Run } from './helpers.ts';

/** mulberry32: a seeded generator, so that "varied" traffic is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * An ordinary user over a few days: a phone and sometimes a laptop, one country, daytime activity;
 * sessions of a login followed by payments a minute or so apart, now and then a transfer.
 */
function ordinaryUser(userId: string, seed: number, sessions = 25): RiskEvent[] {
  const rnd = prng(seed);
  const out: RiskEvent[] = [];
  let t = T0 + 7 * HOUR;
  let n = 0;
  const add = (eventType: string, amount: string | null, deviceId: string) =>
    out.push(ev({ userId, eventId: `${userId}-${n++}`, eventType, timestamp: t, amount, deviceId, country: 'FR' }));
  for (let s = 0; s < sessions; s++) {
    t += (2 + rnd() * 8) * HOUR;
    const hour = Math.floor((t - T0) / HOUR) % 24;
    if (hour < 7 || hour > 22) t += (9 - (hour > 22 ? hour - 24 : hour)) * HOUR;
    const device = rnd() < 0.8 ? 'phone' : 'laptop';
    add('login', null, device);
    const actions = 1 + Math.floor(rnd() * 3);
    for (let a = 0; a < actions; a++) {
      t += Math.round((20 + rnd() * 180) * 1000);
      if (rnd() < 0.15) add('transfer', (50 + rnd() * 400).toFixed(2), device);
      else add('payment', (3 + rnd() * 150).toFixed(2), device);
    }
  }
  return out;
}

const verdicts = (r: Run) => r.outcomes.map((o) => accepted(o).decision.decision);
const lastTime = (events: RiskEvent[]) => events.at(-1)!.timestamp;

test('ordinary varied traffic of users with a stable device and country is almost all ALLOW', (t) => {
  let total = 0;
  let allowed = 0;
  let blocked = 0;
  for (let u = 0; u < 20; u++) {
    const v = verdicts(play(ordinaryUser('u-1', 1000 + u)));
    total += v.length;
    allowed += v.filter((x) => x === 'ALLOW').length;
    blocked += v.filter((x) => x === 'BLOCK').length;
  }
  t.true(total > 1000, `${total} events`);
  t.true(allowed / total >= 0.98, `${allowed} of ${total} allowed`);
  t.is(blocked, 0);
});

test('account takeover: a login and a large transfer from a new device in a new country are blocked', (t) => {
  const history = ordinaryUser('u-1', 7);
  const base = play(history);
  const start = lastTime(history) + 3 * HOUR;
  const attack = play(
    [
      ev({ eventType: 'login', timestamp: start, deviceId: 'attacker', country: 'RU' }),
      ev({ eventType: 'transfer', timestamp: start + 2 * MIN, deviceId: 'attacker', country: 'RU', amount: '4900' }),
    ],
    {},
    base.state,
  );
  const transfer = accepted(attack.outcomes[1]).decision;
  t.is(transfer.decision, 'BLOCK');
  t.true(transfer.riskScore > 0.9, String(transfer.riskScore));
  t.true(['NEW_DEVICE', 'NEW_COUNTRY', 'UNUSUAL_AMOUNT'].every((c) => codes(attack.outcomes[1]).includes(c)), codes(attack.outcomes[1]).join());
  t.not(verdicts(attack)[0], 'ALLOW');
});

test('account takeover without a login first: the transfer alone is blocked', (t) => {
  const history = ordinaryUser('u-1', 8);
  const attack = play([ev({ eventType: 'transfer', timestamp: lastTime(history) + 3 * HOUR, deviceId: 'x', country: 'NG', amount: '2500' })], {}, play(history).state);
  t.is(verdicts(attack)[0], 'BLOCK');
});

test('card testing: a burst of small payments is challenged, then blocked', (t) => {
  const history = ordinaryUser('u-1', 9);
  const start = lastTime(history) + 3 * HOUR;
  const burst = Array.from({ length: 15 }, (_, i) => ev({ eventType: 'payment', timestamp: start + i * 5000, amount: (0.5 + (i % 4) * 0.75).toFixed(2), deviceId: 'phone', country: 'FR' }));
  const r = play(burst, {}, play(history).state);
  const v = verdicts(r);
  t.true(v.slice(10).every((x) => x === 'BLOCK'), v.join());
  t.true(v.filter((x) => x !== 'ALLOW').length >= 8, v.join());
  t.true(codes(r.outcomes[12]).includes('SMALL_PAYMENT_BURST'));
});

test('velocity attack: dozens of transfers in a minute are blocked, the hard rule among the reasons', (t) => {
  const history = ordinaryUser('u-1', 10);
  const start = lastTime(history) + 3 * HOUR;
  const burst = Array.from({ length: 36 }, (_, i) => ev({ eventType: 'transfer', timestamp: start + i * 1600, amount: '120', deviceId: 'phone', country: 'FR' }));
  const r = play(burst, {}, play(history).state);
  const v = verdicts(r);
  t.true(v.slice(12).every((x) => x === 'BLOCK'), v.join());
  t.true(codes(r.outcomes[30]).includes('HARD_RULE:transfer-burst'));
  t.true(codes(r.outcomes[10]).includes('HIGH_VELOCITY_1M'));
});

test('impossible travel: a login from another country minutes after the last one is challenged', (t) => {
  const history = ordinaryUser('u-1', 11);
  const start = lastTime(history) + 3 * HOUR;
  const r = play(
    [
      ev({ eventType: 'login', timestamp: start, deviceId: 'phone', country: 'FR' }),
      ev({ eventType: 'login', timestamp: start + 15 * MIN, deviceId: 'phone', country: 'BR' }),
    ],
    {},
    play(history).state,
  );
  t.is(verdicts(r)[0], 'ALLOW');
  t.not(verdicts(r)[1], 'ALLOW');
  t.is(codes(r.outcomes[1])[0], 'IMPOSSIBLE_TRAVEL');
});

test('the same country change hours later is only a new country, not impossible travel', (t) => {
  const history = ordinaryUser('u-1', 12);
  const start = lastTime(history) + 3 * HOUR;
  const r = play([ev({ eventType: 'login', timestamp: start, deviceId: 'phone', country: 'FR' }), ev({ eventType: 'login', timestamp: start + 12 * HOUR, deviceId: 'phone', country: 'ES' })], {}, play(history).state);
  t.deepEqual(verdicts(r), ['ALLOW', 'ALLOW']);
  t.deepEqual(codes(r.outcomes[1]), ['NEW_COUNTRY']);
});
