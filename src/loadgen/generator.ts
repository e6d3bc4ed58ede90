/**
 * The deterministic load generator: contract events (CONTRACT §1) of ordinary users plus fraud
 * patterns for a share of them, in production order (event time, ascending).
 *
 * Ordinary users have a home country, one or two stable devices and sessions in their local
 * daytime: a login (now and then a failed one first), then one to three payments or transfers a
 * minute or so apart, sessions hours apart. A fraud user has such a history first, then one of
 * the patterns the default rules are written against (test/unit/domain/patterns.test.ts):
 *   account-takeover   hours later, a login from a new device in a new country, then one or two
 *                      transfers of 1500-4900 from it
 *   card-testing       12-18 payments of 0.50-2.75, about 5 s apart
 *   velocity-attack    30-40 transfers of 80-200, about 1.6 s apart
 *   impossible-travel  a login from a far country minutes after the last home-country event
 * Every event of the pattern (and only those) is marked as fraud.
 *
 * Same options (seed included) -> the same events, byte for byte. Each user draws from its own
 * stream derived from (seed, user index), and users are merged lazily by event time, so memory
 * is O(users), not O(events).
 */
import { MIN_EVENT_TIME } from '../domain/index.ts';
import { between, deriveSeed, gaussian, hex8, intBetween, mulberry32, pick, pickWeighted, type Random } from './random.ts';
import { TimelineHeap } from './timelineHeap.ts';

export const FRAUD_PATTERNS = ['account-takeover', 'card-testing', 'velocity-attack', 'impossible-travel'] as const;
export type FraudPattern = (typeof FRAUD_PATTERNS)[number];

export type LoadEventType = 'login' | 'payment' | 'transfer';

/** One input event as produced (CONTRACT §1); amounts are decimal strings with 2 places. */
export interface LoadEvent {
  eventId: string;
  userId: string;
  eventType: LoadEventType;
  timestamp: number;
  amount?: string;
  currency: string;
  deviceId: string;
  ip: string;
  country: string;
  eventData?: Record<string, unknown>;
}

export interface GeneratedEvent {
  event: LoadEvent;
  /** The fraud pattern this event belongs to, or null for ordinary activity. */
  pattern: FraudPattern | null;
}

export interface GeneratorOptions {
  /** Users to spread the events over (those left without an event do not appear). */
  users: number;
  /** Events in total, exactly. */
  events: number;
  /** Share of users that carry a fraud pattern, 0..1 (fewer when the events cannot hold them). */
  fraudRatio: number;
  seed: number;
  /** Event time where activity starts (epoch ms); default 2025-01-06T00:00:00Z. */
  startTime?: number;
  /** Prefix of user ids (and so of event ids); default `s<seed>-`. */
  idPrefix?: string;
  /** Simulated days the ordinary activity of each user is spread over; default 1. */
  days?: number;
  /**
   * How unequal users are: the sigma of the lognormal activity weight (default 0.6: the busiest
   * users have several times the median's events); 0 gives every ordinary user the same count (+-1).
   */
  spread?: number;
  /**
   * Share of all events sent by one ordinary user, the "hot user" (a bot, a busy merchant
   * account), 0..0.9; default 0 (none). Its events are dealt evenly among the others' in
   * production order, so that it keeps its share throughout the load.
   */
  hotUserShare?: number;
}

export type ResolvedOptions = Required<GeneratorOptions>;

export const DEFAULT_START_TIME = Date.UTC(2025, 0, 6);

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

interface Country {
  code: string;
  /** Hours from UTC (daytime activity is in local time). */
  utcOffset: number;
  currency: string;
  weight: number;
}

/** Their currencies are all in the engine's default rate table (`domain.fxRates`): others are refused. */
const HOME_COUNTRIES: readonly Country[] = [
  { code: 'DE', utcOffset: 1, currency: 'EUR', weight: 14 },
  { code: 'FR', utcOffset: 1, currency: 'EUR', weight: 12 },
  { code: 'GB', utcOffset: 0, currency: 'GBP', weight: 10 },
  { code: 'US', utcOffset: -5, currency: 'USD', weight: 18 },
  { code: 'ES', utcOffset: 1, currency: 'EUR', weight: 7 },
  { code: 'IT', utcOffset: 1, currency: 'EUR', weight: 7 },
  { code: 'NL', utcOffset: 1, currency: 'EUR', weight: 5 },
  { code: 'CH', utcOffset: 1, currency: 'CHF', weight: 5 },
  { code: 'AT', utcOffset: 1, currency: 'EUR', weight: 3 },
  { code: 'CA', utcOffset: -5, currency: 'CAD', weight: 5 },
  { code: 'SG', utcOffset: 8, currency: 'SGD', weight: 5 },
  { code: 'JP', utcOffset: 9, currency: 'JPY', weight: 4 },
  { code: 'AU', utcOffset: 10, currency: 'AUD', weight: 3 },
  { code: 'IN', utcOffset: 5, currency: 'INR', weight: 2 },
];
const HOME_WEIGHTS = HOME_COUNTRIES.map((c) => c.weight);

/** Where attackers appear from; never a sanctioned country (that hard rule would make detection trivial). */
const FOREIGN_COUNTRIES = ['RU', 'NG', 'VN', 'ID', 'PH', 'UA', 'RO', 'BR', 'CN', 'TR', 'PK', 'MX', 'TH', 'ZA'] as const;

/** Events of ordinary history a fraud user has before the pattern (enough for the amount statistics). */
const MIN_FRAUD_HISTORY = 8;

function patternSize(pattern: FraudPattern, rnd: Random): number {
  switch (pattern) {
    case 'account-takeover':
      return intBetween(rnd, 2, 3);
    case 'card-testing':
      return intBetween(rnd, 12, 18);
    case 'velocity-attack':
      return intBetween(rnd, 30, 40);
    case 'impossible-travel':
      return 1;
  }
}

export function resolveOptions(o: GeneratorOptions): ResolvedOptions {
  const intIn = (name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isSafeInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${v}`);
  };
  intIn('users', o.users, 1, 100_000_000);
  intIn('events', o.events, 0);
  intIn('seed', o.seed, 0, 0xffffffff);
  if (!(o.fraudRatio >= 0 && o.fraudRatio <= 1)) throw new RangeError(`fraudRatio must be in 0..1, got ${o.fraudRatio}`);
  const startTime = o.startTime ?? DEFAULT_START_TIME;
  intIn('startTime', startTime, MIN_EVENT_TIME);
  const days = o.days ?? 1;
  if (!(days > 0 && days <= 3650)) throw new RangeError(`days must be in (0, 3650], got ${days}`);
  const idPrefix = o.idPrefix ?? `s${o.seed}-`;
  if (idPrefix.length > 64) throw new RangeError('idPrefix must be at most 64 characters');
  const spread = o.spread ?? 0.6;
  if (!(spread >= 0 && spread <= 3)) throw new RangeError(`spread must be in 0..3, got ${spread}`);
  const hotUserShare = o.hotUserShare ?? 0;
  if (!(hotUserShare >= 0 && hotUserShare <= 0.9)) throw new RangeError(`hotUserShare must be in 0..0.9, got ${hotUserShare}`);
  return { users: o.users, events: o.events, fraudRatio: o.fraudRatio, seed: o.seed, startTime, idPrefix, days, spread, hotUserShare };
}

/** What one user will do: how many ordinary events, and which pattern (if any) after them. */
export interface UserPlan {
  index: number;
  userId: string;
  ordinary: number;
  pattern: FraudPattern | null;
  patternEvents: number;
  /** The hot user (options.hotUserShare): its `ordinary` events are dealt among the others' by generateEvents. */
  hot?: true;
}

export interface LoadPlan {
  options: ResolvedOptions;
  /** Users with at least one event, by index. */
  users: UserPlan[];
  fraudUsers: number;
  fraudEvents: number;
}

/**
 * Splits the events among users: fraud users get their history and pattern first (as many fraud
 * users as the events can hold), the rest is shared among ordinary users by a skewed activity
 * weight (some users are much busier than others).
 */
export function planLoad(options: GeneratorOptions): LoadPlan {
  const o = resolveOptions(options);
  const rnd = mulberry32(deriveSeed(o.seed, 0x7fffffff));
  const userId = (i: number) => `${o.idPrefix}u${i}`;

  // Which users are fraudsters: a partial Fisher-Yates shuffle spreads them over all indices.
  const order = new Int32Array(o.users);
  for (let i = 0; i < o.users; i++) order[i] = i;
  const wanted = Math.round(o.users * o.fraudRatio);
  for (let i = 0; i < wanted; i++) {
    const j = i + Math.floor(rnd() * (o.users - i));
    const tmp = order[i]!;
    order[i] = order[j]!;
    order[j] = tmp;
  }
  const offset = Math.floor(rnd() * FRAUD_PATTERNS.length);
  const fraud: UserPlan[] = [];
  let fraudTotal = 0;
  for (let k = 0; k < wanted; k++) {
    const index = order[k]!;
    const pattern = FRAUD_PATTERNS[(k + offset) % FRAUD_PATTERNS.length]!;
    const plan: UserPlan = { index, userId: userId(index), ordinary: MIN_FRAUD_HISTORY + intBetween(rnd, 0, 4), pattern, patternEvents: patternSize(pattern, rnd) };
    if (fraudTotal + plan.ordinary + plan.patternEvents > o.events) break;
    fraud.push(plan);
    fraudTotal += plan.ordinary + plan.patternEvents;
  }
  /** Users whose counts are not drawn from the shared weights: the fraud users (and the hot user). */
  const setApart = new Uint8Array(o.users);
  for (const f of fraud) setApart[f.index] = 1;

  const counts = new Float64Array(o.users);
  let rest = o.events - fraudTotal;
  let ordinaryUsers = o.users - fraud.length;
  // The hot user: the first ordinary one, with its share taken before the others get theirs.
  let hotIndex = -1;
  if (o.hotUserShare > 0 && ordinaryUsers > 0) {
    hotIndex = setApart.indexOf(0);
    counts[hotIndex] = Math.min(rest, Math.round(o.events * o.hotUserShare));
    rest -= counts[hotIndex]!;
    ordinaryUsers--;
    setApart[hotIndex] = 1;
  }
  if (ordinaryUsers > 0 && rest > 0) {
    const weights = new Float64Array(o.users);
    let sum = 0;
    for (let i = 0; i < o.users; i++) {
      if (setApart[i]) continue;
      weights[i] = Math.exp(o.spread * gaussian(rnd));
      sum += weights[i]!;
    }
    let given = 0;
    for (let i = 0; i < o.users; i++) {
      if (setApart[i]) continue;
      counts[i] = Math.floor((rest * weights[i]!) / sum);
      given += counts[i]!;
    }
    // The remainder, at most one event each, to users drawn at random.
    const ordinaryIndex: number[] = [];
    for (let i = 0; i < o.users; i++) if (!setApart[i]) ordinaryIndex.push(i);
    for (let k = 0, left = rest - given; left > 0; k++, left--) {
      const j = k + Math.floor(rnd() * (ordinaryIndex.length - k));
      [ordinaryIndex[k], ordinaryIndex[j]] = [ordinaryIndex[j]!, ordinaryIndex[k]!];
      counts[ordinaryIndex[k]!]!++;
    }
    rest = 0;
  }
  // Only the hot user is ordinary: it takes the rest too.
  if (rest > 0 && hotIndex >= 0) {
    counts[hotIndex]! += rest;
    rest = 0;
  }
  // No ordinary user to take them (fraud ratio 1): the rest lengthens the fraud users' histories.
  for (let k = 0; rest > 0 && fraud.length > 0; k = (k + 1) % fraud.length, rest--) fraud[k]!.ordinary++;

  const users: UserPlan[] = [];
  const fraudByIndex = new Map(fraud.map((f) => [f.index, f]));
  for (let i = 0; i < o.users; i++) {
    const f = fraudByIndex.get(i);
    if (f) users.push(f);
    else if (counts[i]! > 0) users.push({ index: i, userId: userId(i), ordinary: counts[i]!, pattern: null, patternEvents: 0, ...(i === hotIndex ? { hot: true as const } : {}) });
  }
  return { options: o, users, fraudUsers: fraud.length, fraudEvents: fraud.reduce((n, f) => n + f.patternEvents, 0) };
}

/** Amount in cents as a decimal string with two places. */
const cents = (c: number): string => `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`;

/** A lognormal amount around `median`, clamped, in cents. */
const amountAround = (rnd: Random, median: number, spread: number, lo: number, hi: number): number =>
  Math.round(Math.min(hi, Math.max(lo, median * Math.exp(spread * gaussian(rnd)))) * 100);

const ip = (rnd: Random, first: number) => `${first}.${intBetween(rnd, 0, 255)}.${intBetween(rnd, 0, 255)}.${intBetween(rnd, 1, 254)}`;

/** One user's events in event-time order: ordinary history, then the fraud pattern if any. */
export function* userTimeline(plan: UserPlan, o: ResolvedOptions): Generator<GeneratedEvent> {
  const rnd = mulberry32(deriveSeed(o.seed, plan.index));
  const home = pickWeighted(rnd, HOME_COUNTRIES, HOME_WEIGHTS);
  const primary = { deviceId: `${plan.userId}-d1`, ip: ip(rnd, 10) };
  const secondary = rnd() < 0.35 ? { deviceId: `${plan.userId}-d2`, ip: ip(rnd, 172) } : null;
  let seq = 0;
  const make = (eventType: LoadEventType, t: number, amountCents: number | null, where: { deviceId: string; ip: string; country: string; currency: string }, eventData?: Record<string, unknown>): LoadEvent => {
    const e: LoadEvent = {
      eventId: `${plan.userId}-${seq++}`,
      userId: plan.userId,
      eventType,
      timestamp: Math.round(t),
      ...(amountCents === null ? {} : { amount: cents(amountCents) }),
      currency: where.currency,
      deviceId: where.deviceId,
      ip: where.ip,
      country: where.country,
      ...(eventData ? { eventData } : {}),
    };
    return e;
  };

  if (plan.hot) {
    yield* hotActivity(plan, o, rnd, make, [primary, secondary], home);
    return;
  }

  // Ordinary activity: sessions spread over `days`, in local daytime.
  const sessions = Math.max(1, plan.ordinary / 2.6);
  const gapMean = Math.max(20 * MINUTE, (o.days * DAY) / sessions);
  let t = o.startTime + rnd() * Math.min(gapMean, DAY);
  let left = plan.ordinary;
  while (left > 0) {
    t = awake(rnd, t, home.utcOffset);
    const device = secondary && rnd() < 0.2 ? secondary : primary;
    const where = { ...device, country: home.code, currency: home.currency };
    if (rnd() < 0.03) {
      yield { event: make('login', t, null, where, { success: false }), pattern: null };
      if (--left === 0) break;
      t += between(rnd, 15, 60) * SECOND;
    }
    yield { event: make('login', t, null, where, { success: true }), pattern: null };
    left--;
    for (let a = intBetween(rnd, 1, 3); a > 0 && left > 0; a--, left--) {
      t += between(rnd, 20, 200) * SECOND;
      if (rnd() < 0.8) yield { event: make('payment', t, amountAround(rnd, 25, 0.9, 1, 900), where), pattern: null };
      else yield { event: make('transfer', t, amountAround(rnd, 150, 0.8, 10, 3000), where), pattern: null };
    }
    if (left > 0) t += gapMean * between(rnd, 0.5, 1.5);
  }
  if (!plan.pattern) return;

  // The attack, after the history (t is the time of the last ordinary event).
  const pattern = plan.pattern;
  const own = { ...primary, country: home.code, currency: home.currency };
  const fraud = (e: LoadEvent): GeneratedEvent => ({ event: e, pattern });
  const n = plan.patternEvents;
  switch (pattern) {
    case 'account-takeover': {
      const country = pick(rnd, FOREIGN_COUNTRIES.filter((c) => c !== home.code));
      const attacker = { deviceId: `atk-${hex8(rnd)}`, ip: ip(rnd, 203), country, currency: home.currency };
      t += between(rnd, 2, 8) * HOUR;
      yield fraud(make('login', t, null, attacker, { success: true }));
      t += between(rnd, 60, 240) * SECOND;
      yield fraud(make('transfer', t, intBetween(rnd, 2500_00, 4900_00), attacker));
      for (let i = 2; i < n; i++) {
        t += between(rnd, 30, 120) * SECOND;
        yield fraud(make('transfer', t, intBetween(rnd, 1500_00, 4900_00), attacker));
      }
      return;
    }
    case 'card-testing': {
      t += between(rnd, 2, 6) * HOUR;
      for (let i = 0; i < n; i++) {
        if (i > 0) t += between(rnd, 4, 6) * SECOND;
        yield fraud(make('payment', t, intBetween(rnd, 50, 275), own));
      }
      return;
    }
    case 'velocity-attack': {
      t += between(rnd, 2, 6) * HOUR;
      for (let i = 0; i < n; i++) {
        if (i > 0) t += between(rnd, 1.3, 1.9) * SECOND;
        yield fraud(make('transfer', t, intBetween(rnd, 80_00, 200_00), own));
      }
      return;
    }
    case 'impossible-travel': {
      const country = pick(rnd, FOREIGN_COUNTRIES.filter((c) => c !== home.code));
      t += between(rnd, 5, 40) * MINUTE;
      yield fraud(make('login', t, null, { ...own, ip: ip(rnd, 198), country }, { success: true }));
      return;
    }
  }
}

type Make = (eventType: LoadEventType, t: number, amountCents: number | null, where: { deviceId: string; ip: string; country: string; currency: string }, eventData?: Record<string, unknown>) => LoadEvent;

/**
 * The hot user's events, from its home country and devices: now and then a login, else payments
 * and transfers, day and night (a bot or a merchant account does not sleep). They carry the start
 * time: generateEvents gives each the time of the event it follows in production order.
 */
function* hotActivity(plan: UserPlan, o: ResolvedOptions, rnd: Random, make: Make, devices: readonly [{ deviceId: string; ip: string }, { deviceId: string; ip: string } | null], home: Country): Generator<GeneratedEvent> {
  for (let left = plan.ordinary; left > 0; left--) {
    const device = devices[1] && rnd() < 0.2 ? devices[1] : devices[0];
    const where = { ...device, country: home.code, currency: home.currency };
    const roll = rnd();
    if (roll < 0.05) yield { event: make('login', o.startTime, null, where, { success: true }), pattern: null };
    else if (roll < 0.81) yield { event: make('payment', o.startTime, amountAround(rnd, 25, 0.9, 1, 900), where), pattern: null };
    else yield { event: make('transfer', o.startTime, amountAround(rnd, 150, 0.8, 10, 3000), where), pattern: null };
  }
}

/** Moves a time that falls in the local night (0:00-6:59) to the next morning. */
function awake(rnd: Random, t: number, utcOffset: number): number {
  const localHour = Math.floor((t + utcOffset * HOUR) / HOUR) % 24;
  if (localHour >= 7) return t;
  const startOfHour = Math.floor(t / HOUR) * HOUR;
  return startOfHour + (7 - localHour) * HOUR + rnd() * 90 * MINUTE;
}

/**
 * All events of the plan in production order: ascending event time (ties by user index, then by
 * the user's own order), so every user's events come in the order they happened. The hot user's
 * events are dealt among the others by position (after n events, its share of n), each at the
 * time of the event before it.
 */
export function* generateEvents(plan: LoadPlan): Generator<GeneratedEvent> {
  const heap = new TimelineHeap();
  let hot: Generator<GeneratedEvent> | null = null;
  let hotLeft = 0;
  for (const user of plan.users) {
    const it = userTimeline(user, plan.options);
    if (user.hot) {
      hot = it;
      hotLeft = user.ordinary;
      continue;
    }
    const first = it.next();
    if (!first.done) heap.push({ next: first.value, index: user.index, it });
  }
  const total = plan.options.events;
  const hotTotal = hotLeft;
  let produced = 0;
  let lastTime = plan.options.startTime;
  const nextHot = (): GeneratedEvent => {
    const g = hot!.next().value as GeneratedEvent;
    hotLeft--;
    produced++;
    return { ...g, event: { ...g.event, timestamp: lastTime } };
  };
  for (let top = heap.peek(); top; top = heap.peek()) {
    // Integer form of "the hot user's events so far <= its share of the events so far".
    while (hotLeft > 0 && (hotTotal - hotLeft + 1) * total <= (produced + 1) * hotTotal) yield nextHot();
    const out = top.next;
    const following = top.it.next();
    if (following.done) heap.pop();
    else {
      top.next = following.value;
      heap.siftDownTop();
    }
    produced++;
    lastTime = out.event.timestamp;
    yield out;
  }
  while (hotLeft > 0) yield nextHot();
}

/** Convenience: the whole load in memory (for tests and small runs). */
export function generate(options: GeneratorOptions): { plan: LoadPlan; events: GeneratedEvent[] } {
  const plan = planLoad(options);
  return { plan, events: [...generateEvents(plan)] };
}
