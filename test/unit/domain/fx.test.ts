/**
 * Currencies: kept in the journal and in totals per currency; converted to the default currency
 * (domain.fxRates) wherever amounts are compared: amount statistics and features, hard-rule limits.
 */
import test from 'ava';
import { decide, evolve, initialState, toUserView, upcastJournal, upcastState, validateRules, type DomainConfig, type Rules, type UserState } from '../../../src/domain/index.ts';
import { FEATURES, smallPaymentsLast10m } from '../../../src/domain/features.ts';
import { MAX_CURRENCIES } from '../../../src/domain/history.ts';
import { accepted, config, ctx, ev, MIN, neutralRules, play, T0 } from './helpers.ts';

const JPY = config.fxRates['JPY']!;
const at = (i: number) => T0 + i * MIN;

test('the journal keeps the currency, with the rate it was converted at when it is not the default one', (t) => {
  const r = play([ev({ amount: '5', currency: 'USD', timestamp: at(0) }), ev({ amount: '1000', currency: 'JPY', timestamp: at(1) }), ev({ eventType: 'login', currency: 'EUR', timestamp: at(2) })]);
  t.like(r.journal[0], { event: { amount: '5.0000', currency: 'USD' } });
  t.false('rate' in (r.journal[0] as { event: object }).event);
  t.like(r.journal[1], { event: { amount: '1000.0000', currency: 'JPY', rate: JPY } });
  t.false('currency' in (r.journal[2] as { event: object }).event, 'no amount, no currency');
  for (const j of r.journal) t.deepEqual(upcastJournal(JSON.parse(JSON.stringify(j))), j);
});

test('totals are kept per currency; the existing totals are those in the default currency', (t) => {
  const r = play([
    ev({ eventType: 'payment', amount: '10', currency: 'USD', timestamp: at(0) }),
    ev({ eventType: 'payment', amount: '1000', currency: 'JPY', timestamp: at(1) }),
    ev({ eventType: 'payment', amount: '12.5', currency: 'EUR', timestamp: at(2) }),
    ev({ eventType: 'transfer', amount: '2000', currency: 'JPY', timestamp: at(3) }),
    ev({ eventType: 'transfer', amount: '0.5', currency: 'USD', timestamp: at(4) }),
  ]);
  t.like(r.state.profile, { totalPaymentAmount: '10.0000', totalTransferAmount: '0.5000' });
  t.deepEqual(r.state.profile.totals, { JPY: { payment: '1000.0000', transfer: '2000.0000' }, EUR: { payment: '12.5000', transfer: '0.0000' } });
  const view = toUserView(r.state, config.history, 'USD');
  t.deepEqual(view.profile.totals, {
    USD: { payment: '10.0000', transfer: '0.5000' },
    JPY: { payment: '1000.0000', transfer: '2000.0000' },
    EUR: { payment: '12.5000', transfer: '0.0000' },
  });
  t.like(view.profile, { totalPaymentAmount: '10.0000', totalTransferAmount: '0.5000' });
  t.deepEqual(view.recentEvents.map((e) => [e.amount, e.currency]), [['10.0000', 'USD'], ['1000.0000', 'JPY'], ['12.5000', 'EUR'], ['2000.0000', 'JPY'], ['0.5000', 'USD']]);
  t.deepEqual(upcastState(JSON.parse(JSON.stringify(r.state))), r.state);
});

test('a user who only pays in the default currency keeps no currency table', (t) => {
  const r = play([ev({ amount: '10', timestamp: at(0) }), ev({ eventType: 'login', currency: 'EUR', timestamp: at(1) })]);
  t.false('totals' in r.state.profile);
  t.false('currencies' in r.state.history);
  t.deepEqual(toUserView(r.state).profile.totals, { USD: { payment: '10.0000', transfer: '0.0000' } });
});

test('amount statistics and the amount features are in the default currency', (t) => {
  // A user who always pays about 7 USD, in yen.
  const yen = play(['1000', '1100', '900', '1050', '950'].map((amount, i) => ev({ amount, currency: 'JPY', timestamp: at(i * 60) })));
  const { n, mean } = yen.state.profile.amounts;
  t.is(n, 5);
  t.true(Math.abs(mean - 1000 * JPY) < 1e-9, `mean ${mean}`);
  const deviation = FEATURES.find((f) => f.name === 'amountDeviation')!;
  t.is(deviation.value(yen.state, ev({ amount: '1000', currency: 'JPY', timestamp: at(400) }), config), 0, 'the usual amount in yen is not unusual');
  t.is(deviation.value(yen.state, ev({ amount: '1000', currency: 'USD', timestamp: at(400) }), config), 1, '1000 USD is');
  // Small payments: 1000 yen is below 10 USD, 10 euros is not.
  const burst = play(['1000', '1000', '1000'].map((amount, i) => ev({ amount, currency: 'JPY', timestamp: at(0) + i * 1000 })));
  t.is(smallPaymentsLast10m(burst.state, ev({ amount: '1000', currency: 'JPY', timestamp: at(0) + 5000 }), config), 4);
  t.is(smallPaymentsLast10m(burst.state, ev({ amount: '10', currency: 'EUR', timestamp: at(0) + 5000 }), config), 0);
});

test('hard-rule amount limits are in the default currency', (t) => {
  const checked = validateRules({ ...neutralRules(), hardRules: [{ id: 'big-transfer', when: { eventType: 'transfer', amountAbove: '10000' }, decision: 'BLOCK' }] });
  if (!checked.ok) return t.fail(checked.message);
  const rules: Rules = checked.rules;
  const verdict = (amount: string, currency: string) => accepted(decide(initialState('u-1'), ev({ eventType: 'transfer', amount, currency }), ctx({ rules }))).decision.decision;
  t.is(verdict('1000000', 'JPY'), 'ALLOW', '1,000,000 yen is about 6,700 USD');
  t.is(verdict('10000', 'EUR'), 'BLOCK', '10,000 euros is about 10,800 USD');
  t.is(verdict('10000', 'USD'), 'ALLOW', 'strictly above, exactly in the default currency');
  t.is(verdict('10000.0001', 'USD'), 'BLOCK');
});

test('replay applies the rate the event was decided at, whatever the rate table says later', (t) => {
  const r = play([ev({ amount: '1000', currency: 'JPY', timestamp: at(0) }), ev({ amount: '500', currency: 'JPY', timestamp: at(1) })]);
  const later: DomainConfig = { ...config, fxRates: { ...config.fxRates, JPY: 1 } };
  const replayed = r.journal.reduce<UserState>((s, j) => evolve(s, upcastJournal(JSON.parse(JSON.stringify(j))), later), initialState('u-1'));
  t.deepEqual(replayed, r.state);
});

test(`more than ${MAX_CURRENCIES} currencies in the history: the others are kept with their entry`, (t) => {
  const codes = Object.keys(config.fxRates).filter((c) => c !== 'USD');
  t.true(codes.length > MAX_CURRENCIES);
  const r = play(codes.map((currency, i) => ev({ amount: `${i + 1}`, currency, timestamp: at(i) })));
  t.is(r.state.history.currencies?.length, MAX_CURRENCIES);
  const recovered = upcastState(JSON.parse(JSON.stringify(r.state)));
  t.deepEqual(recovered, r.state);
  t.deepEqual(toUserView(recovered).recentEvents.map((e) => e.currency), codes);
  t.deepEqual(Object.keys(toUserView(recovered).profile.totals!), ['USD', ...codes]);
});
