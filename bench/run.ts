/**
 * `npm run bench`: the engine against raw Kafka consumption on the real Kafka, Redis and NATS,
 * all in one run so that the ratios hold on a noisy machine.
 *
 *   prefill  fresh input topics (unique names, 12 partitions) get ~100k generated events
 *   (a)      baseline: a plain kafkajs consumer group reads the backlog and does nothing
 *   (b)      the full pipeline (`risk-engine start` in a child process, fresh group and state
 *            prefix) catches up on the same backlog
 *   (c)      the same with tracing on (OTLP/HTTP export to a local receiver that drops the spans)
 *   (d)      latency produce -> decision at a fixed offered load of half of (b)'s rate, on fresh
 *            topics with a fresh engine; its heap after a GC before and after gives bytes per live actor
 *   (e)      workers: (b) again with the engine started as `risk-engine start --workers 2`
 *            (CPU summed over the primary and its workers); (e)/(b)
 *   (f)      hot user: (b) on a backlog of its own where one user sends 20% of all events
 *            (--hot-user-share), the others as usual; (f)/(b)
 *   embedded the embedded engine (`npm start` without KAFKA_BROKERS, a temporary DATA_DIR), the
 *            events posted as NDJSON to POST /events by 4 concurrent clients in batches of 1,000
 *            lines, each user's events by one client in order; events/s until every event is decided
 *   (g)      POST /decide as callers in the payment path see it (bench/lib/decide.ts): 20 keep-alive
 *            clients offer 200 requests/s in total of mixed users for --decide-seconds, full
 *            request time p50/p99/p99.9 and 200/202/other; then GET /decisions/:eventId/explain of
 *            an event 50 events back in its user's history; once on an engine on Kafka + Redis,
 *            once on an embedded engine
 *   (h)      shadow rules: (b) again with a shadow rule set running (CONTRACT §8: every event decided
 *            under the live and the shadow rules, the counts kept in the journal write), published
 *            on the engine's rules topic before it starts; (h)/(b)
 *   profile  (--profile) (b) once more with the V8 CPU profiler (the same as --cpu-prof, but only
 *            from ready to caught up, without start-up), and the embedded scenario under it; the
 *            top frames go into the results
 *
 * `--only b,e` runs some of a,b,c,d,e,f,embedded,g,h (a ratio whose other side did not run is null;
 * (d) needs (b) or --latency-rate). A full run writes bench/results/<date>.json,
 * bench/results/latest.json and bench/results/latest.svg; a partial one only
 * bench/results/<date>-<scenarios>.json. Topics and Redis keys of the run are deleted at the end
 * (--keep keeps them).
 *
 *   npm run bench [-- --events 100000 --users 5000 --partitions 12 --latency-seconds 30 --decide-seconds 20 --only b,e --profile --keep]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { createClient } from 'redis';
import { loadSettings } from '../src/config/settings.ts';
import { RulesHolder } from '../src/app/rules.ts';
import type { Rules } from '../src/domain/index.ts';
import { createLogger } from '../src/log.ts';
import { createKafka } from '../src/transport/kafka/kafkaClient.ts';
import { shardOf } from '../src/transport/shardOf.ts';
import { compressionArg, integerArg, numberArg } from '../src/loadgen/cliOptions.ts';
import { generateEvents, planLoad, type LoadEvent } from '../src/loadgen/generator.ts';
import { produce } from '../src/loadgen/produce.ts';
import { KafkaEventSink, type Compression } from '../src/loadgen/sinks.ts';
import { percentile } from '../src/loadgen/stats.ts';
import { chartFromReport, type BenchReport } from './lib/chart.ts';
import { decideScenario, EXPLAIN_EVENTS_BACK, type DecideScenarioResult } from './lib/decide.ts';
import { buildEngine, EngineChild } from './lib/engineChild.ts';
import { postNdjson, splitByUser } from './lib/httpClients.ts';
import { baselineConsume, createEngineTopics, deleteTopics, endOffsets, followDecisions, totalOf, waitCaughtUp, type DecisionSeen, type Ends } from './lib/kafka.ts';
import { startOtlpSink } from './lib/otlpSink.ts';
import { ServiceCpuMeter, servicesPer1000 } from './lib/services.ts';
import { heapProfileFile, summarizeHeapProfile, summarizeProfile, type HeapSummary, type ProfileSummary } from './lib/profile.ts';

interface Args {
  events: number;
  users: number;
  partitions: number;
  latencySeconds: number;
  latencyRate?: number;
  lowRate: number;
  fraudRatio: number;
  seed: number;
  compression: Compression;
  maxBytesPerPartition: number;
  commitIntervalMs?: number;
  fetchMaxWaitMs?: number;
  engineCompression?: string;
  engineNode?: string;
  profile: boolean;
  profileHeap: boolean;
  profileTracing: boolean;
  profileLatency: boolean;
  profileDecide: boolean;
  keep: boolean;
  only: Scenario[];
  workers: number;
  hotUserShare: number;
  embeddedClients: number;
  embeddedBatch: number;
  decideSeconds: number;
  decideRate: number;
  decideClients: number;
  explainRequests: number;
}

const SCENARIOS = ['a', 'b', 'c', 'd', 'e', 'f', 'embedded', 'g', 'h'] as const;
type Scenario = (typeof SCENARIOS)[number];

function scenarioList(value: string): Scenario[] {
  const list = value.split(',').map((x) => x.trim()).filter(Boolean);
  const unknown = list.filter((x) => !(SCENARIOS as readonly string[]).includes(x));
  if (!list.length || unknown.length) throw new InvalidArgumentError(`expects a comma-separated list of ${SCENARIOS.join(', ')}${unknown.length ? ` (not: ${unknown.join(', ')})` : ''}`);
  return SCENARIOS.filter((x) => list.includes(x));
}

function defaultsFile(): { kafka: { maxBytesPerPartition: number } } {
  return JSON.parse(readFileSync('config/default.json', 'utf8')) as { kafka: { maxBytesPerPartition: number } };
}

const args = new Command('bench')
  .option('--events <n>', 'events in the backlog', integerArg(1000), 100_000)
  .option('--users <n>', 'users in the backlog', integerArg(1), 5000)
  .option('--partitions <n>', 'partitions of the input topics', integerArg(1, 1000), 12)
  .option('--latency-seconds <n>', 'how long (d) offers its load', integerArg(5, 600), 30)
  .option('--latency-rate <n>', "offered load of (d) in events/s (default: half of (b)'s rate)", integerArg(1))
  .option('--low-rate <n>', 'offered load of the low-load latency point of (d), events/s for 10 s', integerArg(1), 100)
  .option('--fraud-ratio <r>', 'share of fraud users', Number, 0.02)
  .option('--seed <n>', 'generator seed', integerArg(0), 1)
  .option('--compression <codec>', 'compression of the produced events', compressionArg, 'none' as Compression)
  .option(
    '--max-bytes-per-partition <n>',
    'fetch size per partition for the engine and the baseline (default: the engine\'s own default, config/default.json)',
    integerArg(1024),
    defaultsFile().kafka.maxBytesPerPartition,
  )
  .option('--engine-node <path>', "the Node binary the engines run on (default: the bench's own); e.g. Node 24 from scripts/node24.sh install")
  .option('--commit-interval-ms <n>', "the engines' kafka.commitIntervalMs (default: config/default.json's)", integerArg(0, 60_000))
  .option('--fetch-max-wait-ms <n>', "the engines' kafka.fetchMaxWaitMs (default: config/default.json's)", integerArg(1, 5000))
  .option('--engine-compression <codec>', "the engines' kafka.compression, what they write with: none, gzip, snappy, lz4, zstd (default: config/default.json's)")
  .option('--profile', 'also run (b) once with the V8 CPU profiler (as --cpu-prof) and report the top frames; the embedded scenario runs under it', false)
  .option('--profile-heap', 'with --profile: also sample what the profiled (b) allocates (<id>.heapprofile, the top allocating frames in bytes per event in the report)', false)
  .option('--profile-tracing', 'also run (c) once with the V8 CPU profiler, to see what tracing costs', false)
  .option('--profile-decide', "run (g)'s engines under the V8 CPU profiler while POST /decide is offered", false)
  .option('--profile-latency', "run (d)'s engine under the V8 CPU profiler while its load is offered, to see where latency goes", false)
  .option('--keep', 'keep the topics and Redis keys of the run', false)
  .option('--only <list>', `scenarios to run, of ${SCENARIOS.join(',')} (default: all)`, scenarioList, [...SCENARIOS])
  .option('--workers <n>', 'engine processes of (e)', integerArg(2, 64), 2)
  .option('--hot-user-share <r>', "share of all events sent by (f)'s hot user", numberArg(0.01, 0.9), 0.2)
  .option('--embedded-clients <n>', 'concurrent HTTP clients of the embedded scenario', integerArg(1, 64), 4)
  .option('--embedded-batch <n>', 'NDJSON lines per POST /events of the embedded scenario', integerArg(1, 10_000), 1000)
  .option('--decide-seconds <n>', 'how long (g) offers POST /decide, per engine', integerArg(1, 600), 20)
  .option('--decide-rate <n>', 'POST /decide per second of (g), over all its clients', integerArg(1, 10_000), 200)
  .option('--decide-clients <n>', 'concurrent HTTP clients of (g), one keep-alive connection each', integerArg(1, 256), 20)
  .option('--explain-requests <n>', 'GET /decisions/:eventId/explain requests of (g), one at a time', integerArg(1, 100_000), 200)
  .parse(process.argv)
  .opts<Args>();

const BROKERS = (process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',');
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const RESULTS = 'bench/results';
const benchStarted = Date.now();
const say = (msg: string) => process.stderr.write(`[bench ${((Date.now() - benchStarted) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);

const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
const id = `bench-${stamp.slice(0, 19).replace(/[-T]/g, '').toLowerCase()}-${randomBytes(2).toString('hex')}`;
const defaults = loadSettings({ KAFKA_BROKERS: BROKERS.join(',') });
const names = defaults.kafka.topics;
const topicsOf = (prefix: string) => ({
  inputs: names.inputs.map((t) => `${prefix}.${t}`),
  decisions: `${prefix}.${names.decisions}`,
  aggregates: `${prefix}.${names.aggregates}`,
  dlq: `${prefix}.${names.dlq}`,
  rules: `${prefix}.${names.rules}`,
});

/** The Node binary of every engine of the run, when not the bench's own. */
const engineNode = args.engineNode ? { node: args.engineNode } : {};
const engineNodeVersion = execFileSync(args.engineNode ?? process.execPath, ['--version'], { encoding: 'utf8' }).trim();

/** Over config/default.json for every engine of the run; the baseline uses the same fetch size. */
const kafkaConfig = {
  maxBytesPerPartition: args.maxBytesPerPartition,
  ...(args.commitIntervalMs === undefined ? {} : { commitIntervalMs: args.commitIntervalMs }),
  ...(args.fetchMaxWaitMs === undefined ? {} : { fetchMaxWaitMs: args.fetchMaxWaitMs }),
  ...(args.engineCompression === undefined ? {} : { compression: args.engineCompression }),
};

mkdirSync(RESULTS, { recursive: true });
const workDir = RESULTS;
// kafkajs logs retriable errors it then retries (fresh topics): only what escapes shows, as an exception.
const kafka = createKafka(BROKERS, `risk-bench-${process.pid}`, createLogger('fatal', { component: 'bench' }));
const admin = kafka.admin();
await admin.connect();
const services = await ServiceCpuMeter.open(REDIS_URL, BROKERS);
buildEngine();
say(`engines run on Node ${engineNodeVersion.replace(/^v/, "")}${args.engineNode ? ` (${args.engineNode})` : ""}`);
const loadStart = os.loadavg();
const statePrefixes: string[] = [];

const r = (x: number, digits = 1) => Number(x.toFixed(digits));

/** Percentiles, and the distribution as 201 quantiles (q = 0, 0.005, ..., 1) for the chart. */
function latencyStats(values: number[]): { p50: number; p99: number; p999: number; max: number; mean: number; count: number; quantiles: number[] } {
  const sorted = Float64Array.from(values).sort();
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const quantiles = sorted.length ? Array.from({ length: 201 }, (_, i) => percentile(sorted, i / 200)) : [];
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999), max: sorted[sorted.length - 1] ?? NaN, mean: r(mean, 2), count: sorted.length, quantiles };
}

interface CatchUpOptions {
  /** Profile the engine from ready to caught up into this file. */
  profileFile?: string;
  /** With profileFile: also sample its allocations (heapProfileFile(profileFile)). */
  heapProfile?: boolean;
  env?: Record<string, string>;
  /** `start --workers N`: ready once every worker is; metrics summed over them. */
  workers?: number;
}

function progressOf(samples: readonly { at: number; committed: number }[], readyAt: number): [number, number][] {
  const out: [number, number][] = [];
  for (const x of samples) {
    const last = out.at(-1);
    if (last && x.at - readyAt - last[0] < 500 && x !== samples.at(-1)) continue;
    out.push([x.at - readyAt, x.committed]);
  }
  return out;
}

/** Catch-up of a backlog by a fresh engine child: events/s from ready (group joined) to all offsets committed. */
async function catchUp(label: string, groupId: string, topics: ReturnType<typeof topicsOf>, ends: Ends, options: CatchUpOptions = {}) {
  const { profileFile, heapProfile = false, env, workers = 1 } = options;
  statePrefixes.push(groupId);
  const spawnedAt = Date.now();
  const child = await EngineChild.start({ ...engineNode, id, topics, brokers: BROKERS, groupId, statePrefix: groupId, workDir, kafkaConfig, env, ...(workers > 1 ? { args: ['--workers', String(workers)] } : {}) });
  let exited = false;
  void child.exited.then(() => (exited = true));
  // With workers, the clock starts when the first of them joined: it consumes on its own until
  // the others join (a rebalance), and that is part of what --workers costs.
  let firstReady: { at: number; cpu: ReturnType<typeof child.procStats> } | null = null;
  const allReadyAt = await child.ready(60_000 * workers, workers, () => (firstReady = { at: Date.now(), cpu: child.procStats() }));
  const readyAt = workers > 1 && firstReady ? (firstReady as { at: number }).at : allReadyAt;
  if (profileFile) await child.startProfile(heapProfile);
  const cpu0 = workers > 1 && firstReady ? (firstReady as { cpu: ReturnType<typeof child.procStats> }).cpu : child.procStats();
  const services0 = await services.read();
  const total = totalOf(ends);
  let lastSay = 0;
  let lastProgress = { at: Date.now(), committed: -1 };
  const samples: { at: number; committed: number }[] = [];
  let doneAt: number;
  try {
    doneAt = await waitCaughtUp(admin, groupId, ends, {
      timeoutMs: 900_000,
      onTick: (lag) => {
        samples.push({ at: Date.now(), committed: total - lag });
        if (total - lag !== lastProgress.committed) lastProgress = { at: Date.now(), committed: total - lag };
        if (Date.now() - lastSay < 5000) return;
        lastSay = Date.now();
        say(`${label}: ${total - lag}/${total} committed, ${Math.round((total - lag) / ((Date.now() - readyAt) / 1000))} events/s`);
      },
      abort: () => {
        if (exited) return `the engine exited during ${label}:\n${child.logLines.slice(-10).join('\n')}`;
        if (Date.now() - lastProgress.at > 60_000) {
          return `${label}: no offset committed for 60 s at ${lastProgress.committed}/${total}; the engine's log is ${child.logFile}; its last lines:\n${child.logLines.slice(-15).join('\n')}`;
        }
        return null;
      },
    });
  } catch (err) {
    await child.stop(10_000);
    throw err;
  }
  const cpu1 = child.procStats();
  const services1 = await services.read();
  if (profileFile) await child.stopProfile(profileFile);
  const { metrics, instances } = workers > 1 ? await child.metricsOfWorkers(workers) : { metrics: await child.metrics(), instances: null };
  const stopped = await child.stop();
  const seconds = (doneAt - readyAt) / 1000;
  // Steady state: from the first sample past 10% committed to the first past 90%.
  const s10 = samples.find((x) => x.committed >= total * 0.1);
  const s90 = samples.find((x) => x.committed >= total * 0.9);
  const steady = s10 && s90 && s90.at > s10.at ? (s90.committed - s10.committed) / ((s90.at - s10.at) / 1000) : null;
  const firstCommit = samples.find((x) => x.committed > 0);
  const sum = (prefix: string) => [...metrics].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
  const decisions = Object.fromEntries(['ALLOW', 'CHALLENGE', 'BLOCK'].map((d) => [d, metrics.get(`risk_decisions_total{decision="${d}"}`) ?? 0]));
  return {
    child,
    result: {
      events: total,
      seconds: r(seconds, 2),
      eventsPerSecond: r(total / seconds, 0),
      steadyEventsPerSecond: steady === null ? null : r(steady, 0),
      firstCommitAfterReadyMs: firstCommit ? firstCommit.at - readyAt : null,
      // Work done before the clock started (e.g. by a worker that joined before its siblings were ready).
      committedAtReady: samples[0]?.committed ?? null,
      startupMs: readyAt - spawnedAt,
      // The catch-up's course, [ms since ready, committed] about every half second: a slow start,
      // a stall or a long tail shows here, where the rates above only average it away.
      progress: progressOf(samples, readyAt),
      decisions,
      decisionsTotal: Object.values(decisions).reduce((a, b) => a + b, 0),
      deadLetters: sum('risk_dlq_records_total'),
      shadowDecisions: sum('risk_shadow_decisions_total'),
      batchRetries: sum('risk_batch_retries_total'),
      liveActorsAtEnd: metrics.get('risk_live_actors') ?? null,
      peakRssMB: cpu1 ? r(cpu1.peakRssBytes / 2 ** 20) : null,
      processes: cpu1?.processes ?? null,
      ...(instances ? { metricsOf: instances } : {}),
      cpuSeconds: cpu0 && cpu1 ? r(cpu1.cpuSeconds - cpu0.cpuSeconds, 2) : null,
      cpuMsPer1000Events: cpu0 && cpu1 ? r(((cpu1.cpuSeconds - cpu0.cpuSeconds) * 1000 * 1000) / total, 1) : null,
      // What the engine's requests cost the services on this machine meanwhile (null: not local).
      servicesCpuMsPer1000Events: servicesPer1000(services0, services1, total),
      // Kafka transactions: the instance's with kafka.transactions "instance", else the shards'.
      transactionsPer1000Events: r(((sum('risk_instance_transactions_total') || sum('risk_transactions_total{kind="input"}')) * 1000) / total, 1),
      exit: stopped,
      engineWarnings: child.logLines.length,
      engineLogSample: child.logLines.slice(0, 5),
      measured: `eventsPerSecond: from GET /readyz = 200 (group joined${workers > 1 ? ', in the first worker: it consumes alone until the others join' : ''}) until the group committed offsets reach the end of every input partition (polled every 100 ms); steadyEventsPerSecond: between 10% and 90% committed; CPU and RSS of the engine's process tree (peak RSS: the sum of each process's peak)`,
    },
  };
}

const report: Record<string, unknown> = {
  schema: 'risk-engine-bench/1',
  runId: id,
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? null, memoryGB: r(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}`, loadavgStart: loadStart.map((x) => r(x, 2)) },
  config: {
    events: args.events,
    users: args.users,
    partitions: args.partitions,
    fraudRatio: args.fraudRatio,
    seed: args.seed,
    compression: args.compression,
    brokers: BROKERS,
    engine: 'dist/cli/main.js compiled by tsc at the start of the run, as `npm start` runs it',
    engineNode: engineNodeVersion,
    engineConfigOverrides: { kafka: kafkaConfig },
  },
};

type CatchUpResult = Awaited<ReturnType<typeof catchUp>>['result'];

/**
 * A shadow rule set for (h), appended to `rulesTopic` as PUT /rules/shadow would (the `shadow`
 * record of the rules channel): the default rules with a lower bar and one more hard rule.
 */
async function publishShadow(rulesTopic: string): Promise<Rules> {
  const file = RulesHolder.fromFile(defaults.rulesFile).current();
  const rules: Rules = {
    ...file,
    rulesVersion: file.rulesVersion + 1,
    bias: file.bias + 0.5,
    thresholds: { block: 0.8, challenge: 0.6 },
    hardRules: [...file.hardRules, { id: 'bench-shadow-transfer', when: { eventType: 'transfer', amountAbove: '2000' }, decision: 'CHALLENGE' }],
  };
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({ topic: rulesTopic, acks: -1, messages: [{ key: 'shadow', value: JSON.stringify({ rules, version: rules.rulesVersion, at: Date.now() }) }] });
  } finally {
    await producer.disconnect();
  }
  return rules;
}

interface EmbeddedResult {
  seconds: number;
  eventsPerSecond: number;
  postedEventsPerSecond: number;
  cpuMsPer1000Events: number | null;
  peakRssMB: number | null;
  [more: string]: unknown;
}

const want = (scenario: Scenario): boolean => args.only.includes(scenario);
const fullRun = SCENARIOS.every(want);

/** Fresh input topics with a generated backlog of `plan`; their end offsets. */
async function prefill(topics: ReturnType<typeof topicsOf>, plan: ReturnType<typeof planLoad>, label: string): Promise<{ ends: Ends; result: Record<string, unknown> }> {
  await createEngineTopics(admin, topics, args.partitions);
  say(`prefill ${label}: ${args.events} events of ${args.users} users into ${topics.inputs.join(', ')} (${args.partitions} partitions each)`);
  const sink = await KafkaEventSink.open({ kafka, inputs: topics.inputs, other: null, compression: args.compression, target: 'kafka' });
  const pre = await produce(generateEvents(plan), sink, { rate: 0, batchSize: 2000 });
  await sink.close();
  const ends = await endOffsets(admin, topics.inputs);
  if (totalOf(ends) !== args.events) throw new Error(`prefill ${label}: the topics hold ${totalOf(ends)} records, not ${args.events}`);
  say(`prefill ${label}: ${Math.round(pre.eventsPerSecond)} events/s`);
  return { ends, result: { events: pre.sent, seconds: r(pre.seconds, 2), eventsPerSecond: r(pre.eventsPerSecond, 0), producer: 'kafkajs idempotent, acks=all, batches of 2000, one in flight' } };
}

try {
  // ---- prefill -------------------------------------------------------------------------------
  const A = topicsOf(`${id}-a`);
  const needsA = want('a') || want('b') || want('c') || want('e') || want('h') || args.profile;
  const planA = planLoad({ users: args.users, events: args.events, fraudRatio: args.fraudRatio, seed: args.seed, idPrefix: `${id}-a-` });
  const backlogA = needsA ? await prefill(A, planA, '(a)-(c), (e)') : null;
  report.prefill = backlogA?.result ?? null;
  const ends = backlogA?.ends ?? new Map();

  // ---- (a) baseline --------------------------------------------------------------------------
  let a: { eventsPerSecond: number } | null = null;
  if (want('a')) {
    const concurrency = args.partitions * A.inputs.length;
    const base = await baselineConsume(kafka, `${id}-a-baseline`, ends, { maxBytesPerPartition: args.maxBytesPerPartition, concurrency }, 300_000);
    const aSeconds = (base.doneAt - base.joinedAt) / 1000;
    const aResult = {
      events: base.messages,
      seconds: r(aSeconds, 2),
      eventsPerSecond: r(base.messages / aSeconds, 0),
      megabytesPerSecond: r(base.bytes / 2 ** 20 / aSeconds, 2),
      joinMs: base.joinedAt - base.runAt,
      measured: 'from GROUP_JOIN until every input partition was read to its end (eachBatch does nothing; no commits)',
      consumer: { readUncommitted: false, maxBytesPerPartition: args.maxBytesPerPartition, partitionsConsumedConcurrently: concurrency },
    };
    report.a_baseline = aResult;
    a = aResult;
    say(`(a) baseline: ${aResult.eventsPerSecond} events/s (${aResult.seconds} s)`);
  }

  // ---- (b) full pipeline ---------------------------------------------------------------------
  let b: CatchUpResult | null = null;
  if (want('b')) {
    say('(b) pipeline: starting the engine on the backlog');
    b = (await catchUp('(b)', `${id}-b`, A, ends)).result;
    report.b_pipeline = b;
    say(`(b) pipeline: ${b.eventsPerSecond} events/s (${b.seconds} s), peak RSS ${b.peakRssMB} MB, ${b.decisionsTotal} decisions`);
  }

  // ---- (c) tracing on ------------------------------------------------------------------------
  let c: Record<string, unknown> | null = null;
  if (want('c')) {
    const otlp = await startOtlpSink();
    const tracingEnv = { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_SERVICE_NAME: 'risk-engine-bench' };
    say(`(c) tracing: the engine again on the backlog, exporting spans over OTLP/HTTP to ${otlp.endpoint} (a receiver that drops them)`);
    try {
      const { result } = await catchUp('(c)', `${id}-c`, A, ends, { env: tracingEnv });
      const exported = otlp.stats();
      // One `process` span per event: fewer received means the SDK's queue dropped some.
      const processSpans = exported.spans?.process ?? null;
      const eventSpansReceived = processSpans === null ? null : Math.round((processSpans / args.events) * 1000) / 1000;
      c = {
        ...result,
        tracing: {
          env: { ...tracingEnv, OTEL_EXPORTER_OTLP_ENDPOINT: '<local receiver>' },
          exportRequests: exported.requests,
          exportedBytes: exported.bytes,
          spansReceived: exported.spans,
          eventSpansReceived,
          note: 'http/protobuf; the batch span processor as the engine sizes it (queue 16384, batches of 2048, every 5 s at the latest; OTEL_BSP_* unset); spans that do not fit the queue are dropped by the SDK. eventSpansReceived: the share of events whose `process` span reached the receiver',
        },
      };
      say(`(c) tracing: ${result.eventsPerSecond} events/s (${result.seconds} s), ${exported.requests} OTLP exports, ${Math.round(exported.bytes / 1024)} KiB, spans received ${JSON.stringify(exported.spans)}${eventSpansReceived === null ? '' : ` (the process spans of ${Math.round(eventSpansReceived * 100)}% of the events${eventSpansReceived < 1 ? ': the SDK dropped the rest' : ''})`}`);
      if (args.profileTracing) {
        const kept = join(RESULTS, `${id}-tracing.cpuprofile`);
        const { result: pc } = await catchUp('(profile c)', `${id}-pc`, A, ends, { profileFile: kept, env: tracingEnv });
        report.profileTracing = { ...summarizeProfile(kept), eventsPerSecond: pc.eventsPerSecond };
        say(`profile (c): ${pc.eventsPerSecond} events/s under the profiler; written to ${kept}`);
      }
    } finally {
      await otlp.close();
    }
    report.c_tracing = c;
  }
  const cRate = c ? (c.eventsPerSecond as number) : null;

  // ---- (h) shadow rules on -------------------------------------------------------------------
  let h: CatchUpResult | null = null;
  if (want('h')) {
    // Its own rules topic, holding the shadow before the engine starts: it decides every event
    // of the backlog under both rule sets (an engine reads its rules topic before taking events).
    const H = { ...A, rules: `${id}-h.${names.rules}` };
    await createEngineTopics(admin, H, args.partitions);
    const shadow = await publishShadow(H.rules);
    say(`(h) shadow rules: the engine again on the backlog, with shadow rules version ${shadow.rulesVersion} running`);
    h = (await catchUp('(h)', `${id}-h`, H, ends)).result;
    if (h.shadowDecisions !== h.events) say(`(h) warning: ${h.shadowDecisions} of ${h.events} events were decided under the shadow too`);
    report.h_shadow = { ...h, shadowRules: { rulesVersion: shadow.rulesVersion, thresholds: shadow.thresholds, bias: shadow.bias, hardRules: shadow.hardRules.length } };
    say(`(h) shadow rules: ${h.eventsPerSecond} events/s (${h.seconds} s), ${h.shadowDecisions} decided under the shadow too`);
  }

  // ---- (d) latency at half load, and memory per live actor ----------------------------------
  /** (d) on fresh topics with a fresh engine at `rateD` events/s, then the memory figures. */
  const latencyScenario = async (rateD: number) => {
    const D = topicsOf(`${id}-d`);
    await createEngineTopics(admin, D, args.partitions);
    const eventsD = Math.min(200_000, Math.max(2000, Math.round(rateD * args.latencySeconds)));
    // The same events per user as the backlog during the latency window; afterwards the same
    // users get the rest of their ~56 events as fast as possible, so that every live actor ends
    // with a full history (50 events, 50 decisions) for the memory figure.
    const usersD = Math.max(20, Math.round((eventsD * args.users) / args.events));
    const fillD = Math.max(0, usersD * 56 - eventsD);
    statePrefixes.push(`${id}-d`);
    say(`(d) latency: ${eventsD} events of ${usersD} users offered at ${rateD} events/s (half of (b)), then ${fillD} more as fast as possible`);
    const child = await EngineChild.start({ ...engineNode, id, topics: D, brokers: BROKERS, groupId: `${id}-d`, statePrefix: `${id}-d`, workDir, kafkaConfig });
    await child.ready();
    // Shards open on assignment; measure the empty heap once all of them are open.
    for (let i = 0; i < 500 && ((await child.metrics()).get('risk_owned_shards') ?? 0) < args.partitions; i++) await new Promise((res) => setTimeout(res, 20));
    const mem0 = await child.memory();
    type Phase = 'half' | 'low' | 'fill';
    const sentAt = new Map<string, { at: number; phase: Phase }>();
    const decide: number[] = [];
    const visible: number[] = [];
    const decideLow: number[] = [];
    // The first seconds of (d) are a cold start: every user's first event spawns its actor, which
    // recovers from Redis. Latency after them is reported apart (steady state), as well as in all.
    const WARMUP_MS = 5000;
    let halfStartedAt = Number.POSITIVE_INFINITY;
    const decideSteady: number[] = [];
    const visibleSteady: number[] = [];
    /** Per second of sending (the second the event was handed to the producer): decided and visible latencies. */
    const bySecond: { decided: number[]; visible: number[] }[] = [];
    const visibleLow: number[] = [];
    const verdicts: Record<string, number> = {};
    let received = 0;
    let waiter: { target: number; resolve: () => void } | null = null;
    const reader = await followDecisions(kafka, `${id}-d-reader`, D.decisions, (dec: DecisionSeen) => {
      const sent = sentAt.get(dec.eventId);
      if (sent === undefined) return;
      sentAt.delete(dec.eventId);
      received++;
      if (sent.phase === 'half') {
        decide.push(dec.decidedAt - sent.at);
        visible.push(dec.receivedAt - sent.at);
        const second = (bySecond[Math.max(0, Math.floor((sent.at - halfStartedAt) / 1000))] ??= { decided: [], visible: [] });
        second.decided.push(dec.decidedAt - sent.at);
        second.visible.push(dec.receivedAt - sent.at);
        if (sent.at - halfStartedAt >= WARMUP_MS) {
          decideSteady.push(dec.decidedAt - sent.at);
          visibleSteady.push(dec.receivedAt - sent.at);
        }
        verdicts[dec.decision] = (verdicts[dec.decision] ?? 0) + 1;
      } else if (sent.phase === 'low') {
        decideLow.push(dec.decidedAt - sent.at);
        visibleLow.push(dec.receivedAt - sent.at);
      }
      if (waiter && received >= waiter.target) waiter.resolve();
    });
    /** Resolves when `target` decisions were read, or after `ms` (then the figures say complete: false). */
    const decisionsRead = (target: number, ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        waiter = {
          target,
          resolve: () => {
            clearTimeout(timer);
            waiter = null;
            resolve();
          },
        };
        if (received >= target) waiter.resolve();
      });
    const sinkD = await KafkaEventSink.open({ kafka, inputs: D.inputs, other: null, compression: args.compression, target: 'kafka' });
    // spread 0: every user gets the same number of events, so that all of them end with a full history.
    const planD = planLoad({ users: usersD, events: eventsD + fillD, fraudRatio: args.fraudRatio, seed: args.seed + 1, idPrefix: `${id}-d-`, spread: 0 });
    const loadD = generateEvents(planD);
    const take = function* <T>(it: Iterator<T>, n: number): Generator<T> {
      for (let i = 0; i < n; i++) {
        const next = it.next();
        if (next.done) return;
        yield next.value;
      }
    };
    // Recorded before the send: a decision can never be seen before its event's send time.
    const stampAs = (phase: Phase) => (e: LoadEvent, at: number) => {
      sentAt.set(e.eventId, { at, phase });
      return e;
    };
    if (args.profileLatency) await child.startProfile();
    halfStartedAt = Date.now();
    const cpuHalf0 = child.procStats();
    const servicesHalf0 = await services.read();
    const offered = await produce(take(loadD, eventsD), sinkD, { rate: rateD, batchSize: 500, stamp: stampAs('half') });
    await decisionsRead(eventsD, 300_000);
    const cpuHalf1 = child.procStats();
    const servicesHalf1 = await services.read();
    if (args.profileLatency) {
      const kept = join(RESULTS, `${id}-latency.cpuprofile`);
      await child.stopProfile(kept);
      report.profileLatency = summarizeProfile(kept);
      say(`profile (d): written to ${kept}`);
    }
    const latencyComplete = received >= eventsD;
    // The latency floor: the same engine and users at a low load, once the half-load backlog is gone.
    const lowEvents = Math.min(fillD, args.lowRate * 10);
    say(`(d) low load: ${lowEvents} events at ${args.lowRate} events/s`);
    await produce(take(loadD, lowEvents), sinkD, { rate: args.lowRate, batchSize: 500, stamp: stampAs('low') });
    await decisionsRead(eventsD + lowEvents, 120_000);
    const metricsLatency = await child.metrics();
    const mem1 = await child.memory();
    const live1 = metricsLatency.get('risk_live_actors') ?? 0;
    say(`(d) fill: ${fillD} more events so that every actor has a full history`);
    await produce(loadD, sinkD, { rate: 0, batchSize: 2000, stamp: stampAs('fill') });
    await sinkD.close();
    await decisionsRead(eventsD + fillD, 300_000);
    const mem2 = await child.memory();
    // What a full user state weighs as JSON (GET /users/:id), for comparison with the heap figure.
    const views = await Promise.all(
      planD.users.slice(0, 20).map(async (u) => (await fetch(`${child.adminUrl}/users/${encodeURIComponent(u.userId)}`)).json() as Promise<{ recentEvents?: unknown[]; decisions?: unknown[] }>),
    );
    const jsonBytes = (f: (v: { recentEvents?: unknown[]; decisions?: unknown[] }) => unknown) => Math.round(views.reduce((n, v) => n + Buffer.byteLength(JSON.stringify(f(v) ?? null)), 0) / Math.max(1, views.length));
    const viewSizes = { users: views.length, wholeView: jsonBytes((v) => v), recentEvents: jsonBytes((v) => v.recentEvents), decisions: jsonBytes((v) => v.decisions), recentEventsCount: views[0]?.recentEvents?.length ?? null, decisionsCount: views[0]?.decisions?.length ?? null };
    const metricsD = await child.metrics();
    const statsD = child.procStats();
    await reader.disconnect();
    const stoppedD = await child.stop();
    const live2 = metricsD.get('risk_live_actors') ?? 0;
    /** A histogram of the engine's /metrics as {count, meanMs, buckets: {le: cumulative count}}. */
    const histogram = (metrics: Map<string, number>, name: string) => {
      const buckets: Record<string, number> = {};
      for (const [k, v] of metrics) {
        const m = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(k);
        if (m) buckets[m[1]!] = v;
      }
      const count = metrics.get(`${name}_count`) ?? 0;
      const within = (q: number): number | null => {
        // The upper bound of the first bucket holding the quantile: "at most", as coarse as the buckets.
        // Sorted by bound: an object lists integer-like keys ("1", "10") before the others.
        const le = Object.entries(buckets).sort(([a], [b]) => Number(a) - Number(b)).find(([, n]) => n >= q * count)?.[0];
        return count && le !== undefined && le !== '+Inf' ? Number(le) * 1000 : null;
      };
      return { count, meanMs: count ? r(((metrics.get(`${name}_sum`) ?? 0) / count) * 1000, 1) : null, p50AtMostMs: within(0.5), p99AtMostMs: within(0.99), buckets };
    };
    const d = {
      offeredRate: rateD,
      events: eventsD,
      users: usersD,
      achievedSendRate: r(offered.eventsPerSecond, 0),
      decisionsReceived: Math.min(received, eventsD),
      complete: latencyComplete,
      decisions: verdicts,
      decideLatencyMs: latencyStats(decide),
      visibleLatencyMs: latencyStats(visible),
      // At a fixed rate rounds and transactions are small: the engine's cost per event is not (b)'s.
      engineCpuMsPer1000Events: cpuHalf0 && cpuHalf1 ? r(((cpuHalf1.cpuSeconds - cpuHalf0.cpuSeconds) * 1e6) / eventsD, 1) : null,
      // Redis and the broker meanwhile; the broker's includes the bench's own producer and reader.
      servicesCpuMsPer1000Events: servicesPer1000(servicesHalf0, servicesHalf1, eventsD),
      transactionsPer1000Events: r(((metricsLatency.get('risk_instance_transactions_total') || metricsLatency.get('risk_transactions_total{kind="input"}') || 0) * 1000) / eventsD, 1),
      afterWarmup: { warmupMs: WARMUP_MS, events: decideSteady.length, decideLatencyMs: latencyStats(decideSteady), visibleLatencyMs: latencyStats(visibleSteady) },
      // Whether the tail is a few bad seconds (a pause, a stall) or spread over the whole run.
      perSecond: bySecond.map((x, second) => {
        const dec = latencyStats(x?.decided ?? []);
        return { second, events: dec.count, decidedP50: dec.p50, decidedP99: dec.p99, decidedMax: dec.max, visibleP99: latencyStats(x?.visible ?? []).p99 };
      }),
      definitions: {
        decideLatencyMs: "decidedAt (engine clock, when the actor decided, before the shard's Kafka transaction commits) - the time the event was handed to the producer (same machine, same clock)",
        visibleLatencyMs: 'the time a read_committed consumer in the bench received the decision - the time the event was handed to the producer: end to end, commit included',
      },
      peakRssMB: statsD ? r(statsD.peakRssBytes / 2 ** 20) : null,
      engineMetrics: {
        note: "the engine's own histograms at the end of the latency phase (warm-up included): time to judge and commit one batch (chunk), decidedAt - Kafka record timestamp, and the part of it before the record reached its shard (the broker and the fetch); p50AtMostMs and p99AtMostMs are bucket bounds",
        batchSeconds: histogram(metricsLatency, 'risk_batch_seconds'),
        decisionLatencySeconds: histogram(metricsLatency, 'risk_decision_latency_seconds'),
        fetchLagSeconds: histogram(metricsLatency, 'risk_fetch_lag_seconds'),
      },
      exit: stoppedD,
      engineWarnings: child.logLines.length,
      engineLogSample: child.logLines.slice(0, 5),
    };
    report.d_latency = d;
    const dLow = { offeredRate: args.lowRate, events: lowEvents, decideLatencyMs: latencyStats(decideLow), visibleLatencyMs: latencyStats(visibleLow), note: 'not a target: the latency floor of the same engine and users at a low load, measured after the half-load backlog was decided' };
    report.d_low_load = dLow;
    const perActor = (after: typeof mem0, n: number, field: 'heapUsed' | 'rss') => (n ? Math.round((after[field] - mem0[field]) / n) : null);
    const memory = {
      gcForced: mem0.gc && mem1.gc && mem2.gc,
      heapUsedEmptyMB: r(mem0.heapUsed / 2 ** 20, 2),
      afterLatencyPhase: { liveActors: live1, eventsPerActor: r(eventsD / usersD, 1), heapUsedMB: r(mem1.heapUsed / 2 ** 20, 2), bytesPerLiveActorHeap: perActor(mem1, live1, 'heapUsed'), bytesPerLiveActorRss: perActor(mem1, live1, 'rss') },
      userViewJsonBytes: viewSizes,
      fullHistory: { liveActors: live2, eventsPerActor: r((eventsD + fillD) / usersD, 1), heapUsedMB: r(mem2.heapUsed / 2 ** 20, 2), bytesPerLiveActorHeap: perActor(mem2, live2, 'heapUsed'), bytesPerLiveActorRss: perActor(mem2, live2, 'rss') },
      method: 'engine child of (d): heapUsed after two forced GCs (--expose-gc) once all shards were open and no actor lived, then after the latency phase, then after every user reached ~56 events (full 50/50 history); (difference) / risk_live_actors. An upper bound: heap the engine grows for other reasons (buffers, metrics) is counted too',
    };
    report.memory = memory;
    const bytesPerActor = memory.fullHistory.bytesPerLiveActorHeap;
    say(`(d) latency: decide p50 ${d.decideLatencyMs.p50} ms p99 ${d.decideLatencyMs.p99} ms p99.9 ${d.decideLatencyMs.p999} ms; visible p99 ${d.visibleLatencyMs.p99} ms; ${bytesPerActor} B heap per live actor (full history)`);
    return { d, dLow, memory, bytesPerActor, live2, rateD, warmupMs: WARMUP_MS };
  };
  const latencyRate = args.latencyRate ?? (b ? Math.max(1, Math.round(b.eventsPerSecond / 2)) : null);
  if (want('d') && latencyRate === null) throw new Error('(d) offers half of (b)\'s rate: run (b) too, or give --latency-rate');
  const latency = want('d') ? await latencyScenario(latencyRate!) : null;

  // ---- (e) workers ---------------------------------------------------------------------------
  let e: (CatchUpResult & { workers: number }) | null = null;
  if (want('e')) {
    say(`(e) workers: the engine as \`start --workers ${args.workers}\` on the backlog of (b)`);
    const { result } = await catchUp('(e)', `${id}-e`, A, ends, { workers: args.workers });
    e = { ...result, workers: args.workers };
    report.e_workers = e;
    say(`(e) workers: ${e.eventsPerSecond} events/s (${e.seconds} s) with ${args.workers} workers, ${e.cpuMsPer1000Events} CPU-ms per 1000 events over ${e.processes} processes`);
  }

  // ---- (f) hot user --------------------------------------------------------------------------
  let fResult: (CatchUpResult & { hotUser: Record<string, unknown>; prefill: Record<string, unknown> }) | null = null;
  if (want('f')) {
    const F = topicsOf(`${id}-f`);
    const planF = planLoad({ users: args.users, events: args.events, fraudRatio: args.fraudRatio, seed: args.seed, idPrefix: `${id}-f-`, hotUserShare: args.hotUserShare });
    const hot = planF.users.find((u) => u.hot)!;
    const { ends: endsF, result: prefillF } = await prefill(F, planF, '(f)');
    say(`(f) hot user: ${hot.userId} sends ${hot.ordinary} of ${args.events} events (partition ${shardOf(hot.userId, args.partitions)} of every input topic)`);
    const { result } = await catchUp('(f)', `${id}-f`, F, endsF);
    fResult = { ...result, hotUser: { userId: hot.userId, events: hot.ordinary, share: args.hotUserShare, partition: shardOf(hot.userId, args.partitions) }, prefill: prefillF };
    report.f_hot_user = fResult;
    say(`(f) hot user: ${result.eventsPerSecond} events/s (${result.seconds} s)`);
  }

  // ---- embedded: NDJSON over HTTP ------------------------------------------------------------
  let embedded: EmbeddedResult | null = null;
  if (want('embedded')) {
    const dataDir = mkdtempSync(join(os.tmpdir(), 'risk-bench-embedded-'));
    try {
      const planE = planLoad({ users: args.users, events: args.events, fraudRatio: args.fraudRatio, seed: args.seed, idPrefix: `${id}-x-` });
      const clientOf = (userId: string) => shardOf(userId, args.embeddedClients);
      const bodies = splitByUser((function* () {
        for (const g of generateEvents(planE)) yield g.event;
      })(), args.embeddedClients, args.embeddedBatch, clientOf);
      say(`embedded: ${args.events} events as NDJSON by ${args.embeddedClients} clients in batches of ${args.embeddedBatch} lines, to an embedded engine (DATA_DIR ${dataDir})`);
      const child = await EngineChild.start({ ...engineNode, id, topics: { ...names, inputs: [...names.inputs] }, dataDir, groupId: `${id}-x`, statePrefix: `${id}-x`, workDir, kafkaConfig: { ...kafkaConfig, partitions: args.partitions } });
      try {
        await child.ready();
        const decided = async () => {
          const m = await child.metrics();
          let n = 0;
          for (const [k, v] of m) if (k.startsWith('risk_decisions_total{') || k.startsWith('risk_dlq_records_total{')) n += v;
          return n;
        };
        const before = await decided();
        if (args.profile) await child.startProfile();
        const cpu0 = child.procStats();
        const startedAt = Date.now();
        const posted = await postNdjson(`${child.adminUrl}/events`, bodies);
        const postedAt = Date.now();
        if (posted.rejected) say(`embedded: ${posted.rejected} lines refused, e.g. ${posted.reasons.slice(0, 3).join('; ')}`);
        // Decided = a decision committed, or the record dead-lettered; nothing announces the last one, so poll.
        let last = { n: -1, at: Date.now() };
        let lastSay = Date.now();
        for (;;) {
          const n = (await decided()) - before;
          if (n >= posted.accepted) break;
          if (n !== last.n) last = { n, at: Date.now() };
          if (Date.now() - last.at > 60_000) throw new Error(`embedded: no decision for 60 s at ${n}/${posted.accepted}; the engine's log is ${child.logFile}`);
          if (Date.now() - lastSay > 5000) {
            lastSay = Date.now();
            say(`embedded: ${n}/${posted.accepted} decided`);
          }
          await new Promise((res) => setTimeout(res, 50));
        }
        const doneAt = Date.now();
        const cpu1 = child.procStats();
        if (args.profile) {
          const kept = join(RESULTS, `${id}-embedded.cpuprofile`);
          await child.stopProfile(kept);
          report.profileEmbedded = summarizeProfile(kept);
          say(`profile (embedded): written to ${kept}`);
        }
        const metrics = await child.metrics();
        const stopped = await child.stop();
        const seconds = (doneAt - startedAt) / 1000;
        const result: EmbeddedResult = {
          events: args.events,
          accepted: posted.accepted,
          rejected: posted.rejected,
          rejectReasons: posted.reasons,
          requests: posted.requests,
          clients: args.embeddedClients,
          linesPerRequest: args.embeddedBatch,
          seconds: r(seconds, 2),
          eventsPerSecond: r(posted.accepted / seconds, 0),
          postedEventsPerSecond: r(posted.accepted / ((postedAt - startedAt) / 1000), 0),
          decisions: Object.fromEntries(['ALLOW', 'CHALLENGE', 'BLOCK'].map((d) => [d, metrics.get(`risk_decisions_total{decision="${d}"}`) ?? 0])),
          peakRssMB: cpu1 ? r(cpu1.peakRssBytes / 2 ** 20) : null,
          cpuSeconds: cpu0 && cpu1 ? r(cpu1.cpuSeconds - cpu0.cpuSeconds, 2) : null,
          cpuMsPer1000Events: cpu0 && cpu1 ? r(((cpu1.cpuSeconds - cpu0.cpuSeconds) * 1000 * 1000) / posted.accepted, 1) : null,
          exit: stopped,
          underProfiler: args.profile,
          engineWarnings: child.logLines.length,
          engineLogSample: child.logLines.slice(0, 5),
          measured: "eventsPerSecond: from the first POST /events until risk_decisions_total + risk_dlq_records_total of GET /metrics (polled every 50 ms) reach the accepted lines; postedEventsPerSecond: until the last POST was answered (202); the bodies are prepared before the clock starts; CPU and RSS of the engine process (HTTP parsing included)",
        };
        embedded = result;
        report.embedded = result;
        say(`embedded: ${result.eventsPerSecond} events/s decided (${result.seconds} s), posted at ${result.postedEventsPerSecond} events/s, ${result.cpuMsPer1000Events} CPU-ms per 1000 events`);
      } finally {
        await child.stop(10_000);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  // ---- (g) POST /decide and explain ------------------------------------------------------------
  let g: { kafka: DecideScenarioResult; embedded: DecideScenarioResult } | null = null;
  if (want('g')) {
    const eventsG = args.decideRate * args.decideSeconds;
    // The same events per user as the backlog, as (d) does: mixed new and returning users.
    const usersG = Math.max(args.decideClients, Math.round((eventsG * args.users) / args.events));
    const HISTORY_USERS = 10;
    const HISTORY_EVENTS = 60;
    /** The load, warm-up and explain histories of one engine, users of its own (`tag`). */
    const eventsOf = (tag: string) => {
      const load = [...generateEvents(planLoad({ users: usersG, events: eventsG, fraudRatio: args.fraudRatio, seed: args.seed + 2, idPrefix: `${id}-${tag}-` }))].map((x) => x.event);
      const warmup = [...generateEvents(planLoad({ users: args.decideClients, events: args.decideClients, fraudRatio: 0, seed: args.seed + 3, idPrefix: `${id}-${tag}w-`, spread: 0 }))].map((x) => x.event);
      const histories = new Map<string, LoadEvent[]>();
      for (const { event } of generateEvents(planLoad({ users: HISTORY_USERS, events: HISTORY_USERS * HISTORY_EVENTS, fraudRatio: 0, seed: args.seed + 4, idPrefix: `${id}-${tag}h-`, spread: 0 }))) {
        histories.set(event.userId, [...(histories.get(event.userId) ?? []), event]);
      }
      for (const [u, h] of histories) if (h.length <= EXPLAIN_EVENTS_BACK + 1) histories.delete(u);
      return { events: load, warmupEvents: warmup, histories };
    };
    const common = { clients: args.decideClients, rate: args.decideRate, explainRequests: args.explainRequests, say };
    const G = topicsOf(`${id}-g`);
    await createEngineTopics(admin, G, args.partitions);
    statePrefixes.push(`${id}-g`);
    say(`(g) decide: an engine on Kafka; ${eventsG} POST /decide of ${usersG} users at ${args.decideRate}/s by ${args.decideClients} clients, then ${args.explainRequests} explains`);
    const gKafka = await decideScenario(await EngineChild.start({ ...engineNode, id, topics: G, brokers: BROKERS, groupId: `${id}-g`, statePrefix: `${id}-g`, workDir, kafkaConfig }), { ...common, ...eventsOf('g'), label: '(g) Kafka', ...(args.profileDecide ? { profileFile: join(RESULTS, `${id}-decide-kafka.cpuprofile`) } : {}) });
    const dataDir = mkdtempSync(join(os.tmpdir(), 'risk-bench-decide-'));
    let gEmbedded: DecideScenarioResult;
    try {
      say(`(g) decide: an embedded engine (DATA_DIR ${dataDir}), the same load`);
      const child = await EngineChild.start({ ...engineNode, id, topics: { ...names, inputs: [...names.inputs] }, dataDir, groupId: `${id}-ge`, statePrefix: `${id}-ge`, workDir, kafkaConfig: { ...kafkaConfig, partitions: args.partitions } });
      gEmbedded = await decideScenario(child, { ...common, ...eventsOf('ge'), label: '(g) embedded', ...(args.profileDecide ? { profileFile: join(RESULTS, `${id}-decide-embedded.cpuprofile`) } : {}) });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
    g = { kafka: gKafka, embedded: gEmbedded };
    report.g_decide = {
      offeredRate: args.decideRate,
      clients: args.decideClients,
      seconds: args.decideSeconds,
      requests: eventsG,
      users: usersG,
      explainRequests: args.explainRequests,
      kafka: gKafka,
      embedded: gEmbedded,
      definitions: {
        requestMs: 'full request time of POST /decide as its client saw it: from the call to the last byte of the answer, on a keep-alive connection already open; every answer counts (a 202 after the server\'s 2 s timeout too; transport errors count as other and have no time)',
        load: `${args.decideClients} clients with one keep-alive connection each (node:http Agent, maxSockets 1), one request at a time each; request i (loadgen generator, mixed users, production order) is due at start + i / ${args.decideRate} s and is sent by the first free client, a user's next event only once its previous one was answered; with every client busy, requests go out late (lateStarts) and the achieved rate falls below the offered one`,
        afterWarmup: 'requestMs of the requests due after the first seconds of the load (new users\' actors recover first)',
        fromDueMs: 'request time plus how late the request was sent after it was due: what a caller behind a busy client waited (open-loop view)',
        warmup: 'before the clock: one POST /decide per client (?timeoutMs=30000, users of their own): opens the connections and starts the engine\'s decisions follower (on Kafka, its consumer group joins on the first decide)',
        engineCpuMsPerRequest: "CPU of the engine's process from before the warm-up to the last answer, per measured request",
        explain: `GET /decisions/:eventId/explain?userId= of the event ${EXPLAIN_EVENTS_BACK} events before its user's last: ${HISTORY_USERS} users get ${HISTORY_EVENTS} events each by POST /decide, one at a time per user (the event types have topics of their own: posted together they could be journaled out of order), then one request at a time on one keep-alive connection, round robin over the users; requestMs as above; journalPositions: stateBefore.sequenceNumber of the explained events`,
      },
    };
    say(`(g) decide: Kafka p99 ${gKafka.decide.requestMs.p99} ms, embedded p99 ${gEmbedded.decide.requestMs.p99} ms; explain p99 ${gKafka.explain.requestMs.p99} ms (Redis), ${gEmbedded.explain.requestMs.p99} ms (embedded)`);
  }

  // ---- profile -------------------------------------------------------------------------------
  let profile: (ProfileSummary & { eventsPerSecond: number; heap?: HeapSummary }) | null = null;
  if (args.profile) {
    say(`profile: (b) again with the V8 CPU profiler${args.profileHeap ? ' and allocation sampling' : ''} on from ready to caught up`);
    const kept = join(RESULTS, `${id}.cpuprofile`);
    const { result: p } = await catchUp('(profile)', `${id}-p`, A, ends, { profileFile: kept, heapProfile: args.profileHeap });
    profile = { ...summarizeProfile(kept), eventsPerSecond: p.eventsPerSecond };
    say(`profile: ${p.eventsPerSecond} events/s under the profiler; written to ${profile.file}`);
    if (args.profileHeap) {
      const heap = summarizeHeapProfile(heapProfileFile(kept), args.events);
      profile.heap = heap;
      say(`profile: ${heap.bytesPerEvent} bytes allocated per event; most by ${heap.topSelf.slice(0, 5).map((f) => `${f.frame} (${f.bytesPerEvent} B)`).join(', ')}; written to ${heap.file}`);
    }
  }
  report.profile = profile ?? { status: 'not run (npm run bench -- --profile)' };

  // ---- ratios, targets, files ----------------------------------------------------------------
  /** x / y to 3 places, null when a side did not run. */
  const ratioOf = (x: number | null | undefined, y: number | null | undefined): number | null => (x != null && y ? r(x / y, 3) : null);
  const bRate = b?.eventsPerSecond ?? null;
  const d = latency?.d ?? null;
  const bytesPerActor = latency?.bytesPerActor ?? null;
  const ratio = ratioOf(bRate, a?.eventsPerSecond);
  const cOverB = ratioOf(cRate, bRate);
  const eOverB = ratioOf(e?.eventsPerSecond, bRate);
  const fOverB = ratioOf(fResult?.eventsPerSecond, bRate);
  const hOverB = ratioOf(h?.eventsPerSecond, bRate);
  report.ratios = {
    b_over_a: ratio,
    b_steady_over_a: ratioOf(b?.steadyEventsPerSecond, a?.eventsPerSecond),
    c_over_b: cOverB,
    c_steady_over_b_steady: ratioOf(c?.steadyEventsPerSecond as number | null | undefined, b?.steadyEventsPerSecond),
    d_offered_over_b: ratioOf(latency?.rateD, bRate),
    e_over_b: eOverB,
    e_steady_over_b_steady: ratioOf(e?.steadyEventsPerSecond, b?.steadyEventsPerSecond),
    f_over_b: fOverB,
    f_steady_over_b_steady: ratioOf(fResult?.steadyEventsPerSecond, b?.steadyEventsPerSecond),
    h_over_b: hOverB,
    h_steady_over_b_steady: ratioOf(h?.steadyEventsPerSecond, b?.steadyEventsPerSecond),
  };
  const met = (v: number | null, ok: (x: number) => boolean) => (v === null ? null : ok(v));
  report.targets = [
    { name: '(b)/(a) throughput', target: '>= 0.5', measured: ratio, met: met(ratio, (x) => x >= 0.5) },
    { name: 'p99 produce -> decision at half load (decidedAt-based)', target: '< 25 ms', measured: d?.decideLatencyMs.p99 ?? null, met: met(d?.decideLatencyMs.p99 ?? null, (x) => x < 25) },
    { name: 'p99 produce -> decision visible to a read_committed consumer', target: '(no target; for reference)', measured: d?.visibleLatencyMs.p99 ?? null, met: null },
    { name: 'tracing on / off throughput, (c)/(b)', target: '>= 0.8', measured: cOverB, met: met(cOverB, (x) => x >= 0.8) },
    { name: 'bytes per live actor with a full history (heap)', target: '<= 8192', measured: bytesPerActor, met: met(bytesPerActor, (x) => x <= 8192) },
    { name: `--workers ${args.workers} / 1 throughput, (e)/(b)`, target: `measured (goal >= 1.6 with cores to spare; this machine has ${os.cpus().length})`, measured: eOverB, met: null },
    { name: `hot user at ${Math.round(args.hotUserShare * 100)}% of events / uniform throughput, (f)/(b)`, target: '>= 0.5 (goal >= 0.9)', measured: fOverB, met: met(fOverB, (x) => x >= 0.5) },
    { name: 'shadow rules on / off throughput, (h)/(b)', target: '>= 0.8', measured: hOverB, met: met(hOverB, (x) => x >= 0.8) },
    { name: 'embedded, NDJSON to POST /events by 4 clients, decided events/s', target: '>= 20000 (goal >= 50000)', measured: embedded?.eventsPerSecond ?? null, met: met(embedded?.eventsPerSecond ?? null, (x) => x >= 20_000) },
    { name: `(g) POST /decide p99, engine on Kafka, ${args.decideClients} clients offering ${args.decideRate}/s (ms)`, target: '<= 150 (goal <= 50)', measured: g?.kafka.decide.requestMs.p99 ?? null, met: met(g?.kafka.decide.requestMs.p99 ?? null, (x) => x <= 150) },
    { name: `(g) POST /decide p99, embedded engine, ${args.decideClients} clients offering ${args.decideRate}/s (ms)`, target: '<= 20', measured: g?.embedded.decide.requestMs.p99 ?? null, met: met(g?.embedded.decide.requestMs.p99 ?? null, (x) => x <= 20) },
    { name: `(g) GET /decisions/:eventId/explain p99, ${EXPLAIN_EVENTS_BACK} events back, engine on Kafka + Redis (ms)`, target: '<= 20', measured: g?.kafka.explain.requestMs.p99 ?? null, met: met(g?.kafka.explain.requestMs.p99 ?? null, (x) => x <= 20) },
    { name: `(g) GET /decisions/:eventId/explain p99, ${EXPLAIN_EVENTS_BACK} events back, embedded engine (ms)`, target: '<= 20', measured: g?.embedded.explain.requestMs.p99 ?? null, met: met(g?.embedded.explain.requestMs.p99 ?? null, (x) => x <= 20) },
  ];
  report.scenarios = args.only;
  (report.machine as Record<string, unknown>).loadavgEnd = os.loadavg().map((x) => r(x, 2));
  report.benchSeconds = r((Date.now() - benchStarted) / 1000, 0);

  const json = JSON.stringify(report, null, 2) + '\n';
  // Only a full run is "latest": a partial one must not hide the last full set of figures.
  const file = join(RESULTS, fullRun ? `${stamp}.json` : `${stamp}-${args.only.join('-')}.json`);
  writeFileSync(file, json);
  if (fullRun) {
    writeFileSync(join(RESULTS, 'latest.json'), json);
    writeFileSync(join(RESULTS, 'latest.svg'), chartFromReport(report as unknown as BenchReport));
    say(`wrote ${file}, ${RESULTS}/latest.json, ${RESULTS}/latest.svg`);
  } else say(`wrote ${file} (a partial run: latest.json and latest.svg are left as they were)`);
  const lines = [''];
  if (a) lines.push(`(a) kafkajs baseline      ${a.eventsPerSecond} events/s`);
  if (b) {
    lines.push(`(b) full pipeline         ${b.eventsPerSecond} events/s   (b)/(a) = ${ratio}   steady ${b.steadyEventsPerSecond} events/s   peak RSS ${b.peakRssMB} MB   ${b.cpuMsPer1000Events} CPU-ms per 1000 events`);
    lines.push(`                          meanwhile Redis ${b.servicesCpuMsPer1000Events.redis ?? '-'} and the broker ${b.servicesCpuMsPer1000Events.broker ?? '-'} CPU-ms per 1000 events; ${b.transactionsPer1000Events} transactions per 1000 events`);
  }
  if (c) lines.push(`(c) tracing on            ${cRate} events/s   (c)/(b) = ${cOverB}   steady ${c.steadyEventsPerSecond as number} events/s`);
  if (latency && d) {
    const { dLow, memory, live2, rateD, warmupMs } = latency;
    lines.push(
      `(d) at ${rateD} events/s`.padEnd(26) + `decidedAt-based p50 ${d.decideLatencyMs.p50} ms  p99 ${d.decideLatencyMs.p99} ms  p99.9 ${d.decideLatencyMs.p999} ms`,
      `                          visible (read_committed) p50 ${d.visibleLatencyMs.p50} ms  p99 ${d.visibleLatencyMs.p99} ms  p99.9 ${d.visibleLatencyMs.p999} ms`,
      `                          after the first ${warmupMs / 1000} s: decidedAt-based p50 ${d.afterWarmup.decideLatencyMs.p50} ms  p99 ${d.afterWarmup.decideLatencyMs.p99} ms; visible p99 ${d.afterWarmup.visibleLatencyMs.p99} ms; engine ${d.engineCpuMsPer1000Events} CPU-ms per 1000 events`,
      `                          before the shard had the record (the broker and the fetch; risk_fetch_lag_seconds over the whole phase, bucket bounds) p50 <= ${d.engineMetrics.fetchLagSeconds.p50AtMostMs ?? '-'} ms  p99 <= ${d.engineMetrics.fetchLagSeconds.p99AtMostMs ?? '-'} ms`,
      `                          meanwhile Redis ${d.servicesCpuMsPer1000Events.redis ?? '-'} and the broker (the bench's producer and reader included) ${d.servicesCpuMsPer1000Events.broker ?? '-'} CPU-ms per 1000 events; ${d.transactionsPer1000Events} transactions per 1000 events`,
      `(d) at ${args.lowRate} events/s`.padEnd(26) + `decidedAt-based p50 ${dLow.decideLatencyMs.p50} ms  p99 ${dLow.decideLatencyMs.p99} ms  p99.9 ${dLow.decideLatencyMs.p999} ms (low load, for reference)`,
      `memory                    ${bytesPerActor} B heap (${memory.fullHistory.bytesPerLiveActorRss} B RSS) per live actor with a full history over ${live2} actors; ${memory.afterLatencyPhase.bytesPerLiveActorHeap} B at ~${memory.afterLatencyPhase.eventsPerActor} events; peak RSS (d) ${d.peakRssMB} MB`,
    );
  }
  if (e) lines.push(`(e) --workers ${e.workers}`.padEnd(26) + `${e.eventsPerSecond} events/s   (e)/(b) = ${eOverB}   steady ${e.steadyEventsPerSecond} events/s   peak RSS ${e.peakRssMB} MB (${e.processes} processes)   ${e.cpuMsPer1000Events} CPU-ms per 1000 events`);
  if (fResult) lines.push(`(f) hot user ${Math.round(args.hotUserShare * 100)}%`.padEnd(26) + `${fResult.eventsPerSecond} events/s   (f)/(b) = ${fOverB}   steady ${fResult.steadyEventsPerSecond} events/s   ${fResult.cpuMsPer1000Events as number} CPU-ms per 1000 events`);
  if (h) lines.push(`(h) shadow rules on`.padEnd(26) + `${h.eventsPerSecond} events/s   (h)/(b) = ${hOverB}   steady ${h.steadyEventsPerSecond} events/s   ${h.cpuMsPer1000Events} CPU-ms per 1000 events`);
  if (embedded) lines.push(`embedded (POST /events)`.padEnd(26) + `${embedded.eventsPerSecond} events/s decided, ${args.embeddedClients} clients x ${args.embeddedBatch} lines   posted at ${embedded.postedEventsPerSecond} events/s   peak RSS ${embedded.peakRssMB} MB   ${embedded.cpuMsPer1000Events} CPU-ms per 1000 events`);
  if (g) {
    for (const [label, x] of [['Kafka', g.kafka], ['embedded', g.embedded]] as const) {
      const s = x.decide.status;
      lines.push(
        `(g) decide, ${label}`.padEnd(26) + `p50 ${x.decide.requestMs.p50} ms  p99 ${x.decide.requestMs.p99} ms  p99.9 ${x.decide.requestMs.p999} ms at ${x.decide.achievedRate}/s by ${x.decide.clients} clients   200: ${s['200']}  202: ${s['202']}  other: ${s.other}   ${x.decide.engineCpuMsPerRequest} CPU-ms per request`,
        `(g) explain, ${label}`.padEnd(26) + `p50 ${x.explain.requestMs.p50} ms  p99 ${x.explain.requestMs.p99} ms over ${x.explain.requests} requests, ${EXPLAIN_EVENTS_BACK} events back   ${JSON.stringify(x.explain.status)}`,
      );
    }
  }
  lines.push('');
  process.stdout.write(lines.join('\n'));
} finally {
  if (!args.keep) {
    try {
      const deleted = await deleteTopics(admin, id);
      const redis = createClient({ url: REDIS_URL });
      await redis.connect();
      let keys = 0;
      for (const prefix of statePrefixes) {
        for await (const batch of redis.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) {
          const list = (Array.isArray(batch) ? batch : [batch]) as string[];
          if (list.length) keys += await redis.unlink(list);
        }
      }
      await redis.quit();
      say(`cleaned up ${deleted.length} topics and ${keys} Redis keys`);
    } catch (err) {
      say(`cleanup failed: ${(err as Error).message}`);
    }
  }
  await admin.disconnect();
  await services.close();
}
