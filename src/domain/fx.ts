/**
 * Amounts in the default currency, for what compares amounts across currencies: the amount
 * statistics and features, and hard-rule amount limits. Floats, for features only: exact money
 * stays per currency (money.ts, the profile's totals).
 */
import type { DomainConfig } from './config.ts';

export type FxConfig = Pick<DomainConfig, 'defaultCurrency' | 'fxRates'>;

/**
 * Units of the default currency per unit of `currency` (null: the default currency). Validation
 * refuses currencies without a rate, so only state journaled under an older rate table can name
 * one; it is then taken at face value rather than refused, as deciding must not fail.
 */
export function rateOf(fx: FxConfig, currency: string | null): number {
  if (currency === null || currency === fx.defaultCurrency || !Object.hasOwn(fx.fxRates, currency)) return 1;
  return fx.fxRates[currency]!;
}

/**
 * Far beyond any real amount (validation allows below 10^15 units, rates up to 10^9), and small
 * enough that the amount statistics stay finite whatever comes: a running sum of 2^53 squared
 * deviations of at most 2 * 10^30 is below 10^77.
 */
export const MAX_AMOUNT_VALUE = 1e30;

/** A canonical amount ("12.3400") times a rate, as a finite float. */
export function amountValue(amount: string, rate: number): number {
  return bounded(Number(amount) * rate);
}

/** At most MAX_AMOUNT_VALUE; also NaN becomes it: an amount the domain did not validate must not poison a statistic. */
export const bounded = (value: number): number => (value <= MAX_AMOUNT_VALUE ? value : MAX_AMOUNT_VALUE);
