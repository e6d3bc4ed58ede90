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
  return async (_msg: unknown, err: unknown, ctx: CrashContext): Promise<symbol> => {
    let window = windows.get(ctx.self);
    if (!window) windows.set(ctx.self, (window = new RestartWindow(policy)));
    const verdict = window.onFailure(deps.clock(), deps.random());
    const code = errorCode(err);
    deps.onVerdict?.(policy, verdict, code);
    deps.log.warn({ actor: ctx.path.toString(), policy: policy.name, code, err, verdict }, `supervision: ${verdict.action}`);
    if (verdict.action === 'restart') {
      await deps.sleep(verdict.delayMs);
      return ctx.reset;
    }
    return verdict.action === 'stop' ? ctx.stop : ctx.escalate;
  };
}
