/** The kafkajs client: codecs registered once, kafkajs logs bridged into the engine's logger. */
import kafkajs, { type Kafka, type KafkaConfig, type LogEntry, type SASLOptions, logLevel as KafkaLogLevel } from 'kafkajs';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../errors.ts';
import type { KafkaSaslMechanism } from '../../config/connections.ts';
import type { Logger } from '../../log.ts';
import { registerCodecs } from './codecs.ts';

export { registerCodecs, zstdCodec } from './codecs.ts';

const { Kafka: KafkaCtor } = kafkajs;

// Producers here use the default (murmur2, Java-compatible) partitioner on purpose: no warning.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

// kafkajs 2.2.4 arms its request queue's check with a negative delay (tulios/kafkajs#1751, not
// fixed in any release): Node 24 prints a TimeoutNegativeWarning for it, where Node 20 clamps the
// delay to 1 ms silently (as Node 24 still does). Only warnings raised from that queue are dropped.
const emitWarning = process.emitWarning;
process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
  const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
  if (type === 'TimeoutNegativeWarning' && /kafkajs[\\/]src[\\/]network[\\/]requestQueue/.test(new Error().stack ?? '')) return;
  return (emitWarning as (...a: unknown[]) => void).call(this, warning, ...rest);
} as typeof process.emitWarning;

/**
 * kafkajs warnings that are expected by design: transactional producers retry a bounded number
 * of times (a transaction that fails is aborted and its batch retried), the broker answers the
 * first request of a transaction that follows a commit with CONCURRENT_TRANSACTIONS (kafkajs
 * retries it; the error's text is in the entry's `error`, or in the message of "Failed to send
 * messages"), and coordinators are not available for a moment after a group or transactional id
 * is first used.
 */
const EXPECTED = [
  /^Limiting retries for the idempotent producer/,
  /CONCURRENT_TRANSACTIONS|concurrent transactions|another concurrent operation on the same transaction/i,
  /coordinator is not available/i,
];

/** True for a kafkajs log entry that is expected by design and logged at debug level only. */
export function isExpectedKafkaLog(entry: { message: string; error?: unknown }): boolean {
  const text = typeof entry.error === 'string' ? `${entry.message} ${entry.error}` : entry.message;
  return EXPECTED.some((re) => re.test(text));
}

/**
 * A broker's answer that leadership moved or a topic is not known to it yet (a topic just
 * created, a broker restarting): kafkajs
 * logs the response as an error, then refreshes its metadata and retries. Only if the retries
 * run out is there an error, which kafkajs reports apart ("Failed to ...", a crash).
 */
const LEADERSHIP = /not the leader|leader not available|no leader for|does not host this topic-partition/i;

/**
 * Refused SASL credentials: kafkajs logs them three times, then throws them to the caller, which
 * reports them once (at start: one line naming the settings, exit 2; later: the client's crash).
 */
const SASL_REFUSED = /authentication failed|SaslAuthenticate/i;

/** The level a kafkajs entry is logged at here. */
export function kafkaLogLevel(level: KafkaLogLevel, entry: { message: string; error?: unknown }): 'error' | 'warn' | 'debug' {
  if (isExpectedKafkaLog(entry)) return 'debug';
  if (SASL_REFUSED.test(entry.message) || (typeof entry.error === 'string' && SASL_REFUSED.test(entry.error))) return 'debug';
  if (level <= KafkaLogLevel.ERROR) return entry.message.startsWith('Response ') && typeof entry.error === 'string' && LEADERSHIP.test(entry.error) ? 'warn' : 'error';
  return level === KafkaLogLevel.WARN ? 'warn' : 'debug';
}

/** How to reach a managed Kafka: the `kafka.*` connection settings (all optional: plain TCP). */
export interface KafkaSecurity {
  saslMechanism?: KafkaSaslMechanism | undefined;
  saslUsername?: string | undefined;
  saslPassword?: string | undefined;
  ssl?: boolean | undefined;
  sslCaFile?: string | undefined;
}

/** The kafkajs `ssl` and `sasl` options of the settings (the CA file is read here, once). */
export function kafkaSecurityOptions(s: KafkaSecurity): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (s.sslCaFile !== undefined) out.ssl = { ca: [readFileSync(s.sslCaFile, 'utf8')] };
  else if (s.ssl) out.ssl = true;
  if (s.saslMechanism && s.saslUsername !== undefined && s.saslPassword !== undefined) {
    out.sasl = { mechanism: s.saslMechanism, username: s.saslUsername, password: s.saslPassword } as SASLOptions;
  }
  return out;
}

/**
 * A failure to connect at start, as the engine reports it: refused credentials are a bad setting
 * (one line, exit 2); anything else is passed on. kafkajs's message names the mechanism and the
 * broker's answer, never the password.
 */
export function kafkaConnectError(err: unknown): unknown {
  const e = err as { name?: string; message?: string } | null;
  if (e?.name === 'KafkaJSSASLAuthenticationError') {
    return new ConfigError('KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD', `expects credentials the Kafka brokers accept (${e.message})`);
  }
  return err;
}

export function createKafka(brokers: string[], clientId: string, log: Logger, security: KafkaSecurity = {}): Kafka {
  registerCodecs();
  const kafkaLog = log.child({ component: 'kafkajs' });
  return new KafkaCtor({
    clientId,
    brokers,
    ...kafkaSecurityOptions(security),
    connectionTimeout: 3000,
    requestTimeout: 30000,
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5000 },
    logLevel: KafkaLogLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        kafkaLog[kafkaLogLevel(level, entry)](rest, message);
      },
  });
}
