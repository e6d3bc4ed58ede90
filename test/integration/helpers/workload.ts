/**
 * A small deterministic workload with ground truth for integration tests (the CLI's load
 * generator is the full one): users with logins, payments and transfers, plus exact expected
 * per-user counts and money totals.
 */
import { formatMinor } from '../../../src/domain/index.ts';
import { mulberry32 } from '../../../src/loadgen/random.ts';
import type { TruthCounts } from '../../../src/loadgen/truth.ts';

export interface GenEvent {
  eventId: string;
  userId: string;
  eventType: 'login' | 'payment' | 'transfer';
  timestamp: number;
  amount?: string;
  deviceId: string;
  country: string;
}

export type Truth = TruthCounts;

/** The load generator's seeded PRNG, so a failing run can be replayed exactly. */
export const rng = mulberry32;

export function generate(prefix: string, users: number, events: number, seed: number, start = Date.now()): { events: GenEvent[]; truth: Map<string, Truth> } {
  const r = rng(seed);
  const out: GenEvent[] = [];
  const truth = new Map<string, Truth>();
  for (let i = 0; i < events; i++) {
    const u = Math.floor(r() * users);
    const userId = `${prefix}-u${u}`;
    const roll = r();
    const eventType = roll < 0.3 ? 'login' : roll < 0.8 ? 'payment' : 'transfer';
    const minor = BigInt(Math.floor(r() * 2_000_000)); // up to 200.0000, four decimals
    const amount = eventType === 'login' ? undefined : formatMinor(minor);
    const e: GenEvent = { eventId: `${prefix}-e${i}`, userId, eventType, timestamp: start + i * 10, deviceId: `d-${u}`, country: 'DE', ...(amount ? { amount } : {}) };
    out.push(e);
    const t = truth.get(userId) ?? { eventCount: 0, loginCount: 0, paymentCount: 0, transferCount: 0, paymentMinor: 0n, transferMinor: 0n };
    t.eventCount++;
    if (eventType === 'login') t.loginCount++;
    if (eventType === 'payment') (t.paymentCount++, (t.paymentMinor += minor));
    if (eventType === 'transfer') (t.transferCount++, (t.transferMinor += minor));
    truth.set(userId, t);
  }
  return { events: out, truth };
}

/** Exact 4-decimal money strings, as the engine's profile shows them. */
export const money = formatMinor;
