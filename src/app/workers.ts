/**
 * `risk-engine start --workers N`: N engine processes on one machine, members of the same
 * consumer group (separate processes, not worker_threads: see LIBRARY-NOTES). The primary
 * (node:cluster) runs no engine; it forks the workers, shares the admin port among them (it
 * accepts the connections and hands them out in turn), and supervises them:
 * - worker i is instance `<instanceId>-w<i>`, also when it is forked again;
 * - worker 0 is forked first and the others once it listens, so that a setting only a bind can
 *   refuse (port in use) stops start-up with the one line of one worker, not one per worker;
 * - a worker starts its engine (joins the group) when the primary says so: at start-up once every
 *   worker listens, so that they join together instead of one taking every shard first and
 *   handing most of them over moments later; a worker forked again is told at once;
 * - a worker that exits with 2 (a bad setting) stops the others and the primary exits 2;
 * - a worker that dies otherwise is forked again after a backoff (WORKER_POLICY); past the
 *   policy's limit the primary drains the others and exits 1;
 * - SIGTERM/SIGINT go to every worker; the primary exits 0 once all drained and exited 0.
 * The pool is the logic; `forkClusterWorker` is node:cluster behind it.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Settings } from '../config/settings.ts';
import type { Logger } from '../log.ts';
import { RestartWindow, WORKER_POLICY, type RestartPolicy } from '../supervision/policy.ts';

/** What a worker sends its primary once its engine started (node:cluster IPC). */
export const WORKER_STARTED = 'risk-engine:worker-started';
/** What the primary sends a listening worker when it may start its engine. */
export const WORKER_GO = 'risk-engine:worker-go';

export const workerInstanceId = (instanceId: string, index: number): string => `${instanceId}-w${index}`;

/** A forked worker process, as the pool sees it. */
export interface WorkerProcess {
  readonly pid: number | undefined;
  kill(signal: NodeJS.Signals): void;
  /** Lets it start its engine. */
  go(): void;
}

export interface WorkerEvents {
  /** Its admin server is bound (through the primary). */
  listening(): void;
  /** Its engine started (joined the group). */
  started(): void;
  exited(code: number | null, signal: NodeJS.Signals | null): void;
}

export interface Timer {
  cancel(): void;
}

export interface WorkerPoolDeps {
  fork(index: number, events: WorkerEvents): WorkerProcess;
  policy: RestartPolicy;
  /** How long the workers get to drain before they are killed; theirs plus a margin. */
  stopTimeoutMs: number;
  clock(): number;
  random(): number;
  setTimer(fn: () => void, ms: number): Timer;
  /** Ends the primary with this code. Called once. */
  exit(code: number): void;
  log: Logger;
}

interface Slot {
  index: number;
  proc: WorkerProcess | null;
  listening: boolean;
  started: boolean;
  window: RestartWindow;
  restart: Timer | null;
}

/** A worker's exit code that says a setting is bad: restarting it cannot help. */
const BAD_SETTING = 2;

export class WorkerPool {
  private readonly slots: Slot[];
  private stopping = false;
  private exitCode = 0;
  private othersForked = false;
  /** Every worker listened once: from then on a (re)forked worker may start as soon as it listens. */
  private allListenedOnce = false;
  private allStartedOnce = false;
  private deadline: Timer | null = null;
  private ended = false;

  constructor(
    count: number,
    private readonly deps: WorkerPoolDeps,
  ) {
    this.slots = Array.from({ length: count }, (_, index) => ({ index, proc: null, listening: false, started: false, window: new RestartWindow(deps.policy), restart: null }));
  }

  /** Forks worker 0; the others follow once it listens. */
  start(): void {
    this.fork(this.slots[0]!);
  }

  /** Drains every worker (SIGTERM/SIGINT forwarded), then exits with 0 or what went wrong. */
  stop(signal: NodeJS.Signals, code = 0): void {
    this.exitCode = Math.max(this.exitCode, code);
    if (this.stopping) return;
    this.stopping = true;
    for (const slot of this.slots) {
      slot.restart?.cancel();
      slot.restart = null;
      slot.proc?.kill(signal);
    }
    this.deadline = this.deps.setTimer(() => {
      this.deps.log.error({ timeoutMs: this.deps.stopTimeoutMs }, 'workers did not drain in time; killing them');
      for (const slot of this.slots) slot.proc?.kill('SIGKILL');
      this.end(1);
    }, this.deps.stopTimeoutMs);
    this.endIfAllGone();
  }

  /** Live worker processes, by index (for tests and logs). */
  get live(): (WorkerProcess | null)[] {
    return this.slots.map((s) => s.proc);
  }

  private fork(slot: Slot): void {
    slot.restart = null;
    slot.listening = false;
    slot.started = false;
    let proc: WorkerProcess | null = null;
    const events: WorkerEvents = {
      listening: () => {
        if (slot.proc !== proc) return;
        slot.listening = true;
        if (this.stopping) return;
        if (this.allListenedOnce) {
          proc?.go();
          return;
        }
        if (this.slots.every((s) => s.listening)) {
          this.allListenedOnce = true;
          for (const s of this.slots) s.proc?.go();
          return;
        }
        if (!this.othersForked) {
          this.othersForked = true;
          for (const other of this.slots) if (other !== slot && !other.proc) this.fork(other);
        }
      },
      started: () => {
        if (slot.proc !== proc) return;
        slot.started = true;
        this.deps.log.info({ worker: slot.index, pid: proc?.pid }, 'worker started');
        if (!this.allStartedOnce && this.slots.every((s) => s.started)) {
          this.allStartedOnce = true;
          this.deps.log.info({ workers: this.slots.length }, 'all workers started');
        }
      },
      exited: (code, signal) => {
        if (slot.proc !== proc) return;
        slot.proc = null;
        this.onExit(slot, code, signal);
      },
    };
    proc = this.deps.fork(slot.index, events);
    slot.proc = proc;
  }

  private onExit(slot: Slot, code: number | null, signal: NodeJS.Signals | null): void {
    const { log } = this.deps;
    if (this.stopping) {
      if (code !== 0) this.exitCode = Math.max(this.exitCode, 1);
      this.endIfAllGone();
      return;
    }
    if (code === BAD_SETTING) {
      // The worker said which setting in its one line; the primary adds none.
      log.debug({ worker: slot.index }, 'a worker refused a setting; stopping the others');
      this.stop('SIGTERM', BAD_SETTING);
      return;
    }
    const verdict = slot.window.onFailure(this.deps.clock(), this.deps.random());
    log.warn({ worker: slot.index, code, signal, policy: this.deps.policy.name, verdict }, `worker died unexpectedly: ${verdict.action}`);
    if (verdict.action === 'restart') {
      slot.restart = this.deps.setTimer(() => this.fork(slot), verdict.delayMs);
      // Worker 0 died before it listened: the others still wait for it.
      return;
    }
    if (verdict.action === 'escalate') {
      log.fatal({ worker: slot.index, restarts: verdict.attempt - 1, withinMs: this.deps.policy.withinMs }, 'a worker exceeded its restart limit; draining the others and exiting');
      this.stop('SIGTERM', 1);
      return;
    }
    // 'stop': this slot stays empty; with none left there is nothing to serve.
    if (this.slots.every((s) => !s.proc && !s.restart)) this.stop('SIGTERM', 1);
  }

  private endIfAllGone(): void {
    if (this.slots.every((s) => !s.proc)) this.end(this.exitCode);
  }

  private end(code: number): void {
    if (this.ended) return;
    this.ended = true;
    this.deadline?.cancel();
    this.deps.exit(code);
  }
}

/** node:cluster behind WorkerPool: worker i gets INSTANCE_ID `<instanceId>-w<i>`, the same argv and flags. */
export function forkClusterWorker(instanceId: string) {
  return (index: number, events: WorkerEvents): WorkerProcess => {
    const worker: Worker = cluster.fork({ INSTANCE_ID: workerInstanceId(instanceId, index) });
    worker.on('listening', () => events.listening());
    worker.on('message', (msg: unknown) => {
      if ((msg as { type?: unknown } | null)?.type === WORKER_STARTED) events.started();
    });
    worker.on('exit', (code, signal) => events.exited(code, (signal as NodeJS.Signals | null) || null));
    return {
      get pid() {
        return worker.process.pid;
      },
      kill: (signal) => {
        // worker.kill() would first disconnect the IPC channel; a signal lets the engine drain.
        if (worker.process.exitCode === null && worker.process.signalCode === null) worker.process.kill(signal);
      },
      go: () => {
        if (worker.isConnected()) worker.send({ type: WORKER_GO });
      },
    };
  };
}

/** In a worker: resolves when the primary lets this engine start; at once in a process of its own. */
export function untilPrimarySaysGo(): Promise<void> {
  if (!cluster.isWorker) return Promise.resolve();
  return new Promise((resolve) => {
    const onMessage = (msg: unknown) => {
      if ((msg as { type?: unknown } | null)?.type !== WORKER_GO) return;
      process.off('message', onMessage);
      resolve();
    };
    process.on('message', onMessage);
  });
}

/** In a worker: tells the primary that this engine started. */
export function announceWorkerStarted(): void {
  if (cluster.isWorker) process.send?.({ type: WORKER_STARTED });
}

/**
 * The primary of `start --workers N` (settings already validated, for every worker's instance
 * id too): forks and supervises the workers until a signal drains them.
 */
export function runPrimary(settings: Pick<Settings, 'workers' | 'instanceId' | 'logLevel' | 'shutdownTimeoutMs'>, log: Logger): void {
  const pool = new WorkerPool(settings.workers, {
    fork: forkClusterWorker(settings.instanceId),
    policy: WORKER_POLICY,
    // Each worker has shutdownTimeoutMs of its own; the margin covers its exit after the deadline.
    stopTimeoutMs: settings.shutdownTimeoutMs + 5000,
    clock: () => Date.now(),
    random: () => Math.random(),
    setTimer: (fn, ms) => {
      const timer = setTimeout(fn, ms);
      return { cancel: () => clearTimeout(timer) };
    },
    exit: (code) => {
      log.info({ code }, 'primary exiting');
      log.flush();
      process.exit(code);
    },
    log,
  });
  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'draining the workers');
    pool.stop(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  log.info({ workers: settings.workers }, 'forking workers');
  pool.start();
}
