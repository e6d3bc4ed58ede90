/**
 * Reading stored states (snapshots) and journal events of any schema version into the current
 * one. Only version 1 exists: it is validated, so a corrupt or foreign record fails loudly at
 * recovery instead of deciding events on a broken state.
 */
import { z } from 'zod';
import type { JournalEvent } from './journal.ts';
import { fieldName } from './rules.ts';
import type { UserState } from './state.ts';

const int = z.number().int();
const nonNeg = int.min(0);
const kind = z.enum(['login', 'payment', 'transfer', 'other']);
const amount = z.string().regex(/^\d+\.\d{4}$/);
const nullableText = z.string().nullable();
const known = z.object({ id: z.string(), firstSeen: int });

const reason = z.object({ code: z.string(), weight: z.number(), detail: z.string() });
const verdict = z.enum(['ALLOW', 'CHALLENGE', 'BLOCK']);
const decisionFields = {
  eventId: z.string(),
  eventType: z.string(),
  decision: verdict,
  riskScore: z.number(),
  reasons: z.array(reason),
  modelVersion: z.string(),
  rulesVersion: z.number(),
  eventTimestamp: int,
  decidedAt: z.number(),
  shard: int,
  traceId: nullableText,
};
const aggregate = z.object({
  userId: z.string(),
  windowStart: int,
  windowEnd: int,
  eventCount: nonNeg,
  totalRiskScore: z.number(),
  avgRiskScore: z.number(),
  maxRiskScore: z.number(),
  firstEventTime: int,
  lastEventTime: int,
});

const stateV1 = z.object({
  schemaVersion: z.literal(1),
  userId: z.string(),
  sequenceNumber: nonNeg,
  profile: z.object({
    eventCount: nonNeg,
    loginCount: nonNeg,
    paymentCount: nonNeg,
    transferCount: nonNeg,
    otherCount: nonNeg,
    totalPaymentAmount: amount,
    totalTransferAmount: amount,
    devices: z.array(known),
    countries: z.array(known),
    firstEventTime: int.nullable(),
    lastEventTime: int.nullable(),
    amounts: z.object({ n: nonNeg, mean: z.number(), m2: z.number() }),
    hours: z.array(nonNeg).length(24),
    failedLoginStreak: nonNeg,
  }),
  recentEvents: z.array(
    z.object({ eventId: z.string(), t: int, kind, amount: amount.nullable(), deviceId: nullableText, country: nullableText, failedLogin: z.boolean() }),
  ),
  decisions: z.array(z.object({ ...decisionFields, source: nullableText, closed: z.array(aggregate) })),
  seen: z.object({ eventIds: z.array(nonNeg), offsets: z.record(z.string(), z.string().regex(/^\d+$/)) }),
  windows: z.object({
    open: z.array(
      z.object({ start: int, end: int, eventCount: nonNeg, riskUnits: nonNeg, maxRiskScore: z.number(), firstEventTime: int, lastEventTime: int }),
    ),
    maxEventTime: int.nullable(),
    closedThrough: int.nullable(),
    lateEvents: nonNeg,
    lastSeenAt: z.number().nullable(),
  }),
}) satisfies z.ZodType<UserState>;

const journalV1 = z.discriminatedUnion('type', [
  z.object({
    v: z.literal(1),
    type: z.literal('accepted'),
    event: z.object({
      kind,
      amount: amount.nullable(),
      deviceId: nullableText,
      country: nullableText,
      failedLogin: z.boolean(),
      source: nullableText,
      offset: z.string().regex(/^\d+$/).nullable(),
    }),
    decision: z.object({ ...decisionFields, userId: z.string() }),
    window: z.object({ start: int, end: int }).nullable(),
    closed: z.array(aggregate),
  }),
  z.object({ v: z.literal(1), type: z.literal('idleClosed'), at: z.number(), closed: z.array(aggregate) }),
]) satisfies z.ZodType<JournalEvent>;

function check<T>(what: string, schema: z.ZodType<T>, raw: unknown): T {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new Error(`${what}: ${fieldName(issue.path) || '(root)'}: ${issue.message}`);
}

export function upcastState(raw: unknown): UserState {
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (version !== 1) throw new Error(`stored user state: unknown schemaVersion ${JSON.stringify(version)}`);
  return check('stored user state', stateV1, raw);
}

export function upcastJournal(raw: unknown): JournalEvent {
  const version = (raw as { v?: unknown } | null)?.v;
  if (version !== 1) throw new Error(`journal event: unknown version ${JSON.stringify(version)}`);
  return check('journal event', journalV1, raw);
}
