/**
 * GET /decisions/stream over a real HTTP connection, fed by a fake decisions feed: the filter,
 * the token, the client gauge, a slow client dropped at the bound, and streams ended on close.
 */
import { get, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import test from 'ava';
import { Registry } from 'prom-client';
import { buildAdmin } from '../../../src/admin/server.ts';
import type { DecisionStreamFeed } from '../../../src/admin/routes/decisionStream.ts';
import { silentLogger } from '../../../src/log.ts';
import { settings, stubEngine, TOKEN } from '../../unit/admin/helpers.ts';
import { pollUntil } from '../helpers/harness.ts';

class FakeFeed implements DecisionStreamFeed {
  readonly listeners = new Set<(r: { userId: string; value: string }) => void>();
  started = 0;
  async start(): Promise<void> {
    this.started++;
  }
  onRecord(listener: (r: { userId: string; value: string }) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
  emit(decision: Record<string, unknown>): void {
    for (const l of this.listeners) l({ userId: String(decision.userId), value: JSON.stringify(decision) });
  }
}

const decision = (eventId: string, verdict: string, detail = '') => ({
  eventId, userId: 'u-1', eventType: 'payment', decision: verdict, riskScore: 0.5,
  reasons: [{ code: 'X', weight: 1, detail }], modelVersion: 'm', rulesVersion: 1, eventTimestamp: 1, decidedAt: 2, shard: 0, traceId: null,
});

async function serve(env: Record<string, string> = {}, maxBufferedBytes?: number) {
  const feed = new FakeFeed();
  const registry = new Registry();
  const app = buildAdmin(stubEngine(), settings(env), silentLogger, { decisionStream: { feed, registry, ...(maxBufferedBytes ? { maxBufferedBytes } : {}) } });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const gauge = async (name: string) => ((await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0);
  return { app, feed, url, gauge };
}

/**
 * A stream opened with node:http (fetch's pool opens a spare connection beside a long response,
 * which the server then waits for at close until its headers timeout).
 */
function openStream(url: string, headers: Record<string, string> = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => get(url, { headers, agent: false }, resolve).on('error', reject));
}

/** Reads SSE events until `count` decisions came. */
async function readDecisions(res: IncomingMessage, count: number): Promise<{ id: string; data: Record<string, unknown> }[]> {
  res.setEncoding('utf8');
  let text = '';
  const out: { id: string; data: Record<string, unknown> }[] = [];
  for await (const chunk of res) {
    text += chunk as string;
    let end: number;
    while ((end = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
      if (fields.event === 'decision') out.push({ id: fields.id!, data: JSON.parse(fields.data!) as Record<string, unknown> });
    }
    if (out.length >= count) break;
  }
  return out;
}

test('streams the committed decisions a client asked for, in order; the gauge counts clients', async (t) => {
  const { app, feed, url, gauge } = await serve();
  t.teardown(() => app.close());
  const res = await openStream(`${url}/decisions/stream?decision=BLOCK,CHALLENGE`);
  t.is(res.statusCode, 200);
  t.regex(res.headers['content-type'] ?? '', /^text\/event-stream/);
  t.is(res.headers['x-risk-instance'], 'unit-1');
  t.is(await gauge('risk_sse_clients'), 1);
  t.true(feed.started >= 1);
  const reading = readDecisions(res, 2);
  feed.emit(decision('e-1', 'ALLOW'));
  feed.emit(decision('e-2', 'BLOCK'));
  feed.emit(decision('e-3', 'ALLOW'));
  feed.emit(decision('e-4', 'CHALLENGE'));
  const got = await reading;
  t.deepEqual(got.map((d) => [d.id, d.data.decision]), [['e-2', 'BLOCK'], ['e-4', 'CHALLENGE']]);
  t.deepEqual(got[0]!.data, decision('e-2', 'BLOCK'));
  res.destroy();
  await pollUntil('the client to be gone', () => gauge('risk_sse_clients'), (n) => n === 0, 5000, 20);
  t.pass();
});

test('a bad filter is 400 naming decision; with ADMIN_TOKEN the stream needs the bearer token', async (t) => {
  const { app, url } = await serve({ ADMIN_TOKEN: TOKEN });
  t.teardown(() => app.close());
  const bad = await fetch(`${url}/decisions/stream?decision=BLOCK,MAYBE`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.is(bad.status, 400);
  const body = (await bad.json()) as { error: { code: string; message: string } };
  t.is(body.error.code, 'SCHEMA');
  t.regex(body.error.message, /^decision/);
  const noToken = await fetch(`${url}/decisions/stream`);
  t.is(noToken.status, 401);
  await noToken.body?.cancel();
  const head = await fetch(`${url}/decisions/stream`, { method: 'HEAD', headers: { authorization: `Bearer ${TOKEN}` } });
  t.is(head.status, 405);
});

test('a client that does not read is dropped once it leaves the bound unread, not buffered on', async (t) => {
  const limit = 64 * 1024;
  const { app, feed, url, gauge } = await serve({}, limit);
  t.teardown(() => app.close());
  const { port } = new URL(url);
  // A client that sends its request and never reads a byte.
  const socket = connect(Number(port), '127.0.0.1');
  socket.pause();
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve) => socket.on('connect', resolve));
  socket.write(`GET /decisions/stream HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  await pollUntil('the client to be connected', () => gauge('risk_sse_clients'), (n) => n === 1, 5000, 20);
  const big = 'x'.repeat(32 * 1024);
  let sent = 0;
  // The kernel's socket buffers take some megabytes first; the bound applies to what is left over.
  while ((await gauge('risk_sse_dropped_total')) === 0) {
    feed.emit(decision(`e-${sent++}`, 'BLOCK', big));
    if (sent % 16 === 0) await new Promise((r) => setImmediate(r));
    if (sent > 20_000) return t.fail('the client was never dropped');
  }
  t.is(await gauge('risk_sse_clients'), 0);
  t.true(sent >= 2, `dropped after ${sent} decisions of 32 KiB`);
  // The engine goes on serving others.
  const res = await openStream(`${url}/decisions/stream`);
  t.is(res.statusCode, 200);
  t.is(await gauge('risk_sse_clients'), 1);
  res.destroy();
  return undefined;
});

test('closing the server ends open streams (a stream does not hold up the drain)', async (t) => {
  const { app, url } = await serve();
  const res = await openStream(`${url}/decisions/stream`);
  t.is(res.statusCode, 200);
  const ended = new Promise<void>((resolve) => res.on('end', resolve).resume());
  await app.close();
  await ended;
  t.pass();
});

test('a spare connection that never sent a request does not hold up close', async (t) => {
  const { app, url } = await serve();
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve) => socket.on('connect', resolve));
  const closedBy = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const started = Date.now();
  await app.close();
  await closedBy;
  t.true(Date.now() - started < 5000, `close took ${Date.now() - started} ms`);
});
