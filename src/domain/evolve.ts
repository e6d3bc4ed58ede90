/** `evolve`: applies a journal event to the state. Pure; the only place the state changes. */
import type { DomainConfig } from './config.ts';
import { compareOffsets, hashEventId } from './dedupe.ts';
import { utcHour } from './features.ts';
import { amountValue } from './fx.ts';
import type { EventAccepted, JournalEvent } from './journal.ts';
import { addAmounts, ZERO_AMOUNT } from './money.ts';
import { failedLoginAt, historyLength, pushEntry, timeAt, type History } from './history.ts';
import type { CurrencyTotals, Known, Profile, UserState } from './state.ts';
import { applyEvent, applyIdleClose, applyWindowsClosed, applyWindowsEmitted } from './windows.ts';

export function evolve(state: UserState, journal: JournalEvent, config: DomainConfig): UserState {
  switch (journal.type) {
    case 'accepted':
      return applyAccepted(state, journal, config);
    case 'windowsClosed':
      return { ...state, sequenceNumber: state.sequenceNumber + 1, windows: applyWindowsClosed(state.windows, journal.closed) };
    case 'windowsEmitted':
      return { ...state, sequenceNumber: state.sequenceNumber + 1, windows: applyWindowsEmitted(state.windows, journal.windowStarts) };
    case 'idleClosed':
      return { ...state, sequenceNumber: state.sequenceNumber + 1, windows: applyIdleClose(state.windows, journal.closed) };
  }
}

function applyAccepted(state: UserState, j: EventAccepted, config: DomainConfig): UserState {
  const { event: e, decision: d } = j;
  const p = state.profile;
  // A known device or country reuses the profile's string, so the state holds one copy of it.
  const deviceId = e.deviceId === null ? null : knownAs(p.devices, e.deviceId);
  const country = e.country === null ? null : knownAs(p.countries, e.country);
  const max = Math.max(config.history.events, config.history.decisions);
  // EventIds leaving the history are remembered by their hashes, within config.dedupe.eventIds in all.
  const leaving = Math.max(0, historyLength(state.history) + 1 - max);
  // Entries journaled before currencies were kept are in the default currency.
  const currency = e.amount === null || e.currency === undefined || e.currency === config.defaultCurrency ? null : e.currency;
  return {
    schemaVersion: state.schemaVersion,
    userId: state.userId,
    sequenceNumber: state.sequenceNumber + 1,
    profile: nextProfile(p, state.history, j, currency, deviceId, country, config),
    history: pushEntry(
      state.history,
      { kind: e.kind, amount: e.amount, currency, deviceId, country, failedLogin: e.failedLogin, source: e.source, offset: e.offset, decision: d, closed: j.closed },
      max,
    ),
    seen: {
      eventIds: leaving ? pushBounded(state.seen.eventIds, state.history.eventIds.slice(0, leaving).map(hashEventId), Math.max(0, config.dedupe.eventIds - max)) : state.seen.eventIds,
      offsets: nextOffsets(state.seen.offsets, e.source, e.offset),
    },
    windows: applyEvent(state.windows, d.eventTimestamp, d.riskScore, j.window, j.closed, d.decidedAt),
  };
}

/** The known item's own string when `id` is known, else `id`. */
function knownAs(known: readonly Known[], id: string): string {
  for (let i = 0; i < known.length; i++) if (known[i]!.id === id) return known[i]!.id;
  return id;
}

/** `currency`: the amount's when it is not the default currency, else null. */
function nextProfile(p: Profile, history: History, j: EventAccepted, currency: string | null, deviceId: string | null, country: string | null, config: DomainConfig): Profile {
  const { kind, amount, failedLogin, rate } = j.event;
  const t = j.decision.eventTimestamp;
  const hours = p.hours.slice();
  const h = utcHour(t);
  hours[h] = (hours[h] ?? 0) + 1;
  const money = amount !== null && (kind === 'payment' || kind === 'transfer');
  const inDefault = money && currency === null;
  // Event time decides which login is the latest success, whatever order they arrive in.
  const last = p.lastLoginSuccessAt;
  const newSuccess = kind === 'login' && !failedLogin && (last === null || t > last);
  const next: Profile = {
    eventCount: p.eventCount + 1,
    loginCount: p.loginCount + (kind === 'login' ? 1 : 0),
    paymentCount: p.paymentCount + (kind === 'payment' ? 1 : 0),
    transferCount: p.transferCount + (kind === 'transfer' ? 1 : 0),
    otherCount: p.otherCount + (kind === 'other' ? 1 : 0),
    totalPaymentAmount: inDefault && kind === 'payment' ? addAmounts(p.totalPaymentAmount, amount) : p.totalPaymentAmount,
    totalTransferAmount: inDefault && kind === 'transfer' ? addAmounts(p.totalTransferAmount, amount) : p.totalTransferAmount,
    devices: deviceId === null ? p.devices : touchLru(p.devices, deviceId, t, config.profile.maxDevices),
    countries: country === null ? p.countries : touchLru(p.countries, country, t, config.profile.maxCountries),
    firstEventTime: p.firstEventTime === null ? t : Math.min(p.firstEventTime, t),
    lastEventTime: p.lastEventTime === null ? t : Math.max(p.lastEventTime, t),
    amounts: money ? welford(p.amounts, amountValue(amount, currency === null ? 1 : (rate ?? 1))) : p.amounts,
    hours,
    // Failures after a new latest success are among those after the previous one.
    failedLoginStreak: newSuccess
      ? p.failedLoginStreak && failedLoginsAfter(history, t)
      : p.failedLoginStreak + (failedLogin && (last === null || t > last) ? 1 : 0),
    lastLoginSuccessAt: newSuccess ? t : last,
  };
  const totals = money && currency !== null ? withTotal(p.totals, currency, kind, amount) : p.totals;
  // Absent rather than undefined, so that the state is the same after a JSON round trip.
  if (totals !== undefined) next.totals = totals;
  return next;
}

/** Failed logins later in event time than t: those that arrived before a late success at t are still in the history. */
function failedLoginsAfter(h: History, t: number): number {
  let n = 0;
  for (let i = 0; i < historyLength(h); i++) if (failedLoginAt(h, i) && timeAt(h, i) > t) n++;
  return n;
}

function withTotal(totals: Record<string, CurrencyTotals> | undefined, currency: string, kind: 'payment' | 'transfer', amount: string): Record<string, CurrencyTotals> {
  const before = totals?.[currency] ?? { payment: ZERO_AMOUNT, transfer: ZERO_AMOUNT };
  const after = kind === 'payment' ? { payment: addAmounts(before.payment, amount), transfer: before.transfer } : { payment: before.payment, transfer: addAmounts(before.transfer, amount) };
  return { ...totals, [currency]: after };
}

function welford(s: Profile['amounts'], x: number): Profile['amounts'] {
  const n = s.n + 1;
  const delta = x - s.mean;
  const mean = s.mean + delta / n;
  return { n, mean, m2: s.m2 + delta * (x - mean) };
}

/** Most recently seen last; the least recently seen falls out beyond `max`. */
function touchLru(items: readonly Known[], id: string, t: number, max: number): Known[] {
  const known = items.find((x) => x.id === id);
  if (known !== undefined && known === items.at(-1) && known.firstSeen <= t && items.length <= max) return items as Known[];
  // concat, not push: exactly sized, which a state held by every live actor is worth.
  const next = items.filter((x) => x !== known).concat([{ id, firstSeen: known === undefined ? t : Math.min(known.firstSeen, t) }]);
  return next.length > max ? next.slice(next.length - max) : next;
}

function pushBounded<T>(items: readonly T[], added: readonly T[], max: number): T[] {
  const next = items.concat(added);
  return next.length > max ? next.slice(next.length - max) : next;
}

function nextOffsets(offsets: Record<string, string>, source: string | null, offset: string | null): Record<string, string> {
  if (source === null || offset === null) return offsets;
  // One lookup: an own key or undefined, as no inherited key of a plain object has a colon in it.
  const last = offsets[source];
  if (last !== undefined && compareOffsets(last, offset) >= 0) return offsets;
  return { ...offsets, [source]: offset };
}
