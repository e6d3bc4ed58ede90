/** The validated input event (CONTRACT §1). */
export type EventKind = 'login' | 'payment' | 'transfer' | 'other';

export interface EventSource {
  topic: string;
  partition: number;
  offset: string;
}

export interface RiskEvent {
  eventId: string;
  userId: string;
  /** As given by the producer; `kind` is what the engine understands of it. */
  eventType: string;
  kind: EventKind;
  timestamp: number;
  /** Exact decimal with 4 places ("12.3400"), null when absent. */
  amount: string | null;
  currency: string;
  deviceId: string | null;
  ip: string | null;
  country: string | null;
  upstreamRiskScore: number | null;
  eventData: Record<string, unknown> | null;
  /** Null for events that did not come from Kafka. */
  source: EventSource | null;
}

export function kindOf(eventType: string): EventKind {
  return eventType === 'login' || eventType === 'payment' || eventType === 'transfer' ? eventType : 'other';
}

/** A login whose eventData says it failed: the input of the failed-login streak. */
export function isFailedLogin(event: Pick<RiskEvent, 'kind' | 'eventData'>): boolean {
  return event.kind === 'login' && event.eventData !== null && event.eventData['success'] === false;
}
