/**
 * How the tests start the `risk-engine` CLI in a child process: the compiled dist/ when it is newer
 * than every source file (`npm test` builds it before the suites run), else the sources through
 * tsx. Either way the code under test; the compiled CLI starts on about half the CPU (a second less
 * per child, and the suites start a few hundred). bin/risk-engine.js is not used: on stale sources
 * it says so on stderr, which tests of the CLI's output would read as the command's.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('../../../', import.meta.url).pathname;

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.ts')) newest = Math.max(newest, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

function compiledIsFresh(): boolean {
  try {
    return statSync(join(ROOT, 'dist/cli/main.js')).mtimeMs > newestSource(join(ROOT, 'src'));
  } catch {
    return false;
  }
}

/** The node arguments before the CLI's own (`[...CLI, 'start']`); paths relative to the checkout, the children's working directory. */
export const CLI: readonly string[] = compiledIsFresh() ? ['dist/cli/main.js'] : ['--import=tsx', 'src/cli/main.ts'];
