/** The `risk-engine` command line (CONTRACT §6). */
import { Command } from 'commander';
import { runService } from '../app/run.ts';

const program = new Command('risk-engine').description('Real-time risk-control engine').showHelpAfterError();

program
  .command('start')
  .description('run the service (embedded when KAFKA_BROKERS is unset)')
  .action(async () => {
    await runService();
  });

await program.parseAsync(process.argv);
