/**
 * Where `produce` sends events: Kafka input topics (idempotent producer, acks=all, keyed by
 * userId, topic `<eventType>-events` among the configured inputs), a running engine's
 * `POST /events` (NDJSON batches), or NDJSON lines on a stream.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, { type CompressionTypes, type Kafka, type Producer } from 'kafkajs';
import type { LoadEvent } from './generator.ts';
import type { EventSink, SendResult } from './produce.ts';

export const COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

const CODEC: Record<Compression, CompressionTypes> = {
  none: kafkajs.CompressionTypes.None,
  gzip: kafkajs.CompressionTypes.GZIP,
  snappy: kafkajs.CompressionTypes.Snappy,
  lz4: kafkajs.CompressionTypes.LZ4,
};

/**
 * The input topic of an event type: `<type>-events` among the inputs, also when the deployment
 * prefixes topic names (`<prefix>.<type>-events`); else the `other` topic, else null.
 */
export function topicForType(inputs: readonly string[], other: string | null, eventType: string): string | null {
  const wanted = `${eventType}-events`;
  return inputs.find((t) => t === wanted || t.endsWith(`.${wanted}`)) ?? other;
}

export interface KafkaSinkOptions {
  kafka: Kafka;
  inputs: readonly string[];
  other: string | null;
  compression: Compression;
  /** Shown in messages, e.g. the broker list. */
  target: string;
}

/** Kafka input topics through one idempotent producer (no duplicates on its retries). */
export class KafkaEventSink implements EventSink {
  readonly target: string;

  private constructor(
    private readonly producer: Producer,
    private readonly options: KafkaSinkOptions,
  ) {
    this.target = options.target;
  }

  static async open(options: KafkaSinkOptions): Promise<KafkaEventSink> {
    // The codecs must be registered on the kafkajs instance (src/transport/kafka/kafkaClient.ts does it in createKafka).
    const producer = options.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await producer.connect();
    return new KafkaEventSink(producer, options);
  }

  async send(events: readonly LoadEvent[]): Promise<SendResult> {
    const byTopic = new Map<string, { key: string; value: string }[]>();
    for (const e of events) {
      const topic = topicForType(this.options.inputs, this.options.other, e.eventType);
      if (!topic) throw new Error(`no input topic for event type "${e.eventType}" among ${this.options.inputs.join(', ')}`);
      let messages = byTopic.get(topic);
      if (!messages) byTopic.set(topic, (messages = []));
      messages.push({ key: e.userId, value: JSON.stringify(e) });
    }
    await this.producer.sendBatch({
      acks: -1,
      compression: CODEC[this.options.compression],
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
    return { accepted: events.length, rejected: 0 };
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

interface IngestAnswer {
  accepted: number;
  rejected: number;
  results?: { line: number; status: string; error?: { code: string; message: string } }[];
}

/** A running engine's `POST /events`, one NDJSON request per batch; network errors and 5xx are retried (events are deduplicated by eventId). */
export class HttpEventSink implements EventSink {
  readonly target: string;
  private readonly endpoint: string;

  constructor(
    baseUrl: string,
    private readonly token: string | undefined,
    private readonly retries = 5,
  ) {
    const url = new URL(baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`not an http(s) URL: ${baseUrl}`);
    this.endpoint = new URL('events', url.href.endsWith('/') ? url.href : `${url.href}/`).href;
    this.target = this.endpoint;
  }

  async send(events: readonly LoadEvent[]): Promise<SendResult> {
    const body = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    const headers: Record<string, string> = { 'content-type': 'application/x-ndjson' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(this.endpoint, { method: 'POST', headers, body });
      } catch (err) {
        if (attempt > this.retries) throw new Error(`POST ${this.endpoint} failed: ${(err as Error).message}`, { cause: err });
        await sleep(100 * 2 ** (attempt - 1));
        continue;
      }
      const text = await res.text();
      if (res.status >= 500 && attempt <= this.retries) {
        await sleep(100 * 2 ** (attempt - 1));
        continue;
      }
      if (res.status !== 202) throw new Error(`POST ${this.endpoint} answered ${res.status}: ${text.slice(0, 500)}`);
      const answer = JSON.parse(text) as IngestAnswer;
      const reasons = (answer.results ?? [])
        .filter((r) => r.status !== 'accepted')
        .slice(0, 10)
        .map((r) => `line ${r.line}: ${r.error?.code ?? '?'} ${r.error?.message ?? ''}`.trim());
      return { accepted: answer.accepted, rejected: answer.rejected, reasons };
    }
  }

  async close(): Promise<void> {}
}

/** NDJSON lines on a stream (a file, or stdout), with back-pressure. */
export class NdjsonEventSink implements EventSink {
  constructor(
    private readonly out: Writable,
    readonly target: string,
    private readonly closeStream: boolean,
  ) {}

  async send(events: readonly LoadEvent[]): Promise<SendResult> {
    const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    if (!this.out.write(text)) await once(this.out, 'drain');
    return { accepted: events.length, rejected: 0 };
  }

  async close(): Promise<void> {
    if (!this.closeStream) return;
    await new Promise<void>((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}
