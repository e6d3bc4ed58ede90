/**
 * Alerts in embedded mode: no NATS, so each alert becomes one line on a stream (stdout by
 * default) for the person running the engine, and is handed to in-process subscribers that use
 * NATS subject wildcards. Like JetStream's Nats-Msg-Id duplicate window, an alertId seen among
 * the most recent ones is dropped, so a redelivered event raises no second alert.
 */
import type { Writable } from 'node:stream';
import { EngineError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { alertSubject, type Alert, type AlertBus } from '../ports.ts';

export type AlertHandler = (alert: Alert, subject: string, traceparent: string | null) => void | Promise<void>;

export interface EmbeddedAlertBusOptions {
  /** Where alert lines go; default process.stdout. */
  out?: Writable;
  /** How many recent alertIds are remembered for deduplication; default 10000. */
  dedupeWindow?: number;
  /** Reports failing subscribers. */
  logger?: Logger;
}

interface Subscription {
  tokens: string[];
  handler: AlertHandler;
}

export class EmbeddedAlertBus implements AlertBus {
  private readonly out: Writable;
  private readonly window: number;
  // A Set iterates in insertion order: its first element is the oldest alertId.
  private readonly recent = new Set<string>();
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;
  /** Alerts dropped as duplicates. */
  duplicates = 0;

  constructor(private readonly options: EmbeddedAlertBusOptions = {}) {
    this.out = options.out ?? process.stdout;
    this.window = options.dedupeWindow ?? 10_000;
    if (!Number.isSafeInteger(this.window) || this.window < 1) throw new RangeError(`dedupeWindow must be a positive integer, got ${this.window}`);
  }

  isConnected(): boolean {
    return !this.closed;
  }

  async publish(alert: Alert, traceparent: string | null): Promise<void> {
    if (this.closed) throw new EngineError('UNAVAILABLE', 'alert bus is closed');
    if (this.recent.has(alert.alertId)) {
      this.duplicates++;
      return;
    }
    this.recent.add(alert.alertId);
    if (this.recent.size > this.window) this.recent.delete(this.recent.values().next().value!);
    const subject = alertSubject(alert.decision, alert.eventType);
    this.out.write(`${formatAlert(alert, subject)}\n`);
    for (const s of this.subscriptions) {
      if (subjectMatches(s.tokens, subject)) this.deliver(s, alert, subject, traceparent);
    }
  }

  /** Calls `handler` for every new alert whose subject matches `pattern`; returns the unsubscribe. */
  subscribe(pattern: string, handler: AlertHandler): () => void {
    const sub: Subscription = { tokens: parsePattern(pattern), handler };
    this.subscriptions.add(sub);
    return () => void this.subscriptions.delete(sub);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscriptions.clear();
  }

  private deliver(s: Subscription, alert: Alert, subject: string, traceparent: string | null): void {
    // A subscriber is a bystander: its failure must not fail the decision that raised the alert.
    const report = (err: unknown) => this.options.logger?.warn({ err, subject, alertId: alert.alertId }, 'alert subscriber failed');
    try {
      void Promise.resolve(s.handler(alert, subject, traceparent)).catch(report);
    } catch (err) {
      report(err);
    }
  }
}

/** `ALERT BLOCK payment user=u-1 event=e-9 score=0.97 reasons=NEW_DEVICE,HIGH_AMOUNT subject=risk.alerts.block.payment` */
export function formatAlert(alert: Alert, subject: string): string {
  const codes = alert.reasons.map((r) => (r !== null && typeof r === 'object' && typeof (r as { code?: unknown }).code === 'string' ? (r as { code: string }).code : String(r)));
  const score = Number.isFinite(alert.riskScore) ? alert.riskScore.toFixed(2) : String(alert.riskScore);
  return [
    'ALERT',
    word(alert.decision),
    word(alert.eventType),
    `user=${word(alert.userId)}`,
    `event=${word(alert.eventId)}`,
    `score=${score}`,
    `reasons=${codes.length ? word(codes.join(',')) : '-'}`,
    `subject=${subject}`,
  ].join(' ');
}

// Ids come from clients: quoting anything with blanks, quotes or control characters keeps one
// alert on one line and its fields unambiguous.
function word(s: string): string {
  return s !== '' && /^[^\s"\\\p{Cc}]+$/u.test(s) ? s : JSON.stringify(s);
}

/** Splits a NATS subject pattern; `>` may only be the last token, no token may be empty. */
export function parsePattern(pattern: string): string[] {
  const tokens = pattern.split('.');
  tokens.forEach((t, i) => {
    if (t === '' || (t === '>' && i !== tokens.length - 1) || (t.length > 1 && /[*>]/.test(t))) {
      throw new RangeError(`not a subject pattern: ${JSON.stringify(pattern)}`);
    }
  });
  return tokens;
}

/** NATS matching: `*` is exactly one token, a final `>` is one or more. */
export function subjectMatches(pattern: readonly string[], subject: string): boolean {
  const tokens = subject.split('.');
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '>') return tokens.length > i;
    if (i >= tokens.length || (p !== '*' && p !== tokens[i])) return false;
  }
  return tokens.length === pattern.length;
}
