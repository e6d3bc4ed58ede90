/**
 * `risk-engine start`: settings, parts, engine, admin API, and the process lifecycle. A bad
 * setting exits 2 with one line; SIGTERM drains (in-flight batches commit, shards snapshot) and
 * exits 0 within shutdownTimeoutMs; a fatal error exits 1 so that the orchestrator restarts us.
 * With `workers` > 1 this process is the primary of ./workers.ts and each worker runs the above.
 */
import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { isEmbedded, loadSettings, type Env, type SettingFlags } from '../config/settings.ts';
import { ConfigError, EngineError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { startTracing } from '../telemetry/tracing.ts';
import { buildAdmin, listenAdmin } from '../admin/server.ts';
import { Engine } from './Engine.ts';
import { RulesHolder } from './rules.ts';
import { buildParts } from './wiring.ts';
import { DecisionService } from './decisions/service.ts';
import { keepRulesVersions } from './rules/versions.ts';
import { isDecisionStore } from '../persistence/decisionIndex.ts';
import { domainConfigOf } from '../config/settings.ts';
import { systemSupervisionDeps } from './supervisionDeps.ts';
import { announceWorkerStarted, runPrimary, untilPrimarySaysGo, workerInstanceId } from './workers.ts';

export async function runService(env: Env = process.env, flags: SettingFlags = {}): Promise<void> {
  let settings;
  let rules;
  let primary = false;
  try {
    settings = loadSettings(env, flags);
    rules = RulesHolder.fromFile(settings.rulesFile);
    // Several workers: this process only supervises them. Each worker's settings are checked
    // here, before any fork, so that a bad one stops start-up once.
    primary = settings.workers > 1 && cluster.isPrimary;
    if (primary) for (let i = 0; i < settings.workers; i++) loadSettings({ ...env, INSTANCE_ID: workerInstanceId(settings.instanceId, i) }, flags);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`risk-engine: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (primary) {
    runPrimary(settings, createLogger(settings.logLevel, { instanceId: settings.instanceId, role: 'primary' }));
    return;
  }
  const log = createLogger(settings.logLevel, { instanceId: settings.instanceId });
  const stopTracing = startTracing(env, { includeUserIds: env.RISK_TRACE_USER_IDS === 'true', log });
  const fatal = (err: unknown, what: string) => {
    log.fatal({ err }, what);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 200).unref();
  };
  process.on('unhandledRejection', (err) => fatal(err, 'unhandled rejection'));
  process.on('uncaughtException', (err) => fatal(err, 'uncaught exception'));

  let parts;
  try {
    parts = await buildParts(settings, log, rules);
  } catch (err) {
    if (err instanceof EngineError && (err.code === 'CONFIG' || err.code === 'TOPOLOGY')) {
      process.stderr.write(`risk-engine: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const engine = new Engine(settings, parts, rules.current, (metrics) => systemSupervisionDeps(log, metrics), log);
  const decisions = new DecisionService({ store: parts.store, ingest: parts.ingest, feed: parts.decisionFeed, domain: domainConfigOf(settings), rules: rules.current, log: log.child({ component: 'decide' }) });
  engine.onDecisionsCommitted((committed) => decisions.committed(committed), () => decisions.waiting);
  if (isDecisionStore(parts.store)) keepRulesVersions(rules, parts.store, log);
  const admin = buildAdmin(engine, settings, log, { rules: parts.rules, decisions, decisionStream: { feed: parts.decisionFeed, registry: engine.metrics.registry } });
  let address: string;
  try {
    address = await listenAdmin(admin, settings.admin);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`risk-engine: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  log.info({ address }, 'admin API listening');
  // Not awaited: POST /decide waits for it within its own timeout.
  void decisions.start().catch(() => undefined);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    const deadline = setTimeout(() => {
      log.error({ timeoutMs: settings.shutdownTimeoutMs }, 'drain timed out');
      process.exit(1);
    }, settings.shutdownTimeoutMs);
    deadline.unref();
    try {
      await decisions.close();
      await engine.stop();
      await admin.close();
      await stopTracing().catch((err) => log.warn({ err }, 'flushing traces failed'));
      log.info('stopped');
      log.flush();
      process.exit(process.exitCode ?? 0);
    } catch (err) {
      fatal(err, 'drain failed');
    }
  };
  engine.onFatal = (err) => {
    log.fatal({ err }, 'root supervision: a shard exceeded its restart limit; draining and exiting');
    process.exitCode = 1;
    void shutdown('fatal');
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  // A worker of `--workers` joins the group with its siblings (./workers.ts).
  await untilPrimarySaysGo();
  if (stopping) return;
  await engine.start();
  log.info({ admin: address, embedded: isEmbedded(settings) }, 'risk-engine started');
  announceWorkerStarted();
  if (isEmbedded(settings)) process.stdout.write(embeddedBanner(address, settings.dataDir));
}

/** A fresh eventId each start: a pasted example is then a new event, not a duplicate of last time's. */
export function embeddedBanner(url: string, dataDir: string): string {
  const example = JSON.stringify({ eventId: `e-${randomUUID()}`, userId: 'u-1', eventType: 'payment', timestamp: Date.now(), amount: '12.50', deviceId: 'd-1', country: 'DE' });
  return [
    `risk-engine is running embedded (no Kafka, Redis or NATS needed); state in ${dataDir}`,
    `admin API and ingestion on ${url}`,
    'send an event:',
    `  curl -s -XPOST ${url}/events -H 'content-type: application/json' -d '${example}'`,
    'see the user it changed:',
    `  curl -s ${url}/users/u-1`,
    'alerts (BLOCK / CHALLENGE) are printed below as ALERT lines; Ctrl-C stops.',
    '',
  ].join('\n');
}
