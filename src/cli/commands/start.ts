import type { Command } from 'commander';
import { runService } from '../../app/run.ts';

export function register(program: Command): void {
  program
    .command('start')
    .description('run the service (embedded when KAFKA_BROKERS is unset)')
    .action(async () => {
      await runService();
    });
}
