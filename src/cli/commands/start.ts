import type { Command } from 'commander';
import { runService } from '../../app/run.ts';
import { settingsHelp } from '../settingsHelp.ts';

export function register(program: Command): void {
  program
    .command('start')
    .description('run the service (embedded when KAFKA_BROKERS is unset)')
    // A string: the settings check it like any other value (one line naming --workers, exit 2).
    .option('--workers <n>', 'engine processes on this machine, members of one consumer group sharing the admin port (setting `workers`, env RISK_WORKERS; default 1)')
    // Read when help is asked for, from the settings schema: the one list of settings.
    .addHelpText('after', () => settingsHelp())
    .action(async (opts: { workers?: string }) => {
      await runService(process.env, opts.workers === undefined ? {} : { workers: opts.workers });
    });
}
