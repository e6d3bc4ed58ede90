/**
 * Every user's state against the ground truth, with enough detail to tell what went wrong when
 * they differ: expected beside actual, where the state came from (live actor or store, which
 * shard and instance), and which of the user's events its recent history lacks or repeats.
 */
import type { GenEvent, Truth } from './workload.ts';
import { money } from './workload.ts';

/** The part of `GET /users/:id` that the comparison reads. */
export interface UserAnswer {
  shard?: number;
  source?: string;
  sequenceNumber?: number;
  profile?: {
    eventCount: number;
    loginCount: number;
    paymentCount: number;
    transferCount: number;
    totalPaymentAmount: string;
    totalTransferAmount: string;
  };
  recentEvents?: { eventId: string; timestamp: number }[];
}

export interface UserDiff {
  userId: string;
  expected: ReturnType<typeof expectedOf>;
  actual: ReturnType<typeof expectedOf> | null;
  /** Where the answer came from: `actor`/`store`, shard, sequence number, instance asked. */
  from: string;
  /** Of the user's events no older than the oldest one its recent history shows: those it lacks. */
  missing: string[];
  /** eventIds the recent history holds more than once. */
  duplicated: string[];
  /** eventIds the recent history holds that are not this user's. */
  unknown: string[];
}

function expectedOf(t: Truth) {
  return {
    eventCount: t.eventCount,
    loginCount: t.loginCount,
    paymentCount: t.paymentCount,
    transferCount: t.transferCount,
    totalPaymentAmount: money(t.paymentMinor),
    totalTransferAmount: money(t.transferMinor),
  };
}

function actualOf(p: NonNullable<UserAnswer['profile']>): ReturnType<typeof expectedOf> {
  const { eventCount, loginCount, paymentCount, transferCount, totalPaymentAmount, totalTransferAmount } = p;
  return { eventCount, loginCount, paymentCount, transferCount, totalPaymentAmount, totalTransferAmount };
}

/**
 * The users whose answer differs from the truth. `answerOf` returns the user's answer (null for
 * a 404) and a label of who answered.
 */
export async function diffAgainstTruth(
  events: readonly GenEvent[],
  truth: ReadonlyMap<string, Truth>,
  answerOf: (userId: string) => Promise<{ answer: UserAnswer | null; by: string }>,
): Promise<UserDiff[]> {
  const byUser = new Map<string, GenEvent[]>();
  for (const e of events) {
    const list = byUser.get(e.userId);
    if (list) list.push(e);
    else byUser.set(e.userId, [e]);
  }
  const out: UserDiff[] = [];
  for (const [userId, want] of truth) {
    const { answer, by } = await answerOf(userId);
    const expected = expectedOf(want);
    const actual = answer?.profile ? actualOf(answer.profile) : null;
    if (JSON.stringify(actual) === JSON.stringify(expected)) continue;
    const recent = answer?.recentEvents ?? [];
    const mine = byUser.get(userId) ?? [];
    const ids = new Set(mine.map((e) => e.eventId));
    const held = new Map<string, number>();
    for (const r of recent) held.set(r.eventId, (held.get(r.eventId) ?? 0) + 1);
    const oldest = recent.length ? Math.min(...recent.map((r) => r.timestamp)) : Number.NEGATIVE_INFINITY;
    out.push({
      userId,
      expected,
      actual,
      from: answer ? `${answer.source} shard ${answer.shard} seq ${answer.sequenceNumber}, asked ${by}` : `404 from ${by}`,
      missing: mine.filter((e) => e.timestamp >= oldest && !held.has(e.eventId)).map((e) => e.eventId),
      duplicated: [...held].filter(([, n]) => n > 1).map(([id, n]) => `${id} x${n}`),
      unknown: [...held.keys()].filter((id) => !ids.has(id)),
    });
  }
  return out;
}

/** One readable block per differing user (the first `limit`), for a test's failure message. */
export function describeDiffs(diffs: readonly UserDiff[], limit = 5): string {
  const lines = diffs.slice(0, limit).map((d) => {
    const fields = Object.keys(d.expected) as (keyof UserDiff['expected'])[];
    const differing = fields.filter((f) => d.actual?.[f] !== d.expected[f]).map((f) => `${f}: expected ${d.expected[f]}, actual ${d.actual ? d.actual[f] : '-'}`);
    return [
      `${d.userId} (${d.from}): ${differing.join('; ')}`,
      `  missing from the recent history: ${JSON.stringify(d.missing)}; duplicated: ${JSON.stringify(d.duplicated)}; not this user's: ${JSON.stringify(d.unknown)}`,
    ].join('\n');
  });
  return `${diffs.length} users differ from the truth${diffs.length > limit ? ` (first ${limit})` : ''}:\n${lines.join('\n')}`;
}

/** `GET /users/:id` of an admin API as an `answerOf` for diffAgainstTruth. */
export function answerOverHttp(adminUrl: string, by: string): (userId: string) => Promise<{ answer: UserAnswer | null; by: string }> {
  return async (userId) => {
    const res = await fetch(`${adminUrl}/users/${encodeURIComponent(userId)}`);
    if (res.status === 404) return { answer: null, by };
    if (!res.ok) throw new Error(`GET /users/${userId} from ${by}: ${res.status} ${await res.text()}`);
    return { answer: (await res.json()) as UserAnswer, by };
  };
}
