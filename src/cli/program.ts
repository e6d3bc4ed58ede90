/**
 * The `risk-engine` command line (CONTRACT §6): the commands (one file each under ./commands),
 * `--version`, and how usage errors are reported: one line on stderr naming the problem and the
 * `--help` to read, exit code 2 (the whole help text would bury the one line that matters).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import * as start from './commands/start.ts';
import * as produce from './commands/produce.ts';
import * as alerts from './commands/alerts.ts';
import * as inspect from './commands/inspect.ts';
import * as rules from './commands/rules.ts';
import * as demo from './commands/demo.ts';
import * as decide from './commands/decide.ts';
import * as explain from './commands/explain.ts';
import * as backtest from './commands/backtest.ts';
import * as rebuild from './commands/rebuild.ts';
import * as dlq from './commands/dlq.ts';
import { USAGE_EXIT_CODE, UsageError } from './usage.ts';

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Exits of commander that are not errors: help and version were printed. */
const NOT_ERRORS: ReadonlySet<string> = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/** Where help, version and usage errors are written (tests capture them). */
export interface CliOutput {
  writeOut(text: string): void;
  writeErr(text: string): void;
}

const STDIO: CliOutput = { writeOut: (t) => process.stdout.write(t), writeErr: (t) => process.stderr.write(t) };

export function buildProgram(output: CliOutput = STDIO): Command {
  const program = new Command('risk-engine')
    .description('Real-time risk-control engine')
    .version(packageVersion(), '-V, --version', 'print the version')
    // Commander prints its error before calling the exit callback; the callback prints ours.
    // Set before the commands are added: they copy the output settings when created.
    .configureOutput({ writeOut: (t) => output.writeOut(t), writeErr: (t) => output.writeErr(t), outputError: () => undefined })
    .showHelpAfterError(false);
  for (const command of [start, produce, alerts, inspect, rules, demo, decide, explain, dlq, backtest, rebuild]) command.register(program);
  const each = (cmd: Command, path: string): void => {
    cmd.exitOverride((err: CommanderError) => {
      if (NOT_ERRORS.has(err.code)) throw err;
      const message = err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim();
      throw new UsageError(message, path);
    });
    for (const sub of cmd.commands) each(sub, `${path} ${sub.name()}`);
  };
  each(program, 'risk-engine');
  return program;
}

/** Runs the command line; resolves with the exit code of a usage error or help, else undefined (the command set its own). */
export async function runCli(argv: readonly string[], output: CliOutput = STDIO): Promise<number | undefined> {
  try {
    await buildProgram(output).parseAsync(argv as string[]);
    return undefined;
  } catch (err) {
    if (err instanceof UsageError) {
      output.writeErr(`${err.line()}\n`);
      return USAGE_EXIT_CODE;
    }
    if (err instanceof CommanderError && NOT_ERRORS.has(err.code)) return err.exitCode;
    throw err;
  }
}
