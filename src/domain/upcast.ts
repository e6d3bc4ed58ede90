/**
 * Reading stored states (snapshots) and journal events of any schema version into the current
 * one. Everything is validated, so a corrupt or foreign record fails loudly at recovery instead
 * of deciding events on a broken state; and everything the engine writes is read back. States of
 * schema 1 (recent events and decisions as lists of objects) become schema 2 (one columnar
 * history); journal events have only version 1. Fields added later within a version are optional
 * here and get their neutral value: no currency is the default currency, no pending windows.
 */
import { z } from 'zod';
import { kindOf } from './event.ts';
import { bounded } from './fx.ts';
import { amountValueAt, CHUNK, deviceAt, emptyHistory, historyLength, isKindAt, MAX_CURRENCIES, MAX_STRINGS, pushEntry, STRIDE, type History } from './history.ts';
import type { JournalEvent } from './journal.ts';
import { fieldName } from './rules.ts';
import { STATE_SCHEMA_VERSION, type Profile, type UserState } from './state.ts';
import { NO_WINDOWS } from './windows.ts';

const int = z.number().int();
const nonNeg = int.min(0);
const kind = z.enum(['login', 'payment', 'transfer', 'other']);
const amount = z.string().regex(/^\d+\.\d{4}$/);
const currency = z.string().regex(/^[A-Z]{3}$/);
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

const openWindow = z.object({ start: int, end: int, eventCount: nonNeg, riskUnits: nonNeg, maxRiskScore: z.number(), firstEventTime: int, lastEventTime: int });

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
    totals: z.record(currency, z.object({ payment: amount, transfer: amount }).strict()).optional(),
    // null: a statistic that overflowed in an engine before amounts were bounded (JSON has no Infinity).
    amounts: z.object({ n: nonNeg, mean: z.number().nullable(), m2: z.number().nullable() }),
    hours: z.array(nonNeg).length(24),
    failedLoginStreak: nonNeg,
    lastLoginSuccessAt: int.nullable().optional(),
  }),
  recentEvents: z.array(
    z.object({ eventId: z.string(), t: int, kind, amount: amount.nullable(), deviceId: nullableText, country: nullableText, failedLogin: z.boolean() }),
  ),
  decisions: z.array(z.object({ ...decisionFields, source: nullableText, closed: z.array(aggregate) })),
  seen: z.object({ eventIds: z.array(nonNeg), offsets: z.record(z.string(), z.string().regex(/^\d+$/)) }),
  windows: z.object({
    open: z.array(openWindow),
    pending: z.array(openWindow).optional(),
    maxEventTime: int.nullable(),
    closedThrough: int.nullable(),
    lateEvents: nonNeg,
    lastSeenAt: z.number().nullable(),
  }),
});
type StateV1 = z.infer<typeof stateV1>;

const closedWindow = z.array(z.number()).min(7).max(8);
const extrasJson = z
  .object({
    r: z.array(z.tuple([z.string(), z.number(), z.string()])).optional(),
    c: z.array(closedWindow).optional(),
    t: z.string().optional(),
    a: amount.optional(),
    o: z.string().regex(/^\d+$/).optional(),
    s: z.number().optional(),
    // The shadow verdict: [rulesVersion, verdict index (ALLOW, CHALLENGE, BLOCK), riskScore].
    w: z.tuple([z.number(), int.min(0).max(2), z.number()]).optional(),
    ...Object.fromEntries(['d', 'k', 'p', 'y', 'm', 'v', 'u'].map((k) => [k, z.string().optional()])),
  })
  .strict();
const extras = z.union([
  z.literal(0),
  z.string().refine((s) => {
    try {
      return extrasJson.safeParse(JSON.parse(s)).success;
    } catch {
      return false;
    }
  }, 'not the JSON of history extras'),
]);
const history = z
  .object({
    nums: z.array(z.array(z.number())),
    skip: nonNeg.max(CHUNK - 1),
    eventIds: z.array(z.string()),
    strings: z.array(z.string()).min(1).max(MAX_STRINGS),
    extras: z.array(extras),
    currencies: z.array(currency).min(1).max(MAX_CURRENCIES).optional(),
  })
  .refine(
    (h) => {
      // Every chunk full but the last, which is not empty, and exactly `skip` + entries in all.
      const n = h.skip + h.eventIds.length;
      const full = CHUNK * STRIDE;
      const sizes = h.nums.map((c) => c.length);
      const lastSize = (n - (h.nums.length - 1) * CHUNK) * STRIDE;
      const shaped = h.nums.length === 0 ? n === 0 : sizes.slice(0, -1).every((x) => x === full) && sizes.at(-1) === lastSize && lastSize > 0;
      return shaped && h.extras.length === h.eventIds.length;
    },
    { message: 'columns of different lengths' },
  )

const stateV2 = stateV1
  .omit({ schemaVersion: true, recentEvents: true, decisions: true })
  .extend({ schemaVersion: z.literal(2), history })
  .strict();
type StateV2 = z.infer<typeof stateV2>;

const journalV1 = z.discriminatedUnion('type', [
  z.object({
    v: z.literal(1),
    type: z.literal('accepted'),
    event: z.object({
      kind,
      amount: amount.nullable(),
      currency: currency.optional(),
      rate: z.number().positive().optional(),
      deviceId: nullableText,
      country: nullableText,
      failedLogin: z.boolean(),
      source: nullableText,
      offset: z.string().regex(/^\d+$/).nullable(),
      upstreamRisk: z.number().min(0).max(1).optional(),
    }),
    // A shadow verdict (CONTRACT §8) is optional: kept so that a redelivered decision re-emits it.
    decision: z.object({ ...decisionFields, userId: z.string(), shadow: z.object({ rulesVersion: z.number(), decision: verdict, riskScore: z.number() }).optional() }),
    window: z.object({ start: int, end: int }).nullable(),
    closed: z.array(aggregate),
  }),
  z.object({ v: z.literal(1), type: z.literal('windowsClosed'), at: z.number(), closed: z.array(aggregate) }),
  z.object({ v: z.literal(1), type: z.literal('windowsEmitted'), at: z.number(), windowStarts: z.array(int) }),
  z.object({ v: z.literal(1), type: z.literal('idleClosed'), at: z.number(), closed: z.array(aggregate) }),
]) satisfies z.ZodType<JournalEvent>;

/**
 * `inPlace`: the validated input itself rather than zod's copy. A state lives as long as its
 * actor, and zod builds its arrays by pushing, with up to half again of spare capacity.
 */
function check<T>(what: string, schema: z.ZodType<T>, raw: unknown, inPlace = false): T {
  const result = schema.safeParse(raw);
  if (result.success) return inPlace ? (raw as T) : result.data;
  const issue = result.error.issues[0]!;
  throw new Error(`${what}: ${fieldName(issue.path) || '(root)'}: ${issue.message}`);
}

export function upcastState(raw: unknown): UserState {
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (version === STATE_SCHEMA_VERSION) return current(check('stored user state', stateV2, raw, true));
  if (version === 1) return fromV1(check('stored user state', stateV1, raw));
  throw new Error(`stored user state: unknown schemaVersion ${JSON.stringify(version)}`);
}

/**
 * A stored schema-2 state as evolve keeps it. JSON.parse gives arrays of numbers beyond 2^31 as
 * pointers to boxed numbers (16 bytes each); `map` rebuilds them as arrays of unboxed doubles (8),
 * as evolve's arrays are. Fields added since get their neutral values.
 */
function current(stored: StateV2): UserState {
  const toDouble = (x: number): number => x;
  const history = { ...stored.history, nums: stored.history.nums.map((chunk) => chunk.map(toDouble)) };
  history.strings = tableStrings(history, stored.profile.devices);
  return {
    ...stored,
    profile: profileOf(stored.profile, history),
    history,
    seen: { ...stored.seen, eventIds: stored.seen.eventIds.map(toDouble) },
    windows: { ...stored.windows, pending: stored.windows.pending?.length ? stored.windows.pending : NO_WINDOWS },
  };
}

/**
 * The history's string table with one copy of each string, as evolve keeps it: a device the
 * profile knows is the profile's string. The strings many users hold alike (sources, event types,
 * model and rules versions, countries), which JSON.parse gives every state a copy of (it shares
 * only strings of up to 10 characters), are one copy for all the states recovered.
 */
function tableStrings(h: History, devices: readonly { id: string }[]): string[] {
  const own = new Map(devices.map((d) => [d.id, d.id]));
  for (let i = 0; i < historyLength(h); i++) {
    const device = deviceAt(h, i);
    if (device !== null && !own.has(device)) own.set(device, device);
  }
  return h.strings.map((s, i) => (i === 0 ? s : (own.get(s) ?? sharedString(s))));
}

/**
 * Strings the recovered states share. Bounded: when full it starts over (states keep the copies
 * they have; only later ones get new ones). A cache, not state: what it returns equals its input.
 */
const SHARED_STRINGS = 4096;
let sharedStrings = new Map<string, string>();
function sharedString(s: string): string {
  const known = sharedStrings.get(s);
  if (known !== undefined) return known;
  if (sharedStrings.size >= SHARED_STRINGS) sharedStrings = new Map();
  sharedStrings.set(s, s);
  return s;
}

function profileOf(p: StateV2['profile'], history: History): Profile {
  const { mean, m2 } = p.amounts;
  const amounts = mean === null || m2 === null ? amountsOf(history) : { n: p.amounts.n, mean, m2 };
  return { ...p, amounts, lastLoginSuccessAt: p.lastLoginSuccessAt ?? null };
}

/** The amount statistics rebuilt from the history: all that is left of an overflowed one (written before currencies, so in the default currency). */
function amountsOf(h: History): Profile['amounts'] {
  let n = 0;
  let mean = 0;
  let m2 = 0;
  for (let i = 0; i < historyLength(h); i++) {
    const value = amountValueAt(h, i);
    if (value === null || !(isKindAt(h, i, 'payment') || isKindAt(h, i, 'transfer'))) continue;
    const x = bounded(value);
    n++;
    const delta = x - mean;
    mean += delta / n;
    m2 += delta * (x - mean);
  }
  return { n, mean, m2 };
}

/** Entries are the decisions, each with what the recent events kept of its event (when still there). */
function fromV1(v1: StateV1): UserState {
  const { recentEvents, decisions, ...rest } = v1;
  const events = new Map(recentEvents.map((r) => [r.eventId, r]));
  let h: History = emptyHistory();
  for (const d of decisions) {
    const r = events.get(d.eventId);
    const at = d.source === null ? -1 : d.source.lastIndexOf(':');
    const { source, closed, ...decision } = d;
    h = pushEntry(
      h,
      {
        kind: r?.kind ?? kindOf(d.eventType),
        amount: r?.amount ?? null,
        deviceId: r?.deviceId ?? null,
        country: r?.country ?? null,
        failedLogin: r?.failedLogin ?? false,
        currency: null,
        source: at < 0 ? null : source!.slice(0, at),
        offset: at < 0 ? null : source!.slice(at + 1),
        decision: { ...decision, userId: v1.userId },
        closed,
      },
      decisions.length,
    );
  }
  const { userId, sequenceNumber, profile, seen, windows } = rest;
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    userId,
    sequenceNumber,
    profile: profileOf(profile, h),
    history: h,
    seen,
    windows: { ...windows, pending: windows.pending?.length ? windows.pending : NO_WINDOWS },
  };
}

export function upcastJournal(raw: unknown): JournalEvent {
  const version = (raw as { v?: unknown } | null)?.v;
  if (version !== 1) throw new Error(`journal event: unknown version ${JSON.stringify(version)}`);
  return check('journal event', journalV1, raw);
}
