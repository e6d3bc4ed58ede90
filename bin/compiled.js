// Whether the compiled CLI (dist/) is there and newer than every TypeScript source: the rule by
// which bin/risk-engine.js runs dist/ rather than the sources, and by which the tests start their
// child processes from it (test/integration/helpers/cliCommand.ts). No sources (an image) counts
// as fresh.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const compiledCli = new URL('../dist/cli/main.js', import.meta.url);
const sources = fileURLToPath(new URL('../src/', import.meta.url));

/** The newest modification time of the TypeScript sources, 0 when there are none (an image). */
function newestSource() {
  if (!existsSync(sources)) return 0;
  let newest = 0;
  for (const e of readdirSync(sources, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.ts')) newest = Math.max(newest, statSync(join(e.parentPath ?? e.path, e.name)).mtimeMs);
  }
  return newest;
}

/** 'missing' (no dist/), 'stale' (a source changed since it was built) or 'fresh'. */
export function compiledState() {
  if (!existsSync(compiledCli)) return 'missing';
  return newestSource() > statSync(compiledCli).mtimeMs ? 'stale' : 'fresh';
}
