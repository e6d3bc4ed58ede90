/** Settings of the domain logic (the `domain` section of the service settings). */
export interface DomainConfig {
  history: { events: number; decisions: number };
  /**
   * How many recent eventIds a user remembers to recognise duplicates: the history's own, then
   * 53-bit hashes of older ones (8 bytes each per live actor).
   */
  dedupe: { eventIds: number };
  /** Bounded LRU sets of the devices and countries a user was seen with. */
  profile: { maxDevices: number; maxCountries: number };
  windows: { sizeMs: number; allowedLatenessMs: number; idleCloseMs: number };
  /** The `challenges`-th CHALLENGE within `withinMs` of event time becomes a BLOCK. */
  escalation: { challenges: number; withinMs: number };
  defaultCurrency: string;
  maxRecordBytes: number;
  /** Event times more than this ahead of the engine's clock are refused (SCHEMA). */
  maxClockSkewMs: number;
  /** Units of `defaultCurrency` per unit of each accepted currency: the only currencies accepted. */
  fxRates: Record<string, number>;
  /** An eventType other than login/payment/transfer is accepted and counted as `other`. */
  unknownTypes: 'other';
}

export const DEFAULT_DOMAIN_CONFIG: DomainConfig = {
  history: { events: 50, decisions: 50 },
  dedupe: { eventIds: 250 },
  profile: { maxDevices: 20, maxCountries: 20 },
  windows: { sizeMs: 300_000, allowedLatenessMs: 30_000, idleCloseMs: 60_000 },
  escalation: { challenges: 3, withinMs: 600_000 },
  defaultCurrency: 'USD',
  maxRecordBytes: 65_536,
  maxClockSkewMs: 86_400_000,
  fxRates: { USD: 1, EUR: 1.08, GBP: 1.27, JPY: 0.0067, CNY: 0.138, CHF: 1.13, CAD: 0.73, AUD: 0.66, HKD: 0.128, SGD: 0.75, INR: 0.012 },
  unknownTypes: 'other',
};
