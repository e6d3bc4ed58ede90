/** Option parsers shared by `risk-engine produce` and `risk-engine demo` (commander argParsers). */
import { InvalidArgumentError } from 'commander';
import { COMPRESSIONS, type Compression } from './sinks.ts';

export function integerArg(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value.replace(/_/g, ''));
    if (!/^\d[\d_]*$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expects an integer in ${min}..${max}`);
    }
    return n;
  };
}

export function numberArg(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expects a number in ${min}..${max}`);
    return n;
  };
}

/** `now`, epoch milliseconds, or an ISO-8601 date. */
export function timeArg(value: string): number {
  if (value === 'now') return Date.now();
  if (/^\d+$/.test(value)) return Number(value);
  const t = Date.parse(value);
  if (Number.isNaN(t) || t < 0) throw new InvalidArgumentError('expects "now", epoch milliseconds or an ISO date');
  return t;
}

export function compressionArg(value: string): Compression {
  if (!(COMPRESSIONS as readonly string[]).includes(value)) throw new InvalidArgumentError(`expects one of ${COMPRESSIONS.join(', ')}`);
  return value as Compression;
}

export const formatRate = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
