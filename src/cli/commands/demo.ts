import type { Command } from 'commander';

// Placeholder until the command is implemented: registered so that --help lists it.
export function register(program: Command): void {
  program
    .command('demo')
    .description('not implemented yet')
    .action(() => {
      process.stderr.write('risk-engine demo: not implemented yet\n');
      process.exitCode = 2;
    });
}
