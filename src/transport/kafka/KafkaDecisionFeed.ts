/**
 * The committed decisions of the whole cluster, as this instance sees them (for POST /decide): a
 * read_committed consumer of the decisions topic in a consumer group of its own (unique per
 * start, offsets never committed, so the broker forgets it once it leaves), starting from the
 * latest offsets. Under read_committed "latest" is the last stable offset, so a transaction still
 * open at the start is read once it commits.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from '../../log.ts';
import type { DecisionFeed, DecisionRecord } from '../ports.ts';
import { restartWhenAbandoned } from './consumerRestart.ts';

const CLOSE_TIMEOUT_MS = 5000;

export interface KafkaDecisionFeedOptions {
  topic: string;
  /** The follower's group id is `<groupPrefix>.<uuid>`. */
  groupPrefix: string;
}

export class KafkaDecisionFeed implements DecisionFeed {
  /** Listener -> whether it wants records now: records nobody wants are not even decoded. */
  readonly #listeners = new Map<(record: DecisionRecord) => void, () => boolean>();
  #consumer: Consumer | null = null;
  #started: Promise<void> | null = null;
  #closed = false;
  #stopRestart: () => void = () => {};

  constructor(
    private readonly kafka: Kafka,
    private readonly opts: KafkaDecisionFeedOptions,
    private readonly log: Logger,
  ) {}

  start(): Promise<void> {
    return (this.#started ??= this.#start());
  }

  onRecord(listener: (record: DecisionRecord) => void, active: () => boolean = () => true): () => void {
    this.#listeners.set(listener, active);
    return () => void this.#listeners.delete(listener);
  }

  async #start(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: `${this.opts.groupPrefix}.${randomUUID()}`,
      allowAutoTopicCreation: false,
      readUncommitted: false,
      // Short long-polls: records are returned as soon as there are any (minBytes 1); a close waits at most this.
      maxWaitTimeInMs: 500,
    });
    this.#consumer = consumer;
    // Ready once joined and a first fetch came back: the start offsets are then resolved.
    let joined = false;
    const ready = new Promise<void>((resolve) => {
      consumer.on(consumer.events.GROUP_JOIN, () => {
        joined = true;
      });
      consumer.on(consumer.events.FETCH, () => {
        if (joined) resolve();
      });
    });
    consumer.on(consumer.events.CRASH, (e) => this.log.error({ err: e.payload.error, restart: e.payload.restart }, 'decisions follower crashed'));
    const run = () =>
      consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const wanting = [...this.#listeners].filter(([, active]) => active()).map(([listener]) => listener);
          if (wanting.length === 0) return;
          for (const m of batch.messages) {
            if (m.key === null || m.value === null) continue;
            const record = { userId: m.key.toString('utf8'), value: m.value };
            for (const listener of wanting) listener(record);
          }
        },
      });
    // A caller that waited through the outage gets its decision from the index or 202 pending.
    this.#stopRestart = restartWhenAbandoned(consumer, run, this.log, { what: 'decisions follower', closed: () => this.#closed });
    await consumer.connect();
    await consumer.subscribe({ topic: this.opts.topic, fromBeginning: false });
    await run();
    await ready;
    if (!this.#closed) this.log.info({ topic: this.opts.topic }, 'following committed decisions');
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopRestart();
    const consumer = this.#consumer;
    this.#consumer = null;
    if (!consumer) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)));
    await Promise.race([consumer.disconnect().catch((err: unknown) => this.log.warn({ err }, 'closing the decisions follower')), deadline]);
    clearTimeout(timer);
  }
}
