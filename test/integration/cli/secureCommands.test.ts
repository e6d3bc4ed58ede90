/**
 * The CLI's own connections take the engine's credentials: `produce` to Kafka's SASL listener and
 * `alerts` from the token-protected NATS that scripts/services.sh starts (same variables and
 * defaults as test/integration/transport/secureConnections.test.ts).
 */
import test from 'ava';
import { connect } from '@nats-io/transport-node';
import { tailAlerts } from '../../../src/cli/commands/alerts.ts';
import { BROKERS, kafkaClient, readToEnd, uniqueId } from '../helpers/harness.ts';
import { cli } from '../helpers/cli.ts';

const HOST = BROKERS[0]!.split(':')[0]!;
const KAFKA_SASL = `${HOST}:${process.env.RISK_KAFKA_SASL_PORT ?? '9094'}`;
const KAFKA_USER = process.env.RISK_KAFKA_SASL_USER ?? 'risk-test';
const KAFKA_PASSWORD = process.env.RISK_KAFKA_SASL_PASSWORD ?? 'risk-test-secret';
const NATS_AUTH = `nats://127.0.0.1:${process.env.RISK_NATS_AUTH_PORT ?? '4223'}`;
const NATS_TOKEN = process.env.RISK_NATS_TOKEN ?? 'risk-test-token';


test('produce writes through the SASL/SCRAM listener with KAFKA_SASL_* and keeps the password out of its output', async (t) => {
  const prefix = uniqueId('sasl-produce');
  const run = await cli(['produce', '--users', '3', '--events', '12', '--topic-prefix', prefix, '--seed', '5'], {
    KAFKA_BROKERS: KAFKA_SASL,
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: KAFKA_USER,
    KAFKA_SASL_PASSWORD: KAFKA_PASSWORD,
  });
  t.is(run.code, 0, run.stderr);
  t.false(`${run.stdout}${run.stderr}`.includes(KAFKA_PASSWORD));
  const kafka = kafkaClient();
  let n = 0;
  for (const type of ['login', 'payment', 'transfer']) n += (await readToEnd(kafka, `${prefix}.${type}-events`).catch(() => [])).length;
  t.is(n, 12);
});

test('alerts subscribes to a token-protected NATS with NATS_TOKEN', async (t) => {
  const subject = `risk.alerts.${uniqueId('tok')}`;
  const lines: string[] = [];
  let seen!: () => void;
  const got = new Promise<void>((resolve) => (seen = resolve));
  const stop = await tailAlerts({ url: NATS_AUTH, token: NATS_TOKEN }, subject, (l) => {
    lines.push(l);
    seen();
  }, () => undefined);
  t.teardown(stop);
  const nc = await connect({ servers: NATS_AUTH, token: NATS_TOKEN });
  t.teardown(() => nc.close());
  nc.publish(subject, JSON.stringify({ alertId: 'a-1' }));
  await got;
  t.deepEqual(lines, [`${subject} {"alertId":"a-1"}\n`]);
  await t.throwsAsync(tailAlerts(NATS_AUTH, subject, () => undefined, () => undefined), undefined, 'without the token the server refuses');
});
