/**
 * HTTP ingestion in embedded mode: records go straight into the log, partitioned like Kafka's
 * producer would. An append is one LMDB transaction, so a batch is stored whole or not at all
 * and a retried request cannot half-duplicate it (events are deduplicated by eventId anyway).
 */
import { EngineError } from '../../errors.ts';
import type { IngestSink, OutputRecord } from '../ports.ts';
import type { EmbeddedLog, LogPosition } from './EmbeddedLog.ts';

export class EmbeddedIngestSink implements IngestSink {
  private closed = false;

  constructor(private readonly log: EmbeddedLog) {}

  async send(records: readonly OutputRecord[]): Promise<void> {
    await this.append(records);
  }

  /** `send` that also tells where each record landed. */
  async append(records: readonly OutputRecord[]): Promise<LogPosition[]> {
    if (this.closed) throw new EngineError('UNAVAILABLE', 'ingest sink is closed');
    return this.log.append(records);
  }

  /** The log belongs to the transport, which closes it. */
  async close(): Promise<void> {
    this.closed = true;
  }
}
