/**
 * The pipeline of one shard: group commit, with judging and committing overlapped.
 *
 * The input batches of a shard (one per partition of its topics) that arrive while it is busy
 * wait here, and the next round takes them all: their records are merged (per-partition order
 * kept, across partitions by record timestamp) and cut into chunks; each chunk is judged and
 * journaled in the shard's serial lane and then handed to the commit lane. The commit lane runs
 * at most one Kafka transaction at a time and puts every chunk judged meanwhile into it (at most
 * `maxRecords` records, at most one transaction per `commitIntervalMs`), so round N+1 is judged
 * while round N commits. A batch's promise settles when the transaction holding its last record
 * commits, or rejects when one of its records fails for good; after such a failure everything
 * judged but not committed is dropped too (the source delivers it again).
 *
 * Why the per-user bound spans the chunks in flight: after a crash, every redelivered event must
 * find the decision it was given, in its user's history or in the store's decision index; so a
 * user never has more events judged and not yet committed than the shard can find again
 * (`perUserLimit`: the history's decisions, or a transaction's records with an index). A chunk
 * that would exceed it waits for the transaction in flight.
 */
import type { BatchControl, InputBatch, InputRecord } from '../transport/ports.ts';
import { chunksWithinHistory, userOf, type Chunk } from './chunks.ts';
import { partitionKey } from '../transport/topicPartition.ts';

/** A judged chunk waiting for its transaction. */
export interface Judged<J> {
  chunk: Chunk;
  judged: J;
}

export interface BatchQueueDeps<J> {
  /** Runs work in the shard's serial order; rejects without running it once the shard is stopped. */
  serial(work: () => Promise<void>): Promise<void>;
  /** The records of a batch that are not committed yet. */
  uncommitted(batch: InputBatch): InputBatch;
  /** Judges and journals one chunk (retrying as it sees fit); throws when it failed for good. */
  judge(chunk: Chunk, control: BatchControl): Promise<J>;
  /** Commits judged chunks, in order, in one transaction (retrying as it sees fit); throws when it failed for good. */
  commit(chunks: readonly Judged<J>[], control: BatchControl): Promise<void>;
  /** Events of one user judged and not yet committed (its decision history). */
  perUserLimit: number;
  /** Input records per transaction. */
  maxRecords: number;
  /** Least time between the starts of two transactions; chunks judged meanwhile share the next. */
  commitIntervalMs: number;
  /** Resolves when a shared, paced sink's next transaction is about to begin (ShardSink.nextTransaction). */
  nextTransaction?(): Promise<void>;
  /** After a transaction committed and its records left the backlog. */
  afterCommit?(): void;
  clock(): number;
  sleep(ms: number): Promise<void>;
}

interface Waiting {
  batch: InputBatch;
  control: BatchControl;
  resolve(): void;
  reject(err: unknown): void;
}

/** The waiting batches of one partition taken together, merged into one. */
interface Taken {
  batch: InputBatch;
  control: BatchControl;
  waiters: Waiting[];
}

interface InFlight<J> extends Judged<J> {
  done: Waiting[];
  users: Map<string, number>;
  control: BatchControl;
}


export class ShardBatchQueue<J> {
  private waiting: Waiting[] = [];
  /** A round is queued behind the shard's current work and has not taken its batches yet. */
  private roundQueued = false;
  /** Records the current round took and has not judged yet (its later chunks). */
  private unjudged = 0;
  /** Judged chunks whose transaction has not committed, oldest first. */
  private inFlight: InFlight<J>[] = [];
  /** Per user, events judged and not committed. */
  private readonly uncommittedPerUser = new Map<string, number>();
  /** The commit lane while it runs. */
  private committing: Promise<void> | null = null;
  private lastCommitAt = Number.NEGATIVE_INFINITY;
  /** Bumped by every failure for good: chunks judged before it are not committed. */
  private failures = 0;
  private lastFailure: unknown;

  constructor(private readonly deps: BatchQueueDeps<J>) {}

  /** Resolves once the batch's records are committed; rejects when they fail for good. */
  push(batch: InputBatch, control: BatchControl): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ batch, control, resolve, reject });
      this.scheduleRound();
    });
  }

  /** Records taken and not committed yet (waiting, being judged or committing). */
  get backlog(): number {
    let n = this.pendingRecords() + this.unjudged;
    for (const w of this.waiting) n += w.batch.records.length;
    return n;
  }

  /** Resolves once nothing is committing any more (the current transactions settled). */
  async idle(): Promise<void> {
    while (this.committing) await this.committing;
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

  /**
   * Everything waiting, as one batch per partition: a source that fetches ahead hands over many
   * small batches of a partition while the shard works, and taking one of them per round would
   * leave the shard further behind with every round. A batch that does not follow the one before
   * it (it starts below that one's end) waits for the next round.
   */
  private take(): Taken[] {
    const taken = new Map<string, Taken>();
    const later: Waiting[] = [];
    for (const w of this.waiting) {
      const key = partitionKey(w.batch);
      const group = taken.get(key);
      if (!group) {
        taken.set(key, { batch: w.batch, control: w.control, waiters: [w] });
        continue;
      }
      const first = w.batch.records[0];
      if (later.length || (first && BigInt(first.offset) < BigInt(group.batch.nextOffset))) {
        later.push(w);
        continue;
      }
      group.batch = { ...group.batch, records: group.batch.records.concat(w.batch.records), nextOffset: w.batch.nextOffset };
      group.waiters.push(w);
    }
    this.waiting = later;
    if (later.length) this.scheduleRound();
    return [...taken.values()];
  }

  private async round(taken: readonly Taken[]): Promise<void> {
    const live: Taken[] = [];
    const batches: InputBatch[] = [];
    const failuresBefore = this.failures;
    try {
      for (const group of taken) {
        const batch = this.deps.uncommitted(group.batch);
        if (batch.records.length === 0) {
          for (const w of group.waiters) w.resolve();
        } else {
          live.push(group);
          batches.push(batch);
        }
      }
      const at = new Map(batches.map((b, i) => [partitionKey(b), i]));
      for (const b of batches) this.unjudged += b.records.length;
      for (const chunk of chunksWithinHistory(batches, this.deps.perUserLimit, this.deps.maxRecords)) {
        const users = countUsers(chunk.records);
        if (this.wouldExceed(users)) await this.idle();
        // A failure for good while this round waited: what it holds comes again from the source.
        if (this.failures !== failuresBefore) throw this.lastFailure;
        // The control of a batch in the chunk (all of them keep the same member alive).
        const control = live[at.get(partitionKey(chunk.offsets[0]!))!]!.control;
        const judged = await this.deps.judge(chunk, control);
        if (this.failures !== failuresBefore) throw this.lastFailure;
        for (const [user, n] of users) this.uncommittedPerUser.set(user, (this.uncommittedPerUser.get(user) ?? 0) + n);
        this.unjudged -= chunk.records.length;
        this.inFlight.push({ chunk, judged, done: chunk.completes.flatMap((i) => live[i]!.waiters), users, control });
        this.startCommitting();
      }
    } catch (err) {
      // Settled promises ignore this: only the batches with records not committed yet fail.
      for (const group of taken) for (const w of group.waiters) w.reject(err);
      if (this.failures === failuresBefore) this.fail(err);
    } finally {
      this.unjudged = 0;
    }
  }

  private wouldExceed(users: ReadonlyMap<string, number>): boolean {
    for (const [user, n] of users) if ((this.uncommittedPerUser.get(user) ?? 0) + n > this.deps.perUserLimit) return true;
    return false;
  }

  private startCommitting(): void {
    if (this.committing) return;
    this.committing = this.commitLoop().finally(() => {
      this.committing = null;
    });
  }

  private async commitLoop(): Promise<void> {
    while (this.inFlight.length) {
      const failuresBefore = this.failures;
      const wait = this.lastCommitAt + this.deps.commitIntervalMs - this.deps.clock();
      if (wait > 0 && this.pendingRecords() < this.deps.maxRecords) await this.deps.sleep(wait);
      if (this.deps.nextTransaction) await this.deps.nextTransaction();
      if (this.failures !== failuresBefore) continue;
      const take = this.nextTransaction();
      this.lastCommitAt = this.deps.clock();
      try {
        await this.deps.commit(take, take[0]!.control);
      } catch (err) {
        if (this.failures === failuresBefore) this.fail(err);
        return;
      }
      this.inFlight.splice(0, take.length);
      for (const f of take) {
        for (const [user, n] of f.users) {
          const left = (this.uncommittedPerUser.get(user) ?? 0) - n;
          if (left > 0) this.uncommittedPerUser.set(user, left);
          else this.uncommittedPerUser.delete(user);
        }
        for (const w of f.done) w.resolve();
      }
      this.deps.afterCommit?.();
    }
  }

  private pendingRecords(): number {
    let n = 0;
    for (const f of this.inFlight) n += f.chunk.records.length;
    return n;
  }

  /** The oldest judged chunks that fit one transaction (at least one). */
  private nextTransaction(): InFlight<J>[] {
    let records = 0;
    let n = 0;
    for (const f of this.inFlight) {
      if (n > 0 && records + f.chunk.records.length > this.deps.maxRecords) break;
      records += f.chunk.records.length;
      n++;
    }
    return this.inFlight.slice(0, n);
  }

  /** A failure for good: everything judged and not committed is given up, with the batches it completes. */
  private fail(err: unknown): void {
    this.failures++;
    this.lastFailure = err;
    for (const f of this.inFlight.splice(0)) for (const w of f.done) w.reject(err);
    this.uncommittedPerUser.clear();
  }
}

function countUsers(records: readonly InputRecord[]): Map<string, number> {
  const users = new Map<string, number>();
  for (const rec of records) {
    const user = userOf(rec);
    users.set(user, (users.get(user) ?? 0) + 1);
  }
  return users;
}
