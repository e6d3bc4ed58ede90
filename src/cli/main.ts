/** The `risk-engine` command line (CONTRACT §6); one file per command under ./commands. */
import { Command } from 'commander';
import * as start from './commands/start.ts';
import * as produce from './commands/produce.ts';
import * as alerts from './commands/alerts.ts';
import * as inspect from './commands/inspect.ts';
import * as demo from './commands/demo.ts';

const program = new Command('risk-engine').description('Real-time risk-control engine').showHelpAfterError();
for (const command of [start, produce, alerts, inspect, demo]) command.register(program);

await program.parseAsync(process.argv);
