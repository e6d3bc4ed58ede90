/**
 * Group commit for one shard. The input batches of a shard (one per partition of its topics)
 * that arrive while it is busy wait here, and the next round takes them all: their records are
 * merged (per-partition order kept, across partitions by record timestamp), cut into
 * transactions, and each batch's promise settles when the transaction holding its last record
 * commits, or rejects when one of its records fails for good.
 */
import type { BatchControl, ConsumedOffset, InputBatch, InputRecord } from '../transport/ports.ts';

/** The records and consumed offsets of one transaction. */
export interface Chunk {
  /** In judging order. */
  records: InputRecord[];
  /** For every partition the chunk touches, the next offset to read once it is committed. */
  offsets: ConsumedOffset[];
  /** Indexes of the batches whose last record is in this chunk: they are done once it commits. */
  completes: number[];
}

export interface BatchQueueDeps {
  /** Runs work in the shard's serial order; rejects without running it once the shard is stopped. */
  serial(work: () => Promise<void>): Promise<void>;
  /** The records of a batch that are not committed yet. */
  uncommitted(batch: InputBatch): InputBatch;
  /** Judges and commits one transaction (retrying as it sees fit); throws when it failed for good. */
  commit(chunk: Chunk, control: BatchControl): Promise<void>;
  /** Events of one user per transaction (its decision history). */
  perUserLimit: number;
  /** Input records per transaction. */
  maxRecords: number;
}

interface Waiting {
  batch: InputBatch;
  control: BatchControl;
  resolve(): void;
  reject(err: unknown): void;
}

const partitionKey = (b: { topic: string; partition: number }) => `${b.topic}\u0000${b.partition}`;

export class ShardBatchQueue {
  private waiting: Waiting[] = [];
  /** A round is queued behind the shard's current work and has not taken its batches yet. */
  private roundQueued = false;

  constructor(private readonly deps: BatchQueueDeps) {}

  /** Resolves once the batch's records are committed; rejects when they fail for good. */
  push(batch: InputBatch, control: BatchControl): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ batch, control, resolve, reject });
      this.scheduleRound();
    });
  }

  private scheduleRound(): void {
    if (this.roundQueued) return;
    this.roundQueued = true;
    this.deps
      .serial(async () => {
        // The batches of one fetch reach the shard within one turn of the event loop: let the
        // others in before the round takes what is waiting.
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.roundQueued = false;
        await this.round(this.take());
      })
      .catch((err: unknown) => {
        // The shard stopped before the round began: nothing of what waits will be committed here.
        this.roundQueued = false;
        for (const w of this.waiting.splice(0)) w.reject(err);
      });
  }

  /** Everything waiting, but at most one batch per partition (its records must be contiguous). */
  private take(): Waiting[] {
    const taken: Waiting[] = [];
    const later: Waiting[] = [];
    const seen = new Set<string>();
    for (const w of this.waiting) {
      const key = partitionKey(w.batch);
      (seen.has(key) ? later : taken).push(w);
      seen.add(key);
    }
    this.waiting = later;
    if (later.length) this.scheduleRound();
    return taken;
  }

  private async round(taken: readonly Waiting[]): Promise<void> {
    const live: Waiting[] = [];
    const batches: InputBatch[] = [];
    try {
      for (const w of taken) {
        const batch = this.deps.uncommitted(w.batch);
        if (batch.records.length === 0) {
          w.resolve();
        } else {
          live.push(w);
          batches.push(batch);
        }
      }
      const at = new Map(batches.map((b, i) => [partitionKey(b), i]));
      for (const chunk of chunksWithinHistory(batches, this.deps.perUserLimit, this.deps.maxRecords)) {
        // The control of a batch in the chunk (all of them keep the same member alive).
        const control = live[at.get(partitionKey(chunk.offsets[0]!))!]!.control;
        await this.deps.commit(chunk, control);
        for (const i of chunk.completes) live[i]!.resolve();
      }
    } catch (err) {
      // Settled promises ignore this: only the batches with records not committed yet fail.
      for (const w of taken) w.reject(err);
    }
  }
}

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
 * Cuts the merged records of a shard's batches (at most one per partition) into transactions: no
 * user has more events in one than its decision history keeps (after a crash every redelivered
 * event still finds the decision it was given), and none holds more than `maxRecords` events (its
 * output must fit the broker's maximum request size). A chunk commits, per partition it touches,
 * the offset after its last record there, or the batch's `nextOffset` when that is the batch's
 * last record.
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
    const user = rec.key?.toString('utf8') ?? '';
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
