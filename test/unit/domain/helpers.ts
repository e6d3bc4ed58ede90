/** Builders for domain tests: events, rules and a small driver that plays events through decide/evolve. */
import { readFileSync } from 'node:fs';
import {
  DEFAULT_DOMAIN_CONFIG,
  decide,
  evolve,
  formatMinor,
  parseAmount,
  initialState,
  validateRules,
  type DecideContext,
  type DomainConfig,
  type JournalEvent,
  type Outcome,
  type RiskEvent,
  type Rules,
  type UserState,
} from '../../../src/domain/index.ts';
import { kindOf } from '../../../src/domain/event.ts';

export const config: DomainConfig = DEFAULT_DOMAIN_CONFIG;

export function loadDefaultRules(): Rules {
  const checked = validateRules(JSON.parse(readFileSync(new URL('../../../config/default-rules.json', import.meta.url), 'utf8')));
  if (!checked.ok) throw new Error(`default rules invalid: ${checked.field}: ${checked.message}`);
  return checked.rules;
}

export const defaultRules = loadDefaultRules();

/** Rules with no weights and no hard rules: every event scores sigmoid(bias). */
export const neutralRules = (over: Partial<Rules> = {}): Rules => ({
  rulesVersion: 1,
  modelVersion: 'test',
  thresholds: { block: 0.9, challenge: 0.7 },
  weights: {},
  bias: -4,
  hardRules: [],
  ...over,
});

/** 2024-11-24T00:00:00Z: a fixed base so that UTC hours are predictable. */
export const T0 = Date.UTC(2024, 10, 24);
export const MIN = 60_000;
export const HOUR = 3_600_000;

let counter = 0;

export function ev(over: Partial<RiskEvent> & { eventType?: string } = {}): RiskEvent {
  const eventType = over.eventType ?? 'payment';
  const kind = kindOf(eventType);
  return {
    eventId: `e-${++counter}`,
    userId: 'u-1',
    eventType,
    kind,
    timestamp: T0,
    amount: kind === 'payment' || kind === 'transfer' ? '10.0000' : null,
    currency: 'USD',
    deviceId: 'd-1',
    ip: null,
    country: 'US',
    upstreamRiskScore: null,
    eventData: null,
    source: null,
    ...over,
    ...(over.amount ? { amount: canonical(over.amount) } : {}),
  };
}

/** "12.3" -> "12.3000", as validation would produce. */
export function canonical(amount: string): string {
  const parsed = parseAmount(amount);
  if (!parsed.ok) throw new Error(`bad test amount ${amount}`);
  return formatMinor(parsed.minor);
}

export const ctx = (over: Partial<DecideContext> = {}): DecideContext => ({
  rules: defaultRules,
  config,
  now: T0,
  shard: 0,
  traceId: null,
  ...over,
});

export interface Run {
  state: UserState;
  outcomes: Outcome[];
  journal: JournalEvent[];
}

/** Decides and applies events in order, as the actor does; `now` defaults to the event time. */
export function play(events: readonly RiskEvent[], c: Partial<DecideContext> = {}, from: UserState = initialState('u-1')): Run {
  let state = from;
  const outcomes: Outcome[] = [];
  const journal: JournalEvent[] = [];
  for (const e of events) {
    const out = decide(state, e, ctx({ now: e.timestamp, ...c }));
    outcomes.push(out);
    if (out.kind === 'accepted') {
      journal.push(out.journal);
      state = evolve(state, out.journal, c.config ?? config);
    }
  }
  return { state, outcomes, journal };
}

export function accepted(out: Outcome | undefined): Extract<Outcome, { kind: 'accepted' }> {
  if (out?.kind !== 'accepted') throw new Error(`expected an accepted outcome, got ${out?.kind}`);
  return out;
}

export const codes = (out: Outcome | undefined): string[] => accepted(out).decision.reasons.map((r) => r.code);

/** An ordinary user's history: a stable device and country, a few events an hour in daytime, varied amounts. */
export function ordinaryHistory(n: number, start = T0 + 8 * HOUR, userId = 'u-1'): RiskEvent[] {
  const out: RiskEvent[] = [];
  let t = start;
  for (let i = 0; i < n; i++) {
    const type = ['login', 'payment', 'payment', 'transfer', 'payment'][i % 5]!;
    // Days of 8:00..20:00 UTC activity, 17..40 minutes apart.
    t += (17 + ((i * 7) % 24)) * MIN;
    if (((t - T0) % (24 * HOUR)) > 20 * HOUR) t += 12 * HOUR;
    const amount = type === 'login' ? null : `${20 + ((i * 37) % 180)}.${String((i * 13) % 100).padStart(2, '0')}`;
    out.push(ev({ userId, eventType: type, timestamp: t, amount, deviceId: 'phone-1', country: 'DE', eventId: `${userId}-h-${i}` }));
  }
  return out;
}
