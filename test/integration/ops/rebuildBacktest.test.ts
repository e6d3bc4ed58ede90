/**
 * Backtest and rebuild (CONTRACT §8) on the real Kafka and Redis: a load-generator workload with
 * ground truth is decided by a live engine; a backtest of the live rules agrees with every live
 * decision, one with changed thresholds disagrees exactly where the thresholds say (computed here
 * from the live decisions' scores); a rebuild into a new namespace and group refuses to run twice,
 * and an engine started on them continues exactly after: with more events produced, every user's
 * state equals the truth of both workloads.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { generate } from '../../../src/loadgen/generator.ts';
import type { GeneratedEvent } from '../../../src/loadgen/generator.ts';
import { produce } from '../../../src/loadgen/produce.ts';
import { KafkaEventSink } from '../../../src/loadgen/sinks.ts';
import { TruthBuilder } from '../../../src/loadgen/truth.ts';
import type { BacktestReport } from '../../../src/ops/backtest.ts';
import type { RebuildResult } from '../../../src/ops/rebuild.ts';
import type { Rules } from '../../../src/domain/index.ts';
import { BROKERS, groupCaughtUp, kafkaClient, parseValues, readToEnd, startEngine, testSettings, uniqueId, type RunningEngine } from '../helpers/harness.ts';
import { runCli } from '../admin/instance.ts';
import { ensureTopics } from '../../../src/transport/kafka/topics.ts';

interface LiveDecision {
  eventId: string;
  userId: string;
  decision: 'ALLOW' | 'CHALLENGE' | 'BLOCK';
  riskScore: number;
  reasons: { code: string }[];
}

interface Profile {
  eventCount: number;
  loginCount: number;
  paymentCount: number;
  transferCount: number;
  totalPaymentAmount: string;
  totalTransferAmount: string;
}

const profileOf = (p: Profile): Profile => ({
  eventCount: p.eventCount,
  loginCount: p.loginCount,
  paymentCount: p.paymentCount,
  transferCount: p.transferCount,
  totalPaymentAmount: p.totalPaymentAmount,
  totalTransferAmount: p.totalTransferAmount,
});

async function userView(adminUrl: string, userId: string): Promise<{ profile: Record<string, unknown>; decisions: LiveDecision[] } | null> {
  const res = await fetch(`${adminUrl}/users/${encodeURIComponent(userId)}`);
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`GET /users/${userId}: ${res.status}`);
  return (await res.json()) as { profile: Record<string, unknown>; decisions: LiveDecision[] };
}

async function userProfile(adminUrl: string, userId: string): Promise<Record<string, unknown> | null> {
  return (await userView(adminUrl, userId))?.profile ?? null;
}

/** What a state's kept decisions say (not when, where or under which version they were made). */
const verdicts = (v: { decisions: LiveDecision[] } | null) => v?.decisions.map((d) => ({ eventId: d.eventId, decision: d.decision, riskScore: d.riskScore, reasons: d.reasons.map((r) => r.code) }));

test('backtest agrees with the live decisions under the live rules and finds the threshold change; rebuild continues exactly after', async (t) => {
  t.timeout(170_000);
  const id = uniqueId('ops');
  // Escalation (the Nth CHALLENGE becomes a BLOCK) off, so that a threshold change moves each
  // decision by its own score alone and the expected disagreements can be computed from the scores.
  const dir = mkdtempSync(join(tmpdir(), 'risk-ops-'));
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ ...JSON.parse(readFileSync('config/test.json', 'utf8')), domain: { escalation: { challenges: 100000 } } }));
  const settings = testSettings(id, { CONFIG_FILE: configFile });
  const inputs = settings.kafka.topics.inputs;
  const cliEnv = { KAFKA_BROKERS: BROKERS.join(','), CONFIG_FILE: configFile, KAFKA_GROUP_ID: id, STATE_PREFIX: id, LOG_LEVEL: 'warn' };
  const kafka = kafkaClient();
  const engines: RunningEngine[] = [];
  t.teardown(async () => {
    for (const e of engines) await e.stop().catch(() => undefined);
  });

  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, settings.kafka).finally(() => admin.disconnect());
  const sendAll = async (events: GeneratedEvent[]) => {
    const sink = await KafkaEventSink.open({ kafka, inputs, other: null, compression: 'none', target: 'test' });
    try {
      const r = await produce(events, sink, { rate: 0, batchSize: 500 });
      t.is(r.sent, events.length);
    } finally {
      await sink.close();
    }
  };

  // Workload A, decided by the live engine.
  const idPrefix = `${id}-`;
  const a = generate({ users: 120, events: 3000, fraudRatio: 0.1, seed: 7, idPrefix });
  const truth = new TruthBuilder(a.plan.options);
  const live = await startEngine(settings);
  engines.push(live);
  await sendAll(a.events);
  for (const g of a.events) truth.add(g);
  await groupCaughtUp(kafka, id, inputs);

  // Backtest under the live rules: every event compared, none differs.
  const liveRulesFile = 'config/default-rules.json';
  const same = await runCli(['backtest', '--rules', liveRulesFile, '--topic-prefix', id, '--json'], cliEnv);
  t.is(same.code, 0, same.stderr);
  const sameReport = JSON.parse(same.stdout) as BacktestReport;
  t.is(sameReport.records, 3000);
  t.is(sameReport.events, 3000, JSON.stringify(sameReport.notCompared));
  t.is(sameReport.agree, 3000, JSON.stringify(sameReport.disagreements));
  t.deepEqual(sameReport.disagreements, {});
  t.log(`backtest of ${sameReport.records} records: ${sameReport.eventsPerSecond} records/s`);

  // Backtest with changed thresholds: the expected moves, from each live decision's score.
  const liveRules = JSON.parse(readFileSync(liveRulesFile, 'utf8')) as Rules;
  const changed: Rules = { ...liveRules, rulesVersion: 2, thresholds: { block: 0.8, challenge: 0.5 } };
  const changedFile = join(dir, 'changed-rules.json');
  writeFileSync(changedFile, JSON.stringify(changed));
  const decisions = parseValues<LiveDecision>(await readToEnd(kafka, settings.kafka.topics.decisions));
  t.is(decisions.length, 3000);
  const expected: Record<string, number> = {};
  for (const d of decisions) {
    const forced = d.reasons.some((r) => r.code.startsWith('HARD_RULE:')); // every default hard rule forces BLOCK
    const now = forced ? 'BLOCK' : d.riskScore > 0.8 ? 'BLOCK' : d.riskScore > 0.5 ? 'CHALLENGE' : 'ALLOW';
    if (now !== d.decision) expected[`${d.decision}->${now}`] = (expected[`${d.decision}->${now}`] ?? 0) + 1;
  }
  t.true(Object.keys(expected).length > 0, 'the workload has scores between the old and the new thresholds');
  const outFile = join(dir, 'report.json');
  const moved = await runCli(['backtest', '--rules', changedFile, '--topic-prefix', id, '--out', outFile], cliEnv);
  t.is(moved.code, 0, moved.stderr);
  t.regex(moved.stdout, /compared 3000 events/);
  const movedReport = JSON.parse(readFileSync(outFile, 'utf8')) as BacktestReport;
  t.is(movedReport.shadowVersion, 2);
  t.deepEqual(movedReport.disagreements, expected);
  t.is(movedReport.agree, 3000 - Object.values(expected).reduce((x, y) => x + y, 0));

  // Rebuild into a new namespace and group; a second run into either is refused.
  const next = `${id}-green`;
  const rebuilt = await runCli(['rebuild', '--state-prefix', next, '--group', next, '--topic-prefix', id, '--json'], cliEnv);
  t.is(rebuilt.code, 0, rebuilt.stderr);
  const result = JSON.parse(rebuilt.stdout) as RebuildResult;
  t.is(result.accepted, 3000);
  t.is(result.offsets.reduce((n, o) => n + Number(o.offset), 0), 3000);
  const usedGroup = await runCli(['rebuild', '--state-prefix', `${id}-other`, '--group', next, '--topic-prefix', id], cliEnv);
  t.is(usedGroup.code, 2);
  t.regex(usedGroup.stderr, /consumer group .* has committed offsets/);
  const usedPrefix = await runCli(['rebuild', '--state-prefix', next, '--group', `${id}-other`, '--topic-prefix', id], cliEnv);
  t.is(usedPrefix.code, 2);
  t.regex(usedPrefix.stderr, /state prefix .* is not empty/);

  // The new engine on the rebuilt state: the same profiles and kept decisions as the live engine's.
  const green = await startEngine(testSettings(id, { CONFIG_FILE: configFile, KAFKA_GROUP_ID: next, STATE_PREFIX: next, INSTANCE_ID: next }));
  engines.push(green);
  const usersA = [...new Set(a.events.map((g) => g.event.userId))];
  for (const userId of usersA) {
    const [was, is] = [await userView(live.adminUrl, userId), await userView(green.adminUrl, userId)];
    t.deepEqual(is?.profile, was?.profile, userId);
    t.deepEqual(verdicts(is), verdicts(was), userId);
  }

  // Workload B (the same users, new event ids, later), taken by the new engine only after the rebuild's offsets.
  const b = generate({ users: 120, events: 1500, fraudRatio: 0.1, seed: 8, idPrefix, startTime: a.events.at(-1)!.event.timestamp + 3_600_000 });
  const bEvents = b.events.map((g) => ({ ...g, event: { ...g.event, eventId: `${g.event.eventId}.b` } }));
  await sendAll(bEvents);
  for (const g of bEvents) truth.add(g);
  await groupCaughtUp(kafka, next, inputs);
  const want = truth.build(true).users;
  const wrong: string[] = [];
  for (const [userId, u] of Object.entries(want)) {
    const got = await userProfile(green.adminUrl, userId);
    const expectedProfile = profileOf(u);
    if (!got || JSON.stringify(profileOf(got as unknown as Profile)) !== JSON.stringify(expectedProfile)) wrong.push(`${userId}: expected ${JSON.stringify(expectedProfile)}, got ${JSON.stringify(got && profileOf(got as unknown as Profile))}`);
  }
  t.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${Object.keys(want).length} users differ from the truth`);
  t.is(Object.keys(want).length >= usersA.length, true);
});
