/**
 * Shared pieces of the disruptive tests: ground truth from a list of events, state comparison,
 * bounded polling of /readyz and /metrics (states without an event to await), bounded waits,
 * a committed-decision counter, CPU burners.
 */
import type { UserTruth } from '../../src/loadgen/truth.ts';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GenEvent, Truth } from '../integration/helpers/workload.ts';
import type { ChildEngine } from '../integration/helpers/child.ts';
import { orphanGuard } from '../integration/helpers/services.ts';
import { money } from '../integration/helpers/workload.ts';

/** Per-user truth of a list of distinct events (same shape as workload.ts's). */
export function truthOf(events: readonly GenEvent[]): Map<string, Truth> {
  const truth = new Map<string, Truth>();
  const minor = (amount: string | undefined) => {
    const [whole, frac = ''] = (amount ?? '0').split('.');
    return BigInt(whole!) * 10_000n + BigInt(frac.padEnd(4, '0'));
  };
  for (const e of events) {
    const t = truth.get(e.userId) ?? { eventCount: 0, loginCount: 0, paymentCount: 0, transferCount: 0, paymentMinor: 0n, transferMinor: 0n };
    t.eventCount++;
    if (e.eventType === 'login') t.loginCount++;
    if (e.eventType === 'payment') (t.paymentCount++, (t.paymentMinor += minor(e.amount)));
    if (e.eventType === 'transfer') (t.transferCount++, (t.transferMinor += minor(e.amount)));
    truth.set(e.userId, t);
  }
  return truth;
}

/** The profile fields a ground truth fixes. */
export type ProfileLike = Omit<UserTruth, 'fraudPattern'>;

/**
 * Compares every user's profile with the truth; returns one line per user that differs (or is
 * missing). `stateOf` returns the profile, or null for an unknown user.
 */
export async function stateMismatches(
  truth: Map<string, Truth>,
  stateOf: (userId: string) => Promise<ProfileLike | null | undefined>,
): Promise<string[]> {
  const out: string[] = [];
  for (const [userId, want] of truth) {
    const p = await stateOf(userId);
    const expected = {
      eventCount: want.eventCount,
      loginCount: want.loginCount,
      paymentCount: want.paymentCount,
      transferCount: want.transferCount,
      totalPaymentAmount: money(want.paymentMinor),
      totalTransferAmount: money(want.transferMinor),
    };
    const got = p
      ? {
          eventCount: p.eventCount,
          loginCount: p.loginCount,
          paymentCount: p.paymentCount,
          transferCount: p.transferCount,
          totalPaymentAmount: p.totalPaymentAmount,
          totalTransferAmount: p.totalTransferAmount,
        }
      : null;
    if (JSON.stringify(got) !== JSON.stringify(expected)) out.push(`${userId}: got ${JSON.stringify(got)} want ${JSON.stringify(expected)}`);
  }
  return out;
}

/** GET /users/:id of an admin API: the profile, or null on 404. */
export async function profileOverHttp(adminUrl: string, userId: string): Promise<ProfileLike | null> {
  const res = await fetch(`${adminUrl}/users/${encodeURIComponent(userId)}`);
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`GET /users/${userId}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { profile: ProfileLike }).profile;
}

export interface Readiness {
  status: number;
  reasons: string[];
}

export async function readiness(adminUrl: string): Promise<Readiness> {
  const res = await fetch(`${adminUrl}/readyz`);
  const body = (await res.json().catch(() => ({}))) as { reasons?: string[] };
  return { status: res.status, reasons: body.reasons ?? [] };
}

export { pollUntil } from '../integration/helpers/harness.ts';

/** Sum of a Prometheus counter/gauge over all label sets (or those matching `labels`). */
export function metricSum(text: string, name: string, labels?: RegExp): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/);
    if (!m || m[1] !== name) continue;
    if (labels && !labels.test(m[2] ?? '')) continue;
    sum += Number(m[3]);
  }
  return sum;
}

export async function metricsText(adminUrl: string): Promise<string> {
  return (await fetch(`${adminUrl}/metrics`)).text();
}

/** Splits `events` at the given fractions: [0.3, 0.7] gives three bursts. */
export function bursts<T>(events: readonly T[], cuts: readonly number[]): T[][] {
  const at = [0, ...cuts.map((c) => Math.round(events.length * c)), events.length];
  return at.slice(1).map((end, i) => events.slice(at[i], end));
}

/** Counts the values of a list by key; returns the keys seen more than once. */
export function repeated<T>(items: readonly T[], key: (x: T) => string): string[] {
  const n = new Map<string, number>();
  for (const x of items) n.set(key(x), (n.get(key(x)) ?? 0) + 1);
  return [...n].filter(([, c]) => c > 1).map(([k, c]) => `${k} x${c}`);
}

/** eventIds of `events` without a decision, first ten. */
export function missingDecisions(events: readonly { eventId: string }[], decisions: readonly { eventId: string }[]): string[] {
  const decided = new Set(decisions.map((d) => d.eventId));
  return events.filter((e) => !decided.has(e.eventId)).map((e) => e.eventId);
}

/**
 * For users whose state differs from the truth: which of their events the state does not hold
 * (from `recentEvents`, so only for users with no more events than the history keeps).
 */
export async function explainMismatches(
  mismatches: readonly string[],
  events: readonly { eventId: string; userId: string }[],
  recentEventIds: (userId: string) => Promise<string[] | null>,
  limit = 5,
): Promise<string[]> {
  const out: string[] = [];
  for (const line of mismatches.slice(0, limit)) {
    const userId = line.slice(0, line.indexOf(':'));
    const have = await recentEventIds(userId);
    const mine = events.filter((e) => e.userId === userId);
    if (!have || mine.length > have.length + 1) {
      out.push(`${userId}: ${mine.length} events, cannot tell which are missing from the recent history`);
      continue;
    }
    const held = new Set(have);
    const extra = have.filter((id) => !mine.some((e) => e.eventId === id));
    out.push(`${userId}: not in state ${JSON.stringify(mine.filter((e) => !held.has(e.eventId)).map((e) => e.eventId))}${extra.length ? `, unknown ${JSON.stringify(extra)}` : ''}`);
  }
  return out;
}

/** Writes a failed test's engine log to a temp file and says where (stderr, not the test log). */
export function dumpLog(name: string, lines: readonly string[]): void {
  const file = join(tmpdir(), `risk-disruptive-${name}.log`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  process.stderr.write(`engine log of the failed test: ${file} (${lines.length} lines)\n`);
}

/** One line about the events decided more than once: how many, on which shards, decided when. */
export function describeDuplicates(decisions: readonly { eventId: string; shard?: number; decidedAt?: number }[]): string | null {
  const seen = new Map<string, { shard?: number; decidedAt?: number }[]>();
  for (const d of decisions) seen.set(d.eventId, [...(seen.get(d.eventId) ?? []), d]);
  const dup = [...seen].filter(([, ds]) => ds.length > 1);
  if (dup.length === 0) return null;
  const shards = [...new Set(dup.map(([, ds]) => ds[0]!.shard))].sort();
  const sameDecision = dup.filter(([, ds]) => ds.every((d) => d.decidedAt === ds[0]!.decidedAt)).length;
  return `${dup.length} events decided more than once, on shards ${JSON.stringify(shards)}; ${sameDecision} of them the same decision re-emitted (same decidedAt)`;
}

/** Counts committed decisions as they come (read_committed); resolves waiters on thresholds. */
export class DecisionCounter {
  count = 0;
  private waiters: { n: number; resolve(): void }[] = [];
  atLeast(n: number): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
  add(n: number): void {
    this.count += n;
    this.waiters = this.waiters.filter((w) => (this.count >= w.n ? (w.resolve(), false) : true));
  }
}

/** Rejects when `what` takes longer than `ms`, or when the engine exits first. */
export function bounded<T>(what: string, work: Promise<T>, ms: number, engine?: ChildEngine): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  const died = engine
    ? engine.exited.then((e) => Promise.reject(new Error(`the engine exited by itself (${JSON.stringify(e)}) while waiting for ${what}`)))
    : new Promise<never>(() => undefined);
  return Promise.race([work, late, died]).finally(() => clearTimeout(timer));
}


/**
 * Busy loops, `n` child processes (default one per core), as other work on a loaded machine:
 * they compete with the engines for every core until `stop()`. Each is killed with the test
 * process too (orphan guard), never left spinning.
 */
export function burnCpu(n = availableParallelism()): { stop(): void } {
  const burners = Array.from({ length: n }, () => {
    const proc = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
    return { proc, unguard: orphanGuard(proc.pid!) };
  });
  return {
    stop: () => {
      for (const b of burners) {
        b.proc.kill('SIGKILL');
        b.unguard();
      }
    },
  };
}
