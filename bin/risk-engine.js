#!/usr/bin/env -S node --max-semi-space-size=64
// The `risk-engine` executable: runs the compiled CLI (dist/, built by `npm ci` / `npm run build`),
// or the TypeScript sources through tsx in a development checkout that has not been built, or
// whose sources changed since (a `git pull` without a build would otherwise run old code).
// --max-semi-space-size=64 (MB, young generation): every event replaces its user's state, and
// with V8's default (16) far more of the short-lived garbage around it survives into the old
// generation; the benchmark measured 13% less CPU per event and GC down from 30% to 22%.
import { compiledCli, compiledState } from './compiled.js';

async function runSources() {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}

const state = compiledState();
if (state === 'missing') {
  await runSources();
} else if (state === 'stale' && (await import('tsx/esm/api').then(() => true, () => false))) {
  process.stderr.write('risk-engine: src/ changed since dist/ was built (npm run build compiles it); running the sources through tsx\n');
  await runSources();
} else {
  await import(compiledCli.href);
}
