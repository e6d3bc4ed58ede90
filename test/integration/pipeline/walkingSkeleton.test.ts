/**
 * The walking skeleton on the real services: events produced to Kafka are judged by the user
 * actors and give exactly one decision each on the decisions topic; a BLOCK raises an alert on NATS.
 */
import test from 'ava';
import type { Msg } from '@nats-io/transport-node';
import type { Decision } from '../../../src/domain/index.ts';
import { kafkaClient, natsConnect, parseValues, produceEvents, readToEnd, readUntil, startEngine, testSettings, uniqueId, type TestEvent } from '../helpers/harness.ts';

type DecisionRecord = Decision;

test('events become one decision each; a BLOCK raises a NATS alert', async (t) => {
  const id = uniqueId('skel');
  const settings = testSettings(id);
  const [logins, payments, transfers] = settings.kafka.topics.inputs as [string, string, string];
  const nc = await natsConnect();
  const blockAlerts: Msg[] = [];
  const sub = nc.subscribe('risk.alerts.block.>', {
    callback: (_err, msg) => {
      if (msg.json<{ userId: string }>().userId.startsWith(id)) blockAlerts.push(msg);
    },
  });
  const engine = await startEngine(settings);
  t.teardown(async () => {
    sub.unsubscribe();
    await nc.close();
  });
  try {
    const base = Date.now();
    const events: TestEvent[] = [];
    for (let u = 0; u < 5; u++) {
      const userId = `${id}-u${u}`;
      events.push({ eventId: `${userId}-login`, userId, eventType: 'login', timestamp: base + u, deviceId: `d-${u}`, country: 'DE' });
      for (let i = 0; i < 3; i++) {
        events.push({ eventId: `${userId}-p${i}`, userId, eventType: 'payment', timestamp: base + 1000 * (i + 1), amount: '12.50', currency: 'EUR', deviceId: `d-${u}`, country: 'DE' });
      }
    }
    const blocked = { eventId: `${id}-u0-big`, userId: `${id}-u0`, eventType: 'transfer', timestamp: base + 10_000, amount: 25000, deviceId: 'd-0', country: 'DE' };
    events.push(blocked);
    const topicOf = (e: TestEvent) => (e.eventType === 'login' ? logins : e.eventType === 'payment' ? payments : transfers);
    const kafka = kafkaClient();
    await produceEvents(kafka, topicOf, events);

    await readUntil(kafka, settings.kafka.topics.decisions, (rs) => rs.length >= events.length);
    const decisions = parseValues<DecisionRecord>(await readToEnd(kafka, settings.kafka.topics.decisions));
    t.is(decisions.length, events.length, 'exactly one decision per event');
    t.deepEqual(decisions.map((d) => d.eventId).sort(), events.map((e) => e.eventId).sort());

    const big = decisions.find((d) => d.eventId === blocked.eventId)!;
    t.is(big.decision, 'BLOCK');
    t.true(big.reasons.some((r) => r.code === 'HARD_RULE:big-transfer'), JSON.stringify(big.reasons));
    t.is(big.userId, blocked.userId);
    t.is(big.eventType, 'transfer');
    t.is(big.eventTimestamp, blocked.timestamp);
    t.is(big.rulesVersion, 1);
    t.is(typeof big.modelVersion, 'string');
    t.true(big.shard >= 0 && big.shard < settings.kafka.partitions);
    t.true(big.riskScore >= 0 && big.riskScore <= 1);

    const allowed = decisions.filter((d) => d.eventId.includes('-p'));
    t.true(allowed.every((d) => d.decision === 'ALLOW'), JSON.stringify(allowed.map((d) => [d.decision, d.riskScore])));

    // The BLOCK alert: published before the decision was committed, so it is there already.
    t.is(blockAlerts.length, 1);
    const alert = blockAlerts[0]!;
    t.is(alert.subject, 'risk.alerts.block.transfer');
    t.is(alert.headers?.get('Nats-Msg-Id'), blocked.eventId);
    t.like(alert.json<Record<string, unknown>>(), { alertId: blocked.eventId, eventId: blocked.eventId, userId: blocked.userId, decision: 'BLOCK', eventType: 'transfer' });

    const health = await fetch(`${engine.adminUrl}/healthz`);
    t.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${engine.adminUrl}/readyz`);
    t.is(ready.status, 200, JSON.stringify(await ready.clone().json()));
    const user = (await (await fetch(`${engine.adminUrl}/users/${encodeURIComponent(`${id}-u1`)}`)).json()) as Record<string, any>;
    t.is(user.source, 'actor');
    t.is(user.profile.eventCount, 4);
    t.is(user.profile.paymentCount, 3);
    // Paid in euros: the totals of the default currency (USD) stay at zero, the euros have their own.
    t.is(user.profile.totalPaymentAmount, '0.0000');
    t.deepEqual(user.profile.totals, { USD: { payment: '0.0000', transfer: '0.0000' }, EUR: { payment: '37.5000', transfer: '0.0000' } });
  } finally {
    await engine.stop();
  }
});
