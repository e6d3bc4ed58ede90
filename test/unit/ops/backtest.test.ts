import test from 'ava';
import { decide, evolve, initialState, type Decision, type RiskEvent, type Rules, type UserState } from '../../../src/domain/index.ts';
import { foldEvent } from '../../../src/domain/replay.ts';
import { Comparison, formatReport, liveDecisionOf, runBacktest } from '../../../src/ops/backtest.ts';
import { timeOption } from '../../../src/ops/cli.ts';
import { OpsError } from '../../../src/ops/errors.ts';
import { followOrder, ShardRecords } from '../../../src/ops/replay.ts';
import { config, ctx, defaultRules, T0 } from '../domain/helpers.ts';
import { MemoryHistory } from './history.ts';

const INPUTS = ['login-events', 'payment-events', 'transfer-events'];
const DECISIONS = 'risk-decisions';
const NOW = T0 + 86_400_000;

interface Ev {
  eventId: string;
  userId: string;
  eventType: 'login' | 'payment' | 'transfer';
  timestamp: number;
  amount?: string;
  deviceId?: string;
  country?: string;
}

const topicOf = (e: Ev) => `${e.eventType}-events`;

/** Decides `events` as the live engine would in this order, with decide and evolve directly. */
function liveDecisions(events: readonly Ev[], rules: Rules, partitions: number): Decision[] {
  const states = new Map<string, UserState>();
  const out: Decision[] = [];
  for (const e of events) {
    const event: RiskEvent = { ...e, kind: e.eventType, amount: e.amount ?? null, currency: 'USD', deviceId: e.deviceId ?? null, ip: null, country: e.country ?? null, upstreamRiskScore: null, eventData: null, source: null } as unknown as RiskEvent;
    const state = states.get(e.userId) ?? initialState(e.userId);
    const o = decide(state, event, ctx({ rules, now: NOW, shard: 0 }));
    if (o.kind !== 'accepted') continue;
    states.set(e.userId, evolve(state, o.journal, config));
    out.push(o.decision);
  }
  void partitions;
  return out;
}

/** A burst of logins and payments (on two topics) of one user: features count what was seen before. */
function burst(userId: string, n: number, t0 = T0): Ev[] {
  return Array.from({ length: n }, (_, i) =>
    i % 2
      ? { eventId: `${userId}-p${i}`, userId, eventType: 'payment' as const, timestamp: t0 + i * 5_000, amount: '9.5000', deviceId: `dev-${i % 3}`, country: i % 4 === 1 ? 'DE' : 'FR' }
      : { eventId: `${userId}-l${i}`, userId, eventType: 'login' as const, timestamp: t0 + i * 5_000, deviceId: `dev-${i % 3}`, country: 'FR' },
  );
}

test('followOrder reorders the items with a position among their slots and leaves the others in place', (t) => {
  const items = ['a', 'x', 'b', 'c', 'y'];
  const pos: Record<string, number> = { a: 3, b: 1, c: 2 };
  t.deepEqual(followOrder(items, (i) => pos[i]), ['b', 'x', 'c', 'a', 'y']);
  t.deepEqual(followOrder(items, () => undefined), items);
});

test('ShardRecords merges a shard\'s partitions of every topic by record timestamp, keeping each partition\'s order', (t) => {
  const h = new MemoryHistory(1);
  const l1 = h.append('login-events', 0, 'u', '{}', 10);
  const l2 = h.append('login-events', 0, 'u', '{}', 30);
  const p1 = h.append('payment-events', 0, 'u', '{}', 20);
  const p2 = h.append('payment-events', 0, 'u', '{}', 5); // out of time order in its partition: stays after p1
  const records = new ShardRecords();
  records.add([l1, l2]);
  records.add([p1, p2]);
  t.is(records.count, 4);
  t.deepEqual(records.shards(), [0]);
  t.deepEqual(records.take(0), [l1, p1, p2, l2]);
  t.deepEqual(records.take(0), []);
});

test('Comparison counts agreement, LIVE->CANDIDATE moves and the changed reasons', (t) => {
  const c = new Comparison();
  c.add({ partition: 0, position: 0, decision: 'ALLOW', reasons: [] }, { decision: 'ALLOW', reasons: [] });
  c.add({ partition: 0, position: 1, decision: 'ALLOW', reasons: ['VELOCITY_1M'] }, { decision: 'BLOCK', reasons: [{ code: 'HARD_RULE:x', weight: 1, detail: '' }, { code: 'VELOCITY_1M', weight: 1, detail: '' }] });
  c.add({ partition: 0, position: 2, decision: 'CHALLENGE', reasons: ['NEW_DEVICE'] }, { decision: 'ALLOW', reasons: [] });
  t.is(c.events, 3);
  t.is(c.agree, 1);
  t.deepEqual(c.disagreements, { 'ALLOW->BLOCK': 1, 'CHALLENGE->ALLOW': 1 });
  t.deepEqual(c.topChangedReasons(), [
    { code: 'HARD_RULE:x', added: 1, removed: 0, inChanged: 1 },
    { code: 'NEW_DEVICE', added: 0, removed: 1, inChanged: 0 },
    { code: 'VELOCITY_1M', added: 0, removed: 0, inChanged: 1 },
  ]);
});

test('liveDecisionOf keeps a decision record\'s verdict, reason codes and place; other values are null', (t) => {
  const value = Buffer.from(JSON.stringify({ eventId: 'e', userId: 'u', decision: 'BLOCK', reasons: [{ code: 'A' }, { code: 'B' }] }));
  t.deepEqual(liveDecisionOf({ partition: 2, offset: '7', value }), { key: 'u\u0000e', live: { partition: 2, position: 7, decision: 'BLOCK', reasons: ['A', 'B'] } });
  t.is(liveDecisionOf({ partition: 0, offset: '0', value: Buffer.from('nope') }), null);
  t.is(liveDecisionOf({ partition: 0, offset: '0', value: Buffer.from('{"eventId":"e"}') }), null);
  t.is(liveDecisionOf({ partition: 0, offset: '0', value: null }), null);
});

test('timeOption: ISO dates and epoch ms; earliest/now and absent are open; anything else is a usage error', (t) => {
  t.is(timeOption('--from', '2025-01-06T00:00:00Z', 'earliest'), Date.UTC(2025, 0, 6));
  t.is(timeOption('--from', '1736121600000', 'earliest'), 1736121600000);
  t.is(timeOption('--from', 'earliest', 'earliest'), null);
  t.is(timeOption('--to', undefined, 'now'), null);
  const err = t.throws(() => timeOption('--to', 'yesterday', 'now'), { instanceOf: OpsError });
  t.is(err?.code, 'USAGE');
});

test('foldEvent is decide then evolve (the user actor\'s recipe); a duplicate leaves the state as it was', (t) => {
  const [e] = burst('u1', 1);
  const event = { ...e!, kind: 'payment', amount: '9.5000', currency: 'USD', ip: null, upstreamRiskScore: null, eventData: null, source: null } as unknown as RiskEvent;
  const s0 = initialState('u1');
  const c = ctx({ rules: defaultRules, now: NOW });
  const folded = foldEvent(s0, event, c);
  const o = decide(s0, event, c);
  t.is(folded.outcome.kind, 'accepted');
  t.deepEqual(folded.state, o.kind === 'accepted' ? evolve(s0, o.journal, config) : s0);
  const again = foldEvent(folded.state, event, c);
  t.is(again.outcome.kind, 'duplicate');
  t.is(again.state, folded.state);
});

test('a backtest of the live rules follows the live judging order and agrees with every live decision', async (t) => {
  const partitions = 3;
  const h = new MemoryHistory(partitions);
  const events = [...burst('alice', 12), ...burst('bob', 9, T0 + 1000)].sort((a, b) => a.timestamp - b.timestamp);
  events.forEach((e) => h.event(topicOf(e), e));
  h.append('payment-events', 0, 'x', 'not json', T0 + 10); // a dead letter
  // The live engine took alice's payments before her logins (rounds of a backlog: one topic's
  // batch came first), each topic's partition in its own order.
  const aliceLive = events.filter((e) => e.userId === 'alice');
  const liveOrder = [...aliceLive.filter((e) => e.eventType === 'payment'), ...aliceLive.filter((e) => e.eventType === 'login'), ...events.filter((e) => e.userId === 'bob')];
  const live = liveDecisions(liveOrder, defaultRules, partitions);
  const inTimeOrder = liveDecisions(events, defaultRules, partitions);
  const key = (d: Decision) => `${d.eventId}:${d.riskScore}`;
  t.notDeepEqual(new Set(live.map(key)), new Set(inTimeOrder.map(key)), 'the order changes scores (precondition)');
  live.forEach((d, i) => h.decision(DECISIONS, d, NOW + i));

  const report = await runBacktest({ history: h, inputs: INPUTS, decisionsTopic: DECISIONS, domain: config, rules: defaultRules, range: { from: null, to: null }, now: NOW });
  t.is(report.records, 22);
  t.is(report.events, 21);
  t.is(report.agree, 21);
  t.deepEqual(report.disagreements, {});
  t.deepEqual(report.notCompared, { noLiveDecision: 0, rejected: 1, duplicate: 0, poison: 0 });
  t.is(report.users, 2);
  t.is(report.shadowVersion, defaultRules.rulesVersion);
  t.regex(formatReport(report), /compared 21 events with their live decisions: 21 agree/);
});

test('a backtest with changed thresholds reports the moves the scores imply; the span limits what is read', async (t) => {
  const partitions = 2;
  const h = new MemoryHistory(partitions);
  const events = [...burst('carol', 15), ...burst('dave', 15, T0 + 2 * 3_600_000)];
  events.forEach((e) => h.event(topicOf(e), e));
  const live = liveDecisions(events, defaultRules, partitions);
  live.forEach((d, i) => h.decision(DECISIONS, d, T0 + i));
  const candidate: Rules = { ...defaultRules, rulesVersion: 9, thresholds: { block: 0.995, challenge: 0.9 } };
  const expected: Record<string, number> = {};
  for (const d of live) {
    const forced = d.reasons.some((r) => r.code.startsWith('HARD_RULE:') || r.code === 'ESCALATED');
    const now = forced || d.riskScore > 0.995 ? 'BLOCK' : d.riskScore > 0.9 ? 'CHALLENGE' : 'ALLOW';
    if (now !== d.decision) expected[`${d.decision}->${now}`] = (expected[`${d.decision}->${now}`] ?? 0) + 1;
  }
  t.true(Object.keys(expected).length > 0);
  const noEscalation = { ...config, escalation: { ...config.escalation, challenges: 1000 } };
  const liveNoEsc = liveDecisions(events, defaultRules, partitions);
  t.deepEqual(liveNoEsc.map((d) => d.decision), live.map((d) => d.decision));
  const report = await runBacktest({ history: h, inputs: INPUTS, decisionsTopic: DECISIONS, domain: noEscalation, rules: candidate, range: { from: null, to: null }, now: NOW });
  t.is(report.shadowVersion, 9);
  t.deepEqual(report.disagreements, expected);

  // Only carol's hours: dave's events are not read, and with no state before them nothing else changes.
  const span = await runBacktest({ history: h, inputs: INPUTS, decisionsTopic: DECISIONS, domain: config, rules: defaultRules, range: { from: T0, to: T0 + 3_600_000 - 1 }, now: NOW });
  t.is(span.records, 15);
  t.is(span.events, 15);
  t.is(span.agree, 15);
  t.is(span.since, new Date(T0).toISOString());
});
