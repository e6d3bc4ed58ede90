/**
 * The engine under test as a child process: `risk-engine start` as users run it (the compiled
 * dist/cli/main.js, which `buildEngine` brings up to date with src/ first) on
 * Kafka + Redis + NATS, with its own topics, group and state prefix, so that its RSS, CPU and
 * heap are its own; or embedded (no brokers: a DATA_DIR of its own). Readiness is GET /readyz;
 * memory comes over IPC (childHook.ts). With `--workers N` the child is a primary and N worker
 * processes: CPU and RSS are summed over the process tree, /metrics over the workers.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

export interface EngineChildOptions {
  id: string;
  /** Topic names of this run (inputs and outputs); embedded: the log's topics. */
  topics: { inputs: string[]; decisions: string; aggregates: string; dlq: string; rules: string };
  /** Kafka brokers; absent: the engine runs embedded in `dataDir`. */
  brokers?: string[];
  dataDir?: string;
  /** Arguments after `start`, e.g. ['--workers', '2']. */
  args?: string[];
  groupId: string;
  statePrefix: string;
  /** Directory for the child's log (`<groupId>.log`: its stderr, i.e. warnings and errors). */
  workDir: string;
  env?: Record<string, string>;
  /** Kafka settings written into the CONFIG_FILE over config/default.json's (e.g. maxBytesPerPartition). */
  kafkaConfig?: Record<string, unknown>;
  /** The Node binary the engine runs on; default the bench's own (process.execPath). */
  node?: string;
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
    const args = ['--expose-gc', '--max-semi-space-size=64', '--import', 'tsx', '--import', hook, 'dist/cli/main.js', 'start', ...(o.args ?? [])];
    const env: NodeJS.ProcessEnv = { ...process.env };
    // Embedded: no broker at all (one in the bench's own environment must not leak in).
    delete env.KAFKA_BROKERS;
    const proc = spawn(o.node ?? process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: {
        ...env,
        ...(o.brokers ? { KAFKA_BROKERS: o.brokers.join(',') } : {}),
        ...(o.dataDir ? { DATA_DIR: o.dataDir } : {}),
        KAFKA_GROUP_ID: o.groupId,
        STATE_PREFIX: o.statePrefix,
        INSTANCE_ID: o.groupId,
        CONFIG_FILE: configFile,
        ADMIN_HOST: '127.0.0.1',
        ADMIN_PORT: String(port),
        LOG_LEVEL: process.env.BENCH_ENGINE_LOG_LEVEL ?? 'warn',
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

  /**
   * Polls /readyz until the consumer has joined (in each of `workers` processes, told apart by
   * x-risk-instance on connections of their own); rejects when the child exits first.
   * `onFirstReady` is called when the first of them is: a worker that joined first consumes
   * until the others join.
   */
  async ready(timeoutMs = 60_000, workers = 1, onFirstReady?: () => void): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    const readyOnes = new Set<string>();
    for (;;) {
      if (exited) throw new Error(`engine exited before it was ready:\n${this.stderr.slice(-10).join('\n')}`);
      const answer = await getOnOwnConnection(`${this.adminUrl}/readyz`).catch(() => null);
      if (answer?.status === 200) {
        if (readyOnes.size === 0) onFirstReady?.();
        readyOnes.add(answer.instance);
      }
      if (readyOnes.size >= workers) return Date.now();
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

  /** Starts the CPU profiler of the child's main thread (and with `heap`, its allocation sampling). */
  async startProfile(heap = false): Promise<void> {
    await this.request('profile-start', { heap });
  }

  /** Stops it and writes the .cpuprofile to `file`. */
  async stopProfile(file: string): Promise<void> {
    await this.request('profile-stop', { file: resolve(file) });
  }

  /** Prometheus text of /metrics, parsed into `name{labels}` -> value. */
  async metrics(): Promise<Map<string, number>> {
    return parseMetrics(await (await fetch(`${this.adminUrl}/metrics`)).text());
  }

  /**
   * /metrics of each of `workers` processes (asked on connections of their own until that many
   * distinct x-risk-instance answered), summed: counters and gauges of the whole engine.
   */
  async metricsOfWorkers(workers: number, attempts = 200): Promise<{ metrics: Map<string, number>; instances: string[] }> {
    const byInstance = new Map<string, Map<string, number>>();
    for (let i = 0; i < attempts && byInstance.size < workers; i++) {
      const answer = await getOnOwnConnection(`${this.adminUrl}/metrics`);
      if (!byInstance.has(answer.instance)) byInstance.set(answer.instance, parseMetrics(answer.body));
    }
    const sum = new Map<string, number>();
    for (const m of byInstance.values()) for (const [k, v] of m) sum.set(k, (sum.get(k) ?? 0) + v);
    return { metrics: sum, instances: [...byInstance.keys()] };
  }

  /**
   * Linux /proc figures of the child and its descendants (the workers of `--workers`): RSS and
   * peak RSS summed (the peaks need not coincide: an upper bound), CPU seconds used so far,
   * including exited and reaped workers' (the primary's cutime/cstime).
   */
  procStats(): { rssBytes: number; peakRssBytes: number; cpuSeconds: number; processes: number } | null {
    try {
      const root = procOf(this.pid);
      let { rssBytes, peakRssBytes, ticks } = root;
      ticks += root.childTicks;
      const pids = descendantsOf(this.pid);
      for (const pid of pids) {
        try {
          const p = procOf(pid);
          rssBytes += p.rssBytes;
          peakRssBytes += p.peakRssBytes;
          ticks += p.ticks;
        } catch {
          // Exited between the listing and the read: its CPU is in the primary's cutime by now.
        }
      }
      return { rssBytes, peakRssBytes, cpuSeconds: ticks / 100, processes: 1 + pids.length };
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

/** One process's /proc figures; clock ticks are 1/100 s on Linux. */
function procOf(pid: number): { rssBytes: number; peakRssBytes: number; ticks: number; childTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  // Fields 14-17 of /proc/<pid>/stat (after the parenthesised name): utime, stime, cutime, cstime.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM'), ticks: Number(fields[11]) + Number(fields[12]), childTicks: Number(fields[13]) + Number(fields[14]) };
}

/** Every process below `pid` (children of any of its threads, recursively). */
function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const tid of tasks) {
      let children: string;
      try {
        children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of children.split(' ').filter(Boolean).map(Number)) {
        out.push(c);
        walk(c);
      }
    }
  };
  walk(pid);
  return out;
}

export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/**
 * GET on a connection of its own: the primary of `--workers` hands each connection to one worker,
 * and x-risk-instance says which one answered.
 */
export function getOnOwnConnection(url: string): Promise<{ status: number; instance: string; body: string }> {
  return new Promise((resolveIt, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolveIt({ status: res.statusCode ?? 0, instance: String(res.headers['x-risk-instance'] ?? ''), body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${url}: no answer within 10 s`)));
    req.end();
  });
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
