/** The kafkajs client: codecs registered once, kafkajs logs bridged into the engine's logger. */
import kafkajs, { type Kafka, type LogEntry, logLevel as KafkaLogLevel } from 'kafkajs';
import type { Logger } from '../../log.ts';
import { registerCodecs } from './codecs.ts';

export { registerCodecs, zstdCodec } from './codecs.ts';

const { Kafka: KafkaCtor } = kafkajs;

// Producers here use the default (murmur2, Java-compatible) partitioner on purpose: no warning.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

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
 * A broker's answer that leadership moved (a topic just created, a broker restarting): kafkajs
 * logs the response as an error, then refreshes its metadata and retries. Only if the retries
 * run out is there an error, which kafkajs reports apart ("Failed to ...", a crash).
 */
const LEADERSHIP = /not the leader|leader not available|no leader for/i;

/** The level a kafkajs entry is logged at here. */
export function kafkaLogLevel(level: KafkaLogLevel, entry: { message: string; error?: unknown }): 'error' | 'warn' | 'debug' {
  if (isExpectedKafkaLog(entry)) return 'debug';
  if (level <= KafkaLogLevel.ERROR) return entry.message.startsWith('Response ') && typeof entry.error === 'string' && LEADERSHIP.test(entry.error) ? 'warn' : 'error';
  return level === KafkaLogLevel.WARN ? 'warn' : 'debug';
}

export function createKafka(brokers: string[], clientId: string, log: Logger): Kafka {
  registerCodecs();
  const kafkaLog = log.child({ component: 'kafkajs' });
  return new KafkaCtor({
    clientId,
    brokers,
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
