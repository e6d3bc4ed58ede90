/** The `risk-engine` executable's entry point (./program.ts has the commands). */
import { runCli } from './program.ts';

const code = await runCli(process.argv);
if (code !== undefined) process.exitCode = code;
