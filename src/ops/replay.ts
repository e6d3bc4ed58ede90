/**
 * Replaying input history in memory with the real domain, for backtest and rebuild: records are
 * grouped by shard, put in the order the live engine judges them (partition N of every input
 * topic, merged by record timestamp: ShardBatchQueue's merge), validated with `parseRecord` and
 * folded with `foldEvent` (decide, then evolve: the user actor's recipe) from empty state.
 */
import { mergeByTimestamp } from '../actors/chunks.ts';
import { partitionKey } from '../transport/topicPartition.ts';
import { initialState, parseRecord, type DecideContext, type DomainConfig, type Outcome, type ParseResult, type RiskEvent, type Rules, type UserState } from '../domain/index.ts';
import { foldEvent } from '../domain/replay.ts';
import { errorMessage } from '../errors.ts';
import type { InputRecord } from '../transport/ports.ts';

export interface ReplayContext {
  domain: DomainConfig;
  rules: Rules;
  /** Partitions of the input topics (= shards): a record's key must hash to its partition. */
  partitions: number;
  /** The replay's clock: validation's "now" and the decisions' decidedAt. */
  now: number;
}

export type Step = { kind: 'folded'; outcome: Outcome; state: UserState } | { kind: 'poison'; message: string };

/** Every user's state, in memory, from empty; nothing is read from or written to a store. */
export class Replayer {
  readonly states = new Map<string, UserState>();
  readonly #ctx: DecideContext;

  constructor(readonly context: ReplayContext) {
    this.#ctx = { rules: context.rules, config: context.domain, now: context.now, shard: 0, traceId: null };
  }

  parse(rec: InputRecord): ParseResult {
    return parseRecord(rec, this.context.domain, { now: this.context.now, partitions: this.context.partitions });
  }

  /** Decides and folds one event; deciding that throws is a poison event, which changes nothing (the live engine quarantines it). */
  fold(event: RiskEvent, shard: number, traceId: string | null = null): Step {
    const before = this.states.get(event.userId) ?? initialState(event.userId);
    this.#ctx.shard = shard;
    this.#ctx.traceId = traceId;
    let folded;
    try {
      folded = foldEvent(before, event, this.#ctx);
    } catch (err) {
      return { kind: 'poison', message: errorMessage(err) };
    }
    if (folded.state !== before) this.states.set(event.userId, folded.state);
    return { kind: 'folded', outcome: folded.outcome, state: folded.state };
  }
}

/** Records collected per shard and input partition, in offset order. */
export class ShardRecords {
  readonly #byShard = new Map<number, Map<string, InputRecord[]>>();
  count = 0;

  add(records: readonly InputRecord[]): void {
    for (const rec of records) {
      let parts = this.#byShard.get(rec.partition);
      if (!parts) this.#byShard.set(rec.partition, (parts = new Map()));
      const key = partitionKey(rec);
      let list = parts.get(key);
      if (!list) parts.set(key, (list = []));
      list.push(rec);
    }
    this.count += records.length;
  }

  shards(): number[] {
    return [...this.#byShard.keys()].sort((a, b) => a - b);
  }

  /** The shard's records in judging order (and forgets them: memory is freed shard by shard). */
  take(shard: number): InputRecord[] {
    const parts = this.#byShard.get(shard);
    this.#byShard.delete(shard);
    if (!parts) return [];
    const batches = [...parts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, records]) => ({ topic: records[0]!.topic, partition: shard, records, nextOffset: '0' }));
    return mergeByTimestamp(batches);
  }
}

/**
 * Reorders the items that have a position (e.g. where the live engine's decision of the event
 * sits in the decisions topic) among themselves, into that position's order; the others keep
 * their places. The live engine judges a backlog in rounds merged by timestamp, so its order can
 * differ from one merge of the whole history; following it makes a replay see, for each event,
 * exactly the events the live engine had seen.
 */
export function followOrder<T>(items: readonly T[], positionOf: (item: T) => number | undefined): T[] {
  const slots: number[] = [];
  const placed: { item: T; position: number }[] = [];
  items.forEach((item, i) => {
    const position = positionOf(item);
    if (position === undefined) return;
    slots.push(i);
    placed.push({ item, position });
  });
  placed.sort((a, b) => a.position - b.position);
  const out = [...items];
  slots.forEach((slot, k) => (out[slot] = placed[k]!.item));
  return out;
}
