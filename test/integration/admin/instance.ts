/**
 * An engine instance wired as run.ts wires it, keeping hold of its rules holder and channel:
 * rules holder -> parts (rules channel started, caught up) -> engine -> admin with the channel.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Settings } from '../../../src/config/settings.ts';
import type { Rules } from '../../../src/domain/index.ts';
import { createLogger } from '../../../src/log.ts';
import { Engine } from '../../../src/app/Engine.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import type { RulesChannel } from '../../../src/app/rules/channel.ts';
import { buildParts } from '../../../src/app/wiring.ts';
import { buildAdmin } from '../../../src/admin/server.ts';
import { systemSupervisionDeps } from '../../../src/app/supervisionDeps.ts';

export interface Instance {
  engine: Engine;
  settings: Settings;
  holder: RulesHolder;
  channel: RulesChannel;
  adminUrl: string;
  stop(): Promise<void>;
}

export async function startInstance(settings: Settings, rules?: Rules): Promise<Instance> {
  const log = createLogger(settings.logLevel, { instanceId: settings.instanceId });
  const holder = rules ? new RulesHolder(rules) : RulesHolder.fromFile(settings.rulesFile);
  const parts = await buildParts(settings, log, holder);
  const channel = parts.rules;
  const engine = new Engine(settings, parts, holder.current, (metrics) => systemSupervisionDeps(log, metrics), log);
  const admin = buildAdmin(engine, settings, log, { rules: channel });
  const adminUrl = await admin.listen({ host: '127.0.0.1', port: 0 });
  await engine.start();
  return {
    engine,
    settings,
    holder,
    channel,
    adminUrl,
    stop: async () => {
      await engine.stop();
      await admin.close();
    },
  };
}

/** Resolves with the first rules that satisfy `wanted` (now or at a later change); rejects after `timeoutMs`. */
export function rulesWhere(holder: RulesHolder, wanted: (r: Rules) => boolean, timeoutMs: number): Promise<Rules> {
  if (wanted(holder.current())) return Promise.resolve(holder.current());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`rules not changed as wanted within ${timeoutMs} ms (at version ${holder.current().rulesVersion})`));
    }, timeoutMs);
    const off = holder.onChange((r) => {
      if (!wanted(r)) return;
      clearTimeout(timer);
      off();
      resolve(r);
    });
  });
}

/**
 * For conditions that no event announces (e.g. a consumer group's assignment settling): checks
 * every `everyMs` until true, failing after `timeoutMs`.
 */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The environment of a CLI child: ours with `env` over it; an undefined value removes the variable. */
function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  return merged;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `risk-engine <args>` from the sources (as the child-engine harness does) to its exit. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  const proc = spawn(process.execPath, ['--import=tsx', 'src/cli/main.ts', ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  return new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A long-running `risk-engine <args>`: its lines as they come, and its exit. */
export function spawnCli(args: string[], env: Record<string, string | undefined> = {}) {
  const proc = spawn(process.execPath, ['--import=tsx', 'src/cli/main.ts', ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const waiters: { stream: 'stdout' | 'stderr'; test: (l: string) => boolean; resolve(l: string): void }[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  for (const stream of ['stdout', 'stderr'] as const) {
    createInterface({ input: proc[stream] }).on('line', (line) => {
      lines[stream].push(line);
      for (const w of [...waiters]) {
        if (w.stream === stream && w.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
  }
  /** The first line (past or future) of `stream` that passes `test`; rejects if the process exits first. */
  const line = (stream: 'stdout' | 'stderr', test: (l: string) => boolean): Promise<string> => {
    const seen = lines[stream].find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return Promise.race([
      new Promise<string>((resolve) => waiters.push({ stream, test, resolve })),
      exited.then((e) => Promise.reject(new Error(`exited (${JSON.stringify(e)}) first; stderr:\n${lines.stderr.join('\n')}`))),
    ]);
  };
  return { proc, lines, line, exited };
}
