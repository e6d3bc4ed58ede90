/**
 * Recovery reads back everything the engine wrote, also what older engines wrote: amounts beyond
 * today's bounds, statistics that overflowed, entries from before currencies and pending windows.
 */
import test from 'ava';
import { decide, evolve, initialState, toUserView, upcastJournal, upcastState, type JournalEvent, type UserState } from '../../../src/domain/index.ts';
import { accepted, config, ctx, ev, MIN, play, T0 } from './helpers.ts';

const roundTrip = (state: UserState) => upcastState(JSON.parse(JSON.stringify(state)));

test('journal entries with amounts an older engine accepted (up to 1e308) replay into a finite state that snapshots and recovers', (t) => {
  // Before amounts were bounded, the JSON number 1e300 was accepted and journaled as its 301 digits.
  const huge = `1${'0'.repeat(300)}.0000`;
  const amounts = [huge, '10.0000', huge, '12.5000', '9.0000', huge];
  // `ev` would refuse the amount as validation does: set it as the older engine had it.
  const r = play(amounts.map((amount, i) => ({ ...ev({ timestamp: T0 + i * MIN }), amount })));
  const stored = r.journal.map((j) => JSON.parse(JSON.stringify(j)) as unknown);
  const replayed = stored.reduce<UserState>((s, j) => evolve(s, upcastJournal(j), config), initialState('u-1'));
  const { n, mean, m2 } = replayed.profile.amounts;
  t.is(n, amounts.length);
  t.true(Number.isFinite(mean) && Number.isFinite(m2), `mean ${mean}, m2 ${m2}`);
  t.deepEqual(roundTrip(replayed), replayed);
  t.is(toUserView(roundTrip(replayed)).profile.totalPaymentAmount, toUserView(replayed).profile.totalPaymentAmount);
  const next = accepted(decide(roundTrip(replayed), { ...ev({ timestamp: T0 + 10 * MIN }), amount: huge }, ctx()));
  t.true(Number.isFinite(next.decision.riskScore));
});

test('a snapshot whose amount statistics overflowed (null in JSON) recovers, with the statistics rebuilt from the history', (t) => {
  const r = play(['40', '60', '50'].map((amount, i) => ev({ amount, timestamp: T0 + i * MIN })));
  const stored = JSON.parse(JSON.stringify(r.state));
  stored.profile.amounts = { n: 7, mean: 1e300, m2: null };
  const recovered = upcastState(stored);
  t.is(recovered.profile.amounts.n, 3);
  t.true(Math.abs(recovered.profile.amounts.mean - 50) < 1e-9);
  t.true(Math.abs(recovered.profile.amounts.m2 - 200) < 1e-9);
  t.deepEqual({ ...recovered, profile: { ...recovered.profile, amounts: r.state.profile.amounts } }, r.state);
});

test('entries and snapshots from before currencies, event-time streaks and pending windows read as the default currency and empty', (t) => {
  const r = play([
    ev({ eventType: 'login', eventData: { success: false }, timestamp: T0 }),
    ev({ amount: '12.5', timestamp: T0 + MIN, source: { topic: 'payment-events', partition: 0, offset: '5' } }),
  ]);
  const oldJournal = r.journal.map((j) => {
    const stored = JSON.parse(JSON.stringify(j));
    if (stored.type === 'accepted') delete stored.event.currency;
    return stored as unknown;
  });
  t.false(JSON.stringify(oldJournal).includes('currency'));
  const replayed = oldJournal.reduce<UserState>((s, j) => evolve(s, upcastJournal(j), config), initialState('u-1'));
  t.deepEqual(replayed, r.state, 'an amount without a currency is in the default currency');

  const oldSnapshot = JSON.parse(JSON.stringify(r.state));
  delete oldSnapshot.profile.lastLoginSuccessAt;
  delete oldSnapshot.windows.pending;
  t.deepEqual(upcastState(oldSnapshot), r.state);
  // The idle close an older engine journaled: closed, and emitted as far as it went.
  const legacy: JournalEvent = upcastJournal({ v: 1, type: 'idleClosed', at: T0 + 10 * MIN, closed: [] });
  t.deepEqual(evolve(r.state, legacy, config).windows.pending, []);
});

test('recovery reads back every string of the history tables as it was (it shares them between states and with the profile): a device that is another string too, and past the bound of the shared strings', (t) => {
  // A device that is also another user's source, a country, a model version: every role.
  const events = (userId: string, model: string) =>
    play(
      [
        ev({ userId, eventId: `${userId}-1`, deviceId: 'payment-events:3', country: 'GB', timestamp: T0, source: { topic: 'payment-events', partition: 3, offset: '7' } }),
        ev({ userId, eventId: `${userId}-2`, deviceId: `${userId}-phone`, country: 'FR', timestamp: T0 + MIN, source: { topic: 'login-events', partition: 3, offset: '8' } }),
      ],
      { rules: { ...ctx().rules, modelVersion: model } },
      initialState(userId),
    ).state;
  for (let i = 0; i < 5000; i++) {
    // Distinct model versions: more strings than the shared table keeps, so it starts over on the way.
    const state = events(`user-${i}`, `model-version-${i}`);
    const recovered = roundTrip(state);
    if (i % 250 === 0 || i === 4999) {
      t.deepEqual(recovered, state);
      t.deepEqual(toUserView(recovered), toUserView(state));
    }
  }
});
