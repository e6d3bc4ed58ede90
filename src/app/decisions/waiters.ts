/**
 * Callers of POST /decide waiting for the committed decision of their event, resolved by the
 * decisions feed (./feed.ts) by userId and eventId. Bounded: past `limit` waiters a new one is
 * refused at once (the caller answers 503), so a flood of slow decisions cannot pile up requests.
 */
import { EngineError } from '../../errors.ts';
import type { Decision } from '../../domain/index.ts';

export interface Waiting {
  /** The decision, or null when `timeoutMs` passed first (or the waiter was cancelled). */
  readonly decision: Promise<Decision | null>;
  /** Another caller was already waiting for the same event here: this one is a retry of it. */
  readonly retry: boolean;
  cancel(): void;
}

/** Past the limit of waiting callers (the route answers 503 with Retry-After). */
export class BusyError extends EngineError {
  constructor(limit: number) {
    super('UNAVAILABLE', `too many callers are waiting for decisions (${limit}); try again shortly`);
    this.name = 'BusyError';
  }
}

interface Waiter {
  eventId: string;
  settle(decision: Decision | null): void;
}

export class DecisionWaiters {
  /** userId -> its waiters: a decision record's key is its userId, so most records are passed over without parsing. */
  readonly #byUser = new Map<string, Set<Waiter>>();
  #size = 0;

  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`waiter limit must be >= 1, got ${limit}`);
  }

  get size(): number {
    return this.#size;
  }

  /** Whether someone waits for a decision of this user (cheap: no parsing of the record needed otherwise). */
  waitsFor(userId: string): boolean {
    return this.#byUser.has(userId);
  }

  /** Throws UNAVAILABLE (busy) past the limit. */
  wait(userId: string, eventId: string, timeoutMs: number): Waiting {
    if (this.#size >= this.limit) throw new BusyError(this.limit);
    const users = this.#byUser.get(userId) ?? new Set<Waiter>();
    const retry = [...users].some((w) => w.eventId === eventId);
    let settle!: (d: Decision | null) => void;
    const decision = new Promise<Decision | null>((resolve) => {
      settle = resolve;
    });
    const timer = setTimeout(() => waiter.settle(null), timeoutMs);
    const waiter: Waiter = {
      eventId,
      settle: (d) => {
        if (!users.delete(waiter)) return;
        this.#size--;
        if (users.size === 0 && this.#byUser.get(userId) === users) this.#byUser.delete(userId);
        clearTimeout(timer);
        settle(d);
      },
    };
    users.add(waiter);
    this.#byUser.set(userId, users);
    this.#size++;
    return { decision, retry, cancel: () => waiter.settle(null) };
  }

  /** A committed decision: every waiter for its user and eventId gets it. */
  resolve(decision: Decision): void {
    const users = this.#byUser.get(decision.userId);
    if (!users) return;
    for (const w of [...users]) if (w.eventId === decision.eventId) w.settle(decision);
  }

  /** Every waiter gets null (shutting down). */
  clear(): void {
    for (const users of [...this.#byUser.values()]) for (const w of [...users]) w.settle(null);
  }
}
