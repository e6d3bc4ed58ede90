/**
 * Alerts on NATS JetStream (CONTRACT §4). The stream RISK_ALERTS over `risk.alerts.>` is created
 * when absent; every alert is published with `Nats-Msg-Id: <eventId>`, so a redelivered event
 * stores no second alert within the stream's duplicate window. While NATS is unreachable alerts
 * wait in a bounded buffer and are delivered, in order, when it is back.
 */
import { connect, headers, nanos, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '../../log.ts';
import { alertSubject, type Alert, type AlertBus } from '../ports.ts';
import { natsConnectError, natsConnectOptions, type NatsAuth } from './natsConnection.ts';

export interface NatsAlertBusOptions extends NatsAuth {
  stream: string;
  duplicateWindowMs: number;
  bufferSize: number;
  publishTimeoutMs?: number;
}

interface Pending {
  alert: Alert;
  traceparent: string | null;
}

export class NatsAlertBus implements AlertBus {
  private readonly buffer: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private connected = true;
  /** Alerts dropped because the buffer was full (exposed as a metric). */
  dropped = 0;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly opts: NatsAlertBusOptions,
    private readonly log: Logger,
  ) {
    void this.watchStatus();
  }

  static async connect(opts: NatsAlertBusOptions, log: Logger): Promise<NatsAlertBus> {
    const nc = await connect({
      ...natsConnectOptions(opts),
      name: 'risk-engine',
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // Otherwise every publish (a JetStream request) makes an Error up front for its stack, in
      // case it times out: 2% of the engine's thread in the bench, where 2% of the events alert.
      noAsyncTraces: true,
    }).catch((err: unknown) => Promise.reject(natsConnectError(err, opts)));
    await ensureStream(nc, opts);
    return new NatsAlertBus(nc, jetstream(nc, { timeout: opts.publishTimeoutMs ?? 5000 }), opts, log);
  }

  isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  get buffered(): number {
    return this.buffer.length;
  }

  async publish(alert: Alert, traceparent: string | null): Promise<void> {
    if (this.buffer.length === 0 && this.isConnected()) {
      try {
        await this.send({ alert, traceparent });
        return;
      } catch (err) {
        this.log.warn({ err, eventId: alert.eventId }, 'alert publish failed; buffering until NATS is back');
      }
    }
    this.enqueue({ alert, traceparent });
  }

  private enqueue(p: Pending): void {
    if (this.buffer.length >= this.opts.bufferSize) {
      this.dropped++;
      this.log.error({ eventId: p.alert.eventId, bufferSize: this.opts.bufferSize }, 'alert buffer full: alert dropped');
      return;
    }
    this.buffer.push(p);
    if (this.isConnected()) void this.flush();
  }

  private async send({ alert, traceparent }: Pending): Promise<void> {
    const h = headers();
    h.set('Nats-Msg-Id', alert.eventId);
    if (traceparent) h.set('traceparent', traceparent);
    await this.js.publish(alertSubject(alert.decision, alert.eventType), JSON.stringify(alert), {
      msgID: alert.eventId,
      headers: h,
      expect: { streamName: this.opts.stream },
    });
  }

  private flush(): Promise<void> {
    this.flushing ??= (async () => {
      try {
        while (this.buffer.length > 0 && this.isConnected()) {
          await this.send(this.buffer[0]!);
          this.buffer.shift();
        }
      } catch (err) {
        this.log.warn({ err, buffered: this.buffer.length }, 'alert flush interrupted');
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') this.connected = false;
      if (s.type === 'reconnect') {
        this.connected = true;
        this.log.info({ buffered: this.buffer.length }, 'NATS reconnected');
        await ensureStream(this.nc, this.opts).catch((err) => this.log.warn({ err }, 'stream check failed'));
        void this.flush();
      }
    }
  }

  async close(): Promise<void> {
    if (this.buffer.length && this.isConnected()) await this.flush();
    if (this.buffer.length) this.log.warn({ buffered: this.buffer.length }, 'closing with undelivered alerts');
    await this.nc.drain().catch(() => this.nc.close());
  }
}

async function ensureStream(nc: NatsConnection, opts: NatsAlertBusOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = { subjects: ['risk.alerts.>'], duplicate_window: nanos(opts.duplicateWindowMs) };
  try {
    await jsm.streams.info(opts.stream);
  } catch {
    await jsm.streams.add({ name: opts.stream, ...config });
  }
}
