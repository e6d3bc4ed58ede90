/**
 * Exact money: amounts are decimals with at most 4 places, held as integer minor units of 1e-4
 * (bigint) while computing and as canonical 4-decimal strings ("12.3400") when stored, so totals
 * never pick up binary floating-point error.
 */

/**
 * Digits before the point of an accepted amount, for JSON numbers and strings alike. Bounded so
 * that statistics kept as doubles stay finite (a squared amount is below 1e30), and below 10^15 <
 * 2^53 an integer JSON number is still exact.
 */
export const MAX_AMOUNT_INTEGER_DIGITS = 15;
/** The smallest amount that is refused: 10^15. */
const AMOUNT_LIMIT = 10 ** MAX_AMOUNT_INTEGER_DIGITS;
const DECIMAL = /^(\d{1,15})(?:\.(\d{1,4}))?$/;
const TOO_MANY_DECIMALS = /^\d+\.\d{5,}$|e-/i;
const TOO_MANY_DIGITS = /^\d{16,}(?:\.\d*)?$/;
const SCALE = 10_000n;

export type AmountParse = { ok: true; minor: bigint } | { ok: false; message: string };

const TOO_BIG: AmountParse = { ok: false, message: `at most ${MAX_AMOUNT_INTEGER_DIGITS} digits before the point` };

/** A JSON number or decimal string, >= 0, at most 15 digits before the point and 4 after. */
export function parseAmount(value: unknown): AmountParse {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { ok: false, message: 'must be a finite number' };
    if (value < 0) return { ok: false, message: 'must be >= 0' };
    if (value >= AMOUNT_LIMIT) return TOO_BIG;
    // Below 10^15 < 2^53 an integer double is exact, and String() gives the shortest decimal
    // that reads back as the same double: the value the client wrote, when it had <= 4 decimals.
    if (Number.isInteger(value)) return { ok: true, minor: BigInt(value) * SCALE };
    return parseAmount(String(value));
  }
  if (typeof value !== 'string') return { ok: false, message: 'must be a number or a decimal string' };
  if (value.startsWith('-')) return { ok: false, message: 'must be >= 0' };
  const m = DECIMAL.exec(value);
  if (!m) {
    if (TOO_MANY_DIGITS.test(value)) return TOO_BIG;
    return TOO_MANY_DECIMALS.test(value)
      ? { ok: false, message: 'at most 4 decimals' }
      : { ok: false, message: `must be a decimal like "12.34" (at most ${MAX_AMOUNT_INTEGER_DIGITS} digits before the point, 4 after)` };
  }
  const fraction = (m[2] ?? '').padEnd(4, '0');
  return { ok: true, minor: BigInt(m[1]!) * SCALE + BigInt(fraction) };
}

/**
 * formatMinor(parseAmount(value).minor) as a canonical amount ("12.3400"), or parseAmount's
 * refusal: the same, without BigInt for the amounts that come on every payment (a decimal string
 * of at most 15 + 4 digits, or a JSON number), whose digits are the canonical ones as they are.
 */
export function canonicalAmount(value: unknown): { ok: true; amount: string } | { ok: false; message: string } {
  if (typeof value === 'string') {
    const m = DECIMAL.exec(value);
    // At most 15 digits: Number() reads them exactly and String() writes them without leading zeros.
    if (m) return { ok: true, amount: `${Number(m[1])}.${(m[2] ?? '').padEnd(4, '0')}` };
  } else if (typeof value === 'number' && value >= 0 && value < AMOUNT_LIMIT) {
    // An integer below 10^15 is written as its digits (-0 as "0"); parseAmount reads any other number as its String().
    return Number.isInteger(value) ? { ok: true, amount: `${value}.0000` } : canonicalAmount(String(value));
  }
  const parsed = parseAmount(value);
  return parsed.ok ? { ok: true, amount: formatMinor(parsed.minor) } : parsed;
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

/**
 * toMinor(amount) as a number, read without BigInt (a few times faster) when the amount is
 * canonical; a number that is not a safe integer when the amount's units are beyond 2^53.
 */
export function minorUnits(amount: string): number {
  return CANONICAL.test(amount) ? Number(amount.slice(0, -5) + amount.slice(-4)) : Number(toMinor(amount));
}
const CANONICAL = /^\d+\.\d{4}$/;

export function addAmounts(a: string, b: string): string {
  // In numbers while the sum is exact in a double (below 2^53 units: totals up to 900 billion), which they almost always are.
  if (CANONICAL.test(a) && CANONICAL.test(b)) {
    const sum = minorUnits(a) + minorUnits(b);
    if (Number.isSafeInteger(sum)) return formatUnits(sum);
  }
  return formatMinor(toMinor(a) + toMinor(b));
}

/** formatMinor for a safe integer number of units >= 0. */
function formatUnits(units: number): string {
  const fraction = units % 10_000;
  return `${(units - fraction) / 10_000}.${String(fraction).padStart(4, '0')}`;
}

export const ZERO_AMOUNT = '0.0000';
