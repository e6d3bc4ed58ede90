/**
 * Input from the embedded log: one member (this process) owns every shard, so there is no group
 * protocol and no rebalance. Each (input topic, partition) has its own loop, like kafkajs's
 * per-partition batches: read from the committed offset, hand the batch to the listener, go on
 * once it resolves, wait for an append when caught up. Offsets are only committed through the
 * shard sinks (atomically with the output), never by the loops.
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../../log.ts';
import { ConfigError, EngineError, errorCode } from '../../errors.ts';
import type { BatchControl, ConsumedOffset, EventSource, InputBatch, OutputRecord, ShardListener, ShardPosition, ShardSink } from '../ports.ts';
import { isLogName, type EmbeddedLog } from './EmbeddedLog.ts';

export interface EmbeddedEventSourceOptions {
  /** Input topics; all get `partitions` partitions (created when missing, checked when present). */
  inputs: readonly string[];
  partitions: number;
  groupId: string;
  logger: Logger;
  /** Records per batch; default 500. */
  maxBatch?: number;
  /** Without a committed offset: from the first record (default) or only new ones (KAFKA_FROM_BEGINNING). */
  fromBeginning?: boolean;
  /** First back-off after a failed batch, doubled on every further failure; default 100 ms. */
  retryDelayMs?: number;
  /** Back-off ceiling; default 5000 ms. */
  maxRetryDelayMs?: number;
}

// Nothing to keep alive: there is no group coordinator to evict a slow member.
const CONTROL: BatchControl = { heartbeat: async () => {} };

export class EmbeddedEventSource implements EventSource {
  readonly generation = 1;
  readonly memberId = 'embedded';
  private readonly shards: number[];
  private readonly maxBatch: number;
  private abort: AbortController | null = null;
  private loops: Promise<void>[] = [];
  /** Shards whose last batch was refused as fenced. */
  private readonly fenced = new Set<number>();

  constructor(
    private readonly log: EmbeddedLog,
    private readonly options: EmbeddedEventSourceOptions,
  ) {
    this.maxBatch = options.maxBatch ?? 500;
    if (!Number.isSafeInteger(this.maxBatch) || this.maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${this.maxBatch}`);
    if (!isLogName(options.groupId)) throw new ConfigError('KAFKA_GROUP_ID', 'expects a group id without control characters or lone surrogates in embedded mode');
    for (const topic of options.inputs) log.ensureTopic(topic, options.partitions);
    // Retention then keeps every input record until this group has committed it.
    log.registerConsumer(options.groupId, options.inputs);
    this.shards = [...Array(options.partitions).keys()];
  }

  isConnected(): boolean {
    return this.abort !== null;
  }

  async start(listener: ShardListener): Promise<void> {
    if (this.abort) throw new EngineError('INTERNAL', 'embedded event source already started');
    const abort = new AbortController();
    // Every loop waits on this one signal (for an append or a back-off), one listener each.
    setMaxListeners(this.options.inputs.length * this.shards.length + 1, abort.signal);
    this.abort = abort;
    // Where each loop starts is fixed now: with fromBeginning=false, "new" means after start().
    const from = this.options.inputs.flatMap((topic) => this.shards.map((p) => ({ topic, p, offset: this.startAt(topic, p) })));
    try {
      await listener.onAssigned(this.shards, this.generation);
    } catch (err) {
      this.abort = null;
      throw err;
    }
    this.loops = from.map(({ topic, p, offset }) => this.consume(listener, topic, p, offset, abort.signal));
  }

  /** Stops fetching and waits for the batches in flight; the engine revokes its shards itself. */
  async stop(): Promise<void> {
    const abort = this.abort;
    if (!abort) return;
    abort.abort();
    await Promise.all(this.loops);
    this.loops = [];
    this.abort = null;
  }

  /**
   * Shards whose batches the engine refuses as FENCED: another owner took the shard (another
   * process on the same data, which the DATA_DIR lock prevents) or the engine dropped it. Here
   * nobody hands a shard back, so such a shard stays lost until a restart: not ready.
   */
  fencedShards(): number[] {
    return [...this.fenced].sort((a, b) => a - b);
  }

  async openSink(shard: number): Promise<ShardSink> {
    return new EmbeddedShardSink(this.log, this.options.groupId, shard);
  }

  async committedOffsets(shard: number): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const topic of this.options.inputs) {
      const at = this.log.committed(this.options.groupId, topic, shard);
      if (at !== null) out[topic] = at;
    }
    return out;
  }

  async positions(shards: readonly number[]): Promise<ShardPosition[]> {
    return shards.map((shard) => {
      const committed: Record<string, string> = {};
      let lag = 0;
      for (const topic of this.options.inputs) {
        const at = this.log.committed(this.options.groupId, topic, shard) ?? this.log.startOffset(topic, shard);
        committed[topic] = at;
        lag += Math.max(0, Number(this.log.endOffset(topic, shard)) - Number(at));
      }
      return { shard, committed, lag };
    });
  }

  private startAt(topic: string, partition: number): string {
    const committed = this.log.committed(this.options.groupId, topic, partition);
    if (committed !== null) return committed;
    return this.options.fromBeginning === false ? this.log.endOffset(topic, partition) : this.log.startOffset(topic, partition);
  }

  private async consume(listener: ShardListener, topic: string, partition: number, from: string, signal: AbortSignal): Promise<void> {
    let offset = from;
    while (!signal.aborted) {
      try {
        const records = this.log.read(topic, partition, offset, this.maxBatch);
        const last = records.at(-1);
        if (!last) {
          await this.log.waitForAppend(topic, partition, offset, signal);
          continue;
        }
        const batch: InputBatch = { topic, partition, records, nextOffset: String(Number(last.offset) + 1) };
        if (await this.deliver(listener, batch, signal)) offset = batch.nextOffset;
      } catch (err) {
        // Only the log itself can fail here (closed under us); the loop must not die silently.
        if (signal.aborted) return;
        this.options.logger.error({ err, topic, partition, offset }, 'reading the embedded log failed; retrying');
        if (!(await pause(this.options.maxRetryDelayMs ?? 5000, signal))) return;
      }
    }
  }

  /** Hands the batch over until it succeeds: records are never skipped. False when stopped first. */
  private async deliver(listener: ShardListener, batch: InputBatch, signal: AbortSignal): Promise<boolean> {
    const max = this.options.maxRetryDelayMs ?? 5000;
    for (let wait = this.options.retryDelayMs ?? 100; ; wait = Math.min(wait * 2, max)) {
      const { topic, partition } = batch;
      try {
        await listener.onBatch(partition, batch, CONTROL);
        this.fenced.delete(partition);
        return true;
      } catch (err) {
        const fenced = errorCode(err) === 'FENCED';
        const known = fenced && this.fenced.has(partition);
        if (fenced) this.fenced.add(partition);
        // Said once per shard: retrying a fenced shard every few seconds adds nothing to the log.
        if (!known) {
          this.options.logger.warn({ err, topic, partition, fromOffset: batch.records[0]?.offset, retryInMs: wait }, fenced ? 'shard fenced by another owner; its batches are refused' : 'batch failed; retrying it');
        }
      }
      if (!(await pause(wait, signal))) return false;
    }
  }
}

/** A shard's output: records and consumed offsets in one log transaction. */
export class EmbeddedShardSink implements ShardSink {
  private closed = false;

  constructor(
    private readonly log: EmbeddedLog,
    private readonly groupId: string,
    readonly shard: number,
  ) {}

  async commit(records: readonly OutputRecord[], offsets: readonly ConsumedOffset[]): Promise<void> {
    if (this.closed) throw new EngineError('UNAVAILABLE', `shard ${this.shard}: sink is closed`);
    await this.log.commit(records, offsets, this.groupId);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** Waits `ms`; false when the signal aborted first. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
