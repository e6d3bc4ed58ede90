/**
 * Issue 14 item 19: the engine on a loaded machine. Busy loops hold every core for the whole test
 * while engines share one consumer group: a and b take the events, a is SIGKILLed while batches
 * are in flight, c joins (a rebalance), then b freezes (SIGSTOP, as in a long pause) until c has
 * taken every shard and handled the rest of the events, and is continued: it comes back to the
 * group as a new member, usually given some of the shards it held before. Slow scheduling also
 * stretches rounds past heartbeats, so members drop out and come back on their own. In the end
 * every event has exactly one committed decision and every user's state, asked of each live
 * instance (from its live actor or from the store), equals the ground truth.
 *
 * Runs on the shared Kafka, Redis and NATS; it kills only its own engines and burners.
 */
import test from 'ava';
import { childConfig, dumpEngineLogs, spawnEngine, untilStopped, type ChildEngine } from '../integration/helpers/child.ts';
import { groupCaughtUp, kafkaClient, parseValues, pollUntil, readToEnd, topicMessages, uniqueId } from '../integration/helpers/harness.ts';
import { orphanGuard } from '../integration/helpers/services.ts';
import { answerOverHttp, describeDiffs, diffAgainstTruth } from '../integration/helpers/truthDiff.ts';
import { generate, type GenEvent } from '../integration/helpers/workload.ts';
import { bounded, burnCpu, DecisionCounter, describeDuplicates, missingDecisions, repeated } from './helpers.ts';

const EVENTS = 8000;
const USERS = 300;
const PARTITIONS = 6;
const CHUNK = 500;
/** The producer stays at most this many events ahead of the committed decisions. */
const AHEAD = 2000;

async function ownedBy(engine: ChildEngine): Promise<number[]> {
  return ((await (await fetch(`${engine.adminUrl}/shards`)).json()) as { shards: { shard: number }[] }).shards.map((s) => s.shard);
}

test('under CPU contention, with a kill, a join and a frozen member: exactly one decision per event and every user equal to the truth', async (t) => {
  t.timeout(Number(process.env.DISRUPTIVE_TIMEOUT_MS ?? 170_000), 'the contention run');
  const id = uniqueId('contention');
  const inputs = ['login-events', 'payment-events', 'transfer-events'].map((n) => `${id}.${n}`);
  const config = childConfig(id, { kafka: { partitions: PARTITIONS, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 15000 } });
  const { events, truth } = generate(id, USERS, EVENTS, 14);

  const burners = burnCpu();
  const engines: Record<string, ChildEngine> = {};
  t.teardown(() => {
    burners.stop();
    if (!t.passed) process.stderr.write(`contention test engine logs: ${dumpEngineLogs(id, engines).join(' ')}\n`);
    for (const e of Object.values(engines)) {
      e.proc.kill('SIGCONT');
      e.proc.kill('SIGKILL');
    }
  });
  const start = async (name: string): Promise<ChildEngine> => {
    const e = await spawnEngine(id, config, { INSTANCE_ID: `${id}-${name}` });
    engines[name] = e;
    t.teardown(orphanGuard(e.proc.pid!));
    await bounded(`${name} to start`, e.started, 60_000, e);
    return e;
  };
  const [a, b] = await Promise.all([start('a'), start('b')]);

  const kafka = kafkaClient();
  const counter = new DecisionCounter();
  const reader = kafka.consumer({ groupId: uniqueId('contention-reader'), readUncommitted: false });
  await reader.connect();
  await reader.subscribe({ topic: `${id}.risk-decisions`, fromBeginning: true });
  await reader.run({ eachBatch: async ({ batch }) => counter.add(batch.messages.length) });
  t.teardown(() => reader.disconnect());
  const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
  await producer.connect();
  t.teardown(() => producer.disconnect());
  const topicOf = (e: GenEvent) => `${id}.${e.eventType}-events`;
  let produced = 0;
  /** Produces the events up to the fraction `upTo` of all, staying at most AHEAD ahead of the decisions. */
  const produce = async (upTo: number) => {
    for (const end = Math.round(upTo * EVENTS); produced < end; produced = Math.min(end, produced + CHUNK)) {
      await bounded(`decisions to come within ${AHEAD} of ${produced}`, counter.atLeast(produced - AHEAD), 60_000);
      await producer.sendBatch({ acks: -1, topicMessages: topicMessages(events.slice(produced, Math.min(end, produced + CHUNK)), topicOf) });
    }
  };
  const decided = (fraction: number, by: ChildEngine) => bounded(`${fraction * 100}% of the decisions`, counter.atLeast(fraction * EVENTS), 60_000, by);

  await produce(0.3);
  await decided(0.15, b);
  a.proc.kill('SIGKILL');
  t.log(`a killed at ${counter.count} committed decisions`);
  const c = await start('c');
  t.log(`c joined at ${counter.count} committed decisions`);
  await produce(0.6);
  await decided(0.5, c);

  b.proc.kill('SIGSTOP');
  await untilStopped(b.proc.pid!);
  t.log(`b frozen at ${counter.count} committed decisions`);
  await pollUntil('c to own every shard', async () => (await ownedBy(c)).length, (n) => n === PARTITIONS, 60_000);
  // c moves b's users on while b is away, to the end: what b held is never touched again.
  await produce(1);
  await decided(1, c);
  const rejoined = b.logged(/^joined consumer group$/);
  b.proc.kill('SIGCONT');
  await bounded('b to rejoin the group', rejoined, 60_000, b);
  t.log(`b continued and rejoined at ${counter.count} committed decisions`);

  await bounded('the group catching up', groupCaughtUp(kafka, id, inputs, 90_000), 95_000, c);

  const decisions = parseValues<{ eventId: string; shard: number; decidedAt: number }>(await readToEnd(kafka, `${id}.risk-decisions`));
  const duplicates = describeDuplicates(decisions);
  if (duplicates) t.log(duplicates);
  t.deepEqual(repeated(decisions, (d) => d.eventId).slice(0, 10), [], 'no event decided twice');
  t.deepEqual(missingDecisions(events, decisions).slice(0, 10), [], 'every event has a decision');
  t.is(decisions.length, EVENTS, 'exactly one committed decision per event');

  // The two live members own every shard once, each shard on one of them.
  await pollUntil(
    'b and c to own every shard exactly once',
    async () => (await Promise.all([b, c].map(ownedBy))).flat().sort((x, y) => x - y),
    (owned) => JSON.stringify(owned) === JSON.stringify([...Array(PARTITIONS).keys()]),
    30_000,
  );
  for (const [name, e] of [['b', b], ['c', c]] as const) {
    const diffs = await diffAgainstTruth(events, truth, answerOverHttp(e.adminUrl, name));
    t.is(diffs.length, 0, diffs.length ? `asked ${name}: ${describeDiffs(diffs)}` : '');
  }

  for (const e of [b, c]) e.proc.kill('SIGTERM');
  t.deepEqual((await Promise.all([b.exited, c.exited])).map((x) => x.code), [0, 0], 'SIGTERM drains and exits 0');
});
