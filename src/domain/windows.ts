/**
 * Per-user tumbling windows in event time with allowed lateness. The watermark is the largest
 * event time seen minus the lateness; a window closes once the watermark reaches its end, or when
 * the user has been quiet for idleCloseMs of processing time. Closed windows yield one aggregate
 * each (CONTRACT §2, topic risk-aggregates). `decide` plans, the journal records the plan, and
 * `evolve` applies it, so a replay never re-derives windows under different settings.
 */
import type { DomainConfig } from './config.ts';
import type { OpenWindow, Windows } from './state.ts';

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
    return [...open, created].sort((a, b) => a.start - b.start);
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
  return {
    ...applyClose(w, open, closed),
    maxEventTime: Math.max(w.maxEventTime ?? t, t),
    lateEvents: w.lateEvents + (placement ? 0 : 1),
    lastSeenAt: seenAt,
  };
}

export function applyIdleClose(w: Windows, closed: readonly WindowAggregate[]): Windows {
  return applyClose(w, w.open, closed);
}

function applyClose(w: Windows, open: OpenWindow[], closed: readonly WindowAggregate[]): Windows {
  let closedThrough = w.closedThrough;
  for (const a of closed) closedThrough = Math.max(closedThrough ?? a.windowEnd, a.windowEnd);
  const remaining = closed.length ? open.filter((o) => !closed.some((a) => a.windowStart === o.start)) : open;
  return { ...w, open: remaining, closedThrough };
}

/** When a quiet user's open windows are due to close by processing time; null when none is open. */
export function idleCloseAt(w: Windows, config: DomainConfig): number | null {
  return w.open.length === 0 || w.lastSeenAt === null ? null : w.lastSeenAt + config.windows.idleCloseMs;
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
