/**
 * Reading a span of topic history for the offline operations (backtest, rebuild): on Kafka with a
 * consumer of a throw-away group that commits nothing (the live group is never touched), on the
 * embedded log by reading its partitions directly. A span is fixed when the operation starts
 * (`[start, end)` per partition), so records produced meanwhile are left for the live engine.
 */
import { randomBytes } from 'node:crypto';
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { OpsError } from './errors.ts';
import type { EmbeddedLog } from '../transport/embedded/EmbeddedLog.ts';
import type { InputRecord } from '../transport/ports.ts';
import { stringHeaders } from '../transport/kafka/headers.ts';

/** Record times (epoch ms): `from` null = the earliest retained record, `to` null = now (the end when the span is taken). */
export interface TimeRange {
  from: number | null;
  to: number | null;
}

/** Offsets `[start, end)` of one partition. */
export interface PartitionSpan {
  topic: string;
  partition: number;
  start: string;
  end: string;
}

export interface HistoryReader {
  /**
   * The spans of every partition of `topics` covering `range`. A topic that does not exist is an
   * error (USAGE: a wrong prefix or broker list), or has no spans with `ifMissing: 'empty'`.
   */
  spans(topics: readonly string[], range: TimeRange, options?: { ifMissing?: 'error' | 'empty' }): Promise<PartitionSpan[]>;
  /** Reads every record of the spans; `onRecords` gets each partition's records in offset order (batches of a partition in order). */
  read(spans: readonly PartitionSpan[], onRecords: (records: InputRecord[]) => void): Promise<void>;
  close(): Promise<void>;
}

export const spanSize = (s: PartitionSpan): number => Math.max(0, Number(BigInt(s.end) - BigInt(s.start)));

/**
 * Kafka: a consumer of a group named for this run only (`<prefix>.<random>`), read_committed,
 * auto-commit off, deleted at the end. kafkajs has no manual assignment, so the group is joined
 * and each partition is seeked to its span's start.
 */
export class KafkaHistoryReader implements HistoryReader {
  readonly #admin: Admin;
  #connected = false;
  readonly #groups: string[] = [];

  constructor(readonly kafka: Kafka, readonly groupPrefix: string) {
    this.#admin = kafka.admin();
  }

  async #adminConnected(): Promise<Admin> {
    if (!this.#connected) {
      await this.#admin.connect();
      this.#connected = true;
    }
    return this.#admin;
  }

  async spans(topics: readonly string[], range: TimeRange, options: { ifMissing?: 'error' | 'empty' } = {}): Promise<PartitionSpan[]> {
    const admin = await this.#adminConnected();
    const existing = new Set(await admin.listTopics());
    const out: PartitionSpan[] = [];
    for (const topic of topics) {
      if (!existing.has(topic)) {
        if (options.ifMissing === 'empty') continue;
        throw new OpsError('USAGE', `topic ${topic} does not exist on the brokers`);
      }
      const offsets = await admin.fetchTopicOffsets(topic);
      // The first offset whose record time is >= t; Kafka answers -1 when there is none (then: the end).
      const at = async (t: number): Promise<Map<number, string>> => {
        const found = await admin.fetchTopicOffsetsByTimestamp(topic, t);
        return new Map(found.map((f) => [f.partition, f.offset]));
      };
      const from = range.from === null ? null : await at(range.from);
      const to = range.to === null ? null : await at(range.to + 1);
      for (const o of offsets) {
        const pick = (m: Map<number, string> | null, fallback: string): string => {
          const v = m?.get(o.partition);
          return v === undefined || v === '-1' ? fallback : v;
        };
        const start = pick(from, from ? o.high : o.low);
        const end = pick(to, o.high);
        out.push({ topic, partition: o.partition, start: BigInt(start) < BigInt(o.low) ? o.low : start, end });
      }
    }
    return out;
  }

  async read(spans: readonly PartitionSpan[], onRecords: (records: InputRecord[]) => void): Promise<void> {
    const pending = new Map<string, PartitionSpan>();
    const id = (topic: string, partition: number) => `${topic}\u0000${partition}`;
    for (const s of spans) if (spanSize(s) > 0) pending.set(id(s.topic, s.partition), s);
    if (pending.size === 0) return;
    const groupId = `${this.groupPrefix}.${Date.now().toString(36)}.${randomBytes(4).toString('hex')}`;
    this.#groups.push(groupId);
    const consumer: Consumer = this.kafka.consumer({
      groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 8 * 1024 * 1024,
      maxBytes: 64 * 1024 * 1024,
      sessionTimeout: 30_000,
    });
    await consumer.connect();
    try {
      const topics = [...new Set([...pending.values()].map((s) => s.topic))];
      await consumer.subscribe({ topics, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const finish = (topic: string, partition: number) => {
          if (!pending.delete(id(topic, partition))) return;
          consumer.pause([{ topic, partitions: [partition] }]);
          if (pending.size === 0) resolve();
        };
        // A batch of control records only (transaction markers) never reaches eachBatch; its end event does.
        consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
          const span = pending.get(id(e.payload.topic, e.payload.partition));
          if (span && BigInt(e.payload.lastOffset) + 1n >= BigInt(span.end)) finish(span.topic, span.partition);
        });
        consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
        consumer
          .run({
            autoCommit: false,
            eachBatchAutoResolve: false,
            eachBatch: async ({ batch }) => {
              const span = pending.get(id(batch.topic, batch.partition));
              if (!span) return;
              const end = BigInt(span.end);
              const start = BigInt(span.start);
              const records: InputRecord[] = [];
              for (const m of batch.messages) {
                const offset = BigInt(m.offset);
                if (offset < start || offset >= end) continue;
                records.push({ topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value, headers: stringHeaders(m.headers), timestamp: Number(m.timestamp) });
              }
              if (records.length) onRecords(records);
            },
          })
          .catch(reject);
        for (const s of pending.values()) if (BigInt(s.start) > 0n) consumer.seek({ topic: s.topic, partition: s.partition, offset: s.start });
      });
    } finally {
      await consumer.disconnect();
    }
  }

  async close(): Promise<void> {
    if (!this.#connected) return;
    // The throw-away groups never committed anything; deleting them only tidies the broker.
    if (this.#groups.length) await this.#admin.deleteGroups(this.#groups).catch(() => undefined);
    await this.#admin.disconnect();
    this.#connected = false;
  }
}

/** The embedded log, read directly: no group, nothing committed. */
export class EmbeddedHistoryReader implements HistoryReader {
  constructor(readonly log: EmbeddedLog, readonly chunk = 5000) {}

  /** The first offset at or after `from` whose record time is >= t (the end when none is). */
  #firstAtOrAfter(topic: string, partition: number, from: string, end: string, t: number): string {
    let at = from;
    while (BigInt(at) < BigInt(end)) {
      const recs = this.log.read(topic, partition, at, this.chunk);
      if (recs.length === 0) break;
      for (const r of recs) if (r.timestamp >= t) return r.offset;
      at = (BigInt(recs.at(-1)!.offset) + 1n).toString();
    }
    return end;
  }

  async spans(topics: readonly string[], range: TimeRange): Promise<PartitionSpan[]> {
    const out: PartitionSpan[] = [];
    for (const topic of topics) {
      const partitions = this.log.partitionsOf(topic);
      for (let partition = 0; partition < partitions; partition++) {
        const low = this.log.startOffset(topic, partition);
        const high = this.log.endOffset(topic, partition);
        const start = range.from === null ? low : this.#firstAtOrAfter(topic, partition, low, high, range.from);
        const end = range.to === null ? high : this.#firstAtOrAfter(topic, partition, start, high, range.to + 1);
        out.push({ topic, partition, start, end });
      }
    }
    return out;
  }

  async read(spans: readonly PartitionSpan[], onRecords: (records: InputRecord[]) => void): Promise<void> {
    for (const s of spans) {
      let at = s.start;
      const end = BigInt(s.end);
      while (BigInt(at) < end) {
        const recs = this.log.read(s.topic, s.partition, at, this.chunk).filter((r) => BigInt(r.offset) < end);
        if (recs.length === 0) break;
        onRecords(recs);
        at = (BigInt(recs.at(-1)!.offset) + 1n).toString();
        // Reading is synchronous (LMDB): yield so that a progress bar and signals get their turn.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }

  async close(): Promise<void> {}
}
