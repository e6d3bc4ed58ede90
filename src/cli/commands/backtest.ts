/**
 * `risk-engine backtest --rules FILE [--from ISO|earliest] [--to ISO|now] [--out report.json]`
 * (CONTRACT §8): the input history decided again in memory under candidate rules and compared
 * with the committed live decisions (src/ops/backtest.ts). Touches no live state, decision, alert
 * or offset. Kafka when KAFKA_BROKERS is set, else the embedded log under DATA_DIR.
 * Exit codes: 0 done, 1 a failure (reading, writing the report), 2 bad usage or setting.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { domainConfigOf, isEmbedded, loadSettings, type Env, type Settings } from '../../config/settings.ts';
import { ConfigError, errorMessage } from '../../errors.ts';
import { createLogger } from '../../log.ts';
import { formatReport, runBacktest, type BacktestReport } from '../../ops/backtest.ts';
import { readRulesFile, terminalProgress, timeOption } from '../../ops/cli.ts';
import { OpsError } from '../../ops/errors.ts';
import { EmbeddedHistoryReader, KafkaHistoryReader, type HistoryReader } from '../../ops/history.ts';
import { EmbeddedLog } from '../../transport/embedded/EmbeddedLog.ts';
import { createKafka } from '../../transport/kafka/kafkaClient.ts';
import { withTopicPrefix } from './produce.ts';

export interface BacktestCliOptions {
  rules: string;
  from?: string;
  to?: string;
  out?: string;
  json?: boolean;
  topicPrefix?: string;
}

export function register(program: Command): void {
  program
    .command('backtest')
    .description('decide the input history again under candidate rules (in memory) and compare with the live decisions')
    .requiredOption('--rules <file>', 'candidate rules (JSON rules object, as `rules get` prints it)')
    .option('--from <time>', 'start of the span: ISO date, epoch ms or "earliest"', 'earliest')
    .option('--to <time>', 'end of the span: ISO date, epoch ms or "now"', 'now')
    .option('--out <file>', 'write the report as JSON')
    .option('--json', 'print the report as JSON instead of text')
    .option('--topic-prefix <prefix>', 'topics are named <prefix>.<topic> (test and bench deployments)')
    .action(async (opts: BacktestCliOptions) => {
      process.exitCode = await runBacktestCli(opts);
    });
}

/** The history of the deployment the settings name: Kafka, or the embedded log (read only, no lock taken). */
export function openHistory(settings: Settings, purpose: string): { history: HistoryReader; close(): Promise<void> } {
  if (isEmbedded(settings)) {
    const log = new EmbeddedLog({ dir: join(settings.dataDir, 'log'), partitions: settings.kafka.partitions });
    const history = new EmbeddedHistoryReader(log);
    return { history, close: () => log.close() };
  }
  const kafka = createKafka(settings.kafka.brokers, `${settings.kafka.clientId}-${purpose}-${process.pid}`, createLogger(settings.logLevel === 'info' ? 'warn' : settings.logLevel, { component: purpose }), settings.kafka);
  const history = new KafkaHistoryReader(kafka, `${settings.kafka.groupId}.${purpose}`);
  return { history, close: () => history.close() };
}

export async function runBacktestCli(opts: BacktestCliOptions, env: Env = process.env): Promise<number> {
  const fail = (message: string, code: number) => {
    process.stderr.write(`risk-engine backtest: ${message}\n`);
    return code;
  };
  let settings: Settings;
  let rules;
  let from: number | null;
  let to: number | null;
  try {
    settings = withTopicPrefix(loadSettings(env), opts.topicPrefix);
    rules = await readRulesFile(opts.rules);
    from = timeOption('--from', opts.from, 'earliest');
    to = timeOption('--to', opts.to, 'now');
    if (from !== null && to !== null && to < from) throw new OpsError('USAGE', '--to is before --from');
  } catch (err) {
    if (err instanceof OpsError || err instanceof ConfigError) return fail(err.message, 2);
    throw err;
  }
  const topics = settings.kafka.topics;
  let opened;
  let report: BacktestReport;
  try {
    opened = openHistory(settings, 'backtest');
    report = await runBacktest({
      history: opened.history,
      inputs: [...topics.inputs, ...(topics.other ? [topics.other] : [])],
      decisionsTopic: topics.decisions,
      domain: domainConfigOf(settings),
      rules,
      range: { from, to },
      now: Date.now(),
      progress: terminalProgress(),
    });
  } catch (err) {
    if (err instanceof OpsError) return fail(err.message, err.exitCode);
    return fail(`failed: ${errorMessage(err)}`, 1);
  } finally {
    await opened?.close().catch(() => undefined);
  }
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  if (opts.out) {
    try {
      await writeFile(opts.out, `${JSON.stringify(report, null, 2)}\n`);
    } catch (err) {
      return fail(`cannot write ${opts.out}: ${errorMessage(err)}`, 1);
    }
  }
  return 0;
}
