/**
 * The one-pass scan of the history (historyScan.ts) counts what the features are defined to
 * count: here each count is written the plain way, one walk of the history per count (as the
 * features were before the scan), and compared with the scan on random histories, late events,
 * failed logins and successes arriving out of order included.
 */
import test from 'ava';
import fc from 'fast-check';
import { countryAt, deviceAt, failedLoginAt, historyLength, isKindAt, timeAt } from '../../../src/domain/history.ts';
import { HOUR, MINUTE, scanHistory } from '../../../src/domain/historyScan.ts';
import type { RiskEvent, UserState } from '../../../src/domain/index.ts';
import { ev, neutralRules, play, T0 } from './helpers.ts';

function countWithin(s: UserState, e: RiskEvent, kind: RiskEvent['kind'], windowMs: number): number {
  const h = s.history;
  let n = 0;
  for (let i = 0; i < historyLength(h); i++) {
    const t = timeAt(h, i);
    if (t <= e.timestamp && t > e.timestamp - windowMs && isKindAt(h, i, kind)) n++;
  }
  return n;
}

function failedLoginsBefore(s: UserState, t: number): number {
  const h = s.history;
  const { lastLoginSuccessAt: last, failedLoginStreak: sinceLast } = s.profile;
  if (last === null || last <= t) {
    if (sinceLast === 0) return 0;
    let later = 0;
    for (let i = 0; i < historyLength(h); i++) if (failedLoginAt(h, i) && timeAt(h, i) > t) later++;
    return Math.max(0, sinceLast - later);
  }
  let since = -Infinity;
  for (let i = 0; i < historyLength(h); i++) {
    const at = timeAt(h, i);
    if (at <= t && at > since && isKindAt(h, i, 'login') && !failedLoginAt(h, i)) since = at;
  }
  let n = 0;
  for (let i = 0; i < historyLength(h); i++) {
    const at = timeAt(h, i);
    if (at > since && at <= t && failedLoginAt(h, i)) n++;
  }
  return n;
}

function devicesLastHour(s: UserState, e: RiskEvent): number {
  const h = s.history;
  const devices = new Set<string>();
  if (e.deviceId !== null) devices.add(e.deviceId);
  for (let i = 0; i < historyLength(h); i++) {
    const t = timeAt(h, i);
    const device = deviceAt(h, i);
    if (device !== null && t <= e.timestamp && t > e.timestamp - HOUR) devices.add(device);
  }
  return devices.size;
}

/** Walking back from the latest to arrive, so that on a tie the latest wins. */
function nearestInTime(s: UserState, t: number, when: (i: number) => boolean): number {
  let best = -1;
  let bestMs = Infinity;
  for (let i = historyLength(s.history) - 1; i >= 0; i--) {
    const ms = Math.abs(t - timeAt(s.history, i));
    if (ms < bestMs && when(i)) [best, bestMs] = [i, ms];
  }
  return best;
}

const arbEvent = fc.record({
  type: fc.constantFrom('login', 'payment', 'transfer', 'refund'),
  // On a grid of 30 s within two hours either side: equal times, and times right on a window's edge, are common.
  at: fc.integer({ min: -240, max: 240 }).map((k) => T0 + k * 30_000),
  failed: fc.boolean(),
  device: fc.constantFrom('a', 'b', 'c', 'd', null),
  country: fc.constantFrom('DE', 'FR', null),
});

const toEvent = (x: typeof arbEvent extends fc.Arbitrary<infer T> ? T : never, i: number): RiskEvent =>
  ev({ eventId: `s-${i}`, eventType: x.type, timestamp: x.at, deviceId: x.device, country: x.country, eventData: x.type === 'login' ? { success: !x.failed } : null });

test('the scan counts what the features count, walking the history once', (t) => {
  fc.assert(
    fc.property(fc.array(arbEvent, { maxLength: 70 }), arbEvent, (events, probe) => {
      const state = play(events.map(toEvent), { rules: neutralRules() }).state;
      const e = toEvent(probe, 1000);
      const scan = scanHistory(state, e);
      t.is(scan.kindLastMinute, countWithin(state, e, e.kind, MINUTE));
      t.is(scan.kindLast5Minutes, countWithin(state, e, e.kind, 5 * MINUTE));
      t.is(scan.kindLastHour, countWithin(state, e, e.kind, HOUR));
      t.is(scan.loginsLastHour, countWithin(state, e, 'login', HOUR));
      t.is(scan.failedLoginsBefore, failedLoginsBefore(state, e.timestamp));
      t.is(scan.devicesLastHour, devicesLastHour(state, e));
      t.is(scan.nearest, nearestInTime(state, e.timestamp, () => true));
      t.is(scan.nearestWithCountry, nearestInTime(state, e.timestamp, (i) => countryAt(state.history, i) !== null));
    }),
    { numRuns: 300 },
  );
});
