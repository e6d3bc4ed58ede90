/**
 * `risk-engine demo`: the engine end to end in one command, with nothing to install. It runs the
 * engine embedded in this process (temporary DATA_DIR), sends it a generated workload through the
 * embedded ingest path (the same one `POST /events` uses), follows the decisions topic of the
 * embedded log until every event is decided, and prints throughput, decisions, alerts, latency
 * and detection quality against the generator's ground truth.
 */
import { setMaxListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { loadSettings, type Env, type Settings } from '../../config/settings.ts';
import { ConfigError } from '../../errors.ts';
import { createLogger, type Logger } from '../../log.ts';
import { Engine } from '../../app/Engine.ts';
import { RulesHolder } from '../../app/rules.ts';
import { systemSupervisionDeps } from '../../app/supervisionDeps.ts';
import { openEmbeddedParts } from '../../app/wiring.ts';
import type { EmbeddedLog } from '../../transport/embedded/index.ts';
import { formatRate, integerArg, numberArg } from '../../loadgen/cliOptions.ts';

const rateArg = (v: string): number | 'auto' => (v === 'auto' ? 'auto' : numberArg(0, 10_000_000)(v));
import { generateEvents, planLoad, type LoadEvent, type LoadPlan } from '../../loadgen/generator.ts';
import { produce, type EventSink, type SendResult } from '../../loadgen/produce.ts';
import { topicForType } from '../../loadgen/sinks.ts';
import { TruthBuilder, type GroundTruth } from '../../loadgen/truth.ts';
import { percentile, scoreDetection, type DetectionScore } from '../../loadgen/stats.ts';

export interface DemoOptions {
  users: number;
  events: number;
  fraudRatio: number;
  seed: number;
  /** Events per second, 0 = as fast as possible, or 'auto' (see phasesOf). */
  rate: number | 'auto';
  batchSize: number;
  dataDir?: string;
  logLevel: string;
  /** Give up when no decision arrives for this long. */
  stallMs: number;
  /** The live progress line on stderr; default true. */
  progress?: boolean;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the engine embedded on a generated workload; report throughput, latency and detection quality')
    .option('--users <n>', 'users', integerArg(1, 10_000_000), 2000)
    .option('--events <n>', 'events', integerArg(1, 100_000_000), 20_000)
    .option('--fraud-ratio <r>', 'share of users with a fraud pattern (0..1)', numberArg(0, 1), 0.02)
    .option('--seed <s>', 'seed of the generator', integerArg(0, 0xffffffff), 1)
    .option('--rate <n>', 'events per second offered; 0 = as fast as the engine takes them; auto = 3/4 of the events as fast as possible, the rest at half that rate (for latency)', rateArg, 'auto' as const)
    .option('--batch-size <n>', 'events per append to the log', integerArg(1, 100_000), 500)
    .option('--data-dir <dir>', 'keep the engine state in this directory (default: a temporary one, removed afterwards)')
    .option('--log-level <level>', "the engine's log level", 'warn')
    .action(async (opts: Omit<DemoOptions, 'stallMs'>) => {
      process.exitCode = await runDemo({ ...opts, stallMs: 60_000 });
    });
}

/** One decision as the demo keeps it. */
interface Seen {
  decision: string;
  /** decidedAt - when it was appended; null for events outside the latency phase. */
  latencyMs: number | null;
}

export interface PhaseResult {
  events: number;
  offeredRate: number;
  seconds: number;
  eventsPerSecond: number;
  latency: boolean;
}

export interface DemoResult {
  events: number;
  phases: PhaseResult[];
  decisions: Record<string, number>;
  alerts: number;
  latencyMs: { events: number; p50: number; p99: number; max: number };
  detection: DetectionScore;
  truth: GroundTruth;
}

export async function runDemo(opts: DemoOptions, env: Env = process.env, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const fail = (message: string, code: number) => {
    process.stderr.write(`risk-engine demo: ${message}\n`);
    return code;
  };
  let plan: LoadPlan;
  let settings: Settings;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'risk-engine-demo-')));
  try {
    plan = planLoad({ users: opts.users, events: opts.events, fraudRatio: opts.fraudRatio, seed: opts.seed, startTime: undefined });
    // Embedded whatever the environment says: no broker, the state in our directory.
    const { KAFKA_BROKERS: _ignored, ...rest } = env;
    settings = loadSettings({ ...rest, DATA_DIR: dataDir, LOG_LEVEL: opts.logLevel });
    settings.kafka.brokers = [];
  } catch (err) {
    if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    if (err instanceof ConfigError || err instanceof RangeError) return fail(err.message, 2);
    throw err;
  }
  const log = createLogger(settings.logLevel, { instanceId: settings.instanceId });
  out.write(`risk-engine demo: ${opts.events} events of ${opts.users} users (fraud ratio ${opts.fraudRatio}, seed ${opts.seed}), engine embedded, state in ${dataDir}\n`);
  try {
    const result = await demo(plan, settings, opts, log);
    out.write(summary(result));
    return 0;
  } catch (err) {
    return fail((err as Error).message, 1);
  } finally {
    log.flush();
    if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}

/** A writable that drops everything: the demo counts alerts instead of printing one line each. */
const discard = () => new Writable({ write: (_chunk, _encoding, done) => done() });


/** A stretch of the load sent at one rate. */
interface Phase {
  events: number;
  /** Events per second; 0 = as fast as the engine takes them; 'half' = half the previous phase's throughput. */
  rate: number | 'half';
  /** Whether its events count for the latency figures. */
  latency: boolean;
}

/**
 * `auto`: the first three quarters of the events as fast as possible (throughput), the rest at
 * half that throughput (latency under load, not behind a backlog). A number: everything at it.
 */
export function phasesOf(events: number, rate: DemoOptions['rate']): Phase[] {
  if (rate !== 'auto') return [{ events, rate, latency: true }];
  const tail = Math.floor(events / 4);
  if (tail === 0) return [{ events, rate: 0, latency: true }];
  return [
    { events: events - tail, rate: 0, latency: false },
    { events: tail, rate: 'half', latency: true },
  ];
}

async function demo(plan: LoadPlan, settings: Settings, opts: DemoOptions, log: Logger): Promise<DemoResult> {
  const rules = RulesHolder.fromFile(settings.rulesFile);
  const { parts, transport } = openEmbeddedParts(settings, log, rules, { alertsOut: discard() });
  const engine = new Engine(settings, parts, rules.current, (metrics) => systemSupervisionDeps(log, metrics), log);
  const { topics } = settings.kafka;

  /** eventId -> when it was appended and whether its latency is measured. */
  const sent = new Map<string, { at: number; measured: boolean }>();
  const seen = new Map<string, Seen>();
  let lastDecisionAt = Date.now();
  let waiter: { target: number; resolve: () => void } | null = null;
  let alerts = 0;
  const unsubscribe = transport.alerts.subscribe('risk.alerts.>', () => void alerts++);
  const reading = new AbortController();
  const decided = followDecisions(transport.log, topics.decisions, parts.partitions, reading.signal, (d) => {
    const s = sent.get(d.eventId);
    if (s === undefined || seen.has(d.eventId)) return;
    seen.set(d.eventId, { decision: d.decision, latencyMs: s.measured ? d.decidedAt - s.at : null });
    lastDecisionAt = Date.now();
    if (waiter && seen.size >= waiter.target) {
      waiter.resolve();
      waiter = null;
    }
  });
  /** Resolves once `target` events are decided; rejects when decisions stop coming for stallMs. */
  const untilDecided = (target: number) =>
    seen.size >= target
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          const watchdog = setInterval(() => {
            if (Date.now() - lastDecisionAt <= opts.stallMs) return;
            clearInterval(watchdog);
            waiter = null;
            reject(new Error(`no decision for ${opts.stallMs / 1000} s; ${seen.size} of ${target} events decided`));
          }, 1000);
          waiter = {
            target,
            resolve: () => {
              clearInterval(watchdog);
              resolve();
            },
          };
        });

  const truth = new TruthBuilder(plan.options);
  const sink: EventSink = {
    target: 'embedded log',
    send: async (events: readonly LoadEvent[]): Promise<SendResult> => {
      const records = events.map((e) => {
        const topic = topicForType(topics.inputs, topics.other, e.eventType);
        if (!topic) throw new Error(`no input topic for ${e.eventType}`);
        return { topic, key: e.userId, value: JSON.stringify(e) };
      });
      await transport.ingest.append(records);
      return { accepted: events.length, rejected: 0 };
    },
    close: async () => {},
  };

  const progress = new Progress(opts.events, opts.progress ?? true);
  const ticker = setInterval(() => progress.update(truth.events, seen.size, alerts), 200);
  const load = generateEvents(plan);
  const phases: PhaseResult[] = [];
  try {
    await engine.start();
    for (const phase of phasesOf(plan.options.events, opts.rate)) {
      const previous = phases.at(-1);
      const rate = phase.rate === 'half' ? Math.max(1, (previous?.eventsPerSecond ?? 0) / 2) : phase.rate;
      const from = seen.size;
      const started = Date.now();
      await produce(take(load, phase.events), sink, {
        rate,
        batchSize: opts.batchSize,
        onSent: (batch, at) => {
          for (const g of batch) {
            sent.set(g.event.eventId, { at, measured: phase.latency });
            truth.add(g);
          }
        },
      });
      await untilDecided(truth.events);
      const seconds = Math.max(0.001, (lastDecisionAt - started) / 1000);
      phases.push({ events: seen.size - from, offeredRate: rate, seconds, eventsPerSecond: (seen.size - from) / seconds, latency: phase.latency });
    }
  } finally {
    clearInterval(ticker);
    progress.update(truth.events, seen.size, alerts);
    progress.stop();
    unsubscribe();
    reading.abort();
    await decided;
    await engine.stop();
  }
  const built = truth.build(true);
  const decisions: Record<string, number> = { ALLOW: 0, CHALLENGE: 0, BLOCK: 0 };
  const latencies: number[] = [];
  const flagged = new Set<string>();
  for (const [eventId, s] of seen) {
    decisions[s.decision] = (decisions[s.decision] ?? 0) + 1;
    if (s.latencyMs !== null) latencies.push(s.latencyMs);
    if (s.decision === 'CHALLENGE' || s.decision === 'BLOCK') flagged.add(eventId);
  }
  const sorted = Float64Array.from(latencies).sort();
  return {
    events: seen.size,
    phases,
    decisions,
    alerts,
    latencyMs: { events: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? Number.NaN },
    detection: scoreDetection(built, flagged),
    truth: built,
  };
}

/** The next `n` items of an iterator (without closing it, so that the next phase goes on from there). */
function* take<T>(it: Iterator<T>, n: number): Generator<T> {
  for (let i = 0; i < n; i++) {
    const next = it.next();
    if (next.done) return;
    yield next.value;
  }
}

interface DecisionRecord {
  eventId: string;
  decision: string;
  decidedAt: number;
}

/** Reads every partition of the decisions topic as records are appended, until aborted. */
async function followDecisions(log: EmbeddedLog, topic: string, partitions: number, signal: AbortSignal, onDecision: (d: DecisionRecord) => void): Promise<void> {
  // One waiting reader per partition, each listening to the signal.
  setMaxListeners(partitions + 1, signal);
  await Promise.all(
    Array.from({ length: partitions }, async (_, partition) => {
      let offset = '0';
      while (!signal.aborted) {
        const records = log.read(topic, partition, offset, 1000);
        const last = records.at(-1);
        if (!last) {
          await log.waitForAppend(topic, partition, offset, signal);
          continue;
        }
        for (const r of records) if (r.value) onDecision(JSON.parse(r.value.toString('utf8')) as DecisionRecord);
        offset = String(Number(last.offset) + 1);
      }
    }),
  );
}

/** The live line: a cli-progress bar on a terminal, a plain line every few seconds otherwise. */
class Progress {
  private readonly bar: cliProgress.SingleBar | null;
  private readonly started = Date.now();
  private lastLine = 0;

  constructor(
    private readonly total: number,
    private readonly enabled: boolean,
  ) {
    this.bar = enabled && process.stderr.isTTY
      ? new cliProgress.SingleBar(
          { stream: process.stderr, format: 'decided [{bar}] {value}/{total} | sent {sent} | alerts {alerts} | {speed} events/s', hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : null;
    this.bar?.start(total, 0, { sent: 0, alerts: 0, speed: '0' });
  }

  update(sent: number, decided: number, alerts: number): void {
    const speed = formatRate(decided / Math.max(0.001, (Date.now() - this.started) / 1000));
    if (this.bar) return this.bar.update(decided, { sent, alerts, speed });
    if (!this.enabled) return;
    if (Date.now() - this.lastLine < 2000 && decided < this.total) return;
    this.lastLine = Date.now();
    process.stderr.write(`decided ${decided}/${this.total} | sent ${sent} | alerts ${alerts} | ${speed} events/s\n`);
  }

  stop(): void {
    this.bar?.stop();
  }
}

const ms = (x: number) => (Number.isNaN(x) ? 'n/a' : x >= 100 ? `${Math.round(x)} ms` : `${x.toFixed(1)} ms`);
const share = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(3));

function summary(r: DemoResult): string {
  const d = r.detection;
  const patterns = Object.entries(d.byPattern)
    .map(([p, s]) => `${p} ${s.detected}/${s.events}`)
    .join(', ');
  const how = (p: PhaseResult) => (p.offeredRate === 0 ? 'offered as fast as possible' : `offered at ${formatRate(p.offeredRate)} events/s`);
  const measured = r.phases.find((p) => p.latency);
  const lines = [
    '',
    ...r.phases.map(
      (p, i) => `${i === 0 ? 'throughput  ' : '            '} ${formatRate(p.eventsPerSecond)} events/s (${p.events} events ${how(p)}, all decided in ${p.seconds.toFixed(2)} s)`,
    ),
    `decisions    ${Object.entries(r.decisions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `alerts       ${r.alerts} (BLOCK and CHALLENGE)`,
    `latency      p50 ${ms(r.latencyMs.p50)}, p99 ${ms(r.latencyMs.p99)}, max ${ms(r.latencyMs.max)} over ${r.latencyMs.events} events ${measured ? how(measured) : ''}`,
    `             (decidedAt - when the event was appended to the log${measured?.offeredRate === 0 ? '; includes waiting behind the backlog' : ''})`,
    `detection    precision ${share(d.precision)} (${d.truePositives} of ${d.flagged} flagged events belong to a fraud pattern)`,
    `             recall ${share(d.recall)} (${d.truePositives} of ${d.fraudEvents} fraud events flagged CHALLENGE or BLOCK)`,
    `             by pattern (flagged/events): ${patterns}`,
    `             fraud users with at least one flagged event: ${d.usersDetected} of ${d.fraudUsers}`,
    '',
  ];
  return lines.join('\n');
}
