/**
 * A deterministic workload for the hot-path golden test (hotPathGolden.test.ts): Kafka records
 * as the engine fetches them, built here rather than by the load generator so that the golden
 * outputs do not move when the load generator changes. It reaches the corners of the hot path
 * that an ordinary load never does: out-of-order and too-late events, duplicates and
 * redeliveries, failed logins, unknown event types, seven foreign currencies (more than a
 * history keeps in its table), amounts and offsets beyond 2^53, a user with ever new devices and
 * countries (the string table fills up and is renumbered), bursts, upstream scores, trace ids,
 * invalid records and idle closes.
 */
import { shardOf } from '../../../src/domain/shardOf.ts';

export const PARTITIONS = 12;
/** 2025-01-06T00:00:00Z. */
export const START = Date.UTC(2025, 0, 6);

export type Step =
  | { kind: 'record'; topic: string; partition: number; offset: string; key: Buffer | null; value: Buffer; traceparent: string | null; shadow: boolean; now: number }
  | { kind: 'idle'; userId: string; now: number };

/**
 * mulberry32: small, seeded, the same numbers everywhere. A copy of the load generator's on
 * purpose: the pinned outputs must not move when the generator changes.
 */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CURRENCIES = ['USD', 'USD', 'USD', 'EUR', 'eur', 'GBP', 'JPY', 'CHF', 'CAD', 'AUD', 'SGD', 'INR'];
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'JP', 'BR', 'KP', 'NG'];
const TYPES = ['login', 'payment', 'payment', 'transfer', 'refund', 'login', 'payment'];

export function workload(steps: number, seed = 11): Step[] {
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const users = [...Array.from({ length: 24 }, (_, i) => `g-${i}`), 'g-hot', 'g-churn'];
  const clock = new Map<string, number>(users.map((u, i) => [u, START + i * 977]));
  const sent = new Map<string, { eventId: string; step: Extract<Step, { kind: 'record' }> }[]>(users.map((u) => [u, []]));
  const offsets = new Map<string, bigint>();
  let now = START;
  let serial = 0;
  const out: Step[] = [];

  const nextOffset = (topic: string, partition: number): string => {
    const key = `${topic}:${partition}`;
    // One topic's offsets pass 2^53, where the history keeps them as text.
    const next = offsets.get(key) ?? (topic === 'bulk-events' ? 9_007_199_254_740_980n : 0n);
    offsets.set(key, next + 1n);
    return String(next);
  };

  for (let s = 0; s < steps; s++) {
    const r = rnd();
    const userId = r < 0.2 ? 'g-hot' : r < 0.27 ? 'g-churn' : pick(users.slice(0, 24));
    const history = sent.get(userId)!;
    now += Math.floor(rnd() * 400);

    if (rnd() < 0.012) {
      out.push({ kind: 'idle', userId, now: now + Math.floor(rnd() * 2 * 3_600_000) });
      continue;
    }
    const again = rnd();
    if (again < 0.02 && history.length > 0) {
      // The same record again (a redelivery), recent or long gone from the history.
      const old = history[Math.floor(rnd() * history.length)]!.step;
      out.push({ ...old, now });
      continue;
    }

    // Gaps of seconds (bursts), minutes, or hours.
    const g = rnd();
    const gap = g < 0.35 ? 500 + rnd() * 5_000 : g < 0.85 ? 30_000 + rnd() * 900_000 : 3_600_000 + rnd() * 20_000_000;
    const t0 = clock.get(userId)! + Math.floor(gap);
    clock.set(userId, t0);
    const late = rnd();
    // Now and then behind the user's clock: a little (out of order), or beyond the windows' lateness.
    const timestamp = late < 0.1 ? t0 - Math.floor(rnd() * 1_200_000) : late < 0.12 ? t0 - 7_200_000 : t0;
    now = Math.max(now, timestamp);

    const churn = userId === 'g-churn';
    const eventType = churn && rnd() < 0.3 ? `odd-${serial % 40}` : pick(TYPES);
    const duplicate = again < 0.04 && history.length > 0;
    const eventId = duplicate ? history[Math.floor(rnd() * history.length)]!.eventId : `${userId}-${++serial}`;
    const event: Record<string, unknown> = {
      eventId,
      userId,
      eventType,
      timestamp,
      currency: pick(CURRENCIES),
      deviceId: churn ? `dev-${serial}` : `${userId}-d${Math.floor(rnd() * 3)}`,
      ip: '10.0.0.1',
      country: churn ? `C${serial % 997}` : rnd() < 0.9 ? COUNTRIES[users.indexOf(userId) % 3] : pick(COUNTRIES),
    };
    if (eventType !== 'login' && (eventType !== 'refund' || rnd() < 0.5)) event['amount'] = amountOf(rnd, pick);
    if (eventType === 'login') {
      const f = rnd();
      if (f < 0.3) event['eventData'] = { success: false };
      else if (f < 0.6) event['eventData'] = { success: true, method: { kind: 'otp', tries: [1, 2] } };
    }
    if (rnd() < 0.15) event['riskScore'] = Math.round(rnd() * 1000) / 1000;
    if (rnd() < 0.05) delete event['deviceId'];
    if (rnd() < 0.05) event['country'] = '';

    const topic = rnd() < 0.05 ? 'bulk-events' : `${eventType}-events`;
    let partition = shardOf(userId, PARTITIONS);
    let value = JSON.stringify(event);
    let key: Buffer | null = Buffer.from(userId);
    const bad = rnd();
    if (bad < 0.004) value = value.slice(0, -3);
    else if (bad < 0.008) partition = (partition + 1) % PARTITIONS;
    else if (bad < 0.01) key = null;
    else if (bad < 0.013) value = JSON.stringify({ ...event, currency: 'XXX' });
    else if (bad < 0.015) value = JSON.stringify({ ...event, timestamp: now + 3 * 86_400_000 });
    const traceparent = rnd() < 0.2 ? `00-${hex(rnd, 32)}-${hex(rnd, 16)}-01` : null;
    const step: Step = { kind: 'record', topic, partition, offset: nextOffset(topic, partition), key, value: Buffer.from(value), traceparent, shadow: rnd() < 0.3, now };
    out.push(step);
    if (!duplicate) history.push({ eventId, step });
  }
  return out;
}

/** Small (card testing), ordinary and large amounts, as strings and numbers; now and then beyond 2^53 minor units. */
function amountOf(rnd: () => number, pick: <T>(xs: readonly T[]) => T): string | number {
  const a = rnd();
  if (a < 0.25) return (0.5 + Math.floor(rnd() * 950) / 100).toFixed(2);
  if (a < 0.8) return Math.round(rnd() * 500_00) / 100;
  if (a < 0.97) return String(Math.floor(1000 + rnd() * 20_000));
  if (a < 0.99) return pick(['123456789012345.6789', '999999999999999.9999', '900719925474.0993']);
  return '0';
}

function hex(rnd: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(rnd() * 16).toString(16);
  return s;
}
