/** The decision record (CONTRACT §2, topic risk-decisions). */
export type Verdict = 'ALLOW' | 'CHALLENGE' | 'BLOCK';

export interface Reason {
  code: string;
  /** The contribution to the score's logit; 1 for reasons that force the verdict (hard rules, escalation). */
  weight: number;
  detail: string;
}

export interface Decision {
  eventId: string;
  userId: string;
  eventType: string;
  decision: Verdict;
  riskScore: number;
  reasons: Reason[];
  modelVersion: string;
  rulesVersion: number;
  eventTimestamp: number;
  decidedAt: number;
  shard: number;
  traceId: string | null;
}

const STRENGTH: Record<Verdict, number> = { ALLOW: 0, CHALLENGE: 1, BLOCK: 2 };

export const stronger = (a: Verdict, b: Verdict): Verdict => (STRENGTH[b] > STRENGTH[a] ? b : a);
