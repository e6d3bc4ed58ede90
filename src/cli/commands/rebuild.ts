/**
 * `risk-engine rebuild --state-prefix NEW --group NEWGROUP [--rules FILE]` (CONTRACT §8, Kappa):
 * replays the input topics from the earliest retained record into the fresh Redis namespace NEW
 * (journal and snapshots, src/ops/rebuild.ts), emits nothing, then commits NEWGROUP's offsets
 * where the replay stopped, so that `KAFKA_GROUP_ID=NEWGROUP STATE_PREFIX=NEW risk-engine start`
 * continues exactly after. The rules are those in force (the rules topic), or `--rules FILE`.
 * Exit codes: 0 done, 1 a failure, 2 bad usage or setting, a non-empty NEW or a used NEWGROUP.
 */
import type { Command } from 'commander';
import { domainConfigOf, isEmbedded, loadSettings, type Env, type Settings } from '../../config/settings.ts';
import { ConfigError, errorMessage } from '../../errors.ts';
import { createLogger } from '../../log.ts';
import { RulesHolder } from '../../app/rules.ts';
import { openRulesChannel } from '../../app/rules/channel.ts';
import type { Rules } from '../../domain/index.ts';
import { readRulesFile, terminalProgress } from '../../ops/cli.ts';
import { OpsError } from '../../ops/errors.ts';
import { assertGroupUnused, assertNamespaceEmpty, commitGroupOffsets } from '../../ops/guards.ts';
import { KafkaHistoryReader } from '../../ops/history.ts';
import { runRebuild, type RebuildResult } from '../../ops/rebuild.ts';
import { RedisJournal } from '../../persistence/RedisJournal.ts';
import { createKafka, kafkaConnectError } from '../../transport/kafka/kafkaClient.ts';
import { withTopicPrefix } from './produce.ts';

export interface RebuildCliOptions {
  statePrefix: string;
  group: string;
  rules?: string;
  json?: boolean;
  topicPrefix?: string;
}

export function register(program: Command): void {
  program
    .command('rebuild')
    .description('replay the input topics from the earliest record into a fresh state namespace, then commit a new group\'s offsets where it stopped (blue/green)')
    .requiredOption('--state-prefix <prefix>', 'the new, empty state namespace (STATE_PREFIX of the engine that takes over)')
    .requiredOption('--group <group>', 'the new consumer group (KAFKA_GROUP_ID of the engine that takes over); must have no committed offsets')
    .option('--rules <file>', 'rules to decide with (default: the rules in force, from the rules topic)')
    .option('--json', 'print the summary as JSON')
    .option('--topic-prefix <prefix>', 'topics are named <prefix>.<topic> (test and bench deployments)')
    .action(async (opts: RebuildCliOptions) => {
      process.exitCode = await runRebuildCli(opts);
    });
}

const PREFIX = /^[A-Za-z0-9_.-]{1,64}$/;

export async function runRebuildCli(opts: RebuildCliOptions, env: Env = process.env): Promise<number> {
  const fail = (message: string, code: number) => {
    process.stderr.write(`risk-engine rebuild: ${message}\n`);
    return code;
  };
  let settings: Settings;
  let candidate: Rules | undefined;
  try {
    if (!PREFIX.test(opts.statePrefix)) throw new OpsError('USAGE', '--state-prefix: letters, digits, _ . - (1..64)');
    if (opts.group.length === 0 || opts.group.length > 200) throw new OpsError('USAGE', '--group: 1..200 characters');
    settings = withTopicPrefix(loadSettings(env), opts.topicPrefix);
    if (isEmbedded(settings)) throw new OpsError('USAGE', 'rebuild needs Kafka and Redis (set KAFKA_BROKERS): the embedded store has no namespaces');
    if (opts.statePrefix === settings.redis.prefix) throw new OpsError('REFUSED', `--state-prefix ${opts.statePrefix} is the live namespace (STATE_PREFIX)`);
    if (opts.group === settings.kafka.groupId) throw new OpsError('REFUSED', `--group ${opts.group} is the live group (KAFKA_GROUP_ID)`);
    if (opts.rules) candidate = await readRulesFile(opts.rules);
  } catch (err) {
    if (err instanceof OpsError || err instanceof ConfigError) return fail(err.message, 2);
    throw err;
  }
  const log = createLogger(settings.logLevel === 'info' ? 'warn' : settings.logLevel, { component: 'rebuild' });
  const topics = settings.kafka.topics;
  const inputs = [...topics.inputs, ...(topics.other ? [topics.other] : [])];
  const kafka = createKafka(settings.kafka.brokers, `${settings.kafka.clientId}-rebuild-${process.pid}`, log, settings.kafka);
  const admin = kafka.admin();
  const history = new KafkaHistoryReader(kafka, `${opts.group}.rebuild`);
  const { username, password, tlsCaFile } = settings.redis;
  let store: RedisJournal | undefined;
  let result: RebuildResult;
  try {
    await admin.connect().catch((err: unknown) => Promise.reject(kafkaConnectError(err)));
    await assertGroupUnused(admin, opts.group, inputs);
    await assertNamespaceEmpty({ url: settings.redis.url, username, password, tlsCaFile }, opts.statePrefix);
    const rules = candidate ?? (await rulesInForce(settings, log));
    store = await RedisJournal.connect({ url: settings.redis.url, username, password, tlsCaFile, prefix: opts.statePrefix, keepSnapshots: settings.persistence.keepSnapshots, decisionRetentionMs: settings.decisions.retentionDays * 86_400_000 });
    // The live decisions, when there are any, give the order the live engine judged each shard's events in.
    result = await runRebuild({ history, inputs, store, domain: domainConfigOf(settings), rules, snapshotEvery: settings.persistence.snapshotEvery, now: Date.now(), progress: terminalProgress(), decisionsTopic: topics.decisions });
    // Only once the state is written: a rebuild that failed before leaves the group without offsets, and can be run again into a fresh prefix.
    await commitGroupOffsets(admin, opts.group, result.offsets);
  } catch (err) {
    if (err instanceof OpsError) return fail(err.message, err.exitCode);
    if (err instanceof ConfigError) return fail(err.message, 2);
    return fail(`failed: ${errorMessage(err)}`, 1);
  } finally {
    await store?.close().catch(() => undefined);
    await history.close().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
  if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    process.stdout.write(
      `rebuilt ${result.users} users from ${result.records} records (${result.accepted} accepted, ${result.rejected} rejected, ${result.duplicates} duplicates, ${result.poison} poison) ` +
        `into state prefix ${opts.statePrefix}: ${result.journalEntries} journal entries, ${result.snapshots} snapshots, in ${result.seconds} s\n` +
        `group ${opts.group} committed at the end of the replay; continue with: KAFKA_GROUP_ID=${opts.group} STATE_PREFIX=${opts.statePrefix} risk-engine start\n`,
    );
  }
  return 0;
}

/** The rules the live engines decide with: the rules file, then the rules topic read to its end. */
async function rulesInForce(settings: Settings, log: ReturnType<typeof createLogger>): Promise<Rules> {
  const holder = RulesHolder.fromFile(settings.rulesFile);
  const kafka = createKafka(settings.kafka.brokers, `${settings.kafka.clientId}-rebuild-rules-${process.pid}`, log, settings.kafka);
  const channel = openRulesChannel(kafka, { ...settings, instanceId: `rebuild-${process.pid}` }, holder, log);
  try {
    await channel.start();
    return channel.current();
  } finally {
    await channel.close();
  }
}
