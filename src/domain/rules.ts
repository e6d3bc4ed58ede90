/**
 * The rules object (CONTRACT §5): model weights, thresholds and hard rules. Validated as a whole
 * because it arrives from a file at start and from PUT /rules at run time, and a bad one must be
 * refused with the exact field (e.g. "hardRules[2].when.amountAbove") before it decides anything.
 *
 * Hard-rule conditions (`when`): all given conditions must hold (AND); at least one is required.
 *   eventType               string | string[]   the eventType is (one of) these; "other" also matches
 *                                                every type the engine does not understand
 *   amountAbove             amount              the event has an amount strictly above this
 *   amountBelow             amount              the event has an amount strictly below this
 *   countryIn               string[]            the event's country is one of these (case-insensitive)
 *   newDevice               boolean             the device is (true) / is not (false) new for a user with known devices
 *   newCountry              boolean             likewise for the country
 *   countInLastMinuteAbove  integer >= 0        more than N events of the event's kind in the last
 *                                                minute of event time, this one included
 *   upstreamRiskAbove       number 0..1         the upstream riskScore is strictly above this
 * Amounts are JSON numbers or decimal strings (at most 4 decimals) and are compared exactly.
 */
import { z } from 'zod';
import { FEATURE_NAMES } from './features.ts';
import { formatMinor, parseAmount } from './money.ts';

export interface HardRuleWhen {
  eventType?: string | string[];
  /** Canonical 4-decimal strings after validation. */
  amountAbove?: string;
  amountBelow?: string;
  countryIn?: string[];
  newDevice?: boolean;
  newCountry?: boolean;
  countInLastMinuteAbove?: number;
  upstreamRiskAbove?: number;
}

export interface HardRule {
  id: string;
  when: HardRuleWhen;
  decision: 'BLOCK' | 'CHALLENGE';
}

export interface Rules {
  rulesVersion: number;
  modelVersion: string;
  thresholds: { block: number; challenge: number };
  /** Feature name -> weight; a feature without a weight does not count. */
  weights: Record<string, number>;
  bias: number;
  hardRules: HardRule[];
}

const amount = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const parsed = parseAmount(v);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: `amount ${parsed.message}` });
    return z.NEVER;
  }
  return formatMinor(parsed.minor);
});

const text = (max: number) => z.string().min(1).max(max);
const score = z.number().min(0).max(1);

const when = z
  .strictObject({
    eventType: z.union([text(64), z.array(text(64)).min(1)]).optional(),
    amountAbove: amount.optional(),
    amountBelow: amount.optional(),
    countryIn: z.array(text(256)).min(1).optional(),
    newDevice: z.boolean().optional(),
    newCountry: z.boolean().optional(),
    countInLastMinuteAbove: z.number().int().min(0).optional(),
    upstreamRiskAbove: score.optional(),
  })
  .refine((w) => Object.keys(w).length > 0, { message: 'needs at least one condition' });

const rulesSchema = z
  .looseObject({
    // PUT /rules ignores the version it is given (the admin API bumps it), so it may be left out.
    rulesVersion: z.number().int().min(0).default(1),
    modelVersion: text(64),
    thresholds: z.strictObject({ block: score, challenge: score }),
    weights: z.record(z.string(), z.number()),
    bias: z.number(),
    hardRules: z.array(z.strictObject({ id: text(64), when, decision: z.enum(['BLOCK', 'CHALLENGE']) })).default([]),
  })
  .superRefine((r, ctx) => {
    if (r.thresholds.challenge > r.thresholds.block) {
      ctx.addIssue({ code: 'custom', path: ['thresholds', 'challenge'], message: 'must not be above thresholds.block' });
    }
    for (const name of Object.keys(r.weights)) {
      if (!FEATURE_NAMES.includes(name)) {
        ctx.addIssue({ code: 'custom', path: ['weights', name], message: `unknown feature; known: ${FEATURE_NAMES.join(', ')}` });
      }
    }
    const ids = new Set<string>();
    r.hardRules.forEach((rule, i) => {
      if (ids.has(rule.id)) ctx.addIssue({ code: 'custom', path: ['hardRules', i, 'id'], message: `duplicate id "${rule.id}"` });
      ids.add(rule.id);
    });
  });

export type RulesValidation = { ok: true; rules: Rules } | { ok: false; field: string; message: string };

export function validateRules(input: unknown): RulesValidation {
  const result = rulesSchema.safeParse(input);
  if (result.success) return { ok: true, rules: result.data as Rules };
  const issue = result.error.issues[0]!;
  const path = [...issue.path];
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) path.push(issue.keys[0]);
  return { ok: false, field: fieldName(path) || 'rules', message: issue.message };
}

/** ["hardRules", 2, "when", "amountAbove"] -> "hardRules[2].when.amountAbove" */
export function fieldName(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}
