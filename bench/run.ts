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
 *   profile  (--profile) (b) once more with the V8 CPU profiler (the same as --cpu-prof, but only
 *            from ready to caught up, without start-up); the top frames go into the results
 *
 * Writes bench/results/<date>.json, bench/results/latest.json and bench/results/latest.svg.
 * Topics and Redis keys of the run are deleted at the end (--keep keeps them).
 *
 *   npm run bench [-- --events 100000 --users 5000 --partitions 12 --latency-seconds 30 --profile --keep]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { createClient } from 'redis';
import { loadSettings } from '../src/config/settings.ts';
import { createLogger } from '../src/log.ts';
import { createKafka } from '../src/transport/kafka/kafkaClient.ts';
import { compressionArg, integerArg } from '../src/loadgen/cliOptions.ts';
import { generateEvents, planLoad, type LoadEvent } from '../src/loadgen/generator.ts';
import { produce } from '../src/loadgen/produce.ts';
import { KafkaEventSink, type Compression } from '../src/loadgen/sinks.ts';
import { percentile } from '../src/loadgen/stats.ts';
import { chartFromReport, type BenchReport } from './lib/chart.ts';
import { buildEngine, EngineChild } from './lib/engineChild.ts';
import { baselineConsume, createEngineTopics, deleteTopics, endOffsets, followDecisions, totalOf, waitCaughtUp, type DecisionSeen, type Ends } from './lib/kafka.ts';
import { startOtlpSink } from './lib/otlpSink.ts';
import { summarizeProfile, type ProfileSummary } from './lib/profile.ts';

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
  profile: boolean;
  profileTracing: boolean;
  keep: boolean;
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
  .option('--profile', 'also run (b) once with the V8 CPU profiler (as --cpu-prof) and report the top frames', false)
  .option('--profile-tracing', 'also run (c) once with the V8 CPU profiler, to see what tracing costs', false)
  .option('--keep', 'keep the topics and Redis keys of the run', false)
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

/** Over config/default.json for every engine of the run; the baseline uses the same fetch size. */
const kafkaConfig = { maxBytesPerPartition: args.maxBytesPerPartition };

mkdirSync(RESULTS, { recursive: true });
const workDir = RESULTS;
// kafkajs logs retriable errors it then retries (fresh topics): only what escapes shows, as an exception.
const kafka = createKafka(BROKERS, `risk-bench-${process.pid}`, createLogger('fatal', { component: 'bench' }));
const admin = kafka.admin();
await admin.connect();
buildEngine();
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

/** Catch-up of a backlog by a fresh engine child: events/s from ready (group joined) to all offsets committed. */
async function catchUp(label: string, groupId: string, topics: ReturnType<typeof topicsOf>, ends: Ends, profileFile?: string, env?: Record<string, string>) {
  statePrefixes.push(groupId);
  const spawnedAt = Date.now();
  const child = await EngineChild.start({ id, topics, brokers: BROKERS, groupId, statePrefix: groupId, workDir, kafkaConfig, env });
  let exited = false;
  void child.exited.then(() => (exited = true));
  const readyAt = await child.ready();
  if (profileFile) await child.startProfile();
  const cpu0 = child.procStats();
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
  if (profileFile) await child.stopProfile(profileFile);
  const metrics = await child.metrics();
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
      startupMs: readyAt - spawnedAt,
      decisions,
      decisionsTotal: Object.values(decisions).reduce((a, b) => a + b, 0),
      deadLetters: sum('risk_dlq_records_total'),
      batchRetries: sum('risk_batch_retries_total'),
      liveActorsAtEnd: metrics.get('risk_live_actors') ?? null,
      peakRssMB: cpu1 ? r(cpu1.peakRssBytes / 2 ** 20) : null,
      cpuSeconds: cpu0 && cpu1 ? r(cpu1.cpuSeconds - cpu0.cpuSeconds, 2) : null,
      cpuMsPer1000Events: cpu0 && cpu1 ? r(((cpu1.cpuSeconds - cpu0.cpuSeconds) * 1000 * 1000) / total, 1) : null,
      exit: stopped,
      engineWarnings: child.logLines.length,
      engineLogSample: child.logLines.slice(0, 5),
      measured: 'eventsPerSecond: from GET /readyz = 200 (group joined) until the group committed offsets reach the end of every input partition (polled every 100 ms); steadyEventsPerSecond: between 10% and 90% committed',
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
    engineConfigOverrides: { kafka: kafkaConfig },
  },
};

try {
  // ---- prefill -------------------------------------------------------------------------------
  const A = topicsOf(`${id}-a`);
  const D = topicsOf(`${id}-d`);
  await createEngineTopics(admin, A, args.partitions);
  await createEngineTopics(admin, D, args.partitions);
  say(`prefill: ${args.events} events of ${args.users} users into ${A.inputs.join(', ')} (${args.partitions} partitions each)`);
  const sinkA = await KafkaEventSink.open({ kafka, inputs: A.inputs, other: null, compression: args.compression, target: 'kafka' });
  const planA = planLoad({ users: args.users, events: args.events, fraudRatio: args.fraudRatio, seed: args.seed, idPrefix: `${id}-a-` });
  const pre = await produce(generateEvents(planA), sinkA, { rate: 0, batchSize: 2000 });
  await sinkA.close();
  const ends = await endOffsets(admin, A.inputs);
  if (totalOf(ends) !== args.events) throw new Error(`prefill: the topics hold ${totalOf(ends)} records, not ${args.events}`);
  report.prefill = { events: pre.sent, seconds: r(pre.seconds, 2), eventsPerSecond: r(pre.eventsPerSecond, 0), producer: 'kafkajs idempotent, acks=all, batches of 2000, one in flight' };
  say(`prefill: ${Math.round(pre.eventsPerSecond)} events/s`);

  // ---- (a) baseline --------------------------------------------------------------------------
  const concurrency = args.partitions * A.inputs.length;
  const base = await baselineConsume(kafka, `${id}-a-baseline`, ends, { maxBytesPerPartition: args.maxBytesPerPartition, concurrency }, 300_000);
  const aSeconds = (base.doneAt - base.joinedAt) / 1000;
  const a = {
    events: base.messages,
    seconds: r(aSeconds, 2),
    eventsPerSecond: r(base.messages / aSeconds, 0),
    megabytesPerSecond: r(base.bytes / 2 ** 20 / aSeconds, 2),
    joinMs: base.joinedAt - base.runAt,
    measured: 'from GROUP_JOIN until every input partition was read to its end (eachBatch does nothing; no commits)',
    consumer: { readUncommitted: false, maxBytesPerPartition: args.maxBytesPerPartition, partitionsConsumedConcurrently: concurrency },
  };
  report.a_baseline = a;
  say(`(a) baseline: ${a.eventsPerSecond} events/s (${a.seconds} s)`);

  // ---- (b) full pipeline ---------------------------------------------------------------------
  say('(b) pipeline: starting the engine on the backlog');
  const { result: b } = await catchUp('(b)', `${id}-b`, A, ends);
  report.b_pipeline = b;
  say(`(b) pipeline: ${b.eventsPerSecond} events/s (${b.seconds} s), peak RSS ${b.peakRssMB} MB, ${b.decisionsTotal} decisions`);

  // ---- (c) tracing on ------------------------------------------------------------------------
  const otlp = await startOtlpSink();
  const tracingEnv = { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_SERVICE_NAME: 'risk-engine-bench' };
  say(`(c) tracing: the engine again on the backlog, exporting spans over OTLP/HTTP to ${otlp.endpoint} (a receiver that drops them)`);
  let c: Record<string, unknown>;
  try {
    const { result } = await catchUp('(c)', `${id}-c`, A, ends, undefined, tracingEnv);
    const exported = otlp.stats();
    c = { ...result, tracing: { env: { ...tracingEnv, OTEL_EXPORTER_OTLP_ENDPOINT: '<local receiver>' }, exportRequests: exported.requests, exportedBytes: exported.bytes, note: 'SDK defaults otherwise (http/protobuf, batch span processor: queue 2048, batches of 512 every 5 s); spans that do not fit the queue are dropped by the SDK' } };
    say(`(c) tracing: ${result.eventsPerSecond} events/s (${result.seconds} s), ${exported.requests} OTLP exports, ${Math.round(exported.bytes / 1024)} KiB`);
    if (args.profileTracing) {
      const kept = join(RESULTS, `${id}-tracing.cpuprofile`);
      const { result: pc } = await catchUp('(profile c)', `${id}-pc`, A, ends, kept, tracingEnv);
      report.profileTracing = { ...summarizeProfile(kept), eventsPerSecond: pc.eventsPerSecond };
      say(`profile (c): ${pc.eventsPerSecond} events/s under the profiler; written to ${kept}`);
    }
  } finally {
    await otlp.close();
  }
  report.c_tracing = c;
  const cRate = c.eventsPerSecond as number;

  // ---- (d) latency at half load, and memory per live actor ----------------------------------
  const rateD = args.latencyRate ?? Math.max(1, Math.round(b.eventsPerSecond / 2));
  const eventsD = Math.min(200_000, Math.max(2000, Math.round(rateD * args.latencySeconds)));
  // The same events per user as the backlog during the latency window; afterwards the same
  // users get the rest of their ~56 events as fast as possible, so that every live actor ends
  // with a full history (50 events, 50 decisions) for the memory figure.
  const usersD = Math.max(20, Math.round((eventsD * args.users) / args.events));
  const fillD = Math.max(0, usersD * 56 - eventsD);
  statePrefixes.push(`${id}-d`);
  say(`(d) latency: ${eventsD} events of ${usersD} users offered at ${rateD} events/s (half of (b)), then ${fillD} more as fast as possible`);
  const child = await EngineChild.start({ id, topics: D, brokers: BROKERS, groupId: `${id}-d`, statePrefix: `${id}-d`, workDir, kafkaConfig });
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
  halfStartedAt = Date.now();
  const offered = await produce(take(loadD, eventsD), sinkD, { rate: rateD, batchSize: 500, stamp: stampAs('half') });
  await decisionsRead(eventsD, 300_000);
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
    return { count, meanMs: count ? r(((metrics.get(`${name}_sum`) ?? 0) / count) * 1000, 1) : null, buckets };
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
    afterWarmup: { warmupMs: WARMUP_MS, events: decideSteady.length, decideLatencyMs: latencyStats(decideSteady), visibleLatencyMs: latencyStats(visibleSteady) },
    definitions: {
      decideLatencyMs: "decidedAt (engine clock, when the actor decided, before the shard's Kafka transaction commits) - the time the event was handed to the producer (same machine, same clock)",
      visibleLatencyMs: 'the time a read_committed consumer in the bench received the decision - the time the event was handed to the producer: end to end, commit included',
    },
    peakRssMB: statsD ? r(statsD.peakRssBytes / 2 ** 20) : null,
    engineMetrics: {
      note: "the engine's own histograms at the end of the latency phase: time to judge and commit one batch (chunk), and decidedAt - Kafka record timestamp",
      batchSeconds: histogram(metricsLatency, 'risk_batch_seconds'),
      decisionLatencySeconds: histogram(metricsLatency, 'risk_decision_latency_seconds'),
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

  // ---- profile -------------------------------------------------------------------------------
  let profile: (ProfileSummary & { eventsPerSecond: number }) | null = null;
  if (args.profile) {
    say('profile: (b) again with the V8 CPU profiler on from ready to caught up');
    const kept = join(RESULTS, `${id}.cpuprofile`);
    const { result: p } = await catchUp('(profile)', `${id}-p`, A, ends, kept);
    profile = { ...summarizeProfile(kept), eventsPerSecond: p.eventsPerSecond };
    say(`profile: ${p.eventsPerSecond} events/s under the profiler; written to ${profile.file}`);
  }
  report.profile = profile ?? { status: 'not run (npm run bench -- --profile)' };

  // ---- ratios, targets, files ----------------------------------------------------------------
  const ratio = b.eventsPerSecond / a.eventsPerSecond;
  report.ratios = {
    b_over_a: r(ratio, 3),
    b_steady_over_a: b.steadyEventsPerSecond === null ? null : r(b.steadyEventsPerSecond / a.eventsPerSecond, 3),
    c_over_b: r(cRate / b.eventsPerSecond, 3),
    c_steady_over_b_steady: c.steadyEventsPerSecond && b.steadyEventsPerSecond ? r((c.steadyEventsPerSecond as number) / b.steadyEventsPerSecond, 3) : null,
    d_offered_over_b: r(rateD / b.eventsPerSecond, 3),
  };
  report.targets = [
    { name: '(b)/(a) throughput', target: '>= 0.5', measured: r(ratio, 3), met: ratio >= 0.5 },
    { name: 'p99 produce -> decision at half load (decidedAt-based)', target: '< 25 ms', measured: d.decideLatencyMs.p99, met: d.decideLatencyMs.p99 < 25 },
    { name: 'p99 produce -> decision visible to a read_committed consumer', target: '(no target; for reference)', measured: d.visibleLatencyMs.p99, met: null },
    { name: 'tracing on / off throughput, (c)/(b)', target: '>= 0.8', measured: r(cRate / b.eventsPerSecond, 3), met: cRate / b.eventsPerSecond >= 0.8 },
    { name: 'bytes per live actor with a full history (heap)', target: '<= 8192', measured: bytesPerActor, met: bytesPerActor !== null && bytesPerActor <= 8192 },
  ];
  (report.machine as Record<string, unknown>).loadavgEnd = os.loadavg().map((x) => r(x, 2));
  report.benchSeconds = r((Date.now() - benchStarted) / 1000, 0);

  const json = JSON.stringify(report, null, 2) + '\n';
  const file = join(RESULTS, `${stamp}.json`);
  writeFileSync(file, json);
  writeFileSync(join(RESULTS, 'latest.json'), json);
  const svg = chartFromReport(report as unknown as BenchReport);
  writeFileSync(join(RESULTS, 'latest.svg'), svg);
  say(`wrote ${file}, ${RESULTS}/latest.json, ${RESULTS}/latest.svg`);
  process.stdout.write(
    [
      '',
      `(a) kafkajs baseline      ${a.eventsPerSecond} events/s`,
      `(b) full pipeline         ${b.eventsPerSecond} events/s   (b)/(a) = ${r(ratio, 3)}   steady ${b.steadyEventsPerSecond} events/s   peak RSS ${b.peakRssMB} MB   ${b.cpuMsPer1000Events} CPU-ms per 1000 events`,
      `(c) tracing on            ${cRate} events/s   (c)/(b) = ${r(cRate / b.eventsPerSecond, 3)}   steady ${c.steadyEventsPerSecond as number} events/s`,
      `(d) at ${rateD} events/s`.padEnd(26) + `decidedAt-based p50 ${d.decideLatencyMs.p50} ms  p99 ${d.decideLatencyMs.p99} ms  p99.9 ${d.decideLatencyMs.p999} ms`,
      `                          visible (read_committed) p50 ${d.visibleLatencyMs.p50} ms  p99 ${d.visibleLatencyMs.p99} ms  p99.9 ${d.visibleLatencyMs.p999} ms`,
      `                          after the first ${WARMUP_MS / 1000} s: decidedAt-based p50 ${d.afterWarmup.decideLatencyMs.p50} ms  p99 ${d.afterWarmup.decideLatencyMs.p99} ms; visible p99 ${d.afterWarmup.visibleLatencyMs.p99} ms`,
      `(d) at ${args.lowRate} events/s`.padEnd(26) + `decidedAt-based p50 ${dLow.decideLatencyMs.p50} ms  p99 ${dLow.decideLatencyMs.p99} ms  p99.9 ${dLow.decideLatencyMs.p999} ms (low load, for reference)`,
      `memory                    ${bytesPerActor} B heap (${memory.fullHistory.bytesPerLiveActorRss} B RSS) per live actor with a full history over ${live2} actors; ${memory.afterLatencyPhase.bytesPerLiveActorHeap} B at ~${memory.afterLatencyPhase.eventsPerActor} events; peak RSS (d) ${d.peakRssMB} MB`,
      '',
    ].join('\n'),
  );
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
}
