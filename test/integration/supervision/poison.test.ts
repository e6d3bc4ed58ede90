/**
 * A poison event (the user actor throws while deciding it, every time) is retried with backoff,
 * then quarantined to the DLQ with code POISON; the user's state stays as before; its
 * neighbours, also of the same user, are processed.
 */
import test from 'ava';
import { groupCaughtUp, kafkaClient, parseValues, produceEvents, readToEnd, startEngine, testSettings, uniqueId, type TestEvent } from '../helpers/harness.ts';

test('a poison event goes to the DLQ as POISON and its neighbours pass', async (t) => {
  const id = uniqueId('psn');
  process.env.RISK_FAULT = `poison-event:${id}-poison`;
  const settings = testSettings(id);
  const engine = await startEngine(settings);
  t.teardown(() => engine.stop());
  const [, payments] = settings.kafka.topics.inputs as [string, string, string];
  const now = Date.now();
  const user = `${id}-u`;
  const events: TestEvent[] = [
    { eventId: `${id}-a`, userId: user, eventType: 'payment', timestamp: now, amount: '1.00' },
    { eventId: `${id}-poison-1`, userId: user, eventType: 'payment', timestamp: now + 1, amount: '2.00' },
    { eventId: `${id}-b`, userId: user, eventType: 'payment', timestamp: now + 2, amount: '3.00' },
    ...Array.from({ length: 20 }, (_, i) => ({ eventId: `${id}-n${i}`, userId: `${id}-other${i}`, eventType: 'payment', timestamp: now + i, amount: '5.00' })),
  ];
  const kafka = kafkaClient();
  await produceEvents(kafka, () => payments, events);
  await groupCaughtUp(kafka, settings.kafka.groupId, settings.kafka.topics.inputs);

  const dlq = parseValues<{ error: { code: string; message: string }; source: { offset: string }; value: string }>(await readToEnd(kafka, settings.kafka.topics.dlq));
  t.is(dlq.length, 1);
  t.is(dlq[0]!.error.code, 'POISON');
  t.regex(dlq[0]!.error.message, /injected poison/);
  t.is(JSON.parse(dlq[0]!.value).eventId, `${id}-poison-1`);

  const decisions = parseValues<{ eventId: string }>(await readToEnd(kafka, settings.kafka.topics.decisions));
  t.deepEqual(decisions.map((d) => d.eventId).sort(), events.filter((e) => !e.eventId.includes('poison')).map((e) => e.eventId).sort());

  const state = await engine.engine.userState(user);
  t.is(state?.profile.eventCount, 2);
  t.is(state?.profile.totalPaymentAmount, '4.0000');

  const metrics = await engine.engine.metrics.registry.getSingleMetricAsString('risk_supervision_restarts_total');
  t.regex(metrics, /risk_supervision_restarts_total\{policy="user-actor",code="POISON"\} 3/);
});
