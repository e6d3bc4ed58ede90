/** Shared pieces of the embedded transport tests: temp dirs and a recording shard listener. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { BatchControl, InputBatch, InputRecord, OutputRecord, ShardListener, ShardSink } from '../../../../src/transport/ports.ts';
import type { EventSource } from '../../../../src/transport/ports.ts';

export function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'embedded-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const event = (topic: string, userId: string, n: number): OutputRecord => ({
  topic,
  key: userId,
  value: JSON.stringify({ eventId: `${userId}-${n}`, userId, n }),
});

export interface Delivery {
  shard: number;
  batch: InputBatch;
}

/**
 * A ShardListener like the engine: commits each batch's offsets through the shard's sink (unless
 * `commit` is off) and lets a test await a number of delivered records instead of sleeping.
 */
export class RecordingListener implements ShardListener {
  readonly assigned: { shards: readonly number[]; generation: number }[] = [];
  /** Every hand-over, failed ones included. */
  readonly attempts: Delivery[] = [];
  /** Batches that succeeded (committed unless `commit` is off). */
  readonly deliveries: Delivery[] = [];
  readonly sinks = new Map<number, ShardSink>();
  /** Called before a batch is committed; a throw fails the batch. */
  beforeCommit: (batch: InputBatch) => void | Promise<void> = () => {};
  commit = true;
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(private readonly source: EventSource) {}

  get records(): InputRecord[] {
    return this.deliveries.flatMap((d) => d.batch.records);
  }

  async onAssigned(shards: readonly number[], generation: number): Promise<void> {
    this.assigned.push({ shards, generation });
    for (const s of shards) this.sinks.set(s, await this.source.openSink(s, async () => undefined));
  }

  async onRevoked(): Promise<void> {}

  async onBatch(shard: number, batch: InputBatch, control: BatchControl): Promise<void> {
    await control.heartbeat();
    this.attempts.push({ shard, batch });
    await this.beforeCommit(batch);
    if (this.commit) await this.sinks.get(shard)!.commit([], [{ topic: batch.topic, partition: batch.partition, offset: batch.nextOffset }]);
    this.deliveries.push({ shard, batch });
    this.wake();
  }

  /** Resolves once batches with at least `count` records succeeded. */
  received(count: number): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push({ count, resolve });
      this.wake();
    });
  }

  private wake(): void {
    const have = this.records.length;
    this.waiters = this.waiters.filter((w) => (w.count <= have ? (w.resolve(), false) : true));
  }
}
