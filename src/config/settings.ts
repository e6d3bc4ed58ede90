/**
 * The one typed, validated settings object, read once at start-up:
 * config/default.json, then CONFIG_FILE (deep-merged), then the environment (CONTRACT §6).
 * Any bad value becomes a ConfigError naming the setting (the env var when it came from one).
 */
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { hostname } from 'node:os';
import zlib from 'node:zlib';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import type { DomainConfig } from '../domain/config.ts';
import { CONNECTION_ENV_VARS, checkConnections, kafkaSecurityShape, natsAuthShape, redisAuthShape } from './connections.ts';

const hostPort = z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'host:port');
const positiveInt = z.number().int().positive();
const topicName = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'a Kafka topic name');

/** Most engine processes `workers` may fork on one machine. */
export const MAX_WORKERS = 64;

// Every setting has a description: `risk-engine start --help` lists them from this schema
// (src/cli/settingsHelp.ts), and a unit test holds README's settings tables to that list.
// `defaultText` is what help shows as the default where the value in config/default.json does
// not say it (computed, or absent meaning "off").
const settingsSchema = z
  .object({
    instanceId: z.string().min(1).max(128).meta({ description: 'name of this instance', defaultText: '<hostname>-<pid>' }),
    workers: z.number().int().min(1).max(MAX_WORKERS).describe('engine processes on this machine (also start --workers N); Kafka mode only'),
    kafka: z.object({
      brokers: z.array(hostPort).meta({ description: 'comma list of host:port', defaultText: 'unset (embedded)' }),
      ...kafkaSecurityShape,
      clientId: z.string().min(1).describe('Kafka client id (the instance id is appended)'),
      groupId: z.string().min(1).max(200).describe('consumer group shared by all instances'),
      fromBeginning: z.boolean().describe('a new group starts from the earliest record'),
      partitions: positiveInt.max(1000).describe('partitions of the topics the engine creates (= shards)'),
      replicationFactor: positiveInt.describe('replication factor of the topics the engine creates'),
      topics: z.object({
        inputs: z.array(topicName).min(1).describe('input topics, all with the same partition count'),
        other: topicName.nullable().describe('topic for POST /events of other event types (none: such lines are refused)'),
        decisions: topicName.describe('decisions topic'),
        aggregates: topicName.describe('tumbling-window aggregates topic'),
        dlq: topicName.describe('dead-letter topic'),
        rules: topicName.describe('compacted topic that carries the rules to every instance'),
      }),
      sessionTimeoutMs: positiveInt.describe('consumer group session timeout'),
      rebalanceTimeoutMs: positiveInt.describe('time a member has to rejoin during a rebalance'),
      heartbeatIntervalMs: positiveInt.describe('consumer heartbeat interval'),
      maxBytesPerPartition: positiveInt.describe('most bytes fetched per partition per fetch'),
      /**
       * A fetch is answered once fetchMinBytes are there or fetchMaxWaitMs has passed (Kafka's
       * fetch.min.bytes, fetch.max.wait.ms). With kafkajs's 1 byte, a consumer that keeps up
       * fetches again as soon as a record or two arrived: at 1,500 events/s some 300 fetches a
       * second, each as dear as a batch of events. kafkajs also sleeps fetchMaxWaitMs when every
       * partition is paused, and a partition resumed meanwhile waits for the fetch in flight (its
       * 5 s default stalled a shard paused for back-pressure for up to 5 s).
       */
      fetchMinBytes: positiveInt.max(52_428_800).describe('bytes a fetch waits for (up to fetchMaxWaitMs) before it is answered'),
      fetchMaxWaitMs: z.number().int().min(1).max(5_000).describe('longest wait of a fetch for fetchMinBytes; also how long a partition resumed after back-pressure may wait for its next fetch'),
      /**
       * The codec of every record the engine writes (Kafka's compression.type). none by default,
       * as Kafka's producers: a consumer of the decisions that has no lz4 codec (kafkajs has
       * none of its own) keeps reading them. lz4 runs off the main thread and compresses a
       * partition's decisions of one transaction to an eighth; the engine's own CPU per event
       * did not change measurably with it (A/B). zstd needs a runtime with zstd in node:zlib,
       * checked at start-up.
       */
      compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).describe('codec of the records the engine writes (decisions, aggregates, dead letters, POST /events): none, gzip, snappy, lz4, zstd'),
      transactionTimeoutMs: positiveInt.describe('Kafka transaction timeout of the shard producers'),
      /**
       * "shard": a transactional producer per owned shard, fenced by its transactional id (each
       * shard commits on its own). "instance": one per instance, whose transaction takes every
       * owned shard's output of a commit interval, fenced by the consumer group's generation
       * (KIP-447; brokers 2.5+): a tenth of the transactions with ten shards.
       */
      transactions: z.enum(['shard', 'instance']).describe('what one Kafka transaction commits: "shard" (a producer per owned shard) or "instance" (one producer, every owned shard of a commit interval)'),
      /** Least time between two Kafka transactions (the instance's, or a shard's with "shard" transactions): what is judged meanwhile shares the next (Kafka Streams' commit.interval.ms). */
      commitIntervalMs: z.number().int().min(0).max(60_000).describe('least time between two Kafka transactions: the instance\'s (or, with kafka.transactions "shard", a shard\'s); what is judged meanwhile shares the next'),
      /** Input records per transaction: their decisions must stay well within Kafka's 1 MiB request limit. */
      maxRecordsPerTransaction: positiveInt.max(10_000).describe('input records per transaction'),
    }),
    redis: z.object({
      url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').describe('state store'),
      prefix: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (1..64)').describe('namespace of every Redis key'),
      ...redisAuthShape,
    }),
    nats: z.object({
      url: z.string().regex(/^(nats|tls|ws|wss):\/\/[^\s]+$/, 'a nats:// URL').describe('alert bus'),
      stream: z.string().regex(/^[A-Za-z0-9_-]+$/).describe('JetStream stream that keeps the alerts'),
      duplicateWindowMs: positiveInt.describe('JetStream window in which a repeated alert (same eventId) is dropped'),
      alertBufferSize: positiveInt.describe('alerts kept in memory while NATS is down'),
      ...natsAuthShape,
    }),
    admin: z.object({
      host: z.string().min(1).describe('admin API address; non-loopback needs ADMIN_TOKEN'),
      port: z.number().int().min(0).max(65535).describe('admin API port'),
      // Visible ASCII only: a header carries nothing else intact, and a space (often a paste
      // accident) would make a token that no client can send.
      token: z.string().min(16, 'at least 16 characters').regex(/^[\x21-\x7e]+$/, 'visible ASCII characters, no whitespace').optional().describe('bearer token for the admin API (16+ characters)'),
      bodyLimitBytes: positiveInt.describe('largest admin request body'),
    }),
    dataDir: z.string().min(1).describe('embedded store directory'),
    rulesFile: z.string().min(1).describe('rules in force at the first start (relative to the package)'),
    persistence: z.object({
      snapshotEvery: positiveInt.describe('journal entries of a user between two snapshots'),
      keepSnapshots: positiveInt.describe('snapshots kept per user'),
    }),
    actors: z.object({
      passivateAfterMs: positiveInt.describe('an idle user actor snapshots and stops after this long'),
      maxLiveActors: positiveInt.describe('live user actors per instance, least recently used passivated first'),
      eventTimeoutMs: positiveInt.describe('deadline of a user actor\'s answer and of a journal write'),
    }),
    domain: z.object({
      history: z.object({
        events: positiveInt.describe('recent events kept per user'),
        decisions: positiveInt.describe('recent decisions kept per user'),
      }),
      dedupe: z.object({ eventIds: positiveInt.describe('eventIds remembered per user to recognise duplicates') }),
      profile: z.object({
        maxDevices: positiveInt.describe('devices kept in a user\'s profile'),
        maxCountries: positiveInt.describe('countries kept in a user\'s profile'),
      }),
      windows: z.object({
        sizeMs: positiveInt.describe('tumbling window size (event time)'),
        allowedLatenessMs: z.number().int().min(0).describe('how late an event may still join its window'),
        idleCloseMs: positiveInt.describe('a quiet user\'s windows are closed by a timer after this long'),
      }),
      escalation: z.object({
        challenges: positiveInt.describe('this many CHALLENGEs of a user within escalation.withinMs make a BLOCK'),
        withinMs: positiveInt.describe('the span in which CHALLENGEs are counted for escalation'),
      }),
      defaultCurrency: z.string().regex(/^[A-Z]{3}$/, 'three capital letters').describe('currency of the totals and amount features'),
      maxRecordBytes: positiveInt.describe('largest event record'),
      /** An event time further ahead of the engine's clock than this is refused (SCHEMA). */
      maxClockSkewMs: positiveInt.describe('how far ahead of the engine\'s clock an event time may be'),
      /** Units of the default currency per unit of each accepted currency; a currency not listed is refused. */
      fxRates: z.record(z.string().regex(/^[A-Z]{3}$/, 'three capital letters'), z.number().positive().max(1e9)).describe('units of the default currency per unit of each accepted currency'),
    }),
    readiness: z.object({ stuckAfterMs: positiveInt.describe('a shard with lag and no commit for this long makes /readyz 503') }),
    decisions: z.object({
      retentionDays: positiveInt.max(3650).describe('how long GET /decisions/:eventId (the decision index) keeps a decision, in days'),
    }),
    embedded: z.object({
      commitIntervalMs: z.number().int().min(0).max(60_000).describe('embedded: least time between two commits of a shard (an LMDB transaction is cheap: 0 commits as soon as the one before is done)'),
      retention: z.object({
        maxAgeMs: positiveInt.describe('embedded log: age past which committed records are trimmed'),
        maxBytes: positiveInt.describe('embedded log: size past which committed records are trimmed'),
      }),
    }),
    shutdownTimeoutMs: positiveInt.describe('SIGTERM: longest drain before exiting 1'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).describe('pino log level'),
  })
  .strict();

export type Settings = z.infer<typeof settingsSchema>;
/** The Kafka section: what the Kafka adapters take, rather than the whole settings. */
export type KafkaSettings = Settings['kafka'];
/** The schema itself, for what lists the settings (`start --help`). */
export { settingsSchema };
export type Env = Record<string, string | undefined>;

/** Environment variable -> settings path, with its parser. The `what` text is the error's "expects". */
export const ENV_VARS: Record<string, { path: string; parse: (v: string) => unknown; what: string }> = {
  KAFKA_BROKERS: { path: 'kafka.brokers', parse: (v) => v.split(',').map((s) => s.trim()).filter(Boolean), what: 'a comma-separated list of host:port' },
  KAFKA_GROUP_ID: { path: 'kafka.groupId', parse: (v) => v, what: 'a consumer group id (1..200 characters)' },
  KAFKA_TRANSACTIONS: { path: 'kafka.transactions', parse: (v) => v, what: 'shard or instance' },
  KAFKA_FROM_BEGINNING: { path: 'kafka.fromBeginning', parse: parseBool, what: 'true or false' },
  REDIS_URL: { path: 'redis.url', parse: (v) => v, what: 'a redis:// or rediss:// URL' },
  NATS_URL: { path: 'nats.url', parse: (v) => v, what: 'a nats:// URL' },
  ADMIN_HOST: { path: 'admin.host', parse: (v) => v, what: 'a host name or address to bind' },
  ADMIN_PORT: { path: 'admin.port', parse: parseIntStrict, what: 'a port number 0..65535' },
  ADMIN_TOKEN: { path: 'admin.token', parse: (v) => v, what: 'a bearer token of at least 16 visible ASCII characters, no whitespace' },
  INSTANCE_ID: { path: 'instanceId', parse: (v) => v, what: 'an instance name (1..128 characters)' },
  DATA_DIR: { path: 'dataDir', parse: (v) => v, what: 'a directory for the embedded store' },
  STATE_PREFIX: { path: 'redis.prefix', parse: (v) => v, what: 'a key prefix of letters, digits, _ . - (1..64)' },
  LOG_LEVEL: { path: 'logLevel', parse: (v) => v, what: 'one of fatal, error, warn, info, debug, trace, silent' },
  RISK_WORKERS: { path: 'workers', parse: parseIntStrict, what: `a number of engine processes 1..${MAX_WORKERS}` },
  ...CONNECTION_ENV_VARS,
};

/** Command-line flags that set a setting (they win over the environment), named as typed. */
export interface SettingFlags {
  workers?: string;
}

const FLAGS: Record<keyof SettingFlags, { name: string; path: string; parse: (v: string) => unknown; what: string }> = {
  workers: { name: '--workers', path: 'workers', parse: parseIntStrict, what: `a number of engine processes 1..${MAX_WORKERS}` },
};

function parseBool(v: string): unknown {
  const s = v.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(s)) return true;
  if (['false', '0', 'no'].includes(s)) return false;
  return v;
}

function parseIntStrict(v: string): unknown {
  return /^\d+$/.test(v.trim()) ? Number(v.trim()) : v;
}

/**
 * Literal loopback addresses only: a dotted quad in 127.0.0.0/8, ::1 in any of its spellings, or
 * "localhost". A prefix test would pass "127.evil.com", a name that resolves anywhere.
 */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (!isIPv6(host)) return false;
  try {
    // The URL parser writes an IPv6 address in its shortest form ("0:0:0:0:0:0:0:1" -> "[::1]").
    return new URL(`http://[${host}]`).hostname === '[::1]';
  } catch {
    return false; // e.g. a zone id ("::1%lo"), which a URL cannot carry
  }
}

/** The domain's settings as the pure core takes them (built once, where the engine is put together). */
export const domainConfigOf = (s: Settings): DomainConfig => ({ ...s.domain, unknownTypes: 'other' });

/** Embedded mode: no external service; chosen when no broker is configured (KAFKA_BROKERS unset). */
export const isEmbedded = (s: Settings): boolean => s.kafka.brokers.length === 0;

/** node:zlib has zstd (Node 22.15+, 23.8+); the kafka codec (transport/kafka/codecs.ts) writes with it. */
const zstdWritable = (): boolean => typeof (zlib as unknown as { zstdCompress?: unknown }).zstdCompress === 'function';

export function loadSettings(env: Env = process.env, flags: SettingFlags = {}): Settings {
  let merged = readJson(new URL('../../config/default.json', import.meta.url), 'config/default.json');
  if (env.CONFIG_FILE) merged = deepMerge(merged, readJson(env.CONFIG_FILE, 'CONFIG_FILE'));
  if (merged.instanceId === undefined) merged.instanceId = `${hostname()}-${process.pid}`;
  /** Settings path -> where its value came from (an env var or a flag) and what that expects. */
  const sources = new Map<string, { name: string; what: string }>();
  for (const [name, spec] of Object.entries(ENV_VARS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    setPath(merged, spec.path, spec.parse(raw));
    sources.set(spec.path, { name, what: spec.what });
  }
  for (const [key, spec] of Object.entries(FLAGS)) {
    const raw = flags[key as keyof SettingFlags];
    if (raw === undefined) continue;
    setPath(merged, spec.path, spec.parse(raw));
    sources.set(spec.path, { name: spec.name, what: spec.what });
  }
  const nameOf = (path: string): string => sources.get(path)?.name ?? path;
  const parsed = settingsSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.join('.');
    const source = [...sources.entries()].find(([p]) => path === p || path.startsWith(`${p}.`))?.[1];
    if (source) throw new ConfigError(source.name, `expects ${source.what} (${issue.message})`);
    throw new ConfigError(path || '(root)', `expects ${issue.message}`);
  }
  const settings = parsed.data;
  if (settings.workers > 1 && isEmbedded(settings)) {
    // One DATA_DIR and one in-process log: a second process could neither open nor share them.
    throw new ConfigError(nameOf('workers'), `expects 1 when running embedded (KAFKA_BROKERS unset), got ${settings.workers}: the embedded log and store live in one process; set KAFKA_BROKERS to run several workers`);
  }
  if (!Object.hasOwn(settings.domain.fxRates, settings.domain.defaultCurrency)) {
    throw new ConfigError('domain.fxRates', `expects a rate for the default currency ${settings.domain.defaultCurrency}`);
  }
  checkConnections(settings, nameOf);
  if (settings.kafka.compression === 'zstd' && !zstdWritable()) {
    throw new ConfigError('kafka.compression', `expects none, gzip, snappy or lz4 on Node ${process.versions.node}: writing zstd needs node:zlib's zstd (Node 22.15 or later)`);
  }
  if (!isLoopback(settings.admin.host) && !settings.admin.token) {
    throw new ConfigError('ADMIN_HOST', 'expects a loopback address (127.0.0.1, ::1, localhost) unless ADMIN_TOKEN is set');
  }
  return settings;
}

type Json = Record<string, unknown>;

function readJson(file: string | URL, setting: string): Json {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(setting, `expects a readable JSON file (${(err as Error).message})`);
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value as Json;
  } catch (err) {
    throw new ConfigError(setting, `expects a JSON object (${(err as Error).message})`);
  }
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function deepMerge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k] as Json, v) : v;
  return out;
}

function setPath(target: Json, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const p of parts.slice(0, -1)) {
    if (!isObject(node[p])) node[p] = {};
    node = node[p] as Json;
  }
  node[parts.at(-1)!] = value;
}
