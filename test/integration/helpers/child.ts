/**
 * The engine as a child process (`risk-engine start`, see cliCommand.ts), for crash, kill and shutdown tests.
 * Readiness and exits are awaited as events (log lines, the exit event), never slept for.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BROKERS, pollUntil } from './harness.ts';
import { CLI } from './cliCommand.ts';

/** A CONFIG_FILE for child engines of one test: config/test.json plus the test's own topics. */
export function childConfig(id: string, extra: Record<string, unknown> = {}): string {
  const base = JSON.parse(readFileSync('config/test.json', 'utf8')) as { kafka: Record<string, unknown> };
  const topics = {
    inputs: ['login-events', 'payment-events', 'transfer-events'].map((t) => `${id}.${t}`),
    other: null,
    decisions: `${id}.risk-decisions`,
    aggregates: `${id}.risk-aggregates`,
    dlq: `${id}.risk-events-dlq`,
    rules: `${id}.risk-rules`,
  };
  const file = join(mkdtempSync(join(tmpdir(), 'risk-engine-')), 'config.json');
  const extraKafka = (extra.kafka ?? {}) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...base, ...extra, kafka: { ...base.kafka, ...extraKafka, topics } }));
  return file;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface ChildEngine {
  proc: ChildProcess;
  adminUrl: string;
  /** Resolves when the engine logs that it started; rejects if it exits first. */
  started: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line whose msg matches. */
  logged(msg: RegExp): Promise<Record<string, unknown>>;
  stderr: string[];
}

export async function spawnEngine(id: string, configFile: string, env: Record<string, string> = {}): Promise<ChildEngine> {
  const port = await freePort();
  const proc = spawn(process.execPath, [...CLI, 'start'], {
    env: {
      ...process.env,
      KAFKA_BROKERS: BROKERS.join(','),
      KAFKA_GROUP_ID: id,
      STATE_PREFIX: id,
      CONFIG_FILE: configFile,
      ADMIN_PORT: String(port),
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr: string[] = [];
  const waiters: { re: RegExp; resolve(v: Record<string, unknown>): void }[] = [];
  createInterface({ input: proc.stderr! }).on('line', (line) => {
    stderr.push(line);
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    for (const w of [...waiters]) {
      if (w.re.test(String(entry.msg))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(entry);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const logged = (re: RegExp) =>
    Promise.race([
      new Promise<Record<string, unknown>>((resolve) => waiters.push({ re, resolve })),
      exited.then((e) => Promise.reject(new Error(`engine exited (${JSON.stringify(e)}) before logging ${re}:\n${stderr.slice(-20).join('\n')}`))),
    ]);
  const started = logged(/^risk-engine started$/).then(() => undefined);
  started.catch(() => undefined);
  return { proc, adminUrl: `http://127.0.0.1:${port}`, started, exited, logged, stderr };
}

/**
 * Writes the logs of a failed test's engines to one temp file each and returns where, so that a
 * failure on a busy machine can be read afterwards.
 */
export function dumpEngineLogs(testId: string, engines: Record<string, ChildEngine | undefined>): string[] {
  const dir = mkdtempSync(join(tmpdir(), `risk-logs-${testId}-`));
  return Object.entries(engines).flatMap(([name, e]) => {
    if (!e) return [];
    const file = join(dir, `${name}.log`);
    writeFileSync(file, `${e.stderr.join('\n')}\n`);
    return [file];
  });
}

/** Resolves once the process is stopped (SIGSTOP); a stopped process announces nothing, so this polls /proc. */
export async function untilStopped(pid: number, timeoutMs = 60_000): Promise<void> {
  await pollUntil(`process ${pid} to stop`, async () => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0], (state) => state === 'T', timeoutMs, 50);
}
