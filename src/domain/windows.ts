/**
 * Per-user tumbling windows in event time with allowed lateness. The watermark is the largest
 * event time seen minus the lateness; a window closes once the watermark reaches its end. A user
 * who goes quiet advances no watermark, so once quiet for idleCloseMs of processing time the
 * idle timer closes the windows whose end plus the lateness the engine's clock has passed (the
 * clock standing in for the event time to come), and only those: a window still in progress in
 * event time stays open for the events to come. Closed windows yield one aggregate each
 * (CONTRACT §2, topic risk-aggregates). `decide` plans, the journal records the plan, and
 * `evolve` applies it, so a replay never re-derives windows under different settings.
 */
import type { DomainConfig } from './config.ts';
import type { OpenWindow, Windows } from './state.ts';

/** The empty list of windows, shared by the states without any (frozen: states are never changed in place). */
export const NO_WINDOWS: OpenWindow[] = Object.freeze([]) as unknown as OpenWindow[];

export interface WindowAggregate {
  userId: string;
  windowStart: number;
  windowEnd: number;
  eventCount: number;
  totalRiskScore: number;
  avgRiskScore: number;
  maxRiskScore: number;
  firstEventTime: number;
  lastEventTime: number;
}

export interface Placement {
  start: number;
  end: number;
}

const riskUnits = (riskScore: number): number => Math.round(riskScore * 10_000);

/** The window an event at time t joins, or null when that window has already closed (too late). */
export function placeEvent(w: Windows, t: number, config: DomainConfig): Placement | null {
  const open = w.open.find((o) => o.start <= t && t < o.end);
  if (open) return { start: open.start, end: open.end };
  const start = t - (t % config.windows.sizeMs);
  const end = start + config.windows.sizeMs;
  const watermark = w.maxEventTime === null ? -Infinity : w.maxEventTime - config.windows.allowedLatenessMs;
  return end <= Math.max(watermark, w.closedThrough ?? -Infinity) ? null : { start, end };
}

function addEvent(open: readonly OpenWindow[], at: Placement, t: number, riskScore: number): OpenWindow[] {
  const units = riskUnits(riskScore);
  const current = open.find((o) => o.start === at.start);
  if (current === undefined) {
    const created = { start: at.start, end: at.end, eventCount: 1, riskUnits: units, maxRiskScore: riskScore, firstEventTime: t, lastEventTime: t };
    return withWindow(open, created);
  }
  const updated: OpenWindow = {
    start: current.start,
    end: current.end,
    eventCount: current.eventCount + 1,
    riskUnits: current.riskUnits + units,
    maxRiskScore: Math.max(current.maxRiskScore, riskScore),
    firstEventTime: Math.min(current.firstEventTime, t),
    lastEventTime: Math.max(current.lastEventTime, t),
  };
  return open.map((o) => (o === current ? updated : o));
}

/**
 * `open` (in start order) with `created` in its place: a copy and an insert, where a sort of the
 * copy allocated its own work space for every event that opened a window.
 */
function withWindow(open: readonly OpenWindow[], created: OpenWindow): OpenWindow[] {
  const out: OpenWindow[] = [];
  let placed = false;
  for (const o of open) {
    if (!placed && created.start < o.start) {
      out.push(created);
      placed = true;
    }
    out.push(o);
  }
  if (!placed) out.push(created);
  return out;
}

/** What an accepted event does to the windows: where it goes and which windows it closes. */
export function planEvent(w: Windows, t: number, riskScore: number, config: DomainConfig): { placement: Placement | null; closing: OpenWindow[] } {
  const placement = placeEvent(w, t, config);
  const open = placement ? addEvent(w.open, placement, t, riskScore) : w.open;
  const watermark = Math.max(w.maxEventTime ?? t, t) - config.windows.allowedLatenessMs;
  return { placement, closing: open.filter((o) => o.end <= watermark) };
}

export function applyEvent(
  w: Windows,
  t: number,
  riskScore: number,
  placement: Placement | null,
  closed: readonly WindowAggregate[],
  seenAt: number,
): Windows {
  const open = placement ? addEvent(w.open, placement, t, riskScore) : w.open;
  // applyClose's object and these fields in one: the same keys in the same order, one object fewer.
  return {
    ...w,
    open: openAfter(open, closed),
    closedThrough: closedThroughAfter(w, closed),
    maxEventTime: Math.max(w.maxEventTime ?? t, t),
    lateEvents: w.lateEvents + (placement ? 0 : 1),
    lastSeenAt: seenAt,
  };
}

/** Legacy idle close (journal type `idleClosed`): the windows are closed and were emitted. */
export function applyIdleClose(w: Windows, closed: readonly WindowAggregate[]): Windows {
  return applyClose(w, w.open, closed);
}

/** The idle timer closed these windows: closed from now on, their aggregates pending until committed. */
export function applyWindowsClosed(w: Windows, closed: readonly WindowAggregate[]): Windows {
  const moved = w.open.filter((o) => closed.some((a) => a.windowStart === o.start));
  const pending = moved.length ? [...w.pending, ...moved].sort((a, b) => a.start - b.start) : w.pending;
  return { ...applyClose(w, w.open, closed), pending };
}

/** The aggregates of these pending windows were committed. */
export function applyWindowsEmitted(w: Windows, windowStarts: readonly number[]): Windows {
  const pending = w.pending.filter((o) => !windowStarts.includes(o.start));
  return pending.length === w.pending.length ? w : { ...w, pending: pending.length ? pending : NO_WINDOWS };
}

function applyClose(w: Windows, open: OpenWindow[], closed: readonly WindowAggregate[]): Windows {
  return { ...w, open: openAfter(open, closed), closedThrough: closedThroughAfter(w, closed) };
}

const openAfter = (open: OpenWindow[], closed: readonly WindowAggregate[]): OpenWindow[] =>
  closed.length ? open.filter((o) => !closed.some((a) => a.windowStart === o.start)) : open;

function closedThroughAfter(w: Windows, closed: readonly WindowAggregate[]): number | null {
  let closedThrough = w.closedThrough;
  for (const a of closed) closedThrough = Math.max(closedThrough ?? a.windowEnd, a.windowEnd);
  return closedThrough;
}

/**
 * When the idle timer should fire (processing time): at once while aggregates are pending; else
 * once the user has been quiet idleCloseMs and the clock has passed the earliest open window's
 * end plus the lateness; null when no window is open.
 */
export function idleCloseAt(w: Windows, config: DomainConfig): number | null {
  const { allowedLatenessMs, idleCloseMs } = config.windows;
  if (w.pending.length) return earliestEnd(w.pending) + allowedLatenessMs;
  if (w.open.length === 0 || w.lastSeenAt === null) return null;
  return Math.max(w.lastSeenAt + idleCloseMs, earliestEnd(w.open) + allowedLatenessMs);
}

/** The open windows the idle timer closes at `now` (processing time). */
export function idleDue(w: Windows, now: number, config: DomainConfig): OpenWindow[] {
  const { allowedLatenessMs, idleCloseMs } = config.windows;
  if (w.lastSeenAt === null || now < w.lastSeenAt + idleCloseMs) return NO_WINDOWS;
  return w.open.filter((o) => o.end + allowedLatenessMs <= now);
}

function earliestEnd(windows: readonly OpenWindow[]): number {
  let end = Infinity;
  for (const o of windows) end = Math.min(end, o.end);
  return end;
}

export function toAggregate(userId: string, o: OpenWindow): WindowAggregate {
  return {
    userId,
    windowStart: o.start,
    windowEnd: o.end,
    eventCount: o.eventCount,
    totalRiskScore: o.riskUnits / 10_000,
    avgRiskScore: Math.round(o.riskUnits / o.eventCount) / 10_000,
    maxRiskScore: o.maxRiskScore,
    firstEventTime: o.firstEventTime,
    lastEventTime: o.lastEventTime,
  };
}
