/**
 * A shard's Kafka transaction: the judged chunks that wait for it go out together, their alerts
 * first, then decisions, aggregates, dead letters and the consumed offsets in one transaction. A
 * failed transaction is retried as the shard decides (`beforeRetry` throws when it is final); a
 * retry sends the same records, and the sink makes a transaction of unknown outcome final before
 * it tries again. The shard (ShardSupervisor) owns the lifecycle and the retry policy.
 */
import type { Metrics } from '../telemetry/metrics.ts';
import { endSpan, SpanKind, startRound } from '../telemetry/tracing.ts';
import type { AlertBus, BatchControl, ConsumedOffset, InputRecord, OutputRecord, ShardSink } from '../transport/ports.ts';
import type { Chunk } from './chunks.ts';
import { partitionKey } from '../transport/topicPartition.ts';
import { endJudged, mergeJudged, type Judged } from './judged.ts';
import type { Judged as JudgedChunk } from './ShardBatchQueue.ts';

export interface ShardTransactionDeps {
  shard: number;
  sink: ShardSink;
  alerts: AlertBus;
  metrics: Metrics;
  /** Waits before attempt `attempt + 1`, or throws when the failure is final. */
  beforeRetry(err: unknown, attempt: number, records: number, control: BatchControl, what: string): Promise<void>;
  /** The transaction committed these offsets (per partition, the last of its chunks) and these records. */
  onCommitted(offsets: readonly ConsumedOffset[], records: readonly OutputRecord[]): void;
  /** After every attempt, committed or not: what was journaled stays journaled, so its snapshots are good. */
  afterAttempt(): void;
}

/** Per partition, the offset of the last chunk that touches it. */
function lastOffsets(chunks: readonly Chunk[]): ConsumedOffset[] {
  if (chunks.length === 1) return chunks[0]!.offsets;
  const last = new Map<string, ConsumedOffset>();
  for (const c of chunks) for (const o of c.offsets) last.set(partitionKey(o), o);
  return [...last.values()];
}

export class ShardTransaction {
  constructor(private readonly deps: ShardTransactionDeps) {}

  /** Commits judged chunks in one transaction, retrying until it commits or the failure is final. */
  async commit(chunks: readonly JudgedChunk<Judged>[], control: BatchControl): Promise<void> {
    const { metrics } = this.deps;
    const timer = metrics.batchSeconds.startTimer();
    const judged = chunks.length === 1 ? chunks[0]!.judged : mergeJudged(chunks.map((c) => c.judged));
    const offsets = lastOffsets(chunks.map((c) => c.chunk));
    for (let attempt = 1; ; attempt++) {
      try {
        // Alerts go out before the commit: a crash in between redelivers the events, and the
        // alert's Nats-Msg-Id makes JetStream drop the second copy.
        await Promise.all(judged.alerts.map((a) => this.deps.alerts.publish(a.alert, a.traceparent)));
        const span = startRound('risk.transaction', SpanKind.PRODUCER, judged.spans, { 'risk.shard': this.deps.shard, 'risk.records': judged.records.length });
        try {
          await this.deps.sink.commit(judged.records, offsets);
        } catch (err) {
          endSpan(span, err);
          throw err;
        }
        endSpan(span);
        this.deps.afterAttempt();
        this.deps.onCommitted(offsets, judged.records);
        timer();
        endJudged(judged);
        metrics.transactions.inc({ kind: 'input' });
        for (const c of chunks) this.countCommitted(c.chunk.records, c.judged);
        return;
      } catch (err) {
        this.deps.afterAttempt();
        try {
          await this.deps.beforeRetry(err, attempt, judged.records.length, control, 'transaction failed');
        } catch (final) {
          endJudged(judged, final);
          throw final;
        }
      }
    }
  }

  private countCommitted(consumed: readonly InputRecord[], judged: Judged): void {
    const { metrics } = this.deps;
    const perTopic = new Map<string, number>();
    for (const rec of consumed) perTopic.set(rec.topic, (perTopic.get(rec.topic) ?? 0) + 1);
    for (const [topic, n] of perTopic) metrics.eventsConsumed.inc({ topic }, n);
    for (const decision of judged.verdicts) metrics.decisions.inc({ decision });
    for (const [live, shadow] of judged.shadows) metrics.shadowDecisions.inc({ live, shadow });
    for (const code of judged.dlqCodes) metrics.dlq.inc({ code });
    for (const a of judged.alerts) metrics.alertsPublished.inc({ decision: a.alert.decision });
  }
}
