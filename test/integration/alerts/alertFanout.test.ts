/**
 * Alerts on NATS (CONTRACT §4) from a real engine: a subscriber on `risk.alerts.block.>` gets
 * exactly the BLOCK alerts, one on `risk.alerts.>` exactly BLOCK and CHALLENGE, nothing for
 * ALLOW; the JetStream stream stores one alert per BLOCK/CHALLENGE decision, and still one after
 * the same alerts are published again (a redelivery), thanks to Nats-Msg-Id.
 */
import test from 'ava';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, DeliverPolicy } from '@nats-io/jetstream';
import { silentLogger } from '../../../src/log.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import { NatsAlertBus } from '../../../src/transport/nats/NatsAlertBus.ts';
import type { Alert } from '../../../src/transport/ports.ts';
import { kafkaClient, natsConnect, parseValues, produceEvents, readUntil, testSettings, uniqueId, type TestEvent } from '../helpers/harness.ts';
import { startInstance } from '../admin/instance.ts';

interface DecisionRecord {
  eventId: string;
  userId: string;
  eventType: string;
  decision: 'ALLOW' | 'CHALLENGE' | 'BLOCK';
}

/** The stream's alerts of this test's users stored after sequence `after`, up to its last message now. */
async function storedAlerts(nc: NatsConnection, stream: string, after: number, userPrefix: string): Promise<Alert[]> {
  const jsm = await jetstreamManager(nc);
  const last = (await jsm.streams.info(stream)).state.last_seq;
  const alerts: Alert[] = [];
  if (last <= after) return alerts;
  const consumer = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 });
  const messages = await consumer.consume();
  for await (const m of messages) {
    const alert = m.json<Alert>();
    if (alert.userId.startsWith(userPrefix)) alerts.push(alert);
    if (m.seq >= last) break;
  }
  await consumer.delete().catch(() => undefined);
  return alerts;
}

function collect(nc: NatsConnection, subject: string, userPrefix: string): Msg[] {
  const got: Msg[] = [];
  nc.subscribe(subject, {
    callback: (_err, msg) => {
      if (msg.json<{ userId: string }>().userId.startsWith(userPrefix)) got.push(msg);
    },
  });
  return got;
}

test('BLOCK alerts on risk.alerts.block.>, BLOCK and CHALLENGE on risk.alerts.>, none for ALLOW; one stored alert each, also after a redelivery', async (t) => {
  const id = uniqueId('alerts');
  const settings = testSettings(id);
  const base = RulesHolder.fromFile(settings.rulesFile).current();
  // One more hard rule so that CHALLENGE decisions happen too.
  const rules = { ...base, hardRules: [...base.hardRules, { id: 'review-zz', when: { countryIn: ['ZZ'] }, decision: 'CHALLENGE' as const }] };

  const nc = await natsConnect();
  t.teardown(() => nc.close());
  const blockOnly = collect(nc, 'risk.alerts.block.>', id);
  const every = collect(nc, 'risk.alerts.>', id);
  await nc.flush();

  const instance = await startInstance(settings, rules);
  t.teardown(() => instance.stop());
  const stream = settings.nats.stream;
  const startSeq = (await (await jetstreamManager(nc)).streams.info(stream)).state.last_seq;

  const now = Date.now();
  const ev = (userId: string, n: number, eventType: string, extra: Record<string, unknown>): TestEvent => ({ eventId: `${userId}-e${n}`, userId, eventType, timestamp: now + n * 1000, deviceId: 'd-1', ...extra });
  const u = (n: number) => `${id}-u${n}`;
  const events: TestEvent[] = [
    ev(u(0), 1, 'login', { country: 'DE' }), // ALLOW
    ev(u(0), 2, 'payment', { country: 'DE', amount: '12.50' }), // ALLOW
    ev(u(0), 3, 'transfer', { country: 'DE', amount: 25000 }), // BLOCK big-transfer
    ev(u(1), 1, 'login', { country: 'KP' }), // BLOCK sanctioned-country
    ev(u(2), 1, 'payment', { country: 'ZZ', amount: '3.00' }), // CHALLENGE review-zz
    ev(u(3), 1, 'login', { country: 'ZZ' }), // CHALLENGE review-zz
    ev(u(4), 1, 'login', { country: 'DE' }), // ALLOW
  ];
  const [logins, payments, transfers] = settings.kafka.topics.inputs as [string, string, string];
  const kafka = kafkaClient();
  await produceEvents(kafka, (e) => (e.eventType === 'login' ? logins : e.eventType === 'payment' ? payments : transfers), events);
  const records = await readUntil(kafka, settings.kafka.topics.decisions, (rs) => rs.length >= events.length);
  const decisions = parseValues<DecisionRecord>(records);
  t.is(decisions.length, events.length);

  const ids = (want: DecisionRecord['decision'][]) => decisions.filter((d) => want.includes(d.decision)).map((d) => d.eventId).sort();
  const blocks = ids(['BLOCK']);
  const alerting = ids(['BLOCK', 'CHALLENGE']);
  t.deepEqual(blocks, [`${u(0)}-e3`, `${u(1)}-e1`]);
  t.deepEqual(ids(['CHALLENGE']), [`${u(2)}-e1`, `${u(3)}-e1`]);
  t.is(ids(['ALLOW']).length, 3);

  // Alerts are published before the decisions are committed; a round trip on our own
  // connection makes sure the server's deliveries to us have arrived.
  await nc.flush();
  t.deepEqual(blockOnly.map((m) => m.json<Alert>().eventId).sort(), blocks);
  t.deepEqual(every.map((m) => m.json<Alert>().eventId).sort(), alerting);
  for (const m of every) {
    const alert = m.json<Alert>();
    const decision = decisions.find((d) => d.eventId === alert.eventId)!;
    t.is(m.subject, `risk.alerts.${decision.decision.toLowerCase()}.${decision.eventType}`);
    t.is(m.headers?.get('Nats-Msg-Id'), alert.eventId);
    t.like(alert, { alertId: alert.eventId, userId: decision.userId, eventType: decision.eventType, decision: decision.decision });
  }

  // JetStream: one stored alert per BLOCK/CHALLENGE decision.
  const stored = await storedAlerts(nc, stream, startSeq, id);
  t.deepEqual(stored.map((a) => a.eventId).sort(), alerting);

  // A redelivery publishes the same alerts again (same eventId, so same Nats-Msg-Id): nothing new is stored.
  const bus = await NatsAlertBus.connect({ url: settings.nats.url, stream, duplicateWindowMs: settings.nats.duplicateWindowMs, bufferSize: 100 }, silentLogger);
  t.teardown(() => bus.close());
  for (const alert of stored) await bus.publish(alert, null);
  t.deepEqual((await storedAlerts(nc, stream, startSeq, id)).map((a) => a.eventId).sort(), alerting);

  // The check itself can see a new alert: one with a fresh eventId is stored.
  await bus.publish({ ...stored[0]!, alertId: `${id}-fresh`, eventId: `${id}-fresh` }, null);
  t.deepEqual((await storedAlerts(nc, stream, startSeq, id)).map((a) => a.eventId).sort(), [...alerting, `${id}-fresh`].sort());
});
