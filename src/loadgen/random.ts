/**
 * Seeded randomness for the load generator: mulberry32 (small, fast, good enough for traffic),
 * and a mixer that derives an independent stream per user from (seed, user index), so that a
 * user's timeline does not depend on how many other users there are or in which order they run.
 */

export type Random = () => number;

/** mulberry32: a 32-bit seeded generator of floats in [0, 1). */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** murmur3's finaliser: spreads the bits of a 32-bit value. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A seed for stream `index` of `seed` (different streams are uncorrelated). */
export function deriveSeed(seed: number, index: number): number {
  return fmix32((fmix32(seed >>> 0) ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
}

/** An integer in [lo, hi], both included. */
export const intBetween = (rnd: Random, lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));

/** A float in [lo, hi). */
export const between = (rnd: Random, lo: number, hi: number): number => lo + rnd() * (hi - lo);

export function pick<T>(rnd: Random, items: readonly T[]): T {
  if (items.length === 0) throw new RangeError('pick from an empty list');
  return items[Math.floor(rnd() * items.length)]!;
}

/** Weighted choice: `weights[i]` is the relative weight of `items[i]`. */
export function pickWeighted<T>(rnd: Random, items: readonly T[], weights: readonly number[]): T {
  let total = 0;
  for (const w of weights) total += w;
  let x = rnd() * total;
  for (let i = 0; i < items.length; i++) {
    x -= weights[i] ?? 0;
    if (x < 0) return items[i]!;
  }
  return items[items.length - 1]!;
}

/** A standard normal variate (Box-Muller). */
export function gaussian(rnd: Random): number {
  const u = 1 - rnd(); // (0, 1]: log(0) is avoided
  const v = rnd();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** 8 hex characters. */
export const hex8 = (rnd: Random): string => Math.floor(rnd() * 4294967296).toString(16).padStart(8, '0');
