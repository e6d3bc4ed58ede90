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
  /**
   * The verdict of the shadow rule set (CONTRACT §8) when one ran beside the live rules; absent
   * otherwise. Last, so that a decision without it serialises as it always did.
   */
  shadow?: ShadowVerdict;
}

/** What a shadow rule set would have decided: it never drives state, alerts or escalation. */
export interface ShadowVerdict {
  rulesVersion: number;
  decision: Verdict;
  riskScore: number;
}

/**
 * The JSON text of a decision, made once per decision object: the same text goes into the
 * decision record, the journal entry and the decision index (three serialisations of the same
 * object per event otherwise). Decisions are never changed once made, so the text stays true.
 */
const texts = new WeakMap<Decision, string>();
export function decisionJson(d: Decision): string {
  let text = texts.get(d);
  if (text === undefined) texts.set(d, (text = JSON.stringify(d)));
  return text;
}

const STRENGTH: Record<Verdict, number> = { ALLOW: 0, CHALLENGE: 1, BLOCK: 2 };

export const stronger = (a: Verdict, b: Verdict): Verdict => (STRENGTH[b] > STRENGTH[a] ? b : a);
