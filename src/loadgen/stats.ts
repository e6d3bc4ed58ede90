/** Figures the demo and the bench report: percentiles and detection quality against the ground truth. */
import { FRAUD_PATTERNS, type FraudPattern } from './generator.ts';
import type { GroundTruth } from './truth.ts';

/** The q-quantile (0..1) of ascending `sorted` values, nearest rank; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export interface DetectionScore {
  /** Events flagged (CHALLENGE or BLOCK). */
  flagged: number;
  fraudEvents: number;
  /** Fraud events that were flagged. */
  truePositives: number;
  /** truePositives / flagged (NaN when nothing was flagged). */
  precision: number;
  /** truePositives / fraudEvents (NaN without fraud events). */
  recall: number;
  byPattern: Record<FraudPattern, { events: number; detected: number }>;
  fraudUsers: number;
  /** Fraud users with at least one flagged event of their pattern. */
  usersDetected: number;
}

/**
 * Precision and recall of flagged events against the truth: a fraud event counts as detected
 * when it was flagged; a flagged event that belongs to no pattern is a false positive.
 */
export function scoreDetection(truth: GroundTruth, flagged: ReadonlySet<string>): DetectionScore {
  const byPattern = Object.fromEntries(FRAUD_PATTERNS.map((p) => [p, { events: 0, detected: 0 }])) as Record<FraudPattern, { events: number; detected: number }>;
  const usersHit = new Set<string>();
  let truePositives = 0;
  const fraudIds = Object.entries(truth.fraudEvents);
  for (const [eventId, pattern] of fraudIds) {
    byPattern[pattern].events++;
    if (flagged.has(eventId)) {
      truePositives++;
      byPattern[pattern].detected++;
      usersHit.add(userOfEvent(eventId));
    }
  }
  return {
    flagged: flagged.size,
    fraudEvents: fraudIds.length,
    truePositives,
    precision: flagged.size ? truePositives / flagged.size : Number.NaN,
    recall: fraudIds.length ? truePositives / fraudIds.length : Number.NaN,
    byPattern,
    fraudUsers: truth.totals.fraudUsers,
    usersDetected: usersHit.size,
  };
}

/** Event ids are `<userId>-<n>` (see the generator). */
function userOfEvent(eventId: string): string {
  return eventId.slice(0, eventId.lastIndexOf('-'));
}
