/**
 * How the tests start the `risk-engine` CLI in a child process: the compiled dist/ when it is newer
 * than every source file (`npm test` builds it before the suites run; the rule is bin's own,
 * bin/compiled.js), else the sources through tsx. Either way the code under test; the compiled CLI
 * starts on about half the CPU (a second less per child, and the suites start a few hundred).
 * bin/risk-engine.js itself is not used: on stale sources it says so on stderr, which tests of the
 * CLI's output would read as the command's.
 */
import { compiledState } from '../../../bin/compiled.js';

/** The node arguments before the CLI's own (`[...CLI, 'start']`); paths relative to the checkout, the children's working directory. */
export const CLI: readonly string[] = compiledState() === 'fresh' ? ['dist/cli/main.js'] : ['--import=tsx', 'src/cli/main.ts'];
