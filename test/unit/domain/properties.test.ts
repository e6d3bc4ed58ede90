/**
 * Properties over arbitrary traffic: events delivered out of order, repeated under new offsets
 * (producer duplicates) and redelivered after crashes (consumer rewinds, with the state restored
 * from a snapshot), with idle closes in between whose commits may fail or be cut short by a crash.
 * And over any events validation accepts (extreme amounts, every currency, odd strings): nothing
 * throws, every number stays finite, and snapshot -> JSON -> recovery gives the same user.
 */
import { deepStrictEqual as equal, ok } from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import { MAX_STRINGS } from '../../../src/domain/history.ts';
import {
  closeIdleWindows,
  decide,
  windowsEmitted,
  evolve,
  initialState,
  toUserView,
  upcastJournal,
  upcastState,
  type Decision,
  type DomainConfig,
  type JournalEvent,
  type RiskEvent,
  type UserState,
  type WindowAggregate,
} from '../../../src/domain/index.ts';
import { kindOf } from '../../../src/domain/event.ts';
import { formatMinor } from '../../../src/domain/money.ts';
import { config, ctx, defaultRules, ev, T0 } from './helpers.ts';

const TYPES = ['login', 'payment', 'transfer', 'refund'] as const;

const eventSpec = fc.record({
  type: fc.constantFrom(...TYPES),
  gapMs: fc.integer({ min: 0, max: 400_000 }),
  // Out of order: some events are stamped earlier than the ones before them.
  skewMs: fc.integer({ min: -200_000, max: 0 }),
  minor: fc.bigInt({ min: 0n, max: 50_000_000n }),
  device: fc.integer({ min: 0, max: 3 }),
  country: fc.constantFrom('DE', 'FR', 'BR', null),
  failed: fc.boolean(),
  upstream: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
});

const traffic = fc.record({
  events: fc.array(eventSpec, { minLength: 1, maxLength: 70 }),
  /** [index of an event, where to repeat it under a new offset (fraction of the stream)] */
  duplicates: fc.array(fc.tuple(fc.nat(), fc.double({ min: 0, max: 1, noNaN: true })), { maxLength: 20 }),
  /** [after how many processed records, how far to rewind, restore from a snapshot?] */
  crashes: fc.array(fc.tuple(fc.nat({ max: 120 }), fc.integer({ min: 1, max: 30 }), fc.boolean()), { maxLength: 4 }),
  /** [after how many processed records, how long after the user went quiet, what becomes of the commit] */
  idleCloses: fc.array(fc.tuple(fc.nat({ max: 120 }), fc.nat({ max: 600_000 }), fc.constantFrom('committed', 'commitFails', 'crashBeforeConfirm')), {
    maxLength: 4,
  }),
  snapshotAt: fc.nat(),
});

type Traffic = typeof traffic extends fc.Arbitrary<infer T> ? T : never;

function buildEvents(specs: Traffic['events']): RiskEvent[] {
  let t = T0;
  return specs.map((s, i) => {
    t += s.gapMs;
    return ev({
      eventId: `e-${i}`,
      eventType: s.type,
      timestamp: Math.max(0, t + s.skewMs),
      amount: s.type === 'payment' || s.type === 'transfer' || s.minor % 2n === 0n ? formatMinor(s.minor) : null,
      deviceId: `d-${s.device}`,
      country: s.country,
      eventData: s.type === 'login' ? { success: !s.failed } : null,
      upstreamRiskScore: s.upstream,
    });
  });
}

/** The records on Kafka: each event once, some again later under a new offset; offsets per topic. */
function buildStream(events: RiskEvent[], duplicates: Traffic['duplicates']): RiskEvent[] {
  const order: number[] = events.map((_, i) => i);
  for (const [which, where] of duplicates) {
    const i = which % events.length;
    const after = order.indexOf(i);
    order.splice(after + 1 + Math.floor(where * (order.length - after)), 0, i);
  }
  const next: Record<string, number> = {};
  return order.map((i) => {
    const e = events[i]!;
    const topic = `${e.kind}-events`;
    next[topic] = (next[topic] ?? -1) + 1;
    return { ...e, source: { topic, partition: 0, offset: String(next[topic]) } };
  });
}

interface Played {
  state: UserState;
  journal: JournalEvent[];
  snapshots: { at: number; json: string }[];
  firstDecision: Map<string, Decision>;
  accepted: string[];
  /** Committed, in order: an idle-closed window may come more than once (at least once). */
  aggregates: WindowAggregate[];
  mismatches: string[];
  kinds: Record<string, number>;
}

/**
 * The actor's loop: decide, journal, evolve; a crash rewinds the consumer and may restore the
 * snapshot. Processing time runs a little ahead of the stream's event time; the idle timer
 * commits what it emits, then confirms it, as ShardSupervisor does.
 */
function run(tr: Traffic): Played {
  const stream = buildStream(buildEvents(tr.events), tr.duplicates);
  let state = initialState('u-1');
  let now = T0;
  const p: Played = { state, journal: [], snapshots: [], firstDecision: new Map(), accepted: [], aggregates: [], mismatches: [], kinds: {} };
  const apply = (j: JournalEvent) => {
    p.journal.push(j);
    state = evolve(state, j, config);
    p.snapshots.push({ at: p.journal.length, json: JSON.stringify(state) });
  };
  const crashes = [...tr.crashes];
  let processed = 0;
  for (let pos = 0; pos < stream.length; pos++) {
    const e = stream[pos]!;
    now = Math.max(now + 1000, e.timestamp);
    const out = decide(state, e, ctx({ now, traceId: `t${processed}` }));
    const kind = out.kind === 'redelivered' && out.decision === null ? 'redelivered-forgotten' : out.kind;
    p.kinds[kind] = (p.kinds[kind] ?? 0) + 1;
    if (out.kind === 'accepted') {
      p.firstDecision.set(e.eventId, out.decision);
      p.accepted.push(e.eventId);
      p.aggregates.push(...out.aggregates);
      apply(out.journal);
    } else if (out.kind === 'redelivered' && out.decision !== null) {
      const first = p.firstDecision.get(e.eventId);
      if (JSON.stringify(first) !== JSON.stringify(out.decision)) p.mismatches.push(e.eventId);
    }
    processed++;
    for (const [, quietMs, commit] of tr.idleCloses.filter(([after]) => after === processed)) {
      now += config.windows.idleCloseMs + quietMs;
      const closed = closeIdleWindows(state, now, config);
      if (!closed) continue;
      if (closed.journal) {
        p.kinds['idleClosed'] = (p.kinds['idleClosed'] ?? 0) + 1;
        apply(closed.journal);
      }
      if (commit === 'commitFails') continue;
      p.aggregates.push(...closed.aggregates);
      if (commit === 'crashBeforeConfirm') state = upcastState(JSON.parse(JSON.stringify(state)));
      else apply(windowsEmitted(state, closed.aggregates.map((a) => a.windowStart), now)!);
    }
    const crash = crashes.findIndex(([after]) => after === processed);
    if (crash >= 0) {
      const [, rewind, restore] = crashes.splice(crash, 1)[0]!;
      pos = Math.max(-1, pos - rewind);
      if (restore) state = upcastState(JSON.parse(JSON.stringify(state)));
    }
  }
  p.state = state;
  return p;
}

const distinct = (tr: Traffic) => buildEvents(tr.events);

test('the generated traffic does exercise duplicates, redeliveries, late events and idle closes', (t) => {
  const seen: Record<string, number> = {};
  let late = 0;
  for (const tr of fc.sample(traffic, { numRuns: 200, seed: 42 })) {
    const p = run(tr);
    for (const [k, n] of Object.entries(p.kinds)) seen[k] = (seen[k] ?? 0) + n;
    late += p.state.windows.lateEvents;
  }
  for (const k of ['accepted', 'duplicate', 'redelivered', 'idleClosed']) t.true((seen[k] ?? 0) > 20, `${k}: ${seen[k]}`);
  t.true(late > 20, `late: ${late}`);
});

test('property: profile counts and money totals equal those of the distinct events, whatever the duplicates and redeliveries', (t) => {
  fc.assert(
    fc.property(traffic, (tr) => {
      const { state, accepted, mismatches } = run(tr);
      const events = distinct(tr);
      const count = (k: string) => events.filter((e) => e.kind === k).length;
      const total = (k: string) => formatMinor(events.filter((e) => e.kind === k).reduce((s, e) => s + BigInt(e.amount!.replace('.', '')), 0n));
      equal(
        {
          eventCount: state.profile.eventCount,
          loginCount: state.profile.loginCount,
          paymentCount: state.profile.paymentCount,
          transferCount: state.profile.transferCount,
          otherCount: state.profile.otherCount,
          totalPaymentAmount: state.profile.totalPaymentAmount,
          totalTransferAmount: state.profile.totalTransferAmount,
        },
        {
          eventCount: events.length,
          loginCount: count('login'),
          paymentCount: count('payment'),
          transferCount: count('transfer'),
          otherCount: count('other'),
          totalPaymentAmount: total('payment'),
          totalTransferAmount: total('transfer'),
        },
      );
      equal(new Set(accepted).size, accepted.length, 'each eventId accepted once');
      equal(mismatches, [], 'redelivered decisions are identical to the first');
    }),
    { numRuns: 150 },
  );
  t.pass();
});

test('property: folding evolve over the stored journal rebuilds the live state exactly, also from any snapshot', (t) => {
  fc.assert(
    fc.property(traffic, (tr) => {
      const { state, journal, snapshots } = run(tr);
      const stored = journal.map((j) => JSON.parse(JSON.stringify(j)) as unknown);
      const replayed = stored.reduce<UserState>((s, j) => evolve(s, upcastJournal(j), config), initialState('u-1'));
      equal(replayed, state);
      equal(replayed.sequenceNumber, journal.length);
      if (snapshots.length) {
        const snap = snapshots[tr.snapshotAt % snapshots.length]!;
        const fromSnapshot = stored.slice(snap.at).reduce<UserState>((s, j) => evolve(s, upcastJournal(j), config), upcastState(JSON.parse(snap.json)));
        equal(fromSnapshot, state);
      }
      equal(JSON.parse(JSON.stringify(state)), state, 'JSON round trip is lossless');
      equal(upcastState(JSON.parse(JSON.stringify(state))), state);
    }),
    { numRuns: 150 },
  );
  t.pass();
});

test('property: a replayed state decides the next event exactly as the live one', (t) => {
  fc.assert(
    fc.property(traffic, eventSpec, (tr, spec) => {
      const { state, journal } = run(tr);
      const replayed = journal.reduce<UserState>((s, j) => evolve(s, upcastJournal(JSON.parse(JSON.stringify(j))), config), initialState('u-1'));
      const next = { ...buildEvents([spec])[0]!, eventId: 'next', timestamp: (state.windows.maxEventTime ?? T0) + spec.gapMs };
      const c = ctx({ rules: defaultRules, now: 9e12 });
      equal(decide(replayed, next, c), decide(state, next, c));
    }),
    { numRuns: 100 },
  );
  t.pass();
});

test('property: every accepted event is in exactly one window or counted late; a window emitted again is the same aggregate', (t) => {
  fc.assert(
    fc.property(traffic, (tr) => {
      const { state, aggregates } = run(tr);
      const rest = closeIdleWindows(state, Number.MAX_SAFE_INTEGER, config)?.aggregates ?? [];
      // As consumers dedupe: by (userId, windowStart).
      const windows = new Map<number, WindowAggregate>();
      for (const a of [...aggregates, ...rest]) {
        const before = windows.get(a.windowStart);
        if (before) equal(a, before);
        windows.set(a.windowStart, a);
      }
      const all = [...windows.values()];
      equal(all.reduce((n, a) => n + a.eventCount, 0) + state.windows.lateEvents, distinct(tr).length);
      for (const a of all) {
        ok(a.firstEventTime >= a.windowStart && a.lastEventTime < a.windowEnd && a.maxRiskScore <= a.totalRiskScore + 1e-9);
      }
    }),
    { numRuns: 150 },
  );
  t.pass();
});

test('property: history, dedupe memory and profile sets stay within their bounds', (t) => {
  fc.assert(
    fc.property(traffic, (tr) => {
      const { state } = run(tr);
      const kept = Math.max(config.history.events, config.history.decisions);
      ok(state.history.eventIds.length <= kept);
      ok(state.history.strings.length <= MAX_STRINGS);
      ok(state.history.eventIds.length + state.seen.eventIds.length <= Math.max(kept, config.dedupe.eventIds));
      ok(state.profile.devices.length <= config.profile.maxDevices);
      ok(state.profile.countries.length <= config.profile.maxCountries);
    }),
    { numRuns: 50 },
  );
  t.pass();
});

// ---- any events validation accepts ----------------------------------------------------------

/** The engine's clock in these runs: validation accepts event times from 2000 to maxClockSkewMs ahead of it. */
const CLOCK = Date.UTC(2026, 0, 1);
const MIN_EVENT_TIME = Date.UTC(2000, 0, 1);
/** The default rate table with rates at the settings' bounds (0 < rate <= 1e9). */
const fxConfig: DomainConfig = { ...config, fxRates: { ...config.fxRates, XAU: 1e9, XTS: 1e-9 } };

/** Any UTF-16 code units, lone surrogates and control characters included. */
const anyText = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength });
/** What validation accepts as an id: 1..128 characters, no control characters, no lone surrogates. */
const anyId = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 128 }).filter((s) => s.length <= 128 && !/[\u0000-\u001f\u007f-\u009f]/.test(s)),
  fc.constantFrom('__proto__', 'constructor', 'x'.repeat(128), '😀'.repeat(64)),
);
/** At most 15 digits before the point and 4 after, the bounds included. */
const anyAmount = fc.oneof(
  fc.bigInt({ min: 0n, max: 10n ** 19n - 1n }).map(formatMinor),
  fc.constantFrom('999999999999999.9999', '0.0001', '0.0000', '100000000000000.0000'),
);

const acceptedEvent = fc
  .record({
    eventId: anyId,
    eventType: fc.oneof(fc.constantFrom('login', 'payment', 'transfer'), anyText(64)),
    timestamp: fc.integer({ min: MIN_EVENT_TIME, max: CLOCK + config.maxClockSkewMs }),
    amount: fc.option(anyAmount, { nil: null }),
    currency: fc.constantFrom(...Object.keys(fxConfig.fxRates)),
    deviceId: fc.option(anyText(256), { nil: null }),
    ip: fc.option(anyText(256), { nil: null }),
    country: fc.option(anyText(256), { nil: null }),
    upstreamRiskScore: fc.option(fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 1, Number.MIN_VALUE)), { nil: null }),
    eventData: fc.option(fc.oneof(fc.constantFrom({ success: false }, { success: true }), fc.object()), { nil: null }),
    source: fc.option(
      fc.record({
        topic: fc.constantFrom('login-events', 'payment-events', 'transfer-events', 'other-events'),
        partition: fc.nat({ max: 11 }),
        offset: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String),
      }),
      { nil: null },
    ),
  })
  .map((r): Omit<RiskEvent, 'userId'> => {
    const kind = kindOf(r.eventType);
    const money = kind === 'payment' || kind === 'transfer';
    return { ...r, kind, amount: money ? (r.amount ?? '0.0000') : r.amount };
  });

/** Every number in a JSON-like value is finite (JSON would turn the others into null). */
function assertFinite(value: unknown, path = '(root)'): void {
  if (typeof value === 'number') ok(Number.isFinite(value), `${path} is ${value}`);
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) assertFinite(v, `${path}.${k}`);
}

test('property: any accepted events: decide never throws, every number stays finite, and snapshot -> JSON -> recovery gives the same user', (t) => {
  fc.assert(
    fc.property(anyId, fc.array(acceptedEvent, { minLength: 1, maxLength: 40 }), acceptedEvent, fc.nat({ max: 40 }), (userId, events, next, idleAt) => {
      let state = initialState(userId);
      let now = CLOCK;
      const apply = (j: JournalEvent) => {
        assertFinite(j);
        equal(upcastJournal(JSON.parse(JSON.stringify(j))), j, 'the journal event reads back');
        state = evolve(state, j, fxConfig);
      };
      events.forEach((e, i) => {
        now += 1000;
        const out = decide(state, { ...e, userId }, ctx({ config: fxConfig, now }));
        if (out.kind === 'accepted') apply(out.journal);
        if (i === idleAt) {
          now += config.maxClockSkewMs + config.windows.sizeMs;
          const closed = closeIdleWindows(state, now, fxConfig);
          if (closed?.journal) apply(closed.journal);
        }
      });
      assertFinite(state);
      const recovered = upcastState(JSON.parse(JSON.stringify(state)));
      equal(recovered, state);
      equal(toUserView(recovered, config.history, config.defaultCurrency), toUserView(state, config.history, config.defaultCurrency));
      const c = ctx({ config: fxConfig, now: now + 1000 });
      equal(decide(recovered, { ...next, userId }, c), decide(state, { ...next, userId }, c));
    }),
    { numRuns: 300 },
  );
  t.pass();
});
