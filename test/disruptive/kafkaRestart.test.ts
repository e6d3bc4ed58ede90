/**
 * Issue 6, broker restart: the (single) Kafka broker of an engine is stopped mid-stream and
 * started again. The same engine process rejoins and continues: no exit, every event ends with
 * exactly one committed decision, and per-user state equals the ground truth.
 *
 * The broker here is PRIVATE (scripts/services.sh with its own ports and data dir, kept across
 * the restart): the shared :9092 is never touched. Redis and NATS are the shared ones (this test
 * does not disturb them). The engine is a child process, as in production.
 */
import test from 'ava';
import { groupCaughtUp, parseValues, produceEvents, readToEnd, readUntil, uniqueId } from '../integration/helpers/harness.ts';
import { childConfig, spawnEngine } from '../integration/helpers/child.ts';
import { orphanGuard, privateKafka } from '../integration/helpers/services.ts';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { generate, type GenEvent } from '../integration/helpers/workload.ts';
import { bursts, describeDuplicates, dumpLog, explainMismatches, missingDecisions, pollUntil, profileOverHttp, readiness, repeated, stateMismatches } from './helpers.ts';

test('Kafka broker stopped and restarted mid-stream: the engine continues, exactly once, state equals truth', async (t) => {
  t.timeout(Number(process.env.DISRUPTIVE_TIMEOUT_MS ?? 150_000), 'the whole test (teardowns then stop the private broker)');
  const broker = await privateKafka(t);
  const kafka = broker.client();
  const id = uniqueId('kafkart');
  const inputs = ['login-events', 'payment-events', 'transfer-events'].map((n) => `${id}.${n}`);
  const decisionsTopic = `${id}.risk-decisions`;
  const topicOf = (e: GenEvent) => `${id}.${e.eventType}-events`;
  const { events, truth } = generate(id, 200, 5000, 7007);
  const [b1, b2] = bursts(events, [0.5]) as [GenEvent[], GenEvent[]];

  const config = childConfig(id);
  t.teardown(() => rmSync(dirname(config), { recursive: true, force: true }));
  const engine = await spawnEngine(id, config, { KAFKA_BROKERS: broker.brokers.join(',') });
  const unguard = orphanGuard(engine.proc.pid!);
  let finished = false;
  t.teardown(() => {
    engine.proc.kill('SIGKILL');
    unguard();
    if (!finished) dumpLog(`kafkaRestart-${id}`, engine.stderr);
  });
  await engine.started;
  t.log('engine started');
  await pollUntil('/readyz 200 at start', () => readiness(engine.adminUrl), (r) => r.status === 200, 60_000);

  await produceEvents(kafka, topicOf as never, b1 as never);
  t.log('burst 1 produced');
  await readUntil(kafka, decisionsTopic, (rs) => rs.length >= 800, 60_000);
  const stopAt = Date.now();
  await broker.stop();
  t.log(`broker stopped in ${Date.now() - stopAt} ms after >= 800 committed decisions`);
  // Checked at the end, so that one run also shows whether processing continues.
  const down = await pollUntil('/readyz 503 while the broker is down', () => readiness(engine.adminUrl), (r) => r.status === 503, 15_000).catch((err: Error) => err);
  t.log(`readyz while the broker is down: ${down instanceof Error ? down.message : `${down.status} ${JSON.stringify(down.reasons)}`}`);

  const startAt = Date.now();
  await broker.start();
  t.log(`broker back after ${Date.now() - stopAt} ms (start took ${Date.now() - startAt} ms)`);
  t.is(engine.proc.exitCode, null, 'the engine process survived the broker outage');

  await produceEvents(kafka, topicOf as never, b2 as never);
  t.log('burst 2 produced');
  await groupCaughtUp(kafka, id, inputs, 60_000);
  t.log(`caught up ${Date.now() - startAt} ms after the broker start`);
  await pollUntil('/readyz 200 after the broker is back', () => readiness(engine.adminUrl), (r) => r.status === 200, 30_000);

  const decisions = parseValues<{ eventId: string; shard: number; decidedAt: number }>(await readToEnd(kafka, decisionsTopic));
  const duplicates = describeDuplicates(decisions);
  if (duplicates) t.log(duplicates);
  t.deepEqual(repeated(decisions, (d) => d.eventId).slice(0, 10), [], 'no event decided twice');
  t.deepEqual(missingDecisions(events, decisions).slice(0, 10), [], 'every event has a decision');
  t.is(decisions.length, events.length, 'exactly one committed decision per event');

  const mismatches = await stateMismatches(truth, (u) => profileOverHttp(engine.adminUrl, u));
  const recent = async (u: string) => {
    const res = await fetch(`${engine.adminUrl}/users/${encodeURIComponent(u)}`);
    return res.ok ? ((await res.json()) as { recentEvents: { eventId: string }[] }).recentEvents.map((e) => e.eventId) : null;
  };
  for (const line of await explainMismatches(mismatches, events, recent)) t.log(line);
  t.deepEqual(mismatches.slice(0, 5), [], 'state equals truth');

  t.is(engine.proc.exitCode, null, 'the same engine process did all of it');
  engine.proc.kill('SIGTERM');
  t.deepEqual(await engine.exited, { code: 0, signal: null }, 'SIGTERM drains and exits 0');
  t.false(down instanceof Error, '/readyz answered 503 while the broker was down (CONTRACT §5)');
  finished = true;
});
