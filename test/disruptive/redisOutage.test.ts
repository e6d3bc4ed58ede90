/**
 * Issue 5, Redis faults: the Redis server of an engine is stopped mid-stream and started again.
 * While it is down no event that needs the store is committed and /readyz answers 503 naming
 * the store; once it is back processing resumes, and the end is exactly one committed decision
 * per event and per-user state equal to the ground truth, live and as recovered from the store.
 *
 * The Redis here is PRIVATE (own port, AOF with fsync always, temp dir): the shared :6379 is
 * never touched. Kafka and NATS are the shared ones (this test does not disturb them).
 */
import test from 'ava';
import { groupCaughtUp, kafkaClient, parseValues, produceEvents, readToEnd, readUntil, startEngine, testSettings, uniqueId, type RunningEngine } from '../integration/helpers/harness.ts';
import { privateRedis } from '../integration/helpers/services.ts';
import { generate, type GenEvent } from '../integration/helpers/workload.ts';
import { topicForType } from '../../src/loadgen/sinks.ts';
import { bursts, describeDuplicates, explainMismatches, missingDecisions, metricSum, metricsText, pollUntil, readiness, repeated, stateMismatches } from './helpers.ts';

test('Redis stopped and restarted mid-stream: 503 while down, then exactly once and state equal to truth', async (t) => {
  t.timeout(Number(process.env.DISRUPTIVE_TIMEOUT_MS ?? 150_000), 'the whole outage test (teardowns then stop the private Redis)');
  const redis = await privateRedis(t);
  const id = uniqueId('redisout');
  const settings = testSettings(id, { REDIS_URL: redis.url, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error' });
  const { decisions: decisionsTopic, inputs } = settings.kafka.topics;
  const topicOf = (e: GenEvent) => topicForType(inputs, null, e.eventType)!;
  const { events, truth } = generate(id, 200, 5000, 5005);
  const [b1, b2, b3] = bursts(events, [0.4, 0.7]) as [GenEvent[], GenEvent[], GenEvent[]];
  const kafka = kafkaClient();

  let engine: RunningEngine | null = await startEngine(settings);
  t.teardown(() => engine?.stop());
  const url = engine.adminUrl;
  await pollUntil('/readyz 200 at start', () => readiness(url), (r) => r.status === 200, 30_000);

  // Burst 1; Redis goes away once part of it is committed (the rest is in flight).
  await produceEvents(kafka, topicOf as never, b1 as never);
  await readUntil(kafka, decisionsTopic, (rs) => rs.length >= 600, 60_000);
  await redis.stop();
  t.log(`redis stopped after >= 600 committed decisions`);

  const down = await pollUntil('/readyz 503 naming the store', () => readiness(url), (r) => r.status === 503 && r.reasons.some((x) => /store|redis/i.test(x)), 15_000);
  t.log(`readyz while Redis is down: ${down.status} ${JSON.stringify(down.reasons)}`);

  // Burst 2 arrives while the store is down: it must not be committed before Redis is back.
  await produceEvents(kafka, topicOf as never, b2 as never);
  const retried = await pollUntil(
    'batches failing on the store',
    async () => metricSum(await metricsText(url), 'risk_batch_retries_total'),
    (n) => n > 0,
    20_000,
  );
  t.log(`batch retries while Redis is down: ${retried}`);
  const duringOutage = parseValues<{ eventId: string }>(await readToEnd(kafka, decisionsTopic));
  const b2Ids = new Set(b2.map((e) => e.eventId));
  t.is(duringOutage.filter((d) => b2Ids.has(d.eventId)).length, 0, 'no decision of an event that arrived while the store was down');
  t.is((await readiness(url)).status, 503, 'still not ready while Redis is down');

  await redis.start();
  await pollUntil('/readyz 200 after Redis is back', () => readiness(url), (r) => r.status === 200, 30_000);
  await produceEvents(kafka, topicOf as never, b3 as never);
  await groupCaughtUp(kafka, settings.kafka.groupId, inputs, 120_000);

  const decisions = parseValues<{ eventId: string; shard: number; decidedAt: number }>(await readToEnd(kafka, decisionsTopic));
  const duplicates = describeDuplicates(decisions);
  if (duplicates) t.log(duplicates);
  t.deepEqual(repeated(decisions, (d) => d.eventId).slice(0, 10), [], 'no event decided twice');
  t.is(decisions.length, events.length, 'exactly one committed decision per event');
  t.deepEqual(missingDecisions(events, decisions).slice(0, 10), [], 'every event has a decision');

  const live = engine;
  const liveMismatches = await stateMismatches(truth, async (u) => (await live.engine.userState(u))?.profile);
  const metrics = await metricsText(url);
  t.log(`supervision: restarts ${metricSum(metrics, 'risk_supervision_restarts_total')}, escalations ${metricSum(metrics, 'risk_supervision_escalations_total')}, redelivered ${metricSum(metrics, 'risk_redelivered_events_total')}`);

  // What Redis kept across the restart: a fresh engine reads every user back from the store.
  await engine.stop();
  engine = null;
  engine = await startEngine(settings);
  const fresh = engine;
  const sources = new Set<string>();
  const storeMismatches = await stateMismatches(truth, async (u) => {
    const s = await fresh.engine.userState(u);
    if (s) sources.add(s.source);
    return s?.profile;
  });
  t.log(`users whose state differs from the truth: live ${liveMismatches.length}, from the store ${storeMismatches.length} (of ${truth.size})`);
  for (const line of await explainMismatches(storeMismatches, events, async (u) => (await fresh.engine.userState(u))?.recentEvents.map((e) => e.eventId) ?? null)) t.log(line);
  t.deepEqual(liveMismatches.slice(0, 5), [], 'live state equals truth');
  t.deepEqual(storeMismatches.slice(0, 5), [], 'state recovered from the restarted Redis equals truth');
  t.deepEqual([...sources], ['store']);
});
