/**
 * Refusals that only a real socket shows, in the contract's error shape: headers too large (Node
 * refuses them before fastify sees the request), a malformed request, and a request that arrives
 * while the server closes. The admin API over a stubbed engine on loopback; no other service.
 */
import test from 'ava';
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildAdmin } from '../../../src/admin/server.ts';
import { silentLogger } from '../../../src/log.ts';
import { sampleUser, settings, stubEngine } from '../../unit/admin/helpers.ts';

async function listening(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as { port: number }).port;
}

/** Writes `first`, then (once `then.after` resolves) `then.request` on one connection; resolves with all it read when the server closes it. */
function exchange(port: number, first: string, then?: { after: Promise<unknown>; request: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let read = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (read += d));
    socket.on('error', (err) => (read ? resolve(read) : reject(err)));
    socket.on('close', () => resolve(read));
    socket.write(first);
    if (then) {
      void then.after.then(() => socket.write(then.request));
    }
  });
}

/** The JSON bodies of the responses in `raw`, with their status lines. */
function responses(raw: string): { status: number; body: unknown }[] {
  return [...raw.matchAll(/HTTP\/1\.1 (\d{3})[^\r]*\r\n[\s\S]*?\r\n\r\n(\{[^\r\n]*?\}(?=HTTP|$))/g)].map((m) => ({ status: Number(m[1]), body: JSON.parse(m[2]!) }));
}

test('headers larger than Node accepts: 431 TOO_LARGE in the error shape', async (t) => {
  const app = buildAdmin(stubEngine(), settings(), silentLogger);
  t.teardown(() => app.close());
  const port = await listening(app);
  const raw = await exchange(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
  t.deepEqual(responses(raw), [{ status: 431, body: { error: { code: 'TOO_LARGE', message: 'request headers are too large' } } }], raw);
});

test('a malformed request line: 400 BAD_REQUEST in the error shape', async (t) => {
  const app = buildAdmin(stubEngine(), settings(), silentLogger);
  t.teardown(() => app.close());
  const port = await listening(app);
  const raw = await exchange(port, 'GET /healthz HTTP/9\r\n\r\n');
  t.deepEqual(responses(raw), [{ status: 400, body: { error: { code: 'BAD_REQUEST', message: 'malformed HTTP request' } } }], raw);
});

test('a request that arrives on an open connection while the server closes: 503 UNAVAILABLE in the error shape', async (t) => {
  const engine = stubEngine();
  let release!: () => void;
  const firstHeld = new Promise<void>((arrived) => {
    engine.userState.callsFake(async (id: string) => {
      arrived();
      await new Promise<void>((r) => (release = r));
      return sampleUser(id);
    });
  });
  const app = buildAdmin(engine, settings(), silentLogger);
  let closingStarted!: () => void;
  const closing = new Promise<void>((r) => (closingStarted = r));
  // After the API's own preClose hook: from here on the server counts as closing.
  app.addHook('preClose', async () => closingStarted());
  // The second request has been answered (its answer waits behind the first's): let the first go.
  app.addHook('onSend', async (req) => {
    if (req.url === '/healthz') release();
  });
  const port = await listening(app);

  let closed: Promise<void> | undefined;
  const raw = await exchange(port, 'GET /users/u-1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', {
    after: firstHeld.then(() => {
      closed = app.close();
      return closing;
    }),
    request: 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
  });
  await closed;
  const [first, second] = responses(raw);
  t.is(first?.status, 200, raw);
  t.deepEqual(second, { status: 503, body: { error: { code: 'UNAVAILABLE', message: 'the engine is shutting down' } } }, raw);
});
