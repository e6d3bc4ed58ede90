/**
 * Issue 14 item 19: a member that drops out of the group (here frozen past its session timeout,
 * as a long pause on a loaded machine does) and comes back to the same shards must not carry on
 * with what it held: meanwhile another member owned those shards and moved their users on.
 * Engine x handles u's first event, freezes; y takes every shard and handles u's second event,
 * then leaves; x is continued and is given every shard again. x must answer u's state with both
 * events, and decide u's third event.
 */
import test from 'ava';
import { childConfig, dumpEngineLogs, spawnEngine, untilStopped, type ChildEngine } from '../helpers/child.ts';
import { kafkaClient, parseValues, pollUntil, produceEvents, readToEnd, readUntil, uniqueId } from '../helpers/harness.ts';

interface UserAnswer {
  source: string;
  profile: { eventCount: number };
  recentEvents: { eventId: string }[];
}

async function userOf(engine: ChildEngine, userId: string): Promise<UserAnswer | null> {
  const res = await fetch(`${engine.adminUrl}/users/${encodeURIComponent(userId)}`);
  return res.status === 404 ? null : ((await res.json()) as UserAnswer);
}

test('a member back in the group after others owned its shards serves and extends their state, not what it held', async (t) => {
  const id = uniqueId('rejoin');
  const config = childConfig(id, { kafka: { partitions: 2, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 10000 } });
  const engines: Record<string, ChildEngine> = {};
  t.teardown(() => {
    if (!t.passed) process.stderr.write(`rejoin test engine logs: ${dumpEngineLogs(id, engines).join(' ')}\n`);
    for (const e of Object.values(engines)) {
      e.proc.kill('SIGCONT');
      e.proc.kill('SIGKILL');
    }
  });
  const kafka = kafkaClient();
  const userId = `${id}-u`;
  const event = (n: number) => ({ eventId: `${id}-e${n}`, userId, eventType: 'payment', timestamp: Date.now(), amount: `${n}.00` });
  const decided = (n: number) =>
    readUntil(kafka, `${id}.risk-decisions`, (rs) => parseValues<{ eventId: string }>(rs).some((d) => d.eventId === `${id}-e${n}`), 90_000);
  const topicOf = () => `${id}.payment-events`;

  const x = (engines.x = await spawnEngine(id, config, { INSTANCE_ID: `${id}-x` }));
  await x.started;
  await produceEvents(kafka, topicOf, [event(1)]);
  await decided(1);

  x.proc.kill('SIGSTOP');
  await untilStopped(x.proc.pid!);
  const y = (engines.y = await spawnEngine(id, config, { INSTANCE_ID: `${id}-y` }));
  // y owns every shard once x's session has expired.
  await pollUntil('y to own both shards', async () => ((await (await fetch(`${y.adminUrl}/shards`)).json()) as { shards: unknown[] }).shards.length, (n) => n === 2, 60_000);
  await produceEvents(kafka, topicOf, [event(2)]);
  await decided(2);
  y.proc.kill('SIGTERM');
  t.is((await y.exited).code, 0);

  const rejoined = x.logged(/^joined consumer group$/);
  x.proc.kill('SIGCONT');
  const join = await rejoined;
  t.deepEqual(join.shards, [0, 1], 'x is given every shard again');

  const answer = await userOf(x, userId);
  t.is(answer?.profile.eventCount, 2, `x answers with both events (answered from ${answer?.source})`);
  t.deepEqual(answer?.recentEvents.map((e) => e.eventId), [`${id}-e1`, `${id}-e2`]);

  await produceEvents(kafka, topicOf, [event(3)]);
  await decided(3);
  const decisions = parseValues<{ eventId: string }>(await readToEnd(kafka, `${id}.risk-decisions`));
  t.deepEqual(decisions.map((d) => d.eventId).sort(), [1, 2, 3].map((n) => `${id}-e${n}`), 'one decision per event');
  t.is((await userOf(x, userId))?.profile.eventCount, 3);
});
