/**
 * How a shard's waiting batches become the chunks it judges (pure): merged into one judging order
 * (each partition's order kept, across partitions by record timestamp) and cut so that no user
 * has more events in a chunk than can be found again after a crash, nor a chunk more records than
 * a transaction holds.
 */
import type { ConsumedOffset, InputBatch, InputRecord } from '../transport/ports.ts';
import { partitionKey } from '../transport/topicPartition.ts';

/** The records and consumed offsets of one chunk. */
export interface Chunk {
  /** In judging order. */
  records: InputRecord[];
  /** For every partition the chunk touches, the next offset to read once it is committed. */
  offsets: ConsumedOffset[];
  /** Indexes of the batches whose last record is in this chunk: they are done once it commits. */
  completes: number[];
}

export const userOf = (rec: InputRecord): string => rec.key?.toString('utf8') ?? '';

/**
 * The records of several batches in one judging order: each partition's order is kept whatever
 * the timestamps; across partitions the record with the earliest timestamp goes first (ties to
 * the batch that came first). With timestamps rising within each partition, as producers write
 * them, every user's events come out in timestamp order.
 */
export function mergeByTimestamp(batches: readonly InputBatch[]): InputRecord[] {
  if (batches.length === 1) return [...batches[0]!.records];
  const heads = batches.map(() => 0);
  const out: InputRecord[] = [];
  for (;;) {
    let pick = -1;
    for (let i = 0; i < batches.length; i++) {
      const rec = batches[i]!.records[heads[i]!];
      if (rec && (pick < 0 || rec.timestamp < batches[pick]!.records[heads[pick]!]!.timestamp)) pick = i;
    }
    if (pick < 0) return out;
    out.push(batches[pick]!.records[heads[pick]!++]!);
  }
}

/**
 * Cuts the merged records of a shard's batches (at most one per partition) into chunks: no user
 * has more events in one than its decision history keeps, and none holds more than `maxRecords`
 * events (a transaction's output must fit the broker's maximum request size). A chunk commits,
 * per partition it touches, the offset after its last record there, or the batch's `nextOffset`
 * when that is the batch's last record.
 */
export function chunksWithinHistory(batches: readonly InputBatch[], perUserLimit: number, maxRecords = Number.POSITIVE_INFINITY): Chunk[] {
  const index = new Map(batches.map((b, i) => [partitionKey(b), i]));
  const chunks: Chunk[] = [];
  let current: InputRecord[] = [];
  let counts = new Map<string, number>();
  const close = () => {
    const last = new Map<number, InputRecord>();
    for (const rec of current) last.set(index.get(partitionKey(rec))!, rec);
    const offsets: ConsumedOffset[] = [];
    const completes: number[] = [];
    for (const [i, rec] of [...last].sort(([a], [b]) => a - b)) {
      const batch = batches[i]!;
      const done = rec === batch.records.at(-1);
      if (done) completes.push(i);
      offsets.push({ topic: batch.topic, partition: batch.partition, offset: done ? batch.nextOffset : (BigInt(rec.offset) + 1n).toString() });
    }
    chunks.push({ records: current, offsets, completes });
  };
  for (const rec of mergeByTimestamp(batches)) {
    const user = userOf(rec);
    const n = (counts.get(user) ?? 0) + 1;
    if ((n > perUserLimit || current.length >= maxRecords) && current.length) {
      close();
      current = [];
      counts = new Map();
    }
    current.push(rec);
    counts.set(user, (counts.get(user) ?? 0) + 1);
  }
  if (current.length) close();
  return chunks;
}
