/**
 * The committed decisions as they become visible, for POST /decide: on Kafka a read_committed
 * follower of the decisions topic (src/transport/kafka/DecisionFeed.ts), embedded the decisions
 * appended to the embedded log. Each instance follows every decision of the cluster, from the
 * latest offsets at its start, so it can answer for users whose shard another instance owns.
 */
import type { EmbeddedLog } from '../../transport/embedded/index.ts';

export interface DecisionRecord {
  /** The record key: the decision's userId. */
  userId: string;
  /** The record value, the decision's JSON. */
  value: string | Buffer;
}

export interface DecisionFeed {
  /** Resolves once records committed from now on are seen (Kafka: the follower joined and has its offsets). */
  start(): Promise<void>;
  /**
   * Called for every committed decision record; returns the unsubscribe function. `active`, when
   * given, says whether the listener wants records right now: a feed may skip reading them while
   * no listener does (the embedded one does).
   */
  onRecord(listener: (record: DecisionRecord) => void, active?: () => boolean): () => void;
  close(): Promise<void>;
}

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
