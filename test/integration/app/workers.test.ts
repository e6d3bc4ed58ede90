/**
 * `risk-engine start --workers N` as a child process: N engines in one consumer group behind one
 * admin port, supervised by the primary; and the start-up refusals, one line and exit 2.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { BROKERS, groupCaughtUp, kafkaClient, parseValues, pollUntil, readToEnd, topicMessages, uniqueId } from '../helpers/harness.ts';
import { childConfig, dumpEngineLogs, spawnEngine, type ChildEngine } from '../helpers/child.ts';
import { generate, type GenEvent } from '../helpers/workload.ts';
import { runCli } from '../admin/instance.ts';

/** GET on a connection of its own (no keep-alive): the primary hands each connection to one worker. */
function getFresh(url: string): Promise<{ instance: string; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ instance: String(res.headers['x-risk-instance']), body: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Pids of the processes whose parent is `pid` (the primary's workers); none once it is gone. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** `promise`, or a rejection naming `what` at the deadline. */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

interface ShardsAnswer {
  instanceId: string;
  shards: { shard: number }[];
}

/** /shards of every worker: asked on fresh connections until each of `instances` answered with what `ok` wants. */
async function shardsOfWorkers(adminUrl: string, instances: string[], ok: (byInstance: Map<string, number[]>) => boolean): Promise<Map<string, number[]>> {
  const seen = new Map<string, number[]>();
  return pollUntil(
    `/shards of ${instances.join(', ')}`,
    async () => {
      const { instance, body } = await getFresh(`${adminUrl}/shards`);
      const answer = body as ShardsAnswer;
      if (answer.instanceId !== instance) throw new Error(`x-risk-instance ${instance} but /shards of ${answer.instanceId}`);
      seen.set(instance, answer.shards.map((s) => s.shard).sort((a, b) => a - b));
      return new Map(seen);
    },
    (byInstance) => instances.every((i) => byInstance.has(i)) && ok(byInstance),
    90_000,
    50,
  );
}

test('--workers 2: two members of one group behind one port, a killed worker comes back, exactly one decision per event, SIGTERM exits 0', async (t) => {
  const id = uniqueId('wrk');
  const instanceId = `${id}-i`;
  const config = childConfig(id, { kafka: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 500 } });
  const topics = ['login-events', 'payment-events', 'transfer-events'].map((n) => `${id}.${n}`);
  const { events } = generate(id, 400, 4000, 15);
  const engine: ChildEngine = await spawnEngine(id, config, { RISK_WORKERS: '2', INSTANCE_ID: instanceId });
  t.teardown(() => {
    if (!t.passed) process.stderr.write(`workers test engine log: ${dumpEngineLogs(id, { primary: engine }).join(' ')}\n`);
    for (const pid of childrenOf(engine.proc.pid!)) process.kill(pid, 'SIGKILL');
    engine.proc.kill('SIGKILL');
  });
  await within(120_000, engine.logged(/^all workers started$/), 'the primary to report both workers started');
  const workers = [`${instanceId}-w0`, `${instanceId}-w1`];

  const kafka = kafkaClient();
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  const members = async () => (await admin.describeGroups([id])).groups[0]!.members.map((m) => m.clientId).sort();
  const twoMembers = (clientIds: string[]) => clientIds.length === 2 && workers.every((w, i) => clientIds[i]!.endsWith(w));
  t.true(twoMembers(await pollUntil('two group members', members, twoMembers, 60_000)));

  // Every shard (4 partitions) is owned by exactly one of the two workers.
  const split = (byInstance: Map<string, number[]>) => {
    const all = [...byInstance.values()].flat().sort((a, b) => a - b);
    return all.join() === '0,1,2,3' && [...byInstance.values()].every((s) => s.length > 0);
  };
  t.true(split(await shardsOfWorkers(engine.adminUrl, workers, split)));

  const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
  await producer.connect();
  const send = (chunk: GenEvent[]) => producer.sendBatch({ acks: -1, compression: kafkajs.CompressionTypes.GZIP, topicMessages: topicMessages(chunk, (e) => `${id}.${e.eventType}-events`) });
  await send(events.slice(0, 2000));

  // A worker killed mid-stream: the primary forks it again under the same instance id.
  const [victim] = childrenOf(engine.proc.pid!);
  t.truthy(victim);
  const restarted = engine.logged(/^worker started$/);
  process.kill(victim!, 'SIGKILL');
  await send(events.slice(2000));
  await producer.disconnect();
  const again = await within(60_000, restarted, 'the killed worker to be forked again and start');
  t.false(childrenOf(engine.proc.pid!).includes(victim!));
  t.true(twoMembers(await pollUntil('two group members after the restart', members, twoMembers, 90_000)), `restarted ${JSON.stringify(again)}`);

  await groupCaughtUp(kafka, id, topics, 180_000);
  const decisions = parseValues<{ eventId: string }>(await readToEnd(kafka, `${id}.risk-decisions`));
  t.is(decisions.length, events.length, 'exactly one committed decision per event');
  t.deepEqual(decisions.map((d) => d.eventId).sort(), events.map((e) => e.eventId).sort());

  engine.proc.kill('SIGTERM');
  t.deepEqual(await engine.exited, { code: 0, signal: null });
});

function listening(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

const refusals = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('risk-engine:'));
const plainLines = (stderr: string) => stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'));

test('embedded (no KAFKA_BROKERS) with --workers 2: one line naming --workers, exit 2', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-workers-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const run = await runCli(['start', '--workers', '2'], { KAFKA_BROKERS: undefined, CONFIG_FILE: undefined, ADMIN_TOKEN: undefined, ADMIN_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info' });
  t.is(run.code, 2, run.stderr);
  t.deepEqual(plainLines(run.stderr), [
    'risk-engine: invalid setting --workers: expects 1 when running embedded (KAFKA_BROKERS unset), got 2: the embedded log and store live in one process; set KAFKA_BROKERS to run several workers',
  ]);
  t.false(run.stderr.includes('"msg"'), 'nothing started, nothing logged');
});

test('--workers 2 with the admin port in use: the refusal is said once, not once per worker; exit 2', async (t) => {
  const { server, port } = await listening();
  t.teardown(() => server.close());
  const id = uniqueId('wrkport');
  const run = await runCli(['start', '--workers', '2'], {
    KAFKA_BROKERS: BROKERS.join(','),
    KAFKA_GROUP_ID: id,
    STATE_PREFIX: id,
    CONFIG_FILE: childConfig(id),
    ADMIN_PORT: String(port),
    LOG_LEVEL: 'warn',
  });
  t.is(run.code, 2, run.stderr);
  t.deepEqual(refusals(run.stderr), [`risk-engine: invalid setting ADMIN_PORT: expects a port that is free on ADMIN_HOST 127.0.0.1 (${port} is in use)`]);
});
