/**
 * The embedded transport, used when KAFKA_BROKERS is unset: the log replaces Kafka (input topics,
 * output topics, consumer offsets), the alert bus replaces NATS. Everything lives in this process
 * and in `${dataDir}/log`.
 */
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Logger } from '../../log.ts';
import { EmbeddedAlertBus } from './EmbeddedAlertBus.ts';
import { EmbeddedEventSource } from './EmbeddedEventSource.ts';
import { EmbeddedIngestSink } from './EmbeddedIngestSink.ts';
import { EmbeddedLog, type LogRetention } from './EmbeddedLog.ts';

export { EmbeddedAlertBus, formatAlert, subjectMatches, parsePattern, type AlertHandler, type EmbeddedAlertBusOptions } from './EmbeddedAlertBus.ts';
export { EmbeddedEventSource, EmbeddedShardSink, type EmbeddedEventSourceOptions } from './EmbeddedEventSource.ts';
export { EmbeddedIngestSink } from './EmbeddedIngestSink.ts';
export { EmbeddedLog, type AppendNotice, type EmbeddedLogOptions, type LogPosition, type LogRetention, type TrimReport } from './EmbeddedLog.ts';

export interface EmbeddedTransportOptions {
  /** DATA_DIR; the log is kept in `${dataDir}/log`. */
  dataDir: string;
  /** Input topics (the "other" topic included when configured), all with `partitions` partitions. */
  inputs: readonly string[];
  /** Input partitions = shards; also the partition count of output topics. */
  partitions: number;
  groupId: string;
  /** Bounds of the log (settings `embedded.retention`); unbounded when absent. */
  retention?: LogRetention;
  maxBatch?: number;
  fromBeginning?: boolean;
  /** Where alerts are printed; default process.stdout. */
  out?: Writable;
  log: Logger;
}

export interface EmbeddedTransport {
  log: EmbeddedLog;
  source: EmbeddedEventSource;
  ingest: EmbeddedIngestSink;
  alerts: EmbeddedAlertBus;
  /** Stops the source (if still running), then closes the bus, the sink and the log. Idempotent. */
  close(): Promise<void>;
}

export function openEmbeddedTransport(options: EmbeddedTransportOptions): EmbeddedTransport {
  const log = new EmbeddedLog({
    dir: join(options.dataDir, 'log'),
    partitions: options.partitions,
    ...(options.retention ? { retention: options.retention } : {}),
    logger: options.log.child({ component: 'log' }),
  });
  try {
    const source = new EmbeddedEventSource(log, {
      inputs: options.inputs,
      partitions: options.partitions,
      groupId: options.groupId,
      logger: options.log.child({ component: 'consumer' }),
      maxBatch: options.maxBatch,
      fromBeginning: options.fromBeginning,
    });
    const ingest = new EmbeddedIngestSink(log);
    const alerts = new EmbeddedAlertBus({ logger: options.log.child({ component: 'alerts' }), out: options.out });
    let closing: Promise<void> | null = null;
    const close = () =>
      (closing ??= (async () => {
        await source.stop();
        await alerts.close();
        await ingest.close();
        await log.close();
      })());
    return { log, source, ingest, alerts, close };
  } catch (err) {
    void log.close();
    throw err;
  }
}
