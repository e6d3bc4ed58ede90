/**
 * The engine (a child process) is SIGKILLed after a batch is journaled and before its decisions
 * and offsets are committed. After a restart the redelivered records re-emit their stored
 * decisions: every event has exactly one committed decision and state counts each event once.
 */
import test from 'ava';
import { groupCaughtUp, kafkaClient, parseValues, produceEvents, readToEnd, uniqueId } from '../helpers/harness.ts';
import { childConfig, spawnEngine } from '../helpers/child.ts';
import { generate, money, type GenEvent } from '../helpers/workload.ts';

test('SIGKILL between journaling and committing leaves no duplicate decision', async (t) => {
  const id = uniqueId('crash');
  const config = childConfig(id);
  const topics = ['login-events', 'payment-events', 'transfer-events'].map((n) => `${id}.${n}`);
  const topicOf = (e: GenEvent) => `${id}.${e.eventType}-events`;
  const { events, truth } = generate(id, 100, 3000, 7);
  const kafka = kafkaClient();

  const first = await spawnEngine(id, config, { RISK_FAULT: 'crash-before-commit:4' });
  t.teardown(() => first.proc.kill('SIGKILL'));
  await first.started;
  await produceEvents(kafka, topicOf as never, events as never);
  const crash = await first.exited;
  t.is(crash.signal, 'SIGKILL', 'the fault hook killed the engine before a commit');

  const second = await spawnEngine(id, config);
  t.teardown(() => second.proc.kill('SIGKILL'));
  await second.started;
  await groupCaughtUp(kafka, id, topics);

  const decisions = parseValues<{ eventId: string }>(await readToEnd(kafka, `${id}.risk-decisions`));
  t.is(decisions.length, events.length, 'exactly one committed decision per event');
  t.is(new Set(decisions.map((d) => d.eventId)).size, events.length);

  const metrics = await (await fetch(`${second.adminUrl}/metrics`)).text();
  const redelivered = Number(metrics.match(/^risk_redelivered_events_total (\d+)/m)?.[1] ?? 0);
  t.true(redelivered > 0, 'the restarted engine saw journaled-but-uncommitted records again');

  for (const [userId, want] of truth) {
    const res = await fetch(`${second.adminUrl}/users/${encodeURIComponent(userId)}`);
    const user = (await res.json()) as { profile: Record<string, unknown> };
    t.like(user.profile, {
      eventCount: want.eventCount,
      paymentCount: want.paymentCount,
      transferCount: want.transferCount,
      loginCount: want.loginCount,
      totalPaymentAmount: money(want.paymentMinor),
      totalTransferAmount: money(want.transferMinor),
    }, userId);
  }

  second.proc.kill('SIGTERM');
  t.deepEqual(await second.exited, { code: 0, signal: null }, 'SIGTERM drains and exits 0');
});
