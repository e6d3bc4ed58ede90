/**
 * Rebuild (Kappa, CONTRACT §8): the input topics replayed from the earliest retained record into a
 * fresh state namespace, through the journal store the live engine uses (journal entries, and
 * snapshots where the live engine takes them: when a user's journal crosses a multiple of
 * `snapshotEvery`), folded by the same recipe (src/domain/replay.ts). Nothing is emitted: no
 * decision, aggregate, alert. The caller commits the new group's offsets at the spans' ends
 * (`RebuildResult.offsets`) once this resolved, so an engine started on that group and
 * namespace continues exactly after: every record before the offsets is in the state, none after.
 */
import { persistenceKey } from '../actors/recoverUser.ts';
import type { DomainConfig, Rules, UserState } from '../domain/index.ts';
import type { Fence, JournalEntry, JournalStore } from '../persistence/JournalStore.ts';
import { noProgress, parsedInLiveOrder, readLiveDecisions, type LiveDecision, type Progress } from './backtest.ts';
import { spanSize, type HistoryReader } from './history.ts';
import { Replayer, ShardRecords } from './replay.ts';

export interface RebuildInput {
  history: HistoryReader;
  inputs: readonly string[];
  store: JournalStore;
  domain: DomainConfig;
  rules: Rules;
  snapshotEvery: number;
  now: number;
  progress?: Progress;
  /**
   * The live decisions topic: when given, each shard's events are replayed in the order the live
   * engine judged them (where it did), so that features, and so the decisions a state keeps,
   * come out as the live engine's.
   */
  decisionsTopic?: string;
  /** Journal entries per store call. */
  flushEvery?: number;
  clock?: () => number;
}

export interface RebuildResult {
  /** Per input partition: the offset to commit for the new group (one past the last record replayed). */
  offsets: { topic: string; partition: number; offset: string }[];
  records: number;
  accepted: number;
  rejected: number;
  duplicates: number;
  poison: number;
  users: number;
  journalEntries: number;
  snapshots: number;
  seconds: number;
}

export async function runRebuild(o: RebuildInput): Promise<RebuildResult> {
  const clock = o.clock ?? (() => performance.now());
  const progress = o.progress ?? noProgress;
  const flushEvery = o.flushEvery ?? 5000;
  const started = clock();
  // Fixed now: what is produced from here on is the new engine's to judge.
  const spans = await o.history.spans(o.inputs, { from: null, to: null });
  const partitions = Math.max(1, spans.filter((s) => s.topic === o.inputs[0]).length);
  const live = o.decisionsTopic ? await readLiveDecisions(o.history, o.decisionsTopic, null, progress) : new Map<string, LiveDecision>();
  const input = new ShardRecords();
  progress.start('history', spans.reduce((n, s) => n + spanSize(s), 0));
  await o.history.read(spans, (records) => {
    input.add(records);
    progress.increment(records.length);
  });
  progress.stop();

  const result: RebuildResult = {
    offsets: spans.map((s) => ({ topic: s.topic, partition: s.partition, offset: s.end })),
    records: input.count,
    accepted: 0,
    rejected: 0,
    duplicates: 0,
    poison: 0,
    users: 0,
    journalEntries: 0,
    snapshots: 0,
    seconds: 0,
  };
  const replayer = new Replayer({ domain: o.domain, rules: o.rules, partitions, now: o.now });
  progress.start('replaying', input.count);
  for (const shard of input.shards()) {
    // The shard's own epoch, as a new owner takes one: the store's fencing stays consistent for the engine that follows.
    const fence: Fence = { shard, epoch: await o.store.nextEpoch(shard) };
    let entries: JournalEntry[] = [];
    let snapshotsDue: UserState[] = [];
    const flush = async () => {
      if (entries.length) await o.store.append(entries, fence);
      result.journalEntries += entries.length;
      // After the entries they cover, as the live engine writes them after the round.
      for (let i = 0; i < snapshotsDue.length; i += 500) {
        await Promise.all(snapshotsDue.slice(i, i + 500).map((state) => o.store.saveSnapshot({ key: persistenceKey(state.userId), sequenceNumber: state.sequenceNumber, data: state, createdAt: o.now }, fence)));
      }
      result.snapshots += snapshotsDue.length;
      entries = [];
      snapshotsDue = [];
    };
    const records = parsedInLiveOrder(input.take(shard), shard, replayer, live);
    for (const { parsed } of records) {
      if (!parsed.ok) {
        result.rejected++;
        continue;
      }
      const step = replayer.fold(parsed.event, shard);
      if (step.kind === 'poison') {
        result.poison++;
        continue;
      }
      if (step.outcome.kind !== 'accepted') {
        result.duplicates++;
        continue;
      }
      result.accepted++;
      const state = step.state;
      entries.push({ key: persistenceKey(state.userId), sequenceNumber: state.sequenceNumber, data: step.outcome.journal, createdAt: o.now });
      if (state.sequenceNumber % o.snapshotEvery === 0) snapshotsDue.push(state);
      if (entries.length >= flushEvery) await flush();
    }
    await flush();
    progress.increment(records.length);
  }
  progress.stop();
  result.users = replayer.states.size;
  result.seconds = Math.round((clock() - started)) / 1000;
  return result;
}
