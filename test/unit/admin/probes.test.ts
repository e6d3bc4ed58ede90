import test from 'ava';
import { build } from './helpers.ts';

test('GET /healthz: 200 {status: ok}', async (t) => {
  const { app } = build();
  const res = await app.inject({ method: 'GET', url: '/healthz' });
  t.is(res.statusCode, 200);
  t.deepEqual(res.json(), { status: 'ok' });
});

test('GET /readyz: 200 when ready, else 503 with the reasons', async (t) => {
  const { app, engine } = build();
  t.is((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  engine.readiness.resolves({ ready: false, reasons: ['alert bus unreachable', 'consumer has not joined its group'] });
  const res = await app.inject({ method: 'GET', url: '/readyz' });
  t.is(res.statusCode, 503);
  t.like(res.json(), {
    status: 'not ready',
    reasons: ['alert bus unreachable', 'consumer has not joined its group'],
    error: { code: 'UNAVAILABLE', message: 'alert bus unreachable; consumer has not joined its group' },
  });
});

test('GET /metrics: Prometheus text from the engine registry', async (t) => {
  const { app } = build();
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  t.is(res.statusCode, 200);
  t.regex(res.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/);
  t.is(res.body, '# HELP risk_up test\nrisk_up 1\n');
});

test('GET /shards: the owned shards with actors, committed offsets and lag', async (t) => {
  const { app } = build();
  const res = await app.inject({ method: 'GET', url: '/shards' });
  t.is(res.statusCode, 200);
  t.deepEqual(res.json(), {
    instanceId: 'unit-1',
    generationId: 7,
    shards: [
      { shard: 1, actors: 10, committed: { 'login-events': '5' }, lag: 2 },
      { shard: 3, actors: 30, committed: { 'login-events': '5' }, lag: 2 },
    ],
  });
});

test('POST /events keeps parsing NDJSON line by line (its own body parser)', async (t) => {
  const { app, engine } = build();
  const good = { eventId: 'e-1', userId: 'u-1', eventType: 'payment', timestamp: Date.now(), amount: '1.50' };
  const res = await app.inject({
    method: 'POST',
    url: '/events',
    headers: { 'content-type': 'application/x-ndjson' },
    payload: `${JSON.stringify(good)}\n{bad json\n`,
  });
  t.is(res.statusCode, 202);
  t.like(res.json(), { accepted: 1, rejected: 1, results: [{ line: 1, status: 'accepted' }, { line: 2, status: 'rejected', error: { code: 'INVALID_JSON' } }] });
  t.true(engine.parts.ingest.send.calledOnce);
  t.like(engine.parts.ingest.send.firstCall.args[0], [{ topic: 'payment-events', key: 'u-1' }]);
});
