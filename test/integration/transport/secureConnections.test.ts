/**
 * Secure connections against real services (scripts/services.sh starts them): Kafka's SASL
 * listener (PLAIN, SCRAM-SHA-256/512), a redis-server with requirepass and an ACL user, a
 * nats-server with a token. The engine decides events through all three, and no secret reaches
 * its logs or /metrics; refused credentials stop start-up with one line and exit code 2.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { connect } from '@nats-io/transport-node';
import { createClient } from 'redis';
import type { Msg } from '@nats-io/transport-node';
import { createLogger } from '../../../src/log.ts';
import { RedisJournal } from '../../../src/persistence/RedisJournal.ts';
import { createKafka } from '../../../src/transport/kafka/kafkaClient.ts';
import { KAFKA_SASL_MECHANISMS } from '../../../src/config/connections.ts';
import type { Alert } from '../../../src/transport/ports.ts';
import { childConfig, spawnEngine } from '../helpers/child.ts';
import { BROKERS, kafkaClient, parseValues, produceEvents, readUntil, uniqueId, type TestEvent } from '../helpers/harness.ts';
import { CLI } from '../helpers/cliCommand.ts';

// The test credentials of scripts/services.sh (same variables, same defaults).
const HOST = BROKERS[0]!.split(':')[0]!;
const KAFKA_SASL = `${HOST}:${process.env.RISK_KAFKA_SASL_PORT ?? '9094'}`;
const KAFKA_USER = process.env.RISK_KAFKA_SASL_USER ?? 'risk-test';
const KAFKA_PASSWORD = process.env.RISK_KAFKA_SASL_PASSWORD ?? 'risk-test-secret';
const REDIS_AUTH = `127.0.0.1:${process.env.RISK_REDIS_AUTH_PORT ?? '6380'}`;
const REDIS_USER = process.env.RISK_REDIS_AUTH_USER ?? 'risk-test';
const REDIS_PASSWORD = process.env.RISK_REDIS_AUTH_PASSWORD ?? 'risk-test-secret';
const NATS_AUTH = `127.0.0.1:${process.env.RISK_NATS_AUTH_PORT ?? '4223'}`;
const NATS_TOKEN = process.env.RISK_NATS_TOKEN ?? 'risk-test-token';
const SECRETS = [KAFKA_PASSWORD, REDIS_PASSWORD, NATS_TOKEN];
const WRONG = 'wrong-password-x9';

const mentionsSecret = (text: string): string | undefined => [...SECRETS, WRONG].find((s) => text.includes(s));

test('every SASL mechanism authenticates on the SASL listener', async (t) => {
  for (const mechanism of KAFKA_SASL_MECHANISMS) {
    const admin = createKafka([KAFKA_SASL], `sasl-${mechanism}`, createLogger('silent'), { saslMechanism: mechanism, saslUsername: KAFKA_USER, saslPassword: KAFKA_PASSWORD }).admin();
    await admin.connect();
    t.true(Array.isArray(await admin.listTopics()), mechanism);
    await admin.disconnect();
  }
});

test('Redis credentials from the options or from the URL (ACL user, requirepass)', async (t) => {
  for (const options of [
    { url: `redis://${REDIS_AUTH}`, username: REDIS_USER, password: REDIS_PASSWORD },
    { url: `redis://${encodeURIComponent(REDIS_USER)}:${encodeURIComponent(REDIS_PASSWORD)}@${REDIS_AUTH}` },
    { url: `redis://:${encodeURIComponent(REDIS_PASSWORD)}@${REDIS_AUTH}` },
  ]) {
    const store = await RedisJournal.connect({ ...options, prefix: uniqueId('redis-auth') });
    t.true((await store.nextEpoch(0)) >= 1);
    await store.close();
  }
});

test('the engine decides through SASL/SCRAM Kafka, a password-protected Redis and a token-protected NATS; no secret in its logs or /metrics', async (t) => {
  const id = uniqueId('secure');
  const nc = await connect({ servers: NATS_AUTH, token: NATS_TOKEN });
  t.teardown(() => nc.close());
  const alerts: Msg[] = [];
  nc.subscribe('risk.alerts.>', {
    callback: (_err, m) => {
      if (m.json<Alert>().userId.startsWith(id)) alerts.push(m);
    },
  });
  await nc.flush();

  const engine = await spawnEngine(id, childConfig(id), {
    KAFKA_BROKERS: KAFKA_SASL,
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: KAFKA_USER,
    KAFKA_SASL_PASSWORD: KAFKA_PASSWORD,
    REDIS_URL: `redis://${REDIS_AUTH}`,
    REDIS_USERNAME: REDIS_USER,
    REDIS_PASSWORD: REDIS_PASSWORD,
    NATS_URL: `nats://${NATS_TOKEN}@${NATS_AUTH}`,
  });
  t.teardown(() => engine.proc.kill('SIGKILL'));
  await engine.started;

  const now = Date.now();
  const events: TestEvent[] = [
    { eventId: `${id}-e1`, userId: `${id}-u1`, eventType: 'login', timestamp: now, country: 'DE', deviceId: 'd-1' },
    { eventId: `${id}-e2`, userId: `${id}-u2`, eventType: 'login', timestamp: now, country: 'KP', deviceId: 'd-2' },
  ];
  const kafka = kafkaClient(); // the plain listener of the same broker
  await produceEvents(kafka, () => `${id}.login-events`, events);
  const decisions = parseValues<{ eventId: string; decision: string }>(await readUntil(kafka, `${id}.risk-decisions`, (rs) => rs.length >= events.length));
  t.deepEqual(decisions.map((d) => [d.eventId, d.decision]).sort(), [[`${id}-e1`, 'ALLOW'], [`${id}-e2`, 'BLOCK']]);

  // The journal is in the password-protected Redis, the alert came through the token-protected NATS.
  const redis = await createClient({ url: `redis://${REDIS_AUTH}`, username: REDIS_USER, password: REDIS_PASSWORD }).connect();
  t.teardown(() => redis.close());
  t.true((await redis.keys(`${id}:j:*`)).length >= 2);
  await nc.flush();
  t.deepEqual(alerts.map((m) => m.json<Alert>().eventId), [`${id}-e2`]);

  const metrics = await (await fetch(`${engine.adminUrl}/metrics`)).text();
  t.true(metrics.length > 1000);
  t.is(mentionsSecret(metrics), undefined, 'a secret in /metrics');
  engine.proc.kill('SIGTERM');
  t.is((await engine.exited).code, 0);
  t.true(engine.stderr.length > 0);
  t.is(mentionsSecret(engine.stderr.join('\n')), undefined, 'a secret in the logs');
});

/** `risk-engine start` with `env`: its exit code and every line it printed (stdout and stderr). */
async function startOnce(id: string, env: Record<string, string>): Promise<{ code: number | null; lines: string[] }> {
  const proc = spawn(process.execPath, [...CLI, 'start'], {
    env: { ...process.env, KAFKA_BROKERS: BROKERS.join(','), KAFKA_GROUP_ID: id, STATE_PREFIX: id, CONFIG_FILE: childConfig(id), ADMIN_PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l));
  createInterface({ input: proc.stderr! }).on('line', (l) => lines.push(l));
  const code = await new Promise<number | null>((resolve) => proc.on('close', (c) => resolve(c)));
  return { code, lines };
}

const refusals: [string, Record<string, string>, RegExp][] = [
  ['Kafka', { KAFKA_BROKERS: KAFKA_SASL, KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: KAFKA_USER, KAFKA_SASL_PASSWORD: WRONG }, /^risk-engine: invalid setting KAFKA_SASL_USERNAME\/KAFKA_SASL_PASSWORD: expects credentials the Kafka brokers accept \(SASL SCRAM SHA256 authentication failed/],
  ['Redis', { REDIS_URL: `redis://${REDIS_AUTH}`, REDIS_USERNAME: REDIS_USER, REDIS_PASSWORD: WRONG }, /^risk-engine: invalid setting REDIS_USERNAME\/REDIS_PASSWORD: expects credentials that Redis at redis:\/\/127\.0\.0\.1:\d+ accepts \(WRONGPASS/],
  ['Redis, password in the URL', { REDIS_URL: `redis://${REDIS_USER}:${WRONG}@${REDIS_AUTH}` }, /^risk-engine: invalid setting REDIS_USERNAME\/REDIS_PASSWORD: expects credentials that Redis at redis:\/\/risk-test:\*\*\*@127\.0\.0\.1:\d+\/? accepts \(WRONGPASS/],
  ['NATS', { NATS_URL: `nats://${NATS_AUTH}`, NATS_TOKEN: WRONG }, /^risk-engine: invalid setting NATS_TOKEN: expects credentials that NATS at nats:\/\/127\.0\.0\.1:\d+ accepts \(Authorization Violation\)/],
];

for (const [service, env, line] of refusals) {
  test(`${service}: a wrong password stops start-up with one line naming the setting, exit code 2`, async (t) => {
    const { code, lines } = await startOnce(uniqueId('refused'), env);
    t.is(code, 2, lines.join('\n'));
    // Log lines (JSON) of the parts opened before may come first, but no error among them.
    const plain = lines.filter((l) => !l.startsWith('{'));
    t.is(plain.length, 1, lines.join('\n'));
    t.regex(plain[0]!, line);
    t.false(lines.some((l) => l.startsWith('{') && (JSON.parse(l) as { level: number }).level >= 50), lines.join('\n'));
    t.is(mentionsSecret(lines.join('\n')), undefined, 'a password in the output');
  });
}
