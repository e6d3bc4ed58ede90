/**
 * Sends a load to a sink in batches, in production order, at a fixed rate or as fast as the sink
 * takes it. One batch is in flight at a time: that keeps every user's events in order across
 * batches (Kafka's idempotent producer and HTTP ingestion both keep order within a batch).
 * Pacing sleeps on timers until the next event is due; it never spins.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { GeneratedEvent, LoadEvent } from './generator.ts';

export interface SendResult {
  accepted: number;
  /** Events the target refused (HTTP ingestion answers per line), with the first reasons. */
  rejected: number;
  reasons?: string[];
}

export interface EventSink {
  /** For messages: "kafka 127.0.0.1:9092", "http://127.0.0.1:8080/events", ... */
  readonly target: string;
  send(events: readonly LoadEvent[]): Promise<SendResult>;
  close(): Promise<void>;
}

export interface ProduceOptions {
  /** Events per second; 0 = as fast as the sink takes them. */
  rate: number;
  /** Most events per send. */
  batchSize: number;
  /** Stops after the batch in flight. */
  signal?: AbortSignal;
  /** Rewrites each event of a batch just before it is sent (e.g. event time = send time). */
  stamp?: (event: LoadEvent, sentAt: number) => LoadEvent;
  /** Called after every batch the sink acknowledged, with the time it was handed to the sink. */
  onSent?: (batch: readonly GeneratedEvent[], sentAt: number, result: SendResult) => void;
  /** Milliseconds clock; default performance-based wall clock. */
  now?: () => number;
}

export interface ProduceResult {
  sent: number;
  accepted: number;
  rejected: number;
  reasons: string[];
  seconds: number;
  eventsPerSecond: number;
  aborted: boolean;
}

export function validateProduceOptions(o: Pick<ProduceOptions, 'rate' | 'batchSize'>): void {
  if (!(Number.isFinite(o.rate) && o.rate >= 0)) throw new RangeError(`rate must be a number >= 0, got ${o.rate}`);
  if (!(Number.isSafeInteger(o.batchSize) && o.batchSize >= 1)) throw new RangeError(`batchSize must be a positive integer, got ${o.batchSize}`);
}

export async function produce(events: Iterable<GeneratedEvent>, sink: EventSink, options: ProduceOptions): Promise<ProduceResult> {
  validateProduceOptions(options);
  const now = options.now ?? (() => performance.timeOrigin + performance.now());
  const it = events[Symbol.iterator]();
  const { rate, batchSize, signal } = options;
  const started = now();
  let sent = 0;
  let accepted = 0;
  let rejected = 0;
  const reasons: string[] = [];
  let exhausted = false;
  while (!exhausted && !signal?.aborted) {
    let room = batchSize;
    if (rate > 0) {
      // Events due by now: the first at `started`, then one every 1/rate s.
      const due = Math.floor(((now() - started) * rate) / 1000) + 1 - sent;
      if (due <= 0) {
        const nextAt = started + (sent * 1000) / rate;
        try {
          await sleep(Math.max(1, Math.ceil(nextAt - now())), undefined, signal ? { signal } : undefined);
        } catch {
          break; // aborted while waiting
        }
        continue;
      }
      room = Math.min(room, due);
    }
    const batch: GeneratedEvent[] = [];
    while (batch.length < room) {
      const next = it.next();
      if (next.done) {
        exhausted = true;
        break;
      }
      batch.push(next.value);
    }
    if (batch.length === 0) break;
    const sentAt = Date.now();
    const stamped = options.stamp ? batch.map((g) => ({ pattern: g.pattern, event: options.stamp!(g.event, sentAt) })) : batch;
    const result = await sink.send(stamped.map((g) => g.event));
    sent += batch.length;
    accepted += result.accepted;
    rejected += result.rejected;
    for (const r of result.reasons ?? []) if (reasons.length < 10) reasons.push(r);
    options.onSent?.(stamped, sentAt, result);
  }
  const seconds = (now() - started) / 1000;
  return { sent, accepted, rejected, reasons, seconds, eventsPerSecond: seconds > 0 ? sent / seconds : 0, aborted: !exhausted && (signal?.aborted ?? false) };
}
