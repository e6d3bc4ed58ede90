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
 *
 * Every object is closed (an unknown or misspelt field is refused, at every level) and every list,
 * string and number is bounded (RULES_LIMITS), so that a rules object cannot make each decision
 * arbitrarily slow or its scores meaningless.
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

/** The bounds of a rules object, named here so that the README can quote them. */
export const RULES_LIMITS = {
  /** Entries of any list: hardRules, when.eventType, when.countryIn. */
  listEntries: 1000,
  /** |weight| and |bias|: sigmoid(±100) is 0 or 1 to the last bit already. */
  weightAbs: 100,
  /** Characters of modelVersion, a hard rule's id and an eventType. */
  nameChars: 64,
  /** Characters of a country in countryIn, as for an event's country. */
  countryChars: 256,
  countInLastMinuteAbove: 1_000_000,
} as const;

const text = (max: number) => z.string().min(1).max(max);
const list = <T extends z.ZodType>(item: T) => z.array(item).min(1).max(RULES_LIMITS.listEntries);
const score = z.number().min(0).max(1);
const weight = z.number().min(-RULES_LIMITS.weightAbs).max(RULES_LIMITS.weightAbs);

const when = z
  .strictObject({
    eventType: z.union([text(RULES_LIMITS.nameChars), list(text(RULES_LIMITS.nameChars))]).optional(),
    amountAbove: amount.optional(),
    amountBelow: amount.optional(),
    countryIn: list(text(RULES_LIMITS.countryChars)).optional(),
    newDevice: z.boolean().optional(),
    newCountry: z.boolean().optional(),
    countInLastMinuteAbove: z.number().int().min(0).max(RULES_LIMITS.countInLastMinuteAbove).optional(),
    upstreamRiskAbove: score.optional(),
  })
  .refine((w) => Object.keys(w).length > 0, { message: 'needs at least one condition' });

const rulesSchema = z
  .strictObject({
    // PUT /rules ignores the version it is given (the admin API bumps it), so it may be left out.
    rulesVersion: z.number().int().min(0).default(1),
    modelVersion: text(RULES_LIMITS.nameChars),
    // 0 < challenge < block <= 1: a score is in (0, 1), so each verdict stays reachable.
    thresholds: z.strictObject({ block: score.gt(0), challenge: score.gt(0).lt(1) }),
    weights: z.record(z.string().max(RULES_LIMITS.nameChars), weight),
    bias: weight,
    hardRules: z
      .array(z.strictObject({ id: text(RULES_LIMITS.nameChars), when, decision: z.enum(['BLOCK', 'CHALLENGE']) }))
      .max(RULES_LIMITS.listEntries)
      .default([]),
  })
  .superRefine((r, ctx) => {
    if (r.thresholds.challenge >= r.thresholds.block) {
      ctx.addIssue({ code: 'custom', path: ['thresholds', 'challenge'], message: 'must be below thresholds.block' });
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
  // zod's own message repeats the key, which the field name already shows (cut short).
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) {
    path.push(issue.keys[0]);
    return { ok: false, field: fieldName(path), message: 'unknown field' };
  }
  return { ok: false, field: fieldName(path) || 'rules', message: issue.message };
}

/** ["hardRules", 2, "when", "amountAbove"] -> "hardRules[2].when.amountAbove" */
export function fieldName(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${shortKey(p)}` : shortKey(p)), '');
}

/** A key from the client, cut so that an error message stays short. */
const shortKey = (p: PropertyKey): string => {
  const s = String(p);
  return s.length > RULES_LIMITS.nameChars ? `${s.slice(0, RULES_LIMITS.nameChars)}...` : s;
};
