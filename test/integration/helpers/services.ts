/**
 * PRIVATE Redis, NATS and Kafka servers for disruptive tests, on their own ports and data dirs,
 * so that a test can stop and restart a service without touching the shared ones (Redis :6379,
 * NATS :4222, Kafka :9092/:9093) that other tests and engineers use at the same time.
 *
 * - Redis: `redis-server` as a child of the test process, on 16379+n, WITH persistence (AOF,
 *   `appendfsync always`, in a temp dir), so that a stop and a start keep the data, as a
 *   production Redis would (the shared one runs with `--save "" --appendonly no`).
 * - NATS: `nats-server -js` as a child, on 14222+n, with its JetStream store in a temp dir.
 * - Kafka: `scripts/services.sh kafka-start|kafka-stop` with RISK_KAFKA_PORT 19092+3n,
 *   RISK_KAFKA_CONTROLLER_PORT 19093+3n, RISK_KAFKA_SASL_PORT 19094+3n and RISK_KAFKA_DATA in a
 *   temp dir (stop keeps the data).
 *
 * Every start waits for the server to say it is ready (a log line, or services.sh returning);
 * every stop waits for the process to exit. `cleanup()` (registered as a teardown when an ava
 * context is given) stops the server and removes its data; a process exit kills what is left.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import kafkajs, { type Kafka } from 'kafkajs';
import { registerCodecs } from '../../../src/transport/kafka/kafkaClient.ts';

/** The shared services' ports: a private server never uses (and never stops) these. */
const SHARED_PORTS = new Set([6379, 4222, 9092, 9093, 9094, 6380, 4223]);
const ROOT = resolve(import.meta.dirname, '../../..');
const SERVICES_SH = join(ROOT, 'scripts/services.sh');

/** The part of an ava ExecutionContext used here (teardown and log). */
export interface TestContext {
  teardown(fn: () => unknown): void;
  log(...values: unknown[]): void;
}

export interface PrivateService {
  readonly name: string;
  readonly port: number;
  /** Data directory (removed by cleanup). */
  readonly dir: string;
  readonly running: boolean;
  /** Starts the server (again) on the same port and data; resolves when it answers. */
  start(): Promise<void>;
  /** Stops the server, keeping its data; resolves when the process is gone. */
  stop(): Promise<void>;
  /** Stops the server and removes its data. Idempotent. */
  cleanup(): Promise<void>;
}

export interface PrivateRedis extends PrivateService {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
}

export interface PrivateNats extends PrivateService {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
}

export interface PrivateKafka extends PrivateService {
  readonly controllerPort: number;
  /** `['127.0.0.1:<port>']` */
  readonly brokers: string[];
  /** A kafkajs client for this broker (codecs registered, logs off). */
  client(): Kafka;
}

// ------------------------------------------------------------------ process bookkeeping

/** Processes started here, killed (SIGKILL) if the test process exits without a cleanup. */
const leftovers = new Map<string, () => void>();
let exitHookInstalled = false;
function track(key: string, kill: () => void): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const k of leftovers.values()) {
        try {
          k();
        } catch {
          // best effort at exit
        }
      }
    });
  }
  leftovers.set(key, kill);
}

/**
 * A detached watchdog: once this (test) process is gone, however it died (an ava timeout kills
 * workers without teardowns), it runs `script` (bash), e.g. stopping a private server and
 * removing its data. Returns the function that disarms it (the normal cleanup ran).
 */
export function watchdog(script: string): () => void {
  const dog = spawn('bash', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${script}`], {
    detached: true,
    stdio: 'ignore',
  });
  dog.unref();
  return () => {
    try {
      if (dog.pid) process.kill(dog.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
}

/** Kills `pid` (SIGKILL) if this process dies without having disarmed the guard, e.g. a child engine. */
export function orphanGuard(pid: number): () => void {
  return watchdog(`kill -KILL ${pid} 2>/dev/null`);
}

/** Ports handed out by this process, so two services of one test never get the same one. */
const claimed = new Set<number>();

async function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const srv = createServer();
    srv.once('error', () => done(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => done(true)));
  });
}

/** The first n, from 0, whose ports base+step*n (+1 for pairs) are all free. */
async function findPorts(base: number, count: 1 | 2 | 3, step: number): Promise<number[]> {
  for (let n = 0; n < 200; n++) {
    const ports = Array.from({ length: count }, (_, i) => base + step * n + i);
    if (ports.some((p) => claimed.has(p) || SHARED_PORTS.has(p))) continue;
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) {
      for (const p of ports) claimed.add(p);
      return ports;
    }
  }
  throw new Error(`no free port from ${base}`);
}

/**
 * A long-running server as a child process: resolves once a line of its output matches `ready`;
 * rejects (with its last output) if it exits first or does not get ready within `timeoutMs`.
 */
function spawnServer(
  name: string,
  cmd: string,
  args: string[],
  ready: RegExp,
  timeoutMs = 20_000,
): Promise<{ proc: ChildProcess; exited: Promise<void>; output: string[] }> {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<void>((done) => proc.once('exit', () => done()));
  return new Promise((resolveStart, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      proc.kill('SIGKILL');
      reject(new Error(`${name} did not get ready within ${timeoutMs} ms:\n${output.slice(-20).join('\n')}`));
    }, timeoutMs);
    const onLine = (line: string) => {
      output.push(line);
      if (output.length > 500) output.shift();
      if (!settled && ready.test(line)) {
        settled = true;
        clearTimeout(timer);
        resolveStart({ proc, exited, output });
      }
    };
    createInterface({ input: proc.stdout! }).on('line', onLine);
    createInterface({ input: proc.stderr! }).on('line', onLine);
    proc.once('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${name} could not be started: ${err.message}`));
    });
    proc.once('exit', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${output.slice(-20).join('\n')}`));
    });
  });
}

/** SIGTERM (or `signal`), wait for the exit, SIGKILL after `graceMs`. */
async function stopChild(proc: ChildProcess, exited: Promise<void>, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((done) => (timer = setTimeout(() => done('late'), graceMs)));
  const outcome = await Promise.race([exited.then(() => 'exited' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    proc.kill('SIGKILL');
    await exited;
  }
}

/** A service run as a child process: start/stop/cleanup around `launch`. */
function childService(
  name: string,
  port: number,
  dir: string,
  launch: () => Promise<{ proc: ChildProcess; exited: Promise<void>; output: string[] }>,
  stopSignal: NodeJS.Signals = 'SIGTERM',
): PrivateService & { output(): string[] } {
  let current: { proc: ChildProcess; exited: Promise<void>; output: string[] } | null = null;
  let lastOutput: string[] = [];
  let cleaned = false;
  const key = `${name}:${port}`;
  const pidFile = join(dir, 'server.pid');
  const disarm = watchdog(`kill -KILL "$(cat '${pidFile}' 2>/dev/null)" 2>/dev/null; rm -rf '${dir}'`);
  const svc = {
    name,
    port,
    dir,
    get running() {
      return current !== null;
    },
    output: () => current?.output ?? lastOutput,
    async start() {
      if (cleaned) throw new Error(`${name} on :${port} was cleaned up`);
      if (current) return;
      current = await launch();
      const proc = current.proc;
      writeFileSync(pidFile, String(proc.pid));
      track(key, () => proc.kill('SIGKILL'));
    },
    async stop() {
      if (!current) return;
      const { proc, exited, output } = current;
      current = null;
      await stopChild(proc, exited, stopSignal, 15_000);
      rmSync(pidFile, { force: true });
      leftovers.delete(key);
      lastOutput = output;
    },
    async cleanup() {
      if (cleaned) return;
      await svc.stop();
      cleaned = true;
      disarm();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return svc;
}

// ------------------------------------------------------------------ Redis

/**
 * A private Redis with an append-only file fsynced on every write (`appendfsync always`): what
 * Redis acknowledged survives a stop and a start, even a SIGKILL.
 */
export async function privateRedis(t?: TestContext): Promise<PrivateRedis> {
  const [port] = (await findPorts(16379, 1, 1)) as [number];
  const dir = mkdtempSync(join(tmpdir(), `risk-redis-${port}-`));
  const svc = childService('redis', port, dir, () =>
    spawnServer(`redis-server :${port}`, 'redis-server', [
      '--port', String(port), '--bind', '127.0.0.1',
      '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir,
      '--daemonize', 'no', '--logfile', '',
    ], /Ready to accept connections/),
  );
  const redis: PrivateRedis = Object.assign(svc, { url: `redis://127.0.0.1:${port}` });
  t?.teardown(() => redis.cleanup());
  await redis.start();
  return redis;
}

// ------------------------------------------------------------------ NATS

/** A private nats-server with JetStream, its store in a temp dir (kept across stop/start). */
export async function privateNats(t?: TestContext): Promise<PrivateNats> {
  const [port] = (await findPorts(14222, 1, 1)) as [number];
  const dir = mkdtempSync(join(tmpdir(), `risk-nats-${port}-`));
  const svc = childService('nats', port, dir, () =>
    spawnServer(`nats-server :${port}`, '/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], /Server is ready/),
  );
  const nats: PrivateNats = Object.assign(svc, { url: `nats://127.0.0.1:${port}` });
  t?.teardown(() => nats.cleanup());
  await nats.start();
  return nats;
}

// ------------------------------------------------------------------ Kafka

function servicesSh(command: string, env: Record<string, string>, timeoutMs: number): Promise<string> {
  return new Promise((done, reject) => {
    execFile('bash', [SERVICES_SH, command], { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`services.sh ${command} failed: ${err.message}\n${stderr}`));
      else done(`${stdout}${stderr}`);
    });
  });
}

/**
 * A private single-node KRaft broker, through scripts/services.sh with its own ports and data
 * dir. `stop()` is services.sh kafka-stop (SIGTERM, controlled shutdown; data kept).
 */
export async function privateKafka(t?: TestContext): Promise<PrivateKafka> {
  // Its own SASL listener port too: the shared broker's (9094) is taken.
  const [port, controllerPort, saslPort] = (await findPorts(19092, 3, 3)) as [number, number, number];
  const dir = mkdtempSync(join(tmpdir(), `risk-kafka-${port}-`));
  const env = {
    RISK_KAFKA_PORT: String(port),
    RISK_KAFKA_CONTROLLER_PORT: String(controllerPort),
    RISK_KAFKA_SASL_PORT: String(saslPort),
    RISK_KAFKA_DATA: dir,
    RISK_KAFKA_HEAP: process.env.RISK_KAFKA_HEAP ?? '-Xms256m -Xmx768m',
    RISK_KAFKA_START_TIMEOUT: '120',
  };
  const brokers = [`127.0.0.1:${port}`];
  const envPrefix = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(' ');
  const disarm = watchdog(`${envPrefix} bash '${SERVICES_SH}' kafka-stop >/dev/null 2>&1; rm -rf '${dir}'`);
  let running = false;
  let cleaned = false;
  const key = `kafka:${port}`;
  const killLeftover = () => {
    try {
      const pid = Number(readFileSync(join(dir, 'kafka.pid'), 'utf8').trim());
      if (pid > 0) process.kill(pid, 'SIGKILL');
    } catch {
      // no pid file: nothing to kill
    }
  };
  const kafka: PrivateKafka = {
    name: 'kafka',
    port,
    controllerPort,
    dir,
    brokers,
    get running() {
      return running;
    },
    client: () => {
      registerCodecs();
      return new kafkajs.Kafka({
        clientId: 'risk-engine-disruptive-test',
        brokers,
        logLevel: kafkajs.logLevel.NOTHING,
        retry: { initialRetryTime: 200, retries: 10, maxRetryTime: 3000 },
      });
    },
    async start() {
      if (cleaned) throw new Error(`kafka on :${port} was cleaned up`);
      track(key, killLeftover);
      await servicesSh('kafka-start', env, 180_000);
      running = true;
    },
    async stop() {
      await servicesSh('kafka-stop', env, 60_000);
      running = false;
    },
    async cleanup() {
      if (cleaned) return;
      try {
        await kafka.stop();
      } finally {
        leftovers.delete(key);
        killLeftover();
        disarm();
        cleaned = true;
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  t?.teardown(() => kafka.cleanup());
  await kafka.start();
  return kafka;
}
