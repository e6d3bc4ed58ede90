/**
 * Exact money: amounts are decimals with at most 4 places, held as integer minor units of 1e-4
 * (bigint) while computing and as canonical 4-decimal strings ("12.3400") when stored, so totals
 * never pick up binary floating-point error.
 */
const DECIMAL = /^(\d{1,24})(?:\.(\d{1,4}))?$/;
const SCALE = 10_000n;

export type AmountParse = { ok: true; minor: bigint } | { ok: false; message: string };

/** A JSON number or decimal string, >= 0, at most 4 decimals. */
export function parseAmount(value: unknown): AmountParse {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { ok: false, message: 'must be a finite number' };
    if (value < 0) return { ok: false, message: 'must be >= 0' };
    // Every double >= 2^53 is an integer; below that String() gives the shortest exact decimal.
    if (Number.isInteger(value)) return { ok: true, minor: BigInt(value) * SCALE };
    return parseAmount(String(value));
  }
  if (typeof value !== 'string') return { ok: false, message: 'must be a number or a decimal string' };
  if (value.startsWith('-')) return { ok: false, message: 'must be >= 0' };
  const m = DECIMAL.exec(value);
  if (!m) {
    return /^\d+\.\d{5,}$/.test(value) || /e-/i.test(value)
      ? { ok: false, message: 'at most 4 decimals' }
      : { ok: false, message: 'must be a decimal like "12.34" (at most 24 digits before the point, 4 after)' };
  }
  const fraction = (m[2] ?? '').padEnd(4, '0');
  return { ok: true, minor: BigInt(m[1]!) * SCALE + BigInt(fraction) };
}

export function formatMinor(minor: bigint): string {
  const whole = minor / SCALE;
  const fraction = (minor % SCALE).toString().padStart(4, '0');
  return `${whole}.${fraction}`;
}

/** Minor units of a canonical amount string (trusted: produced by formatMinor). */
export function toMinor(amount: string): bigint {
  const dot = amount.indexOf('.');
  return dot < 0 ? BigInt(amount) * SCALE : BigInt(amount.slice(0, dot) + amount.slice(dot + 1).padEnd(4, '0'));
}

export function addAmounts(a: string, b: string): string {
  return formatMinor(toMinor(a) + toMinor(b));
}

export const ZERO_AMOUNT = '0.0000';
