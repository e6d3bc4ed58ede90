/**
 * What a web page in the operator's browser could make the admin API do: bodies other than JSON
 * are refused (415), and every state-changing request from another origin is refused (403) before
 * its body is read or anything is done.
 */
import test from 'ava';
import { isLoopbackHost, isOwnOrigin } from '../../../src/admin/crossSite.ts';
import { auth, build, TOKEN } from './helpers.ts';

type Json = Record<string, any>;

const line = () => JSON.stringify({ eventId: 'e-1', userId: 'u-1', eventType: 'payment', timestamp: Date.now(), amount: '1.50' });

for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
  test(`POST /events as ${type}: 415 in the error shape, nothing produced`, async (t) => {
    const { app, engine } = build();
    const res = await app.inject({ method: 'POST', url: '/events', headers: { 'content-type': type }, payload: line() });
    t.is(res.statusCode, 415);
    t.is(res.json<Json>().error.code, 'UNSUPPORTED_MEDIA_TYPE');
    t.regex(res.json<Json>().error.message, /is not accepted \(application\/json, or application\/x-ndjson for POST \/events\)/);
    t.true(engine.parts.ingest.send.notCalled);
  });
}

test('POST /events with a body and no content type: 415', async (t) => {
  const { app, engine } = build();
  const res = await app.inject({ method: 'POST', url: '/events', payload: Buffer.from(line()) });
  t.is(res.statusCode, 415);
  t.deepEqual(res.json(), { error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'a body without a content type is not accepted (application/json, or application/x-ndjson for POST /events)' } });
  t.true(engine.parts.ingest.send.notCalled);
});

for (const type of ['application/json', 'application/json; charset=utf-8', 'application/x-ndjson', 'application/x-ndjson; charset=utf-8']) {
  test(`POST /events as ${type}: 202`, async (t) => {
    const { app, engine } = build();
    const res = await app.inject({ method: 'POST', url: '/events', headers: { 'content-type': type }, payload: line() });
    t.is(res.statusCode, 202);
    t.true(engine.parts.ingest.send.calledOnce);
  });
}

test('PUT /rules as text/plain: 415, the rules unchanged', async (t) => {
  const { app, holder } = build();
  const res = await app.inject({ method: 'PUT', url: '/rules', headers: { 'content-type': 'text/plain' }, payload: JSON.stringify(holder.current()) });
  t.is(res.statusCode, 415);
  t.is(res.json<Json>().error.code, 'UNSUPPORTED_MEDIA_TYPE');
  t.is(holder.current().rulesVersion, 1);
});

const foreign = ['https://evil.example', 'http://127.0.0.1:9999', 'http://localhost:8080', 'http://localhost:80', 'null', 'file://', 'http://localhost:80.evil.example'];

for (const origin of foreign) {
  test(`a state-changing request with Origin ${origin}: 403 on every such route, before anything is done`, async (t) => {
    const { app, engine, holder } = build();
    const headers = { origin, 'content-type': 'application/json' };
    const requests = [
      { method: 'POST', url: '/events', payload: line() },
      { method: 'PUT', url: '/rules', payload: JSON.stringify(holder.current()) },
      { method: 'POST', url: '/users/u-1/snapshot' },
      { method: 'DELETE', url: '/users/u-1' },
      { method: 'POST', url: '/no-such-route' },
    ] as const;
    for (const r of requests) {
      const res = await app.inject({ ...r, headers: r.method === 'POST' && r.url.endsWith('snapshot') ? { origin } : headers });
      t.is(res.statusCode, 403, `${r.method} ${r.url}`);
      t.deepEqual(res.json(), { error: { code: 'FORBIDDEN', message: 'cross-origin requests are refused' } });
    }
    t.true(engine.parts.ingest.send.notCalled);
    t.true(engine.snapshotUser.notCalled);
    t.is(holder.current().rulesVersion, 1);
  });
}

test('the server\'s own origin, or none (curl, the CLI), may write', async (t) => {
  const { app, engine } = build();
  for (const headers of [{}, { origin: 'http://localhost' }, { origin: 'http://127.0.0.1:8080', host: '127.0.0.1:8080' }, { origin: 'http://[::1]:8080', host: '[::1]:8080' }]) {
    const res = await app.inject({ method: 'POST', url: '/events', headers: { 'content-type': 'application/x-ndjson', ...headers }, payload: line() });
    t.is(res.statusCode, 202, JSON.stringify(headers));
  }
  t.is(engine.parts.ingest.send.callCount, 4);
});

test('reads are not refused for their Origin', async (t) => {
  const { app } = build();
  t.is((await app.inject({ method: 'GET', url: '/healthz', headers: { origin: 'https://evil.example' } })).statusCode, 200);
  t.is((await app.inject({ method: 'GET', url: '/rules', headers: { origin: 'https://evil.example' } })).statusCode, 200);
});

test('without a token, a write addressed to a non-loopback host name (DNS rebinding) is refused: 403', async (t) => {
  const { app, engine } = build();
  const res = await app.inject({ method: 'POST', url: '/events', headers: { 'content-type': 'application/json', host: 'rebind.evil.example:8080', origin: 'http://rebind.evil.example:8080' }, payload: line() });
  t.is(res.statusCode, 403);
  t.is(res.json<Json>().error.code, 'FORBIDDEN');
  t.regex(res.json<Json>().error.message, /loopback host/);
  t.true(engine.parts.ingest.send.notCalled);
});

test('with a token (any bind address), the host name may be anything; the token is still needed', async (t) => {
  const { app, engine } = build({ ADMIN_TOKEN: TOKEN });
  const headers = { 'content-type': 'application/json', host: 'risk.example.com', origin: 'https://risk.example.com' };
  t.is((await app.inject({ method: 'POST', url: '/events', headers, payload: line() })).statusCode, 401);
  t.is((await app.inject({ method: 'POST', url: '/events', headers: { ...headers, ...auth }, payload: line() })).statusCode, 202);
  const crossSite = await app.inject({ method: 'POST', url: '/events', headers: { ...headers, ...auth, origin: 'https://evil.example' }, payload: line() });
  t.is(crossSite.statusCode, 403);
  t.true(engine.parts.ingest.send.calledOnce);
});

test('isOwnOrigin: scheme://host[:port] equal to the Host header, default ports folded', (t) => {
  t.true(isOwnOrigin('http://127.0.0.1:8080', '127.0.0.1:8080'));
  t.true(isOwnOrigin('http://localhost', 'localhost:80'));
  t.true(isOwnOrigin('https://risk.example.com', 'RISK.example.com:443'));
  t.false(isOwnOrigin('http://127.0.0.1:8080', '127.0.0.1:8081'));
  t.false(isOwnOrigin('http://127.0.0.1:8080', undefined));
  t.false(isOwnOrigin('http://127.0.0.1:8080/path', '127.0.0.1:8080'));
  t.false(isOwnOrigin('http://user@127.0.0.1:8080', '127.0.0.1:8080'));
  t.false(isOwnOrigin('ftp://127.0.0.1:8080', '127.0.0.1:8080'));
  t.false(isOwnOrigin('http://127.0.0.1:8080', 'evil@127.0.0.1:8080'));
  t.false(isOwnOrigin('null', 'null'));
});

test('isLoopbackHost: literal loopback names only', (t) => {
  for (const h of ['127.0.0.1:8080', '127.9.9.9', 'localhost:8080', '[::1]:8080', 'LOCALHOST']) t.true(isLoopbackHost(h), h);
  for (const h of [undefined, '', '127.evil.example', 'evil.example', '[::2]:8080', 'x@127.0.0.1', '127.0.0.1/x', '0.0.0.0:8080']) t.false(isLoopbackHost(h), String(h));
});
