/**
 * Issue 4's ground-truth test on the real broker: 10,000 events for 500 users over three topics,
 * written with four codecs and 2% duplicates, give exactly 10,000 committed decisions in per-user
 * order and profile counts equal to the truth; malformed records go to the DLQ with their code
 * while the good records around them pass.
 */
import test from 'ava';
import kafkajs from 'kafkajs';
import { groupCaughtUp, kafkaClient, parseValues, readToEnd, readUntil, startEngine, testSettings, topicMessages, uniqueId } from '../helpers/harness.ts';
import { generate, money, type GenEvent } from '../helpers/workload.ts';

const { CompressionTypes } = kafkajs;
const CODECS = [CompressionTypes.None, CompressionTypes.GZIP, CompressionTypes.Snappy, CompressionTypes.LZ4];

test('10,000 events with duplicates and bad records: exactly one decision each, counts equal truth', async (t) => {
  const id = uniqueId('eos');
  const settings = testSettings(id);
  const [logins, payments, transfers] = settings.kafka.topics.inputs as [string, string, string];
  const topicOf = (e: GenEvent) => (e.eventType === 'login' ? logins : e.eventType === 'payment' ? payments : transfers);
  const { events, truth } = generate(id, 500, 10_000, 42);
  const duplicates = events.filter((_, i) => i % 50 === 7); // 2%, re-sent later at new offsets

  const kafka = kafkaClient();
  const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
  const engine = await startEngine(settings);
  t.teardown(() => engine.stop());
  await producer.connect();
  try {
    const send = async (batch: GenEvent[], compression: number) => {
      await producer.sendBatch({ acks: -1, compression, topicMessages: topicMessages(batch, topicOf) });
    };
    for (let i = 0; i < events.length; i += 500) await send(events.slice(i, i + 500), CODECS[(i / 500) % CODECS.length]!);
    // Each breaks one rule only (a valid event time), so that its code is the one expected.
    const at = Date.now();
    const bad = [
      { key: `${id}-bad1`, value: '{"eventId": oops', code: 'INVALID_JSON' },
      { key: `${id}-bad2`, value: JSON.stringify({ eventId: `${id}-x2`, userId: `${id}-bad2`, timestamp: at }), code: 'SCHEMA' },
      { key: `${id}-someone-else`, value: JSON.stringify({ eventId: `${id}-x3`, userId: `${id}-bad3`, eventType: 'payment', amount: 1, timestamp: at }), code: 'KEY_MISMATCH' },
      { key: `${id}-bad4`, value: JSON.stringify({ eventId: `${id}-x4`, userId: `${id}-bad4`, eventType: 'payment', amount: -5, timestamp: at }), code: 'SCHEMA' },
      { key: `${id}-bad5`, value: JSON.stringify({ eventId: `${id}-x5`, userId: `${id}-bad5`, eventType: 'login', timestamp: at, eventData: { pad: 'x'.repeat(70_000) } }), code: 'TOO_LARGE' },
    ];
    await producer.send({ topic: payments, acks: -1, messages: bad.map((b) => ({ key: b.key, value: b.value })) });
    await send(duplicates, CompressionTypes.GZIP);
  } finally {
    await producer.disconnect();
  }

  await readUntil(kafka, settings.kafka.topics.dlq, (rs) => rs.length >= 5);
  await readUntil(kafka, settings.kafka.topics.decisions, (rs) => rs.length >= events.length, 120_000);
  // Everything is consumed once the committed offsets reach the end of every input partition.
  await groupCaughtUp(kafka, settings.kafka.groupId, settings.kafka.topics.inputs);

  const decisions = parseValues<{ eventId: string; userId: string; eventType: string }>(await readToEnd(kafka, settings.kafka.topics.decisions));
  t.is(decisions.length, 10_000, 'one decision per distinct event, none for duplicates or bad records');
  t.is(new Set(decisions.map((d) => d.eventId)).size, 10_000);

  // Per-user order within each input topic is kept.
  const produced = new Map<string, string[]>();
  for (const e of events) produced.set(`${e.userId}/${e.eventType}`, [...(produced.get(`${e.userId}/${e.eventType}`) ?? []), e.eventId]);
  const decided = new Map<string, string[]>();
  for (const d of decisions) decided.set(`${d.userId}/${d.eventType}`, [...(decided.get(`${d.userId}/${d.eventType}`) ?? []), d.eventId]);
  const outOfOrder = [...produced].filter(([k, ids]) => JSON.stringify(ids) !== JSON.stringify(decided.get(k)));
  t.deepEqual(outOfOrder, []);

  const dlq = parseValues<{ error: { code: string }; source: { topic: string; key: string } }>(await readToEnd(kafka, settings.kafka.topics.dlq));
  t.deepEqual(dlq.map((d) => d.error.code).sort(), ['INVALID_JSON', 'KEY_MISMATCH', 'SCHEMA', 'SCHEMA', 'TOO_LARGE']);
  t.true(dlq.every((d) => d.source.topic === payments));

  const mismatches: string[] = [];
  for (const [userId, want] of truth) {
    const got = await engine.engine.userState(userId);
    const p = got?.profile;
    const same = p && p.eventCount === want.eventCount && p.loginCount === want.loginCount && p.paymentCount === want.paymentCount
      && p.transferCount === want.transferCount && p.totalPaymentAmount === money(want.paymentMinor) && p.totalTransferAmount === money(want.transferMinor);
    if (!same) mismatches.push(`${userId}: ${JSON.stringify(p)} != ${JSON.stringify({ ...want, paymentMinor: money(want.paymentMinor), transferMinor: money(want.transferMinor) })}`);
  }
  t.deepEqual(mismatches.slice(0, 5), []);
});
