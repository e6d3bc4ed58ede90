/**
 * End-to-end tracing: an OTLP/HTTP (http/json) receiver runs inside the test; an engine process
 * exports to it. A record produced with a known traceparent yields one span in the producer's
 * trace, `process <topic>`, with the decision's attributes; the decision record and the NATS alert
 * point to it. The round's journal write and transaction are one span each, linked to it.
 */
import test from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Msg } from '@nats-io/transport-node';
import { kafkaClient, natsConnect, readUntil, uniqueId } from '../helpers/harness.ts';
import { childConfig, spawnEngine } from '../helpers/child.ts';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
  links?: { traceId: string; spanId: string }[];
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v ? Object.values(v)[0] : undefined;
};

test('one event: one span with the decision, linked from the round spans; its trace id on the decision and the alert', async (t) => {
  const id = uniqueId('trc');
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;
  const spans: OtlpSpan[] = [];
  let notify = () => {};
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const parsed = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of parsed.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      notify();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  t.teardown(() => receiver.close());
  const port = (receiver.address() as AddressInfo).port;

  const nc = await natsConnect();
  t.teardown(() => nc.close());
  const alerts: Msg[] = [];
  nc.subscribe('risk.alerts.block.>', {
    callback: (_e, m) => {
      if (m.json<{ userId: string }>().userId.startsWith(id)) alerts.push(m);
    },
  });

  const engine = await spawnEngine(id, childConfig(id), {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    OTEL_SERVICE_NAME: 'risk-engine-test',
  });
  t.teardown(() => engine.proc.kill('SIGKILL'));
  await engine.started;

  const kafka = kafkaClient();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const event = { eventId: `${id}-e`, userId: `${id}-u`, eventType: 'transfer', timestamp: Date.now(), amount: '50000', deviceId: 'd', country: 'DE' };
  await producer.send({ topic: `${id}.transfer-events`, messages: [{ key: event.userId, value: JSON.stringify(event), headers: { traceparent } }] });
  await producer.disconnect();

  const [decision] = await readUntil(kafka, `${id}.risk-decisions`, (rs) => rs.length >= 1);
  const body = JSON.parse(decision!.value!.toString()) as { traceId: string; decision: string };
  t.is(body.decision, 'BLOCK');
  t.is(body.traceId, traceId, 'the decision carries the trace id');
  t.regex(decision!.headers!.traceparent!.toString(), new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

  const ours = (s: OtlpSpan) => s.traceId === traceId;
  const linksTo = (s: OtlpSpan, spanId: string) => (s.links ?? []).some((l) => l.traceId === traceId && l.spanId === spanId);
  const found = () => {
    const consume = spans.find((s) => ours(s) && s.name.startsWith('process'));
    const journal = consume && spans.find((s) => s.name === 'risk.journal' && linksTo(s, consume.spanId));
    const transaction = consume && spans.find((s) => s.name === 'risk.transaction' && linksTo(s, consume.spanId));
    return consume && journal && transaction ? { consume, journal, transaction } : null;
  };
  await new Promise<void>((resolve) => {
    const check = () => found() && resolve();
    notify = check;
    check();
  });
  const { consume, journal, transaction } = found()!;
  t.deepEqual(spans.filter(ours).map((s) => s.name), [`process ${id}.transfer-events`], 'one span per event in its trace');
  t.is(consume.parentSpanId, '00f067aa0ba902b7', 'consume continues the producer span');
  t.is(consume.kind, 5, 'CONSUMER');
  t.is(attr(consume, 'messaging.system'), 'kafka');
  t.is(attr(consume, 'messaging.destination.name'), `${id}.transfer-events`);
  t.is(attr(consume, 'messaging.operation.type'), 'process');
  t.is(attr(consume, 'messaging.kafka.message.key'), undefined, 'user ids stay out of traces unless configured');
  t.is(attr(consume, 'risk.decision'), 'BLOCK');
  t.is(Number(attr(consume, 'risk.rules_version')), 1, 'OTLP JSON may encode ints as strings');
  t.true(Number(attr(consume, 'risk.score')) >= 0);
  t.not(journal.traceId, traceId, 'the round spans are roots of their own, linked to the events');
  t.true(Number(attr(journal, 'risk.entries')) >= 1);
  t.true(Number(attr(transaction, 'risk.records')) >= 1);
  t.is(decision!.headers!.traceparent!.toString().split('-')[2], consume.spanId, 'the decision record header names the event span');

  t.is(alerts.length, 1);
  t.is(alerts[0]!.headers?.get('traceparent').split('-')[2], consume.spanId, 'the alert header names the event span');
  t.is(alerts[0]!.headers?.get('traceparent').split('-')[1], traceId);

  // POST /events continues the caller's trace; the records it produces carry it to the decision.
  const httpTrace = 'a'.repeat(32);
  const posted = { ...event, eventId: `${id}-http`, amount: '5.00' };
  const res = await fetch(`${engine.adminUrl}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${httpTrace}-${'b'.repeat(16)}-01` },
    body: JSON.stringify(posted),
  });
  t.is(res.status, 202);
  const all = await readUntil(kafka, `${id}.risk-decisions`, (rs) => rs.length >= 2);
  const second = JSON.parse(all.find((r) => JSON.parse(r.value!.toString()).eventId === posted.eventId)!.value!.toString()) as { traceId: string };
  t.is(second.traceId, httpTrace);
  await new Promise<void>((resolve) => {
    const check = () => spans.some((s) => s.traceId === httpTrace && s.name === 'ingest events') && spans.some((s) => s.traceId === httpTrace && s.name.startsWith('process')) && resolve();
    notify = check;
    check();
  });
  const ingest = spans.find((s) => s.traceId === httpTrace && s.name === 'ingest events')!;
  t.is(ingest.parentSpanId, 'b'.repeat(16));
  t.is(spans.find((s) => s.traceId === httpTrace && s.name.startsWith('process'))!.parentSpanId, ingest.spanId);
});
