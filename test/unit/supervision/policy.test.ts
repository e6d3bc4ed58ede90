import test from 'ava';
import { backoffDelay, RestartWindow, type RestartPolicy } from '../../../src/supervision/policy.ts';

const policy: RestartPolicy = {
  name: 'p',
  strategy: 'one-for-one',
  backoff: { minMs: 100, maxMs: 1000, factor: 2, jitter: 0 },
  maxRestarts: 3,
  withinMs: 10_000,
  onLimit: 'escalate',
};

test('backoff grows by the factor and stops at the maximum', (t) => {
  t.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(policy.backoff, a, 0.5)), [100, 200, 400, 800, 1000, 1000]);
});

test('jitter stays within its share of the delay', (t) => {
  const b = { ...policy.backoff, jitter: 0.5 };
  t.is(backoffDelay(b, 2, 0), 100);
  t.is(backoffDelay(b, 2, 0.999), 200);
});

test('restarts until the limit within the window, then escalates', (t) => {
  const w = new RestartWindow(policy);
  t.is(w.onFailure(0, 0).action, 'restart');
  t.is(w.onFailure(1, 0).action, 'restart');
  t.is(w.onFailure(2, 0).action, 'restart');
  t.deepEqual(w.onFailure(3, 0), { action: 'escalate', attempt: 4 });
});

test('failures older than the window are forgotten', (t) => {
  const w = new RestartWindow(policy);
  for (let i = 0; i < 3; i++) w.onFailure(i, 0);
  const v = w.onFailure(20_000, 0);
  t.deepEqual(v, { action: 'restart', delayMs: 100, attempt: 1 });
});
