/**
 * Backtest (CONTRACT §8): the input history decided again in memory under candidate rules, from
 * empty state, and compared event by event (userId + eventId) with the committed live decisions.
 * Nothing is written anywhere: no state, decision, alert or offset.
 */
import type { Decision, DomainConfig, ParseResult, Rules, Verdict } from '../domain/index.ts';
import { spanSize, type HistoryReader, type TimeRange } from './history.ts';
import { followOrder, Replayer, ShardRecords } from './replay.ts';
import type { InputRecord } from '../transport/ports.ts';

/** What the backtest keeps of a live decision: where it sits (its order) and what it said. */
export interface LiveDecision {
  partition: number;
  /** Position in its partition (offset). */
  position: number;
  decision: Verdict;
  reasons: string[];
}

export interface ChangedReason {
  code: string;
  /** Compared events whose candidate decision carries the reason and whose live one does not. */
  added: number;
  /** ... and the other way round. */
  removed: number;
  /** Events whose decision changed and whose candidate decision carries the reason. */
  inChanged: number;
}

/** The shadow report's shape (CONTRACT §8) and what the backtest adds to it. */
export interface BacktestReport {
  shadowVersion: number;
  /** Start of the span (ISO); the earliest record's time with `--from earliest`. */
  since: string | null;
  until: string | null;
  /** Events decided by both the candidate and the live engine: the compared ones. */
  events: number;
  agree: number;
  /** "LIVE->CANDIDATE": count, for the compared events whose decision differs. */
  disagreements: Record<string, number>;
  topChangedReasons: ChangedReason[];
  /** Input records read in the span. */
  records: number;
  /** Records not compared, by why. */
  notCompared: { noLiveDecision: number; rejected: number; duplicate: number; poison: number };
  users: number;
  seconds: number;
  /** Input records per second, reading included. */
  eventsPerSecond: number;
  /** Of `seconds`: reading the live decisions and the history; deciding and comparing. */
  phases: { readSeconds: number; decideSeconds: number };
}

export const decisionKey = (userId: string, eventId: string): string => `${userId}\u0000${eventId}`;

/** Counts agreement and the changed reasons; `report()` gives the counts' part of the report. */
export class Comparison {
  events = 0;
  agree = 0;
  readonly disagreements: Record<string, number> = {};
  readonly #reasons = new Map<string, ChangedReason>();

  #reason(code: string): ChangedReason {
    let r = this.#reasons.get(code);
    if (!r) this.#reasons.set(code, (r = { code, added: 0, removed: 0, inChanged: 0 }));
    return r;
  }

  add(live: LiveDecision, candidate: Pick<Decision, 'decision' | 'reasons'>): void {
    this.events++;
    const changed = live.decision !== candidate.decision;
    if (changed) {
      const k = `${live.decision}->${candidate.decision}`;
      this.disagreements[k] = (this.disagreements[k] ?? 0) + 1;
    } else this.agree++;
    const now = new Set(candidate.reasons.map((r) => r.code));
    const before = new Set(live.reasons);
    for (const code of now) {
      if (!before.has(code)) this.#reason(code).added++;
      if (changed) this.#reason(code).inChanged++;
    }
    for (const code of before) if (!now.has(code)) this.#reason(code).removed++;
  }

  /** The reasons that changed most (added + removed), then those most present in changed decisions. */
  topChangedReasons(limit = 10): ChangedReason[] {
    return [...this.#reasons.values()]
      .filter((r) => r.added + r.removed + r.inChanged > 0)
      .sort((a, b) => b.added + b.removed - (a.added + a.removed) || b.inChanged - a.inChanged || (a.code < b.code ? -1 : 1))
      .slice(0, limit);
  }
}

/** A decision record's value as the backtest keeps it; null when it is not a decision. */
export function liveDecisionOf(rec: Pick<InputRecord, 'partition' | 'offset' | 'value'>): { key: string; live: LiveDecision } | null {
  if (!rec.value) return null;
  let d: { eventId?: unknown; userId?: unknown; decision?: unknown; reasons?: unknown };
  try {
    d = JSON.parse(rec.value.toString('utf8')) as typeof d;
  } catch {
    return null;
  }
  if (typeof d.eventId !== 'string' || typeof d.userId !== 'string' || typeof d.decision !== 'string') return null;
  const reasons = Array.isArray(d.reasons) ? d.reasons.map((r) => (r as { code?: unknown }).code).filter((c): c is string => typeof c === 'string') : [];
  return { key: decisionKey(d.userId, d.eventId), live: { partition: rec.partition, position: Number(rec.offset), decision: d.decision as Verdict, reasons } };
}

export interface Progress {
  start(phase: string, total: number): void;
  increment(n: number): void;
  stop(): void;
}

export const noProgress: Progress = { start: () => undefined, increment: () => undefined, stop: () => undefined };

/**
 * The committed live decisions of `topic` from record time `from` (null: the earliest) to now,
 * by userId + eventId: what was decided, and where (the judging order).
 */
export async function readLiveDecisions(history: HistoryReader, topic: string, from: number | null, progress: Progress = noProgress): Promise<Map<string, LiveDecision>> {
  const spans = await history.spans([topic], { from, to: null }, { ifMissing: 'empty' });
  const live = new Map<string, LiveDecision>();
  progress.start('live decisions', spans.reduce((n, s) => n + spanSize(s), 0));
  await history.read(spans, (records) => {
    for (const rec of records) {
      const d = liveDecisionOf(rec);
      if (d) live.set(d.key, d.live);
    }
    progress.increment(records.length);
  });
  progress.stop();
  return live;
}

/**
 * A shard's records (in merged order) validated, in the order the live engine judged them where
 * its decisions say so (a decision sits on its user's shard's partition of the decisions topic,
 * in judging order); the others keep their places.
 */
export function parsedInLiveOrder(records: readonly InputRecord[], shard: number, replayer: Replayer, live: ReadonlyMap<string, LiveDecision>): { rec: InputRecord; parsed: ParseResult }[] {
  const parsed = records.map((rec) => ({ rec, parsed: replayer.parse(rec) }));
  if (live.size === 0) return parsed;
  return followOrder(parsed, (p) => {
    if (!p.parsed.ok) return undefined;
    const l = live.get(decisionKey(p.parsed.event.userId, p.parsed.event.eventId));
    return l && l.partition === shard ? l.position : undefined;
  });
}

export interface BacktestInput {
  history: HistoryReader;
  inputs: readonly string[];
  decisionsTopic: string;
  domain: DomainConfig;
  rules: Rules;
  range: TimeRange;
  now: number;
  progress?: Progress;
  /** Wall clock for the figures (tests pass a fake one). */
  clock?: () => number;
}

export async function runBacktest(o: BacktestInput): Promise<BacktestReport> {
  const clock = o.clock ?? (() => performance.now());
  const progress = o.progress ?? noProgress;
  const started = clock();
  const inputSpans = await o.history.spans(o.inputs, o.range);
  // Decisions of the span's events were committed after the events were written: from the span's start to now.
  const partitions = Math.max(1, inputSpans.filter((s) => s.topic === o.inputs[0]).length);

  const live = await readLiveDecisions(o.history, o.decisionsTopic, o.range.from, progress);

  const input = new ShardRecords();
  let firstTime: number | null = null;
  let lastTime: number | null = null;
  progress.start('history', inputSpans.reduce((n, s) => n + spanSize(s), 0));
  await o.history.read(inputSpans, (records) => {
    input.add(records);
    for (const r of records) {
      if (firstTime === null || r.timestamp < firstTime) firstTime = r.timestamp;
      if (lastTime === null || r.timestamp > lastTime) lastTime = r.timestamp;
    }
    progress.increment(records.length);
  });
  progress.stop();

  const read = clock();
  const replayer = new Replayer({ domain: o.domain, rules: o.rules, partitions, now: o.now });
  const comparison = new Comparison();
  const notCompared = { noLiveDecision: 0, rejected: 0, duplicate: 0, poison: 0 };
  const records = input.count;
  progress.start('deciding', records);
  for (const shard of input.shards()) {
    const ordered = parsedInLiveOrder(input.take(shard), shard, replayer, live);
    for (const { parsed: p } of ordered) {
      if (!p.ok) {
        notCompared.rejected++;
        continue;
      }
      const step = replayer.fold(p.event, shard);
      if (step.kind === 'poison') notCompared.poison++;
      else if (step.outcome.kind === 'duplicate' || step.outcome.decision === null) notCompared.duplicate++;
      else {
        const l = live.get(decisionKey(p.event.userId, p.event.eventId));
        if (l) comparison.add(l, step.outcome.decision);
        else notCompared.noLiveDecision++;
      }
    }
    progress.increment(ordered.length);
    // Yields between shards, so that the progress bar and signals get their turn.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  progress.stop();
  const ended = clock();
  const seconds = (ended - started) / 1000;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());
  return {
    shadowVersion: o.rules.rulesVersion,
    since: iso(o.range.from ?? firstTime),
    until: iso(o.range.to ?? lastTime),
    events: comparison.events,
    agree: comparison.agree,
    disagreements: comparison.disagreements,
    topChangedReasons: comparison.topChangedReasons(),
    records,
    notCompared,
    users: replayer.states.size,
    seconds: round(seconds),
    eventsPerSecond: Math.round(records / Math.max(seconds, 0.001)),
    phases: { readSeconds: round((read - started) / 1000), decideSeconds: round((ended - read) / 1000) },
  };
}

/** The report for a terminal. */
export function formatReport(r: BacktestReport): string {
  const pct = (n: number) => (r.events ? `${((100 * n) / r.events).toFixed(2)}%` : '-');
  const lines = [
    `backtest of rules version ${r.shadowVersion} over ${r.since ?? '-'} .. ${r.until ?? '-'}`,
    `${r.records} records, ${r.users} users, in ${r.seconds} s (${r.eventsPerSecond} records/s; reading ${r.phases.readSeconds} s, deciding ${r.phases.decideSeconds} s)`,
    `compared ${r.events} events with their live decisions: ${r.agree} agree (${pct(r.agree)}), ${r.events - r.agree} differ (${pct(r.events - r.agree)})`,
  ];
  const changes = Object.entries(r.disagreements).sort(([, a], [, b]) => b - a);
  for (const [k, n] of changes) lines.push(`  ${k.padEnd(20)} ${String(n).padStart(8)}`);
  const nc = r.notCompared;
  lines.push(`not compared: ${nc.noLiveDecision} without a live decision, ${nc.rejected} rejected (dead letters), ${nc.duplicate} duplicates, ${nc.poison} poison`);
  if (r.topChangedReasons.length) {
    lines.push('top changed reasons (added / removed / in changed decisions):');
    for (const c of r.topChangedReasons) lines.push(`  ${c.code.padEnd(32)} +${c.added} -${c.removed} ${c.inChanged}`);
  }
  return `${lines.join('\n')}\n`;
}
