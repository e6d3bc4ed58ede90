import test from 'ava';
import { decide, FEATURES, initialState, type RiskEvent } from '../../../src/domain/index.ts';
import {
  amountZScore,
  countKindWithin,
  countryHop,
  devicesLastHour,
  failedLoginStreak,
  isNewCountry,
  isNewDevice,
  loginsLastHour,
  msSincePrevious,
  smallPaymentsLast10m,
  upstreamRisk,
  usualHourShare,
} from '../../../src/domain/features.ts';
import { accepted, config, ctx, ev, HOUR, MIN, neutralRules, play, T0 } from './helpers.ts';

const stateOf = (events: RiskEvent[]) => play(events, { rules: neutralRules() }).state;
const feature = (name: string) => FEATURES.find((f) => f.name === name)!;
const valueOf = (name: string, events: RiskEvent[], e: RiskEvent) => feature(name).value(stateOf(events), e, config);

test('velocity counts events of the same kind in the window, the event included', (t) => {
  const s = stateOf([
    ev({ eventType: 'payment', timestamp: T0 - 2 * HOUR }),
    ev({ eventType: 'payment', timestamp: T0 - 30 * MIN }),
    ev({ eventType: 'payment', timestamp: T0 - 4 * MIN }),
    ev({ eventType: 'payment', timestamp: T0 - 30_000 }),
    ev({ eventType: 'login', timestamp: T0 - 10_000 }),
    ev({ eventType: 'payment', timestamp: T0 + 5 * MIN }), // later in event time: not before this event
  ]);
  const e = ev({ eventType: 'payment', timestamp: T0 });
  t.is(countKindWithin(s, e, MIN), 2);
  t.is(countKindWithin(s, e, 5 * MIN), 3);
  t.is(countKindWithin(s, e, HOUR), 4);
  t.is(countKindWithin(s, ev({ eventType: 'login', timestamp: T0 }), MIN), 2);
});

test('velocity features rise from 0 to 1 with the count', (t) => {
  const burst = (n: number) => Array.from({ length: n }, (_, i) => ev({ eventType: 'transfer', timestamp: T0 - 1000 * (i + 1) }));
  const e = ev({ eventType: 'transfer', timestamp: T0 });
  t.is(valueOf('velocity1m', burst(1), e), 0);
  t.true(valueOf('velocity1m', burst(5), e) > 0);
  t.is(valueOf('velocity1m', burst(20), e), 1);
  t.is(valueOf('velocity5m', burst(11), e), 1);
  t.is(valueOf('velocity1h', burst(5), e), 0);
  t.true(feature('velocity1m').detail(stateOf(burst(5)), e, config).startsWith('6 transfer events in the last minute'));
});

test('login frequency counts logins in the last hour', (t) => {
  const logins = Array.from({ length: 9 }, (_, i) => ev({ eventType: 'login', timestamp: T0 - (i + 1) * 5 * MIN }));
  const s = stateOf(logins);
  t.is(loginsLastHour(s, ev({ eventType: 'login', timestamp: T0 })), 10);
  t.is(loginsLastHour(s, ev({ eventType: 'payment', timestamp: T0 })), 9);
  t.is(feature('loginFrequency').value(s, ev({ eventType: 'login', timestamp: T0 }), config), 1);
  t.is(valueOf('loginFrequency', logins.slice(0, 1), ev({ eventType: 'login', timestamp: T0 })), 0);
});

const fail = (i: number) => ev({ eventType: 'login', eventData: { success: false }, timestamp: T0 + i * 1000, eventId: `fail-${i}` });
const success = (i: number) => ev({ eventType: 'login', eventData: { success: true }, timestamp: T0 + i * 1000, eventId: `ok-${i}` });

test('failed-login streak counts failures in a row and a success resets it', (t) => {
  const s = stateOf([fail(1), fail(2), ev({ eventType: 'payment', timestamp: T0 + 3000 }), fail(4)]);
  t.is(s.profile.failedLoginStreak, 3);
  t.is(failedLoginStreak(s, fail(5)), 4);
  t.is(failedLoginStreak(s, success(5)), 3); // the success still carries them
  const reset = stateOf([fail(1), fail(2), success(3)]);
  t.is(reset.profile.failedLoginStreak, 0);
  t.is(feature('failedLoginStreak').value(stateOf([fail(1), fail(2), fail(3), fail(4)]), fail(5), config), 1);
});

test('failed-login streak is in event time: the failures after the latest success, whatever order they arrive in', (t) => {
  // The success (login-events) is delivered after the failures that followed it in event time.
  const inOrder = stateOf([fail(1), fail(2), success(3), fail(4), fail(5)]);
  const successLate = stateOf([fail(1), fail(2), fail(4), fail(5), success(3)]);
  const failuresLate = stateOf([success(3), fail(4), fail(5), fail(1), fail(2)]);
  for (const s of [inOrder, successLate, failuresLate]) {
    t.is(s.profile.failedLoginStreak, 2);
    t.is(s.profile.lastLoginSuccessAt, T0 + 3000);
    t.is(failedLoginStreak(s, fail(6)), 3, 'a later failure continues the streak after the success');
    t.is(failedLoginStreak(s, success(6)), 2);
    t.is(failedLoginStreak(s, fail(2.5)), 3, 'a failure before the success counts those before it');
    t.is(failedLoginStreak(s, fail(4.5)), 2, 'only the failures up to the event');
  }
  // A success earlier in event time than the latest one changes nothing.
  t.is(stateOf([fail(1), success(3), fail(4), success(2)]).profile.failedLoginStreak, 1);
  // So the next event sees the same features and gets the same decision.
  for (const next of [fail(6), ev({ eventType: 'transfer', amount: '50', timestamp: T0 + 6000 })]) {
    for (const s of [successLate, failuresLate]) {
      for (const f of FEATURES) t.is(f.value(s, next, config), f.value(inOrder, next, config), f.name);
      t.deepEqual(accepted(decide(s, next, ctx())).decision, accepted(decide(inOrder, next, ctx())).decision);
    }
  }
});

test('amount deviation: 0 until 5 amounts are known, then deviations above the running mean', (t) => {
  const payments = ['40', '60', '50', '45', '55'].map((amount, i) => ev({ amount, timestamp: T0 + i * HOUR }));
  t.is(amountZScore(stateOf(payments.slice(0, 4)), ev({ amount: '5000' }), config), 0);
  const s = stateOf(payments);
  t.is(s.profile.amounts.n, 5);
  t.true(Math.abs(s.profile.amounts.mean - 50) < 1e-9);
  t.true(Math.abs(s.profile.amounts.m2 - 250) < 1e-9); // Welford: sum of squared deviations
  t.true(amountZScore(s, ev({ amount: '55' }), config) < 1);
  t.true(amountZScore(s, ev({ amount: '5000', eventType: 'transfer' }), config) > 100);
  t.is(amountZScore(s, ev({ eventType: 'login', amount: null }), config), 0);
  t.is(feature('amountDeviation').value(s, ev({ amount: '5000' }), config), 1);
  t.is(feature('amountDeviation').value(s, ev({ amount: '60' }), config), 0);
});

test('small-payment burst counts small payments in 10 minutes, only for a small payment', (t) => {
  const s = stateOf([
    ev({ amount: '1.00', timestamp: T0 - 11 * MIN }),
    ev({ amount: '1.00', timestamp: T0 - 3 * MIN }),
    ev({ amount: '2.50', timestamp: T0 - 2 * MIN }),
    ev({ amount: '250', timestamp: T0 - MIN }),
  ]);
  t.is(smallPaymentsLast10m(s, ev({ amount: '0.99', timestamp: T0 }), config), 3);
  t.is(smallPaymentsLast10m(s, ev({ amount: '99', timestamp: T0 }), config), 0);
  t.is(smallPaymentsLast10m(s, ev({ eventType: 'transfer', amount: '1', timestamp: T0 }), config), 0);
});

test('new device: unknown to a user with known devices, or first seen within the hour', (t) => {
  t.false(isNewDevice(initialState('u-1'), ev({ deviceId: 'd-1' })), 'a newcomer\'s first device');
  const s = stateOf([ev({ deviceId: 'd-1', timestamp: T0 })]);
  t.false(isNewDevice(s, ev({ deviceId: 'd-1', timestamp: T0 + MIN })));
  t.true(isNewDevice(s, ev({ deviceId: 'd-2', timestamp: T0 + MIN })));
  t.false(isNewDevice(s, ev({ deviceId: null, timestamp: T0 + MIN })));
  const withNew = stateOf([ev({ deviceId: 'd-1', timestamp: T0 }), ev({ deviceId: 'd-2', timestamp: T0 + 2 * HOUR })]);
  t.true(isNewDevice(withNew, ev({ deviceId: 'd-2', timestamp: T0 + 2 * HOUR + 30 * MIN })), 'still new half an hour later');
  t.false(isNewDevice(withNew, ev({ deviceId: 'd-2', timestamp: T0 + 3 * HOUR + 1 })), 'familiar after an hour');
  t.is(valueOf('newDevice', [ev({ deviceId: 'd-1' })], ev({ deviceId: 'd-9' })), 1);
});

test('new country works like new device', (t) => {
  const s = stateOf([ev({ country: 'DE', timestamp: T0 })]);
  t.false(isNewCountry(s, ev({ country: 'DE', timestamp: T0 + MIN })));
  t.true(isNewCountry(s, ev({ country: 'FR', timestamp: T0 + MIN })));
  t.false(isNewCountry(initialState('u-1'), ev({ country: 'FR' })));
  t.is(feature('newCountry').detail(s, ev({ country: 'FR' }), config), 'country FR new to this user');
});

test('devices in the last hour are distinct devices, this one included', (t) => {
  const s = stateOf([
    ev({ deviceId: 'a', timestamp: T0 - 2 * HOUR }),
    ev({ deviceId: 'b', timestamp: T0 - 30 * MIN }),
    ev({ deviceId: 'b', timestamp: T0 - 20 * MIN }),
    ev({ deviceId: 'c', timestamp: T0 - 10 * MIN }),
  ]);
  t.is(devicesLastHour(s, ev({ deviceId: 'd', timestamp: T0 })), 3);
  t.is(devicesLastHour(s, ev({ deviceId: 'b', timestamp: T0 })), 2);
  t.is(feature('devicesLastHour').value(s, ev({ deviceId: 'd', timestamp: T0 }), config), 2 / 3);
});

test('time since the previous event drives rapid succession', (t) => {
  t.is(msSincePrevious(initialState('u-1'), ev()), null);
  const s = stateOf([ev({ timestamp: T0 })]);
  t.is(msSincePrevious(s, ev({ timestamp: T0 + 1500 })), 1500);
  t.is(feature('rapidSuccession').value(s, ev({ timestamp: T0 + 1500 }), config), 1);
  t.is(feature('rapidSuccession').value(s, ev({ timestamp: T0 + 2 * MIN }), config), 0);
  t.is(feature('rapidSuccession').value(initialState('u-1'), ev(), config), 0);
});

test('unusual hour: needs 20 events, then flags hours the user is rarely active in (UTC)', (t) => {
  const days = Array.from({ length: 20 }, (_, i) => ev({ timestamp: T0 + i * 24 * HOUR + 14 * HOUR }));
  t.is(usualHourShare(stateOf(days.slice(0, 19)), ev({ timestamp: T0 + 3 * HOUR })), null);
  const s = stateOf(days);
  t.is(s.profile.hours[14], 20);
  t.is(usualHourShare(s, ev({ timestamp: T0 + 15 * HOUR })), 1);
  t.is(usualHourShare(s, ev({ timestamp: T0 + 3 * HOUR })), 0);
  t.is(feature('unusualHour').value(s, ev({ timestamp: T0 + 30 * 24 * HOUR + 3 * HOUR }), config), 1);
  t.is(feature('unusualHour').value(s, ev({ timestamp: T0 + 30 * 24 * HOUR + 14 * HOUR }), config), 0);
});

test('upstream risk is the given score, 0 when absent', (t) => {
  t.is(upstreamRisk(initialState('u-1'), ev({ upstreamRiskScore: 0.8 })), 0.8);
  t.is(upstreamRisk(initialState('u-1'), ev({ upstreamRiskScore: null })), 0);
});

test('impossible travel: another country shortly after the last one', (t) => {
  const s = stateOf([ev({ country: 'DE', timestamp: T0 }), ev({ country: null, timestamp: T0 + MIN })]);
  t.deepEqual(countryHop(s, ev({ country: 'BR', timestamp: T0 + 20 * MIN })), { from: 'DE', ms: 20 * MIN });
  t.is(countryHop(s, ev({ country: 'DE', timestamp: T0 + 20 * MIN })), null);
  t.is(countryHop(s, ev({ country: null })), null);
  const value = (ms: number) => feature('impossibleTravel').value(s, ev({ country: 'BR', timestamp: T0 + ms }), config);
  t.is(value(20 * MIN), 1);
  t.is(value(2 * HOUR), 0.5);
  t.is(value(4 * HOUR), 0);
});

test('every feature is within [0, 1] and has an UPPER_SNAKE reason code', (t) => {
  const s = stateOf(Array.from({ length: 30 }, (_, i) => ev({ timestamp: T0 + i * 1000, deviceId: `d-${i % 7}`, country: i % 2 ? 'DE' : 'FR', amount: String(i) })));
  for (const f of FEATURES) {
    t.regex(f.code, /^[A-Z][A-Z0-9_]*$/);
    const v = f.value(s, ev({ timestamp: T0 + 31_000, deviceId: 'x', country: 'BR', amount: '900', upstreamRiskScore: 0.5 }), config);
    t.true(v >= 0 && v <= 1, `${f.name} = ${v}`);
  }
});

test('"previous" is the nearest event in event time, not the last to arrive: topics interleave arbitrarily', (t) => {
  // A login (login-events) and the payment right after it (payment-events), arriving either way round.
  const login = ev({ eventType: 'login', country: 'DE', timestamp: T0 });
  const payment = ev({ eventType: 'payment', country: 'DE', timestamp: T0 + 40 * MIN });
  const early = ev({ eventType: 'payment', country: 'FR', timestamp: T0 - 3 * HOUR });
  const next = ev({ eventType: 'transfer', country: 'BR', timestamp: T0 + 41 * MIN });
  const inOrder = stateOf([early, login, payment]);
  const lateArrival = stateOf([login, payment, early]);
  t.is(msSincePrevious(lateArrival, next), MIN);
  t.deepEqual(countryHop(lateArrival, next), { from: 'DE', ms: MIN });
  for (const f of FEATURES) t.is(f.value(lateArrival, next, config), f.value(inOrder, next, config), f.name);
});
