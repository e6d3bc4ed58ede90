import type { Command } from 'commander';

// Placeholder until the command is implemented: registered so that --help lists it.
export function register(program: Command): void {
  program
    .command('produce')
    .description('not implemented yet')
    .action(() => {
      process.stderr.write('risk-engine produce: not implemented yet\n');
      process.exitCode = 2;
    });
}
