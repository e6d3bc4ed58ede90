/**
 * `risk-engine dlq list` / `dlq replay` against the real Kafka (and Redis): dead letters that
 * still fail come back to the DLQ once, with the risk-dlq-replay header, and a second replay sends
 * nothing; dead letters whose cause is fixed meanwhile (a currency added to domain.fxRates, a
 * poison event whose fault is gone) give exactly one decision each. Then the same embedded.
 */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaMessage } from 'kafkajs';
import { createClient } from 'redis';
import { EmbeddedDlqLog, replayDeadLetters, listDeadLetters } from '../../../src/cli/commands/dlq.ts';
import { BROKERS, kafkaClient, parseValues, readToEnd, readUntil, startEngine, testSettings, uniqueId, pollUntil } from '../helpers/harness.ts';
import { runCli } from '../admin/instance.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const header = (m: KafkaMessage, name: string): string | undefined => m.headers?.[name]?.toString();
interface Dlq { error: { code: string }; source: { topic: string; partition: number; offset: string; key: string | null } }

test.serial('kafka: replay resends dead letters once; those still failing return once with the header, fixed ones are decided once', async (t) => {
  const id = uniqueId('dlq');
  const settingsA = testSettings(id);
  const topics = settingsA.kafka.topics;
  const login = topics.inputs.find((n) => n.endsWith('login-events'))!;
  const payment = topics.inputs.find((n) => n.endsWith('payment-events'))!;
  const kafka = kafkaClient();
  const redis = createClient({ url: REDIS_URL });
  await redis.connect();
  t.teardown(async () => {
    for await (const keys of redis.scanIterator({ MATCH: `${id}:*`, COUNT: 1000 })) if (keys.length) await redis.del(keys);
    await redis.close();
  });

  // Engine A: no rate for XYZ, and a bug (injected) in deciding events whose eventId starts with "poison-".
  process.env.RISK_FAULT = 'poison-event:poison-';
  const a = await startEngine(settingsA);
  delete process.env.RISK_FAULT;
  const now = Date.now();
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  await producer.send({ topic: login, acks: -1, messages: [
    { key: 'u-json', value: '{"eventId": "broken' },
    { key: 'u-schema', value: JSON.stringify({ userId: 'u-schema', eventType: 'login', timestamp: now }) },
    { key: 'u-poison', value: JSON.stringify({ eventId: 'poison-1', userId: 'u-poison', eventType: 'login', timestamp: now }) },
  ] });
  await producer.send({ topic: payment, acks: -1, messages: [
    { key: 'u-fx', value: JSON.stringify({ eventId: 'fx-1', userId: 'u-fx', eventType: 'payment', timestamp: now, amount: '10', currency: 'XYZ' }) },
  ] });
  await producer.disconnect();
  const first = await readUntil(kafka, topics.dlq, (r) => r.length >= 4, 90_000);
  t.deepEqual(parseValues<Dlq>(first).map((d) => d.error.code).sort(), ['INVALID_JSON', 'POISON', 'SCHEMA', 'SCHEMA']);
  await a.stop();

  // Engine B: XYZ has a rate now and the fault is gone.
  const settingsB = testSettings(id);
  settingsB.domain.fxRates = { ...settingsB.domain.fxRates, XYZ: 2 };
  const b = await startEngine(settingsB);
  t.teardown(() => b.stop());
  const cli = (...args: string[]) => runCli(['dlq', ...args, '--brokers', BROKERS.join(','), '--topic-prefix', id], { KAFKA_BROKERS: undefined });

  const listed = await cli('list');
  t.is(listed.code, 0, listed.stderr);
  const lines = listed.stdout.trim().split('\n').map((l) => JSON.parse(l) as Dlq & { replayOf: string | null; dlq: { partition: number; offset: string } });
  t.is(lines.length, 4);
  t.true(lines.every((l) => l.replayOf === null));
  const schemaOnly = await cli('list', '--code', 'SCHEMA', '--limit', '1');
  t.is(schemaOnly.stdout.trim().split('\n').length, 1);
  t.is((JSON.parse(schemaOnly.stdout) as Dlq).error.code, 'SCHEMA');
  t.is((await cli('list', '--since', 'not a date')).code, 2);

  const replay = await cli('replay');
  t.is(replay.code, 0, replay.stderr);
  t.like(JSON.parse(replay.stdout), { replayed: 4, skipped: { failedAfterReplay: 0, replayedBefore: 0 } });

  // The two that still fail come back once, each with the header naming its first failure.
  const dlq = await readUntil(kafka, topics.dlq, (r) => r.length >= 6, 90_000);
  const again = dlq.filter((m) => header(m, 'risk-dlq-replay') !== undefined);
  t.is(again.length, 2);
  const originals = new Map(parseValues<Dlq>(first).map((d) => [`${d.source.topic}/${d.source.partition}/${d.source.offset}`, d.error.code]));
  t.deepEqual(again.map((m) => originals.get(header(m, 'risk-dlq-replay')!)).sort(), ['INVALID_JSON', 'SCHEMA']);
  // The fixed ones: exactly one decision each.
  const decisions = await readUntil(kafka, topics.decisions, (r) => parseValues<{ eventId: string }>(r).filter((d) => d.eventId === 'fx-1' || d.eventId === 'poison-1').length >= 2, 90_000);
  t.truthy(decisions);

  // A second replay sends nothing: the failed replays carry the header, the rest are marked replayed.
  const second = await cli('replay');
  t.is(second.code, 0, second.stderr);
  t.like(JSON.parse(second.stdout), { replayed: 0, skipped: { failedAfterReplay: 2, replayedBefore: 4 } });
  // Everything B was given is judged and committed: then the topics hold their final counts.
  await pollUntil('B caught up', async () => (await b.engine.parts.source.positions(b.engine.ownedShards())).reduce((n, p) => n + (p.lag ?? 1), 0), (lag) => lag === 0, 60_000);
  t.is((await readToEnd(kafka, topics.dlq)).length, 6, 'nothing new in the DLQ');
  const all = parseValues<{ eventId: string }>(await readToEnd(kafka, topics.decisions));
  t.is(all.filter((d) => d.eventId === 'fx-1').length, 1, 'one decision for the event whose currency is now known');
  t.is(all.filter((d) => d.eventId === 'poison-1').length, 1, 'one decision for the event that was poison');
});

test.serial('embedded: replay over the log of DATA_DIR; it refuses while an engine holds the directory', async (t) => {
  const id = uniqueId('dlq-emb');
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-dlq-'));
  const settings = testSettings(id, { KAFKA_BROKERS: '', DATA_DIR: dataDir });
  const run = await startEngine(settings);
  const now = Date.now();
  const ingest = run.engine.parts.ingest as unknown as { send(r: { topic: string; key: string; value: string }[]): Promise<void> };
  const login = settings.kafka.topics.inputs.find((n) => n.endsWith('login-events'))!;
  await ingest.send([
    { topic: login, key: 'u-1', value: '{"nope' },
    { topic: login, key: 'u-2', value: JSON.stringify({ eventId: 'k-1', userId: 'someone-else', eventType: 'login', timestamp: now }) },
  ]);
  const log = EmbeddedDlqLog.open(dataDir, settings.kafka.partitions);
  try {
    await pollUntil('two dead letters', () => listDeadLetters(log, settings.kafka.topics.dlq, {}, 10), (d) => d.length === 2, 30_000);
  } finally {
    await log.close();
  }
  const cli = (...args: string[]) => runCli(['dlq', ...args, '--topic-prefix', id], { KAFKA_BROKERS: '', DATA_DIR: dataDir, CONFIG_FILE: 'config/test.json' });
  const refused = await cli('replay');
  t.is(refused.code, 2, 'an engine holds DATA_DIR');
  t.regex(refused.stderr, /DATA_DIR/);
  t.is((await cli('list', '--code', 'INVALID_JSON')).stdout.trim().split('\n').length, 1, 'list works beside a running engine');
  await run.stop();

  const replay = await cli('replay');
  t.is(replay.code, 0, replay.stderr);
  t.like(JSON.parse(replay.stdout), { replayed: 2 });
  const run2 = await startEngine(settings);
  t.teardown(() => run2.stop());
  const log2 = EmbeddedDlqLog.open(dataDir, settings.kafka.partitions);
  t.teardown(() => log2.close());
  const dead = await pollUntil('the replays judged', () => listDeadLetters(log2, settings.kafka.topics.dlq, {}, 10), (d) => d.length === 4, 30_000);
  t.is(dead.filter((d) => d.replayOf !== null).length, 2, 'both failed again, once, with the header');
  const second = await replayDeadLetters(log2, settings.kafka.topics.dlq, {});
  t.like(second, { replayed: 0, skipped: { failedAfterReplay: 2, replayedBefore: 2 } });
});
