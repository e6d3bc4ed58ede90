/** Fixtures of the ops unit tests: an in-memory history reader, input records and live decisions. */
import { shardOf, type Decision } from '../../../src/domain/index.ts';
import type { HistoryReader, PartitionSpan, TimeRange } from '../../../src/ops/history.ts';
import type { InputRecord } from '../../../src/transport/ports.ts';

/** Topics as arrays of partitions, each an array of records (offset = index). */
export class MemoryHistory implements HistoryReader {
  readonly topics = new Map<string, InputRecord[][]>();
  readonly reads: PartitionSpan[][] = [];

  constructor(readonly partitions: number) {}

  append(topic: string, partition: number, key: string | null, value: string | Buffer, timestamp: number): InputRecord {
    let parts = this.topics.get(topic);
    if (!parts) this.topics.set(topic, (parts = Array.from({ length: this.partitions }, () => [])));
    const list = parts[partition]!;
    const rec: InputRecord = { topic, partition, offset: String(list.length), key: key === null ? null : Buffer.from(key), value: Buffer.isBuffer(value) ? value : Buffer.from(value), headers: {}, timestamp };
    list.push(rec);
    return rec;
  }

  /** An event on its topic, keyed by user, on the partition its key hashes to. */
  event<E extends { userId: string; timestamp: number }>(topic: string, e: E, recordTime = e.timestamp): InputRecord {
    return this.append(topic, shardOf(e.userId, this.partitions), e.userId, JSON.stringify(e), recordTime);
  }

  decision(topic: string, d: Decision, recordTime: number): InputRecord {
    return this.append(topic, shardOf(d.userId, this.partitions), d.userId, JSON.stringify(d), recordTime);
  }

  async spans(topics: readonly string[], range: TimeRange): Promise<PartitionSpan[]> {
    const out: PartitionSpan[] = [];
    for (const topic of topics) {
      const parts = this.topics.get(topic) ?? Array.from({ length: this.partitions }, () => []);
      parts.forEach((list, partition) => {
        const first = (t: number) => {
          const i = list.findIndex((r) => r.timestamp >= t);
          return i < 0 ? list.length : i;
        };
        const start = range.from === null ? 0 : first(range.from);
        const end = range.to === null ? list.length : Math.max(start, first(range.to + 1));
        out.push({ topic, partition, start: String(start), end: String(end) });
      });
    }
    return out;
  }

  async read(spans: readonly PartitionSpan[], onRecords: (records: InputRecord[]) => void): Promise<void> {
    this.reads.push([...spans]);
    for (const s of spans) {
      const list = this.topics.get(s.topic)?.[s.partition] ?? [];
      const records = list.slice(Number(s.start), Number(s.end));
      // In two batches, as a consumer would hand them over.
      const half = Math.ceil(records.length / 2);
      if (records.length) onRecords(records.slice(0, half));
      if (records.length > half) onRecords(records.slice(half));
    }
  }

  async close(): Promise<void> {}
}
