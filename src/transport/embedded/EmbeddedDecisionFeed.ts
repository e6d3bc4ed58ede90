/** The embedded adapter of the DecisionFeed port (../ports.ts). */
import type { DecisionFeed, DecisionRecord } from '../ports.ts';
import type { EmbeddedLog } from './EmbeddedLog.ts';

/** Decisions of the embedded log: the shard sinks append them with their offsets in one transaction, so what is appended is committed. */
export class EmbeddedDecisionFeed implements DecisionFeed {
  readonly #listeners = new Map<(record: DecisionRecord) => void, () => boolean>();
  readonly #next = new Map<number, number>();
  #unsubscribe: (() => void) | null = null;

  constructor(
    private readonly log: EmbeddedLog,
    private readonly topic: string,
    private readonly partitions: number,
  ) {}

  async start(): Promise<void> {
    if (this.#unsubscribe) return;
    for (let p = 0; p < this.partitions; p++) this.#next.set(p, Number(this.log.endOffset(this.topic, p)));
    this.#unsubscribe = this.log.onAppend((notice) => {
      if (notice.topic === this.topic) this.#readTo(notice.partition, Number(notice.endOffset));
    });
  }

  onRecord(listener: (record: DecisionRecord) => void, active: () => boolean = () => true): () => void {
    this.#listeners.set(listener, active);
    return () => void this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  #readTo(partition: number, end: number): void {
    let at = this.#next.get(partition) ?? 0;
    const wanted = [...this.#listeners].some(([, active]) => active());
    while (wanted && at < end) {
      const records = this.log.read(this.topic, partition, String(at), Math.min(1000, end - at));
      if (records.length === 0) break;
      for (const r of records) {
        if (r.key === null || r.value === null) continue;
        const record = { userId: r.key.toString('utf8'), value: r.value };
        for (const listener of this.#listeners.keys()) listener(record);
      }
      at = Number(records.at(-1)!.offset) + 1;
    }
    this.#next.set(partition, Math.max(at, end));
  }
}
