#!/usr/bin/env -S node --max-semi-space-size=64
// The `risk-engine` executable: runs the compiled CLI (dist/, built by `npm ci` / `npm run build`),
// or the TypeScript sources through tsx in a development checkout that has not been built, or
// whose sources changed since (a `git pull` without a build would otherwise run old code).
// --max-semi-space-size=64 (MB, young generation): every event replaces its user's state, and
// with V8's default (16) far more of the short-lived garbage around it survives into the old
// generation; the benchmark measured 13% less CPU per event and GC down from 30% to 22%.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
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

async function runSources() {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}

if (!existsSync(compiled)) {
  await runSources();
} else if (newestSource() > statSync(compiled).mtimeMs && (await import('tsx/esm/api').then(() => true, () => false))) {
  process.stderr.write('risk-engine: src/ changed since dist/ was built (npm run build compiles it); running the sources through tsx\n');
  await runSources();
} else {
  await import(compiled.href);
}
