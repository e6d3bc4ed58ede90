/**
 * Shadow rules on the real services (CONTRACT §8), with engines as child processes: a shadow set
 * through PUT /rules/shadow is decided beside the live rules on a generated workload, across a
 * crash between journaling and committing (SIGKILL) and the restart that follows (which learns
 * the shadow from the rules topic). The report's counts equal an independent count over the
 * committed decision records (read_committed), so they are exactly once; live decisions are those
 * of the live rules; after DELETE /rules/shadow, decisions carry no shadow.
 */
import test from 'ava';
import { groupCaughtUp, kafkaClient, parseValues, produceEvents, readToEnd, uniqueId } from '../helpers/harness.ts';
import { childConfig, dumpEngineLogs, spawnEngine, type ChildEngine } from '../helpers/child.ts';
import { generate, type GenEvent } from '../helpers/workload.ts';

type Json = Record<string, any>;

interface DecisionRecord {
  eventId: string;
  decision: string;
  rulesVersion: number;
  shadow?: { rulesVersion: number; decision: string; riskScore: number };
}

async function call(url: string, method = 'GET', body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as Json };
}

/** The report's counting, done independently over committed decision records. */
function countOf(decisions: readonly DecisionRecord[], shadowVersion: number) {
  const withShadow = decisions.filter((d) => d.shadow?.rulesVersion === shadowVersion);
  const disagreements: Record<string, number> = {};
  let agree = 0;
  for (const d of withShadow) {
    if (d.decision === d.shadow!.decision) agree++;
    else disagreements[`${d.decision}->${d.shadow!.decision}`] = (disagreements[`${d.decision}->${d.shadow!.decision}`] ?? 0) + 1;
  }
  return { events: withShadow.length, agree, disagreements };
}

/** Sum of risk_shadow_decisions_total over its labels, per "live->shadow". */
async function shadowMetric(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^risk_shadow_decisions_total\{live="(\w+)",shadow="(\w+)"\} (\d+)/gm)) out[`${m[1]}->${m[2]}`] = Number(m[3]);
  return out;
}

test('Kafka: the shadow report counts every committed decision under the shadow exactly once, across a crash; DELETE stops it', async (t) => {
  const id = uniqueId('shadow');
  const config = childConfig(id);
  const topics = ['login-events', 'payment-events', 'transfer-events'].map((n) => `${id}.${n}`);
  const topicOf = (e: GenEvent) => `${id}.${e.eventType}-events`;
  const kafka = kafkaClient();
  const engines: Record<string, ChildEngine | undefined> = {};
  t.teardown(() => Object.values(engines).forEach((e) => e?.proc.kill('SIGKILL')));
  t.teardown(() => {
    if (!t.passed) t.log(dumpEngineLogs(id, engines));
  });

  const first = (engines.first = await spawnEngine(id, config, { RISK_FAULT: 'crash-before-commit:4' }));
  await first.started;
  const live = (await call(`${first.adminUrl}/rules`)).body;
  // A stricter candidate: a higher base score and lower thresholds, and a hard rule on transfers.
  const candidate = { ...live, bias: -1.2, thresholds: { block: 0.45, challenge: 0.25 }, hardRules: [...(live.hardRules ?? []), { id: 'shadow-transfer', when: { eventType: 'transfer', amountAbove: '150' }, decision: 'BLOCK' }] };
  const put = await call(`${first.adminUrl}/rules/shadow`, 'PUT', candidate);
  t.is(put.status, 200);
  const shadowVersion = put.body.rulesVersion as number;
  t.is(shadowVersion, live.rulesVersion + 1);
  t.deepEqual((await call(`${first.adminUrl}/rules/shadow`)).body, put.body);
  t.is((await call(`${first.adminUrl}/rules`)).body.rulesVersion, live.rulesVersion, 'the live rules stay');

  const { events } = generate(id, 60, 1500, 11);
  await produceEvents(kafka, topicOf as never, events as never);
  const crash = await first.exited;
  t.is(crash.signal, 'SIGKILL', 'the fault hook killed the engine between a journal write and its commit');

  const second = (engines.second = await spawnEngine(id, config));
  await second.started;
  t.deepEqual((await call(`${second.adminUrl}/rules/shadow`)).body, put.body, 'the restarted engine follows the shadow from the rules topic');
  await groupCaughtUp(kafka, id, topics);

  const decisions = parseValues<DecisionRecord>(await readToEnd(kafka, `${id}.risk-decisions`));
  t.is(decisions.length, events.length, 'one committed decision per event');
  t.true(decisions.every((d) => d.shadow?.rulesVersion === shadowVersion && d.rulesVersion === live.rulesVersion), 'every decision carries the shadow verdict');
  const expected = countOf(decisions, shadowVersion);
  t.true(Object.keys(expected.disagreements).length >= 2, `a workload with disagreements (${JSON.stringify(expected)})`);

  const report = await call(`${second.adminUrl}/rules/shadow/report`);
  t.is(report.status, 200);
  t.like(report.body, { shadowVersion, ...expected });
  t.deepEqual(report.body.disagreements, expected.disagreements);
  t.true(typeof report.body.since === 'number' && report.body.since <= Date.now());
  const redelivered = Number((await (await fetch(`${second.adminUrl}/metrics`)).text()).match(/^risk_redelivered_events_total (\d+)/m)?.[1] ?? 0);
  t.true(redelivered > 0, 'records journaled before the crash came again: re-emitted, not counted again');
  // More events while the shadow runs on the restarted engine: counted in the store and in its
  // metric (which counts what this engine decided and committed, not what it re-emitted).
  const mid = generate(`${id}-mid`, 20, 200, 13).events;
  await produceEvents(kafka, topicOf as never, mid as never);
  await groupCaughtUp(kafka, id, topics);
  const withMid = parseValues<DecisionRecord>(await readToEnd(kafka, `${id}.risk-decisions`));
  t.is(withMid.length, events.length + mid.length);
  const expectedMid = countOf(withMid, shadowVersion);
  t.is(expectedMid.events, events.length + mid.length);
  t.like((await call(`${second.adminUrl}/rules/shadow/report`)).body, { shadowVersion, ...expectedMid });
  const metric = await shadowMetric(second.adminUrl);
  const counted = Object.values(metric).reduce((a, b) => a + b, 0);
  t.true(counted >= mid.length && counted <= expectedMid.events, `metric ${JSON.stringify(metric)}`);
  const midCount = countOf(withMid.filter((d) => d.eventId.startsWith(`${id}-mid-`)), shadowVersion);
  for (const [pair, n] of Object.entries(midCount.disagreements)) t.true((metric[pair] ?? 0) >= n, pair);

  // Stop: later decisions carry no shadow; the stopped shadow's report stays readable by version.
  const del = await call(`${second.adminUrl}/rules/shadow`, 'DELETE');
  t.is(del.status, 200);
  t.is(del.body.rulesVersion, shadowVersion);
  t.is((await call(`${second.adminUrl}/rules/shadow`)).status, 404);
  const later = generate(`${id}-after`, 20, 200, 12).events;
  await produceEvents(kafka, topicOf as never, later as never);
  await groupCaughtUp(kafka, id, topics);
  const all = parseValues<DecisionRecord>(await readToEnd(kafka, `${id}.risk-decisions`));
  const after = all.filter((d) => d.eventId.startsWith(`${id}-after-`));
  t.is(after.length, later.length);
  t.true(after.every((d) => !('shadow' in d)), 'no shadow after DELETE');
  t.like((await call(`${second.adminUrl}/rules/shadow/report?version=${shadowVersion}`)).body, { shadowVersion, ...expectedMid });
});
