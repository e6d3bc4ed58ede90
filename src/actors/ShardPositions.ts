/**
 * Where a shard stands in each of its input partitions (one per input topic: the topic names it):
 * committed, taken into the pipeline, first fetched; and the source's fetch controls, for
 * back-pressure (pausing) and for fetching again from the committed offset after a failure.
 */
import type { Logger } from '../log.ts';
import type { BatchControl, ConsumedOffset, InputBatch } from '../transport/ports.ts';

type FetchControl = NonNullable<BatchControl['pipelined']>;

/** The records of a batch at or after `upTo` (a batch is in offset order). */
function from(batch: InputBatch, upTo: bigint | undefined): InputBatch {
  const first = batch.records[0];
  if (upTo === undefined || !first || BigInt(first.offset) >= upTo) return batch;
  return { ...batch, records: batch.records.filter((r) => BigInt(r.offset) >= upTo) };
}

export class ShardPositions {
  /**
   * Per input topic, the offset up to which this shard's records are committed: at open, the
   * group's committed offset (read once the previous owner was fenced), then each commit's. A
   * record below it is done already and is never judged again, whatever the source fetches: it may
   * have read the group's offsets before a previous owner's last transaction completed, and it
   * re-fetches a whole batch when a later chunk of that batch fails.
   */
  private readonly committedUpTo: Map<string, bigint>;
  /** Per input topic, the offset after the last record taken into the pipeline. */
  private readonly takenUpTo = new Map<string, bigint>();
  /** Per input topic, the first offset taken (where to fetch again when nothing was committed yet). */
  private readonly fetchedFrom = new Map<string, bigint>();
  private readonly fetchControls = new Map<string, FetchControl>();
  /** Resumes of partitions paused for back-pressure. */
  private readonly resumes: (() => void)[] = [];

  constructor(
    committed: Record<string, string>,
    /** Records taken and not committed past which the shard's partitions pause. */
    private readonly maxBacklog: number,
    private readonly shard: number,
    private readonly log: Logger,
  ) {
    this.committedUpTo = new Map(Object.entries(committed).map(([topic, offset]) => [topic, BigInt(offset)]));
  }

  /**
   * The records of a delivered batch not taken yet, now taken. Fetching ahead means a source may
   * deliver records again that the shard has taken but not committed (kafkajs goes back to the
   * committed offsets when its group rebalances and the member keeps the shard): they are in the
   * pipeline already and must not be judged twice.
   */
  take(input: InputBatch, control: BatchControl): InputBatch {
    const batch = from(input, this.takenUpTo.get(input.topic));
    const first = batch.records[0];
    if (!first) return batch;
    if (!this.fetchedFrom.has(batch.topic)) this.fetchedFrom.set(batch.topic, BigInt(first.offset));
    this.takenUpTo.set(batch.topic, BigInt(batch.nextOffset));
    if (control.pipelined) this.fetchControls.set(batch.topic, control.pipelined);
    return batch;
  }

  /** What was taken failed for good: the source delivers those records again, and they must be taken then. */
  forgetTaken(): void {
    this.takenUpTo.clear();
  }

  /** Pauses the batch's partition when the shard has more than its backlog allows. */
  pauseIfBehind(control: BatchControl, backlog: number): void {
    if (control.pipelined && backlog > this.maxBacklog) this.resumes.push(control.pipelined.pause());
  }

  /** The records of a batch that are not committed yet (those that are, are logged as skipped). */
  uncommitted(batch: InputBatch): InputBatch {
    const upTo = this.committedUpTo.get(batch.topic);
    const left = from(batch, upTo);
    if (left !== batch) this.log.warn({ shard: this.shard, topic: batch.topic, skipped: batch.records.length - left.records.length, committed: upTo!.toString() }, 'skipped records that are committed already');
    return left;
  }

  /** A transaction committed these offsets. */
  committed(offsets: readonly ConsumedOffset[]): void {
    for (const o of offsets) this.committedUpTo.set(o.topic, BigInt(o.offset));
  }

  /**
   * Paused partitions resume once the backlog is down to half its bound. Called after a commit,
   * with the backlog that commit left: counting its own records too would keep a partition
   * paused for one more commit, and for good when no commit follows.
   */
  resumeIfCaughtUp(backlog: number): void {
    if (this.resumes.length === 0 || backlog > this.maxBacklog / 2) return;
    for (const resume of this.resumes.splice(0)) resume();
  }

  /** Fetches every partition of the shard again from its committed offset (after a failure for good). */
  seekToCommitted(): void {
    for (const [topic, control] of this.fetchControls) {
      const at = this.committedUpTo.get(topic) ?? this.fetchedFrom.get(topic);
      if (at !== undefined) control.seek(at.toString());
    }
  }
}
