/**
 * `risk-engine produce` end to end, as a user runs it (the CLI in a child process), against a
 * running engine on the real Kafka, Redis and NATS: through `POST /events` and straight to Kafka.
 * The truth file it writes must match what the engine decided and the state it keeps per user.
 */
import type { UserTruth } from '../../../src/loadgen/truth.ts';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import type { GroundTruth } from '../../../src/loadgen/truth.ts';
import { BROKERS, kafkaClient, parseValues, readToEnd, readUntil, startEngine, testSettings, uniqueId, type RunningEngine } from '../helpers/harness.ts';

const run = promisify(execFile);

async function produceCli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ['bin/risk-engine.js', 'produce', ...args], { env: { ...process.env, KAFKA_BROKERS: '' }, timeout: 120_000 });
}

type Profile = Omit<UserTruth, 'fraudPattern'>;

/** Every event of the truth decided exactly once, and every user's profile equal to its truth. */
async function verify(t: ExecutionContext, engine: RunningEngine, truth: GroundTruth): Promise<void> {
  const kafka = kafkaClient();
  const topic = engine.settings.kafka.topics.decisions;
  await readUntil(kafka, topic, (rs) => rs.length >= truth.totals.events, 90_000);
  const decisions = parseValues<{ eventId: string; decision: string }>(await readToEnd(kafka, topic));
  t.is(decisions.length, truth.totals.events, 'one decision per produced event');
  t.is(new Set(decisions.map((d) => d.eventId)).size, truth.totals.events);

  for (const [userId, u] of Object.entries(truth.users)) {
    const res = await fetch(`${engine.adminUrl}/users/${encodeURIComponent(userId)}`);
    t.is(res.status, 200, userId);
    const { profile } = (await res.json()) as { profile: Profile };
    t.deepEqual(
      { eventCount: profile.eventCount, loginCount: profile.loginCount, paymentCount: profile.paymentCount, transferCount: profile.transferCount, totalPaymentAmount: profile.totalPaymentAmount, totalTransferAmount: profile.totalTransferAmount },
      { eventCount: u.eventCount, loginCount: u.loginCount, paymentCount: u.paymentCount, transferCount: u.transferCount, totalPaymentAmount: u.totalPaymentAmount, totalTransferAmount: u.totalTransferAmount },
      userId,
    );
  }
}

function truthFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'risk-produce-')), 'truth.json');
}

test('produce --url: events posted to a running engine, the truth file matches its decisions and user state', async (t) => {
  const id = uniqueId('prod-http');
  const engine = await startEngine(testSettings(id));
  t.teardown(() => engine.stop());
  const file = truthFile();
  const { stdout } = await produceCli(['--url', engine.adminUrl, '--users', '40', '--events', '700', '--fraud-ratio', '0.1', '--seed', '5', '--id-prefix', `${id}-`, '--batch-size', '90', '--truth', file]);
  t.regex(stdout, /produced 700 events \(40 users, 4 with a fraud pattern/);
  const truth = JSON.parse(readFileSync(file, 'utf8')) as GroundTruth;
  t.is(truth.totals.events, 700);
  t.true(truth.complete);
  t.is(truth.totals.fraudUsers, 4);
  t.true(Object.keys(truth.fraudEvents).length > 4);
  t.true(Object.keys(truth.users).every((u) => u.startsWith(`${id}-`)));
  await verify(t, engine, truth);
});

test('produce --brokers: straight to the input topics (lz4, rate-limited), the truth file matches', async (t) => {
  const id = uniqueId('prod-kafka');
  const engine = await startEngine(testSettings(id));
  t.teardown(() => engine.stop());
  const file = truthFile();
  const started = Date.now();
  const { stdout } = await produceCli(['--brokers', BROKERS.join(','), '--topic-prefix', id, '--compression', 'lz4', '--rate', '2000', '--users', '30', '--events', '600', '--seed', '9', '--id-prefix', `${id}-`, '--truth', file]);
  t.regex(stdout, /produced 600 events/);
  t.true(Date.now() - started >= 290, 'the rate held the events back');
  const truth = JSON.parse(readFileSync(file, 'utf8')) as GroundTruth;
  t.is(truth.totals.events, 600);
  await verify(t, engine, truth);
});

test('produce refuses two targets and a missing one with exit code 2', async (t) => {
  const both = await produceCli(['--url', 'http://127.0.0.1:1', '--out', '-']).catch((err: { code: number; stderr: string }) => err);
  t.is((both as { code: number }).code, 2);
  t.regex((both as { stderr: string }).stderr, /choose one target/);
  const none = await produceCli([]).catch((err: { code: number; stderr: string }) => err);
  t.is((none as { code: number }).code, 2);
  t.regex((none as { stderr: string }).stderr, /no target/);
});
