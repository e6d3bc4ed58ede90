/**
 * Ground truth of a load: what the engine should end up with per user (counts and exact money
 * totals, the same figures as the user state of CONTRACT §5), and which events belong to a fraud
 * pattern. Built from the events that were actually produced, in the order they were.
 */
import { DEFAULT_DOMAIN_CONFIG } from '../domain/index.ts';
import type { FraudPattern, GeneratedEvent, LoadEvent, ResolvedOptions } from './generator.ts';
import { FRAUD_PATTERNS } from './generator.ts';

export interface UserTruth {
  eventCount: number;
  loginCount: number;
  paymentCount: number;
  transferCount: number;
  /** Exact decimal strings with 4 places, like the engine's profile: of the amounts in the default currency. */
  totalPaymentAmount: string;
  totalTransferAmount: string;
  /** Per currency, the default one first, like the engine's `profile.totals`. */
  totals?: Record<string, { payment: string; transfer: string }>;
  /** The pattern this user's fraud events belong to; null for an ordinary user. */
  fraudPattern: FraudPattern | null;
}

export interface GroundTruth {
  format: 'risk-engine-truth/1';
  options: ResolvedOptions;
  /** False when production stopped before the whole load was sent. */
  complete: boolean;
  totals: {
    events: number;
    users: number;
    logins: number;
    payments: number;
    transfers: number;
    fraudUsers: number;
    fraudEvents: number;
    byPattern: Record<FraudPattern, { users: number; events: number }>;
    firstEventTime: number | null;
    lastEventTime: number | null;
  };
  users: Record<string, UserTruth>;
  /** eventId -> the pattern it belongs to; an event absent here is ordinary activity. */
  fraudEvents: Record<string, FraudPattern>;
}

/** What a user's events add up to, exactly (money in minor units, of the default currency): what a user's state must show. */
export interface TruthCounts {
  eventCount: number;
  loginCount: number;
  paymentCount: number;
  transferCount: number;
  paymentMinor: bigint;
  transferMinor: bigint;
}

interface UserAcc extends TruthCounts {
  fraudPattern: FraudPattern | null;
  /** Minor units per currency other than the default one. */
  other: Map<string, { payment: bigint; transfer: bigint }>;
}

const SCALE = 10_000n;

/** Minor units (1e-4) of a generated amount ("12.34"); throws on anything else. */
export function amountMinor(amount: string): bigint {
  const m = /^(\d+)(?:\.(\d{1,4}))?$/.exec(amount);
  if (!m) throw new RangeError(`not a decimal amount: ${amount}`);
  return BigInt(m[1]!) * SCALE + BigInt((m[2] ?? '').padEnd(4, '0'));
}

export const formatMinor = (minor: bigint): string => `${minor / SCALE}.${(minor % SCALE).toString().padStart(4, '0')}`;

export class TruthBuilder {
  private readonly users = new Map<string, UserAcc>();
  private readonly fraud = new Map<string, FraudPattern>();
  private first: number | null = null;
  private last: number | null = null;
  private count = 0;

  /** `defaultCurrency`: the engine's `domain.defaultCurrency`, whose amounts make its totalPaymentAmount/totalTransferAmount. */
  constructor(
    private readonly options: ResolvedOptions,
    private readonly defaultCurrency: string = DEFAULT_DOMAIN_CONFIG.defaultCurrency,
  ) {}

  get events(): number {
    return this.count;
  }

  add(g: GeneratedEvent): void {
    const e: LoadEvent = g.event;
    let u = this.users.get(e.userId);
    if (!u) {
      u = { eventCount: 0, loginCount: 0, paymentCount: 0, transferCount: 0, paymentMinor: 0n, transferMinor: 0n, fraudPattern: null, other: new Map() };
      this.users.set(e.userId, u);
    }
    u.eventCount++;
    const currency = e.currency ?? this.defaultCurrency;
    const other = currency === this.defaultCurrency ? null : (u.other.get(currency) ?? u.other.set(currency, { payment: 0n, transfer: 0n }).get(currency)!);
    if (e.eventType === 'login') u.loginCount++;
    else if (e.eventType === 'payment') {
      u.paymentCount++;
      if (other) other.payment += amountMinor(e.amount ?? '0');
      else u.paymentMinor += amountMinor(e.amount ?? '0');
    } else {
      u.transferCount++;
      if (other) other.transfer += amountMinor(e.amount ?? '0');
      else u.transferMinor += amountMinor(e.amount ?? '0');
    }
    if (g.pattern) {
      u.fraudPattern = g.pattern;
      this.fraud.set(e.eventId, g.pattern);
    }
    this.first = this.first === null ? e.timestamp : Math.min(this.first, e.timestamp);
    this.last = this.last === null ? e.timestamp : Math.max(this.last, e.timestamp);
    this.count++;
  }

  build(complete: boolean): GroundTruth {
    const users: Record<string, UserTruth> = {};
    const byPattern = Object.fromEntries(FRAUD_PATTERNS.map((p) => [p, { users: 0, events: 0 }])) as Record<FraudPattern, { users: number; events: number }>;
    let logins = 0;
    let payments = 0;
    let transfers = 0;
    let fraudUsers = 0;
    for (const [userId, u] of this.users) {
      users[userId] = {
        eventCount: u.eventCount,
        loginCount: u.loginCount,
        paymentCount: u.paymentCount,
        transferCount: u.transferCount,
        totalPaymentAmount: formatMinor(u.paymentMinor),
        totalTransferAmount: formatMinor(u.transferMinor),
        totals: {
          [this.defaultCurrency]: { payment: formatMinor(u.paymentMinor), transfer: formatMinor(u.transferMinor) },
          ...Object.fromEntries([...u.other].map(([c, m]) => [c, { payment: formatMinor(m.payment), transfer: formatMinor(m.transfer) }])),
        },
        fraudPattern: u.fraudPattern,
      };
      logins += u.loginCount;
      payments += u.paymentCount;
      transfers += u.transferCount;
      if (u.fraudPattern) {
        fraudUsers++;
        byPattern[u.fraudPattern].users++;
      }
    }
    for (const p of this.fraud.values()) byPattern[p].events++;
    return {
      format: 'risk-engine-truth/1',
      options: this.options,
      complete,
      totals: {
        events: this.count,
        users: this.users.size,
        logins,
        payments,
        transfers,
        fraudUsers,
        fraudEvents: this.fraud.size,
        byPattern,
        firstEventTime: this.first,
        lastEventTime: this.last,
      },
      users,
      fraudEvents: Object.fromEntries(this.fraud),
    };
  }
}

/** The truth of a whole in-memory load. */
export function truthOf(options: ResolvedOptions, events: Iterable<GeneratedEvent>): GroundTruth {
  const b = new TruthBuilder(options);
  for (const g of events) b.add(g);
  return b.build(true);
}
