import test from 'ava';
import sinon from 'sinon';
import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from '../../../../src/log.ts';
import { EmbeddedAlertBus, parsePattern, subjectMatches } from '../../../../src/transport/embedded/EmbeddedAlertBus.ts';
import type { Alert } from '../../../../src/transport/ports.ts';

const alert = (eventId: string, over: Partial<Alert> = {}): Alert => ({
  alertId: eventId,
  userId: 'u-1',
  eventId,
  eventType: 'payment',
  decision: 'BLOCK',
  riskScore: 0.9712,
  reasons: [{ code: 'NEW_DEVICE', weight: 0.3 }, { code: 'HIGH_AMOUNT', weight: 0.5 }],
  at: 1732480000000,
  ...over,
});

function bus(dedupeWindow?: number) {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  const b = new EmbeddedAlertBus({ out, dedupeWindow });
  return { b, lines: () => text.split('\n').filter(Boolean) };
}

test('each alert is one readable line with its subject', async (t) => {
  const { b, lines } = bus();
  await b.publish(alert('e-9'), null);
  await b.publish(alert('e-10', { decision: 'CHALLENGE', eventType: 'login', reasons: [] }), null);
  t.deepEqual(lines(), [
    'ALERT BLOCK payment user=u-1 event=e-9 score=0.97 reasons=NEW_DEVICE,HIGH_AMOUNT subject=risk.alerts.block.payment',
    'ALERT CHALLENGE login user=u-1 event=e-10 score=0.97 reasons=- subject=risk.alerts.challenge.login',
  ]);
});

test('ids with blanks or line breaks are quoted, so an alert stays on one line', async (t) => {
  const { b, lines } = bus();
  await b.publish(alert('e 1', { userId: 'evil\nALERT BLOCK fake' }), null);
  t.is(lines().length, 1);
  t.regex(lines()[0]!, /user="evil\\nALERT BLOCK fake" event="e 1" /);
});

test('a repeated alertId prints and delivers nothing more; the window is bounded', async (t) => {
  const { b, lines } = bus(2);
  const got: string[] = [];
  b.subscribe('risk.alerts.>', (a) => void got.push(a.alertId));
  await b.publish(alert('a'), null);
  await b.publish(alert('a'), null);
  t.is(lines().length, 1);
  t.deepEqual(got, ['a']);
  t.is(b.duplicates, 1);
  await b.publish(alert('b'), null);
  await b.publish(alert('c'), null);
  await b.publish(alert('a'), null); // forgotten: only the 2 most recent ids are remembered
  await b.publish(alert('c'), null);
  t.deepEqual(got, ['a', 'b', 'c', 'a']);
  t.is(lines().length, 4);
});

test('subscribers get the alerts whose subject matches their pattern, with the traceparent', async (t) => {
  const { b } = bus();
  const seen = new Map<string, string[]>();
  for (const pattern of ['risk.alerts.>', 'risk.alerts.block.>', 'risk.alerts.*.login', 'risk.alerts.challenge.payment', 'risk.>', 'risk.alerts.*']) {
    seen.set(pattern, []);
    b.subscribe(pattern, (a, subject, tp) => void seen.get(pattern)!.push(`${a.eventId}@${subject}${tp ? `#${tp}` : ''}`));
  }
  await b.publish(alert('e1'), '00-aa-bb-01');
  await b.publish(alert('e2', { eventType: 'login' }), null);
  await b.publish(alert('e3', { decision: 'CHALLENGE', eventType: 'login' }), null);
  t.deepEqual(Object.fromEntries(seen), {
    'risk.alerts.>': ['e1@risk.alerts.block.payment#00-aa-bb-01', 'e2@risk.alerts.block.login', 'e3@risk.alerts.challenge.login'],
    'risk.alerts.block.>': ['e1@risk.alerts.block.payment#00-aa-bb-01', 'e2@risk.alerts.block.login'],
    'risk.alerts.*.login': ['e2@risk.alerts.block.login', 'e3@risk.alerts.challenge.login'],
    'risk.alerts.challenge.payment': [],
    'risk.>': ['e1@risk.alerts.block.payment#00-aa-bb-01', 'e2@risk.alerts.block.login', 'e3@risk.alerts.challenge.login'],
    'risk.alerts.*': [],
  });
});

test('NATS wildcard rules: * is one token, > one or more and only last', (t) => {
  const m = (p: string, s: string) => subjectMatches(parsePattern(p), s);
  t.true(m('a.b.c', 'a.b.c'));
  t.false(m('a.b', 'a.b.c'));
  t.false(m('a.b.c', 'a.b'));
  t.true(m('a.*.c', 'a.x.c'));
  t.false(m('a.*', 'a.x.c'));
  t.true(m('a.>', 'a.x.c'));
  t.false(m('a.>', 'a'));
  t.true(m('>', 'a'));
  t.true(m('*.*', 'a.b'));
  for (const bad of ['a.>.c', '', 'a..b', 'a.b*', 'a.>x']) t.throws(() => parsePattern(bad), { instanceOf: RangeError }, bad);
});

test('unsubscribe stops deliveries; a failing subscriber neither fails publish nor starves others', async (t) => {
  const warn = sinon.spy();
  const b = new EmbeddedAlertBus({ out: new Writable({ write: (_c, _e, done) => done() }), logger: { warn } as unknown as Logger });
  const got: string[] = [];
  b.subscribe('risk.alerts.>', () => {
    throw new Error('subscriber bug');
  });
  b.subscribe('risk.alerts.>', async () => Promise.reject(new Error('async subscriber bug')));
  const off = b.subscribe('risk.alerts.>', (a) => void got.push(a.eventId));
  await b.publish(alert('e1'), null);
  off();
  await b.publish(alert('e2'), null);
  t.deepEqual(got, ['e1']);
  await nextTurn();
  t.is(warn.callCount, 4, 'each failure reported');
});

test('closed: not connected, publishing fails', async (t) => {
  const { b } = bus();
  t.true(b.isConnected());
  await b.close();
  t.false(b.isConnected());
  await t.throwsAsync(b.publish(alert('e1'), null), { message: /closed/ });
});
