/**
 * Turns a RestartPolicy into a nact `onCrash` function. nact awaits onCrash while the failed
 * actor stays busy (its mailbox waits), so the backoff delay is simply awaited before `reset`.
 */
import { errorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import { RestartWindow, type RestartPolicy, type SupervisionVerdict } from './policy.ts';

export interface SupervisionDeps {
  log: Logger;
  clock(): number;
  random(): number;
  sleep(ms: number): Promise<void>;
  /** Observes every decision (metrics). */
  onVerdict?(policy: RestartPolicy, verdict: SupervisionVerdict, code: string): void;
}

interface CrashContext {
  self: object;
  path: { toString(): string };
  reset: symbol;
  stop: symbol;
  escalate: symbol;
}

export function onCrashWithPolicy(policy: RestartPolicy, deps: SupervisionDeps) {
  // Keyed by the actor's reference: windows vanish with the actors they watch.
  const windows = new WeakMap<object, RestartWindow>();
  return async (msg: unknown, err: unknown, ctx: CrashContext): Promise<symbol> => {
    let window = windows.get(ctx.self);
    if (!window) windows.set(ctx.self, (window = new RestartWindow(policy)));
    const verdict = window.onFailure(deps.clock(), deps.random());
    const code = errorCode(err);
    deps.onVerdict?.(policy, verdict, code);
    deps.log.warn({ actor: ctx.path.toString(), policy: policy.name, code, err, verdict, ...crashTrace(msg, err) }, `supervision: ${verdict.action}`);
    if (verdict.action === 'restart') {
      await deps.sleep(verdict.delayMs);
      return ctx.reset;
    }
    return verdict.action === 'stop' ? ctx.stop : ctx.escalate;
  };
}

/**
 * The trace of the event a crash is about, so that the supervision line joins its trace: a poison
 * event's error names its eventId, and the crashed round's item of that event carries its trace
 * id (the round is one message for many events, run in no one event's span context).
 */
function crashTrace(msg: unknown, err: unknown): { trace_id?: string } {
  const eventId = (err as { eventId?: unknown } | null)?.eventId;
  const items = (msg as { items?: unknown } | null)?.items;
  if (typeof eventId !== 'string' || !Array.isArray(items)) return {};
  const item = (items as { event?: { eventId?: unknown }; traceId?: unknown }[]).find((i) => i?.event?.eventId === eventId);
  return typeof item?.traceId === 'string' ? { trace_id: item.traceId } : {};
}
