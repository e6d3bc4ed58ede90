/**
 * POST /events under hostile bodies: bounded work and answers, the event loop served meanwhile,
 * and no line able to take another down with it.
 */
import test from 'ava';
import { build } from './helpers.ts';
import { countLines, INGEST_LIMITS, judgeBody, type LineVerdict } from '../../../src/admin/ingestLines.ts';

type Json = Record<string, any>;

const ndjson = { 'content-type': 'application/x-ndjson' };
const event = (eventId: string, extra: Json = {}) => ({ eventId, userId: 'u-1', eventType: 'payment', timestamp: Date.now(), amount: '1.50', ...extra });
/** `n` lines of bad JSON, each `width` characters. */
const badLines = (n: number, width = 990) => `${`{bad ${'x'.repeat(width - 5)}\n`.repeat(n)}`;

test('a 10 MB body of 10,000 bad lines: 202 with the first 100 rejections listed and the rest counted by code', async (t) => {
  const { app, engine } = build();
  const body = badLines(9_999) + JSON.stringify(event('e-last'));
  t.true(body.length > 9_900_000);
  const res = await app.inject({ method: 'POST', url: '/events', headers: ndjson, payload: body });
  t.is(res.statusCode, 202);
  t.true(res.body.length < 64 * 1024, `answer of ${res.body.length} bytes`);
  const answer = res.json<Json>();
  t.is(answer.accepted, 1);
  t.is(answer.rejected, 9_999);
  t.is(answer.results.length, 101);
  t.deepEqual(answer.results.slice(0, 100).map((r: Json) => [r.line, r.error.code]), Array.from({ length: 100 }, (_, i) => [i + 1, 'INVALID_JSON']));
  t.like(answer.results[100], { line: 10_000, status: 'accepted', eventId: 'e-last' });
  t.deepEqual(answer.notListed, { count: 9_899, byCode: { INVALID_JSON: 9_899 } });
  t.is(engine.parts.ingest.send.callCount, 1);
  t.is(engine.parts.ingest.send.firstCall.args[0].length, 1);
});

test('more than 10,000 lines: 413 in the error shape, nothing produced; short lines cannot make it costly', async (t) => {
  const { app, engine } = build();
  for (const payload of [badLines(10_001, 10), 'x\n'.repeat(5 * 1024 * 1024 - 1)]) {
    const res = await app.inject({ method: 'POST', url: '/events', headers: ndjson, payload });
    t.is(res.statusCode, 413);
    t.deepEqual(res.json(), { error: { code: 'TOO_LARGE', message: 'more than 10000 lines in one request: send at most 10000 per request' } });
  }
  t.true(engine.parts.ingest.send.notCalled);
  const exactly = await app.inject({ method: 'POST', url: '/events', headers: ndjson, payload: `${badLines(9_999, 10)}${JSON.stringify(event('e-1'))}\n` });
  t.is(exactly.statusCode, 202, '10,000 lines and a final newline are within the limit');
});

test('while a 10 MB body is judged, /healthz answers (before the body\'s events are produced)', async (t) => {
  const { app, engine } = build();
  const order: string[] = [];
  let healthz: Promise<unknown> | undefined;
  // Fired once the body is read and its handler is about to start judging it.
  app.addHook('preHandler', async (req) => {
    if (req.url === '/events') healthz = app.inject({ method: 'GET', url: '/healthz' }).then((r) => order.push(`healthz ${r.statusCode}`));
  });
  engine.parts.ingest.send.callsFake(async () => {
    order.push('produced');
  });
  const res = await app.inject({ method: 'POST', url: '/events', headers: ndjson, payload: badLines(9_999) + JSON.stringify(event('e-last')) });
  t.is(res.statusCode, 202);
  await healthz;
  t.deepEqual(order, ['healthz 200', 'produced']);
});

test('a line nested 30,000 deep is rejected as SCHEMA; the good line of the same request is accepted and produced', async (t) => {
  const { app, engine } = build();
  // 30,000 levels (an object, then arrays) in about 60 KB: within the 64 KiB an event may have.
  const deep = `{"eventId":"e-deep","userId":"u-1","eventType":"login","timestamp":${Date.now()},"eventData":{"a":${'['.repeat(29_999)}${']'.repeat(29_999)}}}`;
  const res = await app.inject({ method: 'POST', url: '/events', headers: ndjson, payload: `${JSON.stringify(event('e-good'))}\n${deep}\n` });
  t.is(res.statusCode, 202);
  const answer = res.json<Json>();
  t.like(answer, { accepted: 1, rejected: 1 });
  t.like(answer.results[0], { line: 1, status: 'accepted', eventId: 'e-good', topic: 'payment-events' });
  t.like(answer.results[1], { line: 2, status: 'rejected', error: { code: 'SCHEMA' } });
  const sent = engine.parts.ingest.send.firstCall.args[0];
  t.deepEqual(sent.map((r: { value: string }) => JSON.parse(r.value).eventId), ['e-good']);
});

test('judgeBody: a line whose judging throws is rejected on its own; the lines around it are judged and kept', async (t) => {
  const thrown: number[] = [];
  const judge = (text: string): LineVerdict => {
    if (text === 'deep') throw new RangeError('Maximum call stack size exceeded');
    if (text === 'bug') throw new TypeError("Cannot read properties of undefined (reading 'x')");
    return { ok: true, eventId: text, record: { topic: 't', key: 'u', value: text } };
  };
  const out = await judgeBody('a\ndeep\nb\nbug\nc', judge, INGEST_LIMITS, (_err, line) => thrown.push(line));
  t.deepEqual(out.records.map((r) => r.value), ['a', 'b', 'c']);
  t.deepEqual(out.results, [
    { line: 1, status: 'accepted', eventId: 'a', topic: 't' },
    { line: 2, status: 'rejected', error: { code: 'SCHEMA', message: 'event is nested too deeply to be processed' } },
    { line: 3, status: 'accepted', eventId: 'b', topic: 't' },
    { line: 4, status: 'rejected', error: { code: 'INTERNAL', message: 'event could not be processed' } },
    { line: 5, status: 'accepted', eventId: 'c', topic: 't' },
  ]);
  t.deepEqual(thrown, [2, 4]);
});

test('judgeBody: blank lines keep their numbers and give no result; slices cut nothing', async (t) => {
  const judge = (text: string): LineVerdict => ({ ok: true, eventId: text, record: { topic: 't', key: null, value: text } });
  const lines = Array.from({ length: 25 }, (_, i) => (i % 5 === 4 ? '  ' : `l${i + 1}`));
  const out = await judgeBody(`${lines.join('\r\n')}\n`, judge, { ...INGEST_LIMITS, sliceLines: 3, sliceChars: 7 });
  t.deepEqual(
    out.results.map((r) => r.line),
    lines.flatMap((l, i) => (l.trim() ? [i + 1] : [])),
  );
  t.deepEqual(out.records.map((r) => r.value), lines.filter((l) => l.trim()));
});

test('countLines: a final newline starts no line; counting stops past the limit', (t) => {
  t.is(countLines('', 10), 0);
  t.is(countLines('a', 10), 1);
  t.is(countLines('a\n', 10), 1);
  t.is(countLines('a\n\nb', 10), 3);
  t.is(countLines('x\n'.repeat(1000), 10), 11);
});

test('one event pretty-printed over several lines as application/json is one event', async (t) => {
  const { app, engine } = build();
  const res = await app.inject({ method: 'POST', url: '/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(event('e-pretty'), null, 2) });
  t.is(res.statusCode, 202);
  t.like(res.json<Json>(), { accepted: 1, rejected: 0 });
  t.is(JSON.parse(engine.parts.ingest.send.firstCall.args[0][0].value).eventId, 'e-pretty');
  // NDJSON sent as application/json is still judged line by line.
  const two = await app.inject({ method: 'POST', url: '/events', headers: { 'content-type': 'application/json' }, payload: `${JSON.stringify(event('e-a'))}\n{bad\n` });
  t.like(two.json<Json>(), { accepted: 1, rejected: 1 });
});
