/**
 * `risk-engine produce`: a deterministic synthetic workload (CONTRACT §6) to Kafka, to a running
 * engine's `POST /events`, or to an NDJSON file; `--truth FILE` writes what the engine should end
 * up with. Exit codes: 0 done, 1 sending failed or events were rejected, 2 bad usage or setting,
 * 130 interrupted (the truth then covers what was sent).
 */
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { loadSettings, type Env, type Settings } from '../../config/settings.ts';
import { ConfigError } from '../../errors.ts';
import { createLogger } from '../../log.ts';
import { createKafka } from '../../transport/kafka/kafkaClient.ts';
import { ensureTopics } from '../../transport/kafka/topics.ts';
import { compressionArg, formatRate, integerArg, numberArg, timeArg } from '../../loadgen/cliOptions.ts';
import { generateEvents, planLoad, type LoadPlan } from '../../loadgen/generator.ts';
import { produce, type EventSink } from '../../loadgen/produce.ts';
import { HttpEventSink, KafkaEventSink, NdjsonEventSink, type Compression } from '../../loadgen/sinks.ts';
import { TruthBuilder } from '../../loadgen/truth.ts';
import { USAGE_EXIT_CODE, UsageError } from '../usage.ts';

export interface ProduceCliOptions {
  users: number;
  events: number;
  rate: number;
  fraudRatio: number;
  seed: number;
  truth?: string;
  brokers?: string;
  url?: string;
  token?: string;
  out?: string;
  topicPrefix?: string;
  compression: Compression;
  batchSize: number;
  start?: number;
  days: number;
  idPrefix?: string;
}

export function register(program: Command): void {
  program
    .command('produce')
    .description('send a synthetic workload (ordinary users and fraud patterns) to Kafka or to a running engine')
    .option('--users <n>', 'users', integerArg(1, 100_000_000), 1000)
    .option('--events <n>', 'events in total', integerArg(0), 10_000)
    .option('--rate <n>', 'events per second; 0 = as fast as the target takes them', numberArg(0, 10_000_000), 0)
    .option('--fraud-ratio <r>', 'share of users with a fraud pattern (0..1)', numberArg(0, 1), 0.02)
    .option('--seed <s>', 'seed: the same seed gives the same events', integerArg(0, 0xffffffff), 1)
    .option('--truth <file>', 'write the ground truth (per-user counts and totals, fraud events) as JSON')
    .option('--brokers <list>', 'Kafka brokers host:port[,host:port] (default: KAFKA_BROKERS)')
    .option('--url <url>', "send to a running engine's POST /events instead, e.g. http://127.0.0.1:8080")
    .option('--token <token>', 'bearer token for --url (default: ADMIN_TOKEN)')
    .option('--out <file>', 'write the events as NDJSON to a file instead ("-" = stdout)')
    .option('--topic-prefix <prefix>', 'Kafka input topics are named <prefix>.<type>-events')
    .option('--compression <codec>', 'Kafka compression: none, gzip, snappy, lz4', compressionArg, 'none' as Compression)
    .option('--batch-size <n>', 'events per Kafka batch or HTTP request', integerArg(1, 100_000), 500)
    .option('--start <time>', 'event time of the first activity: now, epoch ms or ISO date (default 2025-01-06T00:00:00Z)', timeArg)
    .option('--days <n>', 'simulated days each user is active over', numberArg(0.001, 3650), 1)
    .option('--id-prefix <prefix>', 'prefix of user and event ids (default s<seed>-)')
    .action(async (opts: ProduceCliOptions) => {
      process.exitCode = await runProduce(opts);
    });
}

export async function runProduce(opts: ProduceCliOptions, env: Env = process.env): Promise<number> {
  const fail = (message: string, code: number) => {
    process.stderr.write(`risk-engine produce: ${message}\n`);
    return code;
  };
  let plan: LoadPlan;
  try {
    plan = planLoad({ users: opts.users, events: opts.events, fraudRatio: opts.fraudRatio, seed: opts.seed, startTime: opts.start, idPrefix: opts.idPrefix, days: opts.days });
  } catch (err) {
    return fail((err as Error).message, 2);
  }
  // Where the summary goes: stdout, unless the events themselves go there.
  const report: Writable = opts.out === '-' ? process.stderr : process.stdout;
  let sink: EventSink;
  try {
    sink = await openSink(opts, env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.line()}\n`);
      return USAGE_EXIT_CODE;
    }
    if (err instanceof ConfigError) return fail(err.message, 2);
    return fail(`cannot open the target: ${(err as Error).message}`, 1);
  }

  const truth = new TruthBuilder(plan.options);
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        { stream: process.stderr, format: 'producing [{bar}] {percentage}% | {value}/{total} events | {speed} events/s | ETA {eta_formatted}', hideCursor: true, etaBuffer: 50 },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(opts.events, 0, { speed: '0' });
  const started = performance.now();
  let code = 0;
  let result;
  try {
    result = await produce(generateEvents(plan), sink, {
      rate: opts.rate,
      batchSize: opts.batchSize,
      signal: abort.signal,
      onSent: (batch) => {
        for (const g of batch) truth.add(g);
        bar?.update(truth.events, { speed: formatRate(truth.events / Math.max(0.001, (performance.now() - started) / 1000)) });
      },
    });
  } catch (err) {
    bar?.stop();
    code = fail(`sending to ${sink.target} failed after ${truth.events} events: ${(err as Error).message}`, 1);
  } finally {
    process.off('SIGINT', onSigint);
    await sink.close().catch((err: unknown) => void process.stderr.write(`risk-engine produce: closing ${sink.target}: ${(err as Error).message}\n`));
  }
  bar?.stop();

  const complete = result !== undefined && !result.aborted && truth.events === opts.events;
  if (opts.truth) {
    try {
      await writeFile(opts.truth, JSON.stringify(truth.build(complete)) + '\n');
    } catch (err) {
      code ||= fail(`cannot write the truth file: ${(err as Error).message}`, 1);
    }
  }
  if (result) {
    const t = truth.build(complete);
    report.write(
      `produced ${result.sent} events (${t.totals.users} users, ${t.totals.fraudUsers} with a fraud pattern, ${t.totals.fraudEvents} fraud events) ` +
        `to ${sink.target} in ${result.seconds.toFixed(2)} s: ${formatRate(result.eventsPerSecond)} events/s` +
        (opts.truth ? `; truth in ${opts.truth}` : '') +
        '\n',
    );
    if (result.rejected > 0) {
      code ||= fail(`${result.rejected} events were rejected, e.g. ${result.reasons.slice(0, 3).join('; ')}`, 1);
    }
    if (result.aborted) code ||= fail(`interrupted after ${result.sent} of ${opts.events} events`, 130);
  }
  return code;
}

async function openSink(opts: ProduceCliOptions, env: Env): Promise<EventSink> {
  const chosen = [opts.brokers && '--brokers', opts.url && '--url', opts.out && '--out'].filter(Boolean);
  if (chosen.length > 1) throw new UsageError(`choose one target: ${chosen.join(', ')}`, 'risk-engine produce');
  if (opts.url) return new HttpEventSink(opts.url, opts.token ?? env.ADMIN_TOKEN);
  if (opts.out) {
    if (opts.out === '-') return new NdjsonEventSink(process.stdout, 'stdout', false);
    const stream = createWriteStream(opts.out);
    await new Promise<void>((resolve, reject) => stream.once('open', () => resolve()).once('error', reject));
    return new NdjsonEventSink(stream, opts.out, true);
  }
  const brokers = opts.brokers ?? env.KAFKA_BROKERS;
  if (!brokers) throw new UsageError('no target: give --brokers (or set KAFKA_BROKERS), --url or --out', 'risk-engine produce');
  const settings = loadSettings({ ...env, KAFKA_BROKERS: brokers });
  const topics = withTopicPrefix(settings, opts.topicPrefix);
  const log = createLogger('error', { component: 'produce' });
  const kafka = createKafka(settings.kafka.brokers, `risk-engine-produce-${process.pid}`, log, settings.kafka);
  // The same topics (and partition count) the engine creates on start, so that producing first works.
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, topics.kafka);
  } finally {
    await admin.disconnect();
  }
  return KafkaEventSink.open({ kafka, inputs: topics.kafka.topics.inputs, other: topics.kafka.topics.other, compression: opts.compression, target: `kafka ${settings.kafka.brokers.join(',')}` });
}

/** Settings whose topic names carry `<prefix>.` (the convention of test and bench deployments). */
export function withTopicPrefix(settings: Settings, prefix: string | undefined): Settings {
  if (!prefix) return settings;
  const t = settings.kafka.topics;
  const p = (name: string) => `${prefix}.${name}`;
  return {
    ...settings,
    kafka: {
      ...settings.kafka,
      topics: { inputs: t.inputs.map(p), other: t.other && p(t.other), decisions: p(t.decisions), aggregates: p(t.aggregates), dlq: p(t.dlq), rules: p(t.rules) },
    },
  };
}
