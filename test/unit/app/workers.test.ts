import test from 'ava';
import { silentLogger } from '../../../src/log.ts';
import { WorkerPool, workerInstanceId, type WorkerEvents } from '../../../src/app/workers.ts';
import { WORKER_POLICY, type RestartPolicy } from '../../../src/supervision/policy.ts';

interface Forked {
  index: number;
  events: WorkerEvents;
  signals: NodeJS.Signals[];
  /** Times it was let start its engine. */
  gone: number;
}

/** The pool on fake processes and a hand-driven clock. */
function harness(count: number, policy: RestartPolicy = WORKER_POLICY) {
  let now = 0;
  const timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  const forked: Forked[] = [];
  const exits: number[] = [];
  const pool = new WorkerPool(count, {
    fork: (index, events) => {
      const f: Forked = { index, events, signals: [], gone: 0 };
      forked.push(f);
      return { pid: 1000 + forked.length, kill: (s) => f.signals.push(s), go: () => f.gone++ };
    },
    policy,
    stopTimeoutMs: 35_000,
    clock: () => now,
    random: () => 0.5,
    setTimer: (fn, ms) => {
      const timer = { at: now + ms, fn, cancelled: false };
      timers.push(timer);
      return { cancel: () => (timer.cancelled = true) };
    },
    exit: (code) => exits.push(code),
    log: silentLogger,
  });
  /** Moves the clock on, running the timers that fall due. */
  const advance = (ms: number) => {
    now += ms;
    for (const t of timers.filter((x) => !x.cancelled && x.at <= now)) {
      t.cancelled = true;
      t.fn();
    }
  };
  const pending = () => timers.filter((t) => !t.cancelled).map((t) => t.at - now);
  /** The live process of worker i (the last one forked for it). */
  const worker = (i: number) => forked.filter((f) => f.index === i).at(-1)!;
  return { pool, forked, exits, advance, pending, worker };
}

/** Starts a pool of `count` and lets every worker listen and start. */
function running(count: number, policy?: RestartPolicy) {
  const h = harness(count, policy);
  h.pool.start();
  for (let i = 0; i < count; i++) h.worker(i).events.listening();
  for (let i = 0; i < count; i++) h.worker(i).events.started();
  return h;
}

test('worker i is instance <instanceId>-w<i>', (t) => {
  t.is(workerInstanceId('host-42', 0), 'host-42-w0');
  t.is(workerInstanceId('host-42', 3), 'host-42-w3');
});

test('worker 0 is forked first; the others once it listens (a refused bind shows once)', (t) => {
  const h = harness(3);
  h.pool.start();
  t.deepEqual(h.forked.map((f) => f.index), [0]);
  h.worker(0).events.listening();
  t.deepEqual(h.forked.map((f) => f.index), [0, 1, 2]);
  h.worker(1).events.listening();
  t.is(h.forked.length, 3);
});

test('the workers start their engines together, once every one of them listens; a worker forked again starts when it listens', (t) => {
  const h = harness(3);
  h.pool.start();
  h.worker(0).events.listening();
  h.worker(2).events.listening();
  t.deepEqual(h.forked.map((f) => f.gone), [0, 0, 0], 'none joins the group before all can');
  h.worker(1).events.listening();
  t.deepEqual(h.forked.map((f) => f.gone), [1, 1, 1]);
  h.worker(1).events.exited(1, null);
  h.advance(900);
  t.is(h.worker(1).gone, 0);
  h.worker(1).events.listening();
  t.is(h.worker(1).gone, 1);
  t.deepEqual(h.forked.map((f) => f.gone), [1, 1, 1, 1], 'the others are not told again');
});

test('SIGTERM goes to every worker; the primary exits 0 once all of them exited 0', (t) => {
  const h = running(2);
  h.pool.stop('SIGTERM');
  t.deepEqual(h.forked.map((f) => f.signals), [['SIGTERM'], ['SIGTERM']]);
  h.worker(0).events.exited(0, null);
  t.deepEqual(h.exits, []);
  h.worker(1).events.exited(0, null);
  t.deepEqual(h.exits, [0]);
  t.is(h.forked.length, 2, 'no worker is forked again while stopping');
});

test('a worker that fails its drain makes the exit code 1', (t) => {
  const h = running(2);
  h.pool.stop('SIGINT');
  t.deepEqual(h.worker(1).signals, ['SIGINT']);
  h.worker(0).events.exited(1, null);
  h.worker(1).events.exited(0, null);
  t.deepEqual(h.exits, [1]);
});

test('workers that do not drain in time are killed and the primary exits 1', (t) => {
  const h = running(2);
  h.pool.stop('SIGTERM');
  h.worker(0).events.exited(0, null);
  h.advance(35_000);
  t.deepEqual(h.worker(1).signals, ['SIGTERM', 'SIGKILL']);
  t.deepEqual(h.exits, [1]);
  h.worker(1).events.exited(null, 'SIGKILL');
  t.deepEqual(h.exits, [1], 'exits once');
});

test('a worker that dies is forked again after the policy backoff, as the same worker; the others are left alone', (t) => {
  const h = running(2);
  h.worker(1).events.exited(null, 'SIGKILL');
  t.is(h.forked.length, 2, 'not at once');
  // First restart: minMs with jitter 0.2 and random 0.5 -> 900 ms.
  t.deepEqual(h.pending(), [900]);
  h.advance(899);
  t.is(h.forked.length, 2);
  h.advance(1);
  t.deepEqual(h.forked.map((f) => f.index), [0, 1, 1]);
  t.deepEqual(h.worker(0).signals, []);
  t.deepEqual(h.exits, []);
  // The next death within the window waits twice as long.
  h.worker(1).events.exited(1, null);
  t.deepEqual(h.pending(), [1800]);
});

test('past the restart limit the primary drains the others and exits 1', (t) => {
  const h = running(2);
  for (let i = 0; i < WORKER_POLICY.maxRestarts; i++) {
    h.worker(1).events.exited(1, null);
    // Past the backoff (at most 14.4 s here), well within the policy's window.
    h.advance(30_000);
  }
  t.is(h.forked.length, 2 + WORKER_POLICY.maxRestarts);
  h.worker(1).events.exited(1, null);
  t.is(h.forked.length, 2 + WORKER_POLICY.maxRestarts, 'not forked again');
  t.deepEqual(h.worker(0).signals, ['SIGTERM']);
  t.deepEqual(h.exits, []);
  h.worker(0).events.exited(0, null);
  t.deepEqual(h.exits, [1]);
});

test('a worker that refuses a setting (exit 2) is not restarted: the others stop and the primary exits 2', (t) => {
  const h = harness(2);
  h.pool.start();
  h.worker(0).events.exited(2, null);
  t.deepEqual(h.exits, [2]);
  t.is(h.forked.length, 1, 'the other workers are never forked');

  const later = running(2);
  later.worker(1).events.exited(2, null);
  t.deepEqual(later.worker(0).signals, ['SIGTERM']);
  later.worker(0).events.exited(0, null);
  t.deepEqual(later.exits, [2]);
  t.is(later.forked.length, 2);
});

test('worker 0 dying before it listens is restarted; the others follow when it listens', (t) => {
  const h = harness(2);
  h.pool.start();
  h.worker(0).events.exited(1, null);
  h.advance(900);
  t.deepEqual(h.forked.map((f) => f.index), [0, 0]);
  h.worker(0).events.listening();
  t.deepEqual(h.forked.map((f) => f.index), [0, 0, 1]);
});

test('a signal during a restart backoff cancels the restart', (t) => {
  const h = running(2);
  h.worker(1).events.exited(1, null);
  h.pool.stop('SIGTERM');
  h.worker(0).events.exited(0, null);
  t.deepEqual(h.exits, [0]);
  h.advance(60_000);
  t.is(h.forked.length, 2);
});

test('with a stop policy a worker past its limit stays down; with none left the primary exits 1', (t) => {
  const policy: RestartPolicy = { ...WORKER_POLICY, maxRestarts: 0, onLimit: 'stop' };
  const h = running(2, policy);
  h.worker(1).events.exited(1, null);
  t.deepEqual(h.exits, []);
  t.deepEqual(h.worker(0).signals, []);
  h.worker(0).events.exited(1, null);
  t.deepEqual(h.exits, [1]);
});

test('events of a process already replaced are ignored', (t) => {
  const h = running(2);
  const old = h.worker(1);
  old.events.exited(1, null);
  h.advance(900);
  old.events.exited(1, null);
  t.deepEqual(h.pending(), [], 'no second restart for the old process');
  t.is(h.forked.length, 3);
});
