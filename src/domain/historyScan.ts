/**
 * What the features count in a user's history for one event, gathered in one pass over it.
 * Each feature used to walk the history itself, nine walks per event, the largest part of
 * deciding; the features (features.ts) now read this instead, and mean what they meant.
 *
 * Time is event time, and "in the last hour" means (t - 1 h, t] for the event's time t: a late
 * event sees what it would have seen on time, and entries later than it do not count.
 */
import type { RiskEvent } from './event.ts';
import { deviceAt, failedLoginAt, hasCountryAt, historyLength, kindAt, timeAt, type History } from './history.ts';
import type { UserState } from './state.ts';

export const MINUTE = 60_000;
export const HOUR = 3_600_000;

export interface HistoryScan {
  /** History entries of the event's kind in the last minute, 5 minutes and hour (the event itself not included). */
  kindLastMinute: number;
  kindLast5Minutes: number;
  kindLastHour: number;
  /** History logins in the last hour. */
  loginsLastHour: number;
  /** Failed logins in (the latest successful login at or before t, t], the event not included. */
  failedLoginsBefore: number;
  /** Distinct devices in the last hour, the event's included. */
  devicesLastHour: number;
  /** The entry nearest in event time, or -1; on a tie, the latest to arrive. */
  nearest: number;
  /** The same among the entries with a country. */
  nearestWithCountry: number;
}

export function scanHistory(state: UserState, event: RiskEvent): HistoryScan {
  const h = state.history;
  const t = event.timestamp;
  const { lastLoginSuccessAt: last, failedLoginStreak: sinceLast } = state.profile;
  // A success later than t is known only for an event that arrives late: then the streak is counted from the history.
  const successAfter = last !== null && last > t;
  let kindLastMinute = 0;
  let kindLast5Minutes = 0;
  let kindLastHour = 0;
  let loginsLastHour = 0;
  let failedLater = 0;
  let since = -Infinity;
  let nearest = -1;
  let nearestMs = Infinity;
  let nearestWithCountry = -1;
  let nearestWithCountryMs = Infinity;
  const devices: string[] = event.deviceId === null ? [] : [event.deviceId];
  for (let i = 0; i < historyLength(h); i++) {
    const at = timeAt(h, i);
    const ms = Math.abs(t - at);
    // `<=`: of equally near entries, the later one in the history (the latest to arrive) wins.
    if (ms <= nearestMs) {
      nearest = i;
      nearestMs = ms;
    }
    if (ms <= nearestWithCountryMs && hasCountryAt(h, i)) {
      nearestWithCountry = i;
      nearestWithCountryMs = ms;
    }
    const failed = failedLoginAt(h, i);
    if (at > t) {
      if (failed) failedLater++;
      continue;
    }
    const kind = kindAt(h, i);
    if (successAfter && kind === 'login' && !failed && at > since) since = at;
    if (at <= t - HOUR) continue;
    if (kind === event.kind) {
      kindLastHour++;
      if (at > t - 5 * MINUTE) kindLast5Minutes++;
      if (at > t - MINUTE) kindLastMinute++;
    }
    if (kind === 'login') loginsLastHour++;
    const device = deviceAt(h, i);
    if (device !== null && !devices.includes(device)) devices.push(device);
  }
  // The profile counts every failure since the latest success, also those beyond the history: less the ones later than t (recent, so in the history).
  const failedLoginsBefore = successAfter ? failedLoginsIn(h, since, t) : sinceLast === 0 ? 0 : Math.max(0, sinceLast - failedLater);
  return { kindLastMinute, kindLast5Minutes, kindLastHour, loginsLastHour, failedLoginsBefore, devicesLastHour: devices.length, nearest, nearestWithCountry };
}

/** Failed logins in (from, to] of event time. */
function failedLoginsIn(h: History, from: number, to: number): number {
  let n = 0;
  for (let i = 0; i < historyLength(h); i++) {
    const at = timeAt(h, i);
    if (at > from && at <= to && failedLoginAt(h, i)) n++;
  }
  return n;
}

