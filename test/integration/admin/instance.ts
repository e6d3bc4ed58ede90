/** Engines wired as run.ts wires them (the harness's), and what the admin tests wait on. */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Rules } from '../../../src/domain/index.ts';
import type { RulesHolder } from '../../../src/app/rules.ts';

import { pollUntil } from '../helpers/harness.ts';
import { CLI } from '../helpers/cliCommand.ts';

export { startEngine as startInstance, type RunningEngine as Instance } from '../helpers/harness.ts';

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

/** For conditions that no event announces (e.g. a consumer group's assignment settling). */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000, everyMs = 50): Promise<void> {
  await pollUntil(what, async () => cond(), (ok) => ok, timeoutMs, everyMs);
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

/** Runs `risk-engine <args>` (as the child-engine harness does) to its exit. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  const proc = spawn(process.execPath, [...CLI, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
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
  const proc = spawn(process.execPath, [...CLI, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
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
