/**
 * `risk-engine dlq list [--code CODE] [--limit N]` prints dead letters (CONTRACT §3), one JSON
 * line each; `risk-engine dlq replay [--code CODE] [--since ISO]` produces their original values
 * again to their source topics with their original keys and the header
 * `risk-dlq-replay: <topic>/<partition>/<offset>` (CONTRACT §8).
 *
 * Loop-free: a dead letter carrying that header (a replayed record that failed again; the engine
 * copies the header onto the DLQ record) is never replayed, and every replay writes a marker keyed
 * by the source position to the compacted topic `<dlq>-replayed`, in the same Kafka transaction
 * (embedded: the same LMDB transaction) as the replayed records, so a second replay skips what the
 * first one sent, whether it succeeded or failed again. Concurrent replays are fenced by the one
 * transactional id: run one at a time.
 *
 * Kafka when KAFKA_BROKERS (or --brokers) is set, else the embedded log of DATA_DIR. Embedded
 * replay takes the DATA_DIR lock, so it refuses while an engine runs on that directory (the
 * engine's reader is woken by appends in its own process only); list only reads and works anytime.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Kafka } from 'kafkajs';
import { DLQ_REPLAY_HEADER } from '../../actors/outputRecords.ts';
import { lockDataDir } from '../../app/dataDirLock.ts';
import { isEmbedded, loadSettings, type Env, type Settings } from '../../config/settings.ts';
import { errorMessage } from '../../errors.ts';
import { createLogger, type Logger } from '../../log.ts';
import { EmbeddedLog } from '../../transport/embedded/EmbeddedLog.ts';
import { createKafka } from '../../transport/kafka/kafkaClient.ts';
import { createTopics } from '../../transport/kafka/topics.ts';
import type { InputRecord, OutputRecord } from '../../transport/ports.ts';
import { shardOf } from '../../transport/shardOf.ts';
import { UsageError } from '../usage.ts';
import { withTopicPrefix } from './produce.ts';

export { DLQ_REPLAY_HEADER };

/** The compacted topic of replay markers, next to the dead-letter topic. */
export const replayedTopic = (dlq: string): string => `${dlq}-replayed`;

/** What the command needs of a log: Kafka or the embedded one. */
export interface DlqLog {
  /** Every record of `topic` up to its end at the time of the call (none when it does not exist). */
  readAll(topic: string): Promise<InputRecord[]>;
  /** Produces the records all or none (one transaction). */
  produceAll(records: readonly OutputRecord[]): Promise<void>;
  close(): Promise<void>;
}

export interface DeadLetterBody {
  error: { code: string; message: string };
  source: { topic: string; partition: number; offset: string; key: string | null };
  value: string;
  valueEncoding: 'utf8' | 'base64';
  receivedAt: number;
}

export interface DeadLetter {
  /** Where the dead letter itself is. */
  dlq: { partition: number; offset: string };
  /** The `risk-dlq-replay` header: set on a replayed record that failed again. */
  replayOf: string | null;
  body: DeadLetterBody;
}

export interface DlqFilter {
  code?: string | undefined;
  /** Only dead letters received at or after this time (epoch ms). */
  since?: number | undefined;
}

const sourcePosition = (s: DeadLetterBody['source']): string => `${s.topic}/${s.partition}/${s.offset}`;

/** A DLQ record read back; null when it is not one (written by something else, or damaged). */
export function parseDeadLetter(rec: InputRecord): DeadLetter | null {
  if (rec.value === null) return null;
  try {
    const b = JSON.parse(rec.value.toString('utf8')) as Partial<DeadLetterBody>;
    const s = b.source;
    if (!b.error || typeof b.error.code !== 'string' || !s || typeof s.topic !== 'string' || typeof s.partition !== 'number' || typeof s.offset !== 'string') return null;
    if (typeof b.value !== 'string' || (b.valueEncoding !== 'utf8' && b.valueEncoding !== 'base64')) return null;
    return { dlq: { partition: rec.partition, offset: rec.offset }, replayOf: rec.headers[DLQ_REPLAY_HEADER] ?? null, body: b as DeadLetterBody };
  } catch {
    return null;
  }
}

const matches = (d: DeadLetter, f: DlqFilter): boolean =>
  (f.code === undefined || d.body.error.code === f.code) && (f.since === undefined || d.body.receivedAt >= f.since);

/** The dead letters that pass the filter, oldest first per partition, at most `limit`. */
export function selectDeadLetters(records: readonly InputRecord[], filter: DlqFilter, limit = Infinity): DeadLetter[] {
  const out: DeadLetter[] = [];
  for (const r of records) {
    if (out.length >= limit) break;
    const d = parseDeadLetter(r);
    if (d && matches(d, filter)) out.push(d);
  }
  return out;
}

export interface ReplayPlan {
  /** The original values, to their source topics, with the replay header. */
  records: OutputRecord[];
  /** One marker per replayed dead letter, keyed by its source position. */
  markers: OutputRecord[];
  skipped: { failedAfterReplay: number; replayedBefore: number; notText: number; filtered: number; unreadable: number };
}

/**
 * What a replay sends: the dead letters that pass the filter, less those that are themselves a
 * failed replay (header), those replayed before (marker), and values that are not text (kept as
 * base64: no event is made of them, so they would only fail again).
 */
export function planReplay(dlqRecords: readonly InputRecord[], markerRecords: readonly InputRecord[], dlqTopic: string, filter: DlqFilter, now: number): ReplayPlan {
  const done = new Set(markerRecords.filter((m) => m.key !== null && m.value !== null).map((m) => m.key!.toString('utf8')));
  const plan: ReplayPlan = { records: [], markers: [], skipped: { failedAfterReplay: 0, replayedBefore: 0, notText: 0, filtered: 0, unreadable: 0 } };
  for (const r of dlqRecords) {
    const d = parseDeadLetter(r);
    if (!d) plan.skipped.unreadable++;
    else if (!matches(d, filter)) plan.skipped.filtered++;
    else if (d.replayOf !== null) plan.skipped.failedAfterReplay++;
    else if (done.has(sourcePosition(d.body.source))) plan.skipped.replayedBefore++;
    else if (d.body.valueEncoding !== 'utf8') plan.skipped.notText++;
    else {
      const at = sourcePosition(d.body.source);
      // Marked as in flight too: the DLQ may hold one source position twice (it never should).
      done.add(at);
      plan.records.push({ topic: d.body.source.topic, key: d.body.source.key, value: d.body.value, headers: { [DLQ_REPLAY_HEADER]: at } });
      plan.markers.push({ topic: replayedTopic(dlqTopic), key: at, value: JSON.stringify({ replayedAt: now, dlq: { topic: dlqTopic, ...d.dlq } }) });
    }
  }
  return plan;
}

export interface ReplaySummary {
  replayed: number;
  skipped: ReplayPlan['skipped'];
}

export async function replayDeadLetters(log: DlqLog, dlqTopic: string, filter: DlqFilter, now = Date.now()): Promise<ReplaySummary> {
  const [dlq, markers] = await Promise.all([log.readAll(dlqTopic), log.readAll(replayedTopic(dlqTopic))]);
  const plan = planReplay(dlq, markers, dlqTopic, filter, now);
  if (plan.records.length > 0) await log.produceAll([...plan.records, ...plan.markers]);
  return { replayed: plan.records.length, skipped: plan.skipped };
}

export async function listDeadLetters(log: DlqLog, dlqTopic: string, filter: DlqFilter, limit: number): Promise<DeadLetter[]> {
  return selectDeadLetters(await log.readAll(dlqTopic), filter, limit);
}

/** The embedded log of DATA_DIR as a DlqLog. */
export class EmbeddedDlqLog implements DlqLog {
  constructor(private readonly log: EmbeddedLog) {}

  static open(dataDir: string, partitions: number): EmbeddedDlqLog {
    return new EmbeddedDlqLog(new EmbeddedLog({ dir: join(dataDir, 'log'), partitions }));
  }

  async readAll(topic: string): Promise<InputRecord[]> {
    const out: InputRecord[] = [];
    for (let p = 0; p < this.log.partitionsOf(topic); p++) {
      const end = Number(this.log.endOffset(topic, p));
      let at = Number(this.log.startOffset(topic, p));
      while (at < end) {
        const chunk = this.log.read(topic, p, String(at), 1000).filter((r) => Number(r.offset) < end);
        if (chunk.length === 0) break;
        out.push(...chunk);
        at = Number(chunk.at(-1)!.offset) + 1;
      }
    }
    return out;
  }

  async produceAll(records: readonly OutputRecord[]): Promise<void> {
    await this.log.append(records);
  }

  close(): Promise<void> {
    return this.log.close();
  }
}

/** Kafka as a DlqLog: read_committed reads to the end offsets of the call; one transaction per produce. */
export class KafkaDlqLog implements DlqLog {
  readonly #admin;
  #connected: Promise<void> | null = null;

  constructor(private readonly kafka: Kafka, private readonly settings: Settings, private readonly timeoutMs = 60_000) {
    this.#admin = kafka.admin();
  }

  #connect(): Promise<void> {
    return (this.#connected ??= this.#admin.connect());
  }

  async readAll(topic: string): Promise<InputRecord[]> {
    await this.#connect();
    if (!(await this.#admin.listTopics()).includes(topic)) return [];
    const ends = new Map<number, bigint>();
    for (const o of await this.#admin.fetchTopicOffsets(topic)) if (BigInt(o.high) > BigInt(o.low)) ends.set(o.partition, BigInt(o.high));
    if (ends.size === 0) return [];
    const groupId = `risk-engine-dlq-${process.pid}-${randomBytes(4).toString('hex')}`;
    const consumer = this.kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false });
    const out: InputRecord[] = [];
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`reading ${topic} did not reach its end within ${this.timeoutMs} ms`)), this.timeoutMs);
        // After every batch, control-record-only batches included (a transaction's commit marker is
        // the last offset of a partition the engine wrote; no message of it reaches eachBatch).
        consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
          const end = ends.get(payload.partition);
          if (end !== undefined && BigInt(payload.lastOffset) + 1n >= end) ends.delete(payload.partition);
          if (ends.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        });
        consumer
          .run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              for (const m of batch.messages) {
                const headers: Record<string, string> = {};
                for (const [k, v] of Object.entries(m.headers ?? {})) if (v !== undefined) headers[k] = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
                out.push({ topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value, headers, timestamp: Number(m.timestamp) });
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await this.#admin.deleteGroups([groupId]).catch(() => undefined);
    }
    // Partitions came in any order; records in offset order within each.
    return out.sort((a, b) => a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
  }

  async produceAll(records: readonly OutputRecord[]): Promise<void> {
    await this.#connect();
    const marker = records.find((r) => r.topic === replayedTopic(this.settings.kafka.topics.dlq))?.topic;
    if (marker) {
      await createTopics(this.#admin, [
        { topic: marker, numPartitions: 1, replicationFactor: this.settings.kafka.replicationFactor, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      ]);
    }
    const topics = [...new Set(records.map((r) => r.topic))];
    const meta = await this.#admin.fetchTopicMetadata({ topics });
    const counts = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
    const producer = this.kafka.producer({ transactionalId: 'risk-engine-dlq-replay', idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const tx = await producer.transaction();
      try {
        await tx.sendBatch({
          topicMessages: topics.map((topic) => ({
            topic,
            messages: records
              .filter((r) => r.topic === topic)
              // Where the engine's check expects a keyed record: murmur2 of the key, as Kafka's default partitioner.
              .map((r) => ({ key: r.key, value: r.value, headers: r.headers ?? {}, ...(r.key !== null ? { partition: shardOf(r.key, counts.get(topic) ?? 1) } : {}) })),
          })),
        });
        await tx.commit();
      } catch (err) {
        await tx.abort().catch(() => undefined);
        throw err;
      }
    } finally {
      await producer.disconnect();
    }
  }

  async close(): Promise<void> {
    if (this.#connected) await this.#admin.disconnect();
  }
}

interface DlqCliOptions {
  code?: string;
  limit?: string;
  since?: string;
  brokers?: string;
  topicPrefix?: string;
}

function parseFilter(opts: DlqCliOptions, command: string): DlqFilter {
  let since: number | undefined;
  if (opts.since !== undefined) {
    since = Date.parse(opts.since);
    if (Number.isNaN(since)) throw new UsageError(`--since expects an ISO date-time, got "${opts.since}"`, command);
  }
  return { code: opts.code, since };
}

/** The log the settings point at, and what to release afterwards. */
function openLog(opts: DlqCliOptions, env: Env, forWriting: boolean, log: Logger): { dlq: DlqLog; dlqTopic: string; release: () => void } {
  const settings = withTopicPrefix(loadSettings({ ...env, ...(opts.brokers ? { KAFKA_BROKERS: opts.brokers } : {}) }), opts.topicPrefix);
  const dlqTopic = settings.kafka.topics.dlq;
  if (!isEmbedded(settings)) {
    const kafka = createKafka(settings.kafka.brokers, `risk-engine-dlq-${process.pid}`, log, settings.kafka);
    return { dlq: new KafkaDlqLog(kafka, settings), dlqTopic, release: () => undefined };
  }
  // Refused (exit 2, naming DATA_DIR) while an engine holds the directory: see the file comment.
  const lock = forWriting ? lockDataDir(settings.dataDir) : null;
  try {
    return { dlq: EmbeddedDlqLog.open(settings.dataDir, settings.kafka.partitions), dlqTopic, release: () => lock?.release() };
  } catch (err) {
    lock?.release();
    throw err;
  }
}

async function withLog<T>(opts: DlqCliOptions, forWriting: boolean, work: (dlq: DlqLog, dlqTopic: string) => Promise<T>): Promise<T> {
  const log = createLogger('error', { component: 'dlq' });
  const { dlq, dlqTopic, release } = openLog(opts, process.env, forWriting, log);
  try {
    return await work(dlq, dlqTopic);
  } finally {
    await dlq.close().catch(() => undefined);
    release();
  }
}

async function run(work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as { code?: unknown }).code;
    process.stderr.write(`risk-engine: ${errorMessage(err)}\n`);
    process.exitCode = code === 'CONFIG' ? 2 : 1;
  }
}

export function register(program: Command): void {
  const dlq = program.command('dlq').description('dead letters (risk-events-dlq): list them, replay them to their source topics');
  const common = (c: Command): Command =>
    c
      .option('--code <code>', 'only this error code (INVALID_JSON, SCHEMA, KEY_MISMATCH, TOO_LARGE, POISON)')
      .option('--brokers <list>', 'Kafka brokers host:port[,host:port] (default: KAFKA_BROKERS; unset: the embedded log of DATA_DIR)')
      .option('--topic-prefix <prefix>', 'topic names carry "<prefix>." (test and bench deployments)');
  common(dlq.command('list').description('print dead letters, one JSON line each ({dlq, replayOf, ...the DLQ record})'))
    .option('--limit <n>', 'print at most n', '100')
    .action(async (opts: DlqCliOptions) =>
      run(async () => {
        const limit = Number(opts.limit);
        if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`--limit expects a positive integer, got "${opts.limit}"`, 'risk-engine dlq list');
        const filter = parseFilter(opts, 'risk-engine dlq list');
        const found = await withLog(opts, false, (d, topic) => listDeadLetters(d, topic, filter, limit));
        for (const d of found) process.stdout.write(`${JSON.stringify({ dlq: d.dlq, replayOf: d.replayOf, ...d.body })}\n`);
      }),
    );
  common(dlq.command('replay').description('produce dead letters again to their source topics (original key, header risk-dlq-replay); never one replayed before'))
    .option('--since <iso>', 'only dead letters received at or after this time')
    .action(async (opts: DlqCliOptions) =>
      run(async () => {
        const filter = parseFilter(opts, 'risk-engine dlq replay');
        const summary = await withLog(opts, true, (d, topic) => replayDeadLetters(d, topic, filter));
        process.stdout.write(`${JSON.stringify(summary)}\n`);
      }),
    );
}
