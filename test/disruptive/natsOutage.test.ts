/**
 * Issue 6, NATS outage: the NATS server of an engine is stopped mid-stream and started again.
 * Decisions keep being committed while it is down (alerts wait in the bounded buffer), /readyz
 * answers 503 naming the alert bus, and in the end every BLOCK/CHALLENGE decision has exactly
 * one alert stored in the JetStream stream RISK_ALERTS, and no other alert is stored.
 *
 * The NATS here is PRIVATE (own port, own JetStream store dir): the shared :4222 is never
 * touched. Kafka and Redis are the shared ones (this test does not disturb them).
 */
import test from 'ava';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { groupCaughtUp, kafkaClient, parseValues, produceEvents, readToEnd, readUntil, startEngine, testSettings, uniqueId } from '../integration/helpers/harness.ts';
import { privateNats } from '../integration/helpers/services.ts';
import { generate, type GenEvent } from '../integration/helpers/workload.ts';
import { topicForType } from '../../src/loadgen/sinks.ts';
import { bursts, describeDuplicates, explainMismatches, metricSum, metricsText, missingDecisions, pollUntil, readiness, repeated, stateMismatches, truthOf } from './helpers.ts';

interface Decision {
  eventId: string;
  userId: string;
  eventType: string;
  decision: 'ALLOW' | 'CHALLENGE' | 'BLOCK';
}
interface StoredAlert {
  subject: string;
  msgId: string | undefined;
  alert: { alertId: string; userId: string; eventId: string; eventType: string; decision: string };
}

/** Every 8th transfer above 10,000: BLOCKed by the default hard rule `big-transfer`. */
function withBigTransfers(events: GenEvent[]): GenEvent[] {
  let transfers = 0;
  return events.map((e) => {
    if (e.eventType !== 'transfer' || transfers++ % 8 !== 0) return e;
    const [whole, frac] = e.amount!.split('.') as [string, string];
    return { ...e, amount: `${BigInt(whole) + 15_000n}.${frac}` };
  });
}

test('NATS stopped and restarted mid-stream: every BLOCK/CHALLENGE has exactly one stored alert', async (t) => {
  t.timeout(Number(process.env.DISRUPTIVE_TIMEOUT_MS ?? 150_000), 'the whole outage test (teardowns then stop the private NATS)');
  const nats = await privateNats(t);
  const id = uniqueId('natsout');
  const settings = testSettings(id, { NATS_URL: nats.url, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error' });
  const { decisions: decisionsTopic, inputs } = settings.kafka.topics;
  const topicOf = (e: GenEvent) => topicForType(inputs, null, e.eventType)!;
  const events = withBigTransfers(generate(id, 200, 4000, 6006).events);
  const truth = truthOf(events);
  const [b1, b2, b3] = bursts(events, [0.45, 0.75]) as [GenEvent[], GenEvent[], GenEvent[]];
  const big = (es: GenEvent[]) => es.filter((e) => e.eventType === 'transfer' && Number(e.amount) > 10_000).length;
  t.true(big(b2) > 10, 'the burst sent while NATS is down has BLOCKs');
  const kafka = kafkaClient();

  const engine = await startEngine(settings);
  t.teardown(() => engine.stop());
  const url = engine.adminUrl;
  await pollUntil('/readyz 200 at start', () => readiness(url), (r) => r.status === 200, 30_000);

  // Burst 1; NATS goes away once part of it is committed (the rest is in flight).
  await produceEvents(kafka, topicOf as never, b1 as never);
  await readUntil(kafka, decisionsTopic, (rs) => rs.length >= 600, 60_000);
  await nats.stop();
  const down = await pollUntil('/readyz 503 naming the alert bus', () => readiness(url), (r) => r.status === 503 && r.reasons.some((x) => /alert|nats/i.test(x)), 15_000);
  t.log(`readyz while NATS is down: ${down.status} ${JSON.stringify(down.reasons)}`);

  // Burst 2 while NATS is down: decisions keep being committed, its alerts wait in the buffer.
  await produceEvents(kafka, topicOf as never, b2 as never);
  await readUntil(kafka, decisionsTopic, (rs) => rs.length >= b1.length + b2.length, 90_000);
  const buffered = engine.engine.parts.alerts.buffered ?? 0;
  t.log(`alerts buffered while NATS is down: ${buffered}; gauge ${metricSum(await metricsText(url), 'risk_alerts_buffered')}`);
  t.true(buffered > 0, 'alerts of decisions committed while NATS is down wait in the buffer');
  t.is(metricSum(await metricsText(url), 'risk_alerts_buffered'), buffered);

  await nats.start();
  await pollUntil('/readyz 200 after NATS is back', () => readiness(url), (r) => r.status === 200, 30_000);
  await produceEvents(kafka, topicOf as never, b3 as never);
  await groupCaughtUp(kafka, settings.kafka.groupId, inputs, 120_000);

  const decisions = parseValues<Decision>(await readToEnd(kafka, decisionsTopic));
  const duplicates = describeDuplicates(decisions);
  if (duplicates) t.log(duplicates);
  t.deepEqual(repeated(decisions, (d) => d.eventId).slice(0, 10), [], 'no event decided twice');
  t.deepEqual(missingDecisions(events, decisions).slice(0, 10), [], 'every event has a decision');
  t.is(decisions.length, events.length);
  const alerting = decisions.filter((d) => d.decision !== 'ALLOW');
  t.log(`decisions: ${decisions.length}, BLOCK ${alerting.filter((d) => d.decision === 'BLOCK').length}, CHALLENGE ${alerting.filter((d) => d.decision === 'CHALLENGE').length}`);
  t.true(alerting.length >= big(events), 'every big transfer is at least CHALLENGEd');

  // The buffer drains once NATS is back; then the stream holds what it will hold.
  await pollUntil('the alert buffer to drain', async () => engine.engine.parts.alerts.buffered ?? 0, (n) => n === 0, 60_000);
  const nc = await connect({ servers: nats.url.replace(/^nats:\/\//, '') });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  await pollUntil(
    `RISK_ALERTS to hold ${alerting.length} alerts`,
    async () => (await jsm.streams.info('RISK_ALERTS')).state.messages,
    (n) => n >= alerting.length,
    30_000,
  );
  const stored: StoredAlert[] = [];
  const consumer = await jetstream(nc).consumers.get('RISK_ALERTS', { filter_subjects: 'risk.alerts.>' });
  const messages = await consumer.consume();
  for await (const m of messages) {
    stored.push({ subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id'), alert: m.json() });
    if (m.info.pending === 0) break;
  }
  await messages.close();
  const mine = stored.filter((s) => s.alert.userId.startsWith(`${id}-`));
  t.is(mine.length, stored.length, 'the private stream holds only this test’s alerts');

  t.deepEqual(repeated(mine, (s) => s.alert.alertId).slice(0, 10), [], 'no alert stored twice');
  const byId = new Map(mine.map((s) => [s.alert.alertId, s]));
  const missing = alerting.filter((d) => !byId.has(d.eventId));
  t.log(`stored alerts: ${mine.length}; BLOCK/CHALLENGE decisions without an alert: ${missing.length}`);
  t.deepEqual(missing.map((d) => `${d.eventId} ${d.decision}`).slice(0, 10), [], 'every BLOCK/CHALLENGE decision has its alert');
  const decided = new Map(decisions.map((d) => [d.eventId, d]));
  const wrong = mine.filter((s) => {
    const d = decided.get(s.alert.alertId);
    return !d || d.decision === 'ALLOW' || s.alert.decision !== d.decision || s.alert.eventId !== d.eventId || s.msgId !== d.eventId
      || s.subject !== `risk.alerts.${d.decision.toLowerCase()}.${d.eventType}`;
  });
  t.deepEqual(wrong.map((s) => JSON.stringify(s)).slice(0, 5), [], 'each alert matches its decision (subject, decision, Nats-Msg-Id)');

  const mismatches = await stateMismatches(truth, async (u) => (await engine.engine.userState(u))?.profile);
  for (const line of await explainMismatches(mismatches, events, async (u) => (await engine.engine.userState(u))?.recentEvents.map((e) => e.eventId) ?? null)) t.log(line);
  t.deepEqual(mismatches.slice(0, 5), [], 'state equals truth');
});
