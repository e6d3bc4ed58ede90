/**
 * The engine under test as a child process: `risk-engine start` as users run it (the compiled
 * dist/cli/main.js, which `buildEngine` brings up to date with src/ first) on
 * Kafka + Redis + NATS, with its own topics, group and state prefix, so that its RSS, CPU and
 * heap are its own. Readiness is GET /readyz; memory comes over IPC (childHook.ts).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

export interface EngineChildOptions {
  id: string;
  /** Topic names of this run (inputs and outputs). */
  topics: { inputs: string[]; decisions: string; aggregates: string; dlq: string; rules: string };
  brokers: string[];
  groupId: string;
  statePrefix: string;
  /** Directory for the child's log (`<groupId>.log`: its stderr, i.e. warnings and errors). */
  workDir: string;
  env?: Record<string, string>;
  /** Kafka settings written into the CONFIG_FILE over config/default.json's (e.g. maxBytesPerPartition). */
  kafkaConfig?: Record<string, unknown>;
}

export interface MemoryUsage {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** Compiles src/ into dist/ (what `npm start` runs), so that the bench measures the current code. */
export function buildEngine(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}

export class EngineChild {
  private nextId = 1;
  private readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly proc: ChildProcess,
    readonly adminUrl: string,
    readonly logFile: string,
  ) {
    this.exited = once(proc, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    const file = createWriteStream(logFile);
    proc.stderr?.pipe(file);
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.trim() && this.stderr.length < 5000) this.stderr.push(line);
    });
    proc.stdout?.resume();
  }

  static async start(o: EngineChildOptions): Promise<EngineChild> {
    const base = JSON.parse(readFileSync('config/default.json', 'utf8')) as { kafka: Record<string, unknown> };
    const configFile = join(mkdtempSync(join(tmpdir(), 'risk-bench-')), 'config.json');
    writeFileSync(configFile, JSON.stringify({ kafka: { ...base.kafka, ...o.kafkaConfig, topics: { ...o.topics, other: null } } }));
    const port = await freePort();
    const hook = pathToFileURL(resolve('bench/lib/childHook.ts')).href;
    // tsx only for the hook (TypeScript); the engine itself is the compiled JavaScript, with the
    // V8 flag bin/risk-engine.js gives it.
    const args = ['--expose-gc', '--max-semi-space-size=64', '--import', 'tsx', '--import', hook, 'dist/cli/main.js', 'start'];
    const proc = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: {
        ...process.env,
        KAFKA_BROKERS: o.brokers.join(','),
        KAFKA_GROUP_ID: o.groupId,
        STATE_PREFIX: o.statePrefix,
        INSTANCE_ID: o.groupId,
        CONFIG_FILE: configFile,
        ADMIN_HOST: '127.0.0.1',
        ADMIN_PORT: String(port),
        LOG_LEVEL: 'warn',
        ...o.env,
      },
    });
    return new EngineChild(proc, `http://127.0.0.1:${port}`, join(o.workDir, `${o.groupId}.log`));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** The child's warnings and errors (JSON log lines), for the report. */
  get logLines(): readonly string[] {
    return this.stderr;
  }

  /** Polls /readyz until the consumer has joined; rejects when the child exits first. */
  async ready(timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      if (exited) throw new Error(`engine exited before it was ready:\n${this.stderr.slice(-10).join('\n')}`);
      const ok = await fetch(`${this.adminUrl}/readyz`)
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) return Date.now();
      if (Date.now() > deadline) throw new Error(`engine not ready within ${timeoutMs} ms:\n${this.stderr.slice(-10).join('\n')}`);
      await sleep(20);
    }
  }

  /** One request to childHook.ts over IPC. */
  private request<T>(type: string, extra: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolveIt, reject) => {
      const onMessage = (msg: { type?: string; id?: number; error?: string }) => {
        if (msg?.type !== type || msg.id !== id) return;
        this.proc.off('message', onMessage);
        if (msg.error) reject(new Error(`${type}: ${msg.error}`));
        else resolveIt(msg as T);
      };
      this.proc.on('message', onMessage);
      this.proc.send({ type, id, ...extra });
    });
  }

  /** Heap and RSS after a full GC in the child. */
  async memory(): Promise<MemoryUsage & { gc: boolean }> {
    const answer = await this.request<{ gc: boolean; memory: MemoryUsage }>('mem');
    return { ...answer.memory, gc: answer.gc };
  }

  /** Starts the CPU profiler of the child's main thread. */
  async startProfile(): Promise<void> {
    await this.request('profile-start');
  }

  /** Stops it and writes the .cpuprofile to `file`. */
  async stopProfile(file: string): Promise<void> {
    await this.request('profile-stop', { file: resolve(file) });
  }

  /** Prometheus text of /metrics, parsed into `name{labels}` -> value. */
  async metrics(): Promise<Map<string, number>> {
    const text = await (await fetch(`${this.adminUrl}/metrics`)).text();
    const out = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const at = line.lastIndexOf(' ');
      out.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
    return out;
  }

  /** Linux /proc figures of the child: current and peak RSS, CPU seconds used so far. */
  procStats(): { rssBytes: number; peakRssBytes: number; cpuSeconds: number } | null {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
      // Fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name): utime, stime in clock ticks.
      const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM'), cpuSeconds: ticks / 100 };
    } catch {
      return null;
    }
  }

  /** SIGTERM (drain, commit, snapshot) and wait for the exit. */
  async stop(timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolveIt, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolveIt(port));
    });
    srv.on('error', reject);
  });
}
