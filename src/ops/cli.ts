/** What the backtest and rebuild commands share: rules files, time arguments, the progress bar. */
import { readFile } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import { validateRules, type Rules } from '../domain/index.ts';
import type { Progress } from './backtest.ts';
import { OpsError } from './errors.ts';

/** A rules object from a JSON file, validated as PUT /rules validates it. */
export async function readRulesFile(file: string): Promise<Rules> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new OpsError('USAGE', `--rules ${file}: ${(err as Error).message}`);
  }
  const checked = validateRules(raw);
  if (!checked.ok) throw new OpsError('USAGE', `--rules ${file}: ${checked.field}: ${checked.message}`);
  return checked.rules;
}

/** `--from`/`--to`: an ISO date or epoch ms; `earliest` / `now` (and absent) are null. */
export function timeOption(name: string, value: string | undefined, open: 'earliest' | 'now'): number | null {
  if (value === undefined || value === open) return null;
  const t = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(t)) throw new OpsError('USAGE', `${name}: expects an ISO date, epoch ms or "${open}" (got "${value}")`);
  return t;
}

/** A progress bar on stderr when it is a terminal (nothing otherwise, so that logs and pipes stay clean). */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { start: () => undefined, increment: () => undefined, stop: () => undefined };
  let bar: cliProgress.SingleBar | null = null;
  let started = 0;
  let value = 0;
  return {
    start(phase, total) {
      if (total === 0) return; // nothing to show for an empty phase (e.g. no live decisions)
      bar = new cliProgress.SingleBar(
        { stream, format: `${phase.padEnd(14)} [{bar}] {percentage}% | {value}/{total} | {speed}/s | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 50 },
        cliProgress.Presets.shades_classic,
      );
      started = performance.now();
      value = 0;
      bar.start(total, 0, { speed: '0' });
    },
    increment(n) {
      value += n;
      bar?.update(value, { speed: String(Math.round(value / Math.max(0.001, (performance.now() - started) / 1000))) });
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
